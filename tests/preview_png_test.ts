/**
 * PNG previews: size and bit depth, ds9's orientation, block averaging with NaN,
 * the linear stretch between the zscale limits (checked pixel by pixel against
 * astropy's ZScaleInterval stretch), atomic writes and errors naming the file.
 */
import { decode } from "fast-png";
import { assert, assertEquals, assertRejects, assertStringIncludes } from "./_assert.ts";
import { random } from "./_frames.ts";
import { peerTest, runPython } from "./_peers.ts";
import { FitsError, Header, writeImage } from "../lib/fits/mod.ts";
import { renderPreviews, writePreviews, zscale, type ZScaleLimits } from "../lib/preview/mod.ts";

async function withTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "toros-preview-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Sky of 500 with uniform noise of ±20, seeded. */
function noisySky(width: number, height: number, seed: number): Float32Array {
  const next = random(seed);
  const data = new Float32Array(width * height);
  for (let i = 0; i < data.length; i++) data[i] = 480 + 40 * next();
  return data;
}

async function writeFrame(path: string, data: Float32Array, width: number, height: number): Promise<void> {
  await writeImage(path, new Header([]), data, { width, height });
}

/** The gray level the preview should give a value. */
function grayOf(v: number, { low, high }: ZScaleLimits): number {
  if (v <= low) return 0;
  if (v >= high) return 255;
  return Math.min(255, Math.floor((v - low) * (255 / (high - low)) + 0.5));
}

Deno.test("a 301×201 product previews as 8-bit gray: 151×101 in 2×2 blocks for 256 px, full size for 1024 px", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/product.fits`;
    await writeFrame(path, noisySky(301, 201, 1), 301, 201);
    const { imageWidth, imageHeight, previews } = await renderPreviews(path, [256, 1024]);
    assertEquals([imageWidth, imageHeight], [301, 201]);
    assertEquals(previews.map((p) => [p.maxSize, p.width, p.height, p.blockSize]), [
      [256, 151, 101, 2],
      [1024, 301, 201, 1],
    ]);
    for (const preview of previews) {
      const png = decode(preview.png);
      assertEquals([png.width, png.height, png.depth, png.channels], [preview.width, preview.height, 8, 1]);
      assertEquals(png.data.length, preview.width * preview.height);
    }
  });
});

Deno.test("previews are oriented as ds9 shows them: FITS row 1 at the bottom, column 1 at the left", async () => {
  await withTempDir(async (dir) => {
    const width = 40;
    const height = 30;
    const data = noisySky(width, height, 2);
    for (let x = 0; x < width; x++) data[x] = 1e5; // FITS row 1: bright
    for (let y = 1; y < height; y++) data[y * width] = -1e5; // FITS column 1 above it: dark
    const path = `${dir}/oriented.fits`;
    await writeFrame(path, data, width, height);
    const { previews: [preview] } = await renderPreviews(path, [64]);
    const png = decode(preview.png);
    const bottom = png.data.subarray((height - 1) * width, height * width);
    assert(bottom.every((v) => v === 255), `bottom PNG row: ${Array.from(bottom)}`);
    for (let y = 0; y < height - 1; y++) {
      assertEquals(png.data[y * width], 0, `PNG row ${y}, left column`);
      assert(png.data[y * width + 1] < 255, `PNG row ${y}, second column is not the bright row`);
    }
  });
});

Deno.test("block means leave NaN out; a block with no finite pixel takes nanGray", async () => {
  await withTempDir(async (dir) => {
    // 6×4 image, 2×2 blocks (3×2 preview). FITS row 1 is first.
    const N = NaN;
    const data = new Float32Array([
      10,
      N,
      30,
      30,
      N,
      N, //
      20,
      30,
      30,
      30,
      N,
      N, //
      40,
      40,
      50,
      52,
      60,
      61, //
      40,
      40,
      54,
      56,
      Infinity,
      63, //
    ]);
    const path = `${dir}/nan_blocks.fits`;
    await writeFrame(path, data, 6, 4);
    const { limits, previews: [preview] } = await renderPreviews(path, [3], { nanGray: 128 });
    assertEquals([preview.width, preview.height, preview.blockSize], [3, 2, 2]);
    assertEquals(limits, zscale(data));
    const means = [
      [40, 53, Math.fround((60 + 61 + 63) / 3)], // FITS block row 2: the PNG's top row
      [20, 30, NaN], // FITS block row 1: the PNG's bottom row
    ];
    const expected = means.flat().map((v) => (Number.isNaN(v) ? 128 : grayOf(v, limits)));
    assertEquals(Array.from(decode(preview.png).data), expected);
  });
});

Deno.test("downsampled pixels are the block means stretched between the zscale limits, partial edge blocks included", async () => {
  await withTempDir(async (dir) => {
    const width = 301;
    const height = 201;
    const data = noisySky(width, height, 3);
    for (let i = 0; i < data.length; i += 97) data[i] = NaN;
    const path = `${dir}/blocks.fits`;
    await writeFrame(path, data, width, height);
    const { limits, previews: [preview] } = await renderPreviews(path, [100]);
    assertEquals(preview.blockSize, 4);
    const png = decode(preview.png);
    let mismatches = 0;
    for (let by = 0; by < preview.height; by++) {
      for (let bx = 0; bx < preview.width; bx++) {
        let sum = 0;
        let count = 0;
        for (let y = by * 4; y < Math.min(height, by * 4 + 4); y++) {
          for (let x = bx * 4; x < Math.min(width, bx * 4 + 4); x++) {
            const v = data[y * width + x];
            if (!Number.isNaN(v)) {
              sum += v;
              count++;
            }
          }
        }
        const expected = grayOf(Math.fround(sum / count), limits);
        if (png.data[(preview.height - 1 - by) * preview.width + bx] !== expected) mismatches++;
      }
    }
    assertEquals(mismatches, 0);
  });
});

const ASTROPY_STRETCH = `
import sys, json
import numpy as np
from astropy.io import fits
from astropy.visualization import ZScaleInterval
data = fits.getdata(sys.argv[1]).astype(np.float64)
interval = ZScaleInterval()
vmin, vmax = interval.get_limits(data)
scaled = np.flipud(interval(data))  # clipped to 0..1; ds9 puts FITS row 1 at the bottom
gray = np.where(np.isfinite(scaled), np.floor(np.nan_to_num(scaled) * 255 + 0.5), 0).astype(np.uint8)
print(json.dumps({"limits": [float(vmin), float(vmax)], "gray": gray.ravel().tolist()}))
`;

await peerTest(
  "a full-resolution preview is astropy's ZScaleInterval stretch to 0-255, flipped to put FITS row 1 at the bottom",
  ["astropy"],
  async () => {
    await withTempDir(async (dir) => {
      const width = 120;
      const height = 90;
      const data = noisySky(width, height, 4);
      const next = random(5);
      for (let i = 0; i < 60; i++) data[Math.floor(next() * data.length)] = 500 + 20000 * next(); // stars
      data[0] = NaN;
      for (let x = 0; x < width; x++) data[x + width] += 3 * x; // a ramp in FITS row 2
      const path = `${dir}/stretch.fits`;
      await writeFrame(path, data, width, height);
      const astropy = JSON.parse(await runPython(ASTROPY_STRETCH, [path])) as {
        limits: [number, number];
        gray: number[];
      };
      const { limits, previews: [preview] } = await renderPreviews(path, [256]);
      assertEquals(preview.blockSize, 1);
      assert(
        Math.abs(limits.low - astropy.limits[0]) <= 1e-6 * Math.abs(astropy.limits[0]) &&
          Math.abs(limits.high - astropy.limits[1]) <= 1e-6 * Math.abs(astropy.limits[1]),
        `limits ${limits.low}..${limits.high}, astropy ${astropy.limits.join("..")}`,
      );
      const gray = decode(preview.png).data;
      let differ = 0;
      for (let i = 0; i < gray.length; i++) {
        assert(
          Math.abs(gray[i] - astropy.gray[i]) <= 1,
          `pixel ${i}: ${gray[i]} vs astropy ${astropy.gray[i]}`,
        );
        if (gray[i] !== astropy.gray[i]) differ++;
      }
      assert(differ <= gray.length / 1000, `${differ} pixels one level off astropy's`);
      // The limits are the ends of the scale: pixels beyond them clip to 0 and 255.
      assert(gray.includes(0) && gray.includes(255));
      for (let y = 0; y < height; y++) {
        for (let x = 0; x < width; x++) {
          const v = data[y * width + x];
          const level = gray[(height - 1 - y) * width + x];
          if (v <= limits.low) assertEquals(level, 0);
          if (v >= limits.high) assertEquals(level, 255);
        }
      }
    });
  },
);

Deno.test("writePreviews writes the thumbnail and the large PNG atomically, leaving no temporary file", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/r_0001.fits`;
    await writeFrame(path, noisySky(2048, 1536, 6), 2048, 1536);
    await Deno.writeTextFile(`${dir}/r_0001_thumb.png`, "an older preview");
    const written = await writePreviews(path, {
      thumbnail: `${dir}/r_0001_thumb.png`,
      large: `${dir}/r_0001.png`,
    });
    assertEquals(written.thumbnail, {
      path: `${dir}/r_0001_thumb.png`,
      width: 256,
      height: 192,
      blockSize: 8,
    });
    assertEquals(written.large, { path: `${dir}/r_0001.png`, width: 1024, height: 768, blockSize: 2 });
    for (const preview of [written.thumbnail!, written.large!]) {
      const png = decode(await Deno.readFile(preview.path));
      assertEquals([png.width, png.height, png.depth, png.channels], [preview.width, preview.height, 8, 1]);
      assertStringIncludes(png.text.Comment, `zscale ${written.limits.low} to ${written.limits.high}`);
    }
    const names = [];
    for await (const entry of Deno.readDir(dir)) names.push(entry.name);
    assertEquals(names.sort(), ["r_0001.fits", "r_0001.png", "r_0001_thumb.png"]);
  });
});

Deno.test("writePreviews names the PNG it cannot write and leaves nothing behind", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/r_0002.fits`;
    await writeFrame(path, noisySky(50, 40, 7), 50, 40);
    await assertRejects(
      () => writePreviews(path, { thumbnail: `${dir}/missing/r_0002.png` }),
      Error,
      `Cannot write preview ${dir}/missing/r_0002.png`,
    );
    const names = [];
    for await (const entry of Deno.readDir(dir)) names.push(entry.name);
    assertEquals(names, ["r_0002.fits"]);
  });
});

Deno.test("previews of a missing, a non-FITS or an all-NaN file fail naming the file", async () => {
  await withTempDir(async (dir) => {
    await assertRejects(() => renderPreviews(`${dir}/absent.fits`, [256]), FitsError, `${dir}/absent.fits`);
    await Deno.writeTextFile(`${dir}/notes.fits`, "not a FITS file at all");
    await assertRejects(() => renderPreviews(`${dir}/notes.fits`, [256]), FitsError, `${dir}/notes.fits`);
    await writeFrame(`${dir}/blank.fits`, new Float32Array(12).fill(NaN), 4, 3);
    await assertRejects(
      () => writePreviews(`${dir}/blank.fits`, { thumbnail: `${dir}/blank.png` }),
      FitsError,
      `${dir}/blank.fits: HDU 0: holds no finite pixel`,
    );
    await assertRejects(() => renderPreviews(`${dir}/blank.fits`, [0]), RangeError, `${dir}/blank.fits: 0`);
  });
});
