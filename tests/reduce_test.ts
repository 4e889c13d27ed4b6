/**
 * The pipeline on awkward nights: unusable frames are skipped with their reason,
 * missing calibrations are warned about (and borrowed from other nights when the
 * catalog has them), raw files never change, and re-running never duplicates.
 */
import { assert, assertEquals, assertStringIncludes } from "./_assert.ts";
import { defaultConfig } from "../lib/config.ts";
import { Header, readImage, sha256File, writeImage } from "../lib/fits/mod.ts";
import { openStore } from "../lib/store/mod.ts";
import { createPixelPool, medianOf } from "../lib/ccd/mod.ts";
import { simulateNight } from "../services/preprocessor/simulate.ts";
import { reduceNight } from "../services/preprocessor/pipeline.ts";
import { classifyImageType } from "../services/preprocessor/ingest.ts";

const MAIN = new URL("../main.ts", import.meta.url).pathname;

Deno.test("IMAGETYP spellings of real cameras are classified", () => {
  const cases: [string, string | null][] = [
    ["BIAS", "bias"],
    ["zero", "bias"],
    ["Bias Frame", "bias"],
    ["Dark Frame", "dark"],
    ["DARK", "dark"],
    ["Flat Field", "flat"],
    ["SKYFLAT", "flat"],
    ["domeflat", "flat"],
    ["Twilight Flat", "flat"],
    ["LIGHT", "light"],
    ["Object", "light"],
    ["SCIENCE", "light"],
    ["Light Frame", "light"],
    ["focus", null],
    ["", null],
  ];
  for (const [text, expected] of cases) assertEquals(classifyImageType(text), expected, text);
});

async function hashes(dir: string): Promise<Record<string, string>> {
  const result: Record<string, string> = {};
  for (const entry of Deno.readDirSync(dir)) {
    if (entry.isFile) result[entry.name] = await sha256File(`${dir}/${entry.name}`);
  }
  return result;
}

Deno.test("a troubled night produces everything it can, with the reasons recorded", async () => {
  const dir = await Deno.makeTempDir({ prefix: "toros-reduce-" });
  const pool = createPixelPool(2);
  const store = await openStore({ file: `${dir}/toros.sqlite3` });
  try {
    const night = `${dir}/2026-11-25`;
    // No darks; flats only in V while lights are in V and R.
    await simulateNight(night, {
      size: 48,
      bias: 3,
      darks: 0,
      flatsPerFilter: 3,
      lights: 4,
      filters: ["V", "R"],
    });
    for (const name of [...Deno.readDirSync(night)].map((e) => e.name)) {
      if (name.startsWith("flat_R")) await Deno.remove(`${night}/${name}`);
    }
    await Deno.writeFile(
      `${night}/corrupt.fits`,
      (await Deno.readFile(`${night}/light_001.fits`)).subarray(0, 4000),
    );
    const header = new Header();
    header.set("EXPTIME", 10);
    await writeImage(`${night}/untyped.fits`, header, new Float32Array(48 * 48), { width: 48, height: 48 });
    await Deno.writeTextFile(`${night}/notes.txt`, "not a frame");
    const before = await hashes(night);

    const report = await reduceNight(night, { store, reduction: defaultConfig(dir).reduction, pool });
    assertEquals(report.skipped.map((s) => s.fileName).sort(), ["corrupt.fits", "untyped.fits"]);
    assertStringIncludes(report.skipped.find((s) => s.fileName === "corrupt.fits")!.reason, "truncated");
    assertEquals(report.skipped.find((s) => s.fileName === "untyped.fits")!.reason, "no IMAGETYP card");
    const kinds = report.products.map((p) => p.kind).sort();
    // The bad-pixel map, made from the master flat, is a product too (Output: Format mef).
    assertEquals(kinds, [
      "bad_pixel_map",
      ...Array(4).fill("calibrated_light"),
      "master_bias",
      "master_flat",
    ]);
    const lights = report.products.filter((p) => p.kind === "calibrated_light");
    for (const light of lights) {
      assert(light.warnings.some((w) => w.includes("no master dark")), "no-dark warning on every light");
    }
    const rLight = lights.find((p) => p.inputs[0] === "light_002.fits")!;
    assert(rLight.warnings.some((w) => w.includes("no flat for filter R")), JSON.stringify(rLight.warnings));
    const product = await readImage(rLight.path);
    assert(
      product.header.cards.some((c) => c.key === "COMMENT" && c.comment?.includes("no flat for filter R")),
    );
    assertEquals(product.header.getString("MBIAS"), "master_bias.fits");
    // The catalog holds the reasons too.
    const exposures = await store.listExposures(report.night.id);
    assertEquals(exposures.find((e) => e.fileName === "untyped.fits")?.error, "no IMAGETYP card");
    assertEquals(exposures.find((e) => e.fileName === "corrupt.fits")?.status, "skipped");
    const stored = await store.listProducts({ nightId: report.night.id });
    assert(
      stored.find((p) => p.path === rLight.path)!.warnings.some((w) => w.includes("no flat for filter R")),
    );
    // Raw files are never changed.
    assertEquals(await hashes(night), before);

    // Re-running replaces nothing needlessly and never duplicates rows.
    const again = await reduceNight(night, { store, reduction: defaultConfig(dir).reduction, pool });
    assert(again.products.every((p) => p.reused), "every product up to date on a second run");
    assertEquals((await store.listProducts({ nightId: report.night.id })).length, stored.length);
    assertEquals((await store.listExposures(report.night.id)).length, exposures.length);
    const forced = await reduceNight(night, {
      store,
      reduction: defaultConfig(dir).reduction,
      pool,
      force: true,
    });
    assert(forced.products.every((p) => !p.reused));
    assertEquals((await store.listProducts({ nightId: report.night.id })).length, stored.length);
  } finally {
    pool.close();
    await store.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a night without calibrations borrows the closest matching masters from the catalog", async () => {
  const dir = await Deno.makeTempDir({ prefix: "toros-borrow-" });
  const pool = createPixelPool(1);
  const store = await openStore({ file: `${dir}/toros.sqlite3` });
  try {
    const reduction = defaultConfig(dir).reduction;
    await simulateNight(`${dir}/2026-11-20`, { size: 32, bias: 3, darks: 3, flatsPerFilter: 3, lights: 1 });
    await reduceNight(`${dir}/2026-11-20`, { store, reduction, pool });
    await simulateNight(`${dir}/2026-11-21`, {
      size: 32,
      bias: 0,
      darks: 0,
      flatsPerFilter: 0,
      lights: 2,
      seed: 9,
    });
    const report = await reduceNight(`${dir}/2026-11-21`, { store, reduction, pool });
    const lights = report.products.filter((p) => p.kind === "calibrated_light");
    assertEquals(lights.length, 2);
    // The other night's bad-pixel map too: a map is reused until a newer one exists.
    assertEquals(lights[0].uses.sort(), [
      "bad_pixel_map.fits",
      "master_bias.fits",
      "master_dark_60s.fits",
      "master_flat_V.fits",
    ]);
    for (const kind of ["bias", "dark", "flat"]) {
      assert(
        lights[0].warnings.some((w) =>
          w.startsWith(`master ${kind} borrowed from ${dir}/2026-11-20/products/`)
        ),
      );
    }
  } finally {
    pool.close();
    await store.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("toros reduce exits 0 on a clean night, 3 when frames were skipped, 1 when the night is missing", async () => {
  const dir = await Deno.makeTempDir({ prefix: "toros-reduce-cli-" });
  try {
    const config = `${dir}/toros.conf.yaml`;
    await Deno.writeTextFile(
      config,
      `Database: {File: ${dir}/toros.sqlite3}\nLogging: {File: ${dir}/toros.log}\n`,
    );
    await simulateNight(`${dir}/night`, { size: 24, bias: 2, darks: 2, flatsPerFilter: 2, lights: 1 });
    const run = (args: string[]) =>
      new Deno.Command(Deno.execPath(), {
        args: ["run", "--allow-all", MAIN, "reduce", ...args, "--config", config],
        stdout: "piped",
        stderr: "piped",
      }).output();
    const clean = await run([`${dir}/night`, "--json"]);
    assertEquals(clean.code, 0, new TextDecoder().decode(clean.stderr));
    const report = JSON.parse(new TextDecoder().decode(clean.stdout));
    assertEquals(report.products.length, 5, "bias, dark, flat, the bad-pixel map, the light");
    await Deno.writeTextFile(`${dir}/night/broken.fits`, "SIMPLE  =");
    const skipped = await run([`${dir}/night`, "--out", `${dir}/elsewhere`]);
    assertEquals(skipped.code, 3);
    assertStringIncludes(new TextDecoder().decode(skipped.stdout), "skipped    broken.fits");
    assert([...Deno.readDirSync(`${dir}/elsewhere`)].length === 5);
    const missing = await run([`${dir}/nowhere`]);
    assertEquals(missing.code, 1);
    assertStringIncludes(new TextDecoder().decode(missing.stderr), "cannot be read");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("frames with overscan and trim sections, and saturated pixels, reduce as the kernels say", async () => {
  const dir = await Deno.makeTempDir({ prefix: "toros-overscan-" });
  const pool = createPixelPool(2);
  const store = await openStore({ file: `${dir}/toros.sqlite3` });
  try {
    const night = `${dir}/2026-11-26`;
    await Deno.mkdir(night);
    const [rawWidth, height, width] = [40, 30, 32];
    let seed = 7;
    const noise = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
    /** A raw frame: a level per row in the overscan columns 33-40, the image in columns 1-32. */
    const frame = (imageLevel: (x: number, y: number) => number) => {
      const data = new Float32Array(rawWidth * height);
      for (let y = 0; y < height; y++) {
        const overscan = 500 + y * 3;
        for (let x = 0; x < rawWidth; x++) {
          data[y * rawWidth + x] = Math.round(overscan + (x < width ? imageLevel(x, y) : 0) + noise() * 4);
        }
      }
      return data;
    };
    const write = async (
      name: string,
      type: string,
      data: Float32Array,
      extra: Record<string, number> = {},
    ) => {
      const header = new Header();
      header.set("IMAGETYP", type);
      header.set("EXPTIME", type === "BIAS" ? 0 : 10);
      header.set("FILTER", "V");
      header.set("BIASSEC", "[33:40,1:30]");
      header.set("TRIMSEC", "[1:32,1:30]");
      for (const [key, value] of Object.entries(extra)) header.set(key, value);
      await writeImage(`${night}/${name}`, header, data, {
        width: rawWidth,
        height,
        bitpix: 16,
        unsigned: true,
      });
    };
    const raws: Record<string, Float32Array> = {};
    for (let i = 0; i < 3; i++) await write(`bias_${i}.fits`, "BIAS", raws[`bias_${i}`] = frame(() => 20));
    for (let i = 0; i < 3; i++) {
      await write(
        `flat_${i}.fits`,
        "FLAT",
        raws[`flat_${i}`] = frame((x, y) => 9000 + 30 * x - 20 * y + i * 500),
      );
    }
    const light = frame((x, y) => 1000 + ((x * 7 + y * 3) % 11) * 100);
    for (let y = 5; y < 8; y++) light[y * rawWidth + 10] = 6000;
    await write("light_0.fits", "LIGHT", light, { SATURATE: 5000 });

    // Saturated pixels: NaN in a single-HDU product, flagged in BPM (their values kept) in a MEF one.
    for (const format of ["single", "mef"] as const) {
      const reduction = { ...defaultConfig(dir).reduction, output: { format } };
      const report = await reduceNight(night, { store, reduction, pool, force: true });
      assertEquals(report.skipped, []);

      // The reference: overscan row medians subtracted and trimmed, then the standard reduction, pixel by pixel.
      const trimmed = (raw: Float32Array) => {
        const out = new Float32Array(width * height);
        for (let y = 0; y < height; y++) {
          const level = medianOf(raw.subarray(y * rawWidth + width, (y + 1) * rawWidth));
          for (let x = 0; x < width; x++) out[y * width + x] = raw[y * rawWidth + x] - level;
        }
        return out;
      };
      const pixelMedian = (frames: Float32Array[]) =>
        Float32Array.from({ length: width * height }, (_, p) => medianOf(frames.map((f) => f[p])));
      const bias = pixelMedian([0, 1, 2].map((i) => trimmed(raws[`bias_${i}`])));
      const flats = [0, 1, 2].map((i) => {
        const f = trimmed(raws[`flat_${i}`]).map((v, p) => v - bias[p]);
        const m = medianOf(f);
        return f.map((v) => v / m);
      });
      const flat = pixelMedian(flats);
      const flatMean = flat.reduce((s, v) => s + Math.max(v, 0.01), 0) / flat.length;
      const expected = trimmed(light).map((v, p) => (v - bias[p]) / (Math.max(flat[p], 0.01) / flatMean));

      const product = await readImage(`${night}/products/calib_light_0.fits`);
      assertEquals([product.width, product.height], [width, height]);
      const mask = format === "mef"
        ? (await readImage(`${night}/products/calib_light_0.fits`, { hdu: 1 })).data
        : null;
      let saturated = 0;
      for (let y = 0; y < height; y++) {
        for (let x = 0; x < width; x++) {
          const p = y * width + x;
          if (light[y * rawWidth + x] >= 5000) {
            if (mask) assertEquals(mask[p] & 2, 2, `saturated pixel ${x},${y} flagged`);
            else assert(Number.isNaN(product.data[p]), `saturated pixel ${x},${y} is NaN`);
            saturated++;
            if (!mask) continue;
          } else if (mask) assertEquals(mask[p] & 2, 0, `pixel ${x},${y} not flagged saturated`);
          const e = expected[p];
          assert(
            Math.abs(product.data[p] - e) <= 1e-4 * Math.abs(e),
            `pixel ${x},${y}: ${product.data[p]} vs ${e}`,
          );
        }
      }
      assertEquals(saturated, 3);
      // Trimmed frames are hashed as their rows are read, with the header and padding around them.
      for (const exposure of await store.listExposures(report.night.id)) {
        assertEquals(
          exposure.contentHash,
          await sha256File(`${night}/${exposure.fileName}`),
          exposure.fileName,
        );
      }
      const summary = report.products.find((p) => p.kind === "calibrated_light")!;
      const said = format === "mef" ? "3 saturated pixels flagged in BPM" : "3 saturated pixels set to NaN";
      assert(summary.warnings.includes(said), JSON.stringify(summary.warnings));
    }
  } finally {
    pool.close();
    await store.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("more flats than one median batch: the master flat still equals the reference", async () => {
  const dir = await Deno.makeTempDir({ prefix: "toros-flats-" });
  const pool = createPixelPool(2);
  const store = await openStore({ file: `${dir}/toros.sqlite3` });
  try {
    const night = `${dir}/2026-11-28`;
    await simulateNight(night, { size: 24, bias: 3, darks: 0, flatsPerFilter: 18, lights: 1 });
    await reduceNight(night, { store, reduction: defaultConfig(dir).reduction, pool });
    const read = async (prefix: string) => {
      const names = [...Deno.readDirSync(night)].map((e) => e.name).filter((n) => n.startsWith(prefix))
        .sort();
      return await Promise.all(names.map(async (name) => (await readImage(`${night}/${name}`)).data));
    };
    const pixelMedian = (frames: Float32Array[]) =>
      Float32Array.from({ length: frames[0].length }, (_, p) => medianOf(frames.map((f) => f[p])));
    const bias = pixelMedian(await read("bias_"));
    const flats = (await read("flat_")).map((flat) => {
      const calibrated = flat.map((v, p) => v - bias[p]);
      const median = medianOf(calibrated);
      return calibrated.map((v) => v / median);
    });
    assertEquals(flats.length, 18);
    const expected = pixelMedian(flats);
    const product = (await readImage(`${night}/products/master_flat_V.fits`)).data;
    for (let p = 0; p < expected.length; p++) {
      assert(Math.abs(product[p] - expected[p]) <= 1e-5 * Math.abs(expected[p]), `pixel ${p}`);
    }
  } finally {
    pool.close();
    await store.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("only settings that change pixels remake products: Niceness, Share While Serving, Workers, Band Rows do not; Combine remakes all, Flat Floor the lights", async () => {
  const dir = await Deno.makeTempDir({ prefix: "toros-fingerprint-" });
  const pool = createPixelPool(2);
  const store = await openStore({ file: `${dir}/toros.sqlite3` });
  try {
    const night = `${dir}/2026-11-27`;
    await simulateNight(night, { size: 16, bias: 3, darks: 3, flatsPerFilter: 3, lights: 2 });
    const reduction = defaultConfig(dir).reduction;
    const first = await reduceNight(night, { store, reduction, pool });
    assert(first.products.every((p) => !p.reused));
    const scheduling = { ...reduction, niceness: 3, shareWhileServing: 80, workers: 1, bandRows: 7 };
    const again = await reduceNight(night, { store, reduction: scheduling, pool });
    assertEquals(again.products.filter((p) => !p.reused).map((p) => p.kind), [], "all reused");
    const floor = await reduceNight(night, { store, reduction: { ...scheduling, flatFloor: 0.02 }, pool });
    assertEquals(floor.products.filter((p) => !p.reused).map((p) => p.kind), [
      "calibrated_light",
      "calibrated_light",
    ]);
    const average = await reduceNight(night, {
      store,
      reduction: { ...scheduling, flatFloor: 0.02, combine: "average" },
      pool,
    });
    assertEquals(average.products.filter((p) => p.reused), [], "a master made again remakes what used it");
  } finally {
    pool.close();
    await store.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("toros reduce on a night without darks or flats lists each warning once with its count, in the summary and --json", async () => {
  const dir = await Deno.makeTempDir({ prefix: "toros-reduce-warnings-" });
  try {
    const config = `${dir}/toros.conf.yaml`;
    await Deno.writeTextFile(
      config,
      `Database: {File: ${dir}/toros.sqlite3}\nLogging: {File: ${dir}/toros.log}\n`,
    );
    await simulateNight(`${dir}/night`, { size: 16, bias: 2, darks: 0, flatsPerFilter: 0, lights: 3 });
    const run = (args: string[]) =>
      new Deno.Command(Deno.execPath(), {
        args: ["run", "--allow-all", MAIN, "reduce", `${dir}/night`, ...args, "--config", config],
        stdout: "piped",
        stderr: "piped",
      }).output();
    const text = await run([]);
    assertEquals(text.code, 0, new TextDecoder().decode(text.stderr));
    const summary = new TextDecoder().decode(text.stdout);
    assertStringIncludes(summary, "warning    no master dark: dark not subtracted (3 products)");
    assertStringIncludes(summary, "warning    no flat for filter V: not flat-fielded (3 products)");
    assertEquals(summary.match(/no master dark/g)?.length, 1, summary);
    const json = await run(["--json"]);
    const report = JSON.parse(new TextDecoder().decode(json.stdout));
    assertEquals(
      report.warningCounts.filter((w: { products: number }) => w.products > 0).map(
        (w: { warning: string; products: number }) => `${w.warning} (${w.products})`,
      ).sort(),
      ["no flat for filter V: not flat-fielded (3)", "no master dark: dark not subtracted (3)"],
    );
    assertEquals(report.stages.map((s: { name: string }) => s.name), [
      "ingest",
      "master_bias",
      "master_darks",
      "master_flats",
      "master_qc",
      "bad_pixel_map",
      "calibrated_lights",
    ]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
