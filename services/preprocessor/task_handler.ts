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
import { ReductionThread } from "./reduction_thread.ts";

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
  readonly #thread = new ReductionThread();

  /** Creates the handler; the thread starts with the first task. */
  constructor(options: NightTaskHandlerOptions) {
    this.#options = options;
  }

  /** Runs one task; throws when it fails, was stopped or lost its lease. */
  async run(task: TaskRecord, context: TaskContext): Promise<TaskOutcome> {
    const outcome = await this.#thread.ask(
      {
        type: "task",
        task,
        fence: context.fence,
        marginMs: context.marginMs,
        roots: this.#options.roots,
        database: this.#options.database,
        reduction: this.#options.reduction,
        gate: this.#options.gate.buffer,
      },
      context,
      task.id,
    );
    if (outcome.type === "task-done") {
      return { result: outcome.outcome.result as unknown as JsonValue, add: outcome.outcome.add };
    }
    if (outcome.type === "aborted") throw new Error("stopped after the current frame");
    if (outcome.type === "failed") {
      if (outcome.fatal) this.#thread.discard();
      if (outcome.leaseLost) throw new LeaseLostError(outcome.error);
      throw new Error(outcome.error);
    }
    throw new Error(`unexpected ${outcome.type} from the reduction thread`);
  }

  /** Closes the reduction thread (it closes its catalog connection first). */
  async close(): Promise<void> {
    await this.#thread.close();
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
