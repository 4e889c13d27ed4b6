/**
 * The daemon kit: what every TOROS daemon has in common. A service declares
 * itself as a {@link DaemonSpec} (name, address section, how its front desk
 * admits work orders, the handler that runs its jobs) and gets the XML-RPC
 * front desk (`front_desk`, `job_status`, `list_jobs`, `cancel_job`), the
 * window (a status page with live progress, job pages and a JSON API on
 * `GET /`; the XML-RPC documentation on `/rpc`; see web/), `/health`, the `Security:` rules, the durable job queue
 * in the catalog with leases and heartbeats, yielding to the desk, graceful
 * SIGTERM and `toros serve NAME`. A daemon without an address opens no port (a
 * reduction worker); {@link TaskRunner} claims and runs a job's tasks on any
 * number of hosts sharing one catalog.
 *
 * @example
 * ```ts
 * import { startDaemon, type DaemonSpec } from "./mod.ts";
 * import { defaultConfig } from "../config.ts";
 * declare const spec: DaemonSpec;
 * const daemon = await startDaemon(spec, defaultConfig());
 * await daemon.stop();
 * ```
 *
 * @module
 */
export { INTERRUPTED, JobDeferred } from "./spec.ts";
export type {
  AdmittedOrder,
  Background,
  DaemonContext,
  DaemonSpec,
  DaemonWeb,
  JobContext,
  JobHandler,
  JobProgress,
  WebRoute,
  WebView,
} from "./spec.ts";
export {
  createFrontDesk,
  FAULT_NO_SUCH_JOB,
  FAULT_WRONG_SERVICE,
  type FrontDesk,
  JOB_STATUSES,
  jobStatusOf,
  registerJobMethods,
} from "./front_desk.ts";
export { JobRunner, type JobRunnerOptions, type RunningJob } from "./job_runner.ts";
export {
  type RunningTask,
  type TaskContext,
  type TaskHandler,
  type TaskOutcome,
  TaskRunner,
  type TaskRunnerOptions,
  WORKER_SILENCE_SECONDS,
} from "./task_runner.ts";
export { workersCommand } from "./workers_command.ts";
export { type RunningDaemon, startDaemon, type StartDaemonOptions } from "./daemon.ts";
export { type DaemonRegistry, serveCommand } from "./serve_command.ts";
export * from "./web/html.ts";
