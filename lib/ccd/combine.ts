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
 * Combines pixel p one value at a time in double precision, NaNs left out (the
 * loop's arithmetic); `values` and `scratch` hold at least n values.
 */
function combinePixel(
  inputs: Float32Array[],
  out: Float32Array,
  scales: ArrayLike<number> | null,
  p: number,
  values: Float64Array,
  scratch: Float64Array,
  deviation: Float32Array | null,
): void {
  let m = 0;
  for (let i = 0; i < inputs.length; i++) {
    const x = inputs[i][p] * (scales ? scales[i] : 1);
    if (x === x) values[m++] = x;
  }
  const median = m === 0 ? NaN : medianSmall(values, m);
  out[p] = median;
  if (deviation) {
    deviation[p] = m === 0
      ? NaN
      : MAD_TO_SIGMA * absoluteDeviation(values, m, median, scratch) / Math.sqrt(m);
  }
}

/** Recomputes pixels `[start, end)` that have a NaN in some frame (see {@link combinePixel}). */
function redoPixelsWithNaN(
  inputs: Float32Array[],
  out: Float32Array,
  scales: ArrayLike<number> | null,
  start: number,
  end: number,
  values: Float64Array,
  deviation: Float32Array | null,
): void {
  const scratch = new Float64Array(inputs.length);
  for (let p = start; p < end; p++) {
    let nan = false;
    for (let i = 0; i < inputs.length && !nan; i++) nan = inputs[i][p] !== inputs[i][p];
    if (nan) combinePixel(inputs, out, scales, p, values, scratch, deviation);
  }
}

/** Pixels per block of the SIMD network: rows of 8 KiB, so n rows stay in the L2 cache. */
const SIMD_BLOCK = 2048;

/**
 * The network's rows in a thread's module memory: the comparator table, the
 * scales (f64), n + 1 rows of a block (the inputs' values, then their median),
 * and for scaled inputs n rows of their unscaled values and two rows of f64
 * centers.
 */
interface NetworkRows {
  /** Byte offset of the first row. */
  rowsAt: number;
  /** Bytes a row. */
  rowBytes: number;
  /** The comparators' count (pairs). */
  comparators: number;
  /** The memory as float32 values, from byte 0. */
  floats: Float32Array;
  /** Index in `floats` of the (upper) middle row. */
  middle: number;
  /** Byte offsets of the scales, of the first unscaled row, of the two rows of centers and of their ties. */
  scalesAt: number;
  rawAt: number;
  centersAt: number;
  otherCentersAt: number;
  tiesAt: number;
  otherTiesAt: number;
}

/** Lays `n` frames' network out in the module's memory, growing it as needed (see {@link NetworkRows}). */
function networkRows(simd: MedianSimd, n: number, scales: ArrayLike<number> | null): NetworkRows {
  const network = medianNetwork(n);
  const rowBytes = SIMD_BLOCK * 4;
  const scalesAt = (network.length * 4 + 15) & ~15;
  const rowsAt = (scalesAt + n * 8 + 15) & ~15;
  // One more row: the medians, for the absolute deviations.
  const rawAt = rowsAt + (n + 1) * rowBytes;
  const centersAt = rawAt + n * rowBytes;
  const otherCentersAt = centersAt + SIMD_BLOCK * 8;
  const tiesAt = otherCentersAt + SIMD_BLOCK * 8;
  const otherTiesAt = tiesAt + SIMD_BLOCK * 8;
  const needed = scales ? otherTiesAt + SIMD_BLOCK * 8 : rawAt;
  if (simd.memory.buffer.byteLength < needed) {
    simd.memory.grow(Math.ceil((needed - simd.memory.buffer.byteLength) / 65536));
  }
  const memory = simd.memory.buffer;
  const pairs = new Int32Array(memory, 0, network.length);
  for (let c = 0; c < network.length; c++) pairs[c] = rowsAt + network[c] * rowBytes;
  if (scales) {
    const f64 = new Float64Array(memory, scalesAt, n);
    for (let i = 0; i < n; i++) f64[i] = scales[i];
  }
  return {
    rowsAt,
    rowBytes,
    comparators: network.length >> 1,
    floats: new Float32Array(memory),
    middle: rowsAt / 4 + (n >> 1) * SIMD_BLOCK,
    scalesAt,
    rawAt,
    centersAt,
    otherCentersAt,
    tiesAt,
    otherTiesAt,
  };
}

/** Zeroes a row's pixels `[len, padded)`: the last vector's lanes beyond the block. */
function padRow(floats: Float32Array, base: number, len: number, padded: number): void {
  for (let p = len; p < padded; p++) floats[base + p] = 0;
}

/** Copies pixels `[b0, b0 + len)` of each input to its row from `firstRow` (a float index), padded. */
function copyRows(
  floats: Float32Array,
  firstRow: number,
  inputs: Float32Array[],
  b0: number,
  len: number,
  padded: number,
): void {
  for (let i = 0; i < inputs.length; i++) {
    const base = firstRow + i * SIMD_BLOCK;
    floats.set(inputs[i].subarray(b0, b0 + len), base);
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
  const centerRow = rowsAt / 4 + n * SIMD_BLOCK;
  if (n % 2 === 0) meanOfRows(floats, middle - SIMD_BLOCK, middle, len, floats, centerRow);
  else floats.copyWithin(centerRow, middle, middle + len);
  padRow(floats, centerRow, len, padded);
  copyRows(floats, rowsAt / 4, inputs, b0, len, padded);
  simd.absdiff(rowsAt, n, rowBytes, centerRow * 4, padded * 4);
}

/**
 * Rows of |v_i − median| for scaled inputs (flats), in double precision about
 * the median in double precision, ccdproc's: the scaled input each middle key
 * came from (float32 values of about 1 differ by less than their rounding).
 * Returns whether a middle key came from more than one input (see {@link redoTies}).
 */
function scaledDeviations(simd: MedianSimd, rows: NetworkRows, n: number, padded: number): boolean {
  const { floats, middle, rowsAt, rowBytes, rawAt, scalesAt, centersAt, otherCentersAt } = rows;
  const { tiesAt, otherTiesAt } = rows;
  let ties = simd.centers(rawAt, n, rowBytes, scalesAt, middle * 4, centersAt, tiesAt, padded * 4) !== 0;
  if (n % 2 === 0) {
    const lower = (middle - SIMD_BLOCK) * 4;
    ties = simd.centers(rawAt, n, rowBytes, scalesAt, lower, otherCentersAt, otherTiesAt, padded * 4) !== 0 ||
      ties;
    const centers = new Float64Array(floats.buffer, centersAt, padded);
    const other = new Float64Array(floats.buffer, otherCentersAt, padded);
    meanOfCenters(centers, other, padded);
  }
  simd.deviations(rawAt, n, rowBytes, scalesAt, centersAt, rowsAt, padded * 4);
  return ties;
}

/**
 * Recomputes, one value at a time, the pixels of a block whose middle key more
 * than one scaled input rounds to: which of them is the median in double
 * precision their float32 keys cannot tell.
 */
function redoTies(
  rows: NetworkRows,
  inputs: Float32Array[],
  out: Float32Array,
  scales: ArrayLike<number>,
  b0: number,
  len: number,
  values: Float64Array,
  deviation: Float32Array | null,
): void {
  const words = new Int32Array(rows.floats.buffer);
  const upper = rows.tiesAt / 4;
  const lower = rows.otherTiesAt / 4;
  const even = inputs.length % 2 === 0;
  const scratch = new Float64Array(inputs.length);
  for (let p = 0; p < len; p++) {
    if (words[upper + 2 * p] !== 0 || (even && words[lower + 2 * p] !== 0)) {
      combinePixel(inputs, out, scales, b0 + p, values, scratch, deviation);
    }
  }
}

/** `centers[p] = (other[p] + centers[p]) / 2` for `len` pixels. */
function meanOfCenters(centers: Float64Array, other: Float64Array, len: number): void {
  for (let p = 0; p < len; p++) centers[p] = (other[p] + centers[p]) / 2;
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
 * Scaled inputs are scaled in double precision there too, and their float32
 * roundings sorted. Pixels with a NaN in any frame are redone one by one,
 * leaving the NaNs out.
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
  const rows = networkRows(simd, n, scales);
  const { floats, middle, rowsAt, rowBytes, rawAt, scalesAt, comparators } = rows;
  for (let b0 = start; b0 < end; b0 += SIMD_BLOCK) {
    const len = Math.min(SIMD_BLOCK, end - b0);
    const padded = (len + 3) & ~3;
    if (scales) {
      // The unscaled rows stay for the deviations.
      copyRows(floats, rawAt / 4, inputs, b0, len, padded);
      simd.scale(rowsAt, n, rowBytes, rawAt, scalesAt, padded * 4);
    } else {
      copyRows(floats, rowsAt / 4, inputs, b0, len, padded);
    }
    const nan = simd.keys(rowsAt, n, rowBytes, padded * 4);
    simd.net(0, comparators, padded * 4);
    simd.unkey(middle * 4, padded * 4);
    if (n % 2 === 0) {
      simd.unkey((middle - SIMD_BLOCK) * 4, padded * 4);
      meanOfRows(floats, middle - SIMD_BLOCK, middle, len, out, b0);
    } else {
      out.set(floats.subarray(middle, middle + len), b0);
    }
    let ties = false;
    if (deviation) {
      // The median absolute deviation by the same network, over |v_i − median| (NaN pixels are redone below).
      if (scales) ties = scaledDeviations(simd, rows, n, padded);
      else unscaledDeviations(simd, rows, inputs, b0, len, padded);
      // Deviations are never negative (the sign bit clear), so their float32 bits already sort as int32
      // keys: no keys to make or undo. (A NaN, redone below, sorts above them all.)
      simd.net(0, comparators, padded * 4);
      storeDeviations(rows, n, deviation, b0, len);
    }
    if (ties) redoTies(rows, inputs, out, scales!, b0, len, values, deviation);
    if (nan) redoPixelsWithNaN(inputs, out, scales, b0, b0 + len, values, deviation);
  }
}
