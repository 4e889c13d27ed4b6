/**
 * Runs the per-pixel kernels on every core: Web Workers over bands that live in
 * SharedArrayBuffers, each worker taking one slice of the pixel range.
 *
 * @module
 */
import type { BandSliceResult, BandTask } from "./band_task.ts";
import type { YieldGate } from "../yield_gate.ts";

/** The pool of pixel workers. */
export interface PixelPool {
  /** Number of workers. */
  readonly size: number;
  /** The yield gate the workers pass (see {@link createPixelPool}), if any. */
  readonly gate: YieldGate | undefined;
  /**
   * Runs a band task (every array a view on a SharedArrayBuffer) over pixels
   * `[0, length)`, one slice per worker; one result per slice, in pixel order.
   */
  run(task: BandTask, length: number): Promise<BandSliceResult[]>;
  /** Stops the workers. */
  close(): void;
}

/** A Float32Array of `length` on a new SharedArrayBuffer. */
export function sharedFloat32(length: number): Float32Array {
  return new Float32Array(new SharedArrayBuffer(length * Float32Array.BYTES_PER_ELEMENT));
}

/**
 * Starts `size` workers (default: one per core). With a `gate`, they work in
 * pieces of under a millisecond and pass it between pieces, giving way to the
 * thread that touches it.
 */
export function createPixelPool(
  size: number = navigator.hardwareConcurrency || 1,
  options: { gate?: YieldGate } = {},
): PixelPool {
  const count = Math.max(1, Math.floor(size));
  const workers = Array.from(
    { length: count },
    () => new Worker(new URL("./_worker.ts", import.meta.url).href, { type: "module" }),
  );
  if (options.gate) { for (const worker of workers) worker.postMessage({ gate: options.gate.buffer }); }
  const pending = new Map<
    number,
    { resolve: (result: BandSliceResult) => void; reject: (error: Error) => void }
  >();
  let nextId = 0;
  for (const worker of workers) {
    worker.onmessage = (event: MessageEvent<{ id: number; error?: string; result?: BandSliceResult }>) => {
      const entry = pending.get(event.data.id);
      if (!entry) return;
      pending.delete(event.data.id);
      if (event.data.error) entry.reject(new Error(event.data.error));
      else entry.resolve(event.data.result!);
    };
    worker.onerror = (event) => {
      event.preventDefault();
      for (const entry of pending.values()) entry.reject(new Error(`pixel worker failed: ${event.message}`));
      pending.clear();
    };
  }
  return {
    size: count,
    gate: options.gate,
    run(task: BandTask, length: number): Promise<BandSliceResult[]> {
      const chunk = Math.ceil(length / count);
      const jobs: Promise<BandSliceResult>[] = [];
      for (let w = 0; w < count; w++) {
        const start = w * chunk;
        const end = Math.min(length, start + chunk);
        if (start >= end) break;
        const id = nextId++;
        jobs.push(new Promise((resolve, reject) => pending.set(id, { resolve, reject })));
        workers[w].postMessage({ id, task, start, end, worker: w });
      }
      return Promise.all(jobs);
    },
    close(): void {
      for (const worker of workers) worker.terminate();
      for (const entry of pending.values()) entry.reject(new Error("pixel pool closed"));
      pending.clear();
    },
  };
}
