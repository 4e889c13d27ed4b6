/**
 * The weather watch: the dome service's background, running whether or not
 * jobs run. It follows the weather station's `WEATHER_STATUS` and, when it goes
 * to Alert (or cannot be read), at once and in parallel:
 *
 * 1. tells the telescope service `weather_alert(reason)` (it stops its
 *    Observation and parks the mount);
 * 2. interrupts the running Dome order, then frees the dome from the mount,
 *    closes the shutter and parks the dome;
 * 3. makes sure the mount ends parked: it follows the telescope's park, and
 *    parks the mount itself over INDI when the telescope service did not
 *    answer in `Dome: Telescope Timeout` seconds, said it could not park, or
 *    its park ended Alert or Idle.
 *
 * Safety depends on neither the telescope service nor the scheduler. While
 * the weather keeps it closed, the watch checks every 30 s that the shutter is
 * still closed and the dome and mount parked, and makes them so again. After
 * `Dome: Reopen After Minutes` of continuous Ok weather it restores what the
 * weather closed (unparks the dome, opens the shutter, slaves it again); it
 * never unparks the mount (the telescope's jobs do). On start, and after the
 * INDI connection comes back, weather that is not Ok closes the dome too.
 *
 * @module
 */
import type { TorosConfig } from "../../lib/config.ts";
import type { Logger } from "../../lib/log.ts";
import { callXmlRpc, type XmlRpcValue } from "../../lib/xmlrpc/mod.ts";
import {
  type DomeStation,
  pause,
  type ShutterState,
  type WeatherReading,
  type WeatherState,
} from "./station.ts";

/** What `dome_status()` answers (the scheduler asks it before it sends the telescope work). */
export interface DomeStatus {
  /** `WEATHER_STATUS`'s state, or `unknown`. */
  Weather: WeatherState;
  /** Whether the weather is Ok. */
  Safe: boolean;
  /** Whether the shutter is open (not opening, not closing). */
  Open: boolean;
  /** Where the shutter is. */
  Shutter: ShutterState;
  /** Whether the dome is parked. */
  Parked: boolean;
  /** When the dome the weather closed reopens (ISO 8601), if the weather stays Ok; null when no reopen is due. */
  ReopenAt: string | null;
  /** Why the dome is not open to the sky, in words; "" when nothing holds it. */
  Reason: string;
  /** An index signature so the status is an XML-RPC struct. */
  [key: string]: XmlRpcValue;
}

/** What the weather closed, to restore when it clears. */
interface Closed {
  /** The alert that closed it. */
  reason: string;
  unpark: boolean;
  open: boolean;
  slave: boolean;
}

/** What the watch needs from the daemon. */
export interface WeatherWatchOptions {
  /** The whole config (the telescope's address and the site token, `Dome:`). */
  config: TorosConfig;
  /** The daemon's INDI station, shared with its Dome orders. */
  station: DomeStation;
  /** Where every weather event goes. */
  log: Logger;
  /** The daemon's clock (a rehearsal's, or real time), for `ReopenAt`. */
  clock: () => Date;
  /** Stops the running Dome order, failing it as `interrupted: <why>`; resolves once it has stopped. */
  interrupt(why: string): Promise<number | null>;
}

/** How many times the dome or the mount is sent to safety before the watch gives up (and says so). */
const ATTEMPTS = 3;
/** The longest a reopen that failed waits before it is tried again. */
const REOPEN_RETRY_MS = 60_000;
/** How long a running Dome order has to stop before the dome is closed anyway. */
const INTERRUPT_MS = 5000;
/** How often, while the observatory is kept safe from the weather, it is checked to still be so. */
const SAFETY_CHECK_MS = 30_000;

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** `promise`'s value, or `fallback` when it takes longer than `ms`. */
async function within<T, F>(promise: Promise<T>, ms: number, fallback: F): Promise<T | F> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<F>((resolve) => (timer = setTimeout(() => resolve(fallback), ms)));
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** The telescope service's URL, with the site's token when one is set. */
function telescopeUrl(config: TorosConfig): string {
  const url = new URL(config.telescopeAddress.http);
  if (config.security.token) {
    url.username = "toros";
    url.password = config.security.token;
  }
  return url.href;
}

/** The weather watch of one dome daemon; see the module documentation. */
export class WeatherWatch {
  readonly #options: WeatherWatchOptions;
  readonly #log: Logger;
  readonly #station: DomeStation;
  readonly #stop = new AbortController();
  readonly #unsubscribe: (() => void)[] = [];
  /** False until the devices are prepared after a connection (weather is judged only then). */
  #ready = false;
  #generation = 0;
  #reading: WeatherReading = { state: "unknown", reason: "the weather has not been read yet" };
  /** Since when (ms, real time) the weather has been Ok without a break; null while it is not. */
  #safeSince: number | null = null;
  /** Whether the dome was sent to safety in this spell of bad weather. */
  #secured = false;
  #closed: Closed | null = null;
  #securing: Promise<void> | null = null;
  #reopenAt: number | null = null;
  #reopenTimer: ReturnType<typeof setTimeout> | undefined;
  #checkTimer: ReturnType<typeof setInterval> | undefined;
  #reopening: Promise<void> | null = null;
  #reopenController: AbortController | null = null;
  #tasks = new Set<Promise<unknown>>();

  /** Creates the watch; {@link start} begins it. */
  constructor(options: WeatherWatchOptions) {
    this.#options = options;
    this.#log = options.log;
    this.#station = options.station;
  }

  /** Connects to the INDI server (retrying for ever) and follows the weather. */
  start(): void {
    const client = this.#station.client;
    const { weather, dome, mount } = this.#station.config;
    const ours = new Set([weather, dome, mount]);
    this.#unsubscribe.push(
      client.on("connected", () => this.#track(this.#prepare())),
      client.on("disconnected", () => {
        this.#ready = false;
        this.#generation++;
        this.#log.warning("INDI connection lost: the weather cannot be watched until it is back");
        this.#judge();
      }),
      client.on("update", (vector) => {
        if (vector.device === weather && vector.name === "WEATHER_STATUS") this.#judge();
      }),
      client.on("define", (vector) => {
        if (vector.device === weather && vector.name === "WEATHER_STATUS") this.#judge();
        // A driver that was restarted defines its devices again, disconnected.
        if (
          this.#ready && ours.has(vector.device) && vector.name === "CONNECTION" &&
          vector.type === "switch" && vector.members.get("CONNECT")?.value !== true
        ) {
          this.#log.warning(`INDI device "${vector.device}" was restarted: connecting it again`);
          this.#track(
            client.connectDevice(vector.device, { signal: this.#stop.signal }).catch((error) =>
              this.#log.error(`Could not connect INDI device "${vector.device}": ${message(error)}`)
            ),
          );
        }
      }),
      client.on("delete", (event) => {
        if (event.device === weather && (!event.property || event.property === "WEATHER_STATUS")) {
          this.#judge();
        }
      }),
    );
    this.#station.acquire();
    // Not tracked: it ends only when the station's connection is closed, after the watch has stopped.
    this.#station.connect({ retry: true }).catch((error) => {
      if (!this.#stop.signal.aborted) this.#log.error(message(error));
    });
    this.#log.info(
      `Watching the weather of "${weather}" on ${this.#station.config.indiServer}; the dome reopens after ${this.#station.config.reopenAfterMinutes} min of safe weather`,
    );
  }

  /** Stops watching; what was under way is abandoned at once (its commands stop waiting). */
  async stop(): Promise<void> {
    this.#stop.abort(new Error("The dome service is stopping"));
    this.#reopenController?.abort(new Error("The dome service is stopping"));
    clearTimeout(this.#reopenTimer);
    clearInterval(this.#checkTimer);
    for (const unsubscribe of this.#unsubscribe) unsubscribe();
    await Promise.allSettled([...this.#tasks]);
    await this.#station.release();
  }

  /** The dome as `dome_status()` answers it. */
  status(): DomeStatus {
    const station = this.#station;
    const reading = station.weather();
    const shutter = station.shutter();
    const reopenAt = this.#closed && this.#reopenAt !== null
      ? new Date(this.#options.clock().getTime() + (this.#reopenAt - Date.now())).toISOString()
      : null;
    let reason = reading.reason;
    if (reading.state === "Ok" && this.#closed) {
      reason = `closed by the weather (${this.#closed.reason}); reopens ${
        reopenAt ? `at ${reopenAt}` : "when the weather is safe"
      }`;
    }
    return {
      Weather: reading.state,
      Safe: reading.state === "Ok",
      Open: shutter === "open",
      Shutter: shutter,
      Parked: station.parked(),
      ReopenAt: reopenAt,
      Reason: reason,
    };
  }

  /**
   * Why the dome may not be opened now, or null when it may: the weather is
   * not Ok, or the weather closed the dome and its reopen time has not come.
   */
  openRefusal(): string | null {
    const reading = this.#station.weather();
    if (reading.state !== "Ok") return `the weather is not safe (${reading.reason})`;
    if (this.#closed) return this.status().Reason;
    return null;
  }

  /** A Dome order closed or parked the dome: whoever sent it decides, the weather's reopen is called off. */
  orderClosed(what: string): void {
    if (!this.#closed) return;
    this.#log.info(`${what} by a Dome order: the dome will not reopen by itself`);
    this.#closed = null;
    this.#cancelReopen(`${what} by a Dome order`);
  }

  /** Calls off a reopen that is due, and stops one under way (`why`). */
  #cancelReopen(why: string): void {
    clearTimeout(this.#reopenTimer);
    this.#reopenTimer = undefined;
    this.#reopenAt = null;
    this.#reopenController?.abort(new Error(why));
  }

  #track<T>(task: Promise<T>): Promise<T> {
    this.#tasks.add(task);
    task.finally(() => this.#tasks.delete(task)).catch(() => {});
    return task;
  }

  /** After each connection: the devices connected, the weather station's first report, then judgement. */
  async #prepare(): Promise<void> {
    const generation = ++this.#generation;
    const station = this.#station;
    const { dome, mount } = station.config;
    const signal = this.#stop.signal;
    const prepared = await Promise.allSettled([
      station.awaitWeather(signal),
      station.prepare(dome, "Dome", "DOME_PARK", signal),
      station.prepare(mount, "Mount", "TELESCOPE_PARK", signal),
    ]);
    if (signal.aborted || generation !== this.#generation) return;
    for (const outcome of prepared) {
      if (outcome.status === "rejected") this.#log.error(message(outcome.reason));
    }
    this.#ready = true;
    this.#reading = { state: "unknown", reason: "" }; // so the weather found is logged
    // Bad weather, or none to be read, found on start (or after the connection came back) closes the dome.
    this.#secured = false;
    this.#judge(true);
  }

  /** Judges the weather now; `fresh` after a (re)connection, when anything but Ok closes the dome. */
  #judge(fresh = false): void {
    if (this.#stop.signal.aborted) return;
    const before = this.#reading;
    const reading = this.#station.weather();
    this.#reading = reading;
    if (this.#ready && (reading.state !== before.state || reading.reason !== before.reason)) {
      if (reading.state === "Ok") this.#log.info("Weather Ok");
      else this.#log.warning(`${reading.reason.charAt(0).toUpperCase()}${reading.reason.slice(1)}`);
    }
    if (reading.state === "Ok") {
      this.#secured = false;
      clearInterval(this.#checkTimer);
      this.#checkTimer = undefined;
      this.#safeSince ??= Date.now();
      if (this.#closed && this.#reopenTimer === undefined && !this.#reopening && !this.#securing) {
        this.#scheduleReopen(this.#safeSince + this.#reopenAfterMs());
      }
      return;
    }
    this.#safeSince = null;
    this.#cancelReopen(`the weather turned (${reading.reason})`);
    if (!this.#ready || !this.#station.connected || this.#secured) return;
    if (fresh || reading.state === "Alert" || reading.state === "unknown") {
      this.#secured = true;
      this.#track(this.#secure(reading.reason));
      this.#checkTimer ??= setInterval(() => this.#check(), SAFETY_CHECK_MS);
    }
  }

  /** While the weather keeps the observatory closed: anything found open or unparked is made safe again. */
  #check(): void {
    const station = this.#station;
    if (!this.#secured || this.#securing || !this.#ready || !station.connected) return;
    const shutter = station.shutter();
    if (shutter === "closed" && station.parked() && station.mountParked()) return;
    const reason = station.weather().reason || this.#reading.reason;
    this.#log.warning(
      `Not safe during the weather alert (shutter ${shutter}, dome ${
        station.parked() ? "parked" : "not parked"
      }, mount ${station.mountParked() ? "parked" : "not parked"}): making it safe again`,
    );
    this.#track(this.#secure(reason));
  }

  #reopenAfterMs(): number {
    return this.#station.config.reopenAfterMinutes * 60_000;
  }

  /** Stops the telescope, closes the dome and parks the mount, all at once; see the module documentation. */
  #secure(reason: string): Promise<void> {
    if (this.#securing) {
      this.#log.info(`${reason}: the observatory is already being made safe`);
      return this.#securing;
    }
    this.#log.warning(
      `Making the observatory safe (${reason}): stopping the telescope, closing the dome, parking the mount`,
    );
    // What is open now is what the weather closes, and what a reopen restores; a second alert before the
    // reopen keeps what the first one closed.
    const station = this.#station;
    const shutter = station.shutter();
    if (shutter !== "closed" || !station.parked()) {
      this.#closed ??= {
        reason,
        unpark: !station.parked(),
        open: shutter !== "closed",
        slave: station.slaved(),
      };
    }
    const telescope = this.#tellTelescope(reason);
    const dome = this.#secureDome(reason);
    const mount = telescope.then((parking) => this.#secureMount(parking));
    this.#securing = Promise.all([dome, mount]).then(() => {}).finally(() => {
      this.#securing = null;
      // The weather may have cleared meanwhile: the reopen is scheduled from when it did.
      this.#judge();
    });
    return this.#securing;
  }

  /** `weather_alert(reason)` to the telescope service; resolves with whether it is parking the mount. */
  async #tellTelescope(reason: string): Promise<boolean> {
    const { config } = this.#options;
    const seconds = this.#station.config.telescopeTimeout;
    try {
      const answer = await callXmlRpc(telescopeUrl(config), "weather_alert", [reason], {
        timeoutMs: seconds * 1000,
      }) as Record<string, XmlRpcValue>;
      const parking = answer.Parking === true;
      this.#log.info(
        `Telescope service: ${
          answer.Interrupted === null || answer.Interrupted === undefined
            ? "no Observation was running"
            : `job ${answer.Interrupted} interrupted`
        }, ${parking ? "parking the mount" : "the mount not parked there"}`,
      );
      return parking;
    } catch (error) {
      this.#log.warning(
        `The telescope service at ${config.telescopeAddress.http} did not take weather_alert (${
          message(error)
        }; Dome: Telescope Timeout is ${seconds} s): the dome parks the mount itself`,
      );
      return false;
    }
  }

  async #secureDome(reason: string): Promise<void> {
    const station = this.#station;
    const signal = this.#stop.signal;
    // The order stops first: its own clean-up aborts the dome's motion, which would stop the closing.
    const interrupted = await within(this.#options.interrupt(reason), INTERRUPT_MS, -1).catch((error) => {
      this.#log.error(`Could not interrupt the running Dome order: ${message(error)}`);
      return null;
    });
    if (interrupted !== null) {
      this.#log.warning(
        interrupted === -1
          ? `The running Dome order did not stop within ${INTERRUPT_MS / 1000} s: closing the dome anyway`
          : `Dome order job ${interrupted} interrupted`,
      );
    }
    for (let attempt = 1; attempt <= ATTEMPTS && !signal.aborted; attempt++) {
      try {
        await station.secure({ signal });
        this.#log.info(`Dome safe: shutter closed, dome parked (${reason})`);
        return;
      } catch (error) {
        if (signal.aborted) return;
        this.#log.error(
          `Could not close and park the dome (attempt ${attempt} of ${ATTEMPTS}): ${message(error)}`,
        );
        await pause(1000, signal).catch(() => {});
      }
    }
    if (!signal.aborted) {
      this.#log.error(
        `THE DOME IS NOT SAFE: ${station.config.dome} could not be closed and parked (shutter ${station.shutter()}, ${
          station.parked() ? "parked" : "not parked"
        })`,
      );
    }
  }

  async #secureMount(telescopeParks: boolean): Promise<void> {
    const station = this.#station;
    const signal = this.#stop.signal;
    const mount = station.config.mount;
    if (telescopeParks) {
      const problem = await station.watchMountPark({ signal }).catch((error) => message(error));
      if (signal.aborted) return;
      if (problem === "") {
        this.#log.info(`Mount ${mount} parked (by the telescope service)`);
        return;
      }
      this.#log.warning(`The telescope service's park did not park the mount (${problem}): parking it again`);
    }
    for (let attempt = 1; attempt <= ATTEMPTS && !signal.aborted; attempt++) {
      try {
        await station.parkMount({ signal });
        this.#log.info(`Mount ${mount} parked`);
        return;
      } catch (error) {
        if (signal.aborted) return;
        this.#log.error(`Could not park the mount (attempt ${attempt} of ${ATTEMPTS}): ${message(error)}`);
        await pause(1000, signal).catch(() => {});
      }
    }
    if (!signal.aborted) this.#log.error(`THE MOUNT IS NOT PARKED: ${mount} could not be parked`);
  }

  #scheduleReopen(at: number): void {
    clearTimeout(this.#reopenTimer);
    this.#reopenAt = at;
    this.#log.info(`The dome reopens at ${new Date(at).toISOString()} if the weather stays safe`);
    this.#reopenTimer = setTimeout(() => {
      this.#reopenTimer = undefined;
      this.#track(this.#reopen());
    }, Math.max(0, at - Date.now()));
  }

  /** Restores what the weather closed: the dome unparked, the shutter open, slaved again. */
  async #reopen(): Promise<void> {
    if (this.#reopening || !this.#closed || this.#stop.signal.aborted) return;
    const controller = new AbortController();
    this.#reopenController = controller;
    const run = async () => {
      await this.#securing;
      const closed = this.#closed;
      if (!closed || this.#station.weather().state !== "Ok" || controller.signal.aborted) return;
      const minutes = this.#station.config.reopenAfterMinutes;
      this.#log.info(`Weather safe for ${minutes} min: reopening the dome`);
      const signal = controller.signal;
      try {
        if (closed.unpark) await this.#station.unpark({ signal });
        if (closed.open) await this.#station.openShutter({ signal });
        if (closed.slave) await this.#station.slave(true, { signal });
        if (this.#closed === closed) {
          this.#closed = null;
          this.#reopenAt = null;
        }
        this.#log.info(
          `Dome reopened: shutter ${this.#station.shutter()}, ${
            this.#station.parked() ? "parked" : "unparked"
          }${closed.slave ? ", slaved to the mount" : ""}`,
        );
      } catch (error) {
        if (signal.aborted) {
          this.#log.warning(`Reopening stopped: ${message(signal.reason)}`);
          return;
        }
        this.#log.error(`Could not reopen the dome: ${message(error)}`);
        if (this.#station.weather().state === "Ok" && this.#closed) {
          this.#scheduleReopen(Date.now() + Math.min(this.#reopenAfterMs(), REOPEN_RETRY_MS));
        }
      }
    };
    this.#reopening = run().finally(() => {
      this.#reopening = null;
      if (this.#reopenController === controller) this.#reopenController = null;
    });
    await this.#reopening;
  }
}
