/**
 * What the stage tests share: a temporary night with its catalog and pixel
 * pool, a run of chosen stages over it, and the per-pixel references.
 */
import { defaultConfig, type ReductionConfig } from "../lib/config.ts";
import { readImage } from "../lib/fits/mod.ts";
import { openStore, type Store } from "../lib/store/mod.ts";
import { createPixelPool, medianOf, type PixelPool } from "../lib/ccd/mod.ts";
import { NightRun, type Stage } from "../services/preprocessor/stages/mod.ts";
import type { ReductionProgress } from "../services/preprocessor/report.ts";

/** A temporary directory with a catalog and a pool. */
export interface Bench {
  dir: string;
  store: Store;
  pool: PixelPool;
  reduction: ReductionConfig;
}

/** Runs `test` with a fresh {@link Bench}, removed afterwards. */
export async function withBench(test: (bench: Bench) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "toros-stage-" });
  const pool = createPixelPool(2);
  const store = await openStore({ file: `${dir}/toros.sqlite3` });
  try {
    await test({ dir, store, pool, reduction: defaultConfig(dir).reduction });
  } finally {
    pool.close();
    await store.close();
    await Deno.remove(dir, { recursive: true });
  }
}

/** Runs `stages` over a night (into NIGHT/products); returns the run, its catalog rows written. */
export async function runStages(
  bench: Bench,
  night: string,
  stages: Stage[],
  options: {
    force?: boolean;
    reduction?: ReductionConfig;
    progress?: ReductionProgress[];
    debug?: string[];
  } = {},
): Promise<NightRun> {
  await Deno.mkdir(`${night}/products`, { recursive: true });
  const run = new NightRun({
    nightDir: await Deno.realPath(night),
    outDir: `${await Deno.realPath(night)}/products`,
    store: bench.store,
    reduction: options.reduction ?? bench.reduction,
    pool: bench.pool,
    log: { debug: (message) => options.debug?.push(message), info() {}, warning() {}, error() {} },
    force: options.force,
    onProgress: options.progress ? (p) => options.progress!.push(p) : undefined,
  });
  await run.run(stages);
  await run.catalog.recordRemaining();
  return run;
}

/** The pixel data of the night's files whose names start with `prefix`, in name order. */
export async function framesOf(night: string, prefix: string): Promise<Float32Array[]> {
  const names = [...Deno.readDirSync(night)].map((e) => e.name).filter((n) => n.startsWith(prefix)).sort();
  return await Promise.all(names.map(async (name) => (await readImage(`${night}/${name}`)).data));
}

/** numpy's median of each pixel over frames. */
export function pixelMedian(frames: Float32Array[]): Float32Array {
  return Float32Array.from({ length: frames[0].length }, (_, p) => medianOf(frames.map((f) => f[p])));
}

/** The largest difference of `actual` from `expected`, relative to max(|expected|, 1). */
export function worstDifference(actual: Float32Array, expected: Float32Array): number {
  let worst = 0;
  for (let p = 0; p < expected.length; p++) {
    const diff = Math.abs(actual[p] - expected[p]) / Math.max(Math.abs(expected[p]), 1);
    if (Number.isNaN(diff)) return NaN;
    if (diff > worst) worst = diff;
  }
  return worst;
}
