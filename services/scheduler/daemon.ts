/**
 * The scheduler, declared to the daemon kit: one front desk for every work
 * order. It assigns `Priority` to orders that come without one (the policy in
 * `Scheduler: Priority Policy`), sends calibration orders to the preprocessor
 * and Dome orders to the dome service at once, and Observation orders to the
 * telescope when the sky, the dome and the telescope allow (see
 * dispatcher.ts). `job_status` follows each order through the service running
 * it; its History is the order's story.
 *
 * @module
 */
import type { DaemonContext, DaemonSpec } from "../../lib/daemon/mod.ts";
import type { XmlRpcValue } from "../../lib/xmlrpc/mod.ts";
import type { JsonValue } from "../../lib/work_order.ts";
import { Dispatcher, type SchedulerDetail } from "./dispatcher.ts";
import { assignPriority } from "./policy.ts";
import { schedulerWeb } from "./web.ts";

const FRONT_DESK_HELP = `Front Desk will receive your Work Order and perform the requested operations.

Every work order is taken here and answered at once with {ID, Job, Status, Message}:
  Observation: {"ID": "17", "WOType": "Observation", "Telescope Name": "CTMO", "RA": 23.1, "Dec": 13.2,
                "Filter": "V", "Exposure Time": 30.0, "Number of Exposures": 10, "Type of job": "Research", ...}
  Calibration: {"ID": "18", "Request": "Exposure Calibration", "File Location": "/data/toros/2026-11-24"}
  Dome:        {"ID": "19", "WOType": "Dome", "Close Shutter": true}
An order without Priority gets one from the scheduler's policy (its Type of job, its User, and, while it
waits, the time it has waited). Calibration and Dome orders go to the preprocessor and the dome service at
once; an Observation goes to the telescope when its target is above the altitude limit and under the airmass
limit, the Sun below the twilight angle, the Moon far enough, the dome open and the telescope free. An
Observation that cannot be observed tonight says so: State "unobservable tonight" and the reason.
job_status shows where the order is (State, Reason, Service, ServiceJob, ServiceStatus, ServiceStep) and its
story (History).`;

/** The dispatcher of each running scheduler (one per daemon context). */
const dispatchers = new WeakMap<DaemonContext, Dispatcher>();

/** The scheduler daemon. */
export const schedulerDaemon: DaemonSpec = {
  name: "scheduler",
  title: "TOROS Scheduler",
  description:
    "Receives every work order, assigns its priority and sends it to the service that carries it " +
    "out: calibrations to the preprocessor and dome orders to the dome at once, observations to the telescope " +
    "when the sky, the dome and the telescope allow.",
  address: (config) => config.schedulerAddress,
  workOrders: ["observation", "calibration", "dome"],
  frontDeskHelp: FRONT_DESK_HELP,
  admit: (order, _workOrder, { config }) => {
    const { priority, reason } = assignPriority(order, config.scheduler.priorityPolicy);
    const detail: SchedulerDetail = {
      kind: order.kind,
      state: "received",
      reason: null,
      priorityReason: reason,
      routed: null,
      service: null,
      preprocessorJob: null,
      merged: {},
    };
    return Promise.resolve({ priority, detail: detail as unknown as JsonValue });
  },
  received: (job, context) => {
    const detail = job.detail as SchedulerDetail | null;
    if (detail?.priorityReason) {
      context.store.addJobEvent(
        job.id,
        `prioritised: ${job.priority} (${detail.priorityReason})`,
        context.clock(),
      )
        .catch(() => {});
    }
    dispatchers.get(context)?.wake();
  },
  jobFields: (job) => {
    const detail = (job.detail ?? {}) as Partial<SchedulerDetail>;
    const fields: Record<string, XmlRpcValue> = {
      Kind: detail.kind ?? null,
      State: detail.state ?? null,
      Reason: detail.reason ?? null,
      PriorityReason: detail.priorityReason ?? null,
      Service: detail.routed?.service ?? null,
      ServiceJob: detail.routed?.job ?? null,
      ServiceStatus: detail.service?.status ?? null,
      ServiceStep: detail.service?.step ?? null,
      PreprocessorJob: detail.preprocessorJob ?? null,
    };
    return fields;
  },
  background: (context) => {
    const dispatcher = new Dispatcher(context);
    dispatchers.set(context, dispatcher);
    return dispatcher;
  },
  // Tonight's plan on the status page: what runs where, what waits and why, when each target can be observed.
  web: schedulerWeb,
};
