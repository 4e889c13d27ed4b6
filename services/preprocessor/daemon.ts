/**
 * The preprocessor, declared to the daemon kit: it takes calibration work
 * orders (`{"ID": ..., "Request": "Exposure Calibration", "File Location": NIGHT}`),
 * checks the night lies inside the data roots and can be read, and reduces it
 * on its reduction thread. Everything else (front desk, job methods, page,
 * `/health`, queue, SIGTERM) is the kit's.
 *
 * @module
 */
import type { DaemonSpec } from "../../lib/daemon/mod.ts";
import { LocationError, resolveInsideRoots } from "../../lib/data_roots.ts";
import { XmlRpcFault, type XmlRpcValue } from "../../lib/xmlrpc/mod.ts";
import type { CalibrationOrder } from "../../lib/work_order.ts";
import { type JobResult, ReductionHandler, type TaskLine } from "./reduction_handler.ts";
import { startReductionWorker } from "./task_handler.ts";
import { liveWorkers } from "./worker_daemon.ts";
import { preprocessorWeb } from "./web.ts";

/** Fault code for a File Location outside the data roots or not readable. */
export const FAULT_LOCATION = 2;

/** Resolves a night directory (symlinks followed), checks it lies inside a data root and can be read. */
export async function resolveNight(location: string, roots: string[]): Promise<string> {
  try {
    return await resolveInsideRoots(location, roots);
  } catch (error) {
    if (error instanceof LocationError) throw new XmlRpcFault(FAULT_LOCATION, error.message);
    throw error;
  }
}

const FRONT_DESK_HELP = `Front Desk will receive your Work Order and perform the requested operations.

A calibration order is queued and answered at once with {ID, Job, Status, Message}:
  {"ID": "2026-11-24-calib", "Request": "Exposure Calibration", "File Location": "/data/toros/2026-11-24"}
  {"ID": "...", "WOType": "Calibration", "File Location": "file:///data/toros/2026-11-24", "Priority": 7.5}
Optional keys: Priority (0-10, higher first; default 5), Datetime (ISO 8601), User.
Sending the same ID again, or the same night while it is queued or running, returns the existing job.
Observation and Dome orders belong to the telescope and dome services and are refused with a fault.`;

/** The preprocessor daemon. */
export const preprocessorDaemon: DaemonSpec = {
  name: "preprocessor",
  title: "TOROS Preprocessor Service",
  description: "Receives work orders and turns a night's raw CCD exposures into calibrated images. " +
    'Send {"ID": ..., "Request": "Exposure Calibration", "File Location": "/path/to/night"} to front_desk.',
  address: (config) => config.preprocessorAddress,
  workOrders: ["calibration"],
  frontDeskHelp: FRONT_DESK_HELP,
  admit: async (order, _workOrder, { config }) => ({
    night: await resolveNight((order as CalibrationOrder).location, config.data.roots),
  }),
  createHandler: ({ config, gate, store }) =>
    new ReductionHandler({
      database: config.database,
      reduction: config.reduction,
      roots: config.data.roots,
      gate,
      // PostgreSQL: several hosts share the catalog, and each night is shared out as tasks.
      shared: store.backend === "postgres" ? store : undefined,
    }),
  // The reduction worker beside the front desk (PostgreSQL, unless Reduction: Local Worker is false).
  background: (context) =>
    context.store.backend === "postgres" && context.config.reduction.localWorker
      ? startReductionWorker(context)
      : { stop: () => Promise.resolve() },
  jobFields: (job, base) => {
    const result = (job.result ?? null) as JobResult | null;
    const detail = (job.detail ?? null) as { Tasks?: TaskLine[] } | null;
    const tasks = result?.Tasks ?? detail?.Tasks;
    const errors = [...base.Errors as string[]];
    for (const failed of result?.Failed ?? []) errors.push(`${failed.File}: ${failed.Reason}`);
    for (const skipped of result?.Skipped ?? []) errors.push(`${skipped.File} skipped: ${skipped.Reason}`);
    return {
      Night: job.night,
      Products: result?.Products ?? [],
      Errors: errors,
      Warnings: [
        ...result?.Warnings ?? [],
        ...(result?.Previews?.Failed ?? []).map((failed) => `no preview of ${failed.File}: ${failed.Reason}`),
      ],
      // Quality control's verdicts: every master's, and every frame's that failed a check.
      QC: (result?.QC ?? []) as unknown as XmlRpcValue,
      // A night shared by several hosts: each task with the host that runs or ran it.
      ...(tasks ? { Tasks: tasks as unknown as XmlRpcValue } : {}),
    } satisfies Record<string, XmlRpcValue>;
  },
  // How much the reduction has given way to requests (Reduction: Share While Serving), and the live
  // reduction workers of a shared catalog with their last heartbeat.
  healthDetails: async ({ gate, store }) => ({
    reductionYield: { sharePercent: gate.share, ...gate.totals },
    ...(store.backend === "postgres" ? { workers: await liveWorkers(store) } : {}),
  }),
  yieldShare: (config) => config.reduction.shareWhileServing,
  // Recent nights with thumbnails, night, product and exposure pages, previews, /api/nights and /api/products.
  web: preprocessorWeb,
};
