/**
 * Reduction speed and memory against astropy ccdproc, in the same run: a
 * simulated 2048×2048 uint16 night (11 bias, 11 dark, 11 flat, 20 lights)
 * reduced by `bench/ccdproc_reduce.py` and by `toros reduce`, timed with peak RSS
 * (GNU time's maximum resident set size). Then the same night doubled in frame
 * count and in frame size, to show toros' RSS stays flat.
 * `--quick`: 512×512 and no doubling.
 *
 * @module
 */
import { simulateNight } from "../services/preprocessor/simulate.ts";
import { machineLine, writeResultsSection } from "./_results.ts";

const quick = Deno.args.includes("--quick");
const MAIN = new URL("../main.ts", import.meta.url).pathname;
const SCRIPT = new URL("./ccdproc_reduce.py", import.meta.url).pathname;

interface Run {
  seconds: number;
  rssMiB: number;
}

async function timed(command: string, args: string[]): Promise<Run> {
  const started = performance.now();
  const out = await new Deno.Command("/usr/bin/time", {
    args: ["-f", "MAXRSS %M", command, ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const seconds = (performance.now() - started) / 1000;
  const stderr = new TextDecoder().decode(out.stderr);
  if (!out.success && out.code !== 3) {
    throw new Error(`${command} failed (${out.code}):\n${stderr.slice(-2000)}`);
  }
  const rss = Number(/MAXRSS (\d+)/.exec(stderr)?.[1] ?? NaN) / 1024;
  return { seconds, rssMiB: rss };
}

async function toros(nightDir: string, workDir: string): Promise<Run> {
  const config = `${workDir}/toros.conf.yaml`;
  await Deno.writeTextFile(config, `Database: {File: ${workDir}/toros.sqlite3}\nLogging: {File: ""}\n`);
  await Deno.remove(`${nightDir}/products`, { recursive: true }).catch(() => {});
  return await timed(Deno.execPath(), [
    "run",
    "--allow-all",
    MAIN,
    "reduce",
    nightDir,
    "--config",
    config,
    "--force",
  ]);
}

async function ccdproc(nightDir: string, workDir: string): Promise<Run> {
  return await timed("/usr/bin/python3", [SCRIPT, nightDir, `${workDir}/ccdproc-products`, "0.01"]);
}

async function main(): Promise<void> {
  const root = await Deno.makeTempDir({ prefix: "toros-reduce-bench-" });
  const rows: string[] = [];
  try {
    const size = quick ? 512 : 2048;
    const base = `${root}/night`;
    console.log(`simulating ${size}x${size} night...`);
    await simulateNight(base, { size, bias: 11, darks: 11, flatsPerFilter: 11, lights: 20 });
    console.log("ccdproc...");
    const reference = await ccdproc(base, root);
    console.log(`  ${reference.seconds.toFixed(1)} s, ${reference.rssMiB.toFixed(0)} MiB`);
    console.log("toros...");
    const ours = await toros(base, root);
    console.log(`  ${ours.seconds.toFixed(1)} s, ${ours.rssMiB.toFixed(0)} MiB`);
    rows.push(
      `| ${size}² × 53 frames | ${reference.seconds.toFixed(1)} s | ${ours.seconds.toFixed(2)} s | **${
        (reference.seconds / ours.seconds).toFixed(1)
      }×** | ${reference.rssMiB.toFixed(0)} MiB | ${ours.rssMiB.toFixed(0)} MiB |`,
    );
    const scaling: string[] = [];
    if (!quick) {
      const doubleCount = `${root}/night-x2`;
      await simulateNight(doubleCount, {
        size,
        bias: 22,
        darks: 22,
        flatsPerFilter: 22,
        lights: 40,
        seed: 2,
      });
      const count = await toros(doubleCount, root);
      await Deno.remove(doubleCount, { recursive: true });
      const doubleSize = `${root}/night-4096`;
      await simulateNight(doubleSize, {
        size: size * 2,
        bias: 11,
        darks: 11,
        flatsPerFilter: 11,
        lights: 20,
        seed: 3,
      });
      console.log("ccdproc on the doubled size...");
      const bigReference = await ccdproc(doubleSize, root);
      const big = await toros(doubleSize, root);
      rows.push(
        `| ${size * 2}² × 53 frames | ${bigReference.seconds.toFixed(1)} s | ${
          big.seconds.toFixed(2)
        } s | **${(bigReference.seconds / big.seconds).toFixed(1)}×** | ${
          bigReference.rssMiB.toFixed(0)
        } MiB | ${big.rssMiB.toFixed(0)} MiB |`,
      );
      scaling.push(
        "",
        "toros peak RSS as the night grows (ccdproc holds every frame of a combine in memory):",
        "",
        "| night | toros time | toros peak RSS |",
        "|---|---|---|",
        `| ${size}² × 53 frames | ${ours.seconds.toFixed(2)} s | ${ours.rssMiB.toFixed(0)} MiB |`,
        `| ${size}² × 106 frames | ${count.seconds.toFixed(2)} s | ${count.rssMiB.toFixed(0)} MiB |`,
        `| ${size * 2}² × 53 frames | ${big.seconds.toFixed(2)} s | ${big.rssMiB.toFixed(0)} MiB |`,
      );
    }
    const markdown = [
      `## Reduction: toros vs ccdproc ${quick ? "(quick run)" : ""}`,
      "",
      `${await machineLine()}. Simulated uint16 night: 11 bias, 11 dark (60 s), 11 flat (V), 20 lights;`,
      "the standard reduction (median masters, scaled dark, flats normalized by their median, flat_correct).",
      "Times are wall clock of the whole command (start-up, ingest with SHA-256 of every raw file, products fsync'd);",
      "RSS is GNU time's maximum resident set size.",
      "",
      "| night | ccdproc | toros | speed-up | ccdproc peak RSS | toros peak RSS |",
      "|---|---|---|---|---|---|",
      ...rows,
      ...scaling,
    ].join("\n");
    console.log(markdown);
    await writeResultsSection("reduce", markdown);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
}

await main();
