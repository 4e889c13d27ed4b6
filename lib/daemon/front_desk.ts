/**
 * The XML-RPC methods every daemon answers: `front_desk` (admit a work order
 * and queue it), `job_status`, `list_jobs` and `cancel_job`, over the
 * service's jobs in the catalog.
 *
 * @module
 */
import {
  FAULT_INVALID_PARAMS,
  FaultAnswer,
  type MethodResult,
  XmlRpcFault,
  type XmlRpcServer,
  type XmlRpcValue,
} from "../xmlrpc/mod.ts";
import type { JobRecord, JobStatus } from "../store/mod.ts";
import type { JobRunner } from "./job_runner.ts";
import { toJsonValue, validateWorkOrder, type WorkOrder } from "../work_order.ts";
import { type AdmittedOrder, type DaemonContext, type DaemonSpec, INTERRUPTED } from "./spec.ts";

/** Fault code for a work order meant for another service. */
export const FAULT_WRONG_SERVICE = 1;
/** Fault code for an unknown job. */
export const FAULT_NO_SUCH_JOB = 3;

/** Every job status, in life-cycle order. */
export const JOB_STATUSES: JobStatus[] = ["queued", "running", "done", "failed", "cancelled"];

/** The priority of an order that carries none and is given none by its service. */
export const DEFAULT_PRIORITY = 5;

/** The largest `Limit` list_jobs answers. */
const MAX_LIST = 1000;

/** A job's status as `job_status` answers it: the kit's fields, then the service's. */
export function jobStatusOf(
  job: JobRecord,
  spec: DaemonSpec,
  runner: JobRunner | null,
): Record<string, XmlRpcValue> {
  const current = runner?.current?.jobId === job.id ? runner.current : null;
  const progress = job.status === "done"
    ? 1
    : current && current.total > 0
    ? current.done / current.total
    : job.progress;
  const base: Record<string, XmlRpcValue> = {
    Job: job.id,
    ID: job.workOrderId,
    Status: job.status,
    Progress: Math.round(progress * 1000) / 1000,
    Priority: job.priority,
    Errors: job.error ? [job.error] : [],
    Warnings: [],
    Attempts: job.attempts,
    Created: job.createdAt,
    Started: job.startedAt,
    Finished: job.finishedAt,
  };
  if (current) base.Step = current.step;
  // A deferred job says when it will be tried again (its reason is among the errors).
  if (job.status === "queued" && job.notBefore) base.RetryAt = job.notBefore;
  return spec.jobFields ? { ...base, ...spec.jobFields(job, base) } : base;
}

/**
 * The job methods of one daemon as plain functions: what `front_desk`,
 * `job_status`, `list_jobs` and `cancel_job` answer over XML-RPC, and what the
 * kit's JSON API answers too, with the same validation and faults. Each
 * answers a value, or a {@link FaultAnswer}, or throws an {@link XmlRpcFault}.
 */
export interface FrontDesk {
  /** Admits a work order and queues it: `{ID, Job, Status, Message}`. */
  submit(workOrder: XmlRpcValue): MethodResult | Promise<MethodResult>;
  /** A job's status with its story (`History`), by job number or work-order ID. */
  status(jobId: XmlRpcValue): Promise<Record<string, XmlRpcValue>>;
  /** Recent jobs, newest first; the filter is a status or `{Status, Limit}`. */
  list(filter?: XmlRpcValue): Promise<Record<string, XmlRpcValue>[]>;
  /** Cancels a queued job, or stops a running one at once; answers its status. */
  cancel(jobId: XmlRpcValue): Promise<Record<string, XmlRpcValue>>;
  /** A job of this service by number, or by work-order ID (a string of digits may be either). */
  find(jobId: XmlRpcValue): Promise<JobRecord>;
}

/** The job methods of `spec` over its catalog and runner (see {@link FrontDesk}). */
export function createFrontDesk(
  spec: DaemonSpec,
  context: DaemonContext,
  runner: JobRunner | null,
): FrontDesk {
  const { store, log } = context;
  const validation = { accepts: spec.workOrders, service: spec.name };

  const queue = async (order: WorkOrder, workOrder: XmlRpcValue): Promise<XmlRpcValue> => {
    const admitted: AdmittedOrder = spec.admit ? await spec.admit(order, workOrder, context) : {};
    const night = admitted.night ?? null;
    const { job: found, created } = await store.enqueueJob({
      service: spec.name,
      workOrderId: order.id,
      night,
      workOrder: admitted.workOrder ?? toJsonValue(workOrder),
      priority: order.priority ?? admitted.priority ?? DEFAULT_PRIORITY,
      detail: admitted.detail,
    });
    let job = found;
    let message = `Work order already received as job ${job.id} (work order ${job.workOrderId}).`;
    if (created) {
      log.info(`Work order ${order.id} received: job ${job.id}${night ? ` for ${night}` : ""}`);
      await store.addJobEvent(job.id, `received (priority ${job.priority})`, context.clock());
      message = "Work order received.";
      runner?.wake();
      spec.received?.(job, context);
    } else if (
      job.status === "failed" && job.error?.startsWith(INTERRUPTED) && job.workOrderId === order.id
    ) {
      // An order stopped by the weather is taken again when sent again: the same job resumes where it was.
      job = await store.updateJob(job.id, { status: "queued", error: null }) ?? job;
      await store.addJobEvent(job.id, "sent again after the interruption: queued again", context.clock());
      log.info(`Work order ${order.id} sent again: job ${job.id} (interrupted) queued again`);
      message = `Work order received again: job ${job.id} was interrupted and is queued again.`;
      runner?.wake();
    }
    return { ID: order.id, Job: job.id, Status: job.status, Message: message };
  };

  const find = async (jobId: XmlRpcValue): Promise<JobRecord> => {
    let job: JobRecord | null = null;
    if (typeof jobId === "number" && Number.isInteger(jobId)) {
      job = await store.getJob(jobId);
    } else if (typeof jobId === "string") {
      job = await store.getJobByWorkOrderId(jobId, spec.name);
      // Scripts pass job numbers from the command line as strings.
      if (!job && /^\d{1,15}$/.test(jobId.trim())) job = await store.getJob(Number(jobId.trim()));
    } else {
      throw new XmlRpcFault(
        FAULT_INVALID_PARAMS,
        "Invalid params: job_id must be a job number or a work-order ID",
      );
    }
    if (!job || job.service !== spec.name) {
      throw new XmlRpcFault(FAULT_NO_SUCH_JOB, `No job ${JSON.stringify(jobId)}`);
    }
    return job;
  };

  return {
    find,
    submit(workOrder) {
      const check = validateWorkOrder(workOrder, validation);
      // A refusal is answered synchronously, as a value: the common case on a busy desk costs no promise.
      if (!check.ok) {
        return new FaultAnswer(
          check.service !== undefined ? FAULT_WRONG_SERVICE : FAULT_INVALID_PARAMS,
          check.message,
        );
      }
      return queue(check.order, workOrder);
    },
    async status(jobId) {
      const job = await find(jobId);
      const status = jobStatusOf(job, spec, runner);
      // The job's story, oldest first: what happened to the order and when.
      status.History = (await store.listJobEvents(job.id)).map((event) => `${event.at} ${event.event}`);
      return status;
    },
    async list(filter = null) {
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
          limit = Math.min(record.Limit, MAX_LIST);
        }
      } else if (filter !== null) {
        throw new XmlRpcFault(
          FAULT_INVALID_PARAMS,
          "Invalid params: the filter is a status string or a struct",
        );
      }
      if (status !== undefined && !JOB_STATUSES.includes(status)) {
        throw new XmlRpcFault(
          FAULT_INVALID_PARAMS,
          `Invalid params: status must be one of ${JOB_STATUSES.join(", ")}`,
        );
      }
      const jobs = await store.listJobs({ service: spec.name, status, limit });
      return jobs.map((job) => jobStatusOf(job, spec, runner));
    },
    async cancel(jobId) {
      const job = await find(jobId);
      const cancelled = await store.cancelJob(job.id);
      if (job.status === "queued" || job.status === "running") {
        await store.addJobEvent(job.id, "cancelled", context.clock());
      }
      runner?.cancelled(job.id);
      log.info(`Job ${job.id} cancel requested (was ${job.status})`);
      return jobStatusOf(cancelled ?? job, spec, runner);
    },
  };
}

/** Registers the job methods of `spec` on `server`; returns them as plain functions for the JSON API. */
export function registerJobMethods(
  server: XmlRpcServer,
  spec: DaemonSpec,
  context: DaemonContext,
  runner: JobRunner | null,
): FrontDesk {
  const desk = createFrontDesk(spec, context, runner);
  server.register("front_desk", {
    signatures: [["struct", "struct"]],
    help: spec.frontDeskHelp,
    handler: (workOrder) => desk.submit(workOrder),
  });
  server.register("job_status", {
    signatures: [["struct", "int"], ["struct", "string"]],
    help:
      "Returns {Job, ID, Status, Progress, Errors, Warnings, ...} of a job, by job number or work-order ID.",
    handler: (jobId) => desk.status(jobId),
  });
  server.register("list_jobs", {
    signatures: [["array"], ["array", "struct"], ["array", "string"]],
    help:
      "Lists recent jobs, newest first. Optional filter: a status (queued, running, done, failed, cancelled) " +
      "or {Status, Limit}.",
    handler: (filter = null) => desk.list(filter),
  });
  server.register("cancel_job", {
    signatures: [["struct", "int"], ["struct", "string"]],
    help: "Cancels a queued job, or stops a running one at once. Returns the job's status.",
    handler: (jobId) => desk.cancel(jobId),
  });
  return desk;
}
