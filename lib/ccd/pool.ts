/**
 * Runs the per-pixel kernels on every core: Web Workers over bands that live in
 * SharedArrayBuffers, each worker taking one slice of the pixel range.
 *
 * @module
 */
import type { CombineOptions } from "./combine.ts";
import type { CalibrationTerms } from "./arithmetic.ts";
import type { BandSliceResult, BandTask } from "./band_task.ts";

/** A unit of pixel work; every array must be a view on a SharedArrayBuffer. */
export type PoolTask =
  | { op: "combine"; inputs: Float32Array[]; out: Float32Array; options: CombineOptions }
  | { op: "calibrate"; target: Float32Array; terms: CalibrationTerms }
  | BandTask;

/** The pool of pixel workers. */
export interface PixelPool {
  /** Number of workers. */
  readonly size: number;
  /** Runs a task over pixels `[0, length)`, split across the workers. */
  run(task: PoolTask, length: number): Promise<void>;
  /** Runs a band task over pixels `[0, length)`; one result per slice, in pixel order. */
  runBand(task: BandTask, length: number): Promise<BandSliceResult[]>;
  /** Stops the workers. */
  close(): void;
}

/** A Float32Array of `length` on a new SharedArrayBuffer. */
export function sharedFloat32(length: number): Float32Array {
  return new Float32Array(new SharedArrayBuffer(length * Float32Array.BYTES_PER_ELEMENT));
}

/** Starts `size` workers (default: one per core). */
export function createPixelPool(size: number = navigator.hardwareConcurrency || 1): PixelPool {
  const count = Math.max(1, Math.floor(size));
  const workers = Array.from(
    { length: count },
    () => new Worker(new URL("./_worker.ts", import.meta.url).href, { type: "module" }),
  );
  const pending = new Map<number, { resolve: (result: unknown) => void; reject: (error: Error) => void }>();
  let nextId = 0;
  for (const worker of workers) {
    worker.onmessage = (event: MessageEvent<{ id: number; error?: string; result?: unknown }>) => {
      const entry = pending.get(event.data.id);
      if (!entry) return;
      pending.delete(event.data.id);
      if (event.data.error) entry.reject(new Error(event.data.error));
      else entry.resolve(event.data.result);
    };
    worker.onerror = (event) => {
      event.preventDefault();
      for (const entry of pending.values()) entry.reject(new Error(`pixel worker failed: ${event.message}`));
      pending.clear();
    };
  }
  const dispatch = (task: PoolTask, length: number): Promise<unknown[]> => {
    const chunk = Math.ceil(length / count);
    const jobs: Promise<unknown>[] = [];
    for (let w = 0; w < count; w++) {
      const start = w * chunk;
      const end = Math.min(length, start + chunk);
      if (start >= end) break;
      const id = nextId++;
      jobs.push(new Promise((resolve, reject) => pending.set(id, { resolve, reject })));
      workers[w].postMessage({ id, task, start, end, worker: w });
    }
    return Promise.all(jobs);
  };
  return {
    size: count,
    async run(task: PoolTask, length: number): Promise<void> {
      await dispatch(task, length);
    },
    async runBand(task: BandTask, length: number): Promise<BandSliceResult[]> {
      return await dispatch(task, length) as BandSliceResult[];
    },
    close(): void {
      for (const worker of workers) worker.terminate();
      for (const entry of pending.values()) entry.reject(new Error("pixel pool closed"));
      pending.clear();
    },
  };
}
