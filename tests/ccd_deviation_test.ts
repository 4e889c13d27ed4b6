/**
 * The uncertainty kernels: a combine's uncertainty as ccdproc's `Combiner`
 * gives it, and a light's as `create_deviation` and astropy's arithmetic carry
 * it through bias, dark and flat; the band task's masks (saturation, bad pixels).
 */
import { assert, assertAlmostEquals, assertEquals } from "./_assert.ts";
import { peerTest, PYTHON } from "./_peers.ts";
import { addSums, checksumOf } from "../lib/fits/mod.ts";
import {
  BAD_PIXEL_BIT,
  type BandTask,
  calibrateBand,
  calibrateWithDeviation,
  combineBand,
  MAD_TO_SIGMA,
  runBandSlice,
  SATURATED_BIT,
} from "../lib/ccd/mod.ts";

const f32 = (values: number[]) => new Float32Array(values);

function median(values: number[]): number {
  const v = [...values].sort((a, b) => a - b);
  const h = v.length >> 1;
  return v.length % 2 ? v[h] : (v[h - 1] + v[h]) / 2;
}

/** Frames of `pixels` pixels with seeded noise (and a NaN here and there when asked). */
function noisyFrames(n: number, pixels: number, nan = false): Float32Array[] {
  let seed = 12345;
  const random = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
  return Array.from(
    { length: n },
    (_, i) =>
      Float32Array.from(
        { length: pixels },
        (_, p) => nan && (p * 7 + i) % 23 === 0 ? NaN : 100 + 10 * random(),
      ),
  );
}

Deno.test("median combine's uncertainty is 1.4826 · MAD / √m, by the SIMD network and by the loop alike", () => {
  for (const n of [3, 4, 5, 11]) {
    for (const nan of [false, true]) {
      const frames = noisyFrames(n, 4100, nan);
      const out = new Float32Array(4100);
      const deviation = new Float32Array(4100);
      combineBand(frames, out, { method: "median" }, 0, 4100, deviation);
      const clipped = new Float32Array(4100);
      const clippedOut = new Float32Array(4100);
      // A sigma clip too wide to reject anything takes the loop instead of the network.
      combineBand(
        frames,
        clippedOut,
        { method: "median", sigmaClip: { low: 1e9, high: 1e9 } },
        0,
        4100,
        clipped,
      );
      for (let p = 0; p < 4100; p++) {
        const values = frames.map((f) => f[p]).filter((v) => v === v);
        const m = median(values);
        const mad = median(values.map((v) => Math.abs(v - m)));
        const expected = MAD_TO_SIGMA * mad / Math.sqrt(values.length);
        assertAlmostEquals(deviation[p], expected, 1e-4 * expected + 1e-6, `n ${n} pixel ${p}`);
        assertAlmostEquals(clipped[p], expected, 1e-4 * expected + 1e-6, `loop n ${n} pixel ${p}`);
        assertEquals(out[p], clippedOut[p]);
      }
    }
  }
});

Deno.test("scaled frames (flats): the median and its MAD in double precision, as ccdproc's, by the network and the loop alike", () => {
  // Levels near 20000 ADU with a spread of hundredths of an ADU: scaled to about 1, the values differ by
  // about 1e-6, ten float32 units there, so deviations taken in float32 would be off by tens of percent.
  let seed = 7;
  const random = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
  for (const n of [4, 5, 11]) {
    const pixels = 2051; // a last block not a multiple of 4
    const levels = Array.from({ length: n }, (_, i) => 20000 + 37 * i);
    const scales = levels.map((level) => 1 / level);
    const frames = levels.map((level, i) =>
      Float32Array.from(
        { length: pixels },
        (_, p) => (p * 5 + i) % 97 === 0 ? NaN : level * (1 + 0.01 * p / pixels) + 0.05 * random(),
      )
    );
    const out = new Float32Array(pixels);
    const deviation = new Float32Array(pixels);
    combineBand(frames, out, { method: "median", scales }, 0, pixels, deviation);
    const loopOut = new Float32Array(pixels);
    const loopDeviation = new Float32Array(pixels);
    combineBand(
      frames,
      loopOut,
      { method: "median", scales, sigmaClip: { low: 1e9, high: 1e9 } },
      0,
      pixels,
      loopDeviation,
    );
    for (let p = 0; p < pixels; p++) {
      const values = frames.map((f, i) => f[p] * scales[i]).filter((v) => v === v);
      const m = median(values);
      const expected = MAD_TO_SIGMA * median(values.map((v) => Math.abs(v - m))) / Math.sqrt(values.length);
      assertAlmostEquals(out[p], Math.fround(m), 2e-7, `median, n ${n} pixel ${p}`);
      assertAlmostEquals(deviation[p], expected, 1e-5 * expected, `network, n ${n} pixel ${p}`);
      assertAlmostEquals(loopDeviation[p], expected, 1e-5 * expected, `loop, n ${n} pixel ${p}`);
    }
  }
});

Deno.test("average and sum combines' uncertainty: std/√m and std·√m; NaN where nothing is left", () => {
  const frames = [f32([1, NaN]), f32([3, NaN]), f32([8, NaN])];
  const out = new Float32Array(2);
  const deviation = new Float32Array(2);
  const std = Math.sqrt(((1 - 4) ** 2 + (3 - 4) ** 2 + (8 - 4) ** 2) / 3);
  combineBand(frames, out, { method: "average" }, 0, 2, deviation);
  assertAlmostEquals(deviation[0], std / Math.sqrt(3), 1e-6);
  assert(Number.isNaN(deviation[1]));
  combineBand(frames, out, { method: "sum" }, 0, 2, deviation);
  assertAlmostEquals(deviation[0], std * Math.sqrt(3), 1e-5);
});

Deno.test("a light's uncertainty: Poisson of the signal above the bias, read noise, the masters' own, through the flat", () => {
  const gain = 1.5;
  const readNoise = 9;
  const light = f32([5000, 900, NaN]);
  const bias = f32([1000, 1000, 1000]);
  const dark = f32([40, 10, 0]);
  const flat = f32([0.9, 0.005, 1.1]);
  const [biasError, darkError, flatError] = [f32([2, 2, 2]), f32([3, 1, 1]), f32([0.01, 0.01, 0.01])];
  const terms = { bias, dark, darkScale: 0.5, flat, flatMean: 1.02, flatFloor: 0.01 };
  const error = new Float32Array(3);
  const calibrated = light.slice();
  calibrateWithDeviation(calibrated, error, terms, { gain, readNoise, biasError, darkError, flatError });
  const plain = light.slice();
  calibrateBand(plain, terms);
  for (let i = 0; i < 2; i++) {
    assertEquals(calibrated[i], plain[i], "the same values as calibrateBand");
    const signal = light[i] - bias[i];
    let variance = Math.max(gain * signal, 0) / gain ** 2 + (readNoise / gain) ** 2 + biasError[i] ** 2 +
      (0.5 * darkError[i]) ** 2;
    const v = signal - 0.5 * dark[i];
    const f = Math.max(flat[i], 0.01) / 1.02;
    variance = variance / f ** 2 + (v * (flatError[i] / 1.02) / f ** 2) ** 2;
    assertAlmostEquals(error[i], Math.sqrt(variance), 1e-5 * Math.sqrt(variance));
  }
  assert(Number.isNaN(error[2]));
});

Deno.test("a band task flags saturated pixels in a light's mask, keeps their values when asked, and marks non-finite results bad", () => {
  const band = f32([10, 70000, 30, NaN]);
  const badPixels = f32([0, 0, 4, 0]);
  const mask = new Uint8Array(4);
  const task: BandTask = {
    inputs: [
      { raw: null, encoding: null, band: badPixels, terms: null, encoded: null, histogram: null },
      {
        raw: null,
        encoding: null,
        band,
        saturation: 65535,
        keepSaturated: true,
        mask: { out: mask, badPixels },
        terms: null,
        encoded: null,
        histogram: null,
      },
    ],
    combine: null,
  };
  const result = runBandSlice(task, 0, 4, 0);
  assertEquals(result.saturated[1], 1);
  assertEquals(band[1], 70000);
  assertEquals([...mask], [0, SATURATED_BIT, 4, BAD_PIXEL_BIT]);
});

Deno.test("MEF lights through the light kernel (one pass, four pixels at a time, the rest by the passes) get the passes' bytes, masks, sums and counts to the bit", () => {
  let seed = 3;
  const random = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
  const pixels = 4099; // not a multiple of 4
  const band = (f: (p: number) => number) => Float32Array.from({ length: pixels }, (_, p) => f(p));
  const bias = band(() => 1000 + 5 * random());
  const dark = band(() => 20 * random());
  // Zeros in the flat (no floor: infinite values, bad pixels), a map with bits here and there.
  const flat = band((p) => p % 501 === 0 ? 0 : 0.9 + 0.2 * random());
  const errors = [band(() => 2 * random()), band(() => random()), band(() => 0.01 * random())];
  const map = Uint8Array.from({ length: pixels }, (_, p) => p % 53 === 0 ? 1 : p % 71 === 0 ? 4 : 0);
  const terms = { bias, dark, darkScale: 1.5, flat, flatMean: 1.01, flatFloor: 0 };
  const noise = [{ gain: 1.5, readNoise: 9 }, { gain: 2.2, readNoise: 4 }, { gain: 1.5, readNoise: 9 }];
  // Stored uint16 (BZERO 32768): zeros, saturated values (at and above 60000) and all between.
  const raws = noise.map(() => {
    const bytes = new Uint8Array(pixels * 2);
    const view = new DataView(bytes.buffer);
    for (let p = 0; p < pixels; p++) {
      const value = p % 89 === 0
        ? 65535
        : p % 83 === 0
        ? 0
        : p % 79 === 0
        ? 60000
        : Math.floor(800 + 5000 * random());
      view.setInt16(2 * p, value - 32768);
    }
    return bytes;
  });
  const task = (encodedOnly: boolean) => {
    const masters = [bias, dark, flat, ...errors].map((values) => ({
      raw: null,
      encoding: null,
      band: values,
      terms: null,
      encoded: null,
      histogram: null,
    }));
    const lights = raws.map((raw, l) => ({
      raw,
      encoding: { bitpix: 16, bscale: 1, bzero: 32768 },
      band: new Float32Array(pixels),
      saturation: 60000,
      keepSaturated: true,
      encodedOnly,
      terms,
      encoded: new Uint8Array(pixels * 4),
      histogram: null,
      mask: { out: new Uint8Array(pixels), badPixels: l === 1 ? null : map, position: 0 },
      deviation: {
        out: new Float32Array(pixels),
        encoded: new Uint8Array(pixels * 4),
        terms: { ...noise[l], biasError: errors[0], darkError: errors[1], flatError: errors[2] },
      },
    }));
    const bandTask: BandTask = { inputs: [...masters, ...lights], combine: null };
    const results = [runBandSlice(bandTask, 0, 2053, 0), runBandSlice(bandTask, 2053, pixels, 1)];
    return { lights, results, first: masters.length };
  };
  const kernel = task(true);
  const passes = task(false);
  kernel.lights.forEach((light, l) => {
    const other = passes.lights[l];
    assertEquals(light.encoded, other.encoded, `light ${l}: SCI bytes`);
    assertEquals(light.deviation.encoded, other.deviation.encoded, `light ${l}: ERR bytes`);
    assertEquals(light.mask.out, other.mask.out, `light ${l}: BPM`);
    for (const [s, result] of kernel.results.entries()) {
      const expected = passes.results[s];
      const j = kernel.first + l;
      assertEquals(result.sums[j], expected.sums[j], `light ${l} slice ${s}: SCI sum`);
      assertEquals(result.deviationSums[j], expected.deviationSums[j], `light ${l} slice ${s}: ERR sum`);
      assertEquals(result.maskSums[j], expected.maskSums[j], `light ${l} slice ${s}: BPM sum`);
      assertEquals(result.saturated[j], expected.saturated[j], `light ${l} slice ${s}: saturated`);
    }
    assert(other.mask.out.some((bits) => (bits & SATURATED_BIT) !== 0), "some pixels saturated");
    assert(other.mask.out.some((bits) => (bits & BAD_PIXEL_BIT) !== 0), "some pixels bad");
  });
  assertEquals(
    checksumOf(passes.lights[0].encoded),
    addSums(passes.results[0].sums[passes.first], passes.results[1].sums[passes.first]),
  );
});

Deno.test("a combine's mask: saturation in any input, and bad where nothing was left", () => {
  const mask = new Uint8Array(3);
  const out = new Float32Array(3);
  const inputs = [f32([70000, 70000, 5]), f32([2, 70000, 6]), f32([3, 70000, 7])].map((band) => ({
    raw: null,
    encoding: null,
    band,
    saturation: 65535,
    flags: mask,
    terms: null,
    encoded: null,
    histogram: null,
  }));
  runBandSlice(
    {
      inputs,
      combine: {
        options: { method: "median" },
        inputs: [0, 1, 2],
        out,
        encoded: null,
        floor: -Infinity,
        mask,
      },
    },
    0,
    3,
    0,
  );
  assertEquals([...mask], [SATURATED_BIT, SATURATED_BIT | BAD_PIXEL_BIT, 0]);
  assertEquals(out[0], 2.5);
  assertEquals(out[2], 6);
});

await peerTest(
  "the kernels' uncertainties equal ccdproc's Combiner and create_deviation with astropy's arithmetic",
  [
    "ccdproc",
  ],
  async () => {
    const frames = noisyFrames(5, 64);
    const out = new Float32Array(64);
    const medianError = new Float32Array(64);
    combineBand(frames, out, { method: "median" }, 0, 64, medianError);
    const averageError = new Float32Array(64);
    combineBand(frames, out, { method: "average" }, 0, 64, averageError);
    const light = Float32Array.from({ length: 64 }, (_, p) => 1100 + 40 * p);
    const bias = Float32Array.from({ length: 64 }, (_, p) => 1000 + (p % 5));
    const dark = Float32Array.from({ length: 64 }, (_, p) => 3 + (p % 3));
    const flat = Float32Array.from({ length: 64 }, (_, p) => p === 7 ? 0.001 : 0.8 + (p % 9) / 20);
    const sigma = (k: number) => Float32Array.from({ length: 64 }, (_, p) => k * (1 + (p % 4)));
    const [biasError, darkError, flatError] = [sigma(1.5), sigma(0.8), sigma(0.002)];
    const floored = flat.map((v) => Math.max(v, 0.01));
    const flatMean = floored.reduce((a, b) => a + b, 0) / 64;
    const error = new Float32Array(64);
    const calibrated = light.slice();
    calibrateWithDeviation(
      calibrated,
      error,
      { bias, dark, darkScale: 2, flat, flatMean, flatFloor: 0.01 },
      { gain: 1.5, readNoise: 9, biasError, darkError, flatError },
    );
    const arrays = {
      frames: frames.map((f) => [...f]),
      light,
      bias,
      dark,
      flat,
      biasError,
      darkError,
      flatError,
    };
    const script = `
import json, sys
import numpy as np
from astropy import units as u
from astropy.nddata import CCDData, StdDevUncertainty
import ccdproc
a = json.load(sys.stdin)
arr = lambda k: np.array(a[k], dtype=np.float64)
frames = [CCDData(np.array(f, dtype=np.float64), unit="adu") for f in a["frames"]]
med = ccdproc.Combiner(frames).median_combine()
avg = ccdproc.Combiner(frames).average_combine()
ccd = CCDData(arr("light"), unit="adu")
bias = CCDData(arr("bias"), unit="adu", uncertainty=StdDevUncertainty(arr("biasError")))
signal = ccdproc.create_deviation(ccd.subtract(CCDData(arr("bias"), unit="adu")), gain=1.5 * u.electron / u.adu,
                                  readnoise=9 * u.electron, disregard_nan=True)
ccd.uncertainty = signal.uncertainty
ccd = ccdproc.subtract_bias(ccd, bias)
ccd.header["EXPTIME"] = 2.0
dark = CCDData(arr("dark"), unit="adu", uncertainty=StdDevUncertainty(arr("darkError")), meta={"EXPTIME": 1.0})
ccd = ccdproc.subtract_dark(ccd, dark, exposure_time="EXPTIME", exposure_unit=u.s, scale=True)
flat = CCDData(arr("flat"), unit="adu", uncertainty=StdDevUncertainty(arr("flatError")))
ccd = ccdproc.flat_correct(ccd, flat, min_value=0.01)
print(json.dumps({"median": med.uncertainty.array.tolist(), "average": avg.uncertainty.array.tolist(),
                  "data": ccd.data.tolist(), "error": ccd.uncertainty.array.tolist()}))
`;
    const child = new Deno.Command(PYTHON, {
      args: ["-c", script],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    })
      .spawn();
    const writer = child.stdin.getWriter();
    await writer.write(
      new TextEncoder().encode(JSON.stringify(arrays, (_k, v) => v instanceof Float32Array ? [...v] : v)),
    );
    await writer.close();
    const done = await child.output();
    assert(done.success, new TextDecoder().decode(done.stderr));
    const theirs = JSON.parse(new TextDecoder().decode(done.stdout));
    const worst = (ours: Float32Array, reference: number[]) =>
      Math.max(...reference.map((v, p) => Math.abs(ours[p] - v) / Math.abs(v)));
    console.log(
      `median ${worst(medianError, theirs.median).toExponential(2)}, average ${
        worst(averageError, theirs.average).toExponential(2)
      }, light ${worst(error, theirs.error).toExponential(2)}, data ${
        worst(calibrated, theirs.data).toExponential(2)
      }`,
    );
    assert(worst(medianError, theirs.median) <= 1e-5, "median combine's uncertainty");
    assert(worst(averageError, theirs.average) <= 1e-5, "average combine's uncertainty");
    assert(worst(calibrated, theirs.data) <= 1e-6, "calibrated values");
    assert(worst(error, theirs.error) <= 1e-6, "calibrated uncertainty");
  },
);
