/**
 * A night reduced by toros and by ccdproc (`bench/ccdproc_reduce.py`) with
 * matching options, product by product compared: the helpers of the tests that
 * hold the reduction's options to ccdproc.
 *
 * @module
 */
import { assert, assertEquals } from "./_assert.ts";
import { PYTHON } from "./_peers.ts";
import { readImage } from "../lib/fits/mod.ts";
import type { ReductionConfig } from "../lib/config.ts";
import { openStore } from "../lib/store/mod.ts";
import { reduceNight } from "../services/preprocessor/pipeline.ts";
import type { PixelPool } from "../lib/ccd/mod.ts";

const SCRIPT = new URL("../bench/ccdproc_reduce.py", import.meta.url).pathname;

/** Reduces `night` with toros into `outDir` (a catalog of its own there); fails on any skipped or failed frame. */
export async function torosReduce(
  night: string,
  outDir: string,
  reduction: ReductionConfig,
  pool: PixelPool,
): Promise<void> {
  await Deno.mkdir(outDir, { recursive: true });
  const store = await openStore({ file: `${outDir}/toros.sqlite3` });
  try {
    const report = await reduceNight(night, { store, reduction, pool, outDir });
    assertEquals(report.failed, []);
    assertEquals(report.skipped, []);
  } finally {
    await store.close();
  }
}

/** Reduces `night` with ccdproc into `outDir`, with the script's options (`--sigma-clip 3,3,mean`, ...). */
export async function ccdprocReduce(
  night: string,
  outDir: string,
  flatFloor: number,
  options: string[],
): Promise<void> {
  const out = await new Deno.Command(PYTHON, {
    args: [SCRIPT, night, outDir, String(flatFloor), ...options],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert(out.success, new TextDecoder().decode(out.stderr));
}

/** How two versions of a product differ. */
export interface ProductDifference {
  name: string;
  /** Largest |ours − theirs| / max(|theirs|, 1) over pixels finite in both. */
  worst: number;
  /** Pixels NaN in one and not the other. */
  nanMismatch: number;
  /** Pixels NaN in both. */
  nan: number;
  /** Pixels differing by more than `tolerance` (relative, as `worst`). */
  beyond: number;
}

/** Compares the products of `theirsDir` with those of the same name in `oursDir`. */
export async function compareProducts(
  oursDir: string,
  theirsDir: string,
  tolerance = 1e-4,
): Promise<ProductDifference[]> {
  const names = [...Deno.readDirSync(theirsDir)].map((e) => e.name).filter((n) => n.endsWith(".fits")).sort();
  const differences: ProductDifference[] = [];
  for (const name of names) {
    const ours = await readImage(`${oursDir}/${name}`);
    const theirs = await readImage(`${theirsDir}/${name}`);
    assertEquals(ours.data.length, theirs.data.length, name);
    const difference = { name, worst: 0, nanMismatch: 0, nan: 0, beyond: 0 };
    for (let i = 0; i < ours.data.length; i++) {
      const [a, b] = [ours.data[i], theirs.data[i]];
      if (Number.isNaN(a) || Number.isNaN(b)) {
        if (Number.isNaN(a) && Number.isNaN(b)) difference.nan++;
        else difference.nanMismatch++;
        continue;
      }
      const relative = Math.abs(a - b) / Math.max(Math.abs(b), 1);
      if (relative > difference.worst) difference.worst = relative;
      if (relative > tolerance) difference.beyond++;
    }
    differences.push(difference);
  }
  return differences;
}

/** Logs each product's difference and asserts every one is within `tolerance` with the same NaN pixels. */
export function assertWithin(label: string, differences: ProductDifference[], tolerance = 1e-4): void {
  assert(differences.length > 0, `${label}: no products compared`);
  for (const d of differences) {
    console.log(`${label} ${d.name}: worst relative difference ${d.worst.toExponential(2)}, ${d.nan} NaN`);
  }
  for (const d of differences) {
    assertEquals(d.nanMismatch, 0, `${label} ${d.name}: pixels NaN in one product only`);
    assert(d.worst <= tolerance, `${label} ${d.name}: worst relative difference ${d.worst}`);
  }
}
