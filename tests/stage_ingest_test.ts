/** The ingest stage alone: frames found, classified and recorded; unusable files skipped with the reason. */
import { assert, assertEquals } from "./_assert.ts";
import { Header, sha256File, writeImage } from "../lib/fits/mod.ts";
import { simulateNight } from "../services/preprocessor/simulate.ts";
import { ingest } from "../services/preprocessor/stages/mod.ts";
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
