/**
 * The daemon as systemd runs it, in a subprocess: kill -9 during a reduction and
 * start again — the job completes, products are whole, no row is duplicated;
 * SIGTERM — the current frame finishes, the job goes back to the queue, exit 0
 * within 10 s.
 */
import { assert, assertEquals } from "./_assert.ts";
import { readHdus, verifyChecksums } from "../lib/fits/mod.ts";
import { openStore } from "../lib/store/mod.ts";
import { callXmlRpc, type XmlRpcValue } from "../lib/xmlrpc/mod.ts";
import { simulateNight } from "../services/preprocessor/simulate.ts";
import { freePort } from "./_daemons.ts";

const MAIN = new URL("../main.ts", import.meta.url).pathname;

async function prepare(lights = 16) {
  const root = await Deno.realPath(await Deno.makeTempDir({ prefix: "toros-crash-" }));
  const night = `${root}/data/2026-11-24`;
  // Small bands and one worker make the reduction slow enough to interrupt on purpose.
  await simulateNight(night, { size: 128, bias: 3, darks: 3, flatsPerFilter: 3, lights });
  const port = freePort();
  const config = `${root}/toros.conf.yaml`;
  await Deno.writeTextFile(
    config,
    `Preprocessor Address: {HTTP: "http://127.0.0.1:${port}/", IP: 127.0.0.1, Port: ${port}}
Logging: {File: ${root}/toros.log, Log Level: INFO}
Database: {File: ${root}/toros.sqlite3}
Data: {Roots: [${root}/data]}
Reduction: {Band Rows: 1, Workers: 1}
`,
  );
  return { root, night, config, url: `http://127.0.0.1:${port}/` };
}

function startDaemon(config: string): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", MAIN, "serve", "preprocessor", "--config", config],
    stdout: "null",
    stderr: "null",
  }).spawn();
}

async function until<T>(fn: () => Promise<T | null>, what: string, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const value = await fn();
      if (value !== null) return value;
    } catch { /* not up yet */ }
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

async function status(url: string, job: number): Promise<Record<string, XmlRpcValue>> {
  return await callXmlRpc(url, "job_status", [job], { timeoutMs: 2000 }) as Record<string, XmlRpcValue>;
}

async function submit(url: string, night: string): Promise<number> {
  const answer = await until(
    () =>
      callXmlRpc(url, "front_desk", [{
        ID: "crash-1",
        Request: "Exposure Calibration",
        "File Location": night,
      }]),
    "the service to answer",
  ) as Record<string, XmlRpcValue>;
  return answer.Job as number;
}

Deno.test("kill -9 during a reduction, start again: the job completes, products whole, no duplicate rows", async () => {
  // 80 lights go in four batches of 20: the kill comes once a batch is written, with batches left.
  const lights = 80;
  const { root, night, config, url } = await prepare(lights);
  let daemon = startDaemon(config);
  const productsDir = `${night}/products`;
  try {
    const job = await submit(url, night);
    await until(async () => {
      const s = await status(url, job);
      const written = await Array.fromAsync(Deno.readDir(productsDir)).then(
        (entries) => entries.some((e) => e.name.startsWith("calib_") && !e.name.endsWith(".tmp")),
        () => false,
      );
      return s.Status === "running" && written ? s : null;
    }, "lights to be written");
    daemon.kill("SIGKILL");
    await daemon.status;
    const before = [...Deno.readDirSync(productsDir)].map((e) => e.name);
    assert(before.some((name) => name.startsWith("calib_")), "some lights were done before the kill");
    daemon = startDaemon(config);
    const final = await until(async () => {
      const s = await status(url, job);
      return ["done", "failed"].includes(String(s.Status)) ? s : null;
    }, "the job to finish after the restart");
    assertEquals(final.Status, "done", JSON.stringify(final));
    assertEquals((final.Attempts as number) >= 2, true);
    // The web page's previews live beside the products, in .previews/.
    const names = [...Deno.readDirSync(productsDir)].map((e) => e.name).filter((n) => n !== ".previews")
      .sort();
    assertEquals(names.filter((n) => n.endsWith(".tmp")), [], "no half-written files left");
    assertEquals(names.length, 3 + 1 + lights, "three masters, the bad-pixel map, the lights");
    for (const name of names) {
      const path = `${productsDir}/${name}`;
      const bytes = await Deno.readFile(path);
      // Every HDU of the file (SCI, BPM, ERR) whole, each with its own checksums.
      for (const hdu of await readHdus(path)) {
        const sums = verifyChecksums(
          bytes.subarray(hdu.headerOffset, hdu.dataOffset),
          bytes.subarray(hdu.dataOffset, hdu.dataOffset + Math.ceil(hdu.dataBytes / 2880) * 2880),
          hdu.header,
        );
        assertEquals(sums, { datasumOk: true, checksumOk: true }, `${name} ${hdu.name}`);
      }
    }
    daemon.kill("SIGTERM");
    await daemon.status;
    const store = await openStore({ file: `${root}/toros.sqlite3` });
    try {
      const nights = await store.listNights();
      assertEquals(nights.length, 1);
      assertEquals(nights[0].products, 3 + 1 + lights, "one row per product (the bad-pixel map too)");
      assertEquals(nights[0].exposures, 3 + 3 + 3 + lights, "one row per raw file");
      assertEquals((await store.listJobs()).length, 1);
    } finally {
      await store.close();
    }
  } finally {
    try {
      daemon.kill("SIGKILL");
    } catch { /* already gone */ }
    await daemon.status;
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("SIGTERM: the current frames finish, the job is queued again, exit 0 within 10 s", async () => {
  // Lights are calibrated in batches of up to 24, as even as can be: 80 make four of 20, so when the
  // first is done (its products counted in the progress) there are batches left to put back.
  const { root, night, config, url } = await prepare(80);
  const daemon = startDaemon(config);
  try {
    const job = await submit(url, night);
    await until(async () => {
      const s = await status(url, job);
      return s.Status === "running" && Number(s.Progress) > 0.15 ? s : null;
    }, "the reduction to be under way");
    const sent = Date.now();
    daemon.kill("SIGTERM");
    const exit = await daemon.status;
    const seconds = (Date.now() - sent) / 1000;
    assertEquals(exit.code, 0);
    assert(seconds < 10, `stopped in ${seconds} s`);
    const store = await openStore({ file: `${root}/toros.sqlite3` });
    try {
      const stored = await store.getJob(job);
      assertEquals(stored?.status, "queued");
      assertEquals(stored?.workerId, null);
    } finally {
      await store.close();
    }
    const leftovers = [...Deno.readDirSync(`${night}/products`)].filter((e) => e.name.endsWith(".tmp"));
    assertEquals(leftovers.length, 0, "the current frame finished: no half-written product");
  } finally {
    try {
      daemon.kill("SIGKILL");
    } catch { /* already gone */ }
    await daemon.status;
    await Deno.remove(root, { recursive: true });
  }
});
