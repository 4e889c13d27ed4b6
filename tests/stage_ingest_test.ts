/** The ingest stage alone: frames found, classified and recorded; unusable files skipped with the reason. */
import { assert, assertEquals, assertStringIncludes } from "./_assert.ts";
import { Header, readImage, sha256File, writeImage } from "../lib/fits/mod.ts";
import { simulateNight } from "../services/preprocessor/simulate.ts";
import { calibratedLights, ingest } from "../services/preprocessor/stages/mod.ts";
import { runStages, withBench } from "./_stages.ts";

Deno.test("ingest finds the night's frames, records every file with its content hash, and skips unusable ones with the reason", async () => {
  await withBench(async (bench) => {
    const night = `${bench.dir}/2026-11-29`;
    await simulateNight(night, {
      size: 16,
      bias: 2,
      darks: 1,
      flatsPerFilter: 1,
      lights: 2,
      filters: ["V", "R"],
    });
    const header = new Header();
    header.set("IMAGETYP", "FOCUS");
    await writeImage(`${night}/focus.fits`, header, new Float32Array(16 * 16), { width: 16, height: 16 });
    await Deno.writeTextFile(`${night}/notes.txt`, "not a frame");

    const run = await runStages(bench, night, [ingest]);
    assertEquals(run.frames.map((f) => `${f.fileName} ${f.imageType} ${f.filter ?? "-"}`), [
      "bias_001.fits bias -",
      "bias_002.fits bias -",
      "dark_001.fits dark -",
      "flat_R_001.fits flat R",
      "flat_V_001.fits flat V",
      "light_001.fits light V",
      "light_002.fits light R",
    ]);
    assertEquals(run.skipped, [
      {
        fileName: "focus.fits",
        reason: "IMAGETYP 'FOCUS' is not bias, dark, flat or light",
        stage: "ingest",
      },
    ]);
    assertEquals(run.products, []);
    assertEquals(run.stages.map((s) => [s.name, s.groups, s.products]), [["ingest", 1, 0]]);
    assert(run.stages[0].seconds > 0);

    const nightRecord = run.catalog.night;
    assertEquals([nightRecord.date, nightRecord.telescope], ["2026-11-29", "TOROS"]);
    const exposures = await bench.store.listExposures(nightRecord.id);
    assertEquals(exposures.length, 8, "every frame file, the unusable one too");
    for (const exposure of exposures) {
      assertEquals(
        exposure.contentHash,
        await sha256File(`${night}/${exposure.fileName}`),
        exposure.fileName,
      );
    }
    const focus = exposures.find((e) => e.fileName === "focus.fits")!;
    assertEquals([focus.status, focus.error], [
      "skipped",
      "IMAGETYP 'FOCUS' is not bias, dark, flat or light",
    ]);
  });
});

Deno.test("a frame cut short only in its last block's padding is used with a warning; one cut in its pixels is skipped with the bytes missing", async () => {
  await withBench(async (bench) => {
    const night = `${bench.dir}/2026-11-29`;
    // 48×48 uint16: 4608 data bytes in two 2880-byte blocks, 1152 of them padding.
    await simulateNight(night, { size: 48, bias: 0, darks: 0, flatsPerFilter: 0, lights: 2 });
    const whole = await Deno.readFile(`${night}/light_001.fits`);
    await Deno.writeFile(`${night}/light_001.fits`, whole.subarray(0, whole.length - 1000));
    await Deno.writeFile(`${night}/light_002.fits`, whole.subarray(0, whole.length - 2000));

    const run = await runStages(bench, night, [ingest, calibratedLights]);
    assertEquals(run.skipped.map((s) => s.fileName), ["light_002.fits"]);
    assertStringIncludes(run.skipped[0].reason, "truncated data");
    assertStringIncludes(run.skipped[0].reason, "2000 bytes missing, pixels among them");
    const cut = "light_001.fits: truncated data: 1000 bytes missing, all pixels present " +
      "(only the final block's padding is cut short)";
    assertEquals(run.warnings.filter((w) => w.startsWith("light_001")), [cut]);
    const [product] = run.products;
    assertEquals(product.inputs, ["light_001.fits"]);
    assert(product.warnings.includes(cut), JSON.stringify(product.warnings));
    const calibrated = await readImage(product.path);
    assert(
      calibrated.header.cards.some((c) => c.key === "COMMENT" && c.comment?.includes("1000 bytes missing")),
    );
  });
});
