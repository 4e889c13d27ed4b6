import { assert, assertAlmostEquals, assertEquals, assertThrows } from "./_assert.ts";
import {
  calibrateBand,
  type CalibrationTerms,
  combineBand,
  createPixelPool,
  divideInPlace,
  fitPolynomial,
  medianOf,
  overscanAndTrimRows,
  overscanEstimate,
  parseSection,
  saturationMask,
  SectionError,
  sharedFloat32,
  StreamingMedian,
  stripLevels,
  stripOrientation,
} from "../lib/ccd/mod.ts";

const f32 = (values: number[]) => new Float32Array(values);

Deno.test("median combine takes the middle value, and the mean of the two middle ones for an even count", () => {
  const out = new Float32Array(3);
  combineBand([f32([1, 5, NaN]), f32([3, 2, 7]), f32([2, 9, 8])], out, { method: "median" });
  assertEquals([...out], [2, 5, 7.5]);
  combineBand([f32([1, 5, 1]), f32([3, 2, 2]), f32([2, 9, 3]), f32([10, 1, 4])], out, { method: "median" });
  assertEquals([...out], [2.5, 3.5, 2.5]);
});

Deno.test("average and sum combine ignore NaN; a pixel NaN in every frame stays NaN", () => {
  const out = new Float32Array(2);
  combineBand([f32([1, NaN]), f32([3, NaN]), f32([NaN, NaN])], out, { method: "average" });
  assertEquals(out[0], 2);
  assert(Number.isNaN(out[1]));
  combineBand([f32([1, 1]), f32([3, 2]), f32([5, 3])], out, { method: "sum" });
  assertEquals([...out], [9, 6]);
});

Deno.test("per-frame scales apply before combining", () => {
  const out = new Float32Array(1);
  combineBand([f32([2]), f32([4]), f32([9])], out, { method: "median", scales: [1, 0.5, 1 / 3] });
  assertEquals(out[0], 2);
});

Deno.test("min/max clipping drops values outside the range", () => {
  const out = new Float32Array(1);
  combineBand([f32([1]), f32([100]), f32([3]), f32([5])], out, {
    method: "average",
    minMaxClip: { min: 0, max: 50 },
  });
  assertEquals(out[0], 3);
});

Deno.test("sigma clipping rejects an outlier around the median", () => {
  const frames = [10, 11, 9, 10, 10, 11, 9, 10, 10, 1000].map((v) => f32([v]));
  const out = new Float32Array(1);
  combineBand(frames, out, { method: "average", sigmaClip: { low: 2, high: 2 } });
  assertAlmostEquals(out[0], 10, 1e-6);
  combineBand(frames, out, { method: "average" });
  assertAlmostEquals(out[0], 109, 1e-4);
});

Deno.test("min/max limits are ADU before scaling: Max 19000 drops a flat of 21000 ADU scaled to 1.05", () => {
  const out = new Float32Array(1);
  const frames = [f32([20000]), f32([21000]), f32([15000])];
  const scales = [1 / 20000, 1 / 20000, 1 / 20000];
  combineBand(frames, out, { method: "median", scales, minMaxClip: { min: 0, max: 19000 } });
  assertEquals(out[0], 0.75);
  combineBand(frames, out, { method: "median", scales });
  assertEquals(out[0], 1);
});

Deno.test("sigma clipping around the mean or the median: the same σ (population, about the mean), one pass", () => {
  const frames = [0, 0, 0, 0, 0, 0, 5, 6, 7, 8, 20].map((v) => f32([v]));
  const out = new Float32Array(1);
  // mean 4.18, σ 5.89: around the mean [−1.71, 10.07] keeps all but 20; around the median [−5.89, 5.89] keeps 0s and 5.
  combineBand(frames, out, { method: "average", sigmaClip: { low: 1, high: 1, center: "mean" } });
  assertAlmostEquals(out[0], 26 / 10, 1e-6);
  combineBand(frames, out, { method: "average", sigmaClip: { low: 1, high: 1, center: "median" } });
  assertAlmostEquals(out[0], 5 / 7, 1e-6);
  combineBand(frames, out, { method: "average", sigmaClip: { low: 1, high: 1 } });
  assertAlmostEquals(out[0], 5 / 7, 1e-6, "the median by default, as Reduction: Sigma Clip reads");
});

Deno.test("sigma clipping comes after scaling and sees only what min/max clipping kept", () => {
  const out = new Float32Array(1);
  // Unscaled, 200 would be far from the rest; scaled by 1/20 it is one of them.
  const frames = [10, 11, 9, 10, 200].map((v) => f32([v]));
  const scales = [1, 1, 1, 1, 1 / 20];
  combineBand(frames, out, { method: "average", scales, sigmaClip: { low: 1.5, high: 1.5, center: "mean" } });
  assertAlmostEquals(out[0], 10, 1e-6);
  // ccdproc drops the min/max mask when it sigma clips (astropy/ccdproc#849) and would give 10.2 here.
  const values = [10, 11, 9, 10, 10, 11, 9, 10, 10, 12, 50].map((v) => f32([v]));
  combineBand(values, out, {
    method: "average",
    minMaxClip: { min: 0, max: 10.5 },
    sigmaClip: { low: 3, high: 3, center: "mean" },
  });
  assertAlmostEquals(out[0], 68 / 7, 1e-6);
});

Deno.test("calibrateBand computes (light - bias - dark*k) / flat * mean, flooring the flat", () => {
  const light = f32([110, 220, 50]);
  calibrateBand(light, {
    bias: f32([10, 20, 10]),
    dark: f32([5, 10, 0]),
    darkScale: 2,
    flat: f32([0.5, 1, 0.001]),
    flatMean: 1,
    flatFloor: 0.01,
  });
  assertEquals([...light], [180, 180, 4000]);
  const target = f32([1, 1]);
  divideInPlace(target, f32([0, 4]), { floor: 0.5 });
  assertEquals([...target], [2, 0.25]);
});

Deno.test("median of a whole frame matches numpy's, streamed or not", () => {
  const values = new Float32Array(10001).map((_, i) => Math.sin(i) * 1000);
  values[7] = NaN;
  const median = new StreamingMedian();
  for (let i = 0; i < values.length; i += 333) median.addCoarse(values.subarray(i, i + 333));
  assert(median.beginFine());
  for (let i = 0; i < values.length; i += 333) median.addFine(values.subarray(i, i + 333));
  assertEquals(median.median(), medianOf(values));
  assertEquals(medianOf(f32([4, 1, 3, 2])), 2.5);
  assertEquals(medianOf(f32([NaN])), NaN);
});

Deno.test("FITS sections are 1-based inclusive and checked against the image", () => {
  assertEquals(parseSection("[1:2048,1:4096]"), { x0: 0, x1: 2048, y0: 0, y1: 4096 });
  assertEquals(parseSection("[ 2049:2080 , * ]", 2080, 10), { x0: 2048, x1: 2080, y0: 0, y1: 10 });
  assertEquals(parseSection("[10:1,1:5]"), { x0: 0, x1: 10, y0: 0, y1: 5 });
  assertThrows(() => parseSection("1:10,1:10"), SectionError, "is not an image section");
  assertThrows(() => parseSection("[0:10,1:10]"), SectionError, "1-based");
  assertThrows(() => parseSection("[1:3000,1:10]", 2048, 10), SectionError, "beyond 2048");
});

Deno.test("overscan: each row loses the median of its overscan, then is trimmed", () => {
  // Two rows of 6 pixels: 4 data columns, 2 overscan columns.
  const input = f32([10, 11, 12, 13, 100, 102, 20, 21, 22, 23, 5, 7]);
  const out = new Float32Array(8);
  overscanAndTrimRows(
    input,
    6,
    2,
    { x0: 4, x1: 6, y0: 0, y1: 2 },
    { x0: 0, x1: 4 },
    out,
    new Float64Array(6),
  );
  assertEquals([...out], [-91, -90, -89, -88, 14, 15, 16, 17]);
});

Deno.test("overscan estimates: median, mean, and BANZAI's mean within 3 robust σ (1.4826 MAD) of the median, NaN left out", () => {
  const values = f32([10, 11, NaN, 12, 13, 100]);
  const scratch = new Float64Array(6);
  assertEquals(overscanEstimate(values, 0, 6, "median", scratch), 12);
  assertAlmostEquals(overscanEstimate(values, 0, 6, "mean", scratch), 146 / 5, 1e-12);
  // Deviations 2, 1, 0, 1, 88: MAD 1, so 100 is dropped.
  assertEquals(overscanEstimate(values, 0, 6, "clipped-mean", scratch), 11.5);
  assertEquals(overscanEstimate(f32([NaN]), 0, 1, "mean", scratch), 0);
});

Deno.test("a polynomial fit is least squares: exact on a cubic, residuals orthogonal to every power up to its degree", () => {
  const n = 2048;
  const cubic = Float64Array.from({ length: n }, (_, x) => 1000 + 0.01 * x - 3e-6 * x * x + 2e-10 * x ** 3);
  const fitted = fitPolynomial(cubic, 3);
  for (let x = 0; x < n; x++) assertAlmostEquals(fitted[x], cubic[x], 1e-9);
  const next = ((seed) => () => (seed = (seed * 1664525 + 1013904223) >>> 0) / 2 ** 32)(3);
  const noisy = Float64Array.from({ length: n }, (_, x) => 1000 + 5 * Math.sin(x / 300) + next() * 4);
  for (const degree of [1, 4, 10]) {
    const fit = fitPolynomial(noisy, degree);
    for (let k = 0; k <= degree; k++) {
      let dot = 0;
      let norm = 0;
      for (let x = 0; x < n; x++) {
        const power = (2 * x / (n - 1) - 1) ** k;
        dot += (noisy[x] - fit[x]) * power;
        norm += power * power;
      }
      assert(Math.abs(dot) / Math.sqrt(norm) < 1e-8, `degree ${degree}: residual · x^${k} = ${dot}`);
    }
  }
  const through = fitPolynomial(new Float64Array([3, 5]), 4);
  [3, 5].forEach((v, i) => assertAlmostEquals(through[i], v, 1e-12, "more terms than points: through them"));
});

Deno.test("a strip wider than tall is a row strip: one level per column; a column strip gives one per row, modelled or not", () => {
  assertEquals(stripOrientation({ x0: 2048, x1: 2080, y0: 0, y1: 2048 }), "columns");
  assertEquals(stripOrientation({ x0: 0, x1: 2048, y0: 2048, y1: 2080 }), "rows");
  // 3 rows of 4 columns.
  const strip = f32([1, 2, 3, 4, 3, 6, 5, 4, 2, 4, 7, 4]);
  const median = { estimate: "median", model: "none" } as const;
  assertEquals([...stripLevels(strip, 4, 3, "rows", median)], [2, 4, 5, 4]);
  assertEquals([...stripLevels(strip, 4, 3, "columns", median)], [2.5, 4.5, 4]);
  const linear = stripLevels(strip, 4, 3, "columns", { estimate: "mean", model: { polynomial: 1 } });
  // Means 2.5, 4.5, 4.25: the line through them by least squares.
  [2.875, 3.75, 4.625].forEach((v, i) => assertAlmostEquals(linear[i], v, 1e-12));
});

Deno.test("overscan levels known beforehand are subtracted per row (from the band's first row) or per column", () => {
  const input = f32([10, 11, 12, 99, 20, 21, 22, 99]);
  const out = new Float32Array(6);
  const trim = { x0: 0, x1: 3 };
  const scratch = new Float64Array(4);
  const rowLevels = { per: "row" as const, values: new Float64Array([100, 1, 2]) };
  overscanAndTrimRows(input, 4, 2, null, trim, out, scratch, { levels: rowLevels, firstRow: 1 });
  assertEquals([...out], [9, 10, 11, 18, 19, 20]);
  const columnLevels = { per: "column" as const, values: new Float64Array([1, 2, 3]) };
  overscanAndTrimRows(input, 4, 2, null, trim, out, scratch, { levels: columnLevels });
  assertEquals([...out], [9, 9, 9, 19, 19, 19]);
  const overscan = { x0: 3, x1: 4, y0: 0, y1: 2 };
  overscanAndTrimRows(input, 4, 2, overscan, trim, out, scratch, { estimate: "mean" });
  assertEquals([...out], [-89, -88, -87, -79, -78, -77]);
});

Deno.test("saturation flags raw values at or above the level", () => {
  const mask = new Uint8Array(4);
  assertEquals(saturationMask(f32([1, 65535, 70000, 3]), 65535, mask), 2);
  assertEquals([...mask], [0, 1, 1, 0]);
});

Deno.test("the worker pool gives the same results as the kernels", async () => {
  const pool = createPixelPool(2);
  try {
    const n = 1001;
    const inputs = [0, 1, 2, 3, 4].map((k) => {
      const band = sharedFloat32(n);
      for (let i = 0; i < n; i++) band[i] = Math.cos(i * (k + 1)) * 100 + k;
      return band;
    });
    const out = sharedFloat32(n);
    const band = (values: Float32Array, terms: CalibrationTerms | null = null) => ({
      raw: null,
      encoding: null,
      band: values,
      terms,
      encoded: null,
      histogram: null,
    });
    await pool.run({
      inputs: inputs.map((values) => band(values)),
      combine: {
        options: { method: "median" },
        inputs: [0, 1, 2, 3, 4],
        out,
        encoded: null,
        floor: -Infinity,
      },
    }, n);
    const expected = new Float32Array(n);
    combineBand(inputs, expected, { method: "median" });
    assertEquals([...out], [...expected]);
    const light = sharedFloat32(n).fill(100);
    const flat = sharedFloat32(n).fill(2);
    await pool.run({ inputs: [band(light, { bias: inputs[0], flat, flatMean: 2 })], combine: null }, n);
    for (let i = 0; i < n; i++) assertEquals(light[i], Math.fround(100 - inputs[0][i]));
  } finally {
    pool.close();
  }
});
