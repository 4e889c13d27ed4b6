/**
 * INDI test fixtures.
 *
 * - {@link ScriptedIndiServer}: a fake INDI server on 127.0.0.1 whose every
 *   byte the test writes, to drive the client into protocol corners.
 * - {@link startIndiServer} / {@link simulatorTest}: a real `indiserver` with
 *   simulator drivers on a free loopback port, its own `-u` socket and its own
 *   `HOME` (drivers keep `~/.indi` config files), stopped with its whole
 *   process group.
 *
 * One simulator set per test file: one `simulatorTest` whose steps share the
 * server (sanitizers then check the whole file's work at once):
 *
 * ```ts
 * await simulatorTest("telescope service", { parked: { telescope: true }, ccd: { timeFactor: 0.1 } },
 *   async (t, server) => {
 *     const client = await server.client(); // or give server.host/server.port to the service
 *     await t.step("unparks", async () => { ... });
 *     await t.step("survives the CCD driver dying", () => server.killDriver(SIMULATORS.ccd));
 *   });
 * ```
 *
 * @module
 */
import { IndiClient, type IndiClientOptions } from "../lib/indi/mod.ts";
import { missingPeer, REQUIRE_PEERS } from "./_peers.ts";
import { freePort } from "./_daemons.ts";

// ------------------------------------------------------------------ scripted server

/** One client connection to a {@link ScriptedIndiServer}. */
export class ScriptedConnection {
  /** Everything the client has sent so far. */
  received = "";
  readonly #conn: Deno.TcpConn;
  readonly #reading: Promise<void>;
  #cursor = 0;
  #arrived: (() => void) | undefined;
  #closed = false;

  /** Wraps an accepted connection and starts reading what the client sends. */
  constructor(conn: Deno.TcpConn) {
    this.#conn = conn;
    conn.setNoDelay(true);
    this.#reading = this.#read();
  }

  async #read(): Promise<void> {
    const decoder = new TextDecoder();
    const buffer = new Uint8Array(64 * 1024);
    try {
      while (true) {
        const count = await this.#conn.read(buffer);
        if (count === null) break;
        this.received += decoder.decode(buffer.subarray(0, count), { stream: true });
        this.#arrived?.();
      }
    } catch {
      // closed by the test
    }
    this.#closed = true;
    this.#arrived?.();
  }

  /**
   * Waits until the client has sent text matching `pattern` after the previous
   * match, and returns the match (so a test reads the client's commands in order).
   */
  async next(pattern: RegExp | string, timeoutMs = 3000): Promise<RegExpExecArray> {
    const regexp = typeof pattern === "string" ? new RegExp(escapeRegExp(pattern)) : pattern;
    const deadline = Date.now() + timeoutMs;
    while (true) {
      const rest = this.received.slice(this.#cursor);
      const match = regexp.exec(rest);
      if (match) {
        this.#cursor += match.index + match[0].length;
        return match;
      }
      if (this.#closed) throw new Error(`Connection closed before the client sent ${regexp}; got: ${rest}`);
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new Error(`The client did not send ${regexp} within ${timeoutMs} ms; got: ${rest}`);
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#arrived = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.#arrived = undefined;
    }
  }

  /**
   * Sends text or bytes; with `chunkBytes`, in pieces of that size, each its
   * own write with a pause between (`pauseEvery` pieces, default every piece),
   * so the client sees it in many reads.
   */
  async send(
    data: string | Uint8Array,
    options: { chunkBytes?: number; pauseEvery?: number } = {},
  ): Promise<void> {
    const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
    const chunk = options.chunkBytes ?? bytes.length;
    const pauseEvery = options.pauseEvery ?? 1;
    let pieces = 0;
    for (let offset = 0; offset < bytes.length; offset += chunk) {
      const piece = bytes.subarray(offset, Math.min(bytes.length, offset + chunk));
      let written = 0;
      while (written < piece.length) written += await this.#conn.write(piece.subarray(written));
      if (options.chunkBytes !== undefined && ++pieces % pauseEvery === 0) {
        await new Promise((resolve) => setTimeout(resolve, 1));
      }
    }
  }

  /** Drops the connection (the client sees the server go away). */
  async close(): Promise<void> {
    try {
      this.#conn.close();
    } catch {
      // already closed
    }
    await this.#reading;
  }
}

/** A fake INDI server on 127.0.0.1 and a free port; the test scripts every byte. */
export class ScriptedIndiServer {
  /** The port it listens on. */
  readonly port: number;
  readonly #listener: Deno.TcpListener;
  readonly #connections: ScriptedConnection[] = [];

  private constructor(listener: Deno.TcpListener) {
    this.#listener = listener;
    this.port = (listener.addr as Deno.NetAddr).port;
  }

  /** Listens on 127.0.0.1, port chosen by the system. */
  static start(): ScriptedIndiServer {
    return new ScriptedIndiServer(Deno.listen({ hostname: "127.0.0.1", port: 0 }));
  }

  /** Waits for the next client connection. */
  async accept(timeoutMs = 3000): Promise<ScriptedConnection> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`No client connected within ${timeoutMs} ms`)), timeoutMs);
    });
    try {
      const conn = await Promise.race([this.#listener.accept(), timeout]);
      const connection = new ScriptedConnection(conn);
      this.#connections.push(connection);
      return connection;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Closes every connection and stops listening. */
  async close(): Promise<void> {
    this.#listener.close();
    for (const connection of this.#connections) await connection.close();
  }
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

// ------------------------------------------------------------------ real indiserver

/** The simulator drivers `indi-bin` ships that the observatory's services use. */
export const SIMULATORS = {
  telescope: "indi_simulator_telescope",
  ccd: "indi_simulator_ccd",
  wheel: "indi_simulator_wheel",
  dome: "indi_simulator_dome",
  weather: "indi_simulator_weather",
} as const;

/** A simulator driver's executable. */
export type SimulatorDriver = (typeof SIMULATORS)[keyof typeof SIMULATORS];

/** The device names the simulators define (indi-bin 1.9.9). */
export const SIMULATOR_DEVICES = {
  telescope: "Telescope Simulator",
  ccd: "CCD Simulator",
  wheel: "Filter Simulator",
  dome: "Dome Simulator",
  weather: "Weather Simulator",
} as const;

/** Options of {@link startIndiServer}. */
export interface IndiServerOptions {
  /** Driver executables to start (default all of {@link SIMULATORS}). */
  drivers?: string[];
  /** indiserver's `-r`: how often it restarts a driver that died (default 0, so a killed driver stays dead). */
  restarts?: number;
  /** How long to wait for the server to accept connections, ms (default 10 000). */
  startTimeoutMs?: number;
  /**
   * Start the mount and/or the dome parked, by writing the `~/.indi/ParkData.xml`
   * the simulators read when they connect (parking the mount from its home
   * position takes 16-27 s). Without it both start unparked.
   */
  parked?: { telescope?: boolean; dome?: boolean };
  /**
   * CCD simulator settings applied as soon as the server runs, before any
   * client connects the camera (they stay for the server's life), e.g.
   * `{ timeFactor: 0.1 }` for exposures ten times faster.
   */
  ccd?: CcdSimulatorSettings;
}

/** A running indiserver; stop it with {@link IndiServer.stop} (or `await using`). */
export interface IndiServer extends AsyncDisposable {
  /** Always 127.0.0.1. */
  readonly host: string;
  /** Its TCP port. */
  readonly port: number;
  /** indiserver's process id (also its process group id). */
  readonly pid: number;
  /** The temporary directory: HOME of the drivers, the log, the `-u` socket name. */
  readonly dir: string;
  /** The drivers it was started with. */
  readonly drivers: readonly string[];
  /** A client for this server (connected), closed by {@link stop} if the test did not. */
  client(options?: IndiClientOptions): Promise<IndiClient>;
  /** Process id of a running driver, e.g. `driverPid("indi_simulator_ccd")`. */
  driverPid(driver: string): Promise<number>;
  /** Kills one driver process (SIGKILL by default): a driver crash, as mid-exposure. */
  killDriver(driver: string, signal?: Deno.Signal): Promise<void>;
  /** indiserver's log so far (stderr, `-v`). */
  log(): Promise<string>;
  /** Stops indiserver and every driver (the whole process group) and removes the directory. */
  stop(): Promise<void>;
}

/** Options of {@link configureCcdSimulator}: `SIMULATOR_SETTINGS` members by another name. */
export interface CcdSimulatorSettings {
  /** `SIM_TIME_FACTOR`: the real wait is the exposure time times this (0.01-100). */
  timeFactor?: number;
  /** `SIM_XRES` (512-8192 in indi-bin 1.9.9; default 1280). */
  width?: number;
  /** `SIM_YRES` (512-8192 in indi-bin 1.9.9; default 1024). */
  height?: number;
}

/** A port nobody listens on right now (the system's choice). */
export { freePort };

/**
 * Starts `indiserver` with the drivers on a free loopback port, with its own
 * `-u` socket path and its own HOME, and waits until it accepts connections.
 */
export async function startIndiServer(options: IndiServerOptions = {}): Promise<IndiServer> {
  const drivers = options.drivers ?? Object.values(SIMULATORS);
  const dir = await Deno.makeTempDir({ prefix: "toros_indi_" });
  const logPath = `${dir}/indiserver.log`;
  await Deno.mkdir(`${dir}/home/.indi`, { recursive: true });
  if (options.parked?.telescope || options.parked?.dome) {
    await Deno.writeTextFile(`${dir}/home/.indi/ParkData.xml`, parkData(options.parked));
  }
  const port = freePort();
  const args = [
    "-v",
    "-p",
    String(port),
    "-u",
    `${dir}/indiserver.sock`,
    "-r",
    String(options.restarts ?? 0),
    ...drivers,
  ];
  // `exec setsid` keeps the shell's pid (a non-leader calls setsid() without forking): indiserver
  // leads a new process group holding every driver, so stop() can signal them all at once.
  const child = new Deno.Command("sh", {
    args: ["-c", `exec setsid indiserver "$@" >"${logPath}" 2>&1`, "indiserver", ...args],
    env: { HOME: `${dir}/home` },
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  const pid = child.pid;
  let exited = false;
  const status = child.status.then((s) => {
    exited = true;
    return s;
  });
  const clients: IndiClient[] = [];

  async function stop(): Promise<void> {
    for (const client of clients) await client.close();
    await killGroup(pid, "SIGTERM");
    const forced = setTimeout(() => killGroup(pid, "SIGKILL"), 3000);
    await status;
    clearTimeout(forced);
    // Drivers see their stdin close when indiserver goes; give any straggler a moment, then force.
    for (let i = 0; i < 50 && (await groupMembers(pid)).length > 0; i++) await sleep(20);
    if ((await groupMembers(pid)).length > 0) killGroup(pid, "SIGKILL");
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }

  const deadline = Date.now() + (options.startTimeoutMs ?? 10_000);
  while (true) {
    try {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port });
      conn.close();
      break;
    } catch (error) {
      if (exited || Date.now() > deadline) {
        const log = await Deno.readTextFile(logPath).catch(() => "");
        await stop();
        throw new Error(`indiserver did not start on port ${port}: ${(error as Error).message}\n${log}`);
      }
      await sleep(50);
    }
  }

  const server: IndiServer = {
    host: "127.0.0.1",
    port,
    pid,
    dir,
    drivers,
    async client(clientOptions: IndiClientOptions = {}): Promise<IndiClient> {
      const client = new IndiClient({ host: "127.0.0.1", port, ...clientOptions });
      clients.push(client);
      await client.connect();
      return client;
    },
    async driverPid(driver: string): Promise<number> {
      for (const member of await groupMembers(pid)) {
        if (member === pid) continue;
        const cmdline = await Deno.readTextFile(`/proc/${member}/cmdline`).catch(() => "");
        const program = cmdline.split("\0")[0];
        if (program === driver || program.endsWith(`/${driver}`)) return member;
      }
      throw new Error(`Driver ${driver} is not running under indiserver ${pid}`);
    },
    async killDriver(driver: string, signal: Deno.Signal = "SIGKILL"): Promise<void> {
      const driverPid = await server.driverPid(driver);
      Deno.kill(driverPid, signal);
      for (let i = 0; i < 100; i++) {
        const stat = await Deno.readTextFile(`/proc/${driverPid}/stat`).catch(() => "");
        // Gone, or a zombie waiting for indiserver to reap it.
        if (stat === "" || stat.slice(stat.lastIndexOf(")") + 2).startsWith("Z")) return;
        await sleep(20);
      }
      throw new Error(`Driver ${driver} (pid ${driverPid}) did not die on ${signal}`);
    },
    log(): Promise<string> {
      return Deno.readTextFile(logPath);
    },
    stop,
    [Symbol.asyncDispose]: stop,
  };
  if (options.ccd && drivers.includes(SIMULATORS.ccd)) {
    const client = new IndiClient({ host: "127.0.0.1", port, timeoutMs: 10_000 });
    try {
      await client.connect();
      await configureCcdSimulator(client, options.ccd);
    } catch (error) {
      await client.close();
      await stop();
      throw error;
    }
    await client.close();
  }
  return server;
}

/**
 * Sets the CCD simulator's `SIMULATOR_SETTINGS` (time factor, frame size),
 * keeping the other members as they are. Works connected or not.
 */
export async function configureCcdSimulator(
  client: IndiClient,
  settings: CcdSimulatorSettings,
  device: string = SIMULATOR_DEVICES.ccd,
): Promise<void> {
  await client.waitForProperty(device, "SIMULATOR_SETTINGS", { timeoutMs: 10_000 });
  const values: Record<string, number> = {};
  if (settings.timeFactor !== undefined) values.SIM_TIME_FACTOR = settings.timeFactor;
  if (settings.width !== undefined) values.SIM_XRES = settings.width;
  if (settings.height !== undefined) values.SIM_YRES = settings.height;
  await client.setNumber(device, "SIMULATOR_SETTINGS", values, { timeoutMs: 10_000 });
}

/** What the simulated weather is made of: `WEATHER_CONTROL` members by another name. */
export interface SimulatedWeather {
  /** `Weather`: 0 good forecast, 1 bad (the forecast goes to Alert). */
  forecast?: number;
  /** `Temperature`, °C (Ok from -10 to 30). */
  temperature?: number;
  /** `Wind`, km/h (Ok up to 20). */
  wind?: number;
  /** `Gust`, km/h (Ok up to 20). */
  gust?: number;
  /** `Precip`, mm/h (Ok only at 0: any rain is Alert). */
  precip?: number;
}

/**
 * Sets the weather simulator's conditions and makes it publish them at once
 * (`WEATHER_REFRESH`; on its own it only updates every `WEATHER_UPDATE.PERIOD`,
 * 60 s). `WEATHER_STATUS` goes to Alert (rain, wind) or back to Ok right after.
 */
export async function setSimulatedWeather(
  client: IndiClient,
  weather: SimulatedWeather,
  device: string = SIMULATOR_DEVICES.weather,
): Promise<void> {
  const names: Record<keyof SimulatedWeather, string> = {
    forecast: "Weather",
    temperature: "Temperature",
    wind: "Wind",
    gust: "Gust",
    precip: "Precip",
  };
  const values: Record<string, number> = {};
  for (const [key, value] of Object.entries(weather)) {
    if (value !== undefined) values[names[key as keyof SimulatedWeather]] = value;
  }
  await client.setNumber(device, "WEATHER_CONTROL", values, { timeoutMs: 10_000 });
  await client.setSwitch(device, "WEATHER_REFRESH", { REFRESH: true }, { timeoutMs: 10_000 });
}

/**
 * Registers one test that runs `fn` against one indiserver (started before,
 * stopped after, even on failure); the steps of `fn` share it. Ignored loudly
 * when indiserver or a driver is missing, failed under `TOROS_REQUIRE_PEERS=1`.
 */
export async function simulatorTest(
  name: string,
  options: IndiServerOptions,
  fn: (t: Deno.TestContext, server: IndiServer) => Promise<void>,
): Promise<void> {
  const reason = await missingPeer("indi");
  const missing = reason ?? await missingDrivers(options.drivers ?? Object.values(SIMULATORS));
  if (missing) {
    if (REQUIRE_PEERS) {
      Deno.test(name, () => {
        throw new Error(`Peer missing and TOROS_REQUIRE_PEERS=1: ${missing}`);
      });
    } else {
      console.warn(`SKIP ${name}: ${missing}`);
      Deno.test({ name: `${name} (skipped: ${missing})`, ignore: true, fn: () => {} });
    }
    return;
  }
  Deno.test(name, async (t) => {
    const server = await startIndiServer(options);
    try {
      await fn(t, server);
    } catch (error) {
      const log = await server.log().catch(() => "");
      console.error(`indiserver log (last 40 lines):\n${log.split("\n").slice(-40).join("\n")}`);
      throw error;
    } finally {
      await server.stop();
    }
  });
}

async function missingDrivers(drivers: string[]): Promise<string | null> {
  const missing: string[] = [];
  for (const driver of drivers) {
    const found = await new Deno.Command("sh", {
      args: ["-c", `command -v "${driver}"`],
      stdout: "null",
      stderr: "null",
    })
      .output();
    if (!found.success) missing.push(driver);
  }
  return missing.length === 0 ? null : `${missing.join(", ")} not installed (apt-get install indi-bin)`;
}

/** `ParkData.xml` as the simulators write it once parked (positions they park at by default). */
function parkData(parked: { telescope?: boolean; dome?: boolean }): string {
  const devices: string[] = [];
  if (parked.telescope) {
    devices.push(
      `  <device name="${SIMULATOR_DEVICES.telescope}">\n    <parkstatus>true</parkstatus>\n` +
        `    <parkposition>\n      <axis1position>-6.000000</axis1position>\n` +
        `      <axis2position>0.000000</axis2position>\n    </parkposition>\n  </device>\n`,
    );
  }
  if (parked.dome) {
    devices.push(
      `  <device name="${SIMULATOR_DEVICES.dome}">\n    <parkstatus>true</parkstatus>\n` +
        `    <parkposition>\n      <axis1position>90.000000</axis1position>\n    </parkposition>\n  </device>\n`,
    );
  }
  return `<parkdata>\n${devices.join("")}</parkdata>\n`;
}

/** Process ids in process group `pgid`, from /proc. */
async function groupMembers(pgid: number): Promise<number[]> {
  const members: number[] = [];
  for await (const entry of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    const stat = await Deno.readTextFile(`/proc/${entry.name}/stat`).catch(() => "");
    if (!stat) continue;
    // Fields after the command name "(…)": state ppid pgrp …
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    if (Number(fields[2]) === pgid && fields[0] !== "Z") members.push(Number(entry.name));
  }
  return members;
}

function killGroup(pgid: number, signal: Deno.Signal): void {
  try {
    Deno.kill(-pgid, signal);
  } catch {
    // the group is gone already
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
