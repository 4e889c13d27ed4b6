/**
 * Combining frames pixel by pixel, as ccdproc's `combine`: min/max clipping,
 * per-frame scaling, sigma clipping, then median, average or sum of what is left.
 *
 * For pixel p of n frames x_i = frame_i[p] (calibrated, in ADU) with scales s_i,
 * in this order (NaN values are left out from the start):
 *
 * 1. min/max clip, in ADU before scaling (as ccdproc's `minmax_clipping`):
 *    x_i is kept when min ≤ x_i ≤ max;
 * 2. scaling (ccdproc's `scale`): v_i = s_i · x_i;
 * 3. sigma clip, one pass over the v_i that min/max kept: with m of them,
 *    c = mean(v) or median(v) (`center`), σ = √(Σ(v_i − mean(v))² / m) (the
 *    population standard deviation about the mean, numpy's `std`, whatever the
 *    center), v_i is kept when c − low·σ ≤ v_i ≤ c + high·σ;
 * 4. the result: median(v), mean(v) or Σv over the kept values (NaN when none is).
 *
 * ccdproc (`Combiner.sigma_clipping`, astropy's `sigma_clip` with `maxiters=1`)
 * computes the same bounds, but on unscaled values; sigma clipping here comes
 * after scaling, as in IRAF's imcombine, so flats of different levels are
 * compared as the normalized frames they are combined as. With no scales (bias,
 * darks) the two orders are one.
 *
 * The combined value's uncertainty, when asked for, is ccdproc's `Combiner`'s,
 * from the scatter of the m values kept (scaled): for the median 1.4826 ·
 * median(|v_i − median(v)|) / √m (`sigma_func`, the median absolute deviation),
 * for the average std(v) / √m, for the sum std(v) · √m, std the population
 * standard deviation (numpy's `nanstd`); NaN where no value is kept.
 *
 * @module
 */
import { type MedianSimd, medianSimd } from "./_median_simd.ts";

/** How to combine. */
export type CombineMethod = "median" | "average" | "sum";

/** Where a sigma clip measures deviations from: ccdproc's `sigma_clip_func` (`ma.mean` by default there). */
export type ClipCenter = "mean" | "median";

/** Sigma clipping of {@link combineBand}: one pass, bounds `center − low·σ` and `center + high·σ`. */
export interface SigmaClipOptions {
  /** Standard deviations below the center. */
  low: number;
  /** Standard deviations above the center. */
  high: number;
  /** Default `median`, as `Reduction: Sigma Clip` reads. */
  center?: ClipCenter;
}

/** Min/max clipping of {@link combineBand}, in ADU before scaling. */
export interface MinMaxClipOptions {
  /** Lowest kept value. */
  min: number;
  /** Highest kept value. */
  max: number;
}

/** Options of {@link combineBand}. */
export interface CombineOptions {
  method: CombineMethod;
  /** Reject scaled values more than `low`/`high` standard deviations below/above the center. */
  sigmaClip?: SigmaClipOptions | null;
  /** Reject values below `min` or above `max`, before scaling. */
  minMaxClip?: MinMaxClipOptions | null;
  /** Multiply frame i by `scales[i]` (ccdproc's `scale`), after min/max clipping and before sigma clipping. */
  scales?: ArrayLike<number> | null;
}

/** Median of `v[0..n)` by insertion sort (n is a frame count: small); reorders `v`. */
function medianSmall(v: Float64Array, n: number): number {
  for (let i = 1; i < n; i++) {
    const x = v[i];
    let j = i - 1;
    while (j >= 0 && v[j] > x) {
      v[j + 1] = v[j];
      j--;
    }
    v[j + 1] = x;
  }
  const h = n >> 1;
  return n % 2 === 1 ? v[h] : (v[h - 1] + v[h]) / 2;
}

/** ccdproc's `sigma_func`: the median absolute deviation times this is a Gaussian's σ. */
export const MAD_TO_SIGMA = 1.482602218505602;

/**
 * Combines `inputs` (equal-length bands, one per frame) into `out`, pixel range
 * `[start, end)` (default all), and each combined value's uncertainty into
 * `deviation` when given (see the module doc). Allocates nothing per pixel.
 */
export function combineBand(
  inputs: Float32Array[],
  out: Float32Array,
  options: CombineOptions,
  start = 0,
  end: number = out.length,
  deviation: Float32Array | null = null,
): void {
  const n = inputs.length;
  if (n === 0) throw new RangeError("combineBand needs at least one input");
  const values = new Float64Array(n);
  const sorted = new Float64Array(n);
  const scales = options.scales ?? null;
  const minMax = options.minMaxClip ?? null;
  const sigma = options.sigmaClip ?? null;
  const method = options.method;
  // The common case (ccdproc's default reduction): median, perhaps of scaled frames, no clipping.
  // Without WebAssembly SIMD (no runtime we ship on) the loop below does it one pixel at a time.
  const simd = method === "median" && !minMax && !sigma ? medianSimd() : null;
  if (simd) {
    medianByNetwork(simd, inputs, out, scales, start, end, values, deviation);
    return;
  }
  const byMedian = sigma?.center !== "mean";
  for (let p = start; p < end; p++) {
    let m = 0;
    for (let i = 0; i < n; i++) {
      const x = inputs[i][p];
      if (x !== x) continue;
      if (minMax && (x < minMax.min || x > minMax.max)) continue;
      values[m++] = scales ? x * scales[i] : x;
    }
    if (sigma && m > 0) {
      let mean = 0;
      for (let i = 0; i < m; i++) mean += values[i];
      mean /= m;
      let variance = 0;
      for (let i = 0; i < m; i++) variance += (values[i] - mean) ** 2;
      const deviation = Math.sqrt(variance / m);
      let center = mean;
      if (byMedian) {
        for (let i = 0; i < m; i++) sorted[i] = values[i];
        center = medianSmall(sorted, m);
      }
      const lowLimit = center - sigma.low * deviation;
      const highLimit = center + sigma.high * deviation;
      let k = 0;
      for (let i = 0; i < m; i++) {
        const x = values[i];
        if (x >= lowLimit && x <= highLimit) values[k++] = x;
      }
      m = k;
    }
    if (m === 0) {
      out[p] = NaN;
      if (deviation) deviation[p] = NaN;
      continue;
    }
    if (method === "median") {
      const median = medianSmall(values, m);
      out[p] = median;
      if (deviation) {
        deviation[p] = MAD_TO_SIGMA * absoluteDeviation(values, m, median, sorted) / Math.sqrt(m);
      }
    } else {
      let sum = 0;
      for (let i = 0; i < m; i++) sum += values[i];
      out[p] = method === "sum" ? sum : sum / m;
      if (deviation) {
        const mean = sum / m;
        let squares = 0;
        for (let i = 0; i < m; i++) squares += (values[i] - mean) ** 2;
        const std = Math.sqrt(squares / m);
        deviation[p] = method === "sum" ? std * Math.sqrt(m) : std / Math.sqrt(m);
      }
    }
  }
}

/** median(|v_i − median|) of `v[0..n)`, with `scratch` (at least n long) as room. */
function absoluteDeviation(v: Float64Array, n: number, median: number, scratch: Float64Array): number {
  for (let i = 0; i < n; i++) scratch[i] = Math.abs(v[i] - median);
  return medianSmall(scratch, n);
}

const networks = new Map<number, Int32Array>();

/**
 * The comparators of Batcher's odd-even merge sort for `n` values that decide the
 * middle position(s), as flat (low, high) index pairs. Comparators of the
 * power-of-two network reaching beyond `n` are dropped (those slots hold +∞ and
 * never move), then every comparator the middle outputs do not depend on.
 */
export function medianNetwork(n: number): Int32Array {
  const cached = networks.get(n);
  if (cached) return cached;
  let size = 1;
  while (size < n) size <<= 1;
  const pairs: number[][] = [];
  for (let p = 1; p < size; p <<= 1) {
    for (let k = p; k >= 1; k >>= 1) {
      for (let j = k % p; j <= size - 1 - k; j += 2 * k) {
        for (let i = 0; i <= Math.min(k - 1, size - j - k - 1); i++) {
          const a = i + j;
          const b = i + j + k;
          if (Math.floor(a / (p * 2)) === Math.floor(b / (p * 2)) && b < n) pairs.push([a, b]);
        }
      }
    }
  }
  const needed = new Set(n % 2 === 1 ? [n >> 1] : [(n >> 1) - 1, n >> 1]);
  const kept: number[][] = [];
  for (let c = pairs.length - 1; c >= 0; c--) {
    const [a, b] = pairs[c];
    if (needed.has(a) || needed.has(b)) {
      kept.push(pairs[c]);
      needed.add(a);
      needed.add(b);
    }
  }
  const network = new Int32Array(kept.reverse().flat());
  networks.set(n, network);
  return network;
}

/**
 * Recomputes the median (and its uncertainty) of pixels `[start, end)` that have
 * a NaN in some frame, leaving the NaNs out.
 */
function redoPixelsWithNaN(
  inputs: Float32Array[],
  out: Float32Array,
  scales: ArrayLike<number> | null,
  start: number,
  end: number,
  values: Float64Array,
  deviation: Float32Array | null,
): void {
  const n = inputs.length;
  const scratch = deviation ? new Float64Array(n) : values;
  for (let p = start; p < end; p++) {
    let m = 0;
    for (let i = 0; i < n; i++) {
      const x = inputs[i][p] * (scales ? scales[i] : 1);
      if (x === x) values[m++] = x;
    }
    if (m === n) continue;
    const median = m === 0 ? NaN : medianSmall(values, m);
    out[p] = median;
    if (deviation) {
      deviation[p] = m === 0
        ? NaN
        : MAD_TO_SIGMA * absoluteDeviation(values, m, median, scratch) / Math.sqrt(m);
    }
  }
}

/** Pixels per block of the SIMD network: rows of 8 KiB, so n rows stay in the L2 cache. */
const SIMD_BLOCK = 2048;

/** Scratch of the thread: a block's medians in double precision (for a scaled combine's deviations). */
let centers: Float64Array | null = null;

function centerScratch(): Float64Array {
  return centers ??= new Float64Array(SIMD_BLOCK);
}

/** Scratch of the thread: the lower middle's values of an even count. */
let otherCenters: Float64Array | null = null;

function otherCenterScratch(): Float64Array {
  return otherCenters ??= new Float64Array(SIMD_BLOCK);
}

/**
 * For each of `len` pixels, the scaled input value (in double precision) whose
 * float32 rounding is the key at `keys[at + p]`: the first input that gives it,
 * or the key itself when none does. Input by input over the block (streaming,
 * the rare match the only branch) rather than pixel by pixel.
 */
function centerOfKeys(
  keys: Float32Array,
  at: number,
  len: number,
  inputs: Float32Array[],
  scales: ArrayLike<number>,
  from: number,
  out: Float64Array,
): void {
  for (let p = 0; p < len; p++) out[p] = keys[at + p];
  // Last input first, so that the first one to match is the one kept.
  for (let i = inputs.length - 1; i >= 0; i--) matchKeys(keys, at, len, inputs[i], scales[i], from, out);
}

function matchKeys(
  keys: Float32Array,
  at: number,
  len: number,
  source: Float32Array,
  scale: number,
  from: number,
  out: Float64Array,
): void {
  for (let p = 0; p < len; p++) {
    const v = source[from + p] * scale;
    if (Math.fround(v) === keys[at + p]) out[p] = v;
  }
}

/** `out[at + p] = source[from + p] · scale` for `len` pixels (its own function: a loop the JIT keeps tight). */
function scaleInto(
  out: Float32Array,
  at: number,
  source: Float32Array,
  from: number,
  len: number,
  scale: number,
): void {
  for (let p = 0; p < len; p++) out[at + p] = source[from + p] * scale;
}

/** `out[at + p] = |source[from + p] · scale − centers[p]|` for `len` pixels, in double precision. */
function deviationsInto(
  out: Float32Array,
  at: number,
  source: Float32Array,
  from: number,
  len: number,
  scale: number,
  centers: Float64Array,
): void {
  for (let p = 0; p < len; p++) out[at + p] = Math.abs(source[from + p] * scale - centers[p]);
}

/** The network's rows in a thread's module memory: the comparator table, then n + 1 rows of a block. */
interface NetworkRows {
  /** Byte offset of the first row. */
  rowsAt: number;
  /** Bytes a row. */
  rowBytes: number;
  /** The comparators' count (pairs). */
  comparators: number;
  /** The rows as float32 values. */
  floats: Float32Array;
  /** Index in `floats` of the (upper) middle row. */
  middle: number;
}

/** Lays the comparators of `n` frames' network out at the start of the module's memory, growing it as needed. */
function networkRows(simd: MedianSimd, n: number): NetworkRows {
  const network = medianNetwork(n);
  const rowBytes = SIMD_BLOCK * 4;
  const rowsAt = (network.length * 4 + 15) & ~15;
  // One more row: the medians, for the absolute deviations.
  const needed = rowsAt + (n + 1) * rowBytes;
  if (simd.memory.buffer.byteLength < needed) {
    simd.memory.grow(Math.ceil((needed - simd.memory.buffer.byteLength) / 65536));
  }
  const memory = simd.memory.buffer;
  const pairs = new Int32Array(memory, 0, network.length);
  for (let c = 0; c < network.length; c++) pairs[c] = rowsAt + network[c] * rowBytes;
  return {
    rowsAt,
    rowBytes,
    comparators: network.length >> 1,
    floats: new Float32Array(memory, rowsAt, (n + 1) * SIMD_BLOCK),
    middle: (n >> 1) * SIMD_BLOCK,
  };
}

/** Zeroes a row's pixels `[len, padded)`: the last vector's lanes beyond the block. */
function padRow(floats: Float32Array, base: number, len: number, padded: number): void {
  for (let p = len; p < padded; p++) floats[base + p] = 0;
}

/** Row i of the block: pixels `[b0, b0 + len)` of input i, scaled when there are scales. */
function loadBlock(
  floats: Float32Array,
  inputs: Float32Array[],
  scales: ArrayLike<number> | null,
  b0: number,
  len: number,
  padded: number,
): void {
  for (let i = 0; i < inputs.length; i++) {
    const base = i * SIMD_BLOCK;
    if (scales) scaleInto(floats, base, inputs[i], b0, len, scales[i]);
    else floats.set(inputs[i].subarray(b0, b0 + len), base);
    padRow(floats, base, len, padded);
  }
}

/** `out[at + p]` = the mean of rows `lower` and `upper` at p, for `len` pixels: an even count's middle. */
function meanOfRows(
  floats: Float32Array,
  lower: number,
  upper: number,
  len: number,
  out: Float32Array,
  at: number,
): void {
  for (let p = 0; p < len; p++) out[at + p] = (floats[lower + p] + floats[upper + p]) / 2;
}

/**
 * Rows of |v_i − median| for unscaled inputs: float32 values, and so are their
 * medians (of an even count, the mean of two, within half a unit of its last
 * place), so the differences are taken four at a time.
 */
function unscaledDeviations(
  simd: MedianSimd,
  rows: NetworkRows,
  inputs: Float32Array[],
  b0: number,
  len: number,
  padded: number,
): void {
  const { floats, middle, rowsAt, rowBytes } = rows;
  const n = inputs.length;
  const centerRow = n * SIMD_BLOCK;
  if (n % 2 === 0) meanOfRows(floats, middle - SIMD_BLOCK, middle, len, floats, centerRow);
  else floats.copyWithin(centerRow, middle, middle + len);
  padRow(floats, centerRow, len, padded);
  loadBlock(floats, inputs, null, b0, len, padded);
  simd.absdiff(rowsAt, n, rowBytes, rowsAt + centerRow * 4, padded * 4);
}

/**
 * Rows of |v_i − median| for scaled inputs (flats), in double precision about
 * the median in double precision, ccdproc's: the input each middle key came
 * from (float32 values of about 1 differ by less than their rounding).
 */
function scaledDeviations(
  rows: NetworkRows,
  inputs: Float32Array[],
  scales: ArrayLike<number>,
  b0: number,
  len: number,
  padded: number,
): void {
  const { floats, middle } = rows;
  const n = inputs.length;
  const centers = centerScratch();
  centerOfKeys(floats, middle, len, inputs, scales, b0, centers);
  if (n % 2 === 0) {
    const other = otherCenterScratch();
    centerOfKeys(floats, middle - SIMD_BLOCK, len, inputs, scales, b0, other);
    for (let p = 0; p < len; p++) centers[p] = (other[p] + centers[p]) / 2;
  }
  for (let i = 0; i < n; i++) {
    const base = i * SIMD_BLOCK;
    deviationsInto(floats, base, inputs[i], b0, len, scales[i], centers);
    padRow(floats, base, len, padded);
  }
}

/** `deviation[b0 + p]` = 1.4826 · (the middle row's median absolute deviation) / √n, for `len` pixels. */
function storeDeviations(
  rows: NetworkRows,
  n: number,
  deviation: Float32Array,
  b0: number,
  len: number,
): void {
  const { floats, middle } = rows;
  const root = Math.sqrt(n);
  if (n % 2 === 0) {
    for (let p = 0; p < len; p++) {
      deviation[b0 + p] = MAD_TO_SIGMA * ((floats[middle - SIMD_BLOCK + p] + floats[middle + p]) / 2) / root;
    }
  } else {
    for (let p = 0; p < len; p++) deviation[b0 + p] = MAD_TO_SIGMA * floats[middle + p] / root;
  }
}

/**
 * Median over frames by a sorting network run across a block of pixels at once,
 * the comparators four pixels at a time in WebAssembly: each is a branch-free
 * min/max over a row of the block, on float32 bits turned into order-preserving
 * int32 keys. Insertion sort per pixel mispredicts on noise; this does not.
 * Pixels with a NaN in any frame are redone one by one, leaving the NaNs out.
 *
 * Every loop over a block's pixels is a small function of its own: this one only
 * drives them, so V8 compiles each once instead of recompiling one large
 * function (with every loop inlined) each time a new path is first taken.
 */
function medianByNetwork(
  simd: MedianSimd,
  inputs: Float32Array[],
  out: Float32Array,
  scales: ArrayLike<number> | null,
  start: number,
  end: number,
  values: Float64Array,
  deviation: Float32Array | null,
): void {
  const n = inputs.length;
  const rows = networkRows(simd, n);
  const { floats, middle, rowsAt, rowBytes, comparators } = rows;
  for (let b0 = start; b0 < end; b0 += SIMD_BLOCK) {
    const len = Math.min(SIMD_BLOCK, end - b0);
    const padded = (len + 3) & ~3;
    loadBlock(floats, inputs, scales, b0, len, padded);
    const nan = simd.keys(rowsAt, n, rowBytes, padded * 4);
    simd.net(0, comparators, padded * 4);
    simd.unkey(rowsAt + middle * 4, padded * 4);
    if (n % 2 === 0) {
      simd.unkey(rowsAt + (middle - SIMD_BLOCK) * 4, padded * 4);
      meanOfRows(floats, middle - SIMD_BLOCK, middle, len, out, b0);
    } else {
      out.set(floats.subarray(middle, middle + len), b0);
    }
    if (deviation) {
      // The median absolute deviation by the same network, over |v_i − median| (NaN pixels are redone below).
      if (scales) scaledDeviations(rows, inputs, scales, b0, len, padded);
      else unscaledDeviations(simd, rows, inputs, b0, len, padded);
      // Deviations are never negative (the sign bit clear), so their float32 bits already sort as int32
      // keys: no keys to make or undo. (A NaN, redone below, sorts above them all.)
      simd.net(0, comparators, padded * 4);
      storeDeviations(rows, n, deviation, b0, len);
    }
    if (nan) redoPixelsWithNaN(inputs, out, scales, b0, b0 + len, values, deviation);
  }
}
