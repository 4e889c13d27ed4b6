/**
 * Several hosts, one catalog (`deno task bench workers`), on the PostgreSQL of
 * `TOROS_TEST_DATABASE_URL` (default `postgres://postgres@127.0.0.1:5432/test`),
 * each part in a schema of its own:
 *
 * 1. how many tasks a second the catalog hands out and takes back with 8
 *    workers (and 1) claiming empty tasks, each worker a task runner with its
 *    own connections, in one process;
 * 2. the time from a task's commit to its claim by an idle worker, woken by
 *    `LISTEN/NOTIFY` or looking every second (polling), and from a work order
 *    sent to the front desk to its night's first task claimed;
 * 3. a 2048² night (11 bias, 11 dark, 11 flat, 20 lights: 7 tasks) sent to the
 *    front desk with 1, 2 and 3 `toros serve worker` processes on this machine,
 *    against the same night reduced as one job by the preprocessor on SQLite.
 *
 * `--quick`: fewer tasks and samples, a 512² night, one run. `--runs=N` (default 3).
 *
 * @module
 */
import { defaultConfig, type TorosConfig } from "../lib/config.ts";
import { startDaemon, type TaskHandler, TaskRunner } from "../lib/daemon/mod.ts";
import { getLogger } from "../lib/log.ts";
import { openStore, type Store } from "../lib/store/mod.ts";
import { callXmlRpc, type XmlRpcValue } from "../lib/xmlrpc/mod.ts";
import { simulateNight } from "../services/preprocessor/simulate.ts";
import { preprocessorDaemon } from "../services/preprocessor/daemon.ts";
import { machineLine, writeResultsSection } from "./_results.ts";

const quick = Deno.args.includes("--quick");
const runsArg = Deno.args.find((arg) => arg.startsWith("--runs="));
const RUNS = quick ? 1 : runsArg ? Math.max(1, Number(runsArg.slice("--runs=".length)) || 1) : 3;
const URL_BASE = Deno.env.get("TOROS_TEST_DATABASE_URL") ?? "postgres://postgres@127.0.0.1:5432/test";
const MAIN = new URL("../main.ts", import.meta.url).pathname;
const log = getLogger("bench.workers");

function schemaName(): string {
  return `toros_bench_${Date.now().toString(36)}_${crypto.randomUUID().slice(0, 6)}`;
}

function schemaUrl(schema: string): string {
  const url = new URL(URL_BASE);
  url.searchParams.set("search_path", schema);
  return url.toString();
}

async function dropSchema(schema: string): Promise<void> {
  const { default: postgres } = await import("postgres");
  const sql = postgres(URL_BASE, { max: 1, onnotice: () => {} });
  try {
    await sql.unsafe(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  } finally {
    await sql.end({ timeout: 5 });
  }
}

function quantile(values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

function median(values: number[]): number {
  return quantile(values, 0.5);
}

async function until<T>(
  what: string,
  fn: () => Promise<T | null> | T | null,
  timeoutMs = 600_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await fn();
    if (value !== null) return value;
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Part 1: empty tasks handed out and taken back by `workers` runners; tasks a second. */
async function throughput(workers: number, tasks: number): Promise<number> {
  const schema = schemaName();
  const store = await openStore({ url: URL_BASE }, { schema });
  const stores: Store[] = [];
  const runners: TaskRunner[] = [];
  try {
    const { job } = await store.enqueueJob({ workOrderId: "empty", night: null, workOrder: {}, priority: 5 });
    for (let i = 0; i < tasks; i += 500) {
      await store.addTasks(
        job.id,
        Array.from({ length: Math.min(500, tasks - i) }, (_, j) => ({ name: `t${i + j}`, kind: "empty" })),
      );
    }
    const handler: TaskHandler = { run: () => Promise.resolve({ result: null }) };
    for (let i = 0; i < workers; i++) {
      const own = await openStore({ url: URL_BASE }, { schema });
      stores.push(own);
      runners.push(
        new TaskRunner({ service: "preprocessor", store: own, handler, log, workerId: `bench:${i}` }),
      );
    }
    const started = performance.now();
    for (const runner of runners) runner.start();
    await until(
      "every empty task",
      () => runners.reduce((n, r) => n + r.tasksDone, 0) >= tasks ? true : null,
    );
    return tasks / ((performance.now() - started) / 1000);
  } finally {
    for (const runner of runners) await runner.stop();
    for (const own of stores) await own.close();
    await store.close();
    await dropSchema(schema);
  }
}

/** Part 2: milliseconds from a task's commit to its claim by one idle runner, `samples` times. */
async function claimLatency(listen: boolean, samples: number): Promise<number[]> {
  const schema = schemaName();
  const store = await openStore({ url: URL_BASE }, { schema });
  const own = await openStore({ url: URL_BASE }, { schema });
  let claimed: (() => void) | null = null;
  const runner = new TaskRunner({
    service: "preprocessor",
    store: own,
    log,
    listen,
    pollMs: 1000,
    handler: {
      run: () => {
        claimed?.();
        return Promise.resolve({ result: null });
      },
    },
  });
  const latencies: number[] = [];
  try {
    const { job } = await store.enqueueJob({
      workOrderId: "latency",
      night: null,
      workOrder: {},
      priority: 5,
    });
    runner.start();
    await sleep(300);
    for (let i = 0; i < samples; i++) {
      // Land anywhere in the idle runner's polling cycle.
      await sleep(100 + Math.random() * 900);
      const seen = new Promise<number>((resolve) => (claimed = () => resolve(performance.now())));
      const sent = performance.now();
      await store.addTasks(job.id, [{ name: `t${i}`, kind: "empty" }]);
      latencies.push((await seen) - sent);
    }
    return latencies;
  } finally {
    await runner.stop();
    await own.close();
    await store.close();
    await dropSchema(schema);
  }
}

function deskConfig(root: string, database: TorosConfig["database"]): TorosConfig {
  const config = defaultConfig(`${root}/state`);
  config.preprocessorAddress = { http: "http://127.0.0.1:0/", ip: "127.0.0.1", port: 0 };
  config.data.roots = [`${root}/data`];
  config.logging.file = "";
  config.logging.level = "WARNING";
  config.database = database;
  config.reduction = { ...config.reduction, localWorker: false };
  return config;
}

async function submit(rpc: string, id: string, night: string): Promise<number> {
  const answer = await callXmlRpc(rpc, "front_desk", [{
    ID: id,
    Request: "Exposure Calibration",
    "File Location": night,
  }]) as Record<string, XmlRpcValue>;
  return answer.Job as number;
}

/** Seconds from the work order sent to its job done, and the job's status. */
async function reduceOnce(
  rpc: string,
  id: string,
  night: string,
): Promise<{ seconds: number; sentAt: number; status: Record<string, XmlRpcValue> }> {
  await Deno.remove(`${night}/products`, { recursive: true }).catch(() => {});
  const sentAt = Date.now();
  const started = performance.now();
  const job = await submit(rpc, id, night);
  const status = await until(`job ${id}`, async () => {
    const s = await callXmlRpc(rpc, "job_status", [job]) as Record<string, XmlRpcValue>;
    return ["done", "failed"].includes(String(s.Status)) ? s : null;
  });
  if (status.Status !== "done") throw new Error(`${id} ${status.Status}: ${JSON.stringify(status.Errors)}`);
  return { seconds: (performance.now() - started) / 1000, sentAt, status };
}

function startWorkers(n: number, config: string, root: string): Deno.ChildProcess[] {
  return Array.from({ length: n }, (_, i) =>
    new Deno.Command("sh", {
      args: [
        "-c",
        `exec "${Deno.execPath()}" run -A "${MAIN}" serve worker --config "${config}" 2>>"${root}/w${i}.log"`,
      ],
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn());
}

async function stopWorkers(children: Deno.ChildProcess[]): Promise<void> {
  for (const child of children) {
    try {
      child.kill("SIGTERM");
    } catch { /* gone */ }
  }
  for (const child of children) await child.status;
}

interface NightRuns {
  label: string;
  seconds: number[];
  /** Tasks per host:pid of the last run. */
  spread: string;
}

/** Part 3: the night as one job on SQLite, then as tasks for 1, 2 and 3 worker processes on PostgreSQL. */
async function nights(root: string, size: number): Promise<{ rows: NightRuns[]; firstClaimMs: number[] }> {
  const night = `${root}/data/2026-11-24`;
  console.log(`simulating a ${size}x${size} night...`);
  await simulateNight(night, { size, bias: 11, darks: 11, flatsPerFilter: 11, lights: 20 });
  const rows: NightRuns[] = [];
  const firstClaimMs: number[] = [];

  const sqlite = await startDaemon(preprocessorDaemon, deskConfig(root, { file: `${root}/toros.sqlite3` }));
  try {
    const rpc = `http://127.0.0.1:${sqlite.port}/`;
    await reduceOnce(rpc, "warm-up", night);
    const seconds: number[] = [];
    for (let i = 0; i < RUNS; i++) seconds.push((await reduceOnce(rpc, `sqlite-${i}`, night)).seconds);
    rows.push({ label: "one job on the preprocessor (SQLite)", seconds, spread: "-" });
    console.log(`  SQLite, one job: ${seconds.map((s) => s.toFixed(2)).join(", ")} s`);
  } finally {
    await sqlite.stop();
  }

  const schema = schemaName();
  const catalog = await openStore({ url: URL_BASE }, { schema });
  const config = `${root}/worker.conf.yaml`;
  await Deno.writeTextFile(
    config,
    `Database: {URL: "${
      schemaUrl(schema)
    }"}\nData: {Roots: [${root}/data]}\nLogging: {File: null, Log Level: WARNING}\n`,
  );
  const desk = await startDaemon(preprocessorDaemon, deskConfig(root, { url: schemaUrl(schema) }));
  let run = 0;
  try {
    const rpc = `http://127.0.0.1:${desk.port}/`;
    for (const count of [1, 2, 3]) {
      const workers = startWorkers(count, config, root);
      try {
        await until(
          `${count} live workers`,
          async () => (await catalog.listWorkers()).length === count ? true : null,
        );
        await reduceOnce(rpc, `warm-up-${count}`, night);
        const seconds: number[] = [];
        let spread = "";
        for (let i = 0; i < RUNS; i++) {
          const { seconds: s, sentAt, status } = await reduceOnce(rpc, `pg-${count}-${run++}`, night);
          seconds.push(s);
          const tasks = await catalog.listTasks(status.Job as number);
          firstClaimMs.push(Date.parse(tasks[0].startedAt!) - sentAt);
          const per = Map.groupBy(tasks, (task) => task.workerId ?? "?");
          spread = [...per.values()].map((list) => list.length).sort((a, b) => b - a).join(" + ");
        }
        rows.push({ label: `${count} worker process${count > 1 ? "es" : ""} (PostgreSQL)`, seconds, spread });
        console.log(
          `  ${count} worker(s): ${seconds.map((s) => s.toFixed(2)).join(", ")} s (tasks ${spread})`,
        );
      } finally {
        await stopWorkers(workers);
        await until(
          "the workers to leave",
          async () => (await catalog.listWorkers()).length === 0 ? true : null,
        );
      }
    }
  } finally {
    await desk.stop();
    await catalog.close();
    await dropSchema(schema);
  }
  return { rows, firstClaimMs };
}

async function main(): Promise<void> {
  const root = await Deno.realPath(await Deno.makeTempDir({ prefix: "toros-workers-bench-" }));
  try {
    const tasks = quick ? 400 : 4000;
    console.log(`throughput: ${tasks} empty tasks...`);
    const eight = await throughput(8, tasks);
    console.log(`  8 workers: ${eight.toFixed(0)} tasks/s`);
    const one = await throughput(1, Math.round(tasks / 4));
    console.log(`  1 worker: ${one.toFixed(0)} tasks/s`);

    const samples = quick ? 8 : 40;
    console.log(`claim latency: ${samples} tasks each way...`);
    const notified = await claimLatency(true, samples);
    const polled = await claimLatency(false, samples);
    const ms = (values: number[]) =>
      `${median(values).toFixed(1)} ms | ${quantile(values, 0.95).toFixed(1)} ms | ${
        Math.max(...values).toFixed(1)
      } ms`;
    console.log(`  LISTEN/NOTIFY ${ms(notified)}; polling ${ms(polled)}`);

    const size = quick ? 512 : 2048;
    const { rows, firstClaimMs } = await nights(root, size);
    const base = median(rows[0].seconds);
    const nightRows = rows.map((row) =>
      `| ${row.label} | ${median(row.seconds).toFixed(2)} s (${Math.min(...row.seconds).toFixed(2)}-${
        Math.max(...row.seconds).toFixed(2)
      }) | ${(base / median(row.seconds)).toFixed(2)}× | ${row.spread} |`
    );
    const markdown = [
      `## Several hosts, one catalog: reduction workers on PostgreSQL${quick ? " (quick run)" : ""}`,
      "",
      `${await machineLine()}. PostgreSQL 15 on the same machine (\`${new URL(URL_BASE).host}\`), ` +
      "so every worker here shares the same two cores: this measures the catalog and the split of a night, " +
      "not the speed-up of adding machines.",
      "",
      "**Tasks the catalog hands out** (`bench/workers_bench.ts`): empty tasks of one job, each claimed " +
      "(lease by the catalog's clock, SKIP LOCKED) and completed under its fence, each worker also heartbeating " +
      "its row every 5 s; every worker a task runner with its own connections, all in one process.",
      "",
      "| workers | tasks | tasks/s |",
      "| ------- | ----- | ------- |",
      `| 8 | ${tasks} | ${eight.toFixed(0)} |`,
      `| 1 | ${Math.round(tasks / 4)} | ${one.toFixed(0)} |`,
      "",
      `**From a task added to its claim** by an idle worker (timed from the call that adds it, its commit ` +
      `included), ${samples} tasks each way, sent at random moments of the worker's one-second look:`,
      "",
      "| woken by | median | 95th percentile | worst |",
      "| -------- | ------ | --------------- | ----- |",
      `| LISTEN/NOTIFY | ${ms(notified)} |`,
      `| polling every 1 s | ${ms(polled)} |`,
      "",
      `From a work order sent to the front desk to its night's first task (ingest) claimed by an idle worker ` +
      `process: ${median(firstClaimMs).toFixed(0)} ms median (${Math.min(...firstClaimMs).toFixed(0)}-${
        Math.max(...firstClaimMs).toFixed(0)
      } ms over ${firstClaimMs.length} nights; the front desk's job runner wakes on the order, adds the task, ` +
      "and the notification wakes the worker).",
      "",
      `**A ${size}² night** (11 bias, 11 dark, 11 flat, 20 lights; as tasks: ingest, bias, dark, flat, then 3 chunks ` +
      "of lights, each waiting for the one before but the chunks) from the work order sent to the job done, " +
      `previews included, median of ${RUNS} after a warm-up; the front desk leaves the pixels to the workers ` +
      "(`Local Worker: false`), each worker process has a pixel thread per core:",
      "",
      "| reduced by | wall time | vs one job | tasks per worker |",
      "| ---------- | --------- | ---------- | ---------------- |",
      ...nightRows,
      "",
      "Every process here shares the same two cores, and the night's seven tasks are a chain (ingest, bias, dark, " +
      "flat) before three chunks of lights that may run side by side. The previews are made by the worker that " +
      "made each task's products as the task ends, where the one job makes its 23 one after another once the " +
      "reduction is done (about 0.14 s each at 2048²): with two processes both cores work on them, which is most " +
      "of what the split gains here; more processes than cores add no CPU, and this VM's speed drifts from run to " +
      "run. Each worker on a machine of its own adds its cores to the lights and previews.",
    ].join("\n");
    await writeResultsSection("workers", markdown);
    console.log("\n" + markdown);
  } finally {
    await Deno.remove(root, { recursive: true }).catch(() => {});
  }
}

if (import.meta.main) await main();
