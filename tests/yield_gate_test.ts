/**
 * The reduction giving way to the front desk: the yield gate's naps, band tasks
 * run in pieces (the same result as whole), and the pixel and hashing workers
 * passing the gate while another thread keeps touching it.
 */
import { assert, assertEquals, assertThrows } from "./_assert.ts";
import {
  type BandTask,
  createPixelPool,
  HISTOGRAM_BINS,
  PIECE_INPUT_PIXELS,
  runBandSlice,
  runBandSliceInPieces,
} from "../lib/ccd/mod.ts";
import { MAX_NAP_MS, YieldGate } from "../lib/yield_gate.ts";
import { sha256File, sha256Files } from "../lib/file_hash.ts";
import { sweepBands } from "../services/preprocessor/band_sweep.ts";
import { random, rawUint16Frames } from "./_frames.ts";

/** Keeps this thread busy for `ms` (work, as a reduction thread's piece would be). */
function spin(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) { /* working */ }
}

Deno.test("a yield gate naps only after the desk had a request, in proportion to the work", () => {
  const gate = new YieldGate(25);
  assertEquals(gate.share, 25);
  gate.start();
  spin(2);
  assertEquals(gate.pass(), 0, "no request since the last pass: no nap");
  gate.touch();
  spin(2);
  const nap = gate.pass();
  // 2 ms worked at a 25% share is 6 ms napped (the timer may add a little).
  assert(nap >= 5.5 && nap < 6 + 50, `napped ${nap} ms`);
  assertEquals(gate.pass(), 0, "the request was answered by that nap");
  const totals = gate.totals;
  assertEquals(totals.naps, 1);
  assert(Math.abs(totals.seconds * 1000 - nap) < 0.01, JSON.stringify(totals));
});

Deno.test("a gate's view in another buffer sees the same desk; share 100 never naps; a nap is capped", () => {
  const desk = new YieldGate(100);
  const worker = new YieldGate(desk.buffer);
  assertEquals(worker.share, 100);
  desk.touch();
  spin(2);
  assertEquals(worker.pass(), 0);

  const strict = new YieldGate(1);
  const view = new YieldGate(strict.buffer);
  view.start();
  spin(3);
  strict.touch();
  const nap = view.pass();
  assert(nap >= MAX_NAP_MS - 1 && nap < MAX_NAP_MS + 50, `napped ${nap} ms, not ${MAX_NAP_MS}`);
  assertEquals(strict.totals.naps, 1, "totals are shared");
});

Deno.test("time spent waiting for work before start() is not counted as worked", () => {
  const gate = new YieldGate(10);
  gate.start();
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 30); // idle, waiting for a task
  gate.start();
  gate.touch();
  const nap = gate.pass();
  // Counting the 30 ms wait would nap the full 50 ms; only the microseconds since start() count.
  assert(nap < 25, `napped ${nap} ms after no work`);
});

Deno.test("a yield gate's share is a whole percent from 1 to 100", () => {
  for (const share of [0, 101, 2.5, NaN]) {
    assertThrows(() => new YieldGate(share), RangeError, "whole percent from 1 to 100");
  }
});

/** A band task of `inputs` raw frames (calibrated by a bias, saturating, histogrammed) combined by median. */
function task(pixels: number, inputs: number): BandTask {
  const next = random(7);
  const shared = (bytes: number) => new SharedArrayBuffer(bytes);
  const bias = new Float32Array(shared(pixels * 4)).map(() => 100 + next() * 10);
  return {
    inputs: rawUint16Frames(inputs, pixels, next).map((raw) => ({
      raw,
      encoding: { bitpix: 16, bscale: 1, bzero: 32768 },
      band: new Float32Array(shared(pixels * 4)),
      saturation: 60000,
      terms: { bias },
      encoded: new Uint8Array(shared(pixels * 4)),
      histogram: { coarse: new Uint32Array(shared(2 * HISTOGRAM_BINS * 4)), fine: null },
    })),
    combine: {
      options: { method: "median" },
      inputs: Array.from({ length: inputs }, (_, i) => i),
      out: new Float32Array(shared(pixels * 4)),
      encoded: new Uint8Array(shared(pixels * 4)),
      floor: 500,
    },
  };
}

Deno.test("a band task run in pieces gives the pixels, bytes, histograms and totals of the task run whole", () => {
  const inputs = 6;
  const pixels = 20_000;
  const whole = task(pixels, inputs);
  const pieces = task(pixels, inputs);
  const expected = runBandSlice(whole, 100, pixels, 1);
  let passes = 0;
  const actual = runBandSliceInPieces(pieces, 100, pixels, 1, () => passes++);
  const piece = Math.floor(PIECE_INPUT_PIXELS / inputs / 64) * 64;
  assertEquals(passes, Math.ceil((pixels - 100) / piece));
  assert(passes > 2, "the task is big enough to be cut");
  const { combineFlooredSum, ...rest } = actual;
  const { combineFlooredSum: expectedSum, ...expectedRest } = expected;
  assertEquals(rest, expectedRest);
  assert(
    Math.abs(combineFlooredSum - expectedSum) <= 1e-9 * expectedSum,
    `${combineFlooredSum} vs ${expectedSum}`,
  );
  for (let i = 0; i < inputs; i++) {
    assertEquals(pieces.inputs[i].band, whole.inputs[i].band);
    assertEquals(pieces.inputs[i].encoded, whole.inputs[i].encoded);
    assertEquals(pieces.inputs[i].histogram!.coarse, whole.inputs[i].histogram!.coarse);
  }
  assertEquals(pieces.combine!.out, whole.combine!.out);
  assertEquals(pieces.combine!.encoded, whole.combine!.encoded);
  assert(expected.saturated.some((n) => n > 0), "some pixels saturate");
});

/** Touches `gate` every millisecond (a busy desk) until the returned function is called. */
function busyDesk(gate: YieldGate): () => void {
  const timer = setInterval(() => gate.touch(), 1);
  return () => clearInterval(timer);
}

Deno.test("the pool's workers pass their gate while the desk is busy and still compute the same band", async () => {
  const gate = new YieldGate(20);
  const gated = createPixelPool(2, { gate });
  const plain = createPixelPool(2);
  try {
    const pixels = 200_000;
    const expected = task(pixels, 8);
    await plain.run(expected, pixels);
    const actual = task(pixels, 8);
    const stop = busyDesk(gate);
    try {
      await gated.run(actual, pixels);
    } finally {
      stop();
    }
    assertEquals(actual.combine!.encoded, expected.combine!.encoded);
    assert(gate.totals.naps > 0, "the workers napped for the desk");

    const naps = gate.totals.naps;
    await gated.run(task(pixels, 8), pixels);
    assertEquals(gate.totals.naps, naps, "with no requests they never nap");
  } finally {
    gated.close();
    plain.close();
  }
});

Deno.test("hashing threads pass their gate between chunks and hash the same", async () => {
  const dir = await Deno.makeTempDir({ prefix: "toros-gate-hash-" });
  try {
    const paths = [0, 1, 2].map((i) => `${dir}/${i}.bin`);
    for (const [i, path] of paths.entries()) {
      await Deno.writeFile(path, new Uint8Array((3 << 20) + i).map((_, k) => (k * 31 + i) & 0xff));
    }
    const gate = new YieldGate(20);
    const stop = busyDesk(gate);
    let hashes: string[];
    try {
      hashes = await Promise.all(sha256Files(paths, 2, gate));
    } finally {
      stop();
    }
    assertEquals(hashes, await Promise.all(paths.map((path) => sha256File(path))));
    assert(gate.totals.naps > 0, "the hashing threads napped for the desk");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the band sweep passes its gate once a round, after reading and writing", async () => {
  const gate = new YieldGate(50);
  const order: string[] = [];
  const pass = gate.pass.bind(gate);
  gate.pass = () => (order.push("pass"), pass());
  await sweepBands(30, 10, {
    read: (y0) => (order.push(`read ${y0}`), Promise.resolve()),
    compute: async (y0) => {
      await new Promise((resolve) => setTimeout(resolve, 5));
      order.push(`compute ${y0}`);
    },
    write: (y0) => (order.push(`write ${y0}`), Promise.resolve()),
  }, gate);
  assertEquals(order, [
    "read 0",
    "read 10",
    "pass",
    "compute 0",
    "read 20",
    "write 0",
    "pass",
    "compute 10",
    "write 10",
    "pass",
    "compute 20",
    "write 20",
  ]);
});
