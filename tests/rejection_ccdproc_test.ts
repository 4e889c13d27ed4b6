/**
 * Rejection as a user would set it, against ccdproc's `combine` with the
 * matching arguments, on a night of 11 frames of each kind (with 5, nothing can
 * lie 3σ from the others) with cosmic rays to reject and twilight flats fading
 * by 30 %: every master and calibrated light within 1e-4 relative of ccdproc's,
 * and each option shown to change the masters (so the comparison proves something).
 */
import { assert, assertEquals } from "./_assert.ts";
import { peerTest } from "./_peers.ts";
import { defaultConfig, type ReductionConfig } from "../lib/config.ts";
import { simulateNight } from "../services/preprocessor/simulate.ts";
import { createPixelPool } from "../lib/ccd/mod.ts";
import {
  assertWithin,
  ccdprocReduce,
  compareProducts,
  type ProductDifference,
  torosReduce,
} from "./_ccdproc.ts";

/** The night: 11 bias, 11 darks, 11 flats in each of V and R (R peaking near 22,000 ADU, fading to 15,400), 3 lights. */
async function night(dir: string): Promise<string> {
  const path = `${dir}/2026-12-01`;
  await simulateNight(path, {
    size: 64,
    bias: 11,
    darks: 11,
    flatsPerFilter: 11,
    lights: 3,
    filters: ["V", "R"],
    cosmicRays: 4000,
    flatFade: 0.3,
    seed: 5,
  });
  return path;
}

/** Pixels of `name` differing by more than 1e-4 between two reductions. */
function changed(differences: ProductDifference[], name: string): number {
  return differences.find((d) => d.name === name)!.beyond;
}

await peerTest(
  "Sigma Clip around the mean and around the median equals ccdproc's combine with sigma_clip_func ma.mean / ma.median (flats scaled first), on 11 frames with cosmic rays",
  ["ccdproc"],
  async () => {
    const dir = await Deno.makeTempDir({ prefix: "toros-sigma-" });
    const pool = createPixelPool(2);
    try {
      const path = await night(dir);
      const base = defaultConfig(dir).reduction;
      await ccdprocReduce(path, `${dir}/plain-average`, base.flatFloor, ["--combine", "average"]);
      await ccdprocReduce(path, `${dir}/plain-median`, base.flatFloor, []);
      const cases: {
        combine: ReductionConfig["combine"];
        center: "mean" | "median";
        low: number;
        high: number;
      }[] = [
        { combine: "average", center: "mean", low: 3, high: 3 },
        { combine: "median", center: "median", low: 3, high: 3 },
        { combine: "average", center: "median", low: 2, high: 2.5 },
      ];
      for (const { combine, center, low, high } of cases) {
        const label = `${combine}, Sigma Clip {Low: ${low}, High: ${high}, Center: ${center}}`;
        const reduction: ReductionConfig = { ...base, combine, sigmaClip: { low, high, center } };
        const ours = `${dir}/toros-${combine}-${center}-${low}`;
        const theirs = `${dir}/ccdproc-${combine}-${center}-${low}`;
        await torosReduce(path, ours, reduction, pool);
        const clip = ["--combine", combine, "--sigma-clip", `${low},${high},${center}`];
        await ccdprocReduce(path, theirs, base.flatFloor, [...clip, "--flats-scaled-first"]);
        assertWithin(label, await compareProducts(ours, theirs));
        // The clipping did something: the masters differ from ccdproc's without it (the flats too, if only
        // through the bias and dark they are calibrated with).
        const plain = await compareProducts(theirs, `${dir}/plain-${combine}`);
        for (const name of ["master_bias.fits", "master_dark_60s.fits"]) {
          console.log(`${label} ${name}: ${changed(plain, name)} of 4096 pixels changed by the clipping`);
          assert(
            changed(plain, name) >= 40,
            `${label} ${name}: clipping changed ${changed(plain, name)} pixels`,
          );
        }
        // ccdproc's own order (clip, then scale) on flats fading by 30 %: the difference we keep, measured
        // (ccdproc's clipping sees the fading as scatter).
        const native = `${dir}/ccdproc-native-${combine}-${center}-${low}`;
        await ccdprocReduce(path, native, base.flatFloor, clip);
        const order = await compareProducts(ours, native);
        for (const name of ["master_flat_R.fits", "master_flat_V.fits"]) {
          const d = order.find((o) => o.name === name)!;
          console.log(
            `${label} ${name} against ccdproc clipping before scaling: ${d.beyond} of 4096 pixels beyond 1e-4, ` +
              `worst ${d.worst.toExponential(2)}`,
          );
        }
      }
    } finally {
      pool.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
);

await peerTest(
  "MinMax Clip limits are ADU before scaling, as ccdproc's minmax_clipping: Max 19000 on flats peaking near 22000 equals ccdproc",
  ["ccdproc"],
  async () => {
    const dir = await Deno.makeTempDir({ prefix: "toros-minmax-" });
    const pool = createPixelPool(2);
    try {
      const path = await night(dir);
      const base = defaultConfig(dir).reduction;
      for (const combine of ["median", "average"] as const) {
        const label = `${combine}, MinMax Clip {Min: -1000, Max: 19000}`;
        const ours = `${dir}/toros-${combine}`;
        const theirs = `${dir}/ccdproc-${combine}`;
        await torosReduce(path, ours, { ...base, combine, minMaxClip: { min: -1000, max: 19000 } }, pool);
        await ccdprocReduce(path, theirs, base.flatFloor, ["--combine", combine, "--minmax=-1000,19000"]);
        assertWithin(label, await compareProducts(ours, theirs));
        await ccdprocReduce(path, `${dir}/plain-${combine}`, base.flatFloor, ["--combine", combine]);
        const plain = await compareProducts(theirs, `${dir}/plain-${combine}`);
        for (const name of ["master_flat_R.fits", "master_flat_V.fits"]) {
          console.log(`${label} ${name}: ${changed(plain, name)} of 4096 pixels changed by the clipping`);
        }
        assert(changed(plain, "master_flat_R.fits") >= 400, "Max 19000 changes the R master flat");
        assertEquals(changed(plain, "master_bias.fits") + changed(plain, "master_dark_60s.fits"), 0);
      }
    } finally {
      pool.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
);
