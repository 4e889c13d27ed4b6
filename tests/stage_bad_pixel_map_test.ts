/**
 * The bad-pixel map stage alone: made from tonight's master darks and flats, it
 * flags the simulated night's hot and dead pixels (bit 1) with almost no false
 * flags, is recorded with the masters it came from, kept when they are, used
 * by a later night that has no darks or flats of its own, and not made for
 * single-HDU products.
 */
import { assert, assertEquals } from "./_assert.ts";
import { readHdus, readImage } from "../lib/fits/mod.ts";
import { simulatedDefects, simulateNight } from "../services/preprocessor/simulate.ts";
import {
  badPixelMap,
  calibratedLights,
  ingest,
  masterBias,
  masterDarks,
  masterFlats,
} from "../services/preprocessor/stages/mod.ts";
import { runStages, withBench } from "./_stages.ts";

const NIGHT = { size: 512, bias: 3, darks: 5, flatsPerFilter: 5, lights: 0, deadPixels: 0.002, seed: 5 };

Deno.test("the bad-pixel map flags ≥ 99 % of the hot and dead pixels with < 0.1 % false flags, with its provenance", async () => {
  await withBench(async (bench) => {
    const night = `${bench.dir}/2026-11-29`;
    await simulateNight(night, NIGHT);
    const stages = [ingest, masterBias, masterDarks, masterFlats, badPixelMap];
    const run = await runStages(bench, night, stages);
    const map = run.products.find((p) => p.kind === "bad_pixel_map")!;
    assertEquals(map.path.endsWith("/products/bad_pixel_map.fits"), true);
    assertEquals(map.uses.sort(), ["master_dark_60s.fits", "master_flat_V.fits"]);
    const [hdu] = await readHdus(map.path);
    assertEquals([hdu.bitpix, hdu.name, hdu.header.getString("PRODUCT")], [8, "BPM", "bad_pixel_map"]);
    const bits = (await readImage(map.path)).data;
    const { hot, dead } = simulatedDefects(NIGHT);
    let [hotFound, hotCount, deadFound, deadCount, falseFlags] = [0, 0, 0, 0, 0];
    for (let p = 0; p < bits.length; p++) {
      const flagged = bits[p] !== 0;
      if (hot[p]) {
        hotCount++;
        if (bits[p] & 1) hotFound++;
      } else if (dead[p]) {
        deadCount++;
        if (bits[p] & 1) deadFound++;
      } else if (flagged) falseFlags++;
    }
    console.log(
      `hot ${hotFound}/${hotCount}, dead ${deadFound}/${deadCount}, false flags ${falseFlags} of ${bits.length}`,
    );
    assert(hotCount > 100 && deadCount > 300, "the night has defects to find");
    assert(hotFound >= 0.99 * hotCount, `hot pixels flagged: ${hotFound} of ${hotCount}`);
    assert(deadFound >= 0.99 * deadCount, `dead pixels flagged: ${deadFound} of ${deadCount}`);
    assert(falseFlags < 0.001 * bits.length, `false flags: ${falseFlags}`);
    // The catalog holds it as a product made from the masters.
    const [record] = (await bench.store.listProducts()).filter((p) => p.kind === "bad_pixel_map");
    assertEquals(record.uses.map((u) => u.kind).sort(), ["master_dark", "master_flat"]);
    // Its masters kept, it is kept too.
    const again = await runStages(bench, night, stages);
    assert(again.products.every((p) => p.reused), "every product up to date on a second run");
  });
});

Deno.test("with Output: Format single no bad-pixel map is made", async () => {
  await withBench(async (bench) => {
    const night = `${bench.dir}/2026-11-29`;
    await simulateNight(night, { size: 32, bias: 3, darks: 3, flatsPerFilter: 3, lights: 0 });
    const reduction = { ...bench.reduction, output: { format: "single" as const } };
    const run = await runStages(bench, night, [ingest, masterBias, masterDarks, masterFlats, badPixelMap], {
      reduction,
    });
    assertEquals(run.products.filter((p) => p.kind === "bad_pixel_map"), []);
    assertEquals((await readHdus(run.products[0].path)).length, 1, "single-HDU masters");
  });
});

Deno.test("a night without darks or flats ORs the last night's bad-pixel map into its lights' BPM, and names it", async () => {
  await withBench(async (bench) => {
    const stages = [ingest, masterBias, masterDarks, masterFlats, badPixelMap, calibratedLights];
    const first = `${bench.dir}/2026-11-28`;
    await simulateNight(first, {
      size: 64,
      bias: 3,
      darks: 3,
      flatsPerFilter: 3,
      lights: 0,
      deadPixels: 0.01,
    });
    const made = await runStages(bench, first, stages);
    const map = made.products.find((p) => p.kind === "bad_pixel_map")!;
    const bits = (await readImage(map.path)).data;
    assert(bits.some((b) => b !== 0), "the first night's map flags some pixels");

    // The next night: lights only (and a bias), so no map of its own.
    const next = `${bench.dir}/2026-11-29`;
    await simulateNight(next, { size: 64, bias: 3, darks: 0, flatsPerFilter: 0, lights: 2, seed: 9 });
    const run = await runStages(bench, next, stages);
    assertEquals(
      run.products.filter((p) => p.kind === "bad_pixel_map"),
      [],
      "no map made without darks or flats",
    );
    const lights = run.products.filter((p) => p.kind === "calibrated_light");
    assertEquals(lights.length, 2);
    for (const light of lights) {
      const hdus = await readHdus(light.path);
      assertEquals(hdus[0].header.getString("MBPM"), "bad_pixel_map.fits", "the map used is named");
      assert(light.uses.includes("bad_pixel_map.fits"), `the map among the masters used: ${light.uses}`);
      const mask = (await readImage(light.path, { hdu: hdus.findIndex((h) => h.name === "BPM") })).data;
      for (let p = 0; p < bits.length; p++) {
        if ((mask[p] & bits[p]) !== bits[p]) {
          throw new Error(`pixel ${p}: map bits ${bits[p]}, light's BPM ${mask[p]}`);
        }
      }
    }
  });
});
