/**
 * Several hosts, one catalog, on one machine: three hosts as network
 * namespaces (each with its own host name, a veth link into a bridge on
 * 10.213.7.0/24), a PostgreSQL server of the test's own listening on the
 * bridge, the preprocessor's front desk leaving the pixels to others, and one
 * `toros serve worker` in each namespace sharing the data directory.
 *
 * A 60-light night: every task runs exactly once, each host runs some, the
 * products equal ccdproc's. A second 60-light night: one worker is killed
 * (SIGKILL) in the middle of a task and another host's link is cut in the
 * middle of one; the night still completes, the lost tasks run again on the
 * host left, no row is duplicated, no file torn, and once the cut-off host is
 * back on the network it changes nothing.
 *
 * Runs as root (CI does); otherwise it is skipped with the reason, or fails
 * under TOROS_REQUIRE_PEERS=1. Namespaces, links, the bridge, the worker
 * processes and the PostgreSQL server are removed however the test ends.
 */
import { assert, assertEquals } from "./_assert.ts";
import { peerTest, postgresBinDir, PYTHON } from "./_peers.ts";
import { defaultConfig } from "../lib/config.ts";
import { type RunningDaemon, startDaemon } from "../lib/daemon/mod.ts";
import { readHdus, readImage, verifyChecksums } from "../lib/fits/mod.ts";
import { openStore, type Store, type TaskRecord } from "../lib/store/mod.ts";
import { callXmlRpc, type XmlRpcValue } from "../lib/xmlrpc/mod.ts";
import { simulateNight } from "../services/preprocessor/simulate.ts";
import { preprocessorDaemon } from "../services/preprocessor/daemon.ts";
import { inspectFrame, listFrameFiles, type RawFrame } from "../services/preprocessor/ingest.ts";
import { planNightTasks } from "../services/preprocessor/night_tasks.ts";
import { REDUCTION_STAGES } from "../services/preprocessor/pipeline.ts";

const MAIN = new URL("../main.ts", import.meta.url).pathname;
const CCDPROC = new URL("../bench/ccdproc_reduce.py", import.meta.url).pathname;
const SUBNET = "10.213.7";
const BRIDGE_IP = `${SUBNET}.1`;
const PG_PORT = 54329;
const HOSTS = ["host1", "host2", "host3"];
const NIGHT = { size: 128, bias: 3, darks: 3, flatsPerFilter: 3, lights: 60, filters: ["V", "R"] };

async function run(cmd: string, args: string[], options: { check?: boolean } = {}): Promise<string> {
  const out = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  if (!out.success && options.check !== false) throw new Error(`${cmd} ${args.join(" ")} failed: ${text}`);
  return text;
}

async function until<T>(what: string, fn: () => Promise<T | null>, timeoutMs = 90_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await fn();
    if (value !== null) return value;
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** What the test builds, to take down whatever happens. */
interface Site {
  tag: string;
  root: string;
  bridge: string;
  namespaces: string[];
  links: string[];
  pgData: string | null;
  pgBin: string;
  workers: Map<string, Deno.ChildProcess>;
}

async function buildNetwork(site: Site): Promise<void> {
  await run("ip", ["link", "add", site.bridge, "type", "bridge"]);
  await run("ip", ["addr", "add", `${BRIDGE_IP}/24`, "dev", site.bridge]);
  await run("ip", ["link", "set", site.bridge, "up"]);
  for (const [i, host] of HOSTS.entries()) {
    const ns = `toros-${site.tag}-${host}`;
    const link = `tv${site.tag}h${i + 1}`;
    await run("ip", ["netns", "add", ns]);
    site.namespaces.push(ns);
    await run("ip", ["link", "add", link, "type", "veth", "peer", "name", "eth0", "netns", ns]);
    site.links.push(link);
    await run("ip", ["link", "set", link, "master", site.bridge]);
    await run("ip", ["link", "set", link, "up"]);
    await run("ip", ["-n", ns, "addr", "add", `${SUBNET}.${11 + i}/24`, "dev", "eth0"]);
    await run("ip", ["-n", ns, "link", "set", "eth0", "up"]);
    await run("ip", ["-n", ns, "link", "set", "lo", "up"]);
  }
}

async function startPostgres(site: Site): Promise<string> {
  const data = `${site.root}/pg`;
  await Deno.mkdir(data);
  await run("chown", ["postgres:postgres", data]);
  const as = (args: string[]) => run("runuser", ["-u", "postgres", "--", ...args]);
  await as([`${site.pgBin}/initdb`, "-D", data, "-A", "trust", "-U", "postgres", "--no-sync"]);
  await Deno.writeTextFile(`${data}/pg_hba.conf`, `host all all ${SUBNET}.0/24 trust\n`, { append: true });
  site.pgData = data;
  await as([
    `${site.pgBin}/pg_ctl`,
    "-D",
    data,
    "-l",
    `${data}/server.log`,
    "-w",
    "-o",
    `-c listen_addresses=${BRIDGE_IP} -p ${PG_PORT} -k ${data} -c fsync=off -c max_connections=60`,
    "start",
  ]);
  return `postgres://postgres@${BRIDGE_IP}:${PG_PORT}/postgres`;
}

function startWorker(site: Site, host: string, config: string): void {
  const ns = site.namespaces[HOSTS.indexOf(host)];
  // A host name of its own (a UTS namespace), as a real host has: the catalog names tasks' hosts by it.
  const child = new Deno.Command("ip", {
    args: [
      "netns",
      "exec",
      ns,
      "unshare",
      "--uts",
      "sh",
      "-c",
      `hostname ${host} && exec "${Deno.execPath()}" run -A "${MAIN}" serve worker --config "${config}" ` +
      `>> "${site.root}/${host}.log" 2>&1`,
    ],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  site.workers.set(host, child);
}

async function takeDown(site: Site): Promise<void> {
  for (const child of site.workers.values()) {
    try {
      child.kill("SIGKILL");
    } catch { /* already gone */ }
    await child.status.catch(() => {});
  }
  if (site.pgData) {
    await run("runuser", [
      "-u",
      "postgres",
      "--",
      `${site.pgBin}/pg_ctl`,
      "-D",
      site.pgData,
      "-m",
      "immediate",
      "-w",
      "stop",
    ], { check: false });
  }
  for (const ns of site.namespaces) await run("ip", ["netns", "del", ns], { check: false });
  for (const link of site.links) await run("ip", ["link", "del", link], { check: false });
  await run("ip", ["link", "del", site.bridge], { check: false });
  await Deno.remove(site.root, { recursive: true }).catch(() => {});
}

async function submit(rpc: string, id: string, night: string): Promise<number> {
  const answer = await callXmlRpc(rpc, "front_desk", [{
    ID: id,
    Request: "Exposure Calibration",
    "File Location": night,
  }]) as Record<string, XmlRpcValue>;
  return answer.Job as number;
}

async function finished(rpc: string, job: number): Promise<Record<string, XmlRpcValue>> {
  return await until(`job ${job} to end`, async () => {
    const status = await callXmlRpc(rpc, "job_status", [job]) as Record<string, XmlRpcValue>;
    return ["done", "failed", "cancelled"].includes(String(status.Status)) ? status : null;
  });
}

async function framesOf(night: string): Promise<RawFrame[]> {
  const frames: RawFrame[] = [];
  for (const name of await listFrameFiles(night)) {
    const file = await inspectFrame(night, name);
    if (file.frame) frames.push(file.frame);
  }
  return frames;
}

const hostOf = (task: TaskRecord) => task.workerId?.slice(0, task.workerId.lastIndexOf(":")) ?? "";

/**
 * Every product of the night whole: its checksums right, and the catalog's checksum its own; one file and one
 * row for each of the job's products.
 */
async function assertWhole(store: Store, night: string, products: string[]): Promise<Map<string, string>> {
  const dir = `${night}/products`;
  const names = [...Deno.readDirSync(dir)].map((entry) => entry.name);
  assertEquals(
    names.filter((name) => name.startsWith(".") && name !== ".previews"),
    [],
    "nothing half-done left",
  );
  const files = names.filter((name) => name.endsWith(".fits")).map((name) => `${dir}/${name}`).sort();
  assertEquals(files, [...products].sort(), "the job's products, each once");
  const nightId = (await store.getNight(night))!.id;
  const rows = await store.listProducts({ nightId });
  assertEquals(rows.map((row) => row.path).sort(), files, "one row per product");
  const checksums = new Map<string, string>();
  for (const row of rows) {
    const [hdu] = await readHdus(row.path);
    const bytes = await Deno.readFile(row.path);
    const sums = verifyChecksums(
      bytes.subarray(0, hdu.dataOffset),
      bytes.subarray(hdu.dataOffset),
      hdu.header,
    );
    assertEquals(sums, { datasumOk: true, checksumOk: true }, row.path);
    assertEquals(
      hdu.header.getString("CHECKSUM"),
      row.checksum,
      `${row.path}: the file the catalog recorded`,
    );
    checksums.set(row.path, row.checksum!);
  }
  return checksums;
}

await peerTest(
  "three hosts as network namespaces share a 60-light night through PostgreSQL; a worker killed and a host cut off mid-task change nothing",
  ["netns", "ccdproc"],
  async () => {
    const started = performance.now();
    const tag = crypto.randomUUID().slice(0, 4);
    const site: Site = {
      tag,
      root: await Deno.realPath(await Deno.makeTempDir({ prefix: "toros-netns-" })),
      bridge: `tb${tag}`,
      namespaces: [],
      links: [],
      pgData: null,
      pgBin: (await postgresBinDir())!,
      workers: new Map(),
    };
    let desk: RunningDaemon | null = null;
    let store: Store | null = null;
    try {
      await Deno.chmod(site.root, 0o755);
      await buildNetwork(site);
      const url = await startPostgres(site);
      const data = `${site.root}/data`;
      const nights = [`${data}/2026-11-24`, `${data}/2026-11-25`];
      await simulateNight(nights[0], { ...NIGHT, seed: 5 });
      await simulateNight(nights[1], { ...NIGHT, seed: 6, date: "2026-11-25" });
      const config = `${site.root}/toros.conf.yaml`;
      // Slow bands on one pixel thread each: a task lasts long enough to be interrupted in its middle.
      await Deno.writeTextFile(
        config,
        `Database: {URL: "${url}"}
Data: {Roots: [${data}]}
Logging: {File: null, Log Level: INFO}
Reduction: {Workers: 1, Band Rows: 2, Niceness: 0}
`,
      );
      for (const host of HOSTS) startWorker(site, host, config);

      // The front desk, here, leaves every pixel to the workers.
      const deskConfig = defaultConfig(`${site.root}/state`);
      deskConfig.preprocessorAddress = { http: "http://127.0.0.1:0/", ip: "127.0.0.1", port: 0 };
      deskConfig.data.roots = [data];
      deskConfig.logging.file = "";
      deskConfig.database = { url };
      deskConfig.reduction = { ...deskConfig.reduction, localWorker: false };
      desk = await startDaemon(preprocessorDaemon, deskConfig);
      const rpc = `http://127.0.0.1:${desk.port}/`;
      store = await openStore({ url });
      const catalog = store;
      await until("three live workers", async () => {
        const workers = await catalog.listWorkers();
        return workers.length === 3 ? workers : null;
      });
      const workers = await catalog.listWorkers();
      assertEquals(workers.map((worker) => worker.host).sort(), HOSTS, "each worker names its own host");

      // 1. A 60-light night on three hosts: every task once, each host some, the products ccdproc's.
      const first = await submit(rpc, "night-1", nights[0]);
      const status = await finished(rpc, first);
      assertEquals(status.Status, "done", JSON.stringify(status.Errors));
      assertEquals(status.Errors, []);
      assertEquals(
        (status.Products as string[]).length,
        1 + 1 + 2 + 1 + 60,
        "bias, dark, two flats, the bad-pixel map, 60 lights",
      );
      const lines = status.Tasks as Record<string, XmlRpcValue>[];
      const planned = planNightTasks(REDUCTION_STAGES.slice(1), await framesOf(nights[0]), {
        night: nights[0],
        since: "",
      });
      assertEquals(lines.map((line) => line.Name), ["ingest", ...planned.map((task) => task.name)]);
      assertEquals(
        planned.filter((task) => task.kind === "calibrated_lights").length,
        8,
        "lights in 8 chunks",
      );
      const tasks = await catalog.listTasks(first);
      assert(tasks.every((task) => task.status === "done" && task.attempts === 1), "every task ran once");
      const ranBy = Map.groupBy(tasks, hostOf);
      console.log(`Night 1: ${[...ranBy].map(([host, list]) => `${host} ran ${list.length}`).join(", ")}`);
      assertEquals([...ranBy.keys()].sort(), HOSTS, "each host ran some tasks");
      assertEquals(lines.map((line) => line.Host).sort(), tasks.map(hostOf).sort(), "job_status names them");
      await assertWhole(catalog, nights[0], status.Products as string[]);
      const reference = `${site.root}/ccdproc`;
      const out = await new Deno.Command(PYTHON, {
        args: [CCDPROC, nights[0], reference, "0.01"],
        stdout: "piped",
        stderr: "piped",
      }).output();
      assert(out.success, new TextDecoder().decode(out.stderr));
      for (
        const name of [
          "master_bias.fits",
          "master_dark_60s.fits",
          "master_flat_R.fits",
          "master_flat_V.fits",
          "calib_light_001.fits",
          "calib_light_030.fits",
          "calib_light_060.fits",
        ]
      ) {
        const ours = await readImage(`${nights[0]}/products/${name}`);
        const theirs = await readImage(`${reference}/${name}`);
        let worst = 0;
        for (let i = 0; i < ours.data.length; i++) {
          if (Number.isNaN(ours.data[i])) continue;
          worst = Math.max(
            worst,
            Math.abs(ours.data[i] - theirs.data[i]) / Math.max(Math.abs(theirs.data[i]), 1),
          );
        }
        assert(worst <= 1e-4, `${name}: worst relative difference ${worst} from ccdproc's`);
      }

      // 2. Another night: host1's worker killed in the middle of a task, host2 cut off in the middle of one.
      const second = await submit(rpc, "night-2", nights[1]);
      // Chunks of lights: products are being written and put in place when the host goes.
      const runningOn = (host: string) => async () => {
        const task = (await catalog.listTasks(second)).find((t) =>
          t.status === "running" && t.kind === "calibrated_lights" && hostOf(t) === host
        );
        return task ?? null;
      };
      const killed = await until("a task running on host1", runningOn("host1"));
      site.workers.get("host1")!.kill("SIGKILL");
      const cut = await until("a task running on host2", runningOn("host2"));
      await run("ip", ["link", "set", site.links[1], "down"]);
      console.log(`Killed host1 during ${killed.name}; cut host2 off during ${cut.name}`);
      const after = await finished(rpc, second);
      assertEquals(after.Status, "done", JSON.stringify(after.Errors));
      const tasksAfter = await catalog.listTasks(second);
      assert(tasksAfter.every((task) => task.status === "done"), "every task done");
      for (const lost of [killed, cut]) {
        const again = tasksAfter.find((task) => task.id === lost.id)!;
        assert(again.attempts >= 2, `${again.name} ran again (attempt ${again.attempts})`);
        assert(!["host1", "host2"].includes(hostOf(again)), `${again.name} finished on ${hostOf(again)}`);
      }
      const story = (await catalog.listJobEvents(second)).map((event) => event.event);
      for (const lost of [killed, cut]) {
        assert(
          story.some((line) => line.startsWith(`task ${lost.name}: ${lost.workerId} lost its lease`)),
          story.join("\n"),
        );
      }
      const checksums = await assertWhole(catalog, nights[1], after.Products as string[]);

      // 3. The cut-off host comes back: its late work is refused, nothing changes.
      await run("ip", ["link", "set", site.links[1], "up"]);
      await until("host2 to be heard from again", async () => {
        const host2 = (await catalog.listWorkers()).find((worker) => worker.host === "host2");
        return host2 && host2.ageSeconds < 2 ? host2 : null;
      }, 60_000);
      assertEquals(
        await assertWhole(catalog, nights[1], after.Products as string[]),
        checksums,
        "no product or row changed",
      );
      assertEquals(
        (await catalog.listTasks(second)).map((task) => task.attempts),
        tasksAfter.map((t) => t.attempts),
      );
      // The cut-off host stopped its task by itself, and put nothing of it in place.
      const host2Log = await Deno.readTextFile(`${site.root}/host2.log`);
      const said = host2Log.split("\n").filter((line) =>
        line.includes(`Task ${cut.id} `) && /WARNING|ERROR/.test(line)
      );
      console.log(said.join("\n"));
      assert(said.length > 0, "host2 says what became of its task");
      console.log(`The whole test took ${((performance.now() - started) / 1000).toFixed(1)} s`);
    } catch (error) {
      for (const host of HOSTS) {
        const log = await Deno.readTextFile(`${site.root}/${host}.log`).catch(() => "");
        console.error(`--- ${host} ---\n${log.split("\n").slice(-30).join("\n")}`);
      }
      throw error;
    } finally {
      await store?.close();
      await desk?.stop();
      await takeDown(site);
    }
  },
);
