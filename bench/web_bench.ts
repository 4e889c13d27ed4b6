/**
 * The window under load, on `toros serve preprocessor` with a catalog of
 * 1,000 jobs and 20,000 products (400 nights of 50): how long the status page
 * and the other pages take to make (the server's own time, from its
 * `Server-Timing` header, and its CPU time), and the front desk's requests/s
 * under wrk with a browser page open on `/` and streaming (a running job's
 * progress changing all along) against the same without the page, in turns.
 * Targets: `/` in ≤ 50 ms of server time; requests/s with the page within 5 %
 * of without. `--quick` shortens every run.
 *
 * @module
 */
/// <reference lib="dom" />
import { DatabaseSync } from "node:sqlite";
import type { Page } from "playwright-core";
import { openStore } from "../lib/store/mod.ts";
import { encodeMethodCall } from "../lib/xmlrpc/mod.ts";
import { machineLine, writeResultsSection } from "./_results.ts";
import { OBSERVATION_ORDER } from "./_orders.ts";

const quick = Deno.args.includes("--quick");
const SECONDS = quick ? 2 : 4;
/** wrk runs of each side, in turns (without, with, without, ...): this VM's speed drifts by ±20 %. */
const RUNS = quick ? 1 : 11;
/** Requests timed per page. */
const SAMPLES = quick ? 20 : 100;
const NIGHTS = 400;
const PRODUCTS_PER_NIGHT = 50;
const JOBS = 1000;
const MAIN = new URL("../main.ts", import.meta.url).pathname;
const CHROMIUM = Deno.env.get("TOROS_CHROMIUM") ?? "/usr/bin/chromium";

/** A 1×1 gray PNG, standing in for the previews of the nights the status page shows. */
const TINY_PNG = Uint8Array.from(
  atob("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAAAAAA6fptVAAAACklEQVR4nGNgAAAAAgABSK+kcQAAAABJRU5ErkJggg=="),
  (c) => c.charCodeAt(0),
);

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

/** Fills the catalog: NIGHTS nights of 77 raw frames and 50 products with provenance, JOBS jobs with stories. */
export async function fillCatalog(
  file: string,
  dataRoot: string,
): Promise<{ runningJob: number; productId: number }> {
  const store = await openStore({ file }); // creates and migrates the schema
  await store.close();
  const db = new DatabaseSync(file);
  const stamp = "2026-11-30T12:00:00.000Z";
  db.exec("BEGIN");
  const night = db.prepare(
    "INSERT INTO nights (directory, date, telescope, created_at, updated_at) VALUES (?, ?, 'TOROS', ?, ?) RETURNING id",
  );
  const exposure = db.prepare(
    `INSERT INTO exposures (night_id, file_name, content_hash, size, image_type, filter, exposure_time, width, height,
       binning, date_obs, status, error, created_at, updated_at)
     VALUES (?, ?, ?, 8409600, ?, 'V', ?, 2048, 2048, '1x1', ?, 'ok', NULL, ?, ?) RETURNING id`,
  );
  const product = db.prepare(
    `INSERT INTO products (night_id, kind, path, filter, exposure_time, width, height, binning, n_combined, checksum,
       date_obs, warnings, created_at)
     VALUES (?, ?, ?, 'V', 60, 2048, 2048, '1x1', ?, 'abc', ?, '[]', ?) RETURNING id`,
  );
  const input = db.prepare("INSERT INTO product_inputs (product_id, exposure_id) VALUES (?, ?)");
  const use = db.prepare("INSERT INTO product_uses (product_id, master_id) VALUES (?, ?)");
  let lastProduct = 0;
  for (let n = 0; n < NIGHTS; n++) {
    const date = new Date(Date.UTC(2025, 9, 27) + n * 86_400_000).toISOString().slice(0, 10);
    const directory = `${dataRoot}/${date}`;
    const nightId = Number((night.get(directory, date, stamp, stamp) as { id: number }).id);
    const frames = (kind: string, count: number) =>
      Array.from({ length: count }, (_, i) => {
        const name = `${kind}_${String(i + 1).padStart(3, "0")}.fits`;
        const row = exposure.get(
          nightId,
          name,
          `${nightId}-${name}`,
          kind,
          kind === "bias" ? 0 : 60,
          date,
          stamp,
          stamp,
        );
        return { name, id: Number((row as { id: number }).id) };
      });
    const bias = frames("bias", 10);
    const dark = frames("dark", 10);
    const flat = frames("flat", 10);
    const lights = frames("light", PRODUCTS_PER_NIGHT - 3);
    const masters: number[] = [];
    for (
      const [kind, name, inputs] of [
        ["master_bias", "master_bias.fits", bias],
        ["master_dark", "master_dark_60s.fits", dark],
        ["master_flat", "master_flat_V.fits", flat],
      ] as const
    ) {
      const id = Number(
        (product.get(nightId, kind, `${directory}/products/${name}`, 10, date, stamp) as { id: number }).id,
      );
      for (const frame of inputs) input.run(id, frame.id);
      for (const master of masters) use.run(id, master);
      masters.push(id);
    }
    for (const light of lights) {
      const path = `${directory}/products/calib_${light.name}`;
      const id = Number(
        (product.get(nightId, "calibrated_light", path, 1, date, stamp) as { id: number }).id,
      );
      input.run(id, light.id);
      for (const master of masters) use.run(id, master);
      lastProduct = id;
    }
  }
  const job = db.prepare(
    `INSERT INTO jobs (service, work_order_id, night, work_order, priority, status, attempts, progress, error, result,
       not_before, created_at, updated_at, started_at, finished_at)
     VALUES ('preprocessor', ?, ?, ?, 5, ?, 1, ?, ?, NULL, ?, ?, ?, ?, ?) RETURNING id`,
  );
  const event = db.prepare("INSERT INTO job_events (job_id, at, event) VALUES (?, ?, ?)");
  let runningJob = 0;
  for (let j = 0; j < JOBS; j++) {
    const date = new Date(Date.UTC(2025, 9, 27) + (j % NIGHTS) * 86_400_000).toISOString().slice(0, 10);
    // Mostly done; a few failed; a few deferred far ahead (they stay queued); one running, whose progress moves.
    const status = j === JOBS - 1 ? "running" : j % 100 === 7 ? "failed" : j % 200 === 13 ? "queued" : "done";
    const notBefore = status === "queued" ? "2099-01-01T00:00:00.000Z" : null;
    const row = job.get(
      `order-${j}`,
      `${dataRoot}/${date}-${j}`,
      JSON.stringify({ ID: `order-${j}`, WOType: "Calibration", "File Location": `${dataRoot}/${date}` }),
      status,
      status === "done" ? 1 : 0,
      status === "failed" ? "a frame could not be read" : status === "queued" ? "waiting for the disk" : null,
      notBefore,
      stamp,
      stamp,
      status === "queued" ? null : stamp,
      status === "done" || status === "failed" ? stamp : null,
    ) as { id: number };
    for (const line of ["received (priority 5)", "started", status]) event.run(row.id, stamp, line);
    if (status === "running") runningJob = Number(row.id);
  }
  db.exec("COMMIT");
  db.close();
  // The products and previews of the nights the status page shows, so its checks find real files.
  for (let n = NIGHTS - 5; n < NIGHTS; n++) {
    const date = new Date(Date.UTC(2025, 9, 27) + n * 86_400_000).toISOString().slice(0, 10);
    const products = `${dataRoot}/${date}/products`;
    await Deno.mkdir(`${products}/.previews`, { recursive: true });
    for (let i = 0; i < 12; i++) {
      const name = i === 0 ? "master_bias" : `calib_light_${String(i).padStart(3, "0")}`;
      await Deno.writeFile(`${products}/${name}.fits`, new Uint8Array(0));
      await Deno.writeFile(`${products}/.previews/${name}.thumb.png`, TINY_PNG);
      await Deno.writeFile(`${products}/.previews/${name}.png`, TINY_PNG);
    }
  }
  return { runningJob, productId: lastProduct };
}

/** CPU time a process has used so far, in milliseconds (Linux, /proc), or NaN. */
async function cpuMs(pid: number): Promise<number> {
  try {
    const stat = await Deno.readTextFile(`/proc/${pid}/stat`);
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return NaN;
  }
}

function percentile(samples: number[], p: number): number {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

interface Timed {
  path: string;
  server: number[];
  roundTrip: number[];
  cpuPerRequest: number;
  bytes: number;
}

/** Times `SAMPLES` GETs of `path` one after the other (after a few not counted). */
async function timePage(url: string, path: string, pid: number): Promise<Timed> {
  const server: number[] = [];
  const roundTrip: number[] = [];
  let bytes = 0;
  for (let k = 0; k < 5; k++) await (await fetch(`${url}${path}`)).arrayBuffer();
  const cpuBefore = await cpuMs(pid);
  for (let k = 0; k < SAMPLES; k++) {
    const started = performance.now();
    const response = await fetch(`${url}${path}`);
    const body = await response.arrayBuffer();
    roundTrip.push(performance.now() - started);
    if (!response.ok) throw new Error(`${path}: HTTP ${response.status}`);
    bytes = body.byteLength;
    const timing = /dur=([\d.]+)/.exec(response.headers.get("server-timing") ?? "");
    server.push(Number(timing?.[1] ?? NaN));
  }
  return { path, server, roundTrip, cpuPerRequest: (await cpuMs(pid) - cpuBefore) / SAMPLES, bytes };
}

interface WrkResult {
  requestsPerSecond: number;
  /** Requests answered in the run. */
  requests: number;
  p99: number;
  errors: number;
  /** The server process's CPU time per request answered, in microseconds (set by the caller). */
  cpuPerRequestUs?: number;
}

async function wrk(url: string, script: string): Promise<WrkResult> {
  const out = await new Deno.Command("wrk", {
    args: ["-t2", "-c16", `-d${SECONDS}s`, "--latency", "-s", script, url],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  if (!out.success) throw new Error(`wrk failed: ${new TextDecoder().decode(out.stderr)}`);
  const p99 = /^\s+99%\s+([\d.]+)(us|ms|s)/m.exec(text);
  const errors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(text);
  return {
    requestsPerSecond: Number(/Requests\/sec:\s+([\d.]+)/.exec(text)?.[1]),
    requests: Number(/(\d+) requests in/.exec(text)?.[1]),
    p99: p99 ? Number(p99[1]) * (p99[2] === "us" ? 0.001 : p99[2] === "s" ? 1000 : 1) : NaN,
    errors: errors ? errors.slice(1).reduce((a, b) => a + Number(b), 0) : 0,
  };
}

function median(values: number[]): number {
  return percentile(values, 50);
}

/** The two sides of a paired comparison, run by run, and each pair's ratio (with ÷ without). */
interface Paired {
  without: WrkResult[];
  with: WrkResult[];
  ratios: number[];
}

/**
 * Runs `RUNS` pairs of wrk runs, one without and one with what `start` starts (it returns how to stop it),
 * the order turned every pair so a drift of the machine's speed cancels.
 */
async function pairedRuns(
  measure: () => Promise<WrkResult>,
  start: () => Promise<() => Promise<void>>,
): Promise<Paired> {
  const result: Paired = { without: [], with: [], ratios: [] };
  const withIt = async () => {
    const stop = await start();
    // The listener has its first update before the run starts.
    await new Promise((resolve) => setTimeout(resolve, 300));
    const measured = await measure();
    await stop();
    return measured;
  };
  for (let k = 0; k < RUNS; k++) {
    if (k % 2 === 0) {
      result.without.push(await measure());
      result.with.push(await withIt());
    } else {
      result.with.push(await withIt());
      result.without.push(await measure());
    }
    result.ratios.push(result.with[k].requestsPerSecond / result.without[k].requestsPerSecond);
  }
  return result;
}

/** One line of the table: a side's medians and its runs. */
function side(name: string, results: WrkResult[]): string {
  return `| ${name} | ${median(results.map((r) => r.requestsPerSecond)).toFixed(0)} | ${
    median(results.map((r) => r.p99)).toFixed(2)
  } ms | ${median(results.map((r) => r.cpuPerRequestUs!)).toFixed(1)} µs | ${
    results.map((r) => r.requestsPerSecond.toFixed(0)).join(", ")
  } |`;
}

/** A comparison in words: the median of the pairs' ratios, against the 5 % target. */
function comparison(what: string, paired: Paired): string {
  const change = (median(paired.ratios) - 1) * 100;
  const errors = [...paired.without, ...paired.with].reduce((sum, r) => sum + r.errors, 0);
  return `With ${what} the front desk answered **${change >= 0 ? "+" : ""}${change.toFixed(1)} %** ` +
    `requests/s (target: within 5 %), the median of ${RUNS} pairs' ratios (${
      paired.ratios.map((ratio) => ratio.toFixed(2)).join(", ")
    }); the server's CPU time per request answered went from ${
      median(paired.without.map((r) => r.cpuPerRequestUs!)).toFixed(1)
    } to ${median(paired.with.map((r) => r.cpuPerRequestUs!)).toFixed(1)} µs; wrk errors: ${errors}.`;
}

async function chromiumRuns(): Promise<boolean> {
  try {
    return (await new Deno.Command(CHROMIUM, { args: ["--version"], stdout: "null", stderr: "null" })
      .output())
      .success;
  } catch {
    return false;
  }
}

async function main(): Promise<void> {
  const root = await Deno.makeTempDir({ prefix: "toros-web-bench-" });
  const processes: Deno.ChildProcess[] = [];
  try {
    const dataRoot = `${root}/data`;
    await Deno.mkdir(dataRoot);
    const database = `${root}/toros.sqlite3`;
    const filling = performance.now();
    const { runningJob, productId } = await fillCatalog(database, dataRoot);
    console.log(`catalog filled in ${((performance.now() - filling) / 1000).toFixed(1)} s`);
    const port = freePort();
    const config = `${root}/toros.conf.yaml`;
    await Deno.writeTextFile(
      config,
      `Preprocessor Address: {HTTP: "http://127.0.0.1:${port}/", IP: 127.0.0.1, Port: ${port}}
Logging: {File: "", Log Level: WARNING}
Database: {File: ${database}}
Data: {Roots: [${dataRoot}]}
`,
    );
    const server = new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-all", MAIN, "serve", "preprocessor", "--config", config],
      stdout: "null",
      stderr: "inherit",
    }).spawn();
    processes.push(server);
    const url = `http://127.0.0.1:${port}`;
    for (let i = 0;; i++) {
      const up = await fetch(`${url}/health`).then((r) => (r.body?.cancel(), true), () => false);
      if (up) break;
      if (i > 200) throw new Error("the server did not come up");
      await new Promise((resolve) => setTimeout(resolve, 50));
    }

    const pages = [
      "/",
      `/jobs/${runningJob}`,
      `/products/${productId}`,
      `/nights/${NIGHTS}`,
      "/api/products?limit=100",
      "/api/jobs?limit=50",
    ];
    const timed: Timed[] = [];
    for (const path of pages) timed.push(await timePage(url, path, server.pid));

    // From here the running job's progress moves all along, so an open page has something to stream. (Another
    // process writing the catalog makes the server's own writes wait for SQLite's lock now and then: on both
    // sides of the comparison, and not while the pages above were timed.)
    const writer = await openStore({ file: database });
    let progress = 0;
    const moving = setInterval(() => {
      progress = (progress + 0.001) % 1;
      writer.updateJob(runningJob, { progress }).catch(() => {});
    }, 100);

    const script = `${root}/post.lua`;
    await Deno.writeTextFile(
      script,
      `wrk.method = "POST"\nwrk.headers["Content-Type"] = "text/xml"\nwrk.body = ${
        JSON.stringify(encodeMethodCall("front_desk", [OBSERVATION_ORDER]))
      }\n`,
    );
    /** A wrk run with the server's CPU time per request answered. */
    const measured = async (): Promise<WrkResult> => {
      const before = await cpuMs(server.pid);
      const result = await wrk(`${url}/`, script);
      result.cpuPerRequestUs = (await cpuMs(server.pid) - before) * 1000 / result.requests;
      return result;
    };
    // Not counted: the server's code warms up under the first run.
    await wrk(`${url}/`, script);

    // The server's own cost of streaming: a client that only reads the stream (curl), then a browser's page.
    const curl = await pairedRuns(measured, () => {
      const client = new Deno.Command("curl", {
        args: ["-sN", `${url}/events`],
        stdout: "null",
        stderr: "null",
      })
        .spawn();
      return Promise.resolve(async () => {
        client.kill();
        await client.status;
      });
    });
    const sections = [comparison("`curl -N /events` reading the stream", curl)];
    let withPage: Paired | null = null;
    if (await chromiumRuns()) {
      const { chromium } = await import("playwright-core");
      const profile = await Deno.makeTempDir({ prefix: "toros-web-bench-chromium-" });
      // The operator's browser runs on their own machine, not the daemon's: here it shares the two cores, so
      // it runs at nice 19 to leave them to the server and wrk, as another machine would.
      const niced = `${profile}.sh`;
      await Deno.writeTextFile(niced, `#!/bin/sh\nexec nice -n 19 ${CHROMIUM} "$@"\n`);
      await Deno.chmod(niced, 0o755);
      const browser = await chromium.launchPersistentContext(profile, {
        executablePath: niced,
        headless: true,
        args: [
          "--headless",
          "--no-sandbox",
          "--disable-gpu",
          "--disable-quic",
          "--no-first-run",
          "--disable-background-networking",
          "--disable-component-update",
          "--disable-sync",
        ],
      });
      try {
        // Counts the live feed's messages the page receives.
        await browser.addInitScript(() => {
          const Original = globalThis.EventSource;
          const counter = { messages: 0 };
          Object.assign(globalThis, { feedCounter: counter });
          globalThis.EventSource = class extends Original {
            constructor(url: string | URL, init?: EventSourceInit) {
              super(url, init);
              this.addEventListener("message", () => counter.messages++);
            }
          };
        });
        const counted = (page: Page) =>
          page.evaluate(() =>
            (globalThis as unknown as { feedCounter: { messages: number } }).feedCounter.messages
          );
        let messages = 0;
        let streamedSeconds = 0;
        const page = await pairedRuns(measured, async () => {
          const page = await browser.newPage();
          await page.goto(`${url}/`);
          await page.waitForFunction(() =>
            document.querySelector("[data-live-state]")?.textContent === "live"
          );
          const before = await counted(page);
          const started = performance.now();
          return async () => {
            streamedSeconds += (performance.now() - started) / 1000;
            messages += await counted(page) - before;
            await page.close();
          };
        });
        withPage = page;
        sections.push(
          comparison("chromium (nice 19) with `/` open, streaming", page) +
            ` The page received ${(messages / streamedSeconds).toFixed(1)} live messages a second.`,
        );
      } finally {
        await browser.close();
        await Deno.remove(profile, { recursive: true });
        await Deno.remove(niced);
      }
    } else {
      sections.push(`The comparison with a browser's page needs chromium (${CHROMIUM}): not run.`);
    }
    const streaming = [
      "| front desk (wrk -t2 -c16, POST front_desk) | requests/s, median | p99, median | server CPU per request, median | runs (requests/s) |",
      "|---|---|---|---|---|",
      side("without a listener (curl pairs)", curl.without),
      side("with `curl -N /events`", curl.with),
      ...(withPage
        ? [
          side("without a page (chromium pairs)", withPage.without),
          side("with chromium on `/`", withPage.with),
        ]
        : []),
      "",
      ...sections.map((text) => `- ${text}`),
      "",
      `Each pair is one ${SECONDS} s run of each side, the order turned every pair, after one run not counted; ` +
      "this VM's speed drifts by ±20 % between runs, so the sides are compared run by run (the median of the " +
      "pairs' ratios) rather than by their medians. The running job's progress moved all along, so a listener " +
      "had something new twice a second. Chromium ran on the same two cores as the server and wrk, at nice 19 " +
      "(an operator's browser runs on their own machine); its drawing of the page is what its pairs add to " +
      "curl's. The live feed itself costs the server about a millisecond of CPU a second while " +
      "pages listen: it looks at the jobs twice a second, once for all open pages, and draws the sections again " +
      "only when a job comes, goes or changes status.",
    ].join("\n");
    clearInterval(moving);
    await writer.close();
    server.kill("SIGTERM");
    await server.status;

    const fmt = (value: number) => `${value < 10 ? value.toFixed(2) : value.toFixed(1)} ms`;
    const rows = timed.map((t) =>
      `| \`${t.path}\` | ${fmt(median(t.server))} | ${fmt(percentile(t.server, 95))} | ${
        fmt(Math.max(...t.server))
      } | ${fmt(median(t.roundTrip))} | ${fmt(t.cpuPerRequest)} | ${(t.bytes / 1024).toFixed(0)} KiB |`
    );
    const status = timed[0];
    const markdown = [
      `## The window: status page and streaming ${quick ? "(quick run)" : ""}`,
      "",
      `${await machineLine()}. \`toros serve preprocessor\` (SQLite) with ${JOBS} jobs (one running, its progress`,
      `moving every 100 ms during the comparisons; some failed, some queued) and ${
        NIGHTS * PRODUCTS_PER_NIGHT
      } products (${NIGHTS} nights of`,
      `${PRODUCTS_PER_NIGHT}, each with its raw inputs and masters); the status page shows 5 nights of 12 thumbnails.`,
      `Server time is the page's \`Server-Timing\` (from the request's arrival at the window to its answer); CPU is`,
      `the server process's own per request; ${SAMPLES} requests one after the other.`,
      "",
      "| page | server time, median | p95 | max | round trip, median | server CPU per request | size |",
      "|---|---|---|---|---|---|---|",
      ...rows,
      "",
      `\`/\` answered in **${fmt(median(status.server))}** of server time at the median, ${
        fmt(percentile(status.server, 95))
      } at the 95th percentile (target: ≤ 50 ms); ${
        status.server.filter((ms) => ms > 50).length
      } of ${SAMPLES} requests took longer than 50 ms (worst ${fmt(Math.max(...status.server))}).`,
      "",
      streaming,
    ].join("\n");
    console.log(markdown);
    await writeResultsSection("web", markdown);
  } finally {
    for (const process of processes) {
      try {
        process.kill("SIGKILL");
      } catch { /* gone */ }
    }
    await Deno.remove(root, { recursive: true });
  }
}

if (import.meta.main) await main();
