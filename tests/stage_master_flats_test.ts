/** The master flats stage alone: one master per filter, flats calibrated and divided by their medians. */
import { assert, assertEquals } from "./_assert.ts";
import { readImage } from "../lib/fits/mod.ts";
import { medianOf } from "../lib/ccd/mod.ts";
import { simulateNight } from "../services/preprocessor/simulate.ts";
import { ingest, masterBias, masterDarks, masterFlats } from "../services/preprocessor/stages/mod.ts";
import { framesOf, pixelMedian, runStages, withBench, worstDifference } from "./_stages.ts";

Deno.test("master flats: per filter, median of (flat − bias − dark·t_f/t_d) / its median; the dark scaled and named", async () => {
  await withBench(async (bench) => {
    const night = `${bench.dir}/2026-11-29`;
    await simulateNight(night, {
      size: 20,
      bias: 3,
      darks: 3,
      flatsPerFilter: 3,
      lights: 0,
      filters: ["V", "R"],
      darkExposure: 20,
      flatExposure: 5,
    });
    const bias = pixelMedian(await framesOf(night, "bias_"));
    const dark = pixelMedian((await framesOf(night, "dark_")).map((f) => f.map((v, p) => v - bias[p])));
    const run = await runStages(bench, night, [ingest, masterBias, masterDarks, masterFlats]);
    const flats = run.products.filter((p) => p.kind === "master_flat");
    assertEquals(flats.map((p) => p.path.slice(p.path.lastIndexOf("/") + 1)).sort(), [
      "master_flat_R.fits",
      "master_flat_V.fits",
    ]);
    for (const flat of flats) {
      assertEquals(flat.uses, ["master_bias.fits", "master_dark_20s.fits"]);
      assertEquals(flat.warnings, ["no 5 s dark: master_dark_20s.fits scaled by exposure time"]);
      const filter = flat.path.endsWith("_V.fits") ? "V" : "R";
      const calibrated = (await framesOf(night, `flat_${filter}_`)).map((f) => {
        const c = f.map((v, p) => v - bias[p] - dark[p] * (5 / 20));
        const median = medianOf(c);
        return c.map((v) => v / median);
      });
      const master = await readImage(flat.path);
      assert(worstDifference(master.data, pixelMedian(calibrated)) <= 1e-5, filter);
    }
  });
});
