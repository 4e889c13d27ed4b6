/**
 * Overscan as a user would set it, against ccdproc's `subtract_overscan` then
 * `trim_image`: a strip of columns beside the image and a strip of rows above
 * it, each line's median or mean, or BANZAI's clipped mean (numpy in the
 * reference script), with no model or a polynomial fitted by astropy's
 * `LinearLSQFitter`; every product within 1e-4 relative of the reference, and
 * its header telling the truth of the trimmed image.
 */
import { assert, assertEquals } from "./_assert.ts";
import { peerTest } from "./_peers.ts";
import { defaultConfig, type ReductionConfig } from "../lib/config.ts";
import { readHdus } from "../lib/fits/mod.ts";
import { simulateNight } from "../services/preprocessor/simulate.ts";
import { createPixelPool } from "../lib/ccd/mod.ts";
import { openStore } from "../lib/store/mod.ts";
import { reduceNight, REDUCTION_STAGES } from "../services/preprocessor/pipeline.ts";
import { assertWithin, ccdprocReduce, compareProducts, torosReduce } from "./_ccdproc.ts";

type Overscan = ReductionConfig["overscan"];

const CASES: { overscan: Overscan; options: string[] }[] = [
  { overscan: { estimate: "median", model: "none" }, options: ["--overscan", "median"] },
  { overscan: { estimate: "mean", model: "none" }, options: ["--overscan", "mean"] },
  { overscan: { estimate: "clipped-mean", model: "none" }, options: ["--overscan", "clipped-mean"] },
  {
    overscan: { estimate: "median", model: { polynomial: 3 } },
    options: ["--overscan", "median", "--overscan-model", "3"],
  },
  {
    overscan: { estimate: "mean", model: { polynomial: 1 } },
    options: ["--overscan", "mean", "--overscan-model", "1"],
  },
  {
    overscan: { estimate: "clipped-mean", model: { polynomial: 5 } },
    options: ["--overscan", "clipped-mean", "--overscan-model", "5"],
  },
];

function describe(overscan: Overscan): string {
  const model = overscan.model === "none" ? "none" : `polynomial ${overscan.model.polynomial}`;
  return `Overscan {Estimate: ${overscan.estimate}, Model: ${model}}`;
}

for (const strip of ["columns", "rows"] as const) {
  await peerTest(
    `overscan in a strip of ${strip} (median, mean, clipped mean; no model or a polynomial) equals ccdproc's subtract_overscan and trim_image; products drop BIASSEC and TRIMSEC and say what was done`,
    ["ccdproc"],
    async () => {
      const dir = await Deno.makeTempDir({ prefix: `toros-overscan-${strip}-` });
      const pool = createPixelPool(2);
      try {
        const night = `${dir}/2026-12-02`;
        await simulateNight(night, {
          size: 64,
          bias: 11,
          darks: 11,
          flatsPerFilter: 11,
          lights: 3,
          overscan: { strip, size: 12 },
          cosmicRays: 3000,
          seed: 9,
        });
        const base = defaultConfig(dir).reduction;
        for (const { overscan, options } of CASES) {
          const label = `${strip}, ${describe(overscan)}`;
          const ours = `${dir}/toros-${options.join("")}`;
          const theirs = `${dir}/ccdproc-${options.join("")}`;
          await torosReduce(night, ours, { ...base, overscan }, pool);
          await ccdprocReduce(night, theirs, base.flatFloor, options);
          assertWithin(label, await compareProducts(ours, theirs));
        }
        // The options change the products: mean against median, a model against none.
        const [median, mean, , modelled] = CASES.map(({ options }) => `${dir}/ccdproc-${options.join("")}`);
        for (const other of [mean, modelled]) {
          const bias = (await compareProducts(median, other)).find((d) => d.name === "master_bias.fits")!;
          assert(bias.beyond > 1000, `${other}: ${bias.beyond} pixels of the master bias changed`);
        }
        // What a product says of its readout.
        const [hdu] = await readHdus(`${dir}/toros-${CASES[3].options.join("")}/calib_light_001.fits`);
        const header = hdu.header;
        assertEquals(hdu.shape, [64, 64]);
        assertEquals([header.has("BIASSEC"), header.has("TRIMSEC")], [false, false]);
        assertEquals(header.getString("DATASEC"), "[1:64,1:64]");
        const line = strip === "columns" ? "row" : "column";
        const biassec = strip === "columns" ? "[65:76,1:64]" : "[1:64,65:76]";
        const raw = strip === "columns" ? "76x64" : "64x76";
        // HISTORY text is folded over cards of 72 characters.
        const history = header.history().join("");
        assert(
          history.startsWith(
            `subtract_overscan: median of each ${line} of BIASSEC ${biassec}, a polynomial of degree 3 fitted ` +
              `along the ${line}s, subtracted` +
              `trim_image: TRIMSEC [1:64,1:64] kept of the ${raw} raw frame`,
          ),
          history,
        );
      } finally {
        pool.close();
        await Deno.remove(dir, { recursive: true });
      }
    },
  );
}

Deno.test("Overscan is a setting of every stage that reads raw frames, the clips of the master stages: changing Overscan remakes every product", async () => {
  for (const stage of REDUCTION_STAGES.filter((s) => s.reads.length > 0)) {
    assert(stage.settings.includes("overscan"), `${stage.name} declares overscan`);
    const masters = stage.writes.every((kind) => kind.startsWith("master_"));
    assertEquals(stage.settings.includes("sigmaClip"), masters, `${stage.name} and sigmaClip`);
    assertEquals(stage.settings.includes("minMaxClip"), masters, `${stage.name} and minMaxClip`);
  }
  const dir = await Deno.makeTempDir({ prefix: "toros-overscan-fingerprint-" });
  const pool = createPixelPool(2);
  try {
    const night = `${dir}/2026-12-03`;
    await simulateNight(night, {
      size: 16,
      bias: 3,
      darks: 3,
      flatsPerFilter: 3,
      lights: 2,
      overscan: { strip: "columns", size: 4 },
    });
    const reduction = defaultConfig(dir).reduction;
    await torosReduce(night, `${dir}/products`, reduction, pool);
    const store = await openStore({ file: `${dir}/products/toros.sqlite3` });
    try {
      const again = await reduceNight(night, { store, reduction, pool, outDir: `${dir}/products` });
      assert(again.products.every((p) => p.reused), "the same settings keep every product");
      const mean = await reduceNight(night, {
        store,
        reduction: { ...reduction, overscan: { estimate: "mean", model: "none" } },
        pool,
        outDir: `${dir}/products`,
      });
      assertEquals(
        mean.products.filter((p) => p.reused),
        [],
        "another overscan estimate remakes every product",
      );
    } finally {
      await store.close();
    }
  } finally {
    pool.close();
    await Deno.remove(dir, { recursive: true });
  }
});
