/**
 * A night shared out as tasks through a PostgreSQL catalog, in one process:
 * the preprocessor (leaving the pixels to others) and two reduction workers.
 * The plan follows the stages' declarations; every task runs once on some
 * worker; the products equal a single-host reduction's pixel for pixel, each
 * recorded once; `job_status` answers as for a night on one host and names the
 * host of each task. The multi-host test (tests/workers_netns_test.ts) kills
 * and cuts off workers; this one covers the plan and the results.
 */
import { assert, assertEquals } from "./_assert.ts";
import { dropSchema, postgresTest, uniqueSchema } from "./_peers.ts";
import { defaultConfig, type TorosConfig } from "../lib/config.ts";
import { type RunningDaemon, startDaemon } from "../lib/daemon/mod.ts";
import { readImage } from "../lib/fits/mod.ts";
import { openStore } from "../lib/store/mod.ts";
import { callXmlRpc, type XmlRpcValue } from "../lib/xmlrpc/mod.ts";
import { createPixelPool } from "../lib/ccd/mod.ts";
import { simulateNight } from "../services/preprocessor/simulate.ts";
import { reduceNight, REDUCTION_STAGES } from "../services/preprocessor/pipeline.ts";
import { inspectFrame, listFrameFiles, type RawFrame } from "../services/preprocessor/ingest.ts";
import { planNightTasks } from "../services/preprocessor/night_tasks.ts";
import { preprocessorDaemon } from "../services/preprocessor/daemon.ts";
import { workerDaemon } from "../services/preprocessor/worker_daemon.ts";

const NIGHT = { size: 48, bias: 3, darks: 3, flatsPerFilter: 3, lights: 20, filters: ["V", "R"], seed: 11 };

async function framesOf(night: string): Promise<RawFrame[]> {
  const frames: RawFrame[] = [];
  for (const name of await listFrameFiles(night)) {
    const file = await inspectFrame(night, name);
    if (file.frame) frames.push(file.frame);
  }
  return frames;
}

Deno.test("a night's tasks follow the stages: ingest, one per master group, lights in chunks, with dependencies", async () => {
  const dir = await Deno.makeTempDir({ prefix: "toros-plan-" });
  try {
    await simulateNight(`${dir}/n`, { ...NIGHT, lights: 19 });
    const tasks = planNightTasks(REDUCTION_STAGES.slice(1), await framesOf(`${dir}/n`), {
      night: `${dir}/n`,
      since: "2026-11-24T12:00:00.000Z",
    });
    const shape = "48x48@1x1";
    assertEquals(tasks.map((task) => [task.name, task.weight, task.dependsOn]), [
      [`master_bias ${shape}`, 1, []],
      [`master_darks ${shape} 60 s`, 1, [`master_bias ${shape}`]],
      [`master_flats ${shape} R`, 1, [`master_bias ${shape}`, `master_darks ${shape} 60 s`]],
      [`master_flats ${shape} V`, 1, [`master_bias ${shape}`, `master_darks ${shape} 60 s`]],
      // Quality control of the masters and the bad-pixel map: once a night, after the masters they read.
      [`master_qc night`, 1, [
        `master_bias ${shape}`,
        `master_darks ${shape} 60 s`,
        `master_flats ${shape} R`,
        `master_flats ${shape} V`,
      ]],
      [`bad_pixel_map night`, 1, [
        `master_darks ${shape} 60 s`,
        `master_flats ${shape} R`,
        `master_flats ${shape} V`,
      ]],
      ...[1, 2, 3].map((i) => [
        `calibrated_lights ${shape} ${i}/3`,
        i < 3 ? 8 : 3,
        [
          `master_bias ${shape}`,
          `master_darks ${shape} 60 s`,
          `master_flats ${shape} R`,
          `master_flats ${shape} V`,
          `bad_pixel_map night`,
        ],
      ]),
    ]);
    const lights = tasks.filter((task) => task.kind === "calibrated_lights");
    const spec = (task: typeof tasks[number]) => task.spec as { frames: string[]; samples: string[] };
    assertEquals(lights.flatMap((task) => spec(task).frames).length, 19, "every light in one chunk");
    assertEquals(new Set(lights.flatMap((task) => spec(task).frames)).size, 19);
    assertEquals(spec(lights[2]).samples, spec(lights[0]).samples, "one sample frame per shape");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

function configFor(root: string, url: string, localWorker: boolean): TorosConfig {
  const config = defaultConfig(`${root}/state`);
  config.preprocessorAddress = { http: "http://127.0.0.1:0/", ip: "127.0.0.1", port: 0 };
  config.data.roots = [`${root}/data`];
  config.logging.file = "";
  config.database = { url };
  config.reduction = { ...config.reduction, workers: 1, localWorker };
  return config;
}

async function until<T>(what: string, fn: () => Promise<T | null>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await fn();
    if (value !== null) return value;
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

postgresTest(
  "[postgres] a night shared by two workers: each task once, products as a single host's, hosts named",
  async (url) => {
    const root = await Deno.realPath(await Deno.makeTempDir({ prefix: "toros-shared-" }));
    const schema = uniqueSchema();
    const daemons: RunningDaemon[] = [];
    const catalog = await openStore({ url }, { schema });
    try {
      const night = `${root}/data/2026-11-24`;
      await simulateNight(night, NIGHT);
      // The reference: the same night reduced on one host, as ever.
      const alone = `${root}/alone`;
      const sqlite = await openStore({ file: `${root}/alone.sqlite3` });
      const pool = createPixelPool(1);
      try {
        await reduceNight(night, {
          store: sqlite,
          reduction: configFor(root, url, false).reduction,
          pool,
          outDir: alone,
        });
      } finally {
        pool.close();
        await sqlite.close();
      }

      const schemaUrl = new URL(url);
      schemaUrl.searchParams.set("search_path", schema);
      const desk = await startDaemon(preprocessorDaemon, configFor(root, schemaUrl.toString(), false));
      daemons.push(desk);
      for (let i = 0; i < 2; i++) {
        daemons.push(await startDaemon(workerDaemon, configFor(root, schemaUrl.toString(), false)));
      }
      const rpc = `http://127.0.0.1:${desk.port}/`;
      const answer = await callXmlRpc(rpc, "front_desk", [{
        ID: "shared-1",
        Request: "Exposure Calibration",
        "File Location": night,
      }]) as Record<string, XmlRpcValue>;
      const status = await until("the job to end", async () => {
        const s = await callXmlRpc(rpc, "job_status", [answer.Job]) as Record<string, XmlRpcValue>;
        return ["done", "failed"].includes(String(s.Status)) ? s : null;
      });
      assertEquals(status.Status, "done", JSON.stringify(status.Errors));
      assertEquals(status.Errors, []);
      const names = [...Deno.readDirSync(alone)].filter((e) => e.isFile).map((e) => e.name).sort();
      const products = (status.Products as string[]).map((path) => path.slice(path.lastIndexOf("/") + 1))
        .sort();
      assertEquals(products, names, "the products of a single host's reduction");
      assertEquals(names.length, 1 + 1 + 2 + 1 + 20, "bias, dark, two flats, the bad-pixel map, the lights");

      const tasks = status.Tasks as Record<string, XmlRpcValue>[];
      const planned = planNightTasks(REDUCTION_STAGES.slice(1), await framesOf(night), { night, since: "" });
      assertEquals(tasks.map((task) => task.Name), ["ingest", ...planned.map((task) => task.name)]);
      assertEquals(
        planned.filter((task) => task.kind === "calibrated_lights").length,
        3,
        "lights in 3 chunks",
      );
      for (const task of tasks) {
        assertEquals([task.Status, task.Attempts], ["done", 1], String(task.Name));
        assert(String(task.Worker).startsWith(`${task.Host}:`), JSON.stringify(task));
      }
      const workers = new Set(tasks.map((task) => task.Worker));
      assert(workers.size >= 1 && workers.size <= 2, [...workers].join(", "));
      // The front desk (Local Worker: false) lists the two live workers on /health.
      const health = await (await fetch(`${rpc}health`)).json();
      assertEquals(health.workers.length, 2, JSON.stringify(health.workers));
      assert(health.workers.every((worker: { secondsAgo: number }) => worker.secondsAgo < 20));
      // So do `toros workers` (from the catalog, on any host) and `toros jobs` (the hosts of each task).
      const configPath = `${root}/toros.conf.yaml`;
      await Deno.writeTextFile(configPath, `Database: {URL: "${schemaUrl}"}\nLogging: {File: null}\n`);
      const toros = async (...args: string[]) => {
        const out = await new Deno.Command(Deno.execPath(), {
          args: [
            "run",
            "-A",
            new URL("../main.ts", import.meta.url).pathname,
            ...args,
            "--config",
            configPath,
          ],
          stdout: "piped",
          stderr: "piped",
        }).output();
        assertEquals(out.code, 0, new TextDecoder().decode(out.stderr));
        return new TextDecoder().decode(out.stdout);
      };
      const listed = (await toros("workers")).trim().split("\n");
      assertEquals(listed.length, 1 + 2, listed.join("\n"));
      assert(listed[0].startsWith("WORKER") && listed.slice(1).every((line) => / live .* ago\) /.test(line)));
      const hosts = [...new Set(tasks.map((task) => task.Host))];
      const jobLine = (await toros("jobs", "--url", rpc)).trim();
      assert(jobLine.includes(`(tasks on ${hosts[0]} ×`), jobLine);
      const shown = await toros("jobs", "--url", rpc, String(answer.Job));
      assert(shown.includes("Tasks:\n  ingest: Status done, Host "), shown);

      // Each product recorded once, and its pixels the single host's.
      const recorded = await catalog.listProducts();
      assertEquals(recorded.length, names.length);
      assertEquals(new Set(recorded.map((product) => product.path)).size, names.length);
      for (const name of names) {
        const ours = await readImage(`${night}/products/${name}`);
        const theirs = await readImage(`${alone}/${name}`);
        let worst = 0;
        for (let i = 0; i < ours.data.length; i++) {
          const a = ours.data[i];
          const b = theirs.data[i];
          if (Number.isNaN(a) && Number.isNaN(b)) continue;
          worst = Math.max(worst, Math.abs(a - b));
        }
        assertEquals(worst, 0, `${name}: the same pixels`);
      }
      // Nothing left behind: no task directories, no temporary files.
      const left = [...Deno.readDirSync(`${night}/products`)].map((e) => e.name).filter((n) =>
        n.startsWith(".")
      );
      assertEquals(left, [".previews"]);
      const stages = (status as { Stages?: { Name: string; Groups: number; Products: number }[] }).Stages ??
        ((await catalog.getJob(Number(answer.Job)))?.result as {
          Stages: { Name: string; Groups: number; Products: number }[];
        })
          .Stages;
      // The stages of a night on one host, each counted once however many tasks it took.
      const known = ["ingest", "master_bias", "master_darks", "master_flats", "calibrated_lights"];
      const ours = <T extends { Name: string }>(list: T[]) =>
        list.filter((stage) => known.includes(stage.Name));
      assertEquals(ours(stages).map((stage) => [stage.Name, stage.Groups, stage.Products]), [
        ["ingest", 1, 0],
        ["master_bias", 1, 1],
        ["master_darks", 1, 1],
        ["master_flats", 2, 2],
        ["calibrated_lights", 1, 20],
      ]);

      // The night again: every product is up to date and kept, whichever worker looks at it.
      const again = await callXmlRpc(rpc, "front_desk", [{
        ID: "shared-2",
        Request: "Exposure Calibration",
        "File Location": night,
      }]) as Record<string, XmlRpcValue>;
      await until("the second job to end", async () => {
        const s = await callXmlRpc(rpc, "job_status", [again.Job]) as Record<string, XmlRpcValue>;
        return ["done", "failed"].includes(String(s.Status)) ? s : null;
      });
      const second = (await catalog.getJob(Number(again.Job)))!;
      assertEquals(second.status, "done", second.error ?? "");
      const kept = (second.result as { Stages: { Name: string; Products: number; Reused: number }[] }).Stages;
      assertEquals(ours(kept).map((stage) => [stage.Name, stage.Products, stage.Reused]), [
        ["ingest", 0, 0],
        ["master_bias", 1, 1],
        ["master_darks", 1, 1],
        ["master_flats", 2, 2],
        ["calibrated_lights", 20, 20],
      ]);
      assertEquals((await catalog.listProducts()).length, names.length, "no row added");
    } finally {
      for (const daemon of daemons.reverse()) await daemon.stop();
      await catalog.close();
      await dropSchema(url, schema);
      await Deno.remove(root, { recursive: true });
    }
  },
);
