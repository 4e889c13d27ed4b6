/**
 * The dome service, declared to the daemon kit: it takes Dome work orders
 * and carries out their actions on the INDI dome of `Dome:` (dome_order.ts),
 * and, in the background, keeps the telescope safe from the weather
 * (weather_watch.ts). `dome_status()` tells the scheduler whether the sky may
 * be observed; `/health` shows the same with the INDI connection.
 *
 * @module
 */
import type { DaemonContext, DaemonSpec, JobContext, JobHandler } from "../../lib/daemon/mod.ts";
import type { JobRecord } from "../../lib/store/mod.ts";
import { getLogger } from "../../lib/log.ts";
import { type DomeOrder, type JsonValue, parseWorkOrder } from "../../lib/work_order.ts";
import type { XmlRpcValue } from "../../lib/xmlrpc/mod.ts";
import { type DomeOrderResult, runDomeOrder } from "./dome_order.ts";
import { DomeStation } from "./station.ts";
import { WeatherWatch } from "./weather_watch.ts";

const FRONT_DESK_HELP = `Front Desk will receive your Work Order and perform the requested operations.

A Dome order is queued by Priority and answered at once with {ID, Job, Status, Message}:
  {"ID": "1", "WOType": "Dome", "Priority": 2, "Datetime": "2019-03-05T14:34:54", "User": "John Doe",
   "Blink01": true}
Actions, each a key set to true, carried out in this order: BlinkNN (flash the warning light NN times), then
Open Shutter, Close Shutter, Park, Unpark, Slave (follow the mount), Unslave, Abort, as listed. Open Shutter
and Unpark (which opens the shutter) are refused while the weather is not safe, or while a dome the weather
closed waits to reopen. job_status shows each step; cancel_job stops the dome's motion at once.`;

/** What one dome daemon holds: its INDI station and its weather watch. */
interface DomeService {
  station: DomeStation;
  watch: WeatherWatch;
}

/** Each running dome daemon's parts, by its context. */
const services = new WeakMap<DaemonContext, DomeService>();

function serviceOf(context: DaemonContext): DomeService {
  let service = services.get(context);
  if (!service) {
    const station = new DomeStation(context.config.dome, getLogger("dome.indi"));
    const watch = new WeatherWatch({
      config: context.config,
      station,
      log: getLogger("dome.weather"),
      clock: context.clock,
      interrupt: (why) => context.interrupt(why),
    });
    service = { station, watch };
    services.set(context, service);
  }
  return service;
}

/** Carries out Dome jobs on the daemon's station. */
class DomeOrderHandler implements JobHandler {
  readonly #service: DomeService;

  constructor(service: DomeService) {
    this.#service = service;
    service.station.acquire();
  }

  async run(job: JobRecord, context: JobContext): Promise<JsonValue> {
    const order = parseWorkOrder(job.workOrder, { accepts: ["dome"], service: "dome" }) as DomeOrder;
    const result = await runDomeOrder(order, this.#service, context);
    return result as unknown as JsonValue;
  }

  async close(): Promise<void> {
    await this.#service.station.release();
  }
}

/** The dome daemon. */
export const domeDaemon: DaemonSpec = {
  name: "dome",
  title: "TOROS Dome Service",
  description:
    "Receives Dome work orders (shutter, park, slaving, warning light) and carries them out on the " +
    "INDI dome; watches the weather station and, when the weather turns, stops the telescope, closes the dome " +
    "and parks the mount, reopening after a spell of safe weather.",
  address: (config) => config.domeAddress,
  workOrders: ["dome"],
  frontDeskHelp: FRONT_DESK_HELP,
  stepsInHistory: true,
  createHandler: (context) => new DomeOrderHandler(serviceOf(context)),
  jobFields: (job) => {
    const result = job.result as DomeOrderResult | null;
    return {
      Done: result?.Done ?? [],
      Shutter: result?.Shutter ?? null,
      Parked: result?.Parked ?? null,
    };
  },
  methods: (context) => ({
    dome_status: {
      signatures: [["struct"]],
      help: "The dome and the weather now, for the scheduler: {Weather: Ok|Alert|Busy|Idle|unknown, Safe " +
        "(the weather is Ok), Open (the shutter is open), Shutter: open|closed|moving|unknown, Parked, ReopenAt " +
        "(when a dome the weather closed reopens, ISO 8601, or nil), Reason (why the dome is not open to the sky)}.",
      handler: () => serviceOf(context).watch.status() as Record<string, XmlRpcValue>,
    },
  }),
  background: (context) => {
    const { watch } = serviceOf(context);
    watch.start();
    return { stop: () => watch.stop() };
  },
  healthDetails: (context) => {
    const { station, watch } = serviceOf(context);
    return { dome: watch.status(), indi: station.status() };
  },
};
