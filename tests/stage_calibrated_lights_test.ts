/**
 * The calibrated lights stage alone, with masters borrowed from another night's
 * catalog: (light − bias − dark·t_l/t_d) ÷ flat × mean(flat), saturated pixels flagged in BPM.
 */
import { assert, assertEquals } from "./_assert.ts";
import { Header, readImage, writeImage } from "../lib/fits/mod.ts";
import type { ProductKind } from "../lib/store/mod.ts";
import { simulateNight } from "../services/preprocessor/simulate.ts";
import { calibratedLights, ingest } from "../services/preprocessor/stages/mod.ts";
import { evenBatches } from "../services/preprocessor/stages/calibrated_lights.ts";
import { framesOf, runStages, withBench } from "./_stages.ts";

Deno.test("calibrated lights use the closest masters of another night, scale the dark, floor the flat and flag saturated pixels", async () => {
  await withBench(async (bench) => {
    const size = 16;
    const elsewhere = `${bench.dir}/2026-11-20`;
    await Deno.mkdir(elsewhere);
    const other = await bench.store.upsertNight(elsewhere, { date: "2026-11-20", telescope: "TOROS" });
    const master = async (
      kind: ProductKind,
      name: string,
      value: (p: number) => number,
      t: number | null,
    ) => {
      const path = `${elsewhere}/${name}`;
      const data = Float32Array.from({ length: size * size }, (_, p) => value(p));
      const { checksum } = await writeImage(path, new Header(), data, { width: size, height: size });
      await bench.store.replaceProduct({
        nightId: other.id,
        kind,
        path,
        filter: kind === "master_flat" ? "V" : null,
        exposureTime: t,
        width: size,
        height: size,
        binning: "1x1",
        nCombined: 3,
        checksum,
        dateObs: "2026-11-20T20:00:00",
        warnings: [],
        inputExposureIds: [],
        usedProductIds: [],
      });
      return data;
    };
    const bias = await master("master_bias", "master_bias.fits", (p) => 1000 + (p % 7), null);
    const dark = await master("master_dark", "master_dark_60s.fits", (p) => (p % 5) * 2, 60);
    const flat = await master(
      "master_flat",
      "master_flat_V.fits",
      (p) => p === 3 ? 0.001 : 0.8 + (p % 11) / 25,
      5,
    );

    const night = `${bench.dir}/2026-11-29`;
    await simulateNight(night, { size, bias: 0, darks: 0, flatsPerFilter: 0, lights: 2, lightExposure: 30 });
    const run = await runStages(bench, night, [ingest, calibratedLights]);
    assertEquals(run.failed, []);
    const floored = flat.map((v) => Math.max(v, 0.01));
    const flatMean = floored.reduce((s, v) => s + v, 0) / floored.length;
    const raws = await framesOf(night, "light_");
    assertEquals(run.products.length, 2);
    for (const [i, product] of run.products.entries()) {
      assertEquals(product.uses, ["master_bias.fits", "master_dark_60s.fits", "master_flat_V.fits"]);
      for (const kind of ["bias", "dark", "flat"]) {
        assert(
          product.warnings.some((w) => w.startsWith(`master ${kind} borrowed from ${elsewhere}/`)),
          kind,
        );
      }
      const calibrated = (await readImage(product.path)).data;
      // Output: Format mef: saturated pixels are flagged in BPM (HDU 1) instead of NaN, their values kept.
      const mask = (await readImage(product.path, { hdu: 1 })).data;
      for (let p = 0; p < raws[i].length; p++) {
        const raw = raws[i][p];
        assertEquals(mask[p] & 2, raw >= 65535 ? 2 : 0, `saturated pixel ${p} flagged, no other`);
        const expected = (raw - bias[p] - dark[p] * 0.5) / (floored[p] / flatMean);
        assert(Math.abs(calibrated[p] - expected) <= 1e-5 * Math.abs(expected), `pixel ${p}`);
      }
    }
    assertEquals(run.warnings, [
      `master bias borrowed from ${elsewhere}/master_bias.fits (2026-11-20T20:00:00)`,
    ]);
  });
});

Deno.test("lights go in batches as even as can be, none over the most", () => {
  assertEquals(evenBatches(0, 24), []);
  assertEquals(evenBatches(20, 24), [20]);
  assertEquals(evenBatches(25, 24), [12, 13]);
  assertEquals(evenBatches(30, 24), [15, 15]);
  for (let count = 1; count <= 200; count++) {
    const batches = evenBatches(count, 24);
    assertEquals(batches.reduce((a, b) => a + b, 0), count);
    assertEquals(batches.length, Math.ceil(count / 24));
    assert(Math.max(...batches) - Math.min(...batches) <= 1, `${count}: ${batches}`);
  }
});
