/**
 * Combining frames pixel by pixel, as ccdproc's `Combiner` does:
 * optional per-frame scaling, min/max clipping, sigma clipping around the median
 * with the standard deviation, then median, average or sum of what is left.
 *
 * For pixel p of n frames with scales s: v_i = s_i · frame_i[p]; rejected are
 * v_i < min or v_i > max (min/max clip) and v_i < median − low·σ or
 * v_i > median + high·σ (one pass of sigma clipping, σ the population standard
 * deviation); the result is median(v), mean(v) or Σv over the kept values
 * (NaN when none is kept).
 *
 * @module
 */

/** How to combine. */
export type CombineMethod = "median" | "average" | "sum";

/** Options of {@link combineBand}. */
export interface CombineOptions {
  method: CombineMethod;
  /** Reject values more than `low`/`high` standard deviations below/above the median. */
  sigmaClip?: { low: number; high: number } | null;
  /** Reject values below `min` or above `max`. */
  minMaxClip?: { min: number; max: number } | null;
  /** Multiply frame i by `scales[i]` before anything else (ccdproc's `scale`). */
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

/**
 * Combines `inputs` (equal-length bands, one per frame) into `out`, pixel range
 * `[start, end)` (default all). Allocates nothing per pixel.
 */
export function combineBand(
  inputs: Float32Array[],
  out: Float32Array,
  options: CombineOptions,
  start = 0,
  end: number = out.length,
): void {
  const n = inputs.length;
  if (n === 0) throw new RangeError("combineBand needs at least one input");
  const values = new Float64Array(n);
  const kept = new Float64Array(n);
  const scales = options.scales ?? null;
  const minMax = options.minMaxClip ?? null;
  const sigma = options.sigmaClip ?? null;
  const method = options.method;
  // The common case (ccdproc's default reduction): plain median, no scaling or clipping.
  if (method === "median" && !scales && !minMax && !sigma) {
    for (let p = start; p < end; p++) {
      let m = 0;
      for (let i = 0; i < n; i++) {
        const x = inputs[i][p];
        if (x === x) values[m++] = x;
      }
      out[p] = m === 0 ? NaN : medianSmall(values, m);
    }
    return;
  }
  for (let p = start; p < end; p++) {
    let m = 0;
    for (let i = 0; i < n; i++) {
      let x = inputs[i][p];
      if (x !== x) continue;
      if (scales) x *= scales[i];
      if (minMax && (x < minMax.min || x > minMax.max)) continue;
      values[m++] = x;
    }
    if (sigma && m > 0) {
      for (let i = 0; i < m; i++) kept[i] = values[i];
      const center = medianSmall(kept, m);
      let mean = 0;
      for (let i = 0; i < m; i++) mean += values[i];
      mean /= m;
      let variance = 0;
      for (let i = 0; i < m; i++) variance += (values[i] - mean) ** 2;
      const deviation = Math.sqrt(variance / m);
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
      continue;
    }
    if (method === "median") {
      out[p] = medianSmall(values, m);
    } else {
      let sum = 0;
      for (let i = 0; i < m; i++) sum += values[i];
      out[p] = method === "sum" ? sum : sum / m;
    }
  }
}
