/**
 * Quality control end to end: a night with one saturated flat, one flat at 1 %
 * of the usual level and only three biases says which frames were rejected and
 * why — in `toros reduce`'s summary and `--json`, in `job_status` and the job's
 * page, and in the catalog — and its products still come out. A master of too
 * few frames is replaced by another night's good one when asked; darks are
 * matched by temperature, and one of another temperature is never used silently.
 */
import { assert, assertEquals, assertStringIncludes } from "./_assert.ts";
import { defaultConfig, type ReductionConfig, type TorosConfig } from "../lib/config.ts";
import { openStore } from "../lib/store/mod.ts";
import { createPixelPool } from "../lib/ccd/mod.ts";
import { callXmlRpc, type XmlRpcValue } from "../lib/xmlrpc/mod.ts";
import { simulateNight } from "../services/preprocessor/simulate.ts";
import { reduceNight } from "../services/preprocessor/pipeline.ts";
import { startPreprocessor } from "../services/preprocessor/serve_command.ts";
import { waitForJob } from "./_daemons.ts";

const MAIN = new URL("../main.ts", import.meta.url).pathname;

/** One saturated flat (the 2nd), one at 1 % (the 3rd), three biases. */
const TROUBLED = {
  size: 48,
  bias: 3,
  darks: 5,
  flatsPerFilter: 7,
  flatScales: [1, 10, 0.01, 1, 1, 1, 1],
  lights: 3,
};

function summaryLines(text: string): string[] {
  return text.split("\n").filter((line) => line.startsWith("qc "));
}

Deno.test("toros reduce says which frames quality control rejected and why, in its summary, --json and the catalog", async () => {
  const dir = await Deno.makeTempDir({ prefix: "toros-qc-" });
  try {
    const config = `${dir}/toros.conf.yaml`;
    await Deno.writeTextFile(
      config,
      `Database: {File: ${dir}/toros.sqlite3}\nLogging: {File: ${dir}/toros.log}\n`,
    );
    const night = `${dir}/2026-11-24`;
    await simulateNight(night, TROUBLED);
    const run = (args: string[]) =>
      new Deno.Command(Deno.execPath(), {
        args: ["run", "--allow-all", MAIN, "reduce", night, ...args, "--config", config],
        stdout: "piped",
        stderr: "piped",
      }).output();
    const text = await run([]);
    assertEquals(text.code, 3, "frames were left out");
    const summary = new TextDecoder().decode(text.stdout);
    const lines = summaryLines(summary);
    // The master flat keeps 5 flats: enough, no warning.
    assertEquals(lines.length, 3, summary);
    assertStringIncludes(
      lines[0],
      "qc warning  master_bias.fits: frame count 3 frames (limit >= 5 frames): made of only 3 frames",
    );
    assertStringIncludes(
      lines[1],
      "qc rejected flat_V_002.fits: saturation 99.96 % (limit < 5 %): 100.0 % of its pixels saturated",
    );
    assertStringIncludes(lines[2], "qc rejected flat_V_003.fits: flat level ");
    assertStringIncludes(lines[2], " ADU (limit 1000-50000 ADU): median level ");
    assertStringIncludes(
      summary,
      "skipped    flat_V_002.fits: quality control: saturation: 100.0 % of its pixels saturated",
    );

    const json = await run(["--json", "--force"]);
    const report = JSON.parse(new TextDecoder().decode(json.stdout));
    const rejected = report.qc.filter((v: { verdict: string }) => v.verdict === "rejected");
    assertEquals(
      rejected.map((v: { subject: string; check: string; stage: string }) => [v.subject, v.check, v.stage]),
      [
        ["flat_V_002.fits", "saturation", "master_flats"],
        ["flat_V_003.fits", "flat level", "master_flats"],
      ],
    );
    assert(
      rejected[1].measured < 1000 && rejected[1].measured > 50,
      `1 % flat level ${rejected[1].measured}`,
    );
    // The products still come out: every master (the bias with its warning) and every light.
    const kinds = report.products.map((p: { kind: string }) => p.kind).sort();
    assertEquals(kinds, [
      "bad_pixel_map",
      ...Array(3).fill("calibrated_light"),
      "master_bias",
      "master_dark",
      "master_flat",
    ]);
    const flat = report.products.find((p: { kind: string }) => p.kind === "master_flat");
    assertEquals(flat.inputs.length, 5, "the two flats kept out");

    const store = await openStore({ file: `${dir}/toros.sqlite3` });
    try {
      const nightRow = (await store.getNight(await Deno.realPath(night)))!;
      const verdicts = await store.listVerdicts({ nightId: nightRow.id });
      assertEquals(
        verdicts.filter((v) => v.verdict !== "pass").map((
          v,
        ) => [v.subject.slice(v.subject.lastIndexOf("/") + 1), v.verdict]),
        [["master_bias.fits", "warning"], ["flat_V_002.fits", "rejected"], ["flat_V_003.fits", "rejected"]],
      );
      const exposures = await store.listExposures(nightRow.id);
      assertEquals(
        exposures.filter((e) => e.status === "skipped").map((e) => e.fileName),
        ["flat_V_002.fits", "flat_V_003.fits"],
      );
    } finally {
      await store.close();
    }

    // Later, from the catalog alone: toros qc says the same, and --all adds the passes.
    const qc = (args: string[]) =>
      new Deno.Command(Deno.execPath(), {
        args: ["run", "--allow-all", MAIN, "qc", ...args, "--config", config],
        stdout: "piped",
        stderr: "piped",
      }).output();
    const listed = await qc([night]);
    assertEquals(listed.code, 0, new TextDecoder().decode(listed.stderr));
    const listedText = new TextDecoder().decode(listed.stdout);
    assertEquals(summaryLines(listedText), lines, listedText);
    const counted = /(\d+) of (\d+) checks passed/.exec(listedText);
    assert(counted && Number(counted[2]) - Number(counted[1]) === 3, listedText);
    const all = JSON.parse(new TextDecoder().decode((await qc([night, "--all", "--json"])).stdout));
    assertEquals(all.verdicts.length, all.checks);
    assertEquals(all.checks - all.passed, 3);
    assert(all.verdicts.some((v: { verdict: string }) => v.verdict === "pass"), "--all lists the passes");
    const unknown = await qc([`${dir}/no-such-night`]);
    assertEquals(unknown.code, 1);
    assertStringIncludes(new TextDecoder().decode(unknown.stderr), "no night");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("job_status and the job's page list quality control's verdicts", async () => {
  const root = await Deno.realPath(await Deno.makeTempDir({ prefix: "toros-qc-service-" }));
  const config: TorosConfig = defaultConfig(`${root}/state`);
  config.preprocessorAddress = { http: "http://127.0.0.1:0/", ip: "127.0.0.1", port: 0 };
  config.data.roots = [`${root}/data`];
  config.logging.file = "";
  await simulateNight(`${root}/data/2026-11-24`, TROUBLED);
  const service = await startPreprocessor(config);
  const url = `http://127.0.0.1:${service.port}/`;
  try {
    const answer = await callXmlRpc(url, "front_desk", [{
      ID: "troubled",
      Request: "Exposure Calibration",
      "File Location": `${root}/data/2026-11-24`,
    }]) as Record<string, XmlRpcValue>;
    const status = await waitForJob(url, answer.Job, (s) => ["done", "failed"].includes(String(s.Status)));
    assertEquals(status.Status, "done");
    const qc = status.QC as Record<string, XmlRpcValue>[];
    const notPassed = qc.filter((line) => line.Verdict !== "pass");
    assertEquals(
      notPassed.map((line) => [String(line.Product).replace(/.*\//, ""), line.Check, line.Verdict]),
      [
        ["master_bias.fits", "frame count", "warning"],
        ["flat_V_002.fits", "saturation", "rejected"],
        ["flat_V_003.fits", "flat level", "rejected"],
      ],
    );
    assert((notPassed[1].Measured as number) > 99, `percent saturated ${notPassed[1].Measured}`);
    assertEquals(notPassed[1].Limit, "< 5 %");
    assert(
      (status.Errors as string[]).some((e) =>
        e.startsWith("flat_V_003.fits skipped: quality control: flat level")
      ),
    );
    const page = await (await fetch(`${url}jobs/${answer.Job}`)).text();
    assertStringIncludes(page, "Quality control");
    assertStringIncludes(page, "flat_V_002.fits");
    assertStringIncludes(page, "1000-50000 ADU");
  } finally {
    await service.stop();
    await Deno.remove(root, { recursive: true });
  }
});

/** Reduces nights in turn with one catalog; returns each report. */
async function reduceInTurn(dir: string, nights: string[], reduction: ReductionConfig) {
  const store = await openStore({ file: `${dir}/toros.sqlite3` });
  const pool = createPixelPool(2);
  try {
    const reports = [];
    for (const night of nights) reports.push(await reduceNight(night, { store, reduction, pool }));
    return reports;
  } finally {
    pool.close();
    await store.close();
  }
}

Deno.test("with Few Frames: borrow, three biases give way to another night's good master bias", async () => {
  const dir = await Deno.makeTempDir({ prefix: "toros-qc-borrow-" });
  try {
    await simulateNight(`${dir}/2026-11-20`, { size: 32, bias: 5, darks: 5, flatsPerFilter: 5, lights: 0 });
    await simulateNight(`${dir}/2026-11-24`, {
      size: 32,
      bias: 3,
      darks: 5,
      flatsPerFilter: 5,
      lights: 2,
      seed: 4,
    });
    const base = defaultConfig(dir).reduction;
    const reduction = { ...base, qualityControl: { ...base.qualityControl, fewFrames: "borrow" as const } };
    const [, report] = await reduceInTurn(dir, [`${dir}/2026-11-20`, `${dir}/2026-11-24`], reduction);
    assertEquals(report.products.filter((p) => p.kind === "master_bias"), [], "no master bias of 3 frames");
    const borrowed = report.qc.find((v) => v.check === "frame count")!;
    assertEquals([borrowed.verdict, borrowed.measured], ["borrowed", 3]);
    assertStringIncludes(borrowed.reason, `${dir}/2026-11-20/products/master_bias.fits used instead`);
    assertEquals(report.skipped.map((s) => s.fileName), ["bias_001.fits", "bias_002.fits", "bias_003.fits"]);
    for (const light of report.products.filter((p) => p.kind === "calibrated_light")) {
      assert(
        light.warnings.some((w) => w.startsWith(`master bias borrowed from ${dir}/2026-11-20/`)),
        light.path,
      );
    }
    const dark = report.products.find((p) => p.kind === "master_dark")!;
    assertEquals(dark.uses, ["master_bias.fits"], "the darks use the borrowed bias");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("darks are matched by temperature: one within the tolerance is found, one beyond it is never used silently", async () => {
  const dir = await Deno.makeTempDir({ prefix: "toros-qc-temperature-" });
  try {
    const night = (where: string, date: string, setPoints: Record<string, number>, lights: number) =>
      simulateNight(`${where}/${date}`, {
        size: 24,
        bias: 3,
        darks: 3,
        flatsPerFilter: 0,
        lights,
        date,
        setPoints: { bias: setPoints.dark, dark: setPoints.dark, light: setPoints.light },
      });
    // A night of darks at -20 °C; then a night with lights at -20 °C and darks at -10 °C only.
    await night(dir, "2026-11-20", { dark: -20, light: -20 }, 0);
    await night(dir, "2026-11-24", { dark: -10, light: -20 }, 2);
    const reduction = defaultConfig(dir).reduction;
    const [first, second] = await reduceInTurn(dir, [`${dir}/2026-11-20`, `${dir}/2026-11-24`], reduction);
    assertEquals(
      first.products.map((p) => p.path.replace(/.*\//, "")).sort()[2],
      "master_dark_60s_m20C.fits",
    );
    const lights = second.products.filter((p) => p.kind === "calibrated_light");
    for (const light of lights) {
      assertStringIncludes(light.uses.join(" "), "master_dark_60s_m20C.fits");
      assert(
        light.warnings.some((w) => w.startsWith(`master dark borrowed from ${dir}/2026-11-20/`)),
        light.path,
      );
    }
    assertEquals(
      second.qc.filter((v) => v.check === "dark temperature"),
      [],
      "a dark at the lights' temperature",
    );

    // With no dark at -20 °C anywhere, tonight's at -10 °C is used, and said to be.
    const alone = await Deno.makeTempDir({ dir, prefix: "alone-" });
    await night(alone, "2026-11-25", { dark: -10, light: -20 }, 1);
    const [third] = await reduceInTurn(alone, [`${alone}/2026-11-25`], reduction);
    const light = third.products.find((p) => p.kind === "calibrated_light")!;
    assertStringIncludes(light.uses.join(" "), "master_dark_60s_m10C.fits");
    assert(
      light.warnings.some((w) => w.includes("(beyond the 2 °C tolerance)")),
      JSON.stringify(light.warnings),
    );
    const [verdict] = third.qc.filter((v) => v.check === "dark temperature");
    assertEquals([verdict.verdict, verdict.limit, verdict.subject], ["warning", "<= 2 °C", light.path]);
    assert(Math.abs(verdict.measured! - 10) < 0.5, `${verdict.measured} °C apart`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
