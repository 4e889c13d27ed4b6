/**
 * The telescope's instruments over INDI: mount, camera and filter wheel, by
 * the device names in `Telescope:`. One INDI connection for the daemon's life
 * (the client reconnects by itself); each step here is one INDI command and
 * the driver's verdict, with the job's signal able to stop it at once.
 *
 * @module
 */
import type { TelescopeConfig } from "../../lib/config.ts";
import { type BlobFile, IndiClient, IndiConnectionError, type IndiVector } from "../../lib/indi/mod.ts";
import type { Logger } from "../../lib/log.ts";

/** A camera frame type as INDI's `CCD_FRAME_TYPE` names it. */
export type IndiFrameType = "FRAME_LIGHT" | "FRAME_BIAS" | "FRAME_DARK" | "FRAME_FLAT";

/** One device as `/health` shows it. */
export interface DeviceStatus {
  device: string;
  connected: boolean;
  /** What it is doing, in words (`parked`, `tracking`, `exposing`, `idle`, `absent`). */
  state: string;
}

/** The INDI server is not there (not running, refused, unreachable). */
export class InstrumentsUnavailable extends Error {
  /** Creates the error. */
  constructor(message: string) {
    super(message);
    this.name = "InstrumentsUnavailable";
  }
}

/** How long to wait for a device's properties after connecting it. */
const DEVICE_TIMEOUT_MS = 15_000;
/** The longest a slew may take. */
const SLEW_TIMEOUT_MS = 300_000;
/** The longest the filter wheel may take to turn. */
const FILTER_TIMEOUT_MS = 60_000;
/** Read-out and transfer time allowed beyond the exposure itself. */
const READOUT_MARGIN_MS = 120_000;

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Mount, camera and filter wheel of one telescope. */
export class Instruments {
  readonly #config: TelescopeConfig;
  readonly #client: IndiClient;
  readonly #log: Logger;
  #connected = false;
  #exposing = false;

  /** Creates the instruments; nothing connects until {@link connect}. */
  constructor(config: TelescopeConfig, log: Logger) {
    this.#config = config;
    this.#log = log;
    const [host, port] = splitHostPort(config.indiServer);
    this.#client = new IndiClient({
      host,
      port,
      timeoutMs: DEVICE_TIMEOUT_MS,
      // Every device's properties, not only ours: a misspelt device name is reported with the names there are.
      logger: log,
    });
    // After a lost connection the drivers are still connected to their hardware, but this
    // client must connect the devices again (and set up the wheel and camera) before the next job.
    this.#client.on("disconnected", () => (this.#connected = false));
  }

  /** The INDI client (for tests and `/health`). */
  get client(): IndiClient {
    return this.#client;
  }

  /**
   * Connects to the INDI server and the three devices, names the wheel's slots
   * from `Filters`, and has the camera send its images here. Throws
   * {@link InstrumentsUnavailable} when the server is not there.
   */
  async connect(signal: AbortSignal): Promise<void> {
    if (this.#connected && this.#client.connection.state === "connected") return;
    try {
      await this.#client.connect();
    } catch (error) {
      throw new InstrumentsUnavailable(
        `INDI server ${this.#config.indiServer} is not answering (${message(error)}): is indiserver running?`,
      );
    }
    const { mount, camera, filterWheel } = this.#config;
    for (const device of [mount, camera, filterWheel]) {
      try {
        await this.#client.waitForDevice(device, { timeoutMs: DEVICE_TIMEOUT_MS, signal });
      } catch (error) {
        if (signal.aborted || error instanceof IndiConnectionError) throw error;
        const known = this.#client.devices();
        throw new Error(
          `INDI device "${device}" does not exist on ${this.#config.indiServer} (devices there: ${
            known.join(", ") || "none"
          }); check Telescope: Mount, Camera and Filter Wheel`,
        );
      }
      await this.#client.connectDevice(device, { signal });
    }
    await this.#client.waitForProperty(filterWheel, "FILTER_NAME", { signal });
    const names: Record<string, string> = {};
    this.#config.filters.forEach((name, i) => (names[`FILTER_SLOT_NAME_${i + 1}`] = name));
    await this.#client.setText(filterWheel, "FILTER_NAME", names, { signal });
    await this.#client.waitForProperty(camera, "CCD_EXPOSURE", { signal });
    await this.#client.enableBlob(camera, "Also");
    const upload = this.#client.getVector(camera, "UPLOAD_MODE");
    if (upload) await this.#client.setSwitch(camera, "UPLOAD_MODE", { UPLOAD_CLIENT: true }, { signal });
    // A camera with a wheel of its own writes that wheel's filter unless told which devices are in use.
    const active = this.#client.getVector(camera, "ACTIVE_DEVICES");
    if (active?.type === "text") {
      const members = [...active.members.keys()];
      const wanted: Record<string, string> = {};
      if (members.includes("ACTIVE_TELESCOPE")) wanted.ACTIVE_TELESCOPE = mount;
      if (members.includes("ACTIVE_FILTER")) wanted.ACTIVE_FILTER = filterWheel;
      if (Object.keys(wanted).length > 0) {
        await this.#client.setText(camera, "ACTIVE_DEVICES", wanted, { signal });
      }
    }
    this.#connected = true;
  }

  /** Unparks the mount when it is parked. */
  async unpark(signal: AbortSignal): Promise<void> {
    const mount = this.#config.mount;
    await this.#client.waitForProperty(mount, "TELESCOPE_PARK", { signal });
    if (!this.#client.getSwitch(mount, "TELESCOPE_PARK", "PARK")) return;
    await this.#client.setSwitch(mount, "TELESCOPE_PARK", { UNPARK: true }, {
      signal,
      timeoutMs: SLEW_TIMEOUT_MS,
    });
  }

  /** Parks the mount; with `wait: false`, resolves once the command is sent. */
  async park(options: { signal?: AbortSignal; wait?: boolean } = {}): Promise<void> {
    await this.#client.setSwitch(this.#config.mount, "TELESCOPE_PARK", { PARK: true }, {
      signal: options.signal,
      wait: options.wait,
      timeoutMs: SLEW_TIMEOUT_MS,
    });
  }

  /** Slews to RA (hours) / Dec (degrees) of the epoch of date and tracks there. */
  async slew(ra: number, dec: number, signal: AbortSignal): Promise<void> {
    const mount = this.#config.mount;
    await this.#client.setSwitch(mount, "ON_COORD_SET", { TRACK: true }, { signal });
    await this.#client.setNumber(mount, "EQUATORIAL_EOD_COORD", { RA: ra, DEC: dec }, {
      signal,
      timeoutMs: SLEW_TIMEOUT_MS,
    });
  }

  /** Turns the wheel to the filter named `filter` (its slot in `Filters`); returns the name in place. */
  async selectFilter(filter: string, signal: AbortSignal): Promise<string> {
    const slot = this.#config.filters.findIndex((name) => name.toLowerCase() === filter.toLowerCase()) + 1;
    if (slot < 1) {
      throw new Error(`Filter ${filter} is not in Telescope: Filters (${this.#config.filters.join(", ")})`);
    }
    const wheel = this.#config.filterWheel;
    await this.#client.setNumber(wheel, "FILTER_SLOT", { FILTER_SLOT_VALUE: slot }, {
      signal,
      timeoutMs: FILTER_TIMEOUT_MS,
    });
    return this.filterInPlace();
  }

  /** The filter the wheel reports in the beam (by its slot's name in `Filters`). */
  filterInPlace(): string {
    const slot = Math.round(
      this.#client.getNumber(this.#config.filterWheel, "FILTER_SLOT", "FILTER_SLOT_VALUE"),
    );
    return this.#config.filters[slot - 1] ?? `slot ${slot}`;
  }

  /** The shortest exposure the camera takes (for bias frames). */
  shortestExposure(): number {
    const vector = this.#client.getVector(this.#config.camera, "CCD_EXPOSURE");
    const member = vector?.type === "number" ? vector.members.get("CCD_EXPOSURE_VALUE") : undefined;
    return member && member.min > 0 ? member.min : 0;
  }

  /**
   * Takes one exposure of `seconds` and writes the camera's image to `path`
   * (a temporary name: the caller files it). Aborting the signal aborts the
   * exposure on the camera at once; no file is left.
   */
  async expose(type: IndiFrameType, seconds: number, path: string, signal: AbortSignal): Promise<string> {
    const camera = this.#config.camera;
    // An exposure left running (this daemon was killed mid-exposure and started again) is aborted first.
    if (this.#client.getVector(camera, "CCD_EXPOSURE")?.state === "Busy") {
      await this.abortExposure();
      await this.#client.waitUntil(camera, "CCD_EXPOSURE", (v) => v.state !== "Busy", {
        signal,
        timeoutMs: 30_000,
      });
    }
    await this.#client.setSwitch(camera, "CCD_FRAME_TYPE", { [type]: true }, { signal });
    const timeoutMs = seconds * 1000 + READOUT_MARGIN_MS;
    // The image comes before CCD_EXPOSURE turns Ok: wait for it first.
    const image = this.#client.expectBlob(camera, { path, property: "CCD1", timeoutMs, signal });
    image.catch(() => {}); // judged below, after the exposure's own verdict
    this.#exposing = true;
    try {
      await this.#client.setNumber(camera, "CCD_EXPOSURE", { CCD_EXPOSURE_VALUE: seconds }, {
        signal,
        timeoutMs,
      });
      return await asFits(await image, path);
    } catch (error) {
      if (signal.aborted) await this.abortExposure();
      throw error;
    } finally {
      this.#exposing = false;
    }
  }

  /** Aborts the camera's exposure (not waiting for the verdict). */
  async abortExposure(): Promise<void> {
    await this.#client.setSwitch(this.#config.camera, "CCD_ABORT_EXPOSURE", { ABORT: true }, { wait: false })
      .catch((error) => this.#log.warning(`Could not abort the exposure: ${message(error)}`));
  }

  /** Stops the mount's motion (not waiting for the verdict). */
  async abortMotion(): Promise<void> {
    await this.#client.setSwitch(this.#config.mount, "TELESCOPE_ABORT_MOTION", { ABORT: true }, {
      wait: false,
    })
      .catch((error) => this.#log.warning(`Could not abort the mount's motion: ${message(error)}`));
  }

  /** Each device's connection and what it is doing, for `/health`. */
  status(): { server: string; connection: string; devices: DeviceStatus[] } {
    const { mount, camera, filterWheel } = this.#config;
    const connected = (device: string) => {
      try {
        return this.#client.getSwitch(device, "CONNECTION", "CONNECT");
      } catch {
        return false;
      }
    };
    const vector = (device: string, property: string): IndiVector | undefined =>
      this.#client.getVector(device, property);
    const mountState = () => {
      const park = vector(mount, "TELESCOPE_PARK");
      const coordinates = vector(mount, "EQUATORIAL_EOD_COORD");
      if (park?.type === "switch" && park.members.get("PARK")?.value) return "parked";
      if (coordinates?.state === "Busy") return "slewing";
      if (coordinates?.state === "Ok") return "tracking";
      return coordinates ? coordinates.state.toLowerCase() : "absent";
    };
    const cameraState = () => {
      const exposure = vector(camera, "CCD_EXPOSURE");
      if (!exposure) return "absent";
      return exposure.state === "Busy" || this.#exposing ? "exposing" : "idle";
    };
    const wheelState = () => {
      if (!vector(filterWheel, "FILTER_SLOT")) return "absent";
      try {
        return `filter ${this.filterInPlace()}`;
      } catch {
        return "unknown";
      }
    };
    return {
      server: this.#config.indiServer,
      connection: this.#client.connection.state,
      devices: [
        { device: mount, connected: connected(mount), state: mountState() },
        { device: camera, connected: connected(camera), state: cameraState() },
        { device: filterWheel, connected: connected(filterWheel), state: wheelState() },
      ],
    };
  }

  /** Closes the INDI connection. */
  async close(): Promise<void> {
    await this.#client.close();
  }
}

/**
 * The image as a plain FITS file at `path`: a zlib-compressed one (format
 * `.fits.z`, INDI's `CCD_COMPRESSION`) is inflated in place as it streams.
 */
async function asFits(blob: BlobFile, path: string): Promise<string> {
  if (!blob.path) throw new Error(`The camera's image (${blob.format}) was not written to a file`);
  const format = blob.format.toLowerCase();
  if (format === ".fits" || format === ".fit" || format === ".fts") return blob.path;
  if (!/^\.(fits?|fts)\.z$/.test(format)) {
    await Deno.remove(blob.path).catch(() => {});
    throw new Error(`The camera sent a ${blob.format} image; set it to FITS (CCD_TRANSFER_FORMAT)`);
  }
  const inflated = `${path}.inflated`;
  {
    using source = await Deno.open(blob.path, { read: true });
    using target = await Deno.open(inflated, { write: true, create: true, truncate: true });
    await source.readable.pipeThrough(new DecompressionStream("deflate")).pipeTo(target.writable);
  }
  await Deno.rename(inflated, path);
  if (blob.path !== path) await Deno.remove(blob.path).catch(() => {});
  return path;
}

/** `host:port` (or `[v6]:port`) as host and port. */
export function splitHostPort(text: string): [string, number] {
  const colon = text.lastIndexOf(":");
  const host = text.slice(0, colon).replace(/^\[(.*)\]$/, "$1");
  return [host === "localhost" ? "127.0.0.1" : host, Number(text.slice(colon + 1))];
}

/** Whether an error means the INDI server (not the job) is the trouble: worth waiting and trying again. */
export function isServerTrouble(error: unknown): boolean {
  return error instanceof InstrumentsUnavailable || error instanceof IndiConnectionError;
}
