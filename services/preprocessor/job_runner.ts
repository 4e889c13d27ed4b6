/**
 * The service's job loop: claims queued jobs from the catalog by priority with a
 * lease, runs each night on the reduction thread, heartbeats progress, and
 * records the outcome. On start it re-queues jobs a crashed run of this host left
 * behind; on stop it lets the current frame finish and puts the job back.
 *
 * @module
 */
import type { DatabaseConfig, ReductionConfig } from "../../lib/config.ts";
import type { JobRecord, Store } from "../../lib/store/mod.ts";
import type { Logger } from "../../lib/log.ts";
import type { ReductionEvent, ReductionRequest } from "./_reduction_worker.ts";
import type { ReductionReport } from "./pipeline.ts";
import { YieldGate } from "../../lib/yield_gate.ts";

/** Runner settings. */
export interface JobRunnerOptions {
  store: Store;
  database: DatabaseConfig;
  reduction: ReductionConfig;
  /** `Data: Roots`: a night that has left them (a directory swapped for a symlink) is refused. */
  roots: string[];
  log: Logger;
  /** Lease length (default 15 s); heartbeats come every third of it. */
  leaseMs?: number;
  /** How often an idle runner looks for work (default 1 s; `wake()` is immediate). */
  pollMs?: number;
}

/** What a finished job records as its result. */
export interface JobResult {
  Products: string[];
  Skipped: { File: string; Reason: string }[];
  Failed: { File: string; Reason: string }[];
  Warnings: string[];
  Seconds: number;
}

/** The job progress the service can report while a job runs. */
export interface RunningJob {
  jobId: number;
  done: number;
  total: number;
  step: string;
}

function isAlive(pid: number): boolean | null {
  try {
    Deno.statSync(`/proc/${pid}`);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      try {
        Deno.statSync("/proc/self");
        return false;
      } catch {
        return null;
      }
    }
    return null;
  }
}

/** Runs jobs one at a time in the background. */
export class JobRunner {
  readonly workerId: string;
  /**
   * The reduction threads' yield gate: the front desk touches it for every
   * request, and the threads keep `Reduction: Share While Serving` of the time.
   */
  readonly gate: YieldGate;
  readonly #options: JobRunnerOptions;
  readonly #leaseMs: number;
  #worker: Worker | null = null;
  #stopping = false;
  #loop: Promise<void> | null = null;
  #wake: (() => void) | null = null;
  #current: RunningJob | null = null;

  /** Creates the runner (`start` begins work). */
  constructor(options: JobRunnerOptions) {
    this.#options = options;
    this.#leaseMs = options.leaseMs ?? 15_000;
    this.workerId = `${Deno.hostname()}:${Deno.pid}`;
    this.gate = new YieldGate(options.reduction.shareWhileServing);
  }

  /** The job running now, with its progress. */
  get current(): RunningJob | null {
    return this.#current;
  }

  /** Starts the loop. */
  start(): void {
    this.#loop ??= this.#run();
  }

  /** Looks for work now (after an enqueue). */
  wake(): void {
    this.#wake?.();
  }

  /** Stops after the current frame; the running job goes back to the queue. Resolves when stopped. */
  async stop(): Promise<void> {
    this.#stopping = true;
    this.#worker?.postMessage({ type: "stop" } satisfies ReductionRequest);
    this.#wake?.();
    await this.#loop;
    if (this.#worker) {
      this.#worker.postMessage({ type: "close" } satisfies ReductionRequest);
      // Give the thread a moment to close its catalog connection, then make sure it is gone.
      await new Promise((resolve) => setTimeout(resolve, 100));
      this.#worker.terminate();
      this.#worker = null;
    }
  }

  /** Re-queues jobs this host was running in a process that no longer exists (a crash or kill -9). */
  async recoverInterrupted(): Promise<number> {
    const host = `${Deno.hostname()}:`;
    let recovered = 0;
    for (const job of await this.#options.store.listJobs({ status: "running", limit: 1000 })) {
      if (!job.workerId?.startsWith(host) || job.workerId === this.workerId) continue;
      const pid = Number(job.workerId.slice(host.length));
      if (Number.isInteger(pid) && isAlive(pid) === false) {
        await this.#options.store.releaseJob(job.id, job.workerId);
        this.#options.log.warning(`Job ${job.id} was interrupted (process ${pid} is gone): queued again`);
        recovered++;
      }
    }
    return recovered;
  }

  async #idle(ms: number): Promise<void> {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.#wake = done;
    });
    this.#wake = null;
  }

  async #run(): Promise<void> {
    const { store, log } = this.#options;
    try {
      await this.recoverInterrupted();
    } catch (error) {
      log.error(`Could not check for interrupted jobs: ${error instanceof Error ? error.message : error}`);
    }
    while (!this.#stopping) {
      let job: JobRecord | null = null;
      try {
        const requeued = await store.requeueExpired();
        if (requeued > 0) log.warning(`${requeued} job(s) whose lease expired were queued again`);
        job = await store.claimJob(this.workerId, this.#leaseMs);
      } catch (error) {
        log.error(`Job queue unavailable: ${error instanceof Error ? error.message : error}`);
      }
      if (!job) {
        await this.#idle(this.#options.pollMs ?? 1000);
        continue;
      }
      await this.#runJob(job);
    }
  }

  #ensureWorker(): Worker {
    if (!this.#worker) {
      this.#worker = new Worker(new URL("./_reduction_worker.ts", import.meta.url).href, { type: "module" });
    }
    return this.#worker;
  }

  async #runJob(job: JobRecord): Promise<void> {
    const { store, log } = this.#options;
    log.info(
      `Job ${job.id} (work order ${job.workOrderId}): reducing ${job.night} (attempt ${job.attempts})`,
    );
    this.#current = { jobId: job.id, done: 0, total: 0, step: "starting" };
    const worker = this.#ensureWorker();
    let cancelled = false;
    const heartbeat = setInterval(async () => {
      const progress = this.#current && this.#current.total > 0
        ? this.#current.done / this.#current.total
        : 0;
      try {
        const mine = await store.heartbeat(job.id, this.workerId, this.#leaseMs, progress);
        if (!mine && !cancelled) {
          cancelled = true;
          log.warning(`Job ${job.id} was cancelled or taken over: stopping after the current frame`);
          worker.postMessage({ type: "stop" } satisfies ReductionRequest);
        }
      } catch (error) {
        log.error(`Heartbeat for job ${job.id} failed: ${error instanceof Error ? error.message : error}`);
      }
    }, Math.max(200, this.#leaseMs / 3));
    try {
      const outcome = await new Promise<ReductionEvent>((resolve) => {
        worker.onmessage = (event: MessageEvent<ReductionEvent>) => {
          const message = event.data;
          if (message.type === "log") log[message.level](message.message);
          else if (message.type === "progress") {
            this.#current = { jobId: job.id, done: message.done, total: message.total, step: message.step };
          } else resolve(message);
        };
        worker.onerror = (event) => {
          event.preventDefault();
          this.#worker = null;
          resolve({ type: "failed", jobId: job.id, error: `reduction thread crashed: ${event.message}` });
        };
        worker.postMessage(
          {
            type: "run",
            jobId: job.id,
            night: job.night!,
            roots: this.#options.roots,
            database: this.#options.database,
            reduction: this.#options.reduction,
            gate: this.gate.buffer,
          } satisfies ReductionRequest,
        );
        if (this.#stopping) worker.postMessage({ type: "stop" } satisfies ReductionRequest);
      });
      if (outcome.type === "done") {
        const report = outcome.report as ReductionReport;
        const result: JobResult = {
          Products: report.products.map((p) => p.path),
          Skipped: report.skipped.map((s) => ({ File: s.fileName, Reason: s.reason })),
          Failed: report.failed.map((s) => ({ File: s.fileName, Reason: s.reason })),
          Warnings: report.warnings,
          Seconds: Math.round(report.seconds * 100) / 100,
        };
        await store.completeJob(job.id, this.workerId, result);
        log.info(`Job ${job.id} done: ${result.Products.length} products in ${result.Seconds} s`);
      } else if (outcome.type === "aborted") {
        if (!cancelled) {
          await store.releaseJob(job.id, this.workerId);
          log.info(`Job ${job.id} stopped after the current frame and was queued again`);
        } else {
          log.info(`Job ${job.id} stopped (cancelled)`);
        }
      } else if (outcome.type === "failed") {
        if (outcome.fatal) {
          this.#worker?.terminate();
          this.#worker = null;
        }
        await store.failJob(job.id, this.workerId, outcome.error);
        log.error(`Job ${job.id} failed: ${outcome.error}`);
      }
    } catch (error) {
      log.error(`Job ${job.id} could not be recorded: ${error instanceof Error ? error.message : error}`);
    } finally {
      clearInterval(heartbeat);
      this.#current = null;
    }
  }
}
