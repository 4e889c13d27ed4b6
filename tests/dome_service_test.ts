/**
 * The dome service on Debian's INDI simulators (one indiserver for the file
 * with mount, camera, filter wheel, dome and weather station; mount and dome
 * starting parked; exposures at SIM_TIME_FACTOR 0.1): the original Dome order
 * sent by Python's xmlrpc.client, the shutter, park and slaving orders, an
 * Open refused in bad weather, and the weather watch: rain during an exposure
 * stops the telescope's job, closes and parks the dome and parks the mount,
 * then the dome reopens after the configured spell of clear weather; with no
 * telescope service at all, the dome still parks the mount.
 */
import { assert, assertEquals, assertStringIncludes } from "./_assert.ts";
import { missingPeer, REQUIRE_PEERS, runPython } from "./_peers.ts";
import {
  freePort,
  type IndiServer,
  setSimulatedWeather,
  SIMULATOR_DEVICES,
  SIMULATORS,
  simulatorTest,
} from "./_indi.ts";
import { defaultConfig, type TorosConfig } from "../lib/config.ts";
import { type RunningDaemon, startDaemon } from "../lib/daemon/mod.ts";
import type { IndiClient, IndiVector } from "../lib/indi/mod.ts";
import { nightDate } from "../lib/sky/mod.ts";
import { callXmlRpc, type XmlRpcValue } from "../lib/xmlrpc/mod.ts";
import { domeDaemon } from "../services/dome/daemon.ts";
import { telescopeDaemon } from "../services/telescope/daemon.ts";

type Struct = Record<string, XmlRpcValue>;

const DOME = SIMULATOR_DEVICES.dome;
const MOUNT = SIMULATOR_DEVICES.telescope;
const WEATHER = SIMULATOR_DEVICES.weather;
/** The reopen spell the tests use: three seconds of clear weather. */
const REOPEN_MINUTES = 0.05;
/** Longer than any motion of the simulators (the dome turns ~10°/s, the mount parks in 8-27 s). */
const MOTION_MS = 60_000;

function configFor(root: string, server: { host: string; port: number }, catalog = "toros"): TorosConfig {
  const config = defaultConfig(`${root}/state`);
  config.database = { file: `${root}/${catalog}.sqlite3` };
  config.logging.file = "";
  config.data.roots = [`${root}/data`];
  config.domeAddress = { http: "http://127.0.0.1:0/", ip: "127.0.0.1", port: 0 };
  // Nobody listens here until the telescope service is started.
  config.telescopeAddress = { http: `http://127.0.0.1:${freePort()}/`, ip: "127.0.0.1", port: 0 };
  config.telescope = {
    ...config.telescope,
    indiServer: `${server.host}:${server.port}`,
    dataRoot: `${root}/data`,
    retrySeconds: 1,
  };
  config.dome = {
    ...config.dome,
    indiServer: `${server.host}:${server.port}`,
    reopenAfterMinutes: REOPEN_MINUTES,
    telescopeTimeout: 2,
    retrySeconds: 1,
  };
  return config;
}

function urlOf(daemon: RunningDaemon): string {
  return `http://127.0.0.1:${daemon.port}/`;
}

async function send(daemon: RunningDaemon, order: Struct): Promise<number> {
  return (await callXmlRpc(urlOf(daemon), "front_desk", [order]) as Struct).Job as number;
}

async function domeStatus(daemon: RunningDaemon): Promise<Struct> {
  return await callXmlRpc(urlOf(daemon), "dome_status", []) as Struct;
}

/** Polls job_status until `done(status)`; fails naming the last status after `timeoutMs`. */
async function until(
  daemon: RunningDaemon,
  job: number,
  done: (s: Struct) => boolean,
  timeoutMs = MOTION_MS,
) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const now = await callXmlRpc(urlOf(daemon), "job_status", [job]) as Struct;
    if (done(now)) return now;
    if (Date.now() > deadline) throw new Error(`job ${job}: ${JSON.stringify(now)}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const ended = (s: Struct) => ["done", "failed", "cancelled"].includes(s.Status as string);

/** Polls dome_status until `done(status)`; fails naming the last status after `timeoutMs`. */
async function untilDome(daemon: RunningDaemon, done: (s: Struct) => boolean, timeoutMs = MOTION_MS) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const now = await domeStatus(daemon);
    if (done(now)) return now;
    if (Date.now() > deadline) throw new Error(`dome_status: ${JSON.stringify(now)}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

function on(vector: IndiVector, member: string): boolean {
  return vector.type === "switch" && vector.members.get(member)?.value === true;
}

/** Waits, on the simulators themselves, until the shutter is closed, the dome parked and the mount parked. */
async function untilSafe(watcher: IndiClient): Promise<void> {
  await Promise.all([
    watcher.waitUntil(DOME, "DOME_SHUTTER", (v) => v.state === "Ok" && on(v, "SHUTTER_CLOSE"), {
      timeoutMs: MOTION_MS,
    }),
    watcher.waitUntil(DOME, "DOME_PARK", (v) => v.state === "Ok" && on(v, "PARK"), { timeoutMs: MOTION_MS }),
    watcher.waitUntil(MOUNT, "TELESCOPE_PARK", (v) => v.state === "Ok" && on(v, "PARK"), {
      timeoutMs: MOTION_MS,
    }),
  ]);
}

const PYTHON_DOME = `
import sys, json, time, xmlrpc.client
dome = xmlrpc.client.ServerProxy(sys.argv[1], allow_none=True)
order = {"ID": "1", "WOType": "Dome", "Priority": 2, "Datetime": "2019-03-05T14:34:54.234", "User": "John Doe",
         "Blink01": True}
out = {"answer": dome.front_desk(order)}
def fault(o):
    try:
        dome.front_desk(o)
    except xmlrpc.client.Fault as f:
        return [f.faultCode, f.faultString]
out["bad_key"] = fault({"ID": "x1", "WOType": "Dome", "Open Door": True})
out["observation"] = fault({"ID": "x2", "WOType": "Observation", "Telescope Name": "CTMO", "RA": 1, "Dec": 2,
                            "Filter": "V", "Exposure Time": 1, "Number of Exposures": 1})
for _ in range(600):
    status = dome.job_status(out["answer"]["Job"])
    if status["Status"] in ("done", "failed", "cancelled"):
        break
    time.sleep(0.05)
out["status"] = status
out["dome"] = dome.dome_status()
print(json.dumps(out))
`;

/** An Observation order of the original documents, long enough to be caught mid-exposure. */
function observation(id: string): Struct {
  return {
    ID: id,
    WOType: "Observation",
    "Telescope Name": "CTMO",
    RA: 23.1,
    Dec: 13.2,
    Filter: "I",
    "Exposure Time": 30,
    "Number of Exposures": 3,
    "Calibration Frames": "No",
    Output: "Raw",
    User: "Main Module",
  };
}

async function names(dir: string): Promise<string[]> {
  const found: string[] = [];
  try {
    for await (const entry of Deno.readDir(dir)) found.push(entry.name);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  return found.sort();
}

const pythonMissing = await missingPeer("python");

await simulatorTest(
  "dome service: Dome orders on the simulated dome; the weather watch stops the telescope, closes the dome, parks the mount and reopens",
  { parked: { telescope: true, dome: true }, ccd: { timeFactor: 0.1, width: 512, height: 512 } },
  async (t, server: IndiServer) => {
    if (pythonMissing && REQUIRE_PEERS) throw new Error(`Peer missing: ${pythonMissing}`);
    const root = await Deno.realPath(await Deno.makeTempDir({ prefix: "toros-dome-" }));
    await Deno.mkdir(`${root}/data`);
    const config = configFor(root, server);
    const dome = await startDaemon(domeDaemon, config);
    const watcher = await server.client();
    // Started mid-file; stopped by the step that needs it gone, or at the end.
    const running: { telescope: RunningDaemon | null } = { telescope: null };
    try {
      await watcher.waitForProperty(WEATHER, "WEATHER_CONTROL", { timeoutMs: 15_000 });
      await untilDome(dome, (s) => s.Weather === "Ok", 15_000);

      await t.step({
        name:
          "Python's client: the original Dome order (Blink01) is done, its story saying there is no warning light",
        ignore: pythonMissing !== null,
        fn: async () => {
          const out = JSON.parse(await runPython(PYTHON_DOME, [urlOf(dome)]));
          assertEquals([out.answer.Status, out.answer.Message], ["queued", "Work order received."]);
          assertEquals(out.bad_key[0], -32602);
          assertStringIncludes(out.bad_key[1], 'Work order key "Open Door": is not a dome action');
          assertStringIncludes(out.observation[1], "handled by the telescope service, not the dome");
          const done = out.status;
          assertEquals([done.Status, done.Priority, done.Done], ["done", 2, ["Blink01: no warning light"]]);
          assert(
            (done.History as string[]).some((line) =>
              line.endsWith("Blink01: no warning light configured (Dome: Warning Light), nothing to blink")
            ),
            JSON.stringify(done.History),
          );
          assertEquals(out.dome, {
            Weather: "Ok",
            Safe: true,
            Open: false,
            Shutter: "closed",
            Parked: true,
            ReopenAt: null,
            Reason: "",
          });
        },
      });

      await t.step("BlinkNN flashes the configured warning light NN times", async () => {
        const lit = configFor(root, server, "blink");
        lit.dome.warningLight = { device: DOME, property: "DEBUG", member: "ENABLE" };
        const blinker = await startDaemon(domeDaemon, lit);
        let flashes = 0;
        const stop = watcher.on("update", (v) => {
          if (v.device === DOME && v.name === "DEBUG" && on(v, "ENABLE")) flashes++;
        });
        try {
          const job = await send(blinker, { ID: "blink", WOType: "Dome", Blink03: true });
          const done = await until(blinker, job, ended);
          assertEquals([done.Status, done.Done], ["done", ["Blink03"]], JSON.stringify(done));
          assert(
            (done.History as string[]).some((line) =>
              line.endsWith("blinking Dome Simulator.DEBUG.ENABLE 3 times")
            ),
          );
          assertEquals(flashes, 3);
          assert(watcher.getSwitch(DOME, "DEBUG", "DISABLE"), "the light is left off");
        } finally {
          stop();
          await blinker.stop();
        }
      });

      await t.step("Open Shutter opens the shutter (the parked dome does not refuse it)", async () => {
        const job = await send(dome, { ID: "open", WOType: "Dome", "Open Shutter": true });
        const done = await until(dome, job, ended);
        assertEquals(
          [done.Status, done.Done, done.Shutter],
          ["done", ["Open Shutter"], "open"],
          JSON.stringify(done),
        );
        assert((done.History as string[]).some((line) => line.endsWith("Open Shutter: opening the shutter")));
        assert(watcher.getSwitch(DOME, "DOME_SHUTTER", "SHUTTER_OPEN"));
        const status = await domeStatus(dome);
        assertEquals([status.Open, status.Shutter], [true, "open"]);
      });

      await t.step("cancel_job stops the shutter at once (DOME_ABORT_MOTION)", async () => {
        const job = await send(dome, { ID: "close-cancelled", WOType: "Dome", "Close Shutter": true });
        await watcher.waitUntil(DOME, "DOME_SHUTTER", (v) => v.state === "Busy" && on(v, "SHUTTER_CLOSE"));
        const cancelled = await callXmlRpc(urlOf(dome), "cancel_job", [job]) as Struct;
        assertEquals(cancelled.Status, "cancelled");
        // Without the abort the shutter would close in 6 s; aborted, the simulator says its state is unknown.
        await watcher.waitUntil(DOME, "DOME_SHUTTER", (v) => v.state === "Alert", { timeoutMs: 2000 });
        await untilDome(dome, (s) => s.Shutter === "unknown", 2000);
      });

      await t.step("Close Shutter and Park: the shutter closed, the dome parked", async () => {
        const job = await send(dome, { ID: "close", WOType: "Dome", "Close Shutter": true, Park: true });
        const done = await until(dome, job, ended);
        assertEquals([done.Status, done.Done, done.Shutter, done.Parked], [
          "done",
          ["Close Shutter", "Park"],
          "closed",
          true,
        ], JSON.stringify(done));
        const status = await domeStatus(dome);
        assertEquals([status.Open, status.Shutter, status.Parked], [false, "closed", true]);
      });

      await t.step("Open Shutter is refused while the weather is Alert, saying why", async () => {
        await setSimulatedWeather(watcher, { precip: 5 });
        const alert = await untilDome(dome, (s) => s.Weather === "Alert");
        assertEquals(alert.Safe, false);
        assertEquals(alert.Reason, "weather alert: WEATHER_RAIN_HOUR (Precip (mm)) on Weather Simulator");
        const job = await send(dome, { ID: "open-in-rain", WOType: "Dome", "Open Shutter": true });
        const failed = await until(dome, job, ended);
        assertEquals(failed.Status, "failed");
        assertEquals(failed.Errors, [
          "Open Shutter refused: the weather is not safe (weather alert: WEATHER_RAIN_HOUR (Precip (mm)) on Weather Simulator)",
        ]);
        const unpark = await until(
          dome,
          await send(dome, { ID: "unpark-in-rain", WOType: "Dome", Unpark: true }),
          ended,
        );
        assertEquals([unpark.Status, unpark.Errors], ["failed", [
          "Unpark refused: the weather is not safe (weather alert: WEATHER_RAIN_HOUR (Precip (mm)) on Weather Simulator)",
        ]]);
        assert(watcher.getSwitch(DOME, "DOME_SHUTTER", "SHUTTER_CLOSE"), "the shutter stays closed");
        assert(watcher.getSwitch(DOME, "DOME_PARK", "PARK"), "the dome stays parked");
        await setSimulatedWeather(watcher, { precip: 0 });
        const clear = await untilDome(dome, (s) => s.Safe === true);
        // The dome was closed before the rain: nothing for the weather to reopen.
        assertEquals([clear.ReopenAt, clear.Reason], [null, ""]);
      });

      await t.step(
        "rain mid-exposure: the exposure is aborted (job interrupted), shutter closed, dome and mount parked; clear weather reopens the dome",
        async () => {
          const opened = await until(
            dome,
            await send(dome, { ID: "night", WOType: "Dome", Unpark: true, Slave: true }),
            ended,
          );
          assertEquals(
            [opened.Status, opened.Shutter, opened.Parked],
            ["done", "open", false],
            JSON.stringify(opened),
          );
          assert(
            watcher.getSwitch(DOME, "DOME_AUTOSYNC", "DOME_AUTOSYNC_ENABLE"),
            "the dome follows the mount",
          );

          const telescope = running.telescope = await startDaemon(telescopeDaemon, config);
          config.telescopeAddress.http = urlOf(telescope);
          const job = await send(telescope, observation("rained-out"));
          await until(telescope, job, (s) => s.Step === "exposing 1/3" || ended(s));
          await watcher.waitUntil(SIMULATOR_DEVICES.ccd, "CCD_EXPOSURE", (v) => v.state === "Busy");

          await setSimulatedWeather(watcher, { precip: 5 });
          const failed = await until(telescope, job, ended);
          assertEquals(failed.Status, "failed");
          assertEquals(failed.Errors, [
            "interrupted: weather alert: WEATHER_RAIN_HOUR (Precip (mm)) on Weather Simulator",
          ]);
          // The 3 s exposure stops at once, not at its end.
          await watcher.waitUntil(SIMULATOR_DEVICES.ccd, "CCD_EXPOSURE", (v) => v.state !== "Busy", {
            timeoutMs: 2000,
          });
          await untilSafe(watcher);
          assert(
            !watcher.getSwitch(DOME, "DOME_AUTOSYNC", "DOME_AUTOSYNC_ENABLE"),
            "the dome no longer follows",
          );
          const night = `${root}/data/${nightDate(new Date(), config.site.longitude)}`;
          assertEquals(
            (await names(night)).filter((name) => name.startsWith(".") || name.includes("rained-out")),
            [],
            "no partial frame",
          );
          const closed = await untilDome(dome, (s) => s.Shutter === "closed");
          assertEquals([closed.Weather, closed.Safe, closed.Open, closed.Parked], [
            "Alert",
            false,
            false,
            true,
          ]);

          await setSimulatedWeather(watcher, { precip: 0 });
          const waiting = await untilDome(dome, (s) => s.Safe === true);
          assert(typeof waiting.ReopenAt === "string", JSON.stringify(waiting));
          assertStringIncludes(
            waiting.Reason as string,
            "closed by the weather (weather alert: WEATHER_RAIN_HOUR",
          );
          const refused = await until(
            dome,
            await send(dome, { ID: "open-too-soon", WOType: "Dome", "Open Shutter": true }),
            ended,
          );
          assertEquals(refused.Status, "failed");
          assertStringIncludes(
            (refused.Errors as string[])[0],
            "Open Shutter refused: closed by the weather",
          );
          // Unparked and open first, then slaved again: the reopen is over when nothing is due any more.
          const reopened = await untilDome(dome, (s) => s.Open === true && s.ReopenAt === null);
          assertEquals([reopened.Shutter, reopened.Parked, reopened.Reason], ["open", false, ""]);
          await watcher.waitUntil(DOME, "DOME_AUTOSYNC", (v) => on(v, "DOME_AUTOSYNC_ENABLE"), {
            timeoutMs: 5000,
          });
          assert(watcher.getSwitch(MOUNT, "TELESCOPE_PARK", "PARK"), "the mount stays parked");
          const health = await (await fetch(`${urlOf(dome)}health`)).json();
          assertEquals(health.dome.Open, true);
          assertEquals(health.indi.connection, "connected");
          assertEquals(
            (health.indi.devices as { device: string; connected: boolean }[]).map((
              d,
            ) => [d.device, d.connected]),
            [[DOME, true], [WEATHER, true], [MOUNT, true]],
          );
        },
      );

      await t.step(
        "with no INDI server an order waits with the reason, and dome_status says the weather is unknown",
        async () => {
          const nowhere = configFor(root, { host: "127.0.0.1", port: freePort() }, "no-server");
          const lost = await startDaemon(domeDaemon, nowhere);
          try {
            const job = await send(lost, { ID: "no-server", WOType: "Dome", "Close Shutter": true });
            const waiting = await until(lost, job, (s) => s.Status === "queued" && !!s.RetryAt, 30_000);
            assertStringIncludes(
              (waiting.Errors as string[])[0],
              `INDI server ${nowhere.dome.indiServer} is not answering`,
            );
            const status = await domeStatus(lost);
            assertEquals([status.Weather, status.Safe, status.Open, status.Shutter], [
              "unknown",
              false,
              false,
              "unknown",
            ]);
            assertStringIncludes(status.Reason as string, "is not connected");
            await callXmlRpc(urlOf(lost), "cancel_job", [job]);
          } finally {
            await lost.stop();
          }
        },
      );

      await t.step(
        "with no telescope service running, an Alert still parks the mount (over INDI)",
        async () => {
          await running.telescope?.stop();
          running.telescope = null;
          config.telescopeAddress.http = `http://127.0.0.1:${freePort()}/`;
          await watcher.setSwitch(MOUNT, "TELESCOPE_PARK", { UNPARK: true });
          assert(!watcher.getSwitch(MOUNT, "TELESCOPE_PARK", "PARK"));
          await setSimulatedWeather(watcher, { wind: 50 });
          const alert = await untilDome(dome, (s) => s.Weather === "Alert");
          assertEquals(alert.Reason, "weather alert: WEATHER_WIND_SPEED (Wind (kph)) on Weather Simulator");
          await untilSafe(watcher);
          const closed = await untilDome(dome, (s) => s.Shutter === "closed" && s.Parked === true);
          assertEquals([closed.Open, closed.Safe], [false, false]);
        },
      );

      await t.step(
        "a telescope service that does not answer in time: the dome parks the mount itself",
        async () => {
          const calls: string[] = [];
          const hang = Promise.withResolvers<void>();
          const silent = Deno.serve(
            { hostname: "127.0.0.1", port: 0, onListen: () => {} },
            async (request) => {
              calls.push(await request.text());
              await hang.promise;
              return new Response("", { status: 503 });
            },
          );
          try {
            config.telescopeAddress.http = `http://127.0.0.1:${silent.addr.port}/`;
            await setSimulatedWeather(watcher, { wind: 0 });
            await untilDome(dome, (s) => s.Safe === true);
            // Within the 3 s before the dome would reopen.
            await watcher.setSwitch(MOUNT, "TELESCOPE_PARK", { UNPARK: true });
            await setSimulatedWeather(watcher, { precip: 5 });
            await watcher.waitUntil(MOUNT, "TELESCOPE_PARK", (v) => v.state === "Ok" && on(v, "PARK"), {
              timeoutMs: MOTION_MS,
            });
            assertEquals(calls.length, 1);
            assertStringIncludes(calls[0], "<methodName>weather_alert</methodName>");
            assertStringIncludes(calls[0], "WEATHER_RAIN_HOUR");
          } finally {
            hang.resolve();
            await silent.shutdown();
          }
        },
      );

      await t.step(
        "the weather station's driver dies: the weather is unknown and the mount is parked",
        async () => {
          await setSimulatedWeather(watcher, { precip: 0 });
          await untilDome(dome, (s) => s.Safe === true);
          await watcher.setSwitch(MOUNT, "TELESCOPE_PARK", { UNPARK: true });
          await server.killDriver(SIMULATORS.weather);
          const unknown = await untilDome(dome, (s) => s.Weather === "unknown");
          assertEquals(unknown.Safe, false);
          assertStringIncludes(unknown.Reason as string, "the weather station cannot be read");
          await untilSafe(watcher);
        },
      );
    } finally {
      await running.telescope?.stop();
      await watcher.close();
      await dome.stop();
      await Deno.remove(root, { recursive: true });
    }
  },
);
