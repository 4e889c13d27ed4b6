/**
 * The preprocessor service: the XML-RPC front desk (`front_desk`, `job_status`,
 * `list_jobs`, `cancel_job`), GET / documentation with the recent jobs, and
 * GET /health. Valid calibration orders become jobs in the catalog's queue and
 * are answered at once; the job runner does the work in the background.
 *
 * @module
 */
import {
  escapeHtml,
  FAULT_INVALID_PARAMS,
  FaultAnswer,
  pathOf,
  XmlRpcFault,
  XmlRpcServer,
  type XmlRpcValue,
} from "../../lib/xmlrpc/mod.ts";
import { toJsonValue, validateWorkOrder, type WorkOrder } from "../../lib/work_order.ts";
import { LocationError, resolveInsideRoots } from "../../lib/data_roots.ts";
import type { TorosConfig } from "../../lib/config.ts";
import type { JobRecord, JobStatus, Store } from "../../lib/store/mod.ts";
import type { Logger } from "../../lib/log.ts";
import { VERSION } from "../../lib/version.ts";
import type { JobResult, JobRunner } from "./job_runner.ts";

/** Fault code for a work order meant for another service. */
export const FAULT_WRONG_SERVICE = 1;
/** Fault code for a File Location outside the data roots or not readable. */
export const FAULT_LOCATION = 2;
/** Fault code for an unknown job. */
export const FAULT_NO_SUCH_JOB = 3;

/** What the service needs. */
export interface ServiceDeps {
  config: TorosConfig;
  store: Store;
  runner: JobRunner | null;
  log: Logger;
}

/** The service's request handler and its XML-RPC server. */
export interface PreprocessorService {
  server: XmlRpcServer;
  handle(request: Request, info: Deno.ServeHandlerInfo): Promise<Response>;
}

/** Resolves a night directory (symlinks followed), checks it lies inside a data root and can be read. */
export async function resolveNight(location: string, roots: string[]): Promise<string> {
  try {
    return await resolveInsideRoots(location, roots);
  } catch (error) {
    if (error instanceof LocationError) throw new XmlRpcFault(FAULT_LOCATION, error.message);
    throw error;
  }
}

function jobSummary(job: JobRecord, runner: JobRunner | null): Record<string, XmlRpcValue> {
  const result = (job.result ?? null) as JobResult | null;
  const current = runner?.current?.jobId === job.id ? runner.current : null;
  const progress = job.status === "done"
    ? 1
    : current && current.total > 0
    ? current.done / current.total
    : job.progress;
  const errors: string[] = [];
  if (job.error) errors.push(job.error);
  for (const failed of result?.Failed ?? []) errors.push(`${failed.File}: ${failed.Reason}`);
  for (const skipped of result?.Skipped ?? []) errors.push(`${skipped.File} skipped: ${skipped.Reason}`);
  return {
    Job: job.id,
    ID: job.workOrderId,
    Status: job.status,
    Progress: Math.round(progress * 1000) / 1000,
    Night: job.night,
    Priority: job.priority,
    Products: result?.Products ?? [],
    Errors: errors,
    Warnings: result?.Warnings ?? [],
    Attempts: job.attempts,
    Created: job.createdAt,
    Started: job.startedAt,
    Finished: job.finishedAt,
  };
}

const STATUSES: JobStatus[] = ["queued", "running", "done", "failed", "cancelled"];

/** Builds the service. */
export function createPreprocessorService(deps: ServiceDeps): PreprocessorService {
  const { config, store, log } = deps;
  const started = Date.now();
  const server = new XmlRpcServer({
    title: "TOROS Preprocessor Service",
    description: "Receives work orders and turns a night's raw CCD exposures into calibrated images. " +
      'Send {"ID": ..., "Request": "Exposure Calibration", "File Location": "/path/to/night"} to front_desk.',
    maxBodyBytes: config.security.maxBodyBytes,
    corsOrigin: config.security.corsOrigin,
    token: config.security.token,
    allowedNetworks: config.security.allowedNetworks,
    onError: (id, error) =>
      log.error(
        `Internal error ${id}: ${error instanceof Error ? `${error.message}\n${error.stack}` : error}`,
      ),
    docExtraHtml: async () => {
      const jobs = await store.listJobs({ limit: 20 });
      const rows = jobs.map((job) =>
        `<tr><td>${job.id}</td><td>${escapeHtml(job.workOrderId)}</td><td>${job.status}</td><td>${
          Math.round(job.progress * 100)
        }%</td><td>${escapeHtml(job.night ?? "")}</td><td>${job.createdAt}</td></tr>`
      );
      return `<h2>Recent jobs</h2>\n<table><tr><th>Job</th><th>ID</th><th>Status</th><th>Progress</th><th>Night</th>` +
        `<th>Received</th></tr>\n${rows.join("\n") || '<tr><td colspan="6">No jobs yet.</td></tr>'}</table>`;
    },
  });

  /** Queues a valid calibration order as a job (or finds the job it already is). */
  const queueCalibration = async (workOrder: XmlRpcValue, order: WorkOrder): Promise<XmlRpcValue> => {
    const night = await resolveNight(order.location, config.data.roots);
    const { job, created } = await store.enqueueJob({
      workOrderId: order.id,
      night,
      workOrder: toJsonValue(workOrder),
      priority: order.priority ?? 5,
    });
    if (created) {
      log.info(`Work order ${order.id} received: job ${job.id} for ${night}`);
      deps.runner?.wake();
    }
    return {
      ID: order.id,
      Job: job.id,
      Status: job.status,
      Message: created
        ? "Work order received."
        : `Work order already received as job ${job.id} (work order ${job.workOrderId}).`,
    };
  };

  server.register("front_desk", {
    signatures: [["struct", "struct"]],
    help: `Front Desk will receive your Work Order and perform the requested operations.

A calibration order is queued and answered at once with {ID, Job, Status, Message}:
  {"ID": "2026-11-24-calib", "Request": "Exposure Calibration", "File Location": "/data/toros/2026-11-24"}
  {"ID": "...", "WOType": "Calibration", "File Location": "file:///data/toros/2026-11-24", "Priority": 7.5}
Optional keys: Priority (0-10, higher first; default 5), Datetime (ISO 8601), User.
Sending the same ID again, or the same night while it is queued or running, returns the existing job.
Observation and Dome orders belong to the telescope and dome services and are refused with a fault.`,
    handler: (workOrder) => {
      const check = validateWorkOrder(workOrder);
      // A refusal is answered synchronously, as a value: the common case on a busy desk costs no promise.
      if (!check.ok) {
        return new FaultAnswer(
          check.service !== undefined ? FAULT_WRONG_SERVICE : FAULT_INVALID_PARAMS,
          check.message,
        );
      }
      return queueCalibration(workOrder, check.order);
    },
  });

  const findJob = async (jobId: XmlRpcValue): Promise<JobRecord> => {
    let job: JobRecord | null = null;
    if (typeof jobId === "number" && Number.isInteger(jobId)) job = await store.getJob(jobId);
    else if (typeof jobId === "string") job = await store.getJobByWorkOrderId(jobId);
    else {throw new XmlRpcFault(
        FAULT_INVALID_PARAMS,
        "Invalid params: job_id must be a job number or a work-order ID",
      );}
    if (!job) throw new XmlRpcFault(FAULT_NO_SUCH_JOB, `No job ${JSON.stringify(jobId)}`);
    return job;
  };

  server.register("job_status", {
    signatures: [["struct", "int"], ["struct", "string"]],
    help:
      "Returns {Job, ID, Status, Progress, Products, Errors, Warnings, ...} of a job, by job number or work-order ID.",
    handler: async (jobId) => jobSummary(await findJob(jobId), deps.runner),
  });

  server.register("list_jobs", {
    signatures: [["array"], ["array", "struct"], ["array", "string"]],
    help:
      "Lists recent jobs, newest first. Optional filter: a status (queued, running, done, failed, cancelled) " +
      "or {Status, Limit}.",
    handler: async (filter = null) => {
      let status: JobStatus | undefined;
      let limit = 50;
      if (typeof filter === "string") {
        status = filter as JobStatus;
      } else if (filter !== null && typeof filter === "object" && !Array.isArray(filter)) {
        const record = filter as Record<string, XmlRpcValue>;
        if (record.Status !== undefined) status = record.Status as JobStatus;
        if (record.Limit !== undefined) {
          if (typeof record.Limit !== "number" || !Number.isInteger(record.Limit) || record.Limit < 1) {
            throw new XmlRpcFault(FAULT_INVALID_PARAMS, "Invalid params: Limit must be a positive integer");
          }
          limit = Math.min(record.Limit, 1000);
        }
      } else if (filter !== null) {
        throw new XmlRpcFault(
          FAULT_INVALID_PARAMS,
          "Invalid params: the filter is a status string or a struct",
        );
      }
      if (status !== undefined && !STATUSES.includes(status)) {
        throw new XmlRpcFault(
          FAULT_INVALID_PARAMS,
          `Invalid params: status must be one of ${STATUSES.join(", ")}`,
        );
      }
      return (await store.listJobs({ status, limit })).map((job) => jobSummary(job, deps.runner));
    },
  });

  server.register("cancel_job", {
    signatures: [["struct", "int"], ["struct", "string"]],
    help: "Cancels a queued job, or stops a running one after its current frame. Returns the job's status.",
    handler: async (jobId) => {
      const job = await findJob(jobId);
      const cancelled = await store.cancelJob(job.id);
      log.info(`Job ${job.id} cancel requested (was ${job.status})`);
      return jobSummary(cancelled ?? job, deps.runner);
    },
  });

  /** `/health`: status, version, uptime and queue depth for anyone allowed in; the details need the token. */
  const health = async (detailed: boolean): Promise<Response> => {
    let database = "ok";
    let queue: Record<string, number> = {};
    try {
      await store.ping();
      queue = await store.countJobs();
    } catch (error) {
      database = error instanceof Error ? error.message : String(error);
    }
    const body: Record<string, unknown> = {
      status: database === "ok" ? "ok" : "degraded",
      service: "preprocessor",
      version: VERSION,
      uptimeSeconds: Math.round((Date.now() - started) / 1000),
      queueDepth: queue.queued ?? 0,
    };
    if (detailed) {
      Object.assign(body, {
        jobs: queue,
        running: deps.runner?.current ?? null,
        // How much the reduction has given way to requests (Reduction: Share While Serving).
        reductionYield: deps.runner
          ? { sharePercent: deps.runner.gate.share, ...deps.runner.gate.totals }
          : null,
        database,
        databaseBackend: store.description,
      });
    }
    return new Response(JSON.stringify(body, null, 2) + "\n", {
      status: database === "ok" ? 200 : 503,
      headers: { "content-type": "application/json" },
    });
  };

  return {
    server,
    handle(request: Request, info: Deno.ServeHandlerInfo): Promise<Response> {
      if (request.method === "GET" && pathOf(request.url) === "/health") {
        // Monitoring needs no token, but the network restriction still applies; without the token
        // (when one is set) the answer leaves out the catalog's location and the running job.
        const refused = server.refuseNetwork(info);
        if (refused) return Promise.resolve(refused);
        return health(server.guard(request, info) === null);
      }
      return server.handle(request, info);
    },
  };
}
