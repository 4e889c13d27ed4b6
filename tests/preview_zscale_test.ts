/**
 * zscale limits: the same as astropy's `ZScaleInterval().get_limits` on three
 * kinds of frame written as FITS, whether the array is in memory or the file is
 * streamed in bands.
 */
import { assert, assertEquals, assertThrows } from "./_assert.ts";
import { random } from "./_frames.ts";
import { peerTest, runPython } from "./_peers.ts";
import { Header, readImage, writeImage } from "../lib/fits/mod.ts";
import { renderPreviews, zscale, type ZScaleLimits } from "../lib/preview/mod.ts";

/** Normal deviates from the seeded uniform generator (Box–Muller). */
function gaussian(seed: number): () => number {
  const next = random(seed);
  return () => Math.sqrt(-2 * Math.log(1 - next())) * Math.cos(2 * Math.PI * next());
}

interface Frame {
  name: string;
  width: number;
  height: number;
  data: Float32Array;
}

/** Sky of 1000 ADU with noise σ = 15 and 40 stars (Gaussian PSF, σ = 2 px) of up to 30000 ADU. */
function skyWithStars(): Frame {
  const width = 640;
  const height = 480;
  const noise = gaussian(11);
  const next = random(12);
  const data = new Float32Array(width * height);
  for (let i = 0; i < data.length; i++) data[i] = 1000 + 15 * noise();
  for (let s = 0; s < 40; s++) {
    const cx = next() * width;
    const cy = next() * height;
    const peak = 200 + next() * 30000;
    for (let y = Math.max(0, Math.floor(cy - 10)); y < Math.min(height, cy + 10); y++) {
      for (let x = Math.max(0, Math.floor(cx - 10)); x < Math.min(width, cx + 10); x++) {
        data[y * width + x] += peak * Math.exp(-((x - cx) ** 2 + (y - cy) ** 2) / 8);
      }
    }
  }
  return { name: "sky_stars", width, height, data };
}

/**
 * Sky of 300 ADU with a NaN bad column, a NaN corner, 3% scattered NaN, ±Infinity
 * pixels, hot (65535) and dead (0) pixels: enough non-finite pixels to change the
 * sampling stride from the one the band reader assumes.
 */
function nansAndHotPixels(): Frame {
  const width = 513;
  const height = 389;
  const noise = gaussian(21);
  const next = random(22);
  const data = new Float32Array(width * height);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      let v = 300 + 8 * noise();
      const u = next();
      if (x === 77 || (x > 480 && y > 350)) v = NaN;
      else if (u < 0.03) v = NaN;
      else if (u < 0.031) v = 65535;
      else if (u < 0.032) v = 0;
      else if (u < 0.0325) v = u < 0.03225 ? Infinity : -Infinity;
      data[y * width + x] = v;
    }
  }
  return { name: "nans_hot", width, height, data };
}

/** A faint gradient (2 to about 5.5 ADU) under read noise of σ = 0.7 ADU. */
function lowSignalGradient(): Frame {
  const width = 700;
  const height = 300;
  const noise = gaussian(31);
  const data = new Float32Array(width * height);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) data[y * width + x] = 2 + 0.004 * x + 0.002 * y + 0.7 * noise();
  }
  return { name: "gradient", width, height, data };
}

const ASTROPY_LIMITS = `
import sys, json
import numpy as np
from astropy.io import fits
from astropy.visualization import ZScaleInterval
out = {}
for path in sys.argv[1:]:
    vmin, vmax = ZScaleInterval().get_limits(fits.getdata(path))
    out[path] = [float(vmin), float(vmax)]
print(json.dumps(out))
`;

function relativeDifference(ours: ZScaleLimits, theirs: [number, number]): number {
  return Math.max(
    Math.abs(ours.low - theirs[0]) / Math.abs(theirs[0]),
    Math.abs(ours.high - theirs[1]) / Math.abs(theirs[1]),
  );
}

await peerTest(
  "zscale limits equal astropy's ZScaleInterval within 1e-3 on a star field, a frame with NaN/inf/hot pixels and a faint gradient",
  ["astropy"],
  async () => {
    const dir = await Deno.makeTempDir({ prefix: "toros-preview-" });
    try {
      const frames = [skyWithStars(), nansAndHotPixels(), lowSignalGradient()];
      const paths = frames.map((frame) => `${dir}/${frame.name}.fits`);
      for (const [i, frame] of frames.entries()) {
        await writeImage(paths[i], new Header([]), frame.data, { width: frame.width, height: frame.height });
      }
      const astropy = JSON.parse(await runPython(ASTROPY_LIMITS, paths)) as Record<string, [number, number]>;
      let worst = 0;
      for (const path of paths) {
        const image = await readImage(path);
        const inMemory = zscale(image.data);
        const streamed = (await renderPreviews(path, [64], { bandRows: 37 })).limits;
        const difference = relativeDifference(inMemory, astropy[path]);
        worst = Math.max(worst, difference);
        assert(
          difference < 1e-3,
          `${path}: ours ${inMemory.low}..${inMemory.high}, astropy ${astropy[path].join("..")}`,
        );
        // Streaming takes the very same sample, so the limits are identical.
        assertEquals(streamed, inMemory, `${path}: streamed limits differ from in-memory ones`);
        assert(inMemory.low < inMemory.high, `${path}: limits ${inMemory.low}..${inMemory.high}`);
      }
      console.log(`zscale vs astropy: largest relative difference ${worst.toExponential(2)}`);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);

const ASTROPY_ARRAYS = `
import sys, json
import numpy as np
from astropy.visualization import ZScaleInterval
out = []
for case in json.load(open(sys.argv[1])):
    values = np.array([float(v) for v in case["values"]])
    vmin, vmax = ZScaleInterval(**case["options"]).get_limits(values)
    out.append([float(vmin), float(vmax)])
print(json.dumps(out))
`;

await peerTest(
  "zscale follows astropy on small arrays: too few pixels, a flat array, bimodal data, other options",
  ["astropy"],
  async () => {
    const line = Array.from({ length: 3000 }, (_, i) => (i * 7919) % 3000);
    const bimodal = Array.from({ length: 600 }, (_, i) => (i % 2 ? 10 : 5000) + (i % 13));
    const next = gaussian(41);
    const noisy = Array.from({ length: 2500 }, (_, i) => (i % 50 === 0 ? 1e4 : 100 + 5 * next()));
    const cases: { values: number[]; options: Record<string, number>; ours: Record<string, number> }[] = [
      { values: [3, 1, 2, NaN, 4], options: {}, ours: {} },
      { values: Array(50).fill(7), options: {}, ours: {} },
      { values: bimodal, options: {}, ours: {} },
      { values: line, options: {}, ours: {} },
      { values: noisy, options: {}, ours: {} },
      {
        values: noisy,
        options: { n_samples: 300, contrast: 0.5, krej: 2, max_iterations: 2 },
        ours: { nSamples: 300, contrast: 0.5, krej: 2, maxIterations: 2 },
      },
      { values: noisy, options: { contrast: 0 }, ours: { contrast: 0 } },
      { values: noisy, options: { max_reject: 0.99 }, ours: { maxReject: 0.99 } },
    ];
    const argument = JSON.stringify(cases.map((c) => ({ values: c.values.map(String), options: c.options })));
    const casesPath = await Deno.makeTempFile({ prefix: "toros-zscale-", suffix: ".json" });
    let astropy: [number, number][];
    try {
      await Deno.writeTextFile(casesPath, argument);
      astropy = JSON.parse(await runPython(ASTROPY_ARRAYS, [casesPath]));
    } finally {
      await Deno.remove(casesPath);
    }
    for (const [i, c] of cases.entries()) {
      const ours = zscale(c.values, c.ours);
      const [low, high] = astropy[i];
      const close = (a: number, b: number) => Math.abs(a - b) <= 1e-9 * Math.max(1, Math.abs(b));
      assert(
        close(ours.low, low) && close(ours.high, high),
        `case ${i}: ours ${ours.low}..${ours.high}, astropy ${low}..${high}`,
      );
    }
  },
);

Deno.test("zscale falls back to the sample's minimum and maximum when fewer than 5 pixels are finite", () => {
  assertEquals(zscale([4, NaN, -Infinity, 2, 9, Infinity]), { low: 2, high: 9 });
});

Deno.test("zscale of a flat image gives the flat value for both limits", () => {
  assertEquals(zscale(new Float32Array(100).fill(42)), { low: 42, high: 42 });
});

Deno.test("zscale of nothing finite is an error saying so", () => {
  assertThrows(() => zscale([NaN, Infinity]), RangeError, "No finite values");
});

Deno.test("zscale options out of range are named with what was expected", () => {
  assertThrows(
    () => zscale([1, 2, 3], { nSamples: 0 }),
    RangeError,
    `"nSamples": 0 (expected a positive integer)`,
  );
  assertThrows(
    () => zscale([1, 2, 3], { maxReject: 2 }),
    RangeError,
    `"maxReject": 2 (expected a fraction 0-1)`,
  );
});

Deno.test("streamed zscale takes the same pixels whatever the band height, NaN rows rereading included", async () => {
  const dir = await Deno.makeTempDir({ prefix: "toros-preview-" });
  try {
    for (const frame of [skyWithStars(), nansAndHotPixels()]) {
      const path = `${dir}/${frame.name}.fits`;
      await writeImage(path, new Header([]), frame.data, { width: frame.width, height: frame.height });
      const expected = zscale(frame.data);
      for (const bandRows of [1, 7, 64, undefined]) {
        const { limits } = await renderPreviews(path, [32], { bandRows });
        assertEquals(limits, expected, `${frame.name}, bands of ${bandRows ?? "default"} rows`);
      }
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
