/**
 * One pending wait on a property: it is told about every change of that
 * property, decides when it is over, and owns its timer and abort listener so
 * that settling (any way) leaves nothing behind.
 *
 * @module
 */
import type { CachedVector } from "./_cache.ts";
import { IndiTimeoutError } from "./errors.ts";

/** What happened to the property a waiter watches. */
export interface WaitEvent {
  /** `initial`: the state when the wait starts; then each definition, update or deletion. */
  kind: "initial" | "define" | "update" | "delete" | "recheck";
  /** The vector, when the server defines it (undefined before the first definition or after deletion). */
  vector: CachedVector | undefined;
  /** The message attribute this update carried, if any. */
  message: string | undefined;
}

/** A waiter's verdict on an event: done with a value, failed, or not yet (undefined). */
export type WaitVerdict<T> = { value: T } | { error: Error } | undefined;

/** How a wait is set up. */
export interface WaiterSpec<T> {
  /** Device watched. */
  device: string;
  /** Property watched; undefined to watch every property of the device. */
  property: string | undefined;
  /** Whether the wait goes on through a lost connection (waits for a definition do). */
  survivesReconnect: boolean;
  /** What is awaited, for the timeout message: `to become Ok`. */
  describe: string;
  /** Milliseconds before an {@link IndiTimeoutError}; Infinity for none. */
  timeoutMs: number;
  /** Cancels the wait (rejects with the signal's reason). */
  signal: AbortSignal | undefined;
  /** Judges each event. */
  judge(event: WaitEvent, waiter: Waiter<T>): WaitVerdict<T>;
  /** The vector now (for the timeout message). */
  current(): CachedVector | undefined;
  /** Called once when the waiter settles, to unregister it. */
  onSettled(waiter: Waiter<T>): void;
}

/** A pending wait; see {@link WaiterSpec}. */
export class Waiter<T> {
  /** Settles when the wait is over. */
  readonly promise: Promise<T>;
  readonly #spec: WaiterSpec<T>;
  #resolve!: (value: T) => void;
  #reject!: (error: Error) => void;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #recheck: ReturnType<typeof setTimeout> | undefined;
  #settled = false;
  #onAbort: (() => void) | undefined;

  /** Starts the timer and the abort listener; call {@link notify} with an `initial` event next. */
  constructor(spec: WaiterSpec<T>) {
    this.#spec = spec;
    this.promise = new Promise<T>((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
    if (Number.isFinite(spec.timeoutMs)) {
      this.#timer = setTimeout(() => {
        this.#timer = undefined;
        this.fail(
          new IndiTimeoutError(
            spec.device,
            spec.property,
            spec.timeoutMs / 1000,
            spec.describe,
            spec.current()?.state,
          ),
        );
      }, Math.max(0, spec.timeoutMs));
    }
    if (spec.signal) {
      if (spec.signal.aborted) {
        queueMicrotask(() => this.fail(abortReason(spec.signal!)));
      } else {
        this.#onAbort = () => this.fail(abortReason(spec.signal!));
        spec.signal.addEventListener("abort", this.#onAbort, { once: true });
      }
    }
  }

  /** The device watched. */
  get device(): string {
    return this.#spec.device;
  }

  /** The property watched (undefined: any of the device's). */
  get property(): string | undefined {
    return this.#spec.property;
  }

  /** Whether a lost connection leaves this wait pending. */
  get survivesReconnect(): boolean {
    return this.#spec.survivesReconnect;
  }

  /** Whether the wait is over. */
  get settled(): boolean {
    return this.#settled;
  }

  /** Passes an event to the judge and settles on its verdict. */
  notify(event: WaitEvent): void {
    if (this.#settled) return;
    let verdict: WaitVerdict<T>;
    try {
      verdict = this.#spec.judge(event, this);
    } catch (error) {
      verdict = { error: error as Error };
    }
    if (!verdict) return;
    if ("error" in verdict) this.fail(verdict.error);
    else this.#finish(() => this.#resolve(verdict.value));
  }

  /** Asks for a `recheck` event after `ms` (replacing an earlier request). */
  recheckAfter(ms: number): void {
    if (this.#settled) return;
    clearTimeout(this.#recheck);
    this.#recheck = setTimeout(() => {
      this.#recheck = undefined;
      this.notify({ kind: "recheck", vector: this.#spec.current(), message: undefined });
    }, Math.max(0, ms));
  }

  /** Cancels a {@link recheckAfter} request. */
  cancelRecheck(): void {
    clearTimeout(this.#recheck);
    this.#recheck = undefined;
  }

  /**
   * Stops the time limit and the abort listener: what was awaited has begun
   * (a BLOB is arriving) and is settled by {@link succeed} or {@link fail}.
   */
  claim(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#onAbort) this.#spec.signal?.removeEventListener("abort", this.#onAbort);
    this.#onAbort = undefined;
  }

  /** Resolves the wait (no effect once settled). */
  succeed(value: T): void {
    this.#finish(() => this.#resolve(value));
  }

  /** Rejects the wait (no effect once settled). */
  fail(error: Error): void {
    this.#finish(() => this.#reject(error));
  }

  #finish(settle: () => void): void {
    if (this.#settled) return;
    this.#settled = true;
    clearTimeout(this.#timer);
    clearTimeout(this.#recheck);
    if (this.#onAbort) this.#spec.signal?.removeEventListener("abort", this.#onAbort);
    this.#spec.onSettled(this);
    settle();
  }
}

function abortReason(signal: AbortSignal): Error {
  return signal.reason instanceof Error ? signal.reason : new Error(String(signal.reason ?? "Aborted"));
}
