/**
 * The dome's side of INDI: one connection for the daemon's life to the server
 * of `Dome:`, with the dome, the weather station, the mount the dome parks
 * when the weather turns, and the warning light's device. Readings come from
 * the client's cache; each command waits for the driver's verdict and then
 * checks that the device really is where it was sent (a shutter told to open
 * and closed again before it got there answers Ok too).
 *
 * @module
 */
import type { DomeConfig } from "../../lib/config.ts";
import {
  IndiAlertError,
  IndiClient,
  IndiConnectionError,
  IndiRejectedError,
  type IndiVector,
  type PropertyState,
} from "../../lib/indi/mod.ts";
import type { Logger } from "../../lib/log.ts";

/** Where the shutter is, as `dome_status` reports it. */
export type ShutterState = "open" | "closed" | "moving" | "unknown";

/** The weather station's `WEATHER_STATUS` state, or `unknown` when it cannot be read. */
export type WeatherState = PropertyState | "unknown";

/** What the weather station says, in words. */
export interface WeatherReading {
  /** `WEATHER_STATUS`'s state: Ok is safe, Busy a warning, Alert danger; `unknown` when it cannot be read. */
  state: WeatherState;
  /** Why it is not Ok, naming the lights (`weather alert: WEATHER_RAIN_HOUR (Precip (mm)) on Weather Simulator`); "" when Ok. */
  reason: string;
}

/** An INDI device as `/health` shows it. */
export interface StationDevice {
  /** What the device is to the dome service. */
  role: "dome" | "weather" | "mount" | "warning light";
  /** INDI device name. */
  device: string;
  /** Whether the driver reports the device connected. */
  connected: boolean;
}

/** The INDI connection as `/health` shows it. */
export interface StationStatus {
  /** `host:port` of the INDI server. */
  server: string;
  /** `connected`, `reconnecting`, … */
  connection: string;
  /** Why the last connection attempt failed, if one did. */
  lastError: string | null;
  /** Each device and its connection. */
  devices: StationDevice[];
}

/** The INDI server is not there (not running, refused, unreachable). */
export class StationUnavailable extends Error {
  /** Creates the error. */
  constructor(message: string) {
    super(message);
    this.name = "StationUnavailable";
  }
}

/** Options of the station's commands. */
export interface MotionOptions {
  /** Stops waiting for the verdict (the motion itself goes on unless aborted). */
  signal?: AbortSignal;
}

/** How long to wait for a device's properties after connecting to the server. */
const DEVICE_TIMEOUT_MS = 15_000;
/** How long a weather station may take to report once connected. */
const WEATHER_REPORT_MS = 10_000;
/** Commands the driver answers at once (slaving, abort, a light). */
const QUICK_TIMEOUT_MS = 10_000;
/** How long a blink keeps the warning light on, and then off. */
const BLINK_HALF_PERIOD_MS = 500;

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** `host:port` (or `[v6]:port`) as host and port. */
function splitHostPort(text: string): [string, number] {
  const colon = text.lastIndexOf(":");
  const host = text.slice(0, colon).replace(/^\[(.*)\]$/, "$1");
  return [host === "localhost" ? "127.0.0.1" : host, Number(text.slice(colon + 1))];
}

/** Whether an error means the INDI server (not the order) is the trouble: worth waiting and trying again. */
export function isServerTrouble(error: unknown): boolean {
  return error instanceof StationUnavailable || error instanceof IndiConnectionError;
}

/** A pause that ends early (rejecting) when `signal` is aborted. */
export function pause(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", stop, { once: true });
    function done() {
      signal?.removeEventListener("abort", stop);
      resolve();
    }
    function stop() {
      clearTimeout(timer);
      reject(signal!.reason);
    }
  });
}

/** The dome, the weather station and the mount of `Dome:`, over one INDI connection. */
export class DomeStation {
  /** The `Dome:` section this station drives. */
  readonly config: DomeConfig;
  readonly #client: IndiClient;
  readonly #log: Logger;
  readonly #motionMs: number;
  #users = 0;

  /** Creates the station; nothing connects until {@link connect}. */
  constructor(config: DomeConfig, log: Logger) {
    this.config = config;
    this.#log = log;
    this.#motionMs = config.motionTimeout * 1000;
    const [host, port] = splitHostPort(config.indiServer);
    const devices = new Set([config.dome, config.weather, config.mount]);
    if (config.warningLight) devices.add(config.warningLight.device);
    this.#client = new IndiClient({
      host,
      port,
      timeoutMs: DEVICE_TIMEOUT_MS,
      // A dome that must close cannot wait half a minute for the server to come back.
      reconnect: { maxDelayMs: 5000 },
      watch: [...devices].map((device) => ({ device })),
      logger: log,
    });
  }

  /** The INDI client (for the weather watch's events and the tests). */
  get client(): IndiClient {
    return this.#client;
  }

  /** Whether the INDI server is connected now. */
  get connected(): boolean {
    return this.#client.connection.state === "connected";
  }

  /** Counts a user (the job handler, the weather watch); the last {@link release} closes the connection. */
  acquire(): void {
    this.#users++;
  }

  /** Releases a user; closes the INDI connection when none is left. */
  async release(): Promise<void> {
    if (--this.#users <= 0) await this.#client.close();
  }

  /**
   * Connects to the INDI server. With `retry`, keeps trying for ever in the
   * background (the weather watch); else waits at most a few seconds and
   * throws {@link StationUnavailable}.
   */
  async connect(options: { retry?: boolean } = {}): Promise<void> {
    try {
      await this.#client.connect(options.retry ? { retry: true, timeoutMs: Infinity } : { timeoutMs: 5000 });
    } catch (error) {
      throw new StationUnavailable(
        `INDI server ${this.config.indiServer} is not answering (${message(error)}): is indiserver running?`,
      );
    }
  }

  /**
   * Waits for `device` to be defined and connects it; waits for `property`
   * when given. Throws naming the device and the `Dome:` key when the server
   * has no such device.
   */
  async prepare(device: string, key: string, property?: string, signal?: AbortSignal): Promise<void> {
    try {
      await this.#client.waitForDevice(device, { timeoutMs: DEVICE_TIMEOUT_MS, signal });
    } catch (error) {
      if (signal?.aborted || error instanceof IndiConnectionError) throw error;
      throw new Error(
        `INDI device "${device}" does not exist on ${this.config.indiServer}; check Dome: ${key}`,
      );
    }
    await this.#client.connectDevice(device, { signal });
    if (property) await this.#client.waitForProperty(device, property, { signal });
  }

  /** Connects to the server and the dome, ready for an order's actions. */
  async ready(signal: AbortSignal): Promise<void> {
    await this.connect();
    await this.prepare(this.config.dome, "Dome", "DOME_SHUTTER", signal);
    await this.#client.waitForProperty(this.config.dome, "DOME_PARK", { signal });
  }

  /**
   * Connects the weather station and waits (a few seconds at most) for its
   * first report, so a judgement made right after the daemon starts reads the
   * weather rather than nothing. Never throws: the reading then says why it is
   * unknown.
   */
  async awaitWeather(signal?: AbortSignal): Promise<WeatherReading> {
    const weather = this.config.weather;
    try {
      await this.prepare(weather, "Weather", "WEATHER_STATUS", signal);
      await this.#client.waitUntil(weather, "WEATHER_STATUS", (status) => status.state !== "Idle", {
        timeoutMs: WEATHER_REPORT_MS,
        signal,
        describe: "to report the weather",
      });
    } catch (error) {
      if (signal?.aborted) throw error;
      this.#log.warning(`The weather station ${weather} has not reported: ${message(error)}`);
    }
    return this.weather();
  }

  // ---------------------------------------------------------------- readings

  #vector(device: string, property: string): IndiVector | undefined {
    const vector = this.#client.getVector(device, property);
    return vector?.defined ? vector : undefined;
  }

  #on(device: string, property: string, member: string): boolean {
    const vector = this.#vector(device, property);
    return vector?.type === "switch" && vector.members.get(member)?.value === true;
  }

  /** What the weather station says now; `unknown` when the server or `WEATHER_STATUS` cannot be read. */
  weather(): WeatherReading {
    const device = this.config.weather;
    if (!this.connected) {
      return {
        state: "unknown",
        reason: `the weather cannot be read: INDI server ${this.config.indiServer} is not connected`,
      };
    }
    const status = this.#vector(device, "WEATHER_STATUS");
    if (status?.type !== "light") {
      return {
        state: "unknown",
        reason: `the weather station cannot be read: ${device}.WEATHER_STATUS is not defined`,
      };
    }
    if (status.state === "Ok") return { state: "Ok", reason: "" };
    if (status.state === "Idle") {
      return {
        state: "Idle",
        reason: `the weather station ${device} reports no weather (WEATHER_STATUS Idle)`,
      };
    }
    const lights = [...status.members.values()]
      .filter((light) => light.value === status.state)
      .map((light) =>
        light.label && light.label !== light.name ? `${light.name} (${light.label})` : light.name
      );
    const what = status.state === "Alert" ? "weather alert" : "weather warning";
    return {
      state: status.state,
      reason: `${what}: ${lights.join(", ") || "WEATHER_STATUS"} on ${device}`,
    };
  }

  /** Where the shutter is (`DOME_SHUTTER`): Busy is moving, Alert (an aborted motion) unknown. */
  shutter(): ShutterState {
    const vector = this.#vector(this.config.dome, "DOME_SHUTTER");
    if (vector?.type !== "switch" || vector.state === "Alert") return "unknown";
    if (vector.state === "Busy") return "moving";
    const open = vector.members.get("SHUTTER_OPEN")?.value === true;
    const closed = vector.members.get("SHUTTER_CLOSE")?.value === true;
    return open && !closed ? "open" : closed && !open ? "closed" : "unknown";
  }

  /** Whether the dome is parked (`DOME_PARK` PARK, not moving). */
  parked(): boolean {
    const vector = this.#vector(this.config.dome, "DOME_PARK");
    return this.#on(this.config.dome, "DOME_PARK", "PARK") && vector?.state !== "Busy" &&
      vector?.state !== "Alert";
  }

  /** Whether the dome follows the mount (`DOME_AUTOSYNC`). */
  slaved(): boolean {
    return this.#on(this.config.dome, "DOME_AUTOSYNC", "DOME_AUTOSYNC_ENABLE");
  }

  /** Whether the dome is turning (`ABS_DOME_POSITION` or `DOME_MOTION` Busy). */
  rotating(): boolean {
    const dome = this.config.dome;
    return this.#vector(dome, "ABS_DOME_POSITION")?.state === "Busy" ||
      this.#vector(dome, "DOME_MOTION")?.state === "Busy";
  }

  /** Whether the mount is parked (`TELESCOPE_PARK` PARK, Ok or Idle: an aborted park is Alert). */
  mountParked(): boolean {
    const vector = this.#vector(this.config.mount, "TELESCOPE_PARK");
    return this.#on(this.config.mount, "TELESCOPE_PARK", "PARK") &&
      (vector?.state === "Ok" || vector?.state === "Idle");
  }

  /** The connection and each device, for `/health`. */
  status(): StationStatus {
    const { dome, weather, mount, warningLight } = this.config;
    const roles: [StationDevice["role"], string][] = [["dome", dome], ["weather", weather], ["mount", mount]];
    if (warningLight) roles.push(["warning light", warningLight.device]);
    const connection = this.#client.connection;
    return {
      server: this.config.indiServer,
      connection: connection.state,
      lastError: connection.lastError ?? null,
      devices: roles.map(([role, device]) => ({
        role,
        device,
        connected: this.#on(device, "CONNECTION", "CONNECT"),
      })),
    };
  }

  // ---------------------------------------------------------------- commands

  async #switch(
    device: string,
    property: string,
    values: Record<string, boolean>,
    timeoutMs: number,
    signal?: AbortSignal,
  ): Promise<void> {
    await this.#client.waitForProperty(device, property, { signal, timeoutMs: DEVICE_TIMEOUT_MS });
    await this.#client.setSwitch(device, property, values, { signal, timeoutMs });
  }

  /** Waits for a motion already heading where asked (`member` On and Busy) to end. */
  async #heading(property: string, member: string, signal?: AbortSignal): Promise<void> {
    const dome = this.config.dome;
    if (this.#vector(dome, property)?.state !== "Busy" || !this.#on(dome, property, member)) return;
    await this.#client.waitUntil(dome, property, (vector) => vector.state !== "Busy", {
      timeoutMs: this.#motionMs,
      signal,
      describe: "to end its motion",
    });
  }

  /** Opens the shutter and checks it is open. */
  async openShutter(options: MotionOptions = {}): Promise<void> {
    await this.#heading("DOME_SHUTTER", "SHUTTER_OPEN", options.signal);
    if (this.shutter() === "open") return;
    const dome = this.config.dome;
    await this.#switch(dome, "DOME_SHUTTER", { SHUTTER_OPEN: true }, this.#motionMs, options.signal);
    const now = this.shutter();
    if (now !== "open") throw new Error(`${dome}.DOME_SHUTTER did not open (the shutter is ${now})`);
  }

  /** Closes the shutter and checks it is closed. */
  async closeShutter(options: MotionOptions = {}): Promise<void> {
    await this.#heading("DOME_SHUTTER", "SHUTTER_CLOSE", options.signal);
    if (this.shutter() === "closed") return;
    const dome = this.config.dome;
    await this.#switch(dome, "DOME_SHUTTER", { SHUTTER_CLOSE: true }, this.#motionMs, options.signal);
    const now = this.shutter();
    if (now !== "closed") throw new Error(`${dome}.DOME_SHUTTER did not close (the shutter is ${now})`);
  }

  /** Parks the dome and checks it is parked. */
  async park(options: MotionOptions = {}): Promise<void> {
    await this.#heading("DOME_PARK", "PARK", options.signal);
    if (this.parked()) return;
    const dome = this.config.dome;
    await this.#switch(dome, "DOME_PARK", { PARK: true }, this.#motionMs, options.signal);
    if (!this.parked()) throw new Error(`${dome}.DOME_PARK did not end parked`);
  }

  /** Unparks the dome (these domes open the shutter as they unpark) and checks it is unparked. */
  async unpark(options: MotionOptions = {}): Promise<void> {
    const dome = this.config.dome;
    await this.#heading("DOME_PARK", "UNPARK", options.signal);
    if (this.#on(dome, "DOME_PARK", "UNPARK") && this.#vector(dome, "DOME_PARK")?.state === "Ok") return;
    await this.#switch(dome, "DOME_PARK", { UNPARK: true }, this.#motionMs, options.signal);
    if (!this.#on(dome, "DOME_PARK", "UNPARK")) throw new Error(`${dome}.DOME_PARK did not end unparked`);
  }

  /** Slaves the dome to the mount (`DOME_AUTOSYNC_ENABLE`), or frees it. */
  async slave(enable: boolean, options: MotionOptions = {}): Promise<void> {
    const member = enable ? "DOME_AUTOSYNC_ENABLE" : "DOME_AUTOSYNC_DISABLE";
    if (this.#on(this.config.dome, "DOME_AUTOSYNC", member)) return;
    await this.#switch(
      this.config.dome,
      "DOME_AUTOSYNC",
      { [member]: true },
      QUICK_TIMEOUT_MS,
      options.signal,
    );
  }

  /**
   * Stops every motion of the dome, shutter included (`DOME_ABORT_MOTION`).
   * With `wait`, waits for the driver's answer; an Alert ("shutter operation
   * aborted") is the abort done, not a failure.
   */
  async abortMotion(options: { wait?: boolean } = {}): Promise<void> {
    const dome = this.config.dome;
    try {
      await this.#client.setSwitch(dome, "DOME_ABORT_MOTION", { ABORT: true }, {
        wait: options.wait ?? false,
        timeoutMs: QUICK_TIMEOUT_MS,
      });
    } catch (error) {
      if (error instanceof IndiAlertError) return;
      if (options.wait) throw error;
      this.#log.warning(`Could not abort the dome's motion: ${message(error)}`);
    }
  }

  /**
   * Flashes the warning light of `Dome: Warning Light` `times` times: its
   * member On, then Off (for a OneOfMany switch, its other member On).
   */
  async blink(times: number, options: MotionOptions = {}): Promise<void> {
    const light = this.config.warningLight;
    if (!light) throw new Error("No warning light: Dome: Warning Light is null");
    const { device, property, member } = light;
    await this.prepare(device, "Warning Light", property, options.signal);
    const vector = this.#client.getVector(device, property);
    if (vector?.type !== "switch" || !vector.members.has(member)) {
      throw new Error(
        `Dome: Warning Light names ${device}.${property}.${member}, which is not a switch of ${device}`,
      );
    }
    let off: Record<string, boolean> = { [member]: false };
    if (vector.rule === "OneOfMany") {
      const other = [...vector.members.keys()].find((name) => name !== member);
      if (!other) throw new Error(`${device}.${property} has only ${member}: it cannot be turned off`);
      off = { [other]: true };
    }
    for (let i = 0; i < times; i++) {
      await this.#client.setSwitch(device, property, { [member]: true }, {
        signal: options.signal,
        timeoutMs: QUICK_TIMEOUT_MS,
      });
      await pause(BLINK_HALF_PERIOD_MS, options.signal);
      await this.#client.setSwitch(device, property, off, {
        signal: options.signal,
        timeoutMs: QUICK_TIMEOUT_MS,
      });
      if (i + 1 < times) await pause(BLINK_HALF_PERIOD_MS, options.signal);
    }
  }

  /**
   * Makes the dome safe: frees it from the mount (that stops its turning),
   * stops any other turning (a park is refused while the dome moves), then
   * closes the shutter and parks at once, and checks both.
   */
  async secure(options: MotionOptions = {}): Promise<void> {
    if (this.slaved()) await this.slave(false, options);
    const dome = this.config.dome;
    const unparking = this.#vector(dome, "DOME_PARK")?.state === "Busy" &&
      this.#on(dome, "DOME_PARK", "UNPARK");
    if (this.rotating() || unparking) await this.abortMotion({ wait: true });
    const [closing, parking] = await Promise.allSettled([this.closeShutter(options), this.park(options)]);
    const problems = [closing, parking].flatMap((outcome) =>
      outcome.status === "rejected" ? [message(outcome.reason)] : []
    );
    if (problems.length > 0) throw new Error(problems.join("; "));
  }

  /** Parks the mount and checks it is parked ("already parked" counts). */
  async parkMount(options: MotionOptions = {}): Promise<void> {
    const mount = this.config.mount;
    await this.prepare(mount, "Mount", "TELESCOPE_PARK", options.signal);
    if (this.mountParked()) return;
    try {
      await this.#client.setSwitch(mount, "TELESCOPE_PARK", { PARK: true }, {
        signal: options.signal,
        timeoutMs: this.#motionMs,
      });
    } catch (error) {
      // A driver answers Idle to a park when the mount is parked already.
      if (!(error instanceof IndiRejectedError && this.mountParked())) throw error;
    }
    if (!this.mountParked()) throw new Error(`${mount}.TELESCOPE_PARK did not end parked`);
  }

  /**
   * Follows a park someone else sent (the telescope service): resolves with
   * "" once the mount is parked, or with why not once the park ends Alert or
   * Idle without parking, or when `Motion Timeout` passes.
   */
  async watchMountPark(options: MotionOptions = {}): Promise<string> {
    const mount = this.config.mount;
    try {
      const vector = await this.#client.waitUntil(
        mount,
        "TELESCOPE_PARK",
        (park) => this.mountParked() || park.state === "Alert" || park.state === "Idle",
        { timeoutMs: this.#motionMs, signal: options.signal, describe: "to end its park" },
      );
      return this.mountParked() ? "" : `${mount}.TELESCOPE_PARK ended ${vector.state} without parking`;
    } catch (error) {
      if (options.signal?.aborted) throw error;
      return message(error);
    }
  }
}
