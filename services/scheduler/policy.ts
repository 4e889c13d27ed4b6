/**
 * The priority policy: "Priority is assigned by the scheduler module when
 * receiving the WO" (the original documents). An order that comes with a
 * `Priority` keeps it; one without gets its `Type of job`'s priority (or the
 * default) plus its `User`'s adjustment. While Observation orders wait, each
 * hour adds `Aging Per Hour` (up to 10), so nothing waits forever behind a
 * stream of higher ones.
 *
 * @module
 */
import type { SchedulerConfig } from "../../lib/config.ts";
import type { WorkOrder } from "../../lib/work_order.ts";

/** The highest priority. */
export const MAX_PRIORITY = 10;

type Policy = SchedulerConfig["priorityPolicy"];

/** The value of `name` in `table`, names matched without regard to case or surrounding spaces. */
function lookup(table: Record<string, number>, name: string | null): number | undefined {
  if (name === null) return undefined;
  const wanted = name.trim().toLowerCase();
  const found = Object.keys(table).find((key) => key.trim().toLowerCase() === wanted);
  return found === undefined ? undefined : table[found];
}

function clamp(priority: number): number {
  return Math.min(MAX_PRIORITY, Math.max(0, Math.round(priority * 100) / 100));
}

/** What a priority was made of, in words for the order's story. */
export interface AssignedPriority {
  priority: number;
  /** `given` when the order carried it; else how the policy made it. */
  reason: string;
}

/** The priority an order is queued with, and why. */
export function assignPriority(order: WorkOrder, policy: Policy): AssignedPriority {
  if (order.priority !== null) return { priority: order.priority, reason: "given with the order" };
  const jobType = order.kind === "observation"
    ? order.jobType
    : order.kind === "calibration"
    ? "Calibration"
    : null;
  const byType = lookup(policy.jobTypes, jobType);
  const byUser = lookup(policy.users, order.user) ?? 0;
  const base = byType ?? policy.default;
  const parts = [byType !== undefined ? `Type of job ${jobType}: ${byType}` : `default ${policy.default}`];
  if (byUser !== 0) parts.push(`User ${order.user}: ${byUser > 0 ? "+" : ""}${byUser}`);
  return { priority: clamp(base + byUser), reason: parts.join(", ") };
}

/** The priority a waiting order competes with: its own, plus `Aging Per Hour` for each hour waited (up to 10). */
export function effectivePriority(priority: number, waitedMs: number, policy: Policy): number {
  return clamp(priority + Math.max(0, waitedMs) / 3_600_000 * policy.agingPerHour);
}
