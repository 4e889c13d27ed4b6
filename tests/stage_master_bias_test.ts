/** The master bias stage alone: the pixel median of the bias frames, recorded, kept when up to date. */
import { assert, assertEquals } from "./_assert.ts";
import { readImage, sha256File } from "../lib/fits/mod.ts";
import { simulateNight } from "../services/preprocessor/simulate.ts";
import { ingest, masterBias } from "../services/preprocessor/stages/mod.ts";
import { framesOf, pixelMedian, runStages, withBench, worstDifference } from "./_stages.ts";

Deno.test("master bias is the median of the bias frames, recorded with them (their content hashes taken as they are read), and kept when up to date", async () => {
  await withBench(async (bench) => {
    const night = `${bench.dir}/2026-11-29`;
    await simulateNight(night, { size: 24, bias: 5, darks: 1, flatsPerFilter: 0, lights: 0 });
    const run = await runStages(bench, night, [ingest, masterBias]);
    assertEquals(run.stages.map((s) => [s.name, s.groups, s.frames, s.products]), [
      ["ingest", 1, 0, 0],
      ["master_bias", 1, 5, 1],
    ]);
    const [product] = run.products;
    assertEquals(product.kind, "master_bias");
    assertEquals(product.inputs, [
      "bias_001.fits",
      "bias_002.fits",
      "bias_003.fits",
      "bias_004.fits",
      "bias_005.fits",
    ]);
    const master = await readImage(product.path);
    assertEquals(worstDifference(master.data, pixelMedian(await framesOf(night, "bias_"))), 0);
    assertEquals(master.header.getNumber("NCOMBINE"), 5);
    const [record] = await bench.store.listProducts({ nightId: run.catalog.night.id });
    assertEquals(record.inputs.map((i) => i.fileName).sort(), product.inputs);
    // The biases were hashed as the stage read them, the dark (never read) at the end: both as sha256File.
    for (const exposure of await bench.store.listExposures(run.catalog.night.id)) {
      assertEquals(
        exposure.contentHash,
        await sha256File(`${night}/${exposure.fileName}`),
        exposure.fileName,
      );
    }

    const again = await runStages(bench, night, [ingest, masterBias]);
    assert(again.products[0].reused, "kept on a second run");
    assertEquals(again.stages[1].reused, 1);
  });
});
