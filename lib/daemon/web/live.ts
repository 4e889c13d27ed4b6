/**
 * The status page's live feed: one loop per daemon, running only while a page
 * listens, looks at the jobs every half second and sends what changed to every
 * open page over Server-Sent Events (`GET /events`): the sections again when a
 * job came, went or changed status, otherwise only the running jobs' progress.
 * One look serves every page, so ten open pages cost what one does; a page
 * that cannot keep the stream polls the same update (`GET /live`).
 *
 * @module
 */

/** The progress of one job as the page shows it. */
export interface LiveProgress {
  /** 0-100, for `<progress max="100">`. */
  value: number;
  /** The whole percentage as text (`42 %`). */
  percent: string;
  /** What it is doing now, in words. */
  step: string;
}

/** One update of the page. */
export interface LiveUpdate {
  /** Changes when the sections' content changes (not with progress alone). */
  key: string;
  /**
   * HTML of the live sections by element id, rendered and escaped by the server; left out when they
   * have not changed since the key the look was given.
   */
  sections?: Record<string, string>;
  /** Progress of the jobs running now, by job number. */
  progress: Record<string, LiveProgress>;
}

/** Settings of a {@link LiveFeed}. */
export interface LiveFeedOptions {
  /** How often the jobs are looked at while a page listens (default 500 ms). */
  intervalMs?: number;
  /** How often an idle stream gets a comment, so proxies keep it open (default 15 s). */
  keepAliveMs?: number;
  /** Called when a look fails (the catalog did not answer); the feed goes on. */
  onError?: (error: unknown) => void;
}

const encoder = new TextEncoder();

/**
 * Works out the page's update now; given the key of the last update, it may leave the sections out when
 * they have not changed (without one, it must give them).
 */
export type LiveLook = (previousKey?: string) => Promise<LiveUpdate>;

/** The live feed of one daemon; `stream()` is one page's `text/event-stream` body. */
export class LiveFeed {
  readonly #look: LiveLook;
  readonly #intervalMs: number;
  readonly #keepAliveMs: number;
  readonly #onError: (error: unknown) => void;
  readonly #listeners = new Set<ReadableStreamDefaultController<Uint8Array>>();
  #timer: ReturnType<typeof setInterval> | null = null;
  #busy = false;
  #last: LiveUpdate | null = null;
  #lastProgress = "";
  #lastSent = 0;
  #closed = false;

  /** Creates the feed; `look` works out the page's update now. */
  constructor(look: LiveLook, options: LiveFeedOptions = {}) {
    this.#look = look;
    this.#intervalMs = options.intervalMs ?? 500;
    this.#keepAliveMs = options.keepAliveMs ?? 15_000;
    this.#onError = options.onError ?? (() => {});
  }

  /** How many pages listen now. */
  get listeners(): number {
    return this.#listeners.size;
  }

  /** The update now, looked at afresh (for a page that polls). */
  current(): Promise<LiveUpdate> {
    return this.#look();
  }

  /** A new listener's stream: the whole update at once, then what changes, until it or the feed closes. */
  stream(): ReadableStream<Uint8Array> {
    let listener: ReadableStreamDefaultController<Uint8Array>;
    return new ReadableStream<Uint8Array>({
      start: (controller) => {
        listener = controller;
        if (this.#closed) {
          controller.close();
          return;
        }
        this.#listeners.add(controller);
        // Browsers wait this long before reconnecting after the stream drops.
        controller.enqueue(encoder.encode("retry: 3000\n\n"));
        if (this.#last) controller.enqueue(event(this.#last));
        this.#start();
        if (!this.#last) void this.#tick();
      },
      cancel: () => {
        this.#listeners.delete(listener);
        if (this.#listeners.size === 0) this.#stop();
      },
    });
  }

  /** Ends every stream and stops the loop (the daemon is stopping). */
  close(): void {
    this.#closed = true;
    this.#stop();
    for (const listener of this.#listeners) {
      try {
        listener.close();
      } catch { /* already closed by its page */ }
    }
    this.#listeners.clear();
  }

  #start(): void {
    this.#timer ??= setInterval(() => void this.#tick(), this.#intervalMs);
  }

  #stop(): void {
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
    // A page that comes later gets a fresh look, not one from before the pause.
    this.#last = null;
    this.#lastProgress = "";
  }

  async #tick(): Promise<void> {
    if (this.#busy || this.#listeners.size === 0) return;
    this.#busy = true;
    try {
      const last = this.#last;
      const looked = await this.#look(last?.key);
      if (this.#listeners.size === 0) return;
      // Unchanged sections were left out: the last ones still hold (and go to pages that come later).
      const update = looked.sections || !last ? looked : { ...looked, sections: last.sections };
      const progress = JSON.stringify(update.progress);
      let message: Uint8Array | null = null;
      if (!last || update.key !== last.key) message = event(update);
      else if (progress !== this.#lastProgress) {
        message = event({ key: update.key, progress: update.progress });
      }
      this.#last = update;
      this.#lastProgress = progress;
      const now = Date.now();
      if (!message && now - this.#lastSent >= this.#keepAliveMs) message = encoder.encode(": still here\n\n");
      if (message) {
        this.#lastSent = now;
        this.#send(message);
      }
    } catch (error) {
      this.#onError(error);
    } finally {
      this.#busy = false;
    }
  }

  #send(message: Uint8Array): void {
    for (const listener of this.#listeners) {
      try {
        listener.enqueue(message);
      } catch {
        this.#listeners.delete(listener);
      }
    }
  }
}

/** One SSE message: the JSON on a single `data:` line (JSON never holds a raw newline). */
function event(update: Partial<LiveUpdate>): Uint8Array {
  return encoder.encode(`data: ${JSON.stringify(update)}\n\n`);
}
