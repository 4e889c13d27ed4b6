/**
 * Runs the per-pixel kernels on every core: Web Workers over bands that live in
 * SharedArrayBuffers, each worker taking one slice of the pixel range.
 *
 * @module
 */
import type { BandSliceResult, BandTask } from "./band_task.ts";
import type { YieldGate } from "../yield_gate.ts";

/**
 * A SHA-256 worked out on one of the pool's workers from bytes fed in order, so
 * the thread that read them need not hash them.
 */
export interface PoolDigest {
  /**
   * Adds the next bytes: a view on a SharedArrayBuffer (shared, not copied: its
   * bytes must not change until the next band task the pool runs), or any
   * other bytes (copied).
   */
  update(bytes: Uint8Array): void;
  /** The digest of everything added, as lowercase hex, and the seconds the worker spent hashing. */
  finish(): Promise<{ hex: string; seconds: number }>;
  /** Drops the stream unfinished. */
  cancel(): void;
}

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
  /**
   * A SHA-256 of bytes fed in order, worked out by one worker between its band
   * slices (a worker takes messages in order, so bytes given before a band task
   * are hashed before that task's slice there).
   */
  sha256(): PoolDigest;
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
    // deno-lint-ignore no-explicit-any
    { resolve: (result: any) => void; reject: (error: Error) => void }
  >();
  let nextId = 0;
  let nextStream = 0;
  for (const worker of workers) {
    worker.onmessage = (event: MessageEvent<{ id: number; error?: string; result?: unknown }>) => {
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
    sha256(): PoolDigest {
      const stream = nextStream++;
      // Streams take turns over the workers, so a night's files are hashed on all of them.
      const worker = workers[stream % count];
      return {
        update(bytes: Uint8Array): void {
          worker.postMessage({ digest: stream, bytes });
        },
        finish(): Promise<{ hex: string; seconds: number }> {
          const id = nextId++;
          const done = new Promise<{ hex: string; seconds: number }>((resolve, reject) =>
            pending.set(id, { resolve, reject })
          );
          worker.postMessage({ digest: stream, finish: id });
          return done;
        },
        cancel(): void {
          worker.postMessage({ digest: stream, cancel: true });
        },
      };
    },
    close(): void {
      for (const worker of workers) worker.terminate();
      for (const entry of pending.values()) entry.reject(new Error("pixel pool closed"));
      pending.clear();
    },
  };
}
