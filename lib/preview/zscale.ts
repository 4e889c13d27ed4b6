/**
 * IRAF's zscale display limits, computed as astropy's `ZScaleInterval` computes
 * them (and as ds9 shows a frame with "zscale").
 *
 * @module
 */
import { sampleCount, sampleStride } from "./_sampling.ts";

/**
 * Parameters of the zscale fit; each defaults to astropy's `ZScaleInterval`
 * default (the astropy name is given in brackets).
 */
export interface ZScaleOptions {
  /** Most pixels to sample [`n_samples`]; default 1000. */
  nSamples?: number;
  /** The fitted slope is divided by this; larger values narrow the limits [`contrast`]; default 0.25 (0 leaves the slope alone). */
  contrast?: number;
  /** The fit is kept only while at least this fraction of the sample survives rejection [`max_reject`]; default 0.5. */
  maxReject?: number;
  /** ... and at least this many sampled pixels survive it [`min_npixels`]; default 5. */
  minPixels?: number;
  /** Rejection threshold, in standard deviations of the residuals from the line [`krej`]; default 2.5. */
  krej?: number;
  /** Most rounds of fitting and rejecting [`max_iterations`]; default 5. */
  maxIterations?: number;
}

/** The display limits: values at or below `low` show black, at or above `high` white. */
export interface ZScaleLimits {
  low: number;
  high: number;
}

/** astropy's `ZScaleInterval()` defaults. */
export const ZSCALE_DEFAULTS: Readonly<Required<ZScaleOptions>> = Object.freeze({
  nSamples: 1000,
  contrast: 0.25,
  maxReject: 0.5,
  minPixels: 5,
  krej: 2.5,
  maxIterations: 5,
});

/** Fills in the defaults and checks every option; throws a RangeError naming the bad one. */
export function resolveZScaleOptions(options: ZScaleOptions = {}): Required<ZScaleOptions> {
  const resolved = { ...ZSCALE_DEFAULTS, ...options };
  const checks: [keyof ZScaleOptions, boolean, string][] = [
    ["nSamples", Number.isInteger(resolved.nSamples) && resolved.nSamples >= 1, "a positive integer"],
    ["contrast", resolved.contrast >= 0 && Number.isFinite(resolved.contrast), "a number ≥ 0"],
    ["maxReject", resolved.maxReject >= 0 && resolved.maxReject <= 1, "a fraction 0-1"],
    ["minPixels", Number.isInteger(resolved.minPixels) && resolved.minPixels >= 1, "a positive integer"],
    ["krej", resolved.krej > 0 && Number.isFinite(resolved.krej), "a number > 0"],
    [
      "maxIterations",
      Number.isInteger(resolved.maxIterations) && resolved.maxIterations >= 1,
      "a positive integer",
    ],
  ];
  for (const [name, ok, expected] of checks) {
    if (!ok) {
      throw new RangeError(`Invalid zscale option "${name}": ${resolved[name]} (expected ${expected})`);
    }
  }
  return resolved;
}

/**
 * The zscale display limits of `values`, equal to astropy's
 * `ZScaleInterval(...).get_limits(values)`. NaN and ±Infinity are ignored; a
 * 2-D image is passed row by row (FITS row 1 first, as numpy flattens it).
 *
 * The algorithm, in words:
 * 1. **Sample.** Of the finite values, in order, take every `stride`-th one,
 *    `stride = int(max(1, finite / nSamples))`, and keep the first `nSamples`
 *    of those. Sort the sample; its ends are the fallback limits.
 * 2. **Fit a line** to the sorted sample (value against rank 0…n−1) by least
 *    squares over the pixels not yet rejected.
 * 3. **Reject.** Take the standard deviation σ of the kept pixels' residuals from
 *    that line; mark every pixel whose residual is beyond ±`krej`·σ as rejected,
 *    then **grow** each rejected pixel to a run of `max(1, int(n/100))` ranks
 *    (numpy's `convolve(mask, ones(ngrow), "same")`: `(ngrow−1)//2` ranks below, the
 *    rest above). Rejected pixels stay rejected.
 * 4. Repeat 2–3 up to `maxIterations` times, stopping early once a round rejects
 *    nothing new or fewer than `max(minPixels, int(n·maxReject))` pixels are kept.
 * 5. **Limits.** If enough pixels are kept, divide the last fitted slope by
 *    `contrast` and go from the sample's median `(c−1)` ranks down and `(n−c)`
 *    ranks up along that slope (`c = (n−1)//2`), each clipped to the sample's
 *    range; otherwise the limits are the sample's minimum and maximum.
 *
 * Sums run in double precision (astropy fits in float64 too; its median of a
 * float32 sample is float32, a difference of ~1e-7 relative).
 *
 * @example
 * ```ts
 * import { zscale } from "./mod.ts";
 * const { low, high } = zscale(new Float32Array([10, 11, 9, 10, 12, 10, 500]));
 * ```
 *
 * @throws {RangeError} when `values` has no finite value, or an option is out of range.
 */
export function zscale(values: ArrayLike<number>, options: ZScaleOptions = {}): ZScaleLimits {
  const resolved = resolveZScaleOptions(options);
  let finite = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (v - v === 0) finite++; // false for NaN and ±Infinity
  }
  if (finite === 0) throw new RangeError("No finite values to take zscale limits from");
  const stride = sampleStride(finite, resolved.nSamples);
  const sample = new Float64Array(sampleCount(finite, resolved.nSamples));
  let taken = 0;
  let untilNext = 0;
  for (let i = 0; i < values.length && taken < sample.length; i++) {
    const v = values[i];
    if (v - v !== 0) continue;
    if (untilNext === 0) {
      sample[taken++] = v;
      untilNext = stride;
    }
    untilNext--;
  }
  return fitLimits(sample.sort(), resolved);
}

/** Steps 2–5 of {@link zscale} on the sorted sample. */
function fitLimits(sorted: Float64Array, options: Required<ZScaleOptions>): ZScaleLimits {
  const n = sorted.length;
  const minimum = sorted[0];
  const maximum = sorted[n - 1];
  const minKept = Math.max(options.minPixels, Math.floor(n * options.maxReject));
  const grow = Math.max(1, Math.floor(n * 0.01));
  const growBelow = Math.floor((grow - 1) / 2);
  const growAbove = grow - 1 - growBelow;

  let rejected = new Uint8Array(n);
  let grown = new Uint8Array(n);
  let kept = n;
  let lastKept = n + 1;
  let slope = NaN;
  let fitted = false;
  for (let iteration = 0; iteration < options.maxIterations; iteration++) {
    if (kept >= lastKept || kept < minKept) break;

    // Least squares over the kept ranks, about their means for accuracy.
    let meanRank = 0;
    let meanValue = 0;
    for (let i = 0; i < n; i++) {
      if (rejected[i]) continue;
      meanRank += i;
      meanValue += sorted[i];
    }
    meanRank /= kept;
    meanValue /= kept;
    let sxx = 0;
    let sxy = 0;
    for (let i = 0; i < n; i++) {
      if (rejected[i]) continue;
      const dx = i - meanRank;
      sxx += dx * dx;
      sxy += dx * (sorted[i] - meanValue);
    }
    slope = sxy / sxx;
    const intercept = meanValue - slope * meanRank;
    fitted = true;

    // Population standard deviation of the kept residuals (numpy's std).
    let meanResidual = 0;
    for (let i = 0; i < n; i++) {
      if (!rejected[i]) meanResidual += sorted[i] - (slope * i + intercept);
    }
    meanResidual /= kept;
    let sumSquares = 0;
    for (let i = 0; i < n; i++) {
      if (rejected[i]) continue;
      const d = sorted[i] - (slope * i + intercept) - meanResidual;
      sumSquares += d * d;
    }
    const threshold = options.krej * Math.sqrt(sumSquares / kept);

    // Residuals are tested on every pixel, rejected or not, as astropy does.
    for (let i = 0; i < n; i++) {
      const residual = sorted[i] - (slope * i + intercept);
      if (residual < -threshold || residual > threshold) rejected[i] = 1;
    }
    grown.fill(0);
    for (let i = 0; i < n; i++) {
      if (!rejected[i]) continue;
      grown.fill(1, Math.max(0, i - growBelow), Math.min(n, i + growAbove + 1));
    }
    [rejected, grown] = [grown, rejected];

    lastKept = kept;
    kept = 0;
    for (let i = 0; i < n; i++) if (!rejected[i]) kept++;
  }

  if (!fitted || kept < minKept) return { low: minimum, high: maximum };
  if (options.contrast > 0) slope /= options.contrast;
  const center = Math.floor((n - 1) / 2);
  const median = n % 2 === 1 ? sorted[center] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
  return {
    low: Math.max(minimum, median - (center - 1) * slope),
    high: Math.min(maximum, median + (n - center) * slope),
  };
}
