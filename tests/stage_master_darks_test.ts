/** The master darks stage alone: one master per exposure time, the median of darks minus the master bias. */
import { assert, assertEquals } from "./_assert.ts";
import { readImage } from "../lib/fits/mod.ts";
import { simulateNight } from "../services/preprocessor/simulate.ts";
import { ingest, masterBias, masterDarks } from "../services/preprocessor/stages/mod.ts";
import { framesOf, pixelMedian, runStages, withBench, worstDifference } from "./_stages.ts";

Deno.test("master darks: one per exposure time, each the median of (dark − master bias)", async () => {
  await withBench(async (bench) => {
    const night = `${bench.dir}/2026-11-29`;
    await simulateNight(night, {
      size: 20,
      bias: 3,
      darks: 3,
      flatsPerFilter: 0,
      lights: 0,
      darkExposure: 30,
    });
    const other = `${bench.dir}/other`;
    await simulateNight(other, {
      size: 20,
      bias: 0,
      darks: 3,
      flatsPerFilter: 0,
      lights: 0,
      darkExposure: 90,
    });
    for (const entry of Deno.readDirSync(other)) {
      await Deno.rename(`${other}/${entry.name}`, `${night}/long_${entry.name}`);
    }
    const bias = pixelMedian(await framesOf(night, "bias_"));
    const run = await runStages(bench, night, [ingest, masterBias, masterDarks]);
    assertEquals(run.stages[2].groups, 2, "two exposure times");
    const darks = run.products.filter((p) => p.kind === "master_dark");
    assertEquals(darks.map((p) => p.path.slice(p.path.lastIndexOf("/") + 1)), [
      "master_dark_30s.fits",
      "master_dark_90s.fits",
    ]);
    for (const [prefix, dark] of [["dark_", darks[0]], ["long_dark_", darks[1]]] as const) {
      assertEquals(dark.uses, ["master_bias.fits"]);
      const expected = pixelMedian((await framesOf(night, prefix)).map((f) => f.map((v, p) => v - bias[p])));
      const master = await readImage(dark.path);
      assert(worstDifference(master.data, expected) <= 1e-6, prefix);
    }
  });
});

Deno.test("master darks without a master bias say so and combine the darks as they are", async () => {
  await withBench(async (bench) => {
    const night = `${bench.dir}/2026-11-29`;
    await simulateNight(night, { size: 16, bias: 0, darks: 3, flatsPerFilter: 0, lights: 0 });
    const run = await runStages(bench, night, [ingest, masterBias, masterDarks]);
    assertEquals(run.stages[1].groups, 0, "no bias frames: no master bias group");
    const [dark] = run.products;
    assertEquals(dark.warnings, ["no master bias: dark frames not bias-subtracted"]);
    assertEquals(run.warnings, ["no bias frames: bias not subtracted"]);
    const master = await readImage(dark.path);
    assertEquals(worstDifference(master.data, pixelMedian(await framesOf(night, "dark_"))), 0);
  });
});
