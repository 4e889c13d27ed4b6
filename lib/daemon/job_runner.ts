/**
 * A daemon's job loop: claims its service's queued jobs from the catalog by
 * priority with a lease, runs each on the service's {@link JobHandler},
 * heartbeats progress, and records the outcome. On start it re-queues jobs a
 * crashed run of this host left behind; on stop it asks the handler to stop at
 * its next safe point and puts the job back in the queue; a cancelled job is
 * told at once.
 *
 * @module
 */
import type { JobRecord, Store } from "../store/mod.ts";
import type { Logger } from "../log.ts";
import { INTERRUPTED, JobDeferred, type JobHandler, type JobProgress } from "./spec.ts";

/** Runner settings. */
export interface JobRunnerOptions {
  /** The service whose jobs this runner claims. */
  service: string;
  store: Store;
  handler: JobHandler;
  log: Logger;
  /** Lease length (default 15 s); heartbeats come every third of it. */
  leaseMs?: number;
  /** How often an idle runner looks for work (default 1 s; `wake()` is immediate). */
  pollMs?: number;
  /** Record each new step of a job in its story (default false: only its start and outcome). */
  stepsInHistory?: boolean;
  /** The daemon's clock, for the times of the story (default real time). */
  clock?: () => Date;
}

/** The job running now, with its progress. */
export interface RunningJob extends JobProgress {
  jobId: number;
}

/** Why a job's signal was aborted. */
type StopReason = "stopping" | "cancelled" | "interrupted";

/** Whether a process of this host is alive: null when this system cannot tell (no /proc). */
function isAlive(pid: number): boolean | null {
  try {
    Deno.statSync(`/proc/${pid}`);
    return true;
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) return null;
    try {
      Deno.statSync("/proc/self");
      return false;
    } catch {
      return null;
    }
  }
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Runs one service's jobs one at a time in the background. */
export class JobRunner {
  /** `host:pid`, the lease holder's name in the catalog. */
  readonly workerId: string;
  readonly #options: JobRunnerOptions;
  readonly #leaseMs: number;
  #stopping = false;
  #loop: Promise<void> | null = null;
  #wake: (() => void) | null = null;
  #current: RunningJob | null = null;
  #controller: AbortController | null = null;
  #interruption = "";
  #running: Promise<void> | null = null;

  /** Creates the runner (`start` begins work). */
  constructor(options: JobRunnerOptions) {
    this.#options = options;
    this.#leaseMs = options.leaseMs ?? 15_000;
    this.workerId = `${Deno.hostname()}:${Deno.pid}`;
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

  /** Tells the running job, if it is `jobId`, that it was cancelled: it stops at once. */
  cancelled(jobId: number): void {
    if (this.#current?.jobId === jobId) this.#controller?.abort("cancelled" satisfies StopReason);
  }

  /**
   * Stops the running job at once and fails it as `interrupted: <why>` (bad
   * weather: whoever sent it decides whether to send it again). Resolves, once
   * the job's handler has stopped and cleaned up, with its number, or null
   * when no job runs.
   */
  async interrupt(why: string): Promise<number | null> {
    const current = this.#current;
    if (!current || !this.#controller || this.#controller.signal.aborted) return null;
    this.#interruption = why;
    this.#controller.abort("interrupted" satisfies StopReason);
    await this.#running;
    return current.jobId;
  }

  /** Stops at the running job's next safe point; the job goes back to the queue. Resolves when stopped. */
  async stop(): Promise<void> {
    this.#stopping = true;
    this.#controller?.abort("stopping" satisfies StopReason);
    this.#wake?.();
    await this.#loop;
    await this.#options.handler.close?.();
  }

  /** Re-queues jobs this host was running in a process that no longer exists (a crash or kill -9). */
  async recoverInterrupted(): Promise<number> {
    const { store, service, log } = this.#options;
    const host = `${Deno.hostname()}:`;
    let recovered = 0;
    for (const job of await store.listJobs({ service, status: "running", limit: 1000 })) {
      if (!job.workerId?.startsWith(host) || job.workerId === this.workerId) continue;
      const pid = Number(job.workerId.slice(host.length));
      if (Number.isInteger(pid) && isAlive(pid) === false) {
        await store.releaseJob(job.id, job.workerId);
        log.warning(`Job ${job.id} was interrupted (process ${pid} is gone): queued again`);
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
    const { store, log, service } = this.#options;
    try {
      await this.recoverInterrupted();
    } catch (error) {
      log.error(`Could not check for interrupted jobs: ${message(error)}`);
    }
    while (!this.#stopping) {
      let job: JobRecord | null = null;
      try {
        const requeued = await store.requeueExpired(service);
        if (requeued > 0) log.warning(`${requeued} job(s) whose lease expired were queued again`);
        job = await store.claimJob(this.workerId, this.#leaseMs, service);
      } catch (error) {
        log.error(`Job queue unavailable: ${message(error)}`);
      }
      if (!job) {
        await this.#idle(this.#options.pollMs ?? 1000);
        continue;
      }
      this.#running = this.#runJob(job);
      await this.#running;
      this.#running = null;
    }
  }

  async #runJob(job: JobRecord): Promise<void> {
    const { store, log, handler } = this.#options;
    log.info(`Job ${job.id} (work order ${job.workOrderId}): started (attempt ${job.attempts})`);
    const story = (event: string) =>
      store.addJobEvent(job.id, event, this.#options.clock?.()).catch((error) =>
        log.warning(`Could not record "${event}" for job ${job.id}: ${message(error)}`)
      );
    await story(job.attempts > 1 ? `started (attempt ${job.attempts})` : "started");
    const controller = new AbortController();
    this.#controller = controller;
    if (this.#stopping) controller.abort("stopping" satisfies StopReason);
    this.#current = { jobId: job.id, done: 0, total: 0, step: "starting" };
    const heartbeat = setInterval(async () => {
      const current = this.#current;
      const progress = current && current.total > 0 ? current.done / current.total : 0;
      try {
        const mine = await store.heartbeat(job.id, this.workerId, this.#leaseMs, progress);
        if (!mine && !controller.signal.aborted) {
          log.warning(`Job ${job.id} was cancelled or taken over: stopping`);
          controller.abort("cancelled" satisfies StopReason);
        }
      } catch (error) {
        log.error(`Heartbeat for job ${job.id} failed: ${message(error)}`);
      }
    }, Math.max(200, this.#leaseMs / 3));
    try {
      let result;
      try {
        result = await handler.run(job, {
          signal: controller.signal,
          log,
          progress: (update) => {
            if (this.#options.stepsInHistory && update.step !== this.#current?.step) story(update.step);
            this.#current = { jobId: job.id, ...update };
          },
        });
      } catch (error) {
        const reason = controller.signal.reason as StopReason | undefined;
        if (reason === "stopping") {
          await store.releaseJob(job.id, this.workerId);
          await story("stopped with the daemon; back in the queue");
          log.info(`Job ${job.id} stopped and was queued again`);
        } else if (reason === "cancelled") {
          await story("stopped (cancelled)");
          log.info(`Job ${job.id} stopped (cancelled)`);
        } else if (reason === "interrupted") {
          const why = `${INTERRUPTED} ${this.#interruption}`;
          await store.failJob(job.id, this.workerId, why);
          await story(why);
          log.warning(`Job ${job.id} ${why}`);
        } else if (error instanceof JobDeferred) {
          const until = new Date(Date.now() + error.retryMs);
          await store.deferJob(job.id, this.workerId, error.message, until);
          await story(`waiting: ${error.message}`);
          log.warning(`Job ${job.id} waits until ${until.toISOString()}: ${error.message}`);
        } else {
          await store.failJob(job.id, this.workerId, message(error));
          await story(`failed: ${message(error)}`);
          log.error(`Job ${job.id} failed: ${message(error)}`);
        }
        return;
      }
      await store.completeJob(job.id, this.workerId, result);
      await story("done");
      log.info(`Job ${job.id} done`);
    } catch (error) {
      log.error(`Job ${job.id} could not be recorded: ${message(error)}`);
    } finally {
      clearInterval(heartbeat);
      this.#current = null;
      this.#controller = null;
    }
  }
}
