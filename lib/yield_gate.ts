/**
 * Lets batch threads (the pixel and hashing workers of a reduction) give way to
 * an interactive one (the XML-RPC front desk) on a machine with few cores.
 *
 * A higher nice value alone does not keep the desk's latency low: once the
 * scheduler has picked a reduction thread it lets it run out its time slice
 * (milliseconds) before the woken desk thread runs, and two cores shared by the
 * desk, its clients and every reduction thread leave the desk waiting often.
 * So the batch threads work in pieces of well under a millisecond and pass the
 * gate between them; when the desk has had a request since their last pass,
 * they nap long enough to keep only their configured share of the time. With
 * no requests, a pass costs a clock read and an atomic load.
 *
 * The gate lives in a SharedArrayBuffer, so every thread holding it sees the
 * same desk activity, share and totals.
 *
 * @module
 */

const ACTIVITY = 0; // requests the desk has started (wraps)
const SLEEP = 1; // never changes: a timed wait on it is a nap
const SHARE = 2; // percent of the time batch threads keep while the desk is busy
const NAPS = 3; // naps taken (wraps)
const INT_CELLS = 4;
const NAPPED_US = 0; // BigInt64 cell after the Int32 ones: microseconds napped

/** Longest single nap, so that one long piece never stalls its thread for long. */
export const MAX_NAP_MS = 50;

/** What a gate's batch threads have given up to the desk so far. */
export interface YieldTotals {
  /** Naps taken by all threads. */
  naps: number;
  /** Seconds they napped in all. */
  seconds: number;
}

/** Shared between the desk and a reduction's threads; see the module doc. */
export class YieldGate {
  /** The shared state: post it to another thread, which wraps it with `new YieldGate(buffer)`. */
  readonly buffer: SharedArrayBuffer;
  readonly #cells: Int32Array;
  readonly #napped: BigInt64Array;
  #seen: number;
  #workStart = performance.now();

  /**
   * A new gate whose batch threads keep `share` percent (1-100) of the time
   * while the desk is busy, or this thread's view of an existing gate's `buffer`.
   */
  constructor(source: number | SharedArrayBuffer) {
    if (typeof source === "number" && (!Number.isInteger(source) || source < 1 || source > 100)) {
      throw new RangeError(`A yield gate's share is a whole percent from 1 to 100, not ${source}`);
    }
    this.buffer = typeof source === "number"
      ? new SharedArrayBuffer(INT_CELLS * 4 + BigInt64Array.BYTES_PER_ELEMENT)
      : source;
    this.#cells = new Int32Array(this.buffer, 0, INT_CELLS);
    this.#napped = new BigInt64Array(this.buffer, INT_CELLS * 4, 1);
    if (typeof source === "number") Atomics.store(this.#cells, SHARE, source);
    this.#seen = Atomics.load(this.#cells, ACTIVITY);
  }

  /** Percent of the time batch threads keep while the desk is busy (100: they never nap). */
  get share(): number {
    return Atomics.load(this.#cells, SHARE);
  }

  /** Naps taken and time napped by every thread passing this gate. */
  get totals(): YieldTotals {
    return {
      naps: Atomics.load(this.#cells, NAPS) >>> 0,
      seconds: Number(Atomics.load(this.#napped, NAPPED_US)) / 1e6,
    };
  }

  /** Desk side: a request has arrived. */
  touch(): void {
    Atomics.add(this.#cells, ACTIVITY, 1);
  }

  /**
   * Batch side: work starts now, after waiting for it. Neither the wait nor the
   * requests that came during it count at the next pass.
   */
  start(): void {
    this.#workStart = performance.now();
    this.#seen = Atomics.load(this.#cells, ACTIVITY);
  }

  /**
   * Batch side, between pieces of work: when the desk has had a request since
   * this thread's last pass, naps in proportion to the time worked since then
   * (at most {@link MAX_NAP_MS}). Returns the milliseconds napped.
   */
  pass(): number {
    const now = performance.now();
    const worked = now - this.#workStart;
    this.#workStart = now;
    const activity = Atomics.load(this.#cells, ACTIVITY);
    if (activity === this.#seen) return 0;
    this.#seen = activity;
    const share = Atomics.load(this.#cells, SHARE);
    const nap = Math.min(MAX_NAP_MS, (worked * (100 - share)) / share);
    if (nap <= 0) return 0;
    Atomics.wait(this.#cells, SLEEP, 0, nap);
    this.#workStart = performance.now();
    const napped = this.#workStart - now;
    Atomics.add(this.#cells, NAPS, 1);
    Atomics.add(this.#napped, NAPPED_US, BigInt(Math.round(napped * 1000)));
    return napped;
  }
}
