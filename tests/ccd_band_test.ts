/**
 * The reduction's fast paths against plain references: the median network (in
 * WebAssembly SIMD and in JavaScript), the split median histograms, the band task
 * the workers run, pixel encoding with its checksum, hashing on threads and the
 * pipelined band sweep.
 */
import { assert, assertEquals, assertRejects } from "./_assert.ts";
import {
  type BandTask,
  calibrateBand,
  combineBand,
  createPixelPool,
  HISTOGRAM_BINS,
  medianOf,
  overscanAndTrimRows,
  type PoolDigest,
  runBandSlice,
  StreamingMedian,
} from "../lib/ccd/mod.ts";
import { medianNetwork } from "../lib/ccd/combine.ts";
import { medianSimd } from "../lib/ccd/_median_simd.ts";
import {
  addSums,
  checksumOf,
  encodeFloat32BigEndian,
  FitsImageWriter,
  Header,
  readImage,
  writeImage,
} from "../lib/fits/mod.ts";
import { sha256File, sha256Files } from "../lib/file_hash.ts";
import { SharedArena, sweepBands, SweepInput } from "../services/preprocessor/band_sweep.ts";
import { FrameSource } from "../services/preprocessor/frame_source.ts";
import { random, rawUint16Frames } from "./_frames.ts";

function frames(count: number, pixels: number, seed: number, nanEvery = 0): Float32Array[] {
  const next = random(seed);
  return Array.from({ length: count }, (_, i) => {
    const frame = new Float32Array(pixels);
    for (let p = 0; p < pixels; p++) {
      frame[p] = (next() - 0.3) * 2000; // negatives too: darks minus bias
      if (nanEvery > 0 && (p * 7 + i) % nanEvery === 0) frame[p] = NaN;
    }
    return frame;
  });
}

/** numpy's nanmedian of each pixel, computed the slow, obvious way. */
function referenceMedian(inputs: Float32Array[], scales: number[] | null): Float32Array {
  const out = new Float32Array(inputs[0].length);
  for (let p = 0; p < out.length; p++) {
    const values = inputs.map((frame, i) => frame[p] * (scales ? scales[i] : 1)).filter((v) => v === v);
    values.sort((a, b) => a - b);
    const h = values.length >> 1;
    out[p] = values.length === 0 ? NaN : values.length % 2 ? values[h] : (values[h - 1] + values[h]) / 2;
  }
  return out;
}

function assertClose(actual: Float32Array, expected: Float32Array, relative: number, label: string): void {
  for (let p = 0; p < expected.length; p++) {
    const a = actual[p];
    const e = expected[p];
    if (Number.isNaN(e)) {
      assert(Number.isNaN(a), `${label}: pixel ${p} should be NaN, is ${a}`);
      continue;
    }
    assert(
      Math.abs(a - e) <= relative * Math.max(1, Math.abs(e)),
      `${label}: pixel ${p} is ${a}, expected ${e}`,
    );
  }
}

Deno.test("WebAssembly SIMD is available, so the fast median runs here", () => {
  assert(medianSimd() !== null);
});

Deno.test("the median network equals a sorted median for 1 to 40 frames, odd and even, with NaN and negatives", () => {
  for (let n = 1; n <= 40; n++) {
    const inputs = frames(n, 2501, n, n % 3 === 0 ? 97 : 0); // 2501: a last block not a multiple of 4
    const out = new Float32Array(2501);
    combineBand(inputs, out, { method: "median" });
    // Odd counts pick one of the values: exact. Even counts average two float32 values.
    assertClose(out, referenceMedian(inputs, null), n % 2 ? 0 : 1e-7, `${n} frames`);
  }
});

Deno.test("the median network applies per-frame scales, and 600 frames (a comparator table over 64 KiB) come out right", () => {
  const inputs = frames(11, 3000, 5, 50);
  const scales = inputs.map((_, i) => 1 / (1 + i / 10));
  const out = new Float32Array(3000);
  combineBand(inputs, out, { method: "median", scales });
  assertClose(out, referenceMedian(inputs, scales), 1e-7, "scaled");
  // 600 frames: the comparator table alone fills more than one 64 KiB page of the module's memory.
  assert(medianNetwork(600).length * 4 > 1 << 16);
  const many = frames(600, 200, 9, 41);
  const manyOut = new Float32Array(200);
  combineBand(many, manyOut, { method: "median" });
  assertClose(manyOut, referenceMedian(many, null), 1e-7, "600 frames");
});

Deno.test("split median histograms (coarse, guessed fine buckets, merged) give medianOf's answer", () => {
  const values = frames(1, 100_001, 3, 1000)[0];
  const expected = medianOf(values);
  const median = new StreamingMedian();
  const coarse = new Uint32Array(2 * HISTOGRAM_BINS);
  const half = 50_000;
  const finite = StreamingMedian.countCoarse(values, 0, half, coarse, 0) +
    StreamingMedian.countCoarse(values, half, values.length, coarse, HISTOGRAM_BINS);
  median.mergeCoarse(coarse, finite);
  assert(median.beginFine());
  const bucket = StreamingMedian.bucketOf(expected);
  const guess = [bucket - 1, bucket, bucket + 1];
  assert(median.coveredBy(guess));
  assert(!median.coveredBy([bucket + 5]));
  const fine = new Uint32Array(2 * guess.length * HISTOGRAM_BINS);
  StreamingMedian.countFine(values, 0, half, guess, fine, 0);
  StreamingMedian.countFine(values, half, values.length, guess, fine, guess.length * HISTOGRAM_BINS);
  median.mergeFine(fine, guess);
  assertEquals(median.median(), expected);
});

Deno.test("a first pass counting below guessed buckets gives medianOf's answer when the guess holds, and says so when it misses", () => {
  const values = frames(1, 100_001, 6, 997)[0];
  const expected = medianOf(values);
  const bucket = StreamingMedian.bucketOf(expected);
  const bracket = (buckets: number[]) => {
    const median = new StreamingMedian();
    const bins = new Uint32Array(2 * buckets.length * HISTOGRAM_BINS);
    const half = 40_000;
    const a = StreamingMedian.countBracket(values, 0, half, { buckets, bins, offset: 0 });
    const b = StreamingMedian.countBracket(values, half, values.length, {
      buckets,
      bins,
      offset: buckets.length * HISTOGRAM_BINS,
    });
    const held = median.mergeBracket(a.finite + b.finite, a.below + b.below, bins, buckets);
    return { held, median: median.median(), finite: a.finite + b.finite };
  };
  const held = bracket([bucket - 1, bucket, bucket + 1]);
  assert(held.held);
  assertEquals(held.median, expected);
  assertEquals(held.finite, values.filter((v) => v === v).length);
  assertEquals(bracket([bucket + 3, bucket + 4]).held, false, "guessed above");
  assertEquals(bracket([bucket - 5]).held, false, "guessed below");
});

Deno.test("a band task sliced in two equals decode, calibrate, saturate, combine and encode done whole", () => {
  const pixels = 1024;
  const shared = (bytes: number) => new SharedArrayBuffer(bytes);
  const next = random(11);
  const raws = rawUint16Frames(5, pixels, next);
  const decoded = raws.map((raw) => {
    const view = new DataView(raw.buffer);
    return Float32Array.from({ length: pixels }, (_, p) => view.getInt16(p * 2) + 32768);
  });
  const bias = new Float32Array(shared(pixels * 4)).map(() => 100 + next() * 10);
  const task: BandTask = {
    inputs: raws.map((raw) => ({
      raw: raw.slice(),
      encoding: { bitpix: 16, bscale: 1, bzero: 32768 },
      band: new Float32Array(shared(pixels * 4)),
      saturation: 60000,
      terms: { bias },
      encoded: new Uint8Array(shared(pixels * 4)),
      histogram: null,
    })),
    combine: {
      options: { method: "median" },
      inputs: [0, 1, 2, 3, 4],
      out: new Float32Array(shared(pixels * 4)),
      encoded: new Uint8Array(shared(pixels * 4)),
      floor: 0,
    },
  };
  const first = runBandSlice(task, 0, 400, 0);
  const second = runBandSlice(task, 400, pixels, 1);
  const calibrated = decoded.map((frame) => frame.map((v, p) => v >= 60000 ? NaN : v - bias[p]));
  calibrated.forEach((frame, i) => assertEquals([...task.inputs[i].band], [...frame]));
  assertEquals(
    first.saturated.map((n, i) => n + second.saturated[i]),
    calibrated.map((frame) => frame.filter((v) => Number.isNaN(v)).length),
  );
  const median = referenceMedian(calibrated, null);
  assertEquals([...task.combine!.out], [...median]);
  assertEquals(addSums(first.combineSum, second.combineSum), checksumOf(task.combine!.encoded!));
  assertEquals(addSums(first.sums[2], second.sums[2]), checksumOf(task.inputs[2].encoded!));
  const finite = median.filter((v) => v === v);
  assertEquals(first.combineCount + second.combineCount, finite.length);
  const flooredSum = finite.reduce((s, v) => s + Math.max(v, 0), 0);
  assert(Math.abs(first.combineFlooredSum + second.combineFlooredSum - flooredSum) < 1e-6 * flooredSum);
});

Deno.test("lights sharing a master flat in a band task, the flat normalized once, equal calibrateBand bit for bit", () => {
  const pixels = 2000;
  const next = random(23);
  const shared = () => new Float32Array(new SharedArrayBuffer(pixels * 4));
  const bias = shared().map(() => 900 + next() * 50);
  const flat = shared().map((_, p) => p % 89 === 0 ? 0.001 : 0.6 + next() * 0.7);
  const terms = { bias, flat, flatMean: 0.93, flatFloor: 0.01 };
  const lights = [0, 1, 2].map(() => shared().map(() => 1000 + next() * 20000));
  const expected = lights.map((light) => {
    const copy = light.slice();
    calibrateBand(copy, terms);
    return copy;
  });
  const task: BandTask = {
    inputs: lights.map((band) => ({
      raw: null,
      encoding: null,
      band,
      terms,
      encoded: null,
      histogram: null,
    })),
    combine: null,
  };
  runBandSlice(task, 0, 700, 0);
  runBandSlice(task, 700, pixels, 1);
  lights.forEach((light, i) => assert(light.every((v, p) => Object.is(v, expected[i][p])), `light ${i}`));
});

Deno.test("a band task decodes a frame with overscan and trim as overscanAndTrimRows does, saturating from stored values, in slices that cut rows", () => {
  // 5 rows of 12 stored pixels: columns 1-8 kept, 9-11 overscan, column 0 dropped.
  const [rawWidth, rows] = [12, 5];
  const trim = { x0: 1, x1: 9, y0: 0, y1: rows };
  const overscan = { x0: 9, x1: 12, y0: 0, y1: rows };
  const next = random(5);
  const [raw] = rawUint16Frames(1, rawWidth * rows, next);
  const view = new DataView(raw.buffer);
  view.setInt16((2 * rawWidth + 3) * 2, 65000 - 32768); // saturated in the stored value
  view.setInt16((3 * rawWidth + 10) * 2, 65000 - 32768); // in the overscan: raises the median only
  const stored = Float32Array.from({ length: rawWidth * rows }, (_, p) => view.getInt16(p * 2) + 32768);
  const expected = new Float32Array(8 * rows);
  overscanAndTrimRows(stored, rawWidth, rows, overscan, trim, expected, new Float64Array(rawWidth));
  const isSaturated = (p: number) => stored[Math.floor(p / 8) * rawWidth + 1 + (p % 8)] >= 60000;
  for (let p = 0; p < expected.length; p++) if (isSaturated(p)) expected[p] = NaN;
  assert(isSaturated(2 * 8 + 2));
  const band = new Float32Array(new SharedArrayBuffer(8 * rows * 4));
  const task: BandTask = {
    inputs: [{
      raw,
      encoding: { bitpix: 16, bscale: 1, bzero: 32768 },
      layout: { rawWidth, overscan, trim },
      band,
      saturation: 60000,
      terms: null,
      encoded: null,
      histogram: null,
    }],
    combine: null,
  };
  const slices = [[0, 13], [13, 14], [14, 27], [27, 40]];
  const saturated = slices.map(([start, end]) => runBandSlice(task, start, end, 0).saturated[0]);
  const flagged = ([start, end]: number[]) =>
    expected.slice(start, end).filter((v) => Number.isNaN(v)).length;
  assertEquals(saturated, slices.map(flagged));
  assertEquals([...band], [...expected]);
});

Deno.test("a band task subtracts overscan levels known beforehand, per row from the band's first row or per column, and a row's mean estimate, as overscanAndTrimRows does", () => {
  // 4 band rows (rows 3-6 of the trimmed frame) of 10 stored pixels: columns 0-7 kept, 8-9 overscan.
  const [rawWidth, rows, width] = [10, 4, 8];
  const trim = { x0: 0, x1: width, y0: 0, y1: 20 };
  const overscan = { x0: 8, x1: 10, y0: 0, y1: 20 };
  const next = random(17);
  const [raw] = rawUint16Frames(1, rawWidth * rows, next);
  const view = new DataView(raw.buffer);
  const stored = Float32Array.from({ length: rawWidth * rows }, (_, p) => view.getInt16(p * 2) + 32768);
  const perRow = {
    per: "row" as const,
    values: Float64Array.from({ length: 20 }, (_, y) => 1000 + y * 7.25),
  };
  const perColumn = {
    per: "column" as const,
    values: Float64Array.from({ length: width }, (_, x) => 900 - x),
  };
  const cases = [
    { layout: { rawWidth, overscan, trim, levels: perRow }, options: { levels: perRow, firstRow: 3 } },
    { layout: { rawWidth, overscan, trim, levels: perColumn }, options: { levels: perColumn } },
    {
      layout: { rawWidth, overscan, trim, estimate: "mean" as const },
      options: { estimate: "mean" as const },
    },
    {
      layout: { rawWidth, overscan, trim, estimate: "clipped-mean" as const },
      options: { estimate: "clipped-mean" as const },
    },
  ];
  for (const { layout, options } of cases) {
    const expected = new Float32Array(width * rows);
    overscanAndTrimRows(
      stored,
      rawWidth,
      rows,
      overscan,
      trim,
      expected,
      new Float64Array(rawWidth),
      options,
    );
    const band = new Float32Array(new SharedArrayBuffer(width * rows * 4));
    const task: BandTask = {
      inputs: [{
        raw,
        encoding: { bitpix: 16, bscale: 1, bzero: 32768 },
        layout,
        firstRow: 3,
        band,
        terms: null,
        encoded: null,
        histogram: null,
      }],
      combine: null,
    };
    for (const [start, end] of [[0, 5], [5, 19], [19, 32]]) runBandSlice(task, start, end, 0);
    assertEquals([...band], [...expected], JSON.stringify(options));
  }
});

Deno.test("a frame source works out a row strip's levels as it opens, reads bands with them, and refuses a strip that misses kept rows or columns", async () => {
  const dir = await Deno.makeTempDir({ prefix: "toros-strip-" });
  try {
    // 6 columns, rows 0-4 the image, rows 5-7 a strip of overscan rows whose level is 100 + the column.
    const [width, height] = [6, 8];
    const data = Float32Array.from({ length: width * height }, (_, p) => {
      const [x, y] = [p % width, Math.floor(p / width)];
      return 100 + x + (y < 5 ? 10 * y : y === 6 ? 1 : 0);
    });
    const path = `${dir}/frame.fits`;
    await writeImage(path, new Header(), data, { width, height, bitpix: 16, unsigned: true });
    const strip = { x0: 0, x1: 6, y0: 5, y1: 8 };
    const trim = { x0: 1, x1: 5, y0: 0, y1: 5 };
    const source = await FrameSource.open({ path, overscan: strip, trim });
    try {
      assertEquals(source.layout?.levels?.per, "column");
      assertEquals([...source.layout!.levels!.values], [101, 102, 103, 104], "medians of each kept column");
      const band = new Float32Array(2 * 4);
      await source.readBand(2, 2, band);
      assertEquals([...band], [20, 20, 20, 20, 30, 30, 30, 30]);
    } finally {
      source.close();
    }
    await assertRejects(
      () => FrameSource.open({ path, overscan: { x0: 2, x1: 6, y0: 5, y1: 8 }, trim }),
      Error,
      "BIASSEC [3:6,6:8] does not cover columns 2-5",
    );
    await assertRejects(
      () => FrameSource.open({ path, overscan: { x0: 5, x1: 6, y0: 1, y1: 5 }, trim }),
      Error,
      "BIASSEC [6:6,2:5] does not cover rows 1-5",
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the pool's workers run band tasks and answer one result per slice", async () => {
  const pool = createPixelPool(2);
  try {
    const pixels = 4096;
    const input = (value: number) => ({
      raw: null,
      encoding: null,
      band: new Float32Array(new SharedArrayBuffer(pixels * 4)).fill(value),
      terms: null,
      encoded: null,
      histogram: null,
    });
    const out = new Float32Array(new SharedArrayBuffer(pixels * 4));
    const results = await pool.run({
      inputs: [input(1), input(5), input(3)],
      combine: { options: { method: "median" }, inputs: [0, 1, 2], out, encoded: null, floor: -Infinity },
    }, pixels);
    assertEquals(results.length, 2);
    assertEquals(results.reduce((n, r) => n + r.combineCount, 0), pixels);
    assert(out.every((v) => v === 3));
  } finally {
    pool.close();
  }
});

Deno.test("float32 encoded in slices carries the FITS checksum; writeEncoded makes the same file as writeRows", async () => {
  const values = frames(1, 64 * 50, 4, 333)[0];
  const bytes = new Uint8Array(values.length * 4);
  const a = encodeFloat32BigEndian(values, bytes, 0, 1000);
  const b = encodeFloat32BigEndian(values, bytes, 1000, values.length);
  assertEquals(checksumOf(bytes), addSums(a, b));
  assertEquals(new DataView(bytes.buffer).getFloat32(4 * 7), values[7]);
  const dir = await Deno.makeTempDir({ prefix: "toros-encode-" });
  try {
    const header = new Header([]);
    const plain = await writeImage(`${dir}/plain.fits`, header, values, { width: 64, height: 50 });
    const writer = await FitsImageWriter.create(`${dir}/encoded.fits`, header, { width: 64, height: 50 });
    writer.writeEncodedSync(
      bytes.subarray(0, 64 * 20 * 4),
      encodeFloat32BigEndian(values.subarray(0, 64 * 20), new Uint8Array(64 * 20 * 4)),
    );
    await writer.writeEncoded(
      bytes.subarray(64 * 20 * 4),
      encodeFloat32BigEndian(values.subarray(64 * 20), new Uint8Array(64 * 30 * 4)),
    );
    const encoded = await writer.close();
    assertEquals(encoded.datasum, plain.datasum);
    const [x, y] = [await readImage(`${dir}/plain.fits`), await readImage(`${dir}/encoded.fits`)];
    assertEquals(y.data.length, x.data.length);
    assert(y.data.every((v, i) => Object.is(v, x.data[i])));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("hashing on threads gives sha256File's answers; an unreadable file fails only its own promise", async () => {
  const dir = await Deno.makeTempDir({ prefix: "toros-hash-" });
  try {
    const paths = [];
    for (let i = 0; i < 5; i++) {
      const path = `${dir}/f${i}.fits`;
      await Deno.writeFile(path, new Uint8Array(300_000 + i).fill(i * 7));
      paths.push(path);
    }
    paths.splice(2, 0, `${dir}/missing.fits`);
    const hashes = sha256Files(paths, 2);
    await assertRejects(() => hashes[2]);
    for (const i of [0, 1, 3, 4, 5]) assertEquals(await hashes[i], await sha256File(paths[i]));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a sweep input hashes the whole file as its bands are read (here or on a pool worker), rows trimmed away too; read out of order, it hands the hash back", async () => {
  const dir = await Deno.makeTempDir({ prefix: "toros-sweep-hash-" });
  try {
    const path = `${dir}/frame.fits`;
    const header = new Header();
    header.set("TRIMSEC", "[2:9,3:17]");
    const values = Float32Array.from({ length: 10 * 20 }, (_, i) => i * 3);
    await writeImage(path, header, values, { width: 10, height: 20, bitpix: 16, unsigned: true });
    const geometry = { path, trim: { x0: 1, x1: 9, y0: 2, y1: 17 } };
    const arena = new SharedArena();
    const pool = createPixelPool(2);
    const sweep = async (order: number[], digest?: () => PoolDigest) => {
      const outcome: string[] = [];
      let settled!: () => void;
      const done = new Promise<void>((resolve) => settled = resolve);
      const input = await SweepInput.open(geometry, 4, arena, {
        hash: {
          done: (hex) => (outcome.push(hex), settled()),
          failed: (reason) => (outcome.push(`failed: ${reason}`), settled()),
        },
        digest,
      });
      for (const [k, y0] of order.entries()) {
        await input.read(y0, Math.min(4, 15 - y0), k % 2);
        // As in a sweep: a band task runs before a slot is read into again.
        if (digest) await pool.run({ inputs: [], combine: null }, 2);
      }
      input.close();
      await done;
      return outcome;
    };
    try {
      assertEquals(await sweep([0, 4, 8, 12], pool.sha256), [await sha256File(path)], "on a pool worker");
    } finally {
      pool.close();
    }
    assertEquals(await sweep([0, 4, 8, 12]), [await sha256File(path)]);
    assertEquals(await sweep([0, 8]), ["failed: bands were not read in order"]);
    assertEquals(await sweep([0, 4]), ["failed: the sweep stopped before the end of the file"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the band sweep reads ahead and writes behind in order, and a failing step stops it", async () => {
  const events: string[] = [];
  const step = (name: string) => (y0: number, rows: number, slot: number) => {
    events.push(`${name} ${y0}+${rows}@${slot}`);
    return Promise.resolve();
  };
  await sweepBands(10, 4, { read: step("read"), compute: step("compute"), write: step("write") });
  const order = (name: string) => events.filter((e) => e.startsWith(name));
  assertEquals(order("read"), ["read 0+4@0", "read 4+4@1", "read 8+2@0"]);
  assertEquals(order("compute"), ["compute 0+4@0", "compute 4+4@1", "compute 8+2@0"]);
  assertEquals(order("write"), ["write 0+4@0", "write 4+4@1", "write 8+2@0"]);
  // Band k is read before it is computed, and computed before it is written.
  for (const band of ["0+4", "4+4", "8+2"]) {
    const at = (name: string) => events.findIndex((e) => e.startsWith(`${name} ${band}`));
    assert(at("read") < at("compute") && at("compute") < at("write"), band);
  }
  const written: number[] = [];
  await assertRejects(
    () =>
      sweepBands(10, 2, {
        read: () => Promise.resolve(),
        compute: (y0) => y0 === 4 ? Promise.reject(new Error("band 4 failed")) : Promise.resolve(),
        write: (y0) => (written.push(y0), Promise.resolve()),
      }),
    Error,
    "band 4 failed",
  );
  assertEquals(written, [0, 2], "bands before the failed one are written, none after");
});
