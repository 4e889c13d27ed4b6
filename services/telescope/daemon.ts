/**
 * The telescope service, declared to the daemon kit: it takes Observation work
 * orders for the telescope it drives and carries each out on the INDI devices
 * of `Telescope:` (see observation.ts), one at a time by priority. `/health`
 * shows each device's connection and state; `job_status` the step.
 *
 * @module
 */
import type { DaemonContext, DaemonSpec, JobContext, JobHandler } from "../../lib/daemon/mod.ts";
import type { JobRecord } from "../../lib/store/mod.ts";
import { getLogger } from "../../lib/log.ts";
import { type JsonValue, type ObservationOrder, parseWorkOrder } from "../../lib/work_order.ts";
import { FAULT_INVALID_PARAMS, XmlRpcFault } from "../../lib/xmlrpc/mod.ts";
import type { TorosConfig } from "../../lib/config.ts";
import { Instruments } from "./instruments.ts";
import { type ObservationResult, runObservation } from "./observation.ts";
import { instrumentsSection, type InstrumentsView, observationSections } from "./web.ts";

/** Fault code for an Observation order meant for another telescope. */
export const FAULT_OTHER_TELESCOPE = 4;

const FRONT_DESK_HELP = `Front Desk will receive your Work Order and perform the requested operations.

An Observation order is queued by Priority and answered at once with {ID, Job, Status, Message}:
  {"ID": "17", "WOType": "Observation", "Telescope Name": "CTMO", "RA": 23.1, "Dec": 13.2, "Filter": "V",
   "Exposure Time": 30.0, "Number of Exposures": 10, "Calibration Frames": "Yes", "Output": "Analysis",
   "Priority": 5, "User": "Main Module", "Type of job": "Research", "Type of object": "Galaxy"}
RA (hours) and Dec (degrees) are J2000, as numbers or "hh:mm:ss"/"dd:mm:ss". Calibration Frames: Yes adds the
bias, dark and flat series the night needs. Output: Analysis (default) hands the night to the preprocessor; Raw
stops at the frames. Orders for another Telescope Name, or a filter not on the wheel, are refused with a fault.
job_status shows the step (connecting, unparking, slewing, filter V, exposing 3/10, calibration frames,
handing over) and, when done, the night, the frames and the preprocessor's job.`;

/** Carries out Observation jobs on one set of instruments, connected at the first job and kept. */
class ObservationHandler implements JobHandler {
  readonly #config: TorosConfig;
  #instruments: Instruments | null = null;

  constructor(config: TorosConfig) {
    this.#config = config;
  }

  get instruments(): Instruments | null {
    return this.#instruments;
  }

  async run(job: JobRecord, context: JobContext): Promise<JsonValue> {
    const order = parseWorkOrder(job.workOrder, { accepts: ["observation"], service: "telescope" });
    this.#instruments ??= new Instruments(this.#config.telescope, getLogger("telescope.indi"));
    const result = await runObservation(
      order as ObservationOrder,
      job.priority,
      { config: this.#config, instruments: this.#instruments },
      context,
    );
    return result as unknown as JsonValue;
  }

  async close(): Promise<void> {
    await this.#instruments?.close();
  }
}

/** The handler of each running telescope daemon, for `/health` (one per context). */
const handlers = new WeakMap<object, ObservationHandler>();

/** The instruments as the daemon last saw them (for `/health` and the status page). */
function instrumentsOf(context: DaemonContext): InstrumentsView {
  return handlers.get(context)?.instruments?.status() ?? {
    server: context.config.telescope.indiServer,
    connection: "not connected yet (no job has run)",
    devices: [],
  };
}

/** The telescope daemon. */
export const telescopeDaemon: DaemonSpec = {
  name: "telescope",
  title: "TOROS Telescope Service",
  description: "Receives Observation work orders and carries them out on the telescope's INDI devices: " +
    "slew, filter, exposures, calibration frames, and the night handed to the preprocessor.",
  address: (config) => config.telescopeAddress,
  workOrders: ["observation"],
  frontDeskHelp: FRONT_DESK_HELP,
  stepsInHistory: true,
  admit: (order, _workOrder, { config }) => {
    const observation = order as ObservationOrder;
    const telescope = config.telescope;
    if (observation.telescope.toLowerCase() !== telescope.name.toLowerCase()) {
      throw new XmlRpcFault(
        FAULT_OTHER_TELESCOPE,
        `Work order key "Telescope Name": "${observation.telescope}" is another telescope; this service drives ${telescope.name}`,
      );
    }
    if (!telescope.filters.some((name) => name.toLowerCase() === observation.filter.toLowerCase())) {
      throw new XmlRpcFault(
        FAULT_INVALID_PARAMS,
        `Work order key "Filter": "${observation.filter}" is not on the filter wheel (${
          telescope.filters.join(", ")
        })`,
      );
    }
    return Promise.resolve({});
  },
  createHandler: (context) => {
    const handler = new ObservationHandler(context.config);
    handlers.set(context, handler);
    return handler;
  },
  jobFields: (job) => {
    const result = job.result as ObservationResult | null;
    return {
      Night: result?.Night ?? null,
      Frames: result?.Frames ?? [],
      Filter: result?.Filter ?? null,
      PreprocessorJob: result?.PreprocessorJob ?? null,
    };
  },
  methods: (context) => ({
    weather_alert: {
      signatures: [["struct", "string"]],
      help:
        "The dome service's call when the weather turns: stops the running Observation at once (the job " +
        "fails as 'interrupted: REASON', so whoever sent it can send it again) and parks the mount. Returns " +
        "{Interrupted: job number or nil, Parking: true when a park was sent}.",
      handler: async (reason) => {
        const why = typeof reason === "string" && reason.trim() ? reason.trim() : "weather alert";
        // The job stops first (its own clean-up aborts the mount's motion, which would abort a park sent before).
        const interrupted = await context.interrupt(why);
        const instruments = handlers.get(context)?.instruments;
        let parking = false;
        if (instruments) {
          if (interrupted === null) await instruments.abortMotion();
          parking = await instruments.park({ wait: false }).then(() => true, (error) => {
            context.log.error(
              `Could not park the mount for the weather: ${error instanceof Error ? error.message : error}`,
            );
            return false;
          });
        }
        context.log.warning(
          `Weather alert (${why}): job ${interrupted ?? "none"} interrupted, mount ${
            parking ? "parked" : "not parked here"
          }`,
        );
        return { Interrupted: interrupted, Parking: parking };
      },
    },
  }),
  healthDetails: (context) => ({ instruments: instrumentsOf(context) }),
  // The devices and the current step on the status page; an Observation's frames on its job's page.
  web: {
    sections: (context, view) => Promise.resolve(instrumentsSection(instrumentsOf(context), view.running())),
    jobSections: (job, context) => Promise.resolve(observationSections(job, context.config)),
  },
};
