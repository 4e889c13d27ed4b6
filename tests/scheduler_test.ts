/**
 * The scheduler: its priority policy, and a night on Debian's INDI simulators
 * rehearsed at a dark hour at the site (`--at`): three Observation orders of
 * different priorities run in priority order once the telescope is there, one
 * whose target never rises above the limit is said to be unobservable with the
 * reason, the nights are calibrated by the preprocessor, and `toros jobs`
 * tells each order's story.
 */
import { assert, assertEquals, assertStringIncludes } from "./_assert.ts";
import { missingPeer, REQUIRE_PEERS, runPython } from "./_peers.ts";
import { type IndiServer, simulatorTest } from "./_indi.ts";
import { freePort, urlOf, waitForJob } from "./_daemons.ts";
import { defaultConfig, type TorosConfig } from "../lib/config.ts";
import { type RunningDaemon, startDaemon } from "../lib/daemon/mod.ts";
import { parseWorkOrder } from "../lib/work_order.ts";
import { callXmlRpc, type XmlRpcValue } from "../lib/xmlrpc/mod.ts";
import { startPreprocessor } from "../services/preprocessor/serve_command.ts";
import { assignPriority, effectivePriority } from "../services/scheduler/policy.ts";
import { schedulerDaemon } from "../services/scheduler/daemon.ts";
import { telescopeDaemon } from "../services/telescope/daemon.ts";

type Struct = Record<string, XmlRpcValue>;

const MAIN = new URL("../main.ts", import.meta.url).pathname;

/** A dark hour at the default site (25.99 N, 97.57 W): 22:00 local, Moon down. */
const DARK_HOUR = new Date("2026-12-01T04:00:00Z");

Deno.test("the priority policy: a given Priority is kept; else Type of job and User, plus aging while waiting", () => {
  const policy = defaultConfig("/s").scheduler.priorityPolicy;
  const observation = (extra: Record<string, unknown>) =>
    parseWorkOrder({
      ID: "p",
      WOType: "Observation",
      "Telescope Name": "CTMO",
      RA: 1,
      Dec: 2,
      Filter: "V",
      "Exposure Time": 1,
      "Number of Exposures": 1,
      ...extra,
    }, { accepts: ["observation"], service: "scheduler" });
  assertEquals(assignPriority(observation({ Priority: 2.5 }), policy), {
    priority: 2.5,
    reason: "given with the order",
  });
  assertEquals(assignPriority(observation({ "Type of job": "target of opportunity" }), policy), {
    priority: 9,
    reason: "Type of job target of opportunity: 9",
  });
  assertEquals(
    assignPriority(observation({ "Type of job": "Unheard of" }), policy).priority,
    5,
    "the default",
  );
  const withUsers = { ...policy, users: { "Main Module": 2 } };
  assertEquals(assignPriority(observation({ "Type of job": "Research", User: "main module" }), withUsers), {
    priority: 7,
    reason: "Type of job Research: 5, User main module: +2",
  });
  assertEquals(
    assignPriority(observation({ "Type of job": "Target of Opportunity", User: "Main Module" }), withUsers)
      .priority,
    10,
    "never above 10",
  );
  const calibration = parseWorkOrder({ ID: "c", Request: "Exposure Calibration", "File Location": "/n" });
  assertEquals(assignPriority(calibration, policy).priority, 3);
  assertEquals(effectivePriority(4, 2 * 3_600_000, policy), 5, "two hours at 0.5 an hour");
  assertEquals(effectivePriority(9, 10 * 3_600_000, policy), 10);
});

function configFor(root: string, server: { host: string; port: number }): TorosConfig {
  const config = defaultConfig(`${root}/state`);
  config.database = { file: `${root}/toros.sqlite3` };
  config.logging.file = "";
  config.data.roots = [`${root}/data`];
  for (
    const address of ["preprocessorAddress", "telescopeAddress", "schedulerAddress", "domeAddress"] as const
  ) {
    config[address] = { http: "http://127.0.0.1:0/", ip: "127.0.0.1", port: 0 };
  }
  config.telescope = {
    ...config.telescope,
    indiServer: `${server.host}:${server.port}`,
    dataRoot: `${root}/data`,
    retrySeconds: 1,
    calibration: { bias: 2, dark: 2, flat: 2, flatExposure: 1 },
  };
  config.scheduler = { ...config.scheduler, cycleSeconds: 0.5, useDome: false };
  return config;
}

function observation(id: string, target: [number, number], extra: Struct = {}): Struct {
  return {
    ID: id,
    WOType: "Observation",
    "Telescope Name": "CTMO",
    RA: target[0],
    Dec: target[1],
    Filter: "V",
    "Exposure Time": 1,
    "Number of Exposures": 1,
    User: "Main Module",
    "Calibration Frames": "No",
    Output: "Analysis",
    ...extra,
  };
}

const until = waitForJob;

const PYTHON_SUBMIT = `
import sys, json, xmlrpc.client
s = xmlrpc.client.ServerProxy(sys.argv[1], allow_none=True)
print(json.dumps([s.front_desk(order) for order in json.loads(sys.argv[2])]))
`;

const pythonMissing = await missingPeer("python");

await simulatorTest(
  "scheduler: a rehearsed night runs in priority order, says what it cannot observe, and tells each story",
  {
    drivers: ["indi_simulator_telescope", "indi_simulator_ccd", "indi_simulator_wheel"],
    ccd: { timeFactor: 0.1, width: 512, height: 512 },
  },
  async (t, server: IndiServer) => {
    if (pythonMissing && REQUIRE_PEERS) throw new Error(`Peer missing: ${pythonMissing}`);
    const root = await Deno.realPath(await Deno.makeTempDir({ prefix: "toros-scheduler-" }));
    await Deno.mkdir(`${root}/data`);
    const config = configFor(root, server);
    const preprocessor = await startPreprocessor(config);
    config.preprocessorAddress.http = urlOf(preprocessor);
    // The telescope's address is known before it runs: the scheduler finds it not answering, then there.
    const telescopePort = freePort();
    config.telescopeAddress = {
      http: `http://127.0.0.1:${telescopePort}/`,
      ip: "127.0.0.1",
      port: telescopePort,
    };
    const scheduler = await startDaemon(schedulerDaemon, config, { at: DARK_HOUR });
    let telescope: RunningDaemon | null = null;
    try {
      await t.step({
        name: "orders wait while the telescope is away, then run by priority; the impossible one says why",
        ignore: pythonMissing !== null,
        fn: async () => {
          const orders = [
            observation("monitor-m31", [0.712, 41.27], { "Type of job": "Monitoring" }), // policy: 4
            observation("urgent-m33", [1.564, 30.66], { Priority: 8, "Calibration Frames": "Yes" }),
            observation("research-m45", [3.79, 24.1], { Priority: 5 }),
            observation("south-pole", [3, -80], { Priority: 9 }),
          ];
          const answers = JSON.parse(
            await runPython(PYTHON_SUBMIT, [urlOf(scheduler), JSON.stringify(orders)]),
          );
          const jobs = answers.map((answer: Struct) => answer.Job as number);
          // The best waits for the telescope; the others wait their turn behind it.
          const [monitor, urgent, research] = jobs;
          await until(urlOf(scheduler), urgent, (s) => s.State === "waiting for the telescope service");
          for (const job of [monitor, research]) {
            const waiting = await until(urlOf(scheduler), job, (s) => s.State === "waiting its turn");
            assertStringIncludes(waiting.Reason as string, "behind urgent-m33");
          }
          const impossible = await until(
            urlOf(scheduler),
            jobs[3],
            (s) => s.State === "unobservable tonight",
          );
          assertEquals(impossible.Status, "queued");
          assertStringIncludes(impossible.Reason as string, "never above 30°");
          assertEquals((await callXmlRpc(urlOf(scheduler), "job_status", [jobs[0]]) as Struct).Priority, 4);
          telescope = await startDaemon(telescopeDaemon, {
            ...config,
            telescopeAddress: config.telescopeAddress,
          });
          const done: Struct[] = [];
          for (const job of jobs.slice(0, 3)) {
            done.push(
              await until(urlOf(scheduler), job, (s) => ["done", "failed"].includes(s.Status as string)),
            );
          }
          for (const status of done) assertEquals(status.Status, "done", JSON.stringify(status));
          // Run in priority order: urgent (8), research (5), monitor (4): by the telescope's own start times.
          const started: [string, string][] = [];
          for (const status of done) {
            const there = await callXmlRpc(urlOf(telescope!), "job_status", [status.ServiceJob]) as Struct;
            started.push([status.ID as string, there.Started as string]);
          }
          started.sort((a, b) => a[1].localeCompare(b[1]));
          assertEquals(started.map(([id]) => id), ["urgent-m33", "research-m45", "monitor-m31"]);
          for (const status of done) {
            assertEquals([status.Service, status.State], ["telescope", "calibrated"]);
            const reduced = await callXmlRpc(urlOf(preprocessor), "job_status", [
              status.PreprocessorJob,
            ]) as Struct;
            assertEquals(reduced.Status, "done");
          }
          const stillImpossible = await callXmlRpc(urlOf(scheduler), "job_status", [jobs[3]]) as Struct;
          assertEquals([stillImpossible.Status, stillImpossible.State], ["queued", "unobservable tonight"]);
        },
      });

      await t.step({
        name: "toros jobs pointed at the scheduler lists every order and tells one's story",
        ignore: pythonMissing !== null,
        fn: async () => {
          const run = async (...args: string[]) => {
            const out = await new Deno.Command(Deno.execPath(), {
              args: ["run", "--allow-all", MAIN, "jobs", "--url", urlOf(scheduler), ...args],
              stdout: "piped",
              stderr: "piped",
            }).output();
            return new TextDecoder().decode(out.stdout);
          };
          const list = await run();
          assertStringIncludes(list, "urgent-m33  telescope job");
          assertStringIncludes(list, "south-pole  unobservable tonight (never above 30°");
          const story = await run("urgent-m33");
          for (
            const line of [
              "prioritised: 8 (given with the order)",
              "waiting for the telescope service",
              "dispatched to the telescope as its job",
              ": exposing 1/1",
              ": calibration frames: bias 1/2",
              "calibrating as preprocessor job",
              ": done",
              "calibrated: ",
            ]
          ) {
            assertStringIncludes(story, line);
          }
        },
      });

      await t.step("a calibration order sent to the scheduler goes to the preprocessor at once", async () => {
        const night = (await Array.fromAsync(Deno.readDir(`${root}/data`))).find((entry) =>
          entry.isDirectory
        )!.name;
        const { Job: job } = await callXmlRpc(urlOf(scheduler), "front_desk", [
          {
            ID: "calibrate-again",
            Request: "Exposure Calibration",
            "File Location": `${root}/data/${night}`,
          },
        ]) as Struct;
        const done = await until(urlOf(scheduler), job, (s) => s.Status === "done");
        assertEquals([done.Service, done.Priority], ["preprocessor", 3]);
        assert(typeof done.ServiceJob === "number");
      });
    } finally {
      await scheduler.stop();
      if (telescope) await (telescope as RunningDaemon).stop();
      await preprocessor.stop();
      await Deno.remove(root, { recursive: true });
    }
  },
);
