/**
 * The observatory as systemd runs it: every daemon a process of its own (`toros
 * serve NAME`), one config and one catalog, on Debian's INDI simulators. While
 * three Observation orders go through the scheduler, telescope and
 * preprocessor, each daemon is killed with `kill -9` at a random moment (a
 * seeded one, printed) and started again. No order is lost or run twice: each
 * is done and calibrated, the telescope ran one job per order, each order's
 * frames are on disk exactly once, nothing half-written is left, and the
 * catalog holds each product once.
 */
import { assert, assertEquals } from "./_assert.ts";
import { freePort, type IndiServer, simulatorTest } from "./_indi.ts";
import { openStore } from "../lib/store/mod.ts";
import { callXmlRpc, type XmlRpcValue } from "../lib/xmlrpc/mod.ts";

type Struct = Record<string, XmlRpcValue>;

const MAIN = new URL("../main.ts", import.meta.url).pathname;
const DAEMONS = ["preprocessor", "telescope", "dome", "scheduler"] as const;
type Daemon = (typeof DAEMONS)[number];

/** A small seeded generator (mulberry32), so a failing run can be repeated with its seed. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function configYaml(root: string, server: IndiServer, ports: Record<Daemon, number>): string {
  const address = (name: string, port: number) =>
    `${name} Address: {HTTP: "http://127.0.0.1:${port}/", IP: 127.0.0.1, Port: ${port}}`;
  return [
    address("Preprocessor", ports.preprocessor),
    address("Telescope", ports.telescope),
    address("Dome", ports.dome),
    address("Scheduler", ports.scheduler),
    "Logging: {File: null}",
    `Database: {File: ${root}/toros.sqlite3}`,
    `Data: {Roots: [${root}/data]}`,
    `Telescope: {INDI Server: "${server.host}:${server.port}", Data Root: ${root}/data, Retry Seconds: 1}`,
    `Dome: {INDI Server: "${server.host}:${server.port}", Reopen After Minutes: 0.05, Telescope Timeout: 3, ` +
    "Retry Seconds: 1}",
    "Scheduler: {Cycle Seconds: 0.5, Use Dome: true}",
    "",
  ].join("\n");
}

/** The daemons as processes: started, killed with SIGKILL, started again; stderr kept per daemon. */
class Observatory {
  readonly #root: string;
  readonly #processes = new Map<Daemon, Deno.ChildProcess>();

  constructor(root: string) {
    this.#root = root;
  }

  start(name: Daemon): void {
    const args = ["run", "--allow-all", MAIN, "serve", name, "--config", `${this.#root}/toros.conf.yaml`];
    // The scheduler rehearses a dark hour at the site (22:00 local, Moon down).
    if (name === "scheduler") args.push("--at", "2026-12-01T04:00:00Z");
    const command = `exec "${Deno.execPath()}" ${
      args.map((arg) => `"${arg}"`).join(" ")
    } 2>>"${this.#root}/${name}.log"`;
    this.#processes.set(name, new Deno.Command("sh", { args: ["-c", command], stdout: "null" }).spawn());
  }

  async kill(name: Daemon): Promise<void> {
    const process = this.#processes.get(name)!;
    process.kill("SIGKILL");
    await process.status;
  }

  async stopAll(): Promise<void> {
    for (const process of this.#processes.values()) {
      try {
        process.kill("SIGTERM");
      } catch { /* already gone */ }
    }
    for (const process of this.#processes.values()) await process.status;
  }

  async logs(): Promise<string> {
    const parts: string[] = [];
    for (const name of DAEMONS) {
      const text = await Deno.readTextFile(`${this.#root}/${name}.log`).catch(() => "");
      parts.push(`--- ${name} (last 15 lines)\n${text.split("\n").slice(-15).join("\n")}`);
    }
    return parts.join("\n");
  }
}

async function answered(url: string): Promise<boolean> {
  return await fetch(`${url}health`).then(async (r) => (await r.body?.cancel(), r.ok)).catch(() => false);
}

function order(id: string, ra: number, dec: number): Struct {
  return {
    ID: id,
    WOType: "Observation",
    "Telescope Name": "CTMO",
    RA: ra,
    Dec: dec,
    Filter: "V",
    "Exposure Time": 10,
    "Number of Exposures": 2,
    "Calibration Frames": "No",
    Output: "Analysis",
    User: "Main Module",
  };
}

await simulatorTest(
  "every daemon killed with kill -9 at a random moment and started again: no order lost or run twice",
  { parked: { telescope: true, dome: true }, ccd: { timeFactor: 0.1, width: 512, height: 512 } },
  async (_t, server) => {
    const seed = Number(Deno.env.get("TOROS_CRASH_SEED") ?? Date.now() % 100_000);
    console.log(`kill schedule seed ${seed} (repeat with TOROS_CRASH_SEED=${seed})`);
    const next = random(seed);
    const root = await Deno.realPath(await Deno.makeTempDir({ prefix: "toros-crash-all-" }));
    await Deno.mkdir(`${root}/data`);
    const ports = Object.fromEntries(DAEMONS.map((name) => [name, freePort()])) as Record<Daemon, number>;
    const url = (name: Daemon) => `http://127.0.0.1:${ports[name]}/`;
    await Deno.writeTextFile(`${root}/toros.conf.yaml`, configYaml(root, server, ports));
    const observatory = new Observatory(root);
    try {
      for (const name of DAEMONS) observatory.start(name);
      const deadline = Date.now() + 60_000;
      for (const name of DAEMONS) {
        while (!(await answered(url(name)))) {
          if (Date.now() > deadline) throw new Error(`${name} did not start`);
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
      }
      const orders = [
        order("crash-m31", 0.712, 41.27),
        order("crash-m33", 1.564, 30.66),
        order("crash-m45", 3.79, 24.1),
      ];
      const jobs: number[] = [];
      for (const sent of orders) {
        jobs.push((await callXmlRpc(url("scheduler"), "front_desk", [sent]) as Struct).Job as number);
      }
      // Kill each daemon at a random moment of the night, in a random order, and start it again.
      const victims = [...DAEMONS].sort(() => next() - 0.5);
      for (const victim of victims) {
        const wait = 1000 + Math.floor(next() * 5000);
        await new Promise((resolve) => setTimeout(resolve, wait));
        console.log(`kill -9 ${victim} after ${wait} ms`);
        await observatory.kill(victim);
        await new Promise((resolve) => setTimeout(resolve, 300 + Math.floor(next() * 1000)));
        observatory.start(victim);
      }
      const statuses: Struct[] = [];
      for (const job of jobs) {
        const end = Date.now() + 240_000;
        for (;;) {
          const status = await callXmlRpc(url("scheduler"), "job_status", [job]).catch(() => null) as
            | Struct
            | null;
          if (status && ["done", "failed", "cancelled"].includes(status.Status as string)) {
            statuses.push(status);
            break;
          }
          if (Date.now() > end) throw new Error(`order ${job} did not end: ${JSON.stringify(status)}`);
          await new Promise((resolve) => setTimeout(resolve, 250));
        }
      }
      for (const status of statuses) {
        assertEquals([status.Status, status.State], ["done", "calibrated"], JSON.stringify(status));
      }
      const store = await openStore({ file: `${root}/toros.sqlite3` });
      try {
        const telescopeJobs = await store.listJobs({ service: "telescope", limit: 100 });
        assertEquals(
          telescopeJobs.map((job) => job.workOrderId).sort(),
          orders.map((o) => o.ID as string).sort(),
          "the telescope ran one job per order",
        );
        const nights = new Set<string>();
        for (const job of telescopeJobs) {
          const result = job.result as { Night: string; Frames: string[] };
          nights.add(result.Night);
          assertEquals(result.Frames.length, 2, `${job.workOrderId}: ${result.Frames.join(", ")}`);
        }
        for (const night of nights) {
          const names = [...Deno.readDirSync(night)].filter((entry) => entry.isFile).map((entry) =>
            entry.name
          );
          assertEquals(names.filter((name) => name.startsWith(".")), [], "nothing half-written in the night");
          for (const sent of orders) {
            const frames = names.filter((name) => name.startsWith(`light_${sent.ID}_`));
            assertEquals(frames.sort(), [`light_${sent.ID}_V_001.fits`, `light_${sent.ID}_V_002.fits`]);
          }
          const products = [...Deno.readDirSync(`${night}/products`)].map((entry) => entry.name);
          assertEquals(products.filter((name) => name.endsWith(".tmp")), [], "no torn product");
        }
        const catalog = await store.listProducts();
        assertEquals(
          new Set(catalog.map((p) => p.path)).size,
          catalog.length,
          "each product once in the catalog",
        );
        assert(catalog.filter((p) => p.kind === "calibrated_light").length >= 6);
        const schedulerJobs = await store.listJobs({ service: "scheduler", limit: 100 });
        assertEquals(schedulerJobs.length, 3, "no order duplicated at the scheduler");
      } finally {
        await store.close();
      }
    } catch (error) {
      console.error(await observatory.logs());
      throw error;
    } finally {
      await observatory.stopAll();
      await Deno.remove(root, { recursive: true });
    }
  },
);
