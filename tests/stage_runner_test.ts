/**
 * The stage runner: stages run in their declared order on the groups they
 * declare, the progress total comes from them, a frame a stage rejects is
 * recorded and never reaches a later stage, an error in one group stops that
 * group only, and each stage is timed.
 */
import { assert, assertEquals, assertRejects } from "./_assert.ts";
import { simulateNight } from "../services/preprocessor/simulate.ts";
import { ingest, type Stage } from "../services/preprocessor/stages/mod.ts";
import { ReductionAborted, type ReductionProgress } from "../services/preprocessor/report.ts";
import { NightRun } from "../services/preprocessor/stages/runner.ts";
import { runStages, withBench } from "./_stages.ts";

/** A stage that records the groups it saw and makes one (pretend) product per frame. */
function recording(name: string, reads: Stage["reads"], groupBy: Stage["groupBy"], seen: string[]): Stage {
  return {
    name,
    reads,
    uses: [],
    writes: [],
    groupBy,
    settings: [],
    products: (group) => group.frames.length,
    run(group, context) {
      seen.push(`${name} ${group.key}: ${group.frames.map((f) => f.fileName).join(" ")}`);
      for (const frame of group.frames) {
        context.produced({
          kind: "calibrated_light",
          path: `${context.outDir}/${name}_${frame.fileName}`,
          inputs: [frame.fileName],
          uses: [],
          warnings: [],
          reused: false,
        });
      }
      return Promise.resolve();
    },
  };
}

Deno.test("stages run in order on their declared groups; a rejected frame is recorded and later stages never see it", async () => {
  await withBench(async (bench) => {
    const night = `${bench.dir}/2026-11-29`;
    await simulateNight(night, {
      size: 8,
      bias: 0,
      darks: 0,
      flatsPerFilter: 2,
      lights: 4,
      filters: ["V", "R"],
    });
    const seen: string[] = [];
    const qualityControl: Stage = {
      name: "light_quality",
      reads: ["light"],
      uses: [],
      writes: [],
      groupBy: ["filter"],
      settings: [],
      products: () => 0,
      run(group, context) {
        seen.push(`light_quality ${group.key}`);
        const cloudy = group.frames.find((frame) => frame.fileName === "light_003.fits");
        if (cloudy) context.reject(cloudy, "sky level 5 times the night's median");
        return Promise.resolve();
      },
    };
    const progress: ReductionProgress[] = [];
    const run = await runStages(bench, night, [
      ingest,
      recording("flats_by_filter", ["flat"], ["filter"], seen),
      qualityControl,
      recording("lights", ["light"], [], seen),
    ], { progress });
    assertEquals(seen, [
      "flats_by_filter 8x8@1x1 R: flat_R_001.fits flat_R_002.fits",
      "flats_by_filter 8x8@1x1 V: flat_V_001.fits flat_V_002.fits",
      "light_quality 8x8@1x1 V",
      "light_quality 8x8@1x1 R",
      "lights 8x8@1x1: light_001.fits light_002.fits light_004.fits",
    ]);
    assertEquals(run.skipped, [
      { fileName: "light_003.fits", reason: "sky level 5 times the night's median", stage: "light_quality" },
    ]);
    const exposure = (await bench.store.listExposures(run.catalog.night.id))
      .find((e) => e.fileName === "light_003.fits")!;
    assertEquals([exposure.status, exposure.error], ["skipped", "sky level 5 times the night's median"]);
    // The total is what the stages will make: 4 flats and 4 lights, then 3 lights once one is rejected.
    const starts = progress.filter((p) => !p.step.includes("/"));
    assertEquals(starts.map((p) => [p.step, p.done, p.total]), [
      ["ingest", 0, 0],
      ["flats_by_filter", 0, 8],
      ["light_quality", 4, 8],
      ["lights", 4, 7],
    ]);
    assertEquals(progress.at(-1)!.done, 7);
    assertEquals(run.stages.map((s) => [s.name, s.groups, s.frames, s.products, s.rejected]), [
      ["ingest", 1, 0, 0, 0],
      ["flats_by_filter", 2, 4, 4, 0],
      ["light_quality", 2, 4, 0, 1],
      ["lights", 1, 3, 3, 0],
    ]);
    assert(run.stages.every((s) => s.seconds >= 0));
  });
});

Deno.test("an error in one group stops that group only: its frames are recorded as failed, the night goes on", async () => {
  await withBench(async (bench) => {
    const night = `${bench.dir}/2026-11-29`;
    await simulateNight(night, {
      size: 8,
      bias: 0,
      darks: 0,
      flatsPerFilter: 2,
      lights: 2,
      filters: ["V", "R"],
    });
    const seen: string[] = [];
    const flaky: Stage = {
      ...recording("flats", ["flat"], ["filter"], seen),
      run(group, context) {
        if (group.key.endsWith("R")) return Promise.reject(new Error("disk on fire"));
        return recording("flats", ["flat"], ["filter"], seen).run(group, context);
      },
    };
    const run = await runStages(bench, night, [ingest, flaky, recording("lights", ["light"], [], seen)]);
    assertEquals(run.failed.map((f) => `${f.fileName} ${f.stage}: ${f.reason}`), [
      "flat_R_001.fits flats: disk on fire",
      "flat_R_002.fits flats: disk on fire",
    ]);
    assertEquals(seen, [
      "flats 8x8@1x1 V: flat_V_001.fits flat_V_002.fits",
      "lights 8x8@1x1: light_001.fits light_002.fits",
    ]);
    assertEquals(run.stages[1].failed, 2);
    const exposures = await bench.store.listExposures(run.catalog.night.id);
    assertEquals(exposures.filter((e) => e.status === "skipped").map((e) => e.fileName), [
      "flat_R_001.fits",
      "flat_R_002.fits",
    ]);
  });
});

Deno.test("a stop between groups ends the run with ReductionAborted", async () => {
  await withBench(async (bench) => {
    const night = `${bench.dir}/2026-11-29`;
    await simulateNight(night, {
      size: 8,
      bias: 0,
      darks: 0,
      flatsPerFilter: 1,
      lights: 0,
      filters: ["V", "R"],
    });
    const controller = new AbortController();
    const seen: string[] = [];
    const stopping: Stage = {
      ...recording("flats", ["flat"], ["filter"], seen),
      run(group, context) {
        controller.abort();
        return recording("flats", ["flat"], ["filter"], seen).run(group, context);
      },
    };
    const run = new NightRun({
      nightDir: await Deno.realPath(night),
      outDir: `${bench.dir}/products`,
      store: bench.store,
      reduction: bench.reduction,
      pool: bench.pool,
      log: { debug() {}, info() {}, warning() {}, error() {} },
      signal: controller.signal,
    });
    await assertRejects(() => run.run([ingest, stopping]), ReductionAborted);
    await run.catalog.settle();
    assertEquals(seen.length, 1, "the group running finishes, the next never starts");
  });
});

Deno.test("products under way move the progress before they are recorded, and the progress never goes back", async () => {
  await withBench(async (bench) => {
    const night = `${bench.dir}/2026-11-29`;
    await simulateNight(night, { size: 8, bias: 0, darks: 0, flatsPerFilter: 0, lights: 4 });
    // A batch of four lights swept in halves, recorded one by one; then a later batch that starts lower.
    const batched: Stage = {
      ...recording("lights", ["light"], [], []),
      run(group, context) {
        context.underWay(1);
        context.underWay(2);
        context.underWay(4);
        const record = (frame: (typeof group.frames)[number]) =>
          context.produced({
            kind: "calibrated_light",
            path: `${context.outDir}/lights_${frame.fileName}`,
            inputs: [frame.fileName],
            uses: [],
            warnings: [],
            reused: false,
          });
        group.frames.slice(0, 2).forEach(record);
        context.underWay(0.5);
        group.frames.slice(2).forEach(record);
        return Promise.resolve();
      },
    };
    const progress: ReductionProgress[] = [];
    await runStages(bench, night, [ingest, batched], { progress });
    const done = progress.filter((p) => p.total === 4).map((p) => p.done);
    assertEquals(done, [0, 1, 2, 4, 4, 4, 4, 4, 4]);
  });
});
