/**
 * The preprocessor's job handler: runs each calibration job's night on the
 * reduction thread (its own catalog connection and pixel pool, at a lower
 * scheduling priority), so the front desk's event loop never waits for pixel
 * or file work. A stop or a cancellation lets the current frame finish.
 *
 * @module
 */
import type { DatabaseConfig, ReductionConfig } from "../../lib/config.ts";
import type { JobContext, JobHandler } from "../../lib/daemon/mod.ts";
import type { JobRecord, Store } from "../../lib/store/mod.ts";
import type { JsonValue } from "../../lib/work_order.ts";
import type { YieldGate } from "../../lib/yield_gate.ts";
import { ReductionThread } from "./reduction_thread.ts";
import type { ReductionReport } from "./pipeline.ts";
import { type QcLine, qcLinesOf } from "./report.ts";
import type { PreviewsMade } from "./previews.ts";
import { followNightTasks } from "./night_job.ts";

/** A task of a night that several hosts share, as `job_status` shows it. */
export interface TaskLine {
  /** `calibrated_lights 2048x2048@1x1 3/8` */
  Name: string;
  Status: string;
  /** The host that runs or ran it (empty while queued). */
  Host: string;
  /** Its worker, `host:pid`. */
  Worker: string;
  Attempts: number;
  /** Its time on the worker, once done. */
  Seconds?: number;
  Error?: string;
}

/** What a finished calibration job records as its result. */
export interface JobResult {
  Products: string[];
  Skipped: { File: string; Reason: string }[];
  Failed: { File: string; Reason: string }[];
  Warnings: string[];
  Seconds: number;
  /** Each stage in the order it ran: what it did and how long it took. */
  Stages?: {
    Name: string;
    Groups: number;
    Frames: number;
    Products: number;
    Reused: number;
    Rejected: number;
    Failed: number;
    Seconds: number;
  }[];
  /** The web page's previews: made now, already up to date, and those that could not be made. */
  Previews?: { Made: number; UpToDate: number; Failed: { File: string; Reason: string }[] };
  /** A night that several hosts shared: its tasks, each with the host that ran it. */
  Tasks?: TaskLine[];
  /** Quality control's verdicts (see {@link qcLinesOf}). */
  QC?: QcLine[];
}

/** What the handler needs. */
export interface ReductionHandlerOptions {
  database: DatabaseConfig;
  reduction: ReductionConfig;
  /** `Data: Roots`: a night that has left them (a directory swapped for a symlink) is refused. */
  roots: string[];
  /** The front desk's gate, which the reduction's threads pass. */
  gate: YieldGate;
  /**
   * A catalog several hosts share (PostgreSQL): each night becomes tasks that reduction workers on
   * any host run (see night_job.ts), followed here; without it the night is reduced here, as one.
   */
  shared?: Store;
}

/** The result stored for a reduced night (with the previews the reduction thread made after it). */
export function jobResultOf(report: ReductionReport & { previews?: PreviewsMade }): JobResult {
  const round = (seconds: number) => Math.round(seconds * 100) / 100;
  const result: JobResult = {
    Products: report.products.map((p) => p.path),
    QC: qcLinesOf(report.qc ?? []),
    Skipped: report.skipped.map((s) => ({ File: s.fileName, Reason: s.reason })),
    Failed: report.failed.map((s) => ({ File: s.fileName, Reason: s.reason })),
    Warnings: report.warnings,
    Seconds: round(report.seconds),
    Stages: (report.stages ?? []).map((stage) => ({
      Name: stage.name,
      Groups: stage.groups,
      Frames: stage.frames,
      Products: stage.products,
      Reused: stage.reused,
      Rejected: stage.rejected,
      Failed: stage.failed,
      Seconds: round(stage.seconds),
    })),
  };
  if (report.previews) {
    result.Previews = {
      Made: report.previews.made,
      UpToDate: report.previews.upToDate,
      Failed: report.previews.failed.map((failed) => ({ File: failed.path, Reason: failed.reason })),
    };
  }
  return result;
}

/** Runs calibration jobs on one long-lived reduction thread. */
export class ReductionHandler implements JobHandler {
  readonly #options: ReductionHandlerOptions;
  readonly #thread = new ReductionThread();

  /** Creates the handler; the thread starts with the first job. */
  constructor(options: ReductionHandlerOptions) {
    this.#options = options;
  }

  /** Reduces the job's night (or follows its tasks); throws when it fails or was stopped. */
  async run(job: JobRecord, context: JobContext): Promise<JsonValue> {
    if (!job.night) throw new Error(`Job ${job.id} names no night directory`);
    if (this.#options.shared) {
      context.log.info(`Job ${job.id}: ${job.night} as tasks for the reduction workers`);
      const result = await followNightTasks(job, context, this.#options.shared);
      context.log.info(`Job ${job.id}: ${result.Products.length} products in ${result.Seconds} s`);
      return result as unknown as JsonValue;
    }
    context.log.info(`Job ${job.id}: reducing ${job.night}`);
    const outcome = await this.#thread.ask(
      {
        type: "run",
        jobId: job.id,
        night: job.night!,
        roots: this.#options.roots,
        database: this.#options.database,
        reduction: this.#options.reduction,
        gate: this.#options.gate.buffer,
      },
      context,
      job.id,
    );
    if (outcome.type === "done") {
      const result = jobResultOf(outcome.report as ReductionReport);
      context.log.info(`Job ${job.id}: ${result.Products.length} products in ${result.Seconds} s`);
      return result as unknown as JsonValue;
    }
    if (outcome.type === "aborted") throw new Error("stopped after the current frame");
    if (outcome.type === "failed" && outcome.fatal) this.#thread.discard();
    throw new Error(
      outcome.type === "failed" ? outcome.error : `unexpected ${outcome.type} from the reduction`,
    );
  }

  /** Closes the reduction thread (it closes its catalog connection first). */
  async close(): Promise<void> {
    await this.#thread.close();
  }
}
