/**
 * Reduction speed and memory against astropy ccdproc, in the same run: a
 * simulated 2048×2048 uint16 night (11 bias, 11 dark, 11 flat, 20 lights)
 * reduced by `bench/ccdproc_reduce.py` and by `toros reduce`, each several times
 * in turn (`--runs=N`, default 3), timed with peak RSS (GNU time's maximum
 * resident set size); toros' wall time is broken down by stage from its
 * `--json` report. toros runs twice a turn, with `Output: Format: single` (SCI
 * only) and `mef` (SCI, BPM and ERR, the default), for what the mask and the
 * uncertainty cost; ccdproc once more with `--uncertainty` (its lights' ERR). Then the same night doubled in frame count and in frame size,
 * to show toros' RSS stays flat. Every run starts after a `sync`. `--quick`: 512×512, one run, no doubling.
 *
 * @module
 */
import { simulateNight } from "../services/preprocessor/simulate.ts";
import type { ReductionReport } from "../services/preprocessor/pipeline.ts";
import { machineLine, writeResultsSection } from "./_results.ts";

const quick = Deno.args.includes("--quick");
const runsArg = Deno.args.find((arg) => arg.startsWith("--runs="));
const RUNS = quick ? 1 : runsArg ? Math.max(1, Number(runsArg.slice("--runs=".length)) || 1) : 3;
const MAIN = new URL("../main.ts", import.meta.url).pathname;
const SCRIPT = new URL("./ccdproc_reduce.py", import.meta.url).pathname;

interface Run {
  seconds: number;
  rssMiB: number;
  /** The machine's 1-minute load average as the run started (other work on the cores, and the run before). */
  load: number;
  /** toros' own report (`--json`). */
  report?: ReductionReport;
}

/** The 1-minute load average, or NaN off Linux. */
async function loadAverage(): Promise<number> {
  try {
    return Number((await Deno.readTextFile("/proc/loadavg")).split(" ")[0]);
  } catch {
    return NaN;
  }
}

async function timed(command: string, args: string[]): Promise<Run & { stdout: string }> {
  // What earlier runs and the simulation wrote goes to the disk first (`sync`): otherwise the kernel writes
  // it back during this run, whose own syncs then wait behind a gigabyte it did not write.
  await new Deno.Command("sync").output();
  const load = await loadAverage();
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
  return { seconds, rssMiB: rss, load, stdout: new TextDecoder().decode(out.stdout) };
}

/** Products as `Reduction: Output: Format` makes them. */
type Format = "mef" | "single";

async function toros(nightDir: string, workDir: string, format: Format = "mef"): Promise<Run> {
  const config = `${workDir}/toros.conf.yaml`;
  await Deno.writeTextFile(
    config,
    `Database: {File: ${workDir}/toros.sqlite3}\nLogging: {File: ""}\nReduction: {Output: {Format: ${format}}}\n`,
  );
  await Deno.remove(`${nightDir}/products`, { recursive: true }).catch(() => {});
  const run = await timed(Deno.execPath(), [
    "run",
    "--allow-all",
    MAIN,
    "reduce",
    nightDir,
    "--config",
    config,
    "--force",
    "--json",
  ]);
  return { seconds: run.seconds, rssMiB: run.rssMiB, load: run.load, report: JSON.parse(run.stdout) };
}

async function ccdproc(nightDir: string, workDir: string, uncertainty = false): Promise<Run> {
  const run = await timed("/usr/bin/python3", [
    SCRIPT,
    nightDir,
    `${workDir}/ccdproc-products`,
    "0.01",
    ...(uncertainty ? ["--uncertainty"] : []),
  ]);
  return { seconds: run.seconds, rssMiB: run.rssMiB, load: run.load };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const h = sorted.length >> 1;
  return sorted.length % 2 ? sorted[h] : (sorted[h - 1] + sorted[h]) / 2;
}

/** `2.31 s` for one run, `2.31 s (2.20-2.60)` for several: the median and the spread. */
function spread(values: number[], digits: number): string {
  const m = `${median(values).toFixed(digits)} s`;
  if (values.length === 1) return m;
  return `${m} (${Math.min(...values).toFixed(digits)}-${Math.max(...values).toFixed(digits)})`;
}

/** The run whose wall time is the median one (its stage breakdown is shown). */
function medianRun(runs: Run[]): Run {
  const sorted = [...runs].sort((a, b) => a.seconds - b.seconds);
  return sorted[(sorted.length - 1) >> 1];
}

/** What a stage did, in the table of where the time goes. */
function stageNote(stage: ReductionReport["stages"][number]): string {
  switch (stage.name) {
    case "ingest":
      return "headers read, frames classified, night and files recorded";
    case "calibrated_lights":
      return `${stage.products} lights in batches of up to 24; products synced behind their writes`;
    case "master_qc":
      return "each new master against the previous of its kind";
    case "bad_pixel_map":
      return "hot pixels from the master dark, dead and low from the flat";
    default:
      return `${stage.frames} frames combined`;
  }
}

/** Where toros' wall time went in a mef run and a single run, by stage, from their reports. */
function breakdown(mef: Run, single: Run): string[] {
  const [a, b] = [mef.report!, single.report!];
  const seconds = (report: ReductionReport, name: string) =>
    report.stages.find((stage) => stage.name === name)?.seconds ?? 0;
  const rows = a.stages.map((stage) =>
    `| ${stage.name} | ${stage.seconds.toFixed(2)} s | ${stage.fsyncSeconds.toFixed(2)} s | ${
      seconds(b, stage.name).toFixed(2)
    } s | ${stageNote(stage)} |`
  );
  const inStages = (report: ReductionReport) => report.stages.reduce((sum, stage) => sum + stage.seconds, 0);
  return [
    "| part of the run | mef | of which fsync | single | |",
    "|---|---|---|---|---|",
    `| start-up (Deno, modules, pixel workers, catalog) and exit | ${
      (mef.seconds - a.seconds).toFixed(2)
    } s | | ${(single.seconds - b.seconds).toFixed(2)} s | outside reduceNight |`,
    `| set-up (night checked, products directory, stale files) | ${
      (a.seconds - inStages(a)).toFixed(2)
    } s | | ${(b.seconds - inStages(b)).toFixed(2)} s | |`,
    ...rows,
    `| **whole command** | **${mef.seconds.toFixed(2)} s** | | **${single.seconds.toFixed(2)} s** | |`,
    `| hashing (SHA-256 of every raw file) | ${a.hashSeconds.toFixed(2)} s | | ${
      b.hashSeconds.toFixed(2)
    } s | inside the stages: each frame hashed as it is first read |`,
  ];
}

async function main(): Promise<void> {
  const root = await Deno.makeTempDir({ prefix: "toros-reduce-bench-" });
  const rows: string[] = [];
  try {
    const size = quick ? 512 : 2048;
    const base = `${root}/night`;
    console.log(`simulating ${size}x${size} night...`);
    await simulateNight(base, { size, bias: 11, darks: 11, flatsPerFilter: 11, lights: 20 });
    const references: Run[] = [];
    const ours: Run[] = [];
    const singles: Run[] = [];
    for (let i = 0; i < RUNS; i++) {
      console.log(`run ${i + 1} of ${RUNS}: ccdproc...`);
      references.push(await ccdproc(base, root));
      console.log(
        `  ${references[i].seconds.toFixed(1)} s, ${references[i].rssMiB.toFixed(0)} MiB; toros single...`,
      );
      singles.push(await toros(base, root, "single"));
      console.log(`  ${singles[i].seconds.toFixed(2)} s, ${singles[i].rssMiB.toFixed(0)} MiB; toros mef...`);
      ours.push(await toros(base, root, "mef"));
      console.log(
        `  ${ours[i].seconds.toFixed(2)} s, ${ours[i].rssMiB.toFixed(0)} MiB (load ${ours[i].load})`,
      );
    }
    console.log("ccdproc with --uncertainty...");
    const referenceWithErrors = await ccdproc(base, root, true);
    console.log(
      `  ${referenceWithErrors.seconds.toFixed(1)} s, ${referenceWithErrors.rssMiB.toFixed(0)} MiB`,
    );
    const costs = ours.map((run, i) => run.seconds / singles[i].seconds);
    const rss = (runs: Run[]) => `${Math.max(...runs.map((run) => run.rssMiB)).toFixed(0)} MiB`;
    // One row per output format, each against the same ccdproc runs (each run's ccdproc time over the
    // toros run after it, for the spread).
    const row = (label: string, runs: Run[]) => {
      const ratios = references.map((reference, i) => reference.seconds / runs[i].seconds);
      return `| ${size}² × 53 frames, ${label} | ${spread(references.map((r) => r.seconds), 1)} | ${
        spread(runs.map((r) => r.seconds), 2)
      } | **${
        (median(references.map((r) => r.seconds)) / median(runs.map((r) => r.seconds))).toFixed(1)
      }×** (${Math.min(...ratios).toFixed(1)}-${Math.max(...ratios).toFixed(1)}) | ${rss(references)} | ${
        rss(runs)
      } |`;
    };
    rows.push(row("single (SCI, as ccdproc's)", singles), row("mef (SCI, BPM, ERR; the default)", ours));
    const typical = medianRun(ours);
    const typicalSingle = medianRun(singles);
    const seconds = (runs: Run[]) => runs.map((run) => run.seconds);
    const cost = [
      "",
      `What the mask and the uncertainty cost (${size}² night, the same runs): \`single\` writes SCI only, saturated`,
      "pixels NaN; `mef` (the default) SCI, BPM and ERR, with the bad-pixel map stage. ccdproc with",
      "`--uncertainty` gives its lights create_deviation carried through its arithmetic and writes every product",
      "with an ERR extension (no mask), one run.",
      "",
      "| products | toros | toros mef ÷ single | toros peak RSS | ccdproc | ccdproc peak RSS |",
      "|---|---|---|---|---|---|",
      `| single: SCI | ${spread(seconds(singles), 2)} | | ${rss(singles)} | ${
        spread(seconds(references), 1)
      } | ${rss(references)} |`,
      `| mef: SCI + BPM + ERR | ${spread(seconds(ours), 2)} | **${
        (median(seconds(ours)) / median(seconds(singles))).toFixed(2)
      }×** (${Math.min(...costs).toFixed(2)}-${Math.max(...costs).toFixed(2)}) | ${rss(ours)} | ${
        referenceWithErrors.seconds.toFixed(1)
      } s (with ERR) | ${referenceWithErrors.rssMiB.toFixed(0)} MiB |`,
    ];
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
        `| ${size * 2}² × 53 frames, mef (one run) | ${bigReference.seconds.toFixed(1)} s | ${
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
        `| ${size}² × 53 frames | ${typical.seconds.toFixed(2)} s | ${typical.rssMiB.toFixed(0)} MiB |`,
        `| ${size}² × 106 frames | ${count.seconds.toFixed(2)} s | ${count.rssMiB.toFixed(0)} MiB |`,
        `| ${size * 2}² × 53 frames | ${big.seconds.toFixed(2)} s | ${big.rssMiB.toFixed(0)} MiB |`,
      );
    }
    const markdown = [
      `## Reduction: toros vs ccdproc ${quick ? "(quick run)" : ""}`,
      "",
      `${await machineLine()}. Simulated uint16 night: 11 bias, 11 dark (60 s), 11 flat (V), 20 lights;`,
      "the standard reduction (median masters, scaled dark, flats normalized by their median, flat_correct).",
      "Times are wall clock of the whole command (start-up, ingest, SHA-256 of every raw file, products fsync'd),",
      "each started after a `sync` (nothing an earlier run or the simulation wrote is still going to the disk);",
      `RSS is GNU time's maximum resident set size (the highest of the runs). The machine's 1-minute load average`,
      `as each pair of runs started: ${
        references.map((run) => run.load.toFixed(2)).join(", ")
      } (other work shares the two cores, and toros uses both; the benchmark's own ccdproc run adds about 1 by`,
      "the time toros starts).",
      ...(RUNS > 1
        ? [
          `${RUNS} runs of each, in turn (ccdproc, toros single, toros mef, ccdproc, ...): the median, and in brackets`,
          "the fastest and slowest; the speed-up is of the medians, and in brackets the lowest and highest of each",
          "run's ccdproc time over the toros run after it.",
        ]
        : []),
      "",
      "toros makes one-HDU products (`single`, what ccdproc writes) and its default ones (`mef`: SCI, BPM, ERR).",
      "",
      "| night | ccdproc | toros | speed-up | ccdproc peak RSS | toros peak RSS |",
      "|---|---|---|---|---|---|",
      ...rows,
      "",
      `Where toros' time goes (${size}² night, the run of median wall time, from \`toros reduce --json\`):`,
      "",
      ...breakdown(typical, typicalSingle),
      ...cost,
      ...scaling,
    ].join("\n");
    console.log(markdown);
    await writeResultsSection("reduce", markdown);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
}

await main();
