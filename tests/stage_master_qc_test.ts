/**
 * The master_qc stage alone: each master made tonight against the previous one
 * of its kind, its verdicts in the run and the catalog — a master like the
 * last passes, a bias level moved by 20 % and a dark with many new hot pixels
 * are flagged, with what was measured and the limit.
 */
import { assert, assertEquals } from "./_assert.ts";
import { simulateNight } from "../services/preprocessor/simulate.ts";
import { ingest, masterBias, masterDarks, masterQc } from "../services/preprocessor/stages/mod.ts";
import { runStages, withBench } from "./_stages.ts";

const BASE = { size: 64, bias: 5, darks: 5, flatsPerFilter: 0, lights: 0 };

Deno.test("master_qc passes masters like the previous night's and flags a moved bias level and new hot pixels", async () => {
  await withBench(async (bench) => {
    const stages = [ingest, masterBias, masterDarks, masterQc];
    // The first night has nothing to compare with.
    await simulateNight(`${bench.dir}/2026-11-20`, { ...BASE, seed: 1, date: "2026-11-20" });
    const first = await runStages(bench, `${bench.dir}/2026-11-20`, stages);
    assertEquals(first.verdicts.filter((v) => v.stage === "master_qc"), []);

    // A night like it: both masters pass both checks.
    await simulateNight(`${bench.dir}/2026-11-21`, { ...BASE, seed: 2, date: "2026-11-21" });
    const same = await runStages(bench, `${bench.dir}/2026-11-21`, stages);
    const passed = same.verdicts.filter((v) => v.stage === "master_qc");
    assertEquals(passed.map((v) => [v.subject.slice(v.subject.lastIndexOf("/") + 1), v.check, v.verdict]), [
      ["master_bias.fits", "median ratio", "pass"],
      ["master_bias.fits", "pixels changed", "pass"],
      ["master_dark_60s.fits", "median shift", "pass"],
      ["master_dark_60s.fits", "pixels changed", "pass"],
    ]);
    const ratio = passed[0];
    assert(Math.abs(ratio.measured! - 1) < 0.01, `bias median ratio ${ratio.measured}`);
    assertEquals(ratio.limit, "0.900-1.100");
    assert(ratio.reason.includes("master_bias.fits (2026-11-2"), ratio.reason);

    // The bias 20 % higher, and 5 % of the pixels hot: flagged, and still used.
    await simulateNight(`${bench.dir}/2026-11-22`, {
      ...BASE,
      seed: 3,
      date: "2026-11-22",
      biasLevel: 1200,
      hotPixels: 0.05,
    });
    const moved = await runStages(bench, `${bench.dir}/2026-11-22`, stages);
    const flagged = moved.verdicts.filter((v) => v.stage === "master_qc" && v.verdict === "flagged");
    assertEquals(flagged.map((v) => [v.subject.slice(v.subject.lastIndexOf("/") + 1), v.check]), [
      ["master_bias.fits", "median ratio"],
      ["master_dark_60s.fits", "pixels changed"],
    ]);
    assert(Math.abs(flagged[0].measured! - 1.2) < 0.01, `bias median ratio ${flagged[0].measured}`);
    assert(flagged[1].measured! > 4 && flagged[1].measured! < 6, `percent changed ${flagged[1].measured}`);
    assertEquals(flagged[1].limit, "<= 1 %");
    assertEquals(moved.products.map((p) => p.kind).sort(), ["master_bias", "master_dark"]);
    // In the catalog, linked to the master.
    const night = (await bench.store.getNight(await Deno.realPath(`${bench.dir}/2026-11-22`)))!;
    const stored = (await bench.store.listVerdicts({ nightId: night.id })).filter((v) =>
      v.stage === "master_qc"
    );
    assertEquals(stored.filter((v) => v.verdict === "flagged").length, 2);
    assert(stored.every((v) => v.productId !== null), "each verdict names its master");
    // The next night passes over the flagged bias when it must borrow a good one.
    const bias = moved.products.find((p) => p.kind === "master_bias")!;
    assertEquals(
      (await bench.store.findMaster({
        kind: "master_bias",
        width: 64,
        height: 64,
        binning: "1x1",
        near: "2026-11-23T00:00:00",
        goodOnly: true,
      }))?.path === bias.path,
      false,
    );
  });
});
