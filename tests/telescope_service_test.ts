/**
 * The telescope service on Debian's INDI simulators (one indiserver for the
 * file, the mount starting parked, exposures at SIM_TIME_FACTOR 0.1): the
 * original Observation order sent by Python's xmlrpc.client ends as a night of
 * stamped frames with its calibration series, reduced by the preprocessor; and
 * the faults, each in job_status with its reason and nothing half-written.
 */
import { assert, assertEquals, assertStringIncludes } from "./_assert.ts";
import { missingPeer, REQUIRE_PEERS, runPython } from "./_peers.ts";
import { type IndiServer, SIMULATOR_DEVICES, SIMULATORS, simulatorTest } from "./_indi.ts";
import { ended, freePort, urlOf, waitForJob } from "./_daemons.ts";
import { defaultConfig, type TorosConfig } from "../lib/config.ts";
import { startDaemon } from "../lib/daemon/mod.ts";
import { readHdus } from "../lib/fits/mod.ts";
import { nightDate } from "../lib/sky/mod.ts";
import { callXmlRpc, type XmlRpcValue } from "../lib/xmlrpc/mod.ts";
import { startPreprocessor } from "../services/preprocessor/serve_command.ts";
import { telescopeDaemon } from "../services/telescope/daemon.ts";

type Struct = Record<string, XmlRpcValue>;

function configFor(root: string, server: { host: string; port: number }, catalog = "toros"): TorosConfig {
  const config = defaultConfig(`${root}/state`);
  config.database = { file: `${root}/${catalog}.sqlite3` };
  config.logging.file = "";
  config.data.roots = [`${root}/data`];
  config.preprocessorAddress = { http: "http://127.0.0.1:0/", ip: "127.0.0.1", port: 0 };
  config.telescopeAddress = { http: "http://127.0.0.1:0/", ip: "127.0.0.1", port: 0 };
  config.telescope = {
    ...config.telescope,
    indiServer: `${server.host}:${server.port}`,
    dataRoot: `${root}/data`,
    retrySeconds: 1,
    calibration: { bias: 2, dark: 2, flat: 2, flatExposure: 1 },
  };
  // The INDI CCD simulator's flats lie near its full well (65,000 ADU): let quality control take them.
  config.reduction = {
    ...config.reduction,
    qualityControl: { ...config.reduction.qualityControl, flatMax: 65535 },
  };
  return config;
}

const until = waitForJob;

/** The Observation order of the original documents, with a short exposure and its calibration frames. */
function originalOrder(id: string, extra: Struct = {}): Struct {
  return {
    ID: id,
    WOType: "Observation",
    "Telescope Name": "CTMO",
    RA: 23.1,
    Dec: 13.2,
    Filter: "I",
    "Exposure Time": 1,
    "Number of Exposures": 2,
    Priority: 1.3,
    Datetime: "2019-03-05T14:34:54.234",
    User: "Main Module",
    "Type of job": "Research",
    "Type of object": "Galaxy",
    "Calibration Frames": "Yes",
    Output: "Analysis",
    ...extra,
  };
}

const PYTHON_OBSERVE = `
import sys, json, time, xmlrpc.client
telescope = xmlrpc.client.ServerProxy(sys.argv[1], allow_none=True)
preprocessor = xmlrpc.client.ServerProxy(sys.argv[2], allow_none=True)
order = json.loads(sys.argv[3])
out = {"answer": telescope.front_desk(order), "steps": []}
def fault(o):
    try:
        telescope.front_desk(o)
    except xmlrpc.client.Fault as f:
        return [f.faultCode, f.faultString]
out["other_telescope"] = fault({**order, "ID": "x1", "Telescope Name": "Hubble"})
out["unknown_filter"] = fault({**order, "ID": "x2", "Filter": "Z"})
out["calibration"] = fault({"ID": "x3", "Request": "Exposure Calibration", "File Location": "/data"})
for _ in range(2400):
    status = telescope.job_status(out["answer"]["Job"])
    if status.get("Step") and status["Step"] not in out["steps"]:
        out["steps"].append(status["Step"])
    if status["Status"] in ("done", "failed", "cancelled"):
        break
    time.sleep(0.05)
out["telescope"] = status
if status.get("PreprocessorJob") is not None:
    for _ in range(2400):
        reduced = preprocessor.job_status(status["PreprocessorJob"])
        if reduced["Status"] in ("done", "failed", "cancelled"):
            break
        time.sleep(0.05)
    out["preprocessor"] = reduced
print(json.dumps(out))
`;

async function names(dir: string): Promise<string[]> {
  const found: string[] = [];
  for await (const entry of Deno.readDir(dir)) found.push(entry.name);
  return found.sort();
}

const pythonMissing = await missingPeer("python");

await simulatorTest(
  "telescope service: an Observation order becomes a calibrated night; faults are reported, nothing half-written",
  { parked: { telescope: true }, ccd: { timeFactor: 0.1, width: 512, height: 512 } },
  async (t, server: IndiServer) => {
    if (pythonMissing && REQUIRE_PEERS) throw new Error(`Peer missing: ${pythonMissing}`);
    const root = await Deno.realPath(await Deno.makeTempDir({ prefix: "toros-telescope-" }));
    await Deno.mkdir(`${root}/data`);
    const config = configFor(root, server);
    const preprocessor = await startPreprocessor(config);
    config.preprocessorAddress.http = urlOf(preprocessor);
    const telescope = await startDaemon(telescopeDaemon, config);
    const night = `${root}/data/${nightDate(new Date(), config.site.longitude)}`;
    const watcher = await server.client();
    try {
      await t.step({
        name: "Python's client: the original order ends as stamped frames, calibration series, reduced night",
        ignore: pythonMissing !== null,
        fn: async () => {
          const out = JSON.parse(
            await runPython(PYTHON_OBSERVE, [
              urlOf(telescope),
              urlOf(preprocessor),
              JSON.stringify(originalOrder("1")),
            ]),
          );
          assertEquals([out.answer.Status, out.answer.Message], ["queued", "Work order received."]);
          assertEquals(out.other_telescope[0], 4);
          assertStringIncludes(
            out.other_telescope[1],
            '"Hubble" is another telescope; this service drives CTMO',
          );
          assertEquals(out.unknown_filter[0], -32602);
          assertStringIncludes(
            out.unknown_filter[1],
            'Work order key "Filter": "Z" is not on the filter wheel',
          );
          assertStringIncludes(out.calibration[1], "handled by the preprocessor service, not the telescope");
          const done = out.telescope;
          assertEquals(done.Status, "done", JSON.stringify(done));
          // Polled every 50 ms, so the quick steps (unparking, handing over) may pass unseen.
          for (const step of ["slewing", "filter I", "exposing 1/2"]) {
            assert(out.steps.includes(step), `step ${step} seen in ${out.steps}`);
          }
          assertEquals(done.Night, night);
          assertEquals(
            (done.Frames as string[]).map((path: string) => path.slice(path.lastIndexOf("/") + 1)),
            [
              "light_1_I_001.fits",
              "light_1_I_002.fits",
              "bias_1_001.fits",
              "bias_1_002.fits",
              "dark_1_1s_001.fits",
              "dark_1_1s_002.fits",
              "flat_1_I_001.fits",
              "flat_1_I_002.fits",
            ],
          );
          const [light] = await readHdus(`${night}/light_1_I_001.fits`);
          const h = light.header;
          assertEquals(
            [h.get("IMAGETYP"), h.get("FILTER"), h.get("WORKORD"), h.get("OBJECT"), h.get("TELESCOP")],
            ["Light Frame", "I", "1", "1", "CTMO"],
          );
          assertEquals([h.get("OBJCTRA"), h.get("OBJCTDEC"), h.get("OBSERVER")], [
            "23:06:00.00",
            "+13:12:00.0",
            "Main Module",
          ]);
          const reduced = out.preprocessor;
          assertEquals(reduced.Status, "done", JSON.stringify(reduced));
          const products = (reduced.Products as string[]).map((p: string) => p.slice(p.lastIndexOf("/") + 1));
          for (const product of ["master_bias.fits", "master_dark_1s.fits", "master_flat_I.fits"]) {
            assert(products.includes(product), `${product} in ${products}`);
          }
          assert(
            products.includes("calib_light_1_I_001.fits") && products.includes("calib_light_1_I_002.fits"),
          );
          const health = await (await fetch(`${urlOf(telescope)}health`)).json();
          assertEquals(health.instruments.connection, "connected");
          const devices = health.instruments.devices as {
            device: string;
            connected: boolean;
            state: string;
          }[];
          assertEquals(devices.map((d) => [d.device, d.connected]), [
            [SIMULATOR_DEVICES.telescope, true],
            [SIMULATOR_DEVICES.ccd, true],
            [SIMULATOR_DEVICES.wheel, true],
          ]);
          assertEquals(devices[0].state, "tracking");
          assertEquals(devices[2].state, "filter I");
        },
      });

      await t.step(
        "cancel_job mid-exposure aborts the exposure at once and leaves no partial file",
        async () => {
          const { Job: job } = await callXmlRpc(urlOf(telescope), "front_desk", [
            originalOrder("cancel", {
              "Exposure Time": 30,
              "Number of Exposures": 5,
              "Calibration Frames": "No",
            }),
          ]) as Struct;
          await until(urlOf(telescope), job, (s) => s.Step === "exposing 1/5");
          await watcher.waitUntil(SIMULATOR_DEVICES.ccd, "CCD_EXPOSURE", (v) => v.state === "Busy");
          const cancelled = await callXmlRpc(urlOf(telescope), "cancel_job", [job]) as Struct;
          assertEquals(cancelled.Status, "cancelled");
          // The camera stops exposing without waiting out the 3 s exposure.
          await watcher.waitUntil(SIMULATOR_DEVICES.ccd, "CCD_EXPOSURE", (v) => v.state !== "Busy", {
            timeoutMs: 2000,
          });
          while (telescope.runner?.current) await new Promise((resolve) => setTimeout(resolve, 20));
          const left = await names(night);
          assertEquals(left.filter((name) => name.startsWith(".")), [], "no temporary file");
          assertEquals(left.filter((name) => name.includes("cancel")), [], "no frame of the cancelled order");
        },
      );

      await t.step("a slew the mount stops ends the job failed with the driver's reason", async () => {
        // Far from where the mount points, so the slew lasts long enough to be stopped.
        const { Job: job } = await callXmlRpc(urlOf(telescope), "front_desk", [
          originalOrder("slew", { RA: 11.1, Dec: -40, "Calibration Frames": "No" }),
        ]) as Struct;
        await until(urlOf(telescope), job, (s) => s.Step === "slewing");
        await watcher.waitUntil(
          SIMULATOR_DEVICES.telescope,
          "EQUATORIAL_EOD_COORD",
          (v) => v.state === "Busy",
        );
        await watcher.setSwitch(SIMULATOR_DEVICES.telescope, "TELESCOPE_ABORT_MOTION", { ABORT: true });
        const failed = await until(urlOf(telescope), job, ended);
        assertEquals(failed.Status, "failed");
        assertStringIncludes((failed.Errors as string[])[0], "EQUATORIAL_EOD_COORD");
        assertEquals((await names(night)).filter((name) => name.includes("slew")), []);
      });

      await t.step("a device that does not exist fails the job naming it and the devices there", async () => {
        const wrong = configFor(root, server, "wrong-device");
        wrong.telescope = { ...wrong.telescope, camera: "Missing CCD" };
        const daemon = await startDaemon(telescopeDaemon, wrong);
        try {
          const { Job: job } = await callXmlRpc(urlOf(daemon), "front_desk", [
            originalOrder("nodevice"),
          ]) as Struct;
          const failed = await until(urlOf(daemon), job, ended, 60_000);
          assertEquals(failed.Status, "failed");
          assertStringIncludes((failed.Errors as string[])[0], 'INDI device "Missing CCD" does not exist');
          assertStringIncludes((failed.Errors as string[])[0], SIMULATOR_DEVICES.ccd);
        } finally {
          await daemon.stop();
        }
      });

      await t.step(
        "with no INDI server running the job waits with a clear reason and tries again",
        async () => {
          const nowhere = configFor(root, { host: "127.0.0.1", port: freePort() }, "no-server");
          const daemon = await startDaemon(telescopeDaemon, nowhere);
          try {
            const { Job: job } = await callXmlRpc(urlOf(daemon), "front_desk", [
              originalOrder("noserver"),
            ]) as Struct;
            const waiting = await until(
              urlOf(daemon),
              job,
              (s) => s.Status === "queued" && !!s.RetryAt,
              60_000,
            );
            assertStringIncludes((waiting.Errors as string[])[0], "is not answering");
            assertStringIncludes((waiting.Errors as string[])[0], "is indiserver running?");
            const again = await until(urlOf(daemon), job, (s) => (s.Attempts as number) >= 2, 60_000);
            assert(again.Status !== "failed", "it keeps waiting, it does not fail");
            await callXmlRpc(urlOf(daemon), "cancel_job", [job]);
          } finally {
            await daemon.stop();
          }
        },
      );

      await t.step(
        "weather_alert stops the exposure at once, fails the job as interrupted and parks the mount",
        async () => {
          const { Job: job } = await callXmlRpc(urlOf(telescope), "front_desk", [
            originalOrder("weather", {
              "Exposure Time": 30,
              "Number of Exposures": 3,
              "Calibration Frames": "No",
            }),
          ]) as Struct;
          await until(urlOf(telescope), job, (s) => s.Step === "exposing 1/3");
          await watcher.waitUntil(SIMULATOR_DEVICES.ccd, "CCD_EXPOSURE", (v) => v.state === "Busy");
          const alert = await callXmlRpc(urlOf(telescope), "weather_alert", ["rain"]) as Struct;
          assertEquals(alert, { Interrupted: job, Parking: true });
          const failed = await until(urlOf(telescope), job, ended);
          assertEquals([failed.Status, failed.Errors], ["failed", ["interrupted: rain"]]);
          assert((failed.History as string[]).some((line) => line.endsWith("interrupted: rain")));
          await watcher.waitUntil(SIMULATOR_DEVICES.ccd, "CCD_EXPOSURE", (v) => v.state !== "Busy", {
            timeoutMs: 2000,
          });
          await watcher.waitUntil(
            SIMULATOR_DEVICES.telescope,
            "TELESCOPE_PARK",
            (v) =>
              v.state === "Ok" && watcher.getSwitch(SIMULATOR_DEVICES.telescope, "TELESCOPE_PARK", "PARK"),
            { timeoutMs: 60_000 },
          );
          assertEquals(
            (await names(night)).filter((name) => name.startsWith(".") || name.includes("weather")),
            [],
          );
        },
      );

      await t.step(
        "the camera's driver killed mid-exposure fails the job with the reason, no partial file",
        async () => {
          const { Job: job } = await callXmlRpc(urlOf(telescope), "front_desk", [
            originalOrder("killed", {
              "Exposure Time": 30,
              "Number of Exposures": 3,
              "Calibration Frames": "No",
            }),
          ]) as Struct;
          await until(urlOf(telescope), job, (s) => s.Step === "exposing 1/3");
          await watcher.waitUntil(SIMULATOR_DEVICES.ccd, "CCD_EXPOSURE", (v) => v.state === "Busy");
          await server.killDriver(SIMULATORS.ccd);
          const failed = await until(urlOf(telescope), job, ended);
          assertEquals(failed.Status, "failed", JSON.stringify(failed));
          assertStringIncludes((failed.Errors as string[])[0], SIMULATOR_DEVICES.ccd);
          const left = await names(night);
          assertEquals(left.filter((name) => name.startsWith(".") || name.includes("killed")), []);
        },
      );
    } finally {
      await watcher.close();
      await telescope.stop();
      await preprocessor.stop();
      await Deno.remove(root, { recursive: true });
    }
  },
);
