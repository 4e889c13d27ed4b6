/**
 * The reduction thread of the service: runs one night at a time with its own
 * catalog connection and pixel pool, so the XML-RPC event loop never waits for
 * pixel or file work.
 *
 * @module
 */
/// <reference lib="deno.worker" />
import type { DatabaseConfig, ReductionConfig } from "../../lib/config.ts";
import { openStore, type Store } from "../../lib/store/mod.ts";
import { createPixelPool, type PixelPool } from "../../lib/ccd/mod.ts";
import { lowerThreadPriority } from "../../lib/thread_priority.ts";
import { YieldGate } from "../../lib/yield_gate.ts";
import { reduceNight, ReductionAborted } from "./pipeline.ts";
import { makePreviews, type PreviewsMade } from "./previews.ts";
import { LeaseLostError, type TaskFence, type TaskRecord } from "../../lib/store/mod.ts";
import { type NightTaskOutcome, runNightTask } from "./night_tasks.ts";

/**
 * Of the job's progress bar, the reduction fills this share and the previews the rest: the job is
 * done when the night's previews are made too, so its products can be looked at once it is.
 */
const REDUCTION_SHARE = 0.9;
/** Progress is sent in thousandths of the job. */
const PROGRESS_STEPS = 1000;

/** Messages the worker accepts. */
export type ReductionRequest =
  | {
    type: "run";
    jobId: number;
    night: string;
    /** The data roots the night must stay inside (`Data: Roots`). */
    roots: string[];
    database: DatabaseConfig;
    reduction: ReductionConfig;
    /** The front desk's {@link YieldGate}, which the reduction's threads pass. */
    gate: SharedArrayBuffer;
  }
  | {
    /** One task of a night that several hosts share (see night_tasks.ts). */
    type: "task";
    task: TaskRecord;
    fence: TaskFence;
    marginMs: number;
    roots: string[];
    database: DatabaseConfig;
    reduction: ReductionConfig;
    gate: SharedArrayBuffer;
  }
  | { type: "stop" }
  | { type: "close" };

/** Messages the worker sends. */
export type ReductionEvent =
  | { type: "progress"; jobId: number; done: number; total: number; step: string }
  | { type: "done"; jobId: number; report: unknown }
  | { type: "task-done"; taskId: number; outcome: NightTaskOutcome }
  | { type: "aborted"; jobId: number }
  | {
    type: "failed";
    jobId: number;
    error: string;
    /** The thread cannot go on (an error escaped the reduction): start a new one for the next job. */
    fatal?: boolean;
    /** A task stopped because its lease could not be made sure of (nothing of it was put in place). */
    leaseLost?: boolean;
  }
  | { type: "log"; level: "info" | "warning" | "error"; message: string };

let store: Store | null = null;
let pool: PixelPool | null = null;
let controller: AbortController | null = null;
let currentJob: number | null = null;

function send(event: ReductionEvent): void {
  self.postMessage(event);
}

// The worker's records go back to the service's logger, which owns the log file.
const log = {
  debug: (_message: string) => {},
  info: (message: string) => send({ type: "log", level: "info", message }),
  warning: (message: string) => send({ type: "log", level: "warning", message }),
  error: (message: string) => send({ type: "log", level: "error", message }),
};

// An error that escapes the reduction (a promise nobody awaited) must not crash the thread with
// "Uncaught (in promise)": the job fails with the reason and the runner starts a fresh thread.
self.addEventListener("unhandledrejection", (event) => {
  event.preventDefault();
  const reason = event.reason instanceof Error ? event.reason.message : String(event.reason);
  log.error(`Reduction thread error: ${reason}`);
  controller?.abort();
  if (currentJob !== null) {
    send({ type: "failed", jobId: currentJob, error: `reduction thread error: ${reason}`, fatal: true });
    currentJob = null;
  }
  self.close();
});

/** Opens the catalog and starts the pixel pool, once, for the first job or task. */
async function prepare(
  request: { database: DatabaseConfig; reduction: ReductionConfig; gate: SharedArrayBuffer },
): Promise<{ store: Store; pool: PixelPool }> {
  store ??= await openStore(request.database);
  if (!pool) {
    // Before the pool starts: its threads inherit this one's nice value.
    if (lowerThreadPriority(request.reduction.niceness)) {
      log.info(`Reduction threads run at nice ${request.reduction.niceness}; the front desk answers first`);
    }
    pool = createPixelPool(request.reduction.workers || navigator.hardwareConcurrency || 1, {
      gate: new YieldGate(request.gate),
    });
  }
  return { store, pool };
}

/** Runs one task of a shared night; its products are made, put in place and previewed here. */
async function runTask(
  request: Extract<ReductionRequest, { type: "task" }>,
  signal: AbortSignal,
): Promise<void> {
  const taskId = request.task.id;
  currentJob = taskId;
  try {
    const { store, pool } = await prepare(request);
    const outcome = await runNightTask(request.task, {
      store,
      reduction: request.reduction,
      roots: request.roots,
      pool,
      fence: request.fence,
      marginMs: request.marginMs,
      signal,
      log,
      onProgress: (p) =>
        send({ type: "progress", jobId: taskId, done: p.done, total: p.total, step: p.step }),
    });
    send({ type: "task-done", taskId, outcome: JSON.parse(JSON.stringify(outcome)) });
  } catch (error) {
    if (error instanceof ReductionAborted) send({ type: "aborted", jobId: taskId });
    else {
      send({
        type: "failed",
        jobId: taskId,
        error: error instanceof Error ? error.message : String(error),
        leaseLost: error instanceof LeaseLostError,
      });
    }
  } finally {
    currentJob = null;
  }
}

self.onmessage = async (event: MessageEvent<ReductionRequest>) => {
  const request = event.data;
  if (request.type === "stop") {
    controller?.abort();
    return;
  }
  if (request.type === "close") {
    controller?.abort();
    pool?.close();
    await store?.close();
    self.close();
    return;
  }
  controller = new AbortController();
  if (request.type === "task") {
    await runTask(request, controller.signal);
    controller = null;
    return;
  }
  currentJob = request.jobId;
  try {
    const { store, pool } = await prepare(request);
    const report = await reduceNight(request.night, {
      store,
      reduction: request.reduction,
      roots: request.roots,
      pool,
      signal: controller.signal,
      log,
      onProgress: (p) =>
        send({
          type: "progress",
          jobId: request.jobId,
          done: p.total > 0 ? Math.round((PROGRESS_STEPS * REDUCTION_SHARE * p.done) / p.total) : 0,
          total: p.total > 0 ? PROGRESS_STEPS : 0,
          step: p.step,
        }),
    });
    // Previews for the web page, made here once (never on a request): every product of the night
    // whose previews are missing or older than it, kept ones from an earlier run included.
    const products = await store.listProducts({ nightId: report.night.id });
    const previews: PreviewsMade = await makePreviews(products.map((product) => product.path), {
      signal: controller.signal,
      onProgress: (done, total) =>
        send({
          type: "progress",
          jobId: request.jobId,
          done: Math.round(PROGRESS_STEPS * (REDUCTION_SHARE + ((1 - REDUCTION_SHARE) * done) / total)),
          total: PROGRESS_STEPS,
          step: `previews ${done}/${total}`,
        }),
    });
    if (previews.made > 0) log.info(`Previews of ${previews.made} products made in ${report.outDir}`);
    for (const failed of previews.failed) log.warning(`No preview of ${failed.path}: ${failed.reason}`);
    send({ type: "done", jobId: request.jobId, report: { ...JSON.parse(JSON.stringify(report)), previews } });
  } catch (error) {
    if (error instanceof ReductionAborted) send({ type: "aborted", jobId: request.jobId });
    else {send({
        type: "failed",
        jobId: request.jobId,
        error: error instanceof Error ? error.message : String(error),
      });}
  } finally {
    controller = null;
    currentJob = null;
  }
};
