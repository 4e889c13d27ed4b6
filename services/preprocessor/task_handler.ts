/**
 * A reduction worker: claims the tasks of nights that several hosts share
 * (see night_tasks.ts) and runs each on a reduction thread of its own (its own
 * catalog connection and pixel pool, at a lower scheduling priority), as
 * `toros serve worker` does on any host and the preprocessor does beside its
 * front desk when `Reduction: Local Worker` is true and the catalog is PostgreSQL.
 *
 * @module
 */
import type { DatabaseConfig, ReductionConfig } from "../../lib/config.ts";
import {
  type Background,
  type DaemonContext,
  type TaskContext,
  type TaskHandler,
  type TaskOutcome,
  TaskRunner,
} from "../../lib/daemon/mod.ts";
import { getLogger } from "../../lib/log.ts";
import { LeaseLostError, type TaskRecord } from "../../lib/store/mod.ts";
import type { JsonValue } from "../../lib/work_order.ts";
import type { YieldGate } from "../../lib/yield_gate.ts";
import type { ReductionEvent, ReductionRequest } from "./_reduction_worker.ts";

/** The service whose jobs' tasks a reduction worker runs. */
export const REDUCTION_SERVICE = "preprocessor";

/** What the handler needs. */
export interface NightTaskHandlerOptions {
  database: DatabaseConfig;
  reduction: ReductionConfig;
  /** `Data: Roots`: a night that has left them is refused. */
  roots: string[];
  /** The gate the reduction's threads pass (the front desk's on the preprocessor). */
  gate: YieldGate;
}

/** Runs tasks of shared nights on one long-lived reduction thread. */
export class NightTaskHandler implements TaskHandler {
  readonly #options: NightTaskHandlerOptions;
  #worker: Worker | null = null;

  /** Creates the handler; the thread starts with the first task. */
  constructor(options: NightTaskHandlerOptions) {
    this.#options = options;
  }

  /** Runs one task; throws when it fails, was stopped or lost its lease. */
  async run(task: TaskRecord, context: TaskContext): Promise<TaskOutcome> {
    this.#worker ??= new Worker(new URL("./_reduction_worker.ts", import.meta.url).href, { type: "module" });
    const worker = this.#worker;
    const stop = () => worker.postMessage({ type: "stop" } satisfies ReductionRequest);
    context.signal.addEventListener("abort", stop, { once: true });
    try {
      const outcome = await new Promise<ReductionEvent>((resolve) => {
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
          resolve({ type: "failed", jobId: task.id, error: `reduction thread crashed: ${event.message}` });
        };
        worker.postMessage(
          {
            type: "task",
            task,
            fence: context.fence,
            marginMs: context.marginMs,
            roots: this.#options.roots,
            database: this.#options.database,
            reduction: this.#options.reduction,
            gate: this.#options.gate.buffer,
          } satisfies ReductionRequest,
        );
        if (context.signal.aborted) stop();
      });
      if (outcome.type === "task-done") {
        return { result: outcome.outcome.result as unknown as JsonValue, add: outcome.outcome.add };
      }
      if (outcome.type === "aborted") throw new Error("stopped after the current frame");
      if (outcome.type === "failed") {
        if (outcome.fatal) this.#discard();
        if (outcome.leaseLost) throw new LeaseLostError(outcome.error);
        throw new Error(outcome.error);
      }
      throw new Error(`unexpected ${outcome.type} from the reduction thread`);
    } finally {
      context.signal.removeEventListener("abort", stop);
    }
  }

  #discard(): void {
    this.#worker?.terminate();
    this.#worker = null;
  }

  /** Closes the reduction thread (it closes its catalog connection first). */
  async close(): Promise<void> {
    if (!this.#worker) return;
    this.#worker.postMessage({ type: "close" } satisfies ReductionRequest);
    await new Promise((resolve) => setTimeout(resolve, 100));
    this.#discard();
  }
}

/** Options of {@link startReductionWorker}. */
export interface ReductionWorkerOptions {
  /** Lease length (default 15 s). */
  leaseMs?: number;
  /** How often an idle worker looks (default 1 s; it wakes at once on a notification). */
  pollMs?: number;
}

/**
 * Starts claiming and running tasks of shared nights with the daemon's catalog and config; the
 * returned background stops the running task at a safe point (it goes back to the queue).
 */
export function startReductionWorker(
  context: DaemonContext,
  options: ReductionWorkerOptions = {},
): Background & { runner: TaskRunner } {
  const { config, store, gate } = context;
  const runner = new TaskRunner({
    service: REDUCTION_SERVICE,
    store,
    log: getLogger("worker"),
    leaseMs: options.leaseMs,
    pollMs: options.pollMs,
    handler: new NightTaskHandler({
      database: config.database,
      reduction: config.reduction,
      roots: config.data.roots,
      gate,
    }),
  });
  runner.start();
  return { runner, stop: () => runner.stop() };
}
