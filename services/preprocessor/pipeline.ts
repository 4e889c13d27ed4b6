/**
 * The reduction of one night as an ordered list of stages (after LCO's BANZAI),
 * each in its own file under `stages/` and testable alone: ingest, master bias,
 * master darks (per exposure time), master flats (per filter), calibrated
 * lights. Every input is streamed in bands of rows and the per-pixel work runs
 * on the worker pool, so memory does not grow with the number or size of frames.
 *
 * The default reduction is ccdproc's standard one:
 *
 *   master bias  = median(bias_i)
 *   master dark  = median(dark_i − bias)                            per exposure time
 *   master flat  = median((flat_i − bias − dark·t_f/t_d) / median_i)  per filter
 *   light'       = (light − bias − dark·t_l/t_d) ÷ flat × mean(flat)
 *
 * @module
 */
import { createPixelPool, type PixelPool } from "../../lib/ccd/mod.ts";
import type { ReductionConfig } from "../../lib/config.ts";
import type { Store } from "../../lib/store/mod.ts";
import { getLogger, type Logger } from "../../lib/log.ts";
import { assertStillInside, LocationError } from "../../lib/data_roots.ts";
import {
  badPixelMap,
  calibratedLights,
  ingest,
  masterBias,
  masterDarks,
  masterFlats,
  masterQc,
  NightRun,
  type Stage,
} from "./stages/mod.ts";
import { countWarnings, type ReductionProgress, type ReductionReport } from "./report.ts";

export {
  type ProductSummary,
  type QcVerdict,
  ReductionAborted,
  type ReductionProgress,
  type ReductionReport,
  type SkippedFrame,
  type StageSummary,
  type WarningCount,
} from "./report.ts";

/**
 * The stages of a night, in the order they run. Each declares what it reads,
 * uses and writes, how it groups frames and which settings change its pixels;
 * a new step is a new stage file placed here. Quality control of frames runs
 * inside the master stages (on the pixels they read anyway); of masters, in
 * `master_qc`; the bad-pixel map is made from the masters before the lights use it.
 */
export const REDUCTION_STAGES: readonly Stage[] = [
  ingest,
  masterBias,
  masterDarks,
  masterFlats,
  masterQc,
  badPixelMap,
  calibratedLights,
];

/** How to reduce. */
export interface ReduceOptions {
  store: Store;
  reduction: ReductionConfig;
  /** Where products go (default NIGHT/products). */
  outDir?: string;
  /**
   * A pool to reuse (the service keeps one); created and closed here otherwise.
   * When it has a yield gate, the hashing threads and the band sweeps pass it too.
   */
  pool?: PixelPool;
  onProgress?: (progress: ReductionProgress) => void;
  /** Checked between products: the current frame finishes, then {@link ReductionAborted} is thrown. */
  signal?: AbortSignal;
  /** Make every product again even when an up-to-date one exists. */
  force?: boolean;
  /**
   * Data roots the night must stay inside (the service's `Data: Roots`): the night
   * directory, given as the real path checked when the order was accepted, must
   * still resolve to itself inside a root when the run starts and before each
   * product is written, so a directory swapped for a symlink is refused.
   */
  roots?: string[];
  log?: Logger;
}

/** Removes half-written products a crash left behind (the writer's `.NAME.xxxxxxxx.tmp` files). */
export async function removeStaleTemporaries(outDir: string, log: Logger): Promise<void> {
  for await (const entry of Deno.readDir(outDir)) {
    if (entry.isFile && /^\..+\.[0-9a-f]{8}\.tmp$/.test(entry.name)) {
      await Deno.remove(`${outDir}/${entry.name}`).catch(() => {});
      log.info(`Removed unfinished ${entry.name} left by an interrupted run`);
    }
  }
}

/** The night's real path, checked against the data roots when they are given. */
export async function openNightDir(nightDir: string, roots: string[] | undefined): Promise<string> {
  if (roots) {
    await assertStillInside(nightDir, roots);
    return nightDir;
  }
  try {
    const realDir = await Deno.realPath(nightDir);
    if (!(await Deno.stat(realDir)).isDirectory) throw new Error("not a directory");
    return realDir;
  } catch (error) {
    throw new Error(
      `Night directory ${nightDir} cannot be read: ${error instanceof Error ? error.message : error}`,
    );
  }
}

/**
 * A check that the output directory is still the real directory it was (not a
 * symlink, not swapped) inside the data roots: products never follow a link out.
 */
export function confinement(outDir: string, roots: string[]): () => Promise<void> {
  return async () => {
    if ((await Deno.lstat(outDir)).isSymlink) {
      throw new LocationError(
        `Products directory ${outDir} is a symbolic link: products are not written through it`,
      );
    }
    await assertStillInside(outDir, roots);
  };
}

/**
 * Reduces a night: runs {@link REDUCTION_STAGES} over it, every product recorded
 * with its inputs and masters. Frames that cannot be used are skipped with the
 * reason; the rest of the night goes on.
 */
export async function reduceNight(nightDir: string, options: ReduceOptions): Promise<ReductionReport> {
  const started = performance.now();
  const log = options.log ?? getLogger("preprocessor.reduce");
  const realDir = await openNightDir(nightDir, options.roots);
  const outDir = options.outDir ?? `${realDir}/products`;
  await Deno.mkdir(outDir, { recursive: true });
  const confine = options.roots ? confinement(outDir, options.roots) : () => Promise.resolve();
  await confine();
  await removeStaleTemporaries(outDir, log);
  log.info(`Reducing ${realDir} into ${outDir}`);
  const pool = options.pool ??
    createPixelPool(options.reduction.workers || navigator.hardwareConcurrency || 1);
  const night = new NightRun({
    nightDir: realDir,
    outDir,
    store: options.store,
    reduction: options.reduction,
    pool,
    log,
    force: options.force,
    signal: options.signal,
    confine,
    onProgress: options.onProgress,
  });
  try {
    await night.run(REDUCTION_STAGES);
    await night.catalog.recordRemaining();
  } finally {
    // No catalog write of this night outlives the call, whatever stopped it.
    await night.catalog.settle();
    if (!options.pool) pool.close();
  }
  const report: ReductionReport = {
    nightDir: realDir,
    outDir,
    night: night.catalog.night,
    framesUsed: night.framesFound - night.skipped.filter((skip) => skip.stage !== "ingest").length,
    skipped: night.skipped,
    failed: [...night.failed, ...night.catalog.hashFailures],
    products: night.products,
    warnings: night.warnings,
    warningCounts: countWarnings(night.warnings, night.products),
    stages: night.stages,
    qc: night.verdicts,
    hashSeconds: night.catalog.hashSeconds,
    seconds: (performance.now() - started) / 1000,
  };
  for (const warning of report.warnings) log.warning(warning);
  log.info(`Reduced ${realDir}: ${report.products.length} products in ${report.seconds.toFixed(1)} s`);
  return report;
}
