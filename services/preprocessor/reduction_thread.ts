/**
 * The reduction thread a handler keeps for its jobs or tasks: started with
 * the first request, asked one thing at a time, its log lines and progress
 * relayed as they come, stopped after the current frame when the job's signal
 * aborts, and replaced when it crashes or says it cannot go on.
 *
 * @module
 */
import type { JobProgress } from "../../lib/daemon/mod.ts";
import type { Logger } from "../../lib/log.ts";
import type { ReductionEvent, ReductionRequest } from "./_reduction_worker.ts";

/** Where a request's log lines and progress go, and the signal that stops it. */
export interface ReductionContext {
  signal: AbortSignal;
  progress(update: JobProgress): void;
  log: Logger;
}

/** One long-lived reduction thread. */
export class ReductionThread {
  #worker: Worker | null = null;

  /**
   * Sends `request` and resolves with the thread's answer (done, failed or
   * aborted); a crash of the thread resolves as a failure of `jobId` and the
   * next request starts a new one.
   */
  async ask(request: ReductionRequest, context: ReductionContext, jobId: number): Promise<ReductionEvent> {
    this.#worker ??= new Worker(new URL("./_reduction_worker.ts", import.meta.url).href, { type: "module" });
    const worker = this.#worker;
    const stop = () => worker.postMessage({ type: "stop" } satisfies ReductionRequest);
    context.signal.addEventListener("abort", stop, { once: true });
    try {
      return await new Promise<ReductionEvent>((resolve) => {
        worker.onmessage = (event: MessageEvent<ReductionEvent>) => {
          const message = event.data;
          if (message.type === "log") context.log[message.level](message.message);
          else if (message.type === "progress") {
            context.progress({ done: message.done, total: message.total, step: message.step });
          } else resolve(message);
        };
        worker.onerror = (event) => {
          event.preventDefault();
          this.#worker = null;
          resolve({ type: "failed", jobId, error: `reduction thread crashed: ${event.message}` });
        };
        worker.postMessage(request);
        if (context.signal.aborted) stop();
      });
    } finally {
      context.signal.removeEventListener("abort", stop);
    }
  }

  /** Ends the thread at once (after a failure it cannot recover from); the next request starts another. */
  discard(): void {
    this.#worker?.terminate();
    this.#worker = null;
  }

  /** Closes the thread (it closes its catalog connection first). */
  async close(): Promise<void> {
    if (!this.#worker) return;
    this.#worker.postMessage({ type: "close" } satisfies ReductionRequest);
    // Give the thread a moment to close its catalog connection, then make sure it is gone.
    await new Promise((resolve) => setTimeout(resolve, 100));
    this.discard();
  }
}
