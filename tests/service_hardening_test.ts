/**
 * What a hostile probe of the preprocessor found, each as a test that failed on
 * the code before the fix: a queued night swapped for a symlink out of the data
 * roots, an `<i8>` beyond 2^53 in a work order, /health telling strangers where
 * the catalog is, and (as the unprivileged user the installed unit runs as) an
 * unreadable night accepted and an unreadable frame failing its whole night.
 */
import { assert, assertEquals, assertStringIncludes } from "./_assert.ts";
import { missingPeer, peerTest, REQUIRE_PEERS, runPython } from "./_peers.ts";
import { giveToUnprivileged, missingUnprivileged, spawnUnprivileged } from "./_service_user.ts";
import { freePort } from "./_daemons.ts";
import { defaultConfig, type TorosConfig } from "../lib/config.ts";
import { simulateNight } from "../services/preprocessor/simulate.ts";
import { type RunningService, startPreprocessor } from "../services/preprocessor/serve_command.ts";
import { callXmlRpc, type XmlRpcValue } from "../lib/xmlrpc/mod.ts";

type Struct = Record<string, XmlRpcValue>;

async function tempRoot(prefix: string): Promise<string> {
  return await Deno.realPath(await Deno.makeTempDir({ prefix }));
}

function configFor(root: string, token: string | null = null): TorosConfig {
  const config = defaultConfig(`${root}/state`);
  config.preprocessorAddress = { http: "http://127.0.0.1:0/", ip: "127.0.0.1", port: 0 };
  config.data.roots = [`${root}/data`];
  config.logging.file = "";
  config.security.token = token;
  return config;
}

async function waitForEnd(url: string, job: number): Promise<Struct> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const status = await callXmlRpc(url, "job_status", [job]) as Struct;
    if (["done", "failed", "cancelled"].includes(status.Status as string)) return status;
    if (Date.now() > deadline) throw new Error(`job ${job} did not end: ${JSON.stringify(status)}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

function urlOf(service: RunningService): string {
  return `http://127.0.0.1:${service.port}/`;
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch {
    return false;
  }
}

Deno.test("a queued night swapped for a symlink out of the data roots is refused when its job runs", async () => {
  const root = await tempRoot("toros-swap-");
  const config = configFor(root);
  const night = `${root}/data/2026-11-25`;
  const productsNight = `${root}/data/2026-11-26`;
  await simulateNight(night, { size: 16, bias: 2, darks: 2, flatsPerFilter: 2, lights: 2 });
  await simulateNight(productsNight, { size: 16, bias: 2, darks: 0, flatsPerFilter: 0, lights: 1 });
  await Deno.mkdir(`${root}/outside`);
  // Accepted while the directories are real, and left in the queue (no job runner yet).
  let service = await startPreprocessor(config, { runJobs: false });
  const orders = [
    { ID: "swapped", WOType: "Calibration", "File Location": night },
    { ID: "products-link", WOType: "Calibration", "File Location": productsNight },
  ];
  const jobs: number[] = [];
  for (const order of orders) {
    jobs.push((await callXmlRpc(urlOf(service), "front_desk", [order]) as Struct).Job as number);
  }
  await service.stop();
  // The night is moved out of the roots and a symlink left in its place; the other night's
  // products directory becomes a symlink to a directory outside.
  await Deno.rename(night, `${root}/outside/moved`);
  await Deno.symlink(`${root}/outside/moved`, night);
  await Deno.mkdir(`${root}/outside/products`);
  await Deno.symlink(`${root}/outside/products`, `${productsNight}/products`);
  service = await startPreprocessor(config);
  try {
    const swapped = await waitForEnd(urlOf(service), jobs[0]);
    assertEquals(swapped.Status, "failed", JSON.stringify(swapped));
    assertStringIncludes(String((swapped.Errors as string[])[0]), "outside the data roots");
    assertEquals(await exists(`${root}/outside/moved/products`), false, "nothing written outside the roots");
    const linked = await waitForEnd(urlOf(service), jobs[1]);
    assertEquals(linked.Status, "failed", JSON.stringify(linked));
    assertStringIncludes(String((linked.Errors as string[])[0]), "symbolic link");
    assertEquals([...Deno.readDirSync(`${root}/outside/products`)].length, 0, "no product through the link");
  } finally {
    await service.stop();
    await Deno.remove(root, { recursive: true });
  }
});

/** A methodCall of front_desk whose struct members are raw XML values. */
function frontDeskBody(members: Record<string, string>): string {
  const xml = Object.entries(members)
    .map(([name, value]) => `<member><name>${name}</name><value>${value}</value></member>`)
    .join("");
  return `<?xml version="1.0"?><methodCall><methodName>front_desk</methodName><params><param><value><struct>${xml}` +
    `</struct></value></param></params></methodCall>`;
}

Deno.test("an <i8> beyond 2^53 in a work order is stored digit for digit; as Priority it is refused naming the key", async () => {
  const root = await tempRoot("toros-i8-");
  const config = configFor(root);
  const night = `${root}/data/2026-11-25`;
  await Deno.mkdir(night, { recursive: true });
  const service = await startPreprocessor(config, { runJobs: false });
  try {
    const post = async (body: string) => {
      const response = await fetch(urlOf(service), { method: "POST", body });
      return await response.text();
    };
    const accepted = await post(frontDeskBody({
      ID: "<i8>9223372036854775807</i8>",
      WOType: "<string>Calibration</string>",
      "File Location": `<string>${night}</string>`,
      Sequence: "<i8>-9007199254740993</i8>",
      Small: "<i8>42</i8>",
    }));
    assert(!accepted.includes("<fault>"), accepted);
    const job = await service.store.getJobByWorkOrderId("9223372036854775807");
    assert(job, "the job is found by the full 64-bit ID");
    const order = job.workOrder as Record<string, unknown>;
    assertEquals(order.Sequence, "-9007199254740993", "beyond 2^53: kept as its digits");
    assertEquals(order.Small, 42, "within 2^53: a number");
    const refused = await post(frontDeskBody({
      ID: "<string>big-priority</string>",
      WOType: "<string>Calibration</string>",
      "File Location": `<string>${night}</string>`,
      Priority: "<i8>9223372036854775807</i8>",
    }));
    assertStringIncludes(refused, "<int>-32602</int>");
    assertStringIncludes(refused, 'Work order key "Priority"');
  } finally {
    await service.stop();
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("/health without the token answers status, version, uptime and queue depth only", async () => {
  const root = await tempRoot("toros-health-");
  const token = "health-s3cret";
  const service = await startPreprocessor(configFor(root, token), { runJobs: false });
  try {
    const anonymous = await (await fetch(`${urlOf(service)}health`)).json();
    assertEquals(Object.keys(anonymous).sort(), [
      "queueDepth",
      "service",
      "status",
      "uptimeSeconds",
      "version",
    ]);
    assertEquals(anonymous.status, "ok");
    for (const authorization of [`Bearer ${token}`, `Basic ${btoa(`toros:${token}`)}`]) {
      const detailed = await (await fetch(`${urlOf(service)}health`, { headers: { authorization } })).json();
      assertEquals(detailed.database, "ok", authorization);
      assertStringIncludes(detailed.databaseBackend, "sqlite:");
      assert("running" in detailed && "jobs" in detailed);
    }
    const wrong =
      await (await fetch(`${urlOf(service)}health`, { headers: { authorization: "Bearer nope-nope" } }))
        .json();
    assertEquals("databaseBackend" in wrong, false, "a wrong token gets the short answer");
  } finally {
    await service.stop();
    await Deno.remove(root, { recursive: true });
  }
});

const PYTHON_UNREADABLE = `
import sys, json, time, xmlrpc.client
url = sys.argv[1]
s = xmlrpc.client.ServerProxy(url, allow_none=True)
out = {"refused": []}
for i, location in enumerate(sys.argv[3:]):
    try:
        s.front_desk({"ID": "locked-%d" % i, "WOType": "Calibration", "File Location": location})
        out["refused"].append(None)
    except xmlrpc.client.Fault as f:
        out["refused"].append([f.faultCode, f.faultString])
job = s.front_desk({"ID": "one-bad-frame", "WOType": "Calibration", "File Location": sys.argv[2]})["Job"]
for _ in range(1200):
    status = s.job_status(job)
    if status["Status"] in ("done", "failed", "cancelled"):
        break
    time.sleep(0.05)
out["status"] = status
print(json.dumps(out))
`;

async function registerUnprivileged(name: string, fn: () => Promise<void>): Promise<void> {
  const reason = await missingUnprivileged() ?? await missingPeer("python");
  if (reason && !REQUIRE_PEERS) {
    console.warn(`SKIP ${name}: ${reason}`);
    Deno.test({ name: `${name} (skipped: ${reason})`, ignore: true, fn });
    return;
  }
  await peerTest(name, ["python"], async () => {
    if (reason) throw new Error(`Cannot run the service unprivileged and TOROS_REQUIRE_PEERS=1: ${reason}`);
    await fn();
  });
}

await registerUnprivileged(
  "as the service user: an unreadable night is refused at the front desk, an unreadable frame is skipped",
  async () => {
    const root = await tempRoot("toros-perm-");
    const port = freePort();
    const url = `http://127.0.0.1:${port}/`;
    const night = `${root}/data/2026-11-27`;
    await simulateNight(night, { size: 16, bias: 2, darks: 2, flatsPerFilter: 2, lights: 3 });
    for (const [name, mode] of [["locked-000", 0o000], ["locked-0311", 0o311]] as const) {
      await Deno.mkdir(`${root}/data/${name}`);
      await simulateNight(`${root}/data/${name}`, {
        size: 8,
        bias: 1,
        darks: 0,
        flatsPerFilter: 0,
        lights: 0,
      });
      await Deno.chmod(`${root}/data/${name}`, mode);
    }
    await Deno.writeTextFile(
      `${root}/toros.conf.yaml`,
      `Preprocessor Address: {HTTP: "${url}", IP: 127.0.0.1, Port: ${port}}
Logging: {File: ${root}/state/toros.log, Log Level: INFO}
Database: {File: ${root}/state/toros.sqlite3}
Data: {Roots: [${root}/data]}
`,
    );
    await Deno.mkdir(`${root}/state`);
    await giveToUnprivileged(root);
    // Owned by the service user, the modes still keep it out (as they would a non-owner).
    await Deno.chmod(`${night}/light_001.fits`, 0o000);
    for (const [name, mode] of [["locked-000", 0o000], ["locked-0311", 0o311]] as const) {
      await Deno.chmod(`${root}/data/${name}`, mode);
    }
    await Deno.chmod(root, 0o755);
    const daemon = await spawnUnprivileged(
      ["serve", "preprocessor", "--config", `${root}/toros.conf.yaml`],
      root,
    );
    try {
      const deadline = Date.now() + 60_000;
      while (!(await fetch(`${url}health`).then((r) => (r.body?.cancel(), r.ok)).catch(() => false))) {
        if (Date.now() > deadline) throw new Error("the unprivileged service did not start");
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      const out = JSON.parse(
        await runPython(PYTHON_UNREADABLE, [
          url,
          night,
          `${root}/data/locked-000`,
          `${root}/data/locked-0311`,
        ]),
      );
      for (const fault of out.refused) {
        assert(fault !== null, "an unreadable night is refused at the front desk");
        assertEquals(fault[0], 2);
        assertStringIncludes(fault[1], "cannot be read by the service (permission denied)");
      }
      assertEquals(out.status.Status, "done", JSON.stringify(out.status));
      const errors = out.status.Errors as string[];
      assert(
        errors.some((error) => error === "light_001.fits skipped: cannot be read (permission denied)"),
        JSON.stringify(errors),
      );
      const products = (out.status.Products as string[]).map((path) => path.slice(path.lastIndexOf("/") + 1));
      assert(
        products.includes("calib_light_002.fits") && products.includes("master_bias.fits"),
        products.join(),
      );
      assertEquals(products.includes("calib_light_001.fits"), false);
    } finally {
      daemon.kill("SIGTERM");
      const stderr = new TextDecoder().decode((await daemon.output()).stderr);
      assertEquals(stderr.includes("Uncaught"), false, `the service crashed:\n${stderr}`);
      await Deno.chmod(`${root}/data/locked-000`, 0o755).catch(() => {});
      await Deno.chmod(`${root}/data/locked-0311`, 0o755).catch(() => {});
      await Deno.remove(root, { recursive: true });
    }
  },
);
