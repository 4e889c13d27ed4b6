/**
 * The whole observatory on Debian's INDI simulators, every daemon in one
 * process and one catalog (preprocessor, telescope, dome, scheduler), the
 * scheduler rehearsing a dark hour at the site: the scheduler opens the dome
 * and sends an Observation on; rain mid-exposure aborts the exposure, closes
 * the shutter and parks the mount, and the scheduler queues the order again;
 * once the weather has been clear long enough the dome reopens and the same
 * order completes, its night calibrated, no frame taken twice.
 */
import { assert, assertEquals, assertStringIncludes } from "./_assert.ts";
import { setSimulatedWeather, SIMULATOR_DEVICES, simulatorTest } from "./_indi.ts";
import { freePort, urlOf, waitForJob } from "./_daemons.ts";
import { defaultConfig, type TorosConfig } from "../lib/config.ts";
import { startDaemon } from "../lib/daemon/mod.ts";
import { callXmlRpc, type XmlRpcValue } from "../lib/xmlrpc/mod.ts";
import { startPreprocessor } from "../services/preprocessor/serve_command.ts";
import { domeDaemon } from "../services/dome/daemon.ts";
import { schedulerDaemon } from "../services/scheduler/daemon.ts";
import { telescopeDaemon } from "../services/telescope/daemon.ts";

type Struct = Record<string, XmlRpcValue>;

/** A dark hour at the default site (22:00 local, Moon down). */
const DARK_HOUR = new Date("2026-12-01T04:00:00Z");
/** Longer than any motion of the simulators. */
const MOTION_MS = 90_000;

/** One config for the whole observatory, every daemon on its own free port. */
function observatory(root: string, server: { host: string; port: number }): TorosConfig {
  const config = defaultConfig(`${root}/state`);
  config.database = { file: `${root}/toros.sqlite3` };
  config.logging.file = "";
  config.data.roots = [`${root}/data`];
  for (
    const address of ["preprocessorAddress", "telescopeAddress", "schedulerAddress", "domeAddress"] as const
  ) {
    const port = freePort();
    config[address] = { http: `http://127.0.0.1:${port}/`, ip: "127.0.0.1", port };
  }
  const indiServer = `${server.host}:${server.port}`;
  config.telescope = { ...config.telescope, indiServer, dataRoot: `${root}/data`, retrySeconds: 1 };
  config.dome = {
    ...config.dome,
    indiServer,
    reopenAfterMinutes: 0.05,
    telescopeTimeout: 5,
    retrySeconds: 1,
  };
  config.scheduler = { ...config.scheduler, cycleSeconds: 0.5, useDome: true };
  return config;
}

function until(url: string, job: XmlRpcValue, done: (s: Struct) => boolean, timeoutMs = MOTION_MS) {
  return waitForJob(url, job, done, timeoutMs);
}

await simulatorTest(
  "observatory: rain mid-exposure closes the dome and parks the mount; the order is queued again and completes",
  { parked: { telescope: true, dome: true }, ccd: { timeFactor: 0.1, width: 512, height: 512 } },
  async (t, server) => {
    const root = await Deno.realPath(await Deno.makeTempDir({ prefix: "toros-observatory-" }));
    await Deno.mkdir(`${root}/data`);
    const config = observatory(root, server);
    const watcher = await server.client();
    for (const device of Object.values(SIMULATOR_DEVICES)) await watcher.waitForDevice(device);
    await watcher.connectDevice(SIMULATOR_DEVICES.weather);
    await watcher.waitForProperty(SIMULATOR_DEVICES.weather, "WEATHER_CONTROL");
    await setSimulatedWeather(watcher, { precip: 0, wind: 0, gust: 0, forecast: 0, temperature: 10 });
    const preprocessor = await startPreprocessor(config);
    const telescope = await startDaemon(telescopeDaemon, config);
    const dome = await startDaemon(domeDaemon, config);
    const scheduler = await startDaemon(schedulerDaemon, config, { at: DARK_HOUR });
    try {
      const order = {
        ID: "rainy-m33",
        WOType: "Observation",
        "Telescope Name": "CTMO",
        RA: 1.564,
        Dec: 30.66,
        Filter: "V",
        "Exposure Time": 20,
        "Number of Exposures": 3,
        "Calibration Frames": "No",
        Output: "Analysis",
        User: "Main Module",
      };
      const { Job: job } = await callXmlRpc(urlOf(scheduler), "front_desk", [order]) as Struct;
      let telescopeJob = 0;

      await t.step("the scheduler has the dome opened, then sends the order to the telescope", async () => {
        const sent = await until(urlOf(scheduler), job, (s) => s.Service === "telescope");
        telescopeJob = sent.ServiceJob as number;
        const dome = watcher.getSwitch(SIMULATOR_DEVICES.dome, "DOME_SHUTTER", "SHUTTER_OPEN");
        assert(dome, "the shutter was opened before the observation went");
      });

      await t.step(
        "rain mid-exposure: the exposure stops, shutter closed, mount parked, the order queued again",
        async () => {
          await until(urlOf(telescope), telescopeJob, (s) => s.Step === "exposing 2/3");
          await watcher.waitUntil(SIMULATOR_DEVICES.ccd, "CCD_EXPOSURE", (v) => v.state === "Busy");
          await setSimulatedWeather(watcher, { precip: 5 });
          const interrupted = await until(urlOf(telescope), telescopeJob, (s) => s.Status === "failed");
          assertStringIncludes((interrupted.Errors as string[])[0], "interrupted: weather alert");
          await watcher.waitUntil(SIMULATOR_DEVICES.ccd, "CCD_EXPOSURE", (v) => v.state !== "Busy", {
            timeoutMs: 5000,
          });
          await watcher.waitUntil(
            SIMULATOR_DEVICES.dome,
            "DOME_SHUTTER",
            (v) =>
              v.state === "Ok" && watcher.getSwitch(SIMULATOR_DEVICES.dome, "DOME_SHUTTER", "SHUTTER_CLOSE"),
            { timeoutMs: MOTION_MS },
          );
          await watcher.waitUntil(
            SIMULATOR_DEVICES.telescope,
            "TELESCOPE_PARK",
            (v) =>
              v.state === "Ok" && watcher.getSwitch(SIMULATOR_DEVICES.telescope, "TELESCOPE_PARK", "PARK"),
            { timeoutMs: MOTION_MS },
          );
          const waiting = await until(urlOf(scheduler), job, (s) => s.State === "waiting for the weather");
          assertEquals(waiting.Status, "queued");
          assertStringIncludes(waiting.Reason as string, "weather alert: WEATHER_RAIN_HOUR");
          assert(
            (waiting.History as string[]).some((line) =>
              /interrupted: weather alert.*; queued again$/.test(line)
            ),
            (waiting.History as string[]).join("\n"),
          );
        },
      );

      await t.step(
        "clear weather: the dome reopens and the same order completes, no frame taken twice",
        async () => {
          await setSimulatedWeather(watcher, { precip: 0 });
          const done = await until(
            urlOf(scheduler),
            job,
            (s) => ["done", "failed"].includes(s.Status as string),
          );
          assertEquals([done.Status, done.State, done.ServiceJob], ["done", "calibrated", telescopeJob]);
          const observed = await callXmlRpc(urlOf(telescope), "job_status", [telescopeJob]) as Struct;
          const frames = (observed.Frames as string[]).map((path) => path.slice(path.lastIndexOf("/") + 1));
          assertEquals(frames, [
            "light_rainy-m33_V_001.fits",
            "light_rainy-m33_V_002.fits",
            "light_rainy-m33_V_003.fits",
          ]);
          const night = observed.Night as string;
          const onDisk = [...Deno.readDirSync(night)].map((entry) => entry.name).filter((name) =>
            name.startsWith("light")
          );
          assertEquals(onDisk.sort(), frames, "exactly the order's frames, none twice, none partial");
          const story = (done.History as string[]).map((line) => line.slice(line.indexOf(" ") + 1));
          for (
            const expected of [
              "dispatched to the telescope as its job",
              "interrupted: weather alert",
              "queued again",
              "waiting for the weather",
              "calibrated: ",
            ]
          ) {
            assert(
              story.some((line) => line.includes(expected)),
              `"${expected}" in the story:\n${story.join("\n")}`,
            );
          }
        },
      );
    } finally {
      await scheduler.stop();
      await dome.stop();
      await telescope.stop();
      await preprocessor.stop();
      await watcher.close();
      await Deno.remove(root, { recursive: true });
    }
  },
);
