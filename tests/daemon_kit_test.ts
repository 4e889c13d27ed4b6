/**
 * The daemon kit: a toy service declared in a test gets the front desk, job
 * methods, queue with priorities, /health, cancellation and SIGTERM handling,
 * and shares one catalog with the preprocessor without either seeing the
 * other's jobs.
 */
import { assert, assertEquals, assertStringIncludes } from "./_assert.ts";
import { defaultConfig, type TorosConfig } from "../lib/config.ts";
import { type RunningDaemon, startDaemon } from "../lib/daemon/mod.ts";
import { callXmlRpc, XmlRpcFault, type XmlRpcValue } from "../lib/xmlrpc/mod.ts";
import { openStore } from "../lib/store/mod.ts";
import { startPreprocessor } from "../services/preprocessor/serve_command.ts";
import { backgroundTicks, stoppedAt, toyDaemon } from "./fixtures/toy_daemon.ts";

type Struct = Record<string, XmlRpcValue>;

const TOY = new URL("./fixtures/toy_daemon.ts", import.meta.url).pathname;

async function tempRoot(): Promise<string> {
  return await Deno.realPath(await Deno.makeTempDir({ prefix: "toros-kit-" }));
}

function configFor(root: string): TorosConfig {
  const config = defaultConfig(`${root}/state`);
  config.preprocessorAddress = { http: "http://127.0.0.1:0/", ip: "127.0.0.1", port: 0 };
  config.data.roots = [root];
  config.logging.file = "";
  return config;
}

function urlOf(daemon: RunningDaemon): string {
  return `http://127.0.0.1:${daemon.port}/`;
}

function order(id: string, extra: Struct = {}): Struct {
  return { ID: id, WOType: "Calibration", "File Location": "/anywhere", ...extra };
}

async function until(url: string, job: number, statuses: string[], timeoutMs = 20_000): Promise<Struct> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    // A daemon that is starting does not answer yet.
    const status = await callXmlRpc(url, "job_status", [job]).then(
      (s) => s as Struct,
      (e): Struct => ({ Error: String(e) }),
    );
    if (statuses.includes(status.Status as string)) return status;
    if (Date.now() > deadline) {
      throw new Error(`job ${job} never became ${statuses}: ${JSON.stringify(status)}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

Deno.test("a toy service declared to the kit gets the front desk, job methods, priorities and /health", async () => {
  const root = await tempRoot();
  const config = configFor(root);
  // Queue first, with no runner, so the priorities decide the order the jobs run in.
  let daemon = await startDaemon(toyDaemon, config, { runJobs: false });
  try {
    const url = urlOf(daemon);
    const low = await callXmlRpc(url, "front_desk", [order("low", { Steps: 2 })]) as Struct;
    const urgent = await callXmlRpc(url, "front_desk", [
      order("urgent", { Steps: 2, User: "urgent" }),
    ]) as Struct;
    assertEquals([low.Status, low.Message], ["queued", "Work order received."]);
    const again = await callXmlRpc(url, "front_desk", [order("low")]) as Struct;
    assertEquals(again.Job, low.Job, "the same ID again is the same job");
    const refused = await callXmlRpc(url, "front_desk", [{ ID: "o", WOType: "Observation" }]).catch((e) => e);
    assert(refused instanceof XmlRpcFault);
    assertEquals(refused.code, 1);
    assertStringIncludes(refused.message, "handled by the telescope service, not the toy");
    const invalid = await callXmlRpc(url, "front_desk", [order("bad", { Priority: 11 })]).catch((e) => e);
    assertEquals((invalid as XmlRpcFault).code, -32602);
    const methods = await callXmlRpc(url, "system.listMethods", []) as string[];
    for (const method of ["front_desk", "job_status", "list_jobs", "cancel_job"]) {
      assert(methods.includes(method));
    }
    const page = await (await fetch(url)).text();
    assertStringIncludes(page, "Toy Service");
    assertStringIncludes(page, "urgent");
    await daemon.stop();
    daemon = await startDaemon(toyDaemon, config);
    const urlNow = urlOf(daemon);
    const first = await until(urlNow, urgent.Job as number, ["done"]);
    const second = await until(urlNow, low.Job as number, ["done"]);
    assertEquals([first.Priority, second.Priority], [9, 2], "the service assigned the priorities");
    assert(first.Finished! <= second.Started!, "the urgent job ran first");
    assertEquals([first.Progress, first.Counted], [1, 2], "the service's own fields");
    assertEquals(
      (await callXmlRpc(urlNow, "job_status", [String(low.Job)]) as Struct).ID,
      "low",
      "a job number sent as a string finds the job",
    );
    const listed = await callXmlRpc(urlNow, "list_jobs", ["done"]) as Struct[];
    assertEquals(listed.map((job) => job.ID), ["urgent", "low"], "newest first");
    const health = await (await fetch(`${urlNow}health`)).json();
    assertEquals([health.service, health.status, health.toy, health.jobs.done], ["toy", "ok", "details", 2]);
    const story = (await callXmlRpc(urlNow, "job_status", [low.Job]) as Struct).History as string[];
    assertEquals(story.map((line) => line.slice(line.indexOf(" ") + 1)), [
      "received (priority 2)",
      "started",
      "done",
    ]);
  } finally {
    await daemon.stop();
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("cancel_job stops a running job at once, not at its next heartbeat", async () => {
  const root = await tempRoot();
  // With a 10-minute lease the first heartbeat, which would also notice, comes after 200 s.
  const daemon = await startDaemon(toyDaemon, configFor(root), { leaseMs: 600_000 });
  try {
    const url = urlOf(daemon);
    const steps = 2000;
    const { Job: job } = await callXmlRpc(url, "front_desk", [order("long", { Steps: steps })]) as Struct;
    await until(url, job as number, ["running"]);
    const cancelled = await callXmlRpc(url, "cancel_job", [job]) as Struct;
    assertEquals(cancelled.Status, "cancelled");
    while (daemon.runner?.current) await new Promise((resolve) => setTimeout(resolve, 5));
    const stepsRun = stoppedAt.get(job as number);
    assert(
      stepsRun !== undefined && stepsRun < steps,
      `the handler stopped early (at step ${stepsRun} of ${steps})`,
    );
    assertEquals((await callXmlRpc(url, "job_status", [job]) as Struct).Status, "cancelled");
  } finally {
    await daemon.stop();
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("SIGTERM: the toy daemon stops its job, puts it back in the queue and exits 0; restarted, it finishes", async () => {
  const root = await tempRoot();
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  const configPath = `${root}/toros.conf.yaml`;
  await Deno.writeTextFile(
    configPath,
    `Preprocessor Address: {HTTP: "http://127.0.0.1:${port}/", IP: 127.0.0.1, Port: ${port}}
Logging: {File: null}
Database: {File: ${root}/toros.sqlite3}
`,
  );
  const url = `http://127.0.0.1:${port}/`;
  const start = () =>
    new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-all", TOY, "toy"],
      env: { TOROS_CONFIG: configPath },
      stdout: "null",
      stderr: "null",
    }).spawn();
  let child = start();
  try {
    let job = 0;
    const deadline = Date.now() + 30_000;
    while (!job) {
      try {
        job = (await callXmlRpc(url, "front_desk", [order("sigterm", { Steps: 100 })]) as Struct)
          .Job as number;
      } catch {
        if (Date.now() > deadline) throw new Error("the toy daemon did not start");
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }
    await until(url, job, ["running"]);
    child.kill("SIGTERM");
    const { code } = await child.status;
    assertEquals(code, 0);
    const store = await openStore({ file: `${root}/toros.sqlite3` });
    const back = await store.getJobByWorkOrderId("sigterm", "toy");
    await store.close();
    assertEquals([back?.status, back?.service], ["queued", "toy"], "the job went back to the queue");
    child = start();
    const done = await until(url, job, ["done"], 30_000);
    assertEquals([done.Status, done.Counted, done.Attempts], ["done", 100, 2]);
  } finally {
    try {
      child.kill("SIGTERM");
    } catch { /* already gone */ }
    await child.status;
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("a handler that cannot run yet defers its job: queued with the reason and a retry time, then done", async () => {
  const root = await tempRoot();
  const daemon = await startDaemon(toyDaemon, configFor(root));
  try {
    const url = urlOf(daemon);
    const { Job: job } = await callXmlRpc(url, "front_desk", [
      order("later", { Steps: 1, Defer: 1 }),
    ]) as Struct;
    const waiting = await until(url, job as number, ["queued", "done"]);
    if (waiting.Status === "queued") {
      assertEquals(waiting.Errors, ["the toy device is not there yet"]);
      assert(typeof waiting.RetryAt === "string");
    }
    const done = await until(url, job as number, ["done"]);
    assertEquals([done.Status, done.Attempts, done.Errors], ["done", 2, []]);
  } finally {
    await daemon.stop();
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("an interrupted job fails as such; the same order sent again queues the same job again, which finishes", async () => {
  const root = await tempRoot();
  const daemon = await startDaemon(toyDaemon, configFor(root));
  try {
    const url = urlOf(daemon);
    const sent = order("stormy", { Steps: 40 });
    const { Job: job } = await callXmlRpc(url, "front_desk", [sent]) as Struct;
    await until(url, job as number, ["running"]);
    assertEquals(await callXmlRpc(url, "interrupt", ["rain"]), { Interrupted: job });
    const failed = await until(url, job as number, ["failed"]);
    assertEquals(failed.Errors, ["interrupted: rain"]);
    const again = await callXmlRpc(url, "front_desk", [sent]) as Struct;
    assertEquals([again.Job, again.Status], [job, "queued"]);
    assertStringIncludes(again.Message as string, "was interrupted and is queued again");
    const done = await until(url, job as number, ["done"]);
    assertEquals([done.Attempts, done.Errors], [2, []]);
    const story = (done.History as string[]).map((line) => line.slice(line.indexOf(" ") + 1));
    assertEquals(story, [
      "received (priority 2)",
      "started",
      "interrupted: rain",
      "sent again after the interruption: queued again",
      "started (attempt 2)",
      "done",
    ]);
    const plain = await callXmlRpc(url, "front_desk", [sent]) as Struct;
    assertStringIncludes(plain.Message as string, "already received", "a done job is not run again");
  } finally {
    await daemon.stop();
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("two daemons share one catalog: the same ID in each is two jobs, and neither sees the other's", async () => {
  const root = await tempRoot();
  await Deno.mkdir(`${root}/2026-11-24`);
  const config = configFor(root);
  const toy = await startDaemon(toyDaemon, config, { runJobs: false });
  const preprocessor = await startPreprocessor(config, { runJobs: false });
  try {
    const toyJob = await callXmlRpc(urlOf(toy), "front_desk", [order("17")]) as Struct;
    const calibration = await callXmlRpc(urlOf(preprocessor), "front_desk", [
      { ID: "17", Request: "Exposure Calibration", "File Location": `${root}/2026-11-24` },
    ]) as Struct;
    assert(toyJob.Job !== calibration.Job);
    assertEquals(
      (await callXmlRpc(urlOf(preprocessor), "list_jobs", []) as Struct[]).map((job) => job.Job),
      [calibration.Job],
    );
    const foreign = await callXmlRpc(urlOf(preprocessor), "job_status", [toyJob.Job]).catch((e) => e);
    assertEquals((foreign as XmlRpcFault).code, 3, "another service's job number is no job of ours");
    assertEquals((await callXmlRpc(urlOf(toy), "job_status", ["17"]) as Struct).Job, toyJob.Job);
    const health = await (await fetch(`${urlOf(preprocessor)}health`)).json();
    assertEquals(health.queueDepth, 1, "each daemon counts its own queue");
  } finally {
    await toy.stop();
    await preprocessor.stop();
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("toros serve --list names every daemon the binary runs; an unknown one is a usage error", async () => {
  const run = async (...args: string[]) => {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-all", new URL("../main.ts", import.meta.url).pathname, "serve", ...args],
      stdout: "piped",
      stderr: "piped",
    }).output();
    return {
      code: out.code,
      stdout: new TextDecoder().decode(out.stdout),
      stderr: new TextDecoder().decode(out.stderr),
    };
  };
  const listed = await run("--list");
  assertEquals(listed.code, 0);
  assertEquals(listed.stdout.trim().split("\n"), [
    "preprocessor",
    "telescope",
    "dome",
    "scheduler",
    "worker",
  ]);
  const unknown = await run("nope");
  assertEquals(unknown.code, 2);
  assertStringIncludes(
    unknown.stderr,
    "Unknown service 'nope' (expected preprocessor, telescope, dome, scheduler, worker)",
  );
});

Deno.test("a rehearsal clock starts where --at says and runs at real speed; background loops stop with the daemon", async () => {
  const root = await tempRoot();
  const daemon = await startDaemon(toyDaemon, configFor(root), { at: new Date("2026-12-01T03:00:00Z") });
  let stopped = false;
  try {
    const health = await (await fetch(`${urlOf(daemon)}health`)).json();
    const clock = Date.parse(health.clock);
    assert(
      clock >= Date.parse("2026-12-01T03:00:00Z") && clock < Date.parse("2026-12-01T03:01:00Z"),
      health.clock,
    );
    while (backgroundTicks.count < 3) await new Promise((resolve) => setTimeout(resolve, 10));
    await daemon.stop();
    stopped = true;
    const after = backgroundTicks.count;
    await new Promise((resolve) => setTimeout(resolve, 50));
    assertEquals(backgroundTicks.count, after, "the background loop stopped with the daemon");
  } finally {
    if (!stopped) await daemon.stop();
    await Deno.remove(root, { recursive: true });
  }
});
