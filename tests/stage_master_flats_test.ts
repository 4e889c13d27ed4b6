/** The master flats stage alone: one master per filter, flats calibrated and divided by their medians. */
import { assert, assertEquals } from "./_assert.ts";
import { Header, readImage, writeImage } from "../lib/fits/mod.ts";
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

Deno.test("a flat whose sampled rows mislead the median guess still gets its exact median (the fallback passes)", async () => {
  await withBench(async (bench) => {
    const night = `${bench.dir}/2026-11-29`;
    await Deno.mkdir(night);
    const [width, height] = [16, 64];
    // The guess samples 8 rows in the middle of each quarter: those rows are dim, the rest bright.
    const sampled = (y: number) => [4, 20, 36, 52].some((y0) => y >= y0 && y < y0 + 8);
    const write = async (name: string, type: string, value: (x: number, y: number) => number) => {
      const header = new Header();
      header.set("IMAGETYP", type);
      header.set("EXPTIME", type === "BIAS" ? 0 : 5);
      header.set("FILTER", "V");
      const data = Float32Array.from(
        { length: width * height },
        (_, p) => value(p % width, Math.floor(p / width)),
      );
      await writeImage(`${night}/${name}`, header, data, { width, height, bitpix: 16, unsigned: true });
    };
    for (let i = 0; i < 3; i++) await write(`bias_${i}.fits`, "BIAS", (x) => 100 + x + i);
    for (let i = 0; i < 3; i++) {
      await write(
        `flat_${i}.fits`,
        "FLAT",
        (x, y) => (sampled(y) ? 3000 : 20000) + 37 * x + 11 * y + 500 * i,
      );
    }
    const debug: string[] = [];
    const run = await runStages(bench, night, [ingest, masterBias, masterFlats], { debug });
    assertEquals(debug.filter((m) => m.startsWith("Input medians")), [
      "Input medians: 0 of 3 exact in one pass",
    ]);
    const flat = run.products.find((p) => p.kind === "master_flat")!;
    const bias = pixelMedian(await framesOf(night, "bias_"));
    const calibrated = (await framesOf(night, "flat_")).map((f) => {
      const c = f.map((v, p) => v - bias[p]);
      const median = medianOf(c);
      return c.map((v) => v / median);
    });
    assertEquals(worstDifference((await readImage(flat.path)).data, pixelMedian(calibrated)), 0);
  });
});
