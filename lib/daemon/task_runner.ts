/**
 * A worker's task loop: claims the ready tasks of one service's jobs from the
 * catalog (any number of hosts may run one on the same catalog), runs each on
 * a {@link TaskHandler} under a lease it renews, and records the outcome only
 * while it still holds the task. An idle runner wakes at once when the catalog
 * says work may be ready (PostgreSQL `LISTEN/NOTIFY`) and looks every
 * `pollMs` anyway (expired leases tell no one; SQLite tells nothing). Its
 * heartbeat in the catalog's workers table is what `toros workers` and
 * `/health` list.
 *
 * A holder stops its task as soon as it cannot be sure the lease is still its
 * own: the catalog says it is not (cancelled, taken over), or no renewal has
 * been answered for so long that the lease, counted from the last renewal sent,
 * has less than its margin left (a host cut off from the catalog stops by
 * itself, before anyone else may take the task over).
 *
 * @module
 */
import type { Logger } from "../log.ts";
import {
  LeaseLostError,
  type Store,
  StoreError,
  type TaskFence,
  type TaskInput,
  type TaskListener,
  type TaskRecord,
} from "../store/mod.ts";
import type { JsonValue } from "../work_order.ts";
import type { JobProgress } from "./spec.ts";

/**
 * A worker not heard from for this long is not counted live: it heartbeats every third of its lease
 * (5 s by default), so this is four missed heartbeats.
 */
export const WORKER_SILENCE_SECONDS = 20;

/** What a handler is given for one task. */
export interface TaskContext {
  /** Aborted when the task must stop: the worker stops, the task was cancelled, or its lease is lost. */
  signal: AbortSignal;
  /** The claim: every write made under the lease names it (see `Store.replaceProduct`). */
  fence: TaskFence;
  /** How much of its lease a fenced write needs left, in milliseconds. */
  marginMs: number;
  /** Reports progress (shown by `/health` and `toros workers`). */
  progress(update: JobProgress): void;
  log: Logger;
}

/** What a task gave: its result, and the tasks it planned for its job (added as it is marked done). */
export interface TaskOutcome {
  result: JsonValue;
  add?: TaskInput[];
}

/** Runs tasks, one at a time. */
export interface TaskHandler {
  /** Runs one task; resolves with its outcome, throws to fail it with the message. */
  run(task: TaskRecord, context: TaskContext): Promise<TaskOutcome>;
  /** Releases what the handler holds (threads, connections) when the worker stops. */
  close?(): Promise<void>;
}

/** Task runner settings. */
export interface TaskRunnerOptions {
  /** The service whose jobs' tasks this worker claims. */
  service: string;
  store: Store;
  handler: TaskHandler;
  log: Logger;
  /** Lease length (default 15 s); renewed every third of it. */
  leaseMs?: number;
  /** How much lease a fenced write needs left (default a third of the lease). */
  marginMs?: number;
  /** How often an idle runner looks for work and for expired leases (default 1 s). */
  pollMs?: number;
  /** Wake on the catalog's notifications (default true; false: only look every `pollMs`). */
  listen?: boolean;
  /** `host:pid` by default (`host:pid-N` for a process's Nth runner): the holder's name in the catalog. */
  workerId?: string;
}

/** The task running now, with its progress. */
export interface RunningTask extends JobProgress {
  taskId: number;
  jobId: number;
  name: string;
}

/** Why a task's signal was aborted. */
type StopReason = "stopping" | "cancelled" | "lost";

/** Runners started in this process: the second and later get `host:pid-N`, so each holder's name is its own. */
let runnersInProcess = 0;

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** `promise`, or `fallback` when it has not settled within `ms` (a catalog that does not answer). */
async function within<T>(promise: Promise<T>, ms: number, fallback: T): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<T>((resolve) => (timer = setTimeout(() => resolve(fallback), ms))),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Claims and runs one service's tasks in the background, one at a time. */
export class TaskRunner {
  /** `host:pid`, the lease holder's name in the catalog. */
  readonly workerId: string;
  /** The host part of {@link workerId}. */
  readonly host: string;
  readonly #options: TaskRunnerOptions;
  readonly #leaseMs: number;
  readonly #marginMs: number;
  #stopping = false;
  #loop: Promise<void> | null = null;
  #wake: (() => void) | null = null;
  #woken = false;
  #current: RunningTask | null = null;
  #controller: AbortController | null = null;
  #listener: TaskListener | null = null;
  #heartbeat: ReturnType<typeof setInterval> | undefined;
  #tasksDone = 0;
  #lastRequeue = 0;

  /** Creates the runner (`start` begins work). */
  constructor(options: TaskRunnerOptions) {
    this.#options = options;
    this.#leaseMs = options.leaseMs ?? 15_000;
    this.#marginMs = options.marginMs ?? Math.round(this.#leaseMs / 3);
    this.host = Deno.hostname();
    const n = ++runnersInProcess;
    this.workerId = options.workerId ?? `${this.host}:${Deno.pid}${n > 1 ? `-${n}` : ""}`;
  }

  /** The task running now, with its progress. */
  get current(): RunningTask | null {
    return this.#current;
  }

  /** Tasks this runner finished (done or failed) since it started. */
  get tasksDone(): number {
    return this.#tasksDone;
  }

  /** Starts listening and the loop. */
  start(): void {
    this.#loop ??= this.#run();
  }

  /** Looks for work now. */
  wake(): void {
    this.#woken = true;
    this.#wake?.();
  }

  /** Stops at the running task's next safe point; the task goes back to the queue. Resolves when stopped. */
  async stop(): Promise<void> {
    this.#stopping = true;
    this.#controller?.abort("stopping" satisfies StopReason);
    this.#wake?.();
    await this.#loop;
    clearInterval(this.#heartbeat);
    await this.#listener?.close().catch(() => {});
    await this.#options.handler.close?.();
    await within(
      this.#options.store.removeWorker(this.workerId).catch(() => {}),
      this.#leaseMs / 3,
      undefined,
    );
  }

  async #beat(): Promise<void> {
    const { store, service, log } = this.#options;
    try {
      await within(
        store.recordWorker({
          id: this.workerId,
          host: this.host,
          pid: Deno.pid,
          service,
          taskId: this.#current?.taskId ?? null,
          tasksDone: this.#tasksDone,
        }),
        this.#leaseMs / 3,
        undefined,
      );
    } catch (error) {
      log.warning(`Heartbeat of worker ${this.workerId} failed: ${message(error)}`);
    }
  }

  async #idle(ms: number): Promise<void> {
    if (this.#woken) {
      this.#woken = false;
      return;
    }
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.#wake = done;
    });
    this.#wake = null;
    this.#woken = false;
  }

  async #run(): Promise<void> {
    const { store, log, service } = this.#options;
    if (this.#options.listen !== false) {
      try {
        this.#listener = await store.listenTasks((change) => {
          if (change === "ready") this.wake();
        });
      } catch (error) {
        log.warning(
          `Cannot listen for new tasks (looking every ${this.#options.pollMs ?? 1000} ms): ${message(error)}`,
        );
      }
    }
    await this.#beat();
    this.#heartbeat = setInterval(() => this.#beat(), Math.max(200, this.#leaseMs / 3));
    log.info(`Worker ${this.workerId} takes ${service} tasks`);
    while (!this.#stopping) {
      let task: TaskRecord | null = null;
      try {
        // Expired leases tell no one: whoever looks for work queues them again (once a second at most).
        if (Date.now() - this.#lastRequeue >= 1000) {
          this.#lastRequeue = Date.now();
          const requeued = await store.requeueExpiredTasks(service);
          if (requeued > 0) log.warning(`${requeued} task(s) whose lease expired were queued again`);
        }
        task = await store.claimTask(this.workerId, this.#leaseMs, service);
      } catch (error) {
        log.error(`Task queue unavailable: ${message(error)}`);
      }
      if (!task) {
        await this.#idle(this.#options.pollMs ?? 1000);
        continue;
      }
      await this.#runTask(task, performance.now());
    }
  }

  async #runTask(task: TaskRecord, claimedAt: number): Promise<void> {
    const { store, log, handler } = this.#options;
    const fence: TaskFence = { taskId: task.id, workerId: this.workerId, attempt: task.attempts };
    const label = `Task ${task.id} (${task.name}, job ${task.jobId})`;
    log.info(`${label}: started (attempt ${task.attempts})`);
    const controller = new AbortController();
    this.#controller = controller;
    if (this.#stopping) controller.abort("stopping" satisfies StopReason);
    // The worker's next heartbeat (within a third of the lease) names the task in `toros workers`.
    this.#current = {
      taskId: task.id,
      jobId: task.jobId,
      name: task.name,
      done: 0,
      total: 0,
      step: "starting",
    };
    // The lease is sure until this instant by this host's clock: counted from the last renewal sent.
    let sureUntil = claimedAt + this.#leaseMs;
    const lose = (why: string) => {
      if (controller.signal.aborted) return;
      log.warning(`${label}: ${why}: stopping`);
      controller.abort("lost" satisfies StopReason);
    };
    let renewing = false;
    const renewal = setInterval(async () => {
      if (performance.now() > sureUntil - this.#marginMs) lose("its lease was not renewed in time");
      if (renewing || controller.signal.aborted) return;
      renewing = true;
      const sent = performance.now();
      try {
        const held = await within(store.heartbeatTask(fence, this.#leaseMs), this.#leaseMs / 3, null);
        if (held === true) sureUntil = sent + this.#leaseMs;
        else if (held === false) lose("it was cancelled or taken over");
      } catch (error) {
        log.error(`${label}: renewing the lease failed: ${message(error)}`);
      } finally {
        renewing = false;
      }
    }, Math.max(100, this.#leaseMs / 6));
    const started = performance.now();
    try {
      let outcome: TaskOutcome;
      try {
        outcome = await handler.run(task, {
          signal: controller.signal,
          fence,
          marginMs: this.#marginMs,
          log,
          progress: (update) => (this.#current = { ...this.#current!, ...update }),
        });
      } catch (error) {
        const reason = controller.signal.reason as StopReason | undefined;
        if (reason === "stopping") {
          await store.releaseTask(fence);
          log.info(`${label}: stopped with the worker; back in the queue`);
        } else if (reason === "cancelled" || reason === "lost" || error instanceof LeaseLostError) {
          log.warning(`${label}: stopped (${reason ?? "lease lost"}): ${message(error)}`);
        } else if (error instanceof StoreError) {
          // The catalog failed under the task: another attempt (here or elsewhere) may go through.
          await store.releaseTask(fence);
          log.error(`${label}: the catalog failed (${message(error)}); back in the queue`);
        } else {
          await store.failTask(fence, message(error));
          this.#tasksDone++;
          log.error(`${label} failed: ${message(error)}`);
        }
        return;
      }
      if (await store.completeTask(fence, outcome.result, outcome.add ?? [])) {
        this.#tasksDone++;
        log.info(`${label}: done in ${((performance.now() - started) / 1000).toFixed(2)} s`);
      } else {
        log.warning(`${label}: finished after its lease was lost; another attempt's result counts`);
      }
    } catch (error) {
      log.error(`${label}: its outcome could not be recorded: ${message(error)}`);
    } finally {
      clearInterval(renewal);
      this.#current = null;
      this.#controller = null;
    }
  }
}
