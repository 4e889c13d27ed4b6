/**
 * The preprocessor service end to end: Python's xmlrpc.client sends the original
 * work orders, hostile orders get clean faults and touch nothing, the page and
 * /health answer.
 */
import { assert, assertEquals, assertStringIncludes } from "./_assert.ts";
import { peerTest, runPython } from "./_peers.ts";
import { defaultConfig, type TorosConfig } from "../lib/config.ts";
import { simulateNight } from "../services/preprocessor/simulate.ts";
import { startPreprocessor } from "../services/preprocessor/serve_command.ts";
import { callXmlRpc, type XmlRpcValue } from "../lib/xmlrpc/mod.ts";

async function setup(token: string | null = null, allowedNetworks: string[] = []) {
  const root = await Deno.realPath(await Deno.makeTempDir({ prefix: "toros-service-" }));
  const dataRoot = `${root}/data`;
  await Deno.mkdir(dataRoot);
  const config: TorosConfig = defaultConfig(`${root}/state`);
  config.preprocessorAddress = { http: "http://127.0.0.1:0/", ip: "127.0.0.1", port: 0 };
  config.data.roots = [dataRoot];
  config.logging.file = "";
  config.security.token = token;
  config.security.allowedNetworks = allowedNetworks;
  const service = await startPreprocessor(config);
  return { root, dataRoot, config, service, url: `http://127.0.0.1:${service.port}/` };
}

const PYTHON_FRONT_DESK = `
import sys, json, time, xmlrpc.client
url, night, outside = sys.argv[1], sys.argv[2], sys.argv[3]
s = xmlrpc.client.ServerProxy(url, allow_none=True)
out = {}
order = {"ID": "night-1", "Request": "Exposure Calibration", "File Location": night}
out["first"] = s.front_desk(order)
out["again"] = s.front_desk(order)
out["same_night"] = s.front_desk({"ID": "night-1b", "WOType": "Calibration", "File Location": "file://" + night, "Priority": None})
def fault(o):
    try:
        s.front_desk(o)
        return None
    except xmlrpc.client.Fault as f:
        return [f.faultCode, f.faultString]
out["observation"] = fault({"ID": "1", "WOType": "Observation", "Telescope Name": "CTMO", "RA": 23.1, "Dec": 13.2,
    "Filter": "I", "Exposure Time": 30.0, "Number of Exposures": 1, "Priority": 1.3,
    "Datetime": "2019-03-05T14:34:54.234", "User": "Main Module"})
out["dome"] = fault({"ID": "1", "WOType": "Dome", "Priority": 2, "Datetime": "2019-03-05T14:34:54.234", "User": "John Doe", "Blink01": True})
bad = {"ID": "b", "WOType": "Calibration", "File Location": night}
out["bad"] = {
  "ID": fault({**bad, "ID": [1]}),
  "WOType": fault({**bad, "WOType": 5}),
  "Priority": fault({**bad, "Priority": "urgent"}),
  "Datetime": fault({**bad, "Datetime": "tomorrow"}),
  "User": fault({**bad, "User": 12}),
  "File Location": fault({**bad, "File Location": 3.5}),
  "not a struct": fault("hello"),
}
out["outside"] = [fault({**bad, "ID": k, "File Location": loc}) for k, loc in [
  ("o1", night + "/../.."), ("o2", outside), ("o3", "file:///etc"), ("o4", "/etc/passwd"), ("o5", night + "/../../escape")]]
for _ in range(600):
    status = s.job_status(out["first"]["Job"])
    if status["Status"] in ("done", "failed", "cancelled"):
        break
    time.sleep(0.1)
out["status"] = status
out["by_id"] = s.job_status("night-1")["Job"]
out["list"] = [j["Job"] for j in s.list_jobs({"Status": "done"})]
try:
    s.job_status(999)
except xmlrpc.client.Fault as f:
    out["missing_job"] = f.faultCode
print(json.dumps(out))
`;

await peerTest("Python's xmlrpc.client: the original work orders, resubmission, faults naming keys, roots", [
  "python",
], async () => {
  const { root, dataRoot, service, url } = await setup();
  try {
    const night = `${dataRoot}/2026-11-24`;
    await simulateNight(night, { size: 32, bias: 3, darks: 3, flatsPerFilter: 3, lights: 2 });
    // A night outside the roots, reachable through a symlink inside them.
    const outsideNight = `${root}/outside-night`;
    await simulateNight(outsideNight, { size: 16, bias: 1, darks: 0, flatsPerFilter: 0, lights: 1 });
    await Deno.symlink(outsideNight, `${dataRoot}/sneaky`);
    const out = JSON.parse(await runPython(PYTHON_FRONT_DESK, [url, night, `${dataRoot}/sneaky`]));
    assertEquals(out.first, { ID: "night-1", Job: 1, Status: "queued", Message: "Work order received." });
    assertEquals(out.again.Job, 1);
    assertStringIncludes(out.again.Message, "already received");
    assertEquals(out.same_night.Job, 1, "the same night while queued or running is the same job");
    assertEquals(out.observation[0], 1);
    assertStringIncludes(out.observation[1], "telescope service");
    assertStringIncludes(out.dome[1], "dome service");
    for (const [key, fault] of Object.entries(out.bad) as [string, [number, string]][]) {
      assertEquals(fault[0], -32602, key);
      if (key !== "not a struct") assertStringIncludes(fault[1], `Work order key "${key}"`);
    }
    for (const fault of out.outside as [number, string][]) {
      assertEquals(fault[0], 2, fault[1]);
      assert(/outside the data roots|does not exist|not a directory/.test(fault[1]), fault[1]);
    }
    assertEquals(out.status.Status, "done", JSON.stringify(out.status));
    assertEquals(out.status.Progress, 1);
    assertEquals(out.status.Products.length, 6, "the masters, the bad-pixel map and the lights");
    assertEquals(out.by_id, 1);
    assertEquals(out.list, [1]);
    assertEquals(out.missing_job, 3);
    // Nothing was written outside the roots.
    assertEquals([...Deno.readDirSync(outsideNight)].some((e) => e.name === "products"), false);
    // The page and the health check.
    const page = await (await fetch(url)).text();
    assertStringIncludes(page, "TOROS Preprocessor Service");
    for (const method of ["front_desk", "job_status", "list_jobs", "cancel_job", "system.multicall"]) {
      assertStringIncludes(page, method);
    }
    assertStringIncludes(page, "night-1");
    const health = await (await fetch(`${url}health`)).json();
    assertEquals([health.status, health.database, health.queueDepth, health.jobs.done], ["ok", "ok", 0, 1]);
  } finally {
    await service.stop();
    await Deno.remove(root, { recursive: true });
  }
});

await peerTest("with a token, ServerProxy('http://user:token@host') works and anonymous calls get 401", [
  "python",
], async () => {
  const { root, service, url } = await setup("s3cret-token");
  try {
    const authed = url.replace("http://", "http://toros:s3cret-token@");
    const methods = await runPython(
      "import sys,xmlrpc.client;print(len(xmlrpc.client.ServerProxy(sys.argv[1]).system.listMethods()))",
      [
        authed,
      ],
    );
    assertEquals(Number(methods.trim()), 8);
    const response = await fetch(url, { method: "POST", body: "<methodCall/>" });
    await response.body?.cancel();
    assertEquals(response.status, 401);
    assertEquals(await fetch(`${url}health`).then(async (r) => (await r.body?.cancel(), r.status)), 200);
  } finally {
    await service.stop();
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("/health needs no token but keeps the network restriction", async () => {
  const { root, service, url } = await setup("s3cret-token", ["10.0.0.0/8"]);
  try {
    const health = await fetch(`${url}health`);
    assertEquals(health.status, 403);
    assertStringIncludes(await health.text(), "127.0.0.1 is not in the allowed networks");
  } finally {
    await service.stop();
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("while requests keep the desk busy the reduction gives way, and its job still completes", async () => {
  const { root, dataRoot, service, url } = await setup();
  try {
    const night = `${dataRoot}/2026-11-25`;
    await simulateNight(night, { size: 256, bias: 5, darks: 5, flatsPerFilter: 5, lights: 12 });
    let health = await (await fetch(`${url}health`)).json();
    assertEquals(health.reductionYield, { sharePercent: 25, naps: 0, seconds: 0 });
    const answer = await callXmlRpc(url, "front_desk", [{
      ID: "busy-1",
      WOType: "Calibration",
      "File Location": night,
    }]) as Record<string, XmlRpcValue>;
    // Eight clients ask for the job's status as fast as they can until it ends.
    let status: Record<string, XmlRpcValue> = {};
    const client = async () => {
      for (let i = 0; i < 100_000; i++) {
        status = await callXmlRpc(url, "job_status", [answer.Job]) as Record<string, XmlRpcValue>;
        if (status.Status !== "queued" && status.Status !== "running") return;
      }
    };
    await Promise.all(Array.from({ length: 8 }, client));
    assertEquals(status.Status, "done", JSON.stringify(status));
    assertEquals((status.Products as string[]).length, 1 + 1 + 1 + 1 + 12, "masters, bad-pixel map, lights");
    health = await (await fetch(`${url}health`)).json();
    assert(health.reductionYield.naps > 0, JSON.stringify(health.reductionYield));
    assert(health.reductionYield.seconds > 0, JSON.stringify(health.reductionYield));
  } finally {
    await service.stop();
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("cancel_job cancels a queued job and list_jobs filters by status", async () => {
  const { root, dataRoot, config, service } = await setup();
  await service.stop();
  // A service that only takes orders (no runner), so the job stays queued.
  const idle = await startPreprocessor(config, { runJobs: false });
  const url = `http://127.0.0.1:${idle.port}/`;
  try {
    await Deno.mkdir(`${dataRoot}/n1`);
    const answer = await callXmlRpc(url, "front_desk", [{
      ID: "q1",
      WOType: "Calibration",
      "File Location": `${dataRoot}/n1`,
    }]) as Record<
      string,
      XmlRpcValue
    >;
    assertEquals((await callXmlRpc(url, "list_jobs", ["queued"]) as XmlRpcValue[]).length, 1);
    const cancelled = await callXmlRpc(url, "cancel_job", [answer.Job]) as Record<string, XmlRpcValue>;
    assertEquals(cancelled.Status, "cancelled");
    assertEquals((await callXmlRpc(url, "list_jobs", [{ Status: "queued" }]) as XmlRpcValue[]).length, 0);
  } finally {
    await idle.stop();
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test({
  name: "the reduction threads run at the configured nice value while the front desk keeps its own",
  ignore: Deno.build.os !== "linux",
  fn: async () => {
    const { root, dataRoot, service, url } = await setup();
    try {
      const night = `${dataRoot}/2026-11-27`;
      await simulateNight(night, { size: 32, bias: 3, darks: 3, flatsPerFilter: 3, lights: 2 });
      const answer = await callXmlRpc(url, "front_desk", [{
        ID: "nice-1",
        WOType: "Calibration",
        "File Location": night,
      }]) as Record<string, XmlRpcValue>;
      let status: Record<string, XmlRpcValue> = {};
      for (let i = 0; i < 300 && status.Status !== "done"; i++) {
        status = await callXmlRpc(url, "job_status", [answer.Job]) as Record<string, XmlRpcValue>;
        if (status.Status !== "done") await new Promise((resolve) => setTimeout(resolve, 50));
      }
      assertEquals(status.Status, "done");
      // /proc/self/task/TID/stat: field 19 is the nice value (after the command name in parentheses).
      const nice: number[] = [];
      for (const task of Deno.readDirSync("/proc/self/task")) {
        const stat = Deno.readTextFileSync(`/proc/self/task/${task.name}/stat`);
        nice.push(Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[16]));
      }
      const { getPriority } = await import("node:os");
      assertEquals(getPriority(), 0, "the thread answering XML-RPC keeps nice 0");
      // The reduction thread and its pixel workers (one per core) at the default nice 10.
      const lowered = nice.filter((n) => n === 10).length;
      assert(
        lowered >= 1 + Math.min(2, navigator.hardwareConcurrency),
        `threads at nice 10: ${lowered} of ${nice}`,
      );
    } finally {
      await service.stop();
      await Deno.remove(root, { recursive: true });
    }
  },
});
