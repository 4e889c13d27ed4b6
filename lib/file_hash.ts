/**
 * Content hashes of raw files, so the catalog can tell a re-ingested file from a changed one.
 *
 * @module
 */
import { createHash } from "node:crypto";
import type { YieldGate } from "./yield_gate.ts";

/** SHA-256 of a file's bytes as lowercase hex, read in chunks (memory independent of file size). */
export async function sha256File(path: string): Promise<string> {
  const hash = createHash("sha256");
  using file = await Deno.open(path, { read: true });
  const buffer = new Uint8Array(1 << 20);
  for (;;) {
    const n = await file.read(buffer);
    if (n === null) break;
    hash.update(buffer.subarray(0, n));
  }
  return hash.digest("hex");
}

/** SHA-256 of bytes fed in pieces (bytes read for something else), as lowercase hex. */
export class Sha256Stream {
  readonly #hash = createHash("sha256");

  /** Adds the next bytes. */
  update(bytes: Uint8Array): void {
    this.#hash.update(bytes);
  }

  /** The digest of everything added (the stream is finished). */
  hex(): string {
    return this.#hash.digest("hex");
  }
}

/**
 * {@link sha256File} without leaving the thread: for a thread that only hashes.
 * `between` runs after each chunk of 1 MiB (about a millisecond of hashing at 1 GB/s).
 */
export function sha256FileSync(path: string, between?: () => void): string {
  const hash = createHash("sha256");
  using file = Deno.openSync(path, { read: true });
  const buffer = new Uint8Array(1 << 20);
  for (;;) {
    const n = file.readSync(buffer);
    if (n === null) break;
    hash.update(buffer.subarray(0, n));
    between?.();
  }
  return hash.digest("hex");
}

/**
 * SHA-256 of many files on `threads` worker threads at once (hashing a night's
 * raw frames is CPU-bound: about 1 GB/s per core). One promise per path, in order;
 * a file that cannot be read rejects its own promise only. With a `gate`, the
 * threads pass it after every chunk (see {@link YieldGate}).
 */
export function sha256Files(
  paths: string[],
  threads: number = navigator.hardwareConcurrency || 1,
  gate?: YieldGate,
): Promise<string>[] {
  if (paths.length === 0) return [];
  const count = Math.max(1, Math.min(threads, paths.length));
  const settle = paths.map(() => {
    let resolve!: (hash: string) => void;
    let reject!: (error: Error) => void;
    const promise = new Promise<string>((yes, no) => (resolve = yes, reject = no));
    // The caller awaits the hashes one by one, so a file that fails early rejects before anyone listens:
    // marked handled here, it still rejects for its caller but never as an uncaught promise.
    promise.catch(() => {});
    return { promise, resolve, reject };
  });
  let next = 0;
  for (let w = 0; w < count; w++) {
    const worker = new Worker(new URL("./_sha256_worker.ts", import.meta.url).href, { type: "module" });
    if (gate) worker.postMessage({ gate: gate.buffer });
    let current = -1;
    const feed = () => {
      if (next < paths.length) {
        current = next++;
        worker.postMessage({ id: current, path: paths[current] });
      } else {
        worker.terminate();
      }
    };
    worker.onmessage = (event: MessageEvent<{ id: number; hash?: string; error?: string }>) => {
      const { id, hash, error } = event.data;
      if (error !== undefined) settle[id].reject(new Error(error));
      else settle[id].resolve(hash!);
      feed();
    };
    worker.onerror = (event) => {
      // The thread died: its file is hashed here instead, and it takes no more.
      event.preventDefault();
      worker.terminate();
      if (current >= 0) sha256File(paths[current]).then(settle[current].resolve, settle[current].reject);
    };
    feed();
  }
  return settle.map((s) => s.promise);
}
