/**
 * Scheduling priority of the calling thread. On Linux the nice value is per
 * thread and threads inherit their creator's, so lowering the service's
 * reduction thread lowers its pixel and hashing workers too, while the thread
 * answering XML-RPC keeps its own.
 *
 * @module
 */
import { getPriority, setPriority } from "node:os";

/**
 * Sets the calling thread's nice value (0-19; higher yields more). Does nothing
 * off Linux, where it would lower the whole process, or when not permitted;
 * returns whether the thread now runs at that value.
 */
export function lowerThreadPriority(niceness: number): boolean {
  if (Deno.build.os !== "linux" || niceness <= 0) return false;
  try {
    setPriority(niceness);
    return getPriority() === niceness;
  } catch {
    return false;
  }
}
