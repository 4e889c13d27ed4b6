/**
 * Overscan subtraction and trimming, as ccdproc's `subtract_overscan` then
 * `trim_image`.
 *
 * The overscan strip (`BIASSEC`) lies beside the image as columns, giving one
 * level per row, or above or below it as rows, giving one level per column:
 * columns unless the strip is wider than it is tall (ccdproc's rule for
 * `overscan_axis=None`). Each line of the strip (a row of a column strip, a
 * column of a row strip) gives an estimate of its level from its pixels:
 *
 * - `median`: their median (ccdproc's `median=True`);
 * - `mean`: their mean (ccdproc's default, `median=False`);
 * - `clipped-mean`: the mean of those within 3 σ of their median, σ = 1.4826 ·
 *   their median absolute deviation from it, one pass (BANZAI's `sigma_clipped_mean`).
 *
 * With `model: {polynomial: N}` a polynomial of degree N is fitted by least
 * squares to the estimates against the line's index in the strip (ccdproc's
 * `model=Polynomial1D(N)` with `LinearLSQFitter`), and its values are the
 * levels; with `none` each line's estimate is its level. Every pixel of the
 * image loses the level of its row (column strip) or column (row strip), then
 * the trim section is kept.
 *
 * @module
 */
import type { Section } from "./section.ts";

/** How a line's overscan level is estimated from its overscan pixels. */
export type OverscanEstimate = "median" | "mean" | "clipped-mean";

/** How the line estimates become the levels subtracted: each its own (`none`), or a fitted polynomial. */
export type OverscanModel = "none" | { polynomial: number };

/** How the overscan level is found (`Reduction: Overscan`). */
export interface OverscanMethod {
  estimate: OverscanEstimate;
  model: OverscanModel;
}

/** The default: the median of each line's pixels, no model. */
export const MEDIAN_OVERSCAN: OverscanMethod = { estimate: "median", model: "none" };

/** A strip of `columns` beside the image (a level per row) or of `rows` above or below it (a level per column). */
export type OverscanStrip = "columns" | "rows";

/** Which way a strip lies: `rows` when it is wider than it is tall, as ccdproc decides for `overscan_axis=None`. */
export function stripOrientation(strip: Section): OverscanStrip {
  return strip.x1 - strip.x0 > strip.y1 - strip.y0 ? "rows" : "columns";
}

/**
 * Levels worked out before any band is read (a row strip, or a model): one per
 * row of the trimmed frame (`per: "row"`) or one per column (`per: "column"`).
 */
export interface OverscanLevels {
  per: "row" | "column";
  values: Float64Array;
}

/** Options of {@link overscanAndTrimRows}. */
export interface OverscanAndTrimOptions {
  /** How each row's strip pixels give its level, when `levels` is null (default `median`). */
  estimate?: OverscanEstimate;
  /** Levels known beforehand; the overscan columns of the rows are then not looked at. */
  levels?: OverscanLevels | null;
  /** The trimmed frame's row of the first row given (to index per-row `levels`). */
  firstRow?: number;
}

/**
 * For each of `rows` rows of `width` pixels in `input`: subtracts the overscan
 * level (the estimate of the row's overscan columns, or `options.levels`), and
 * writes columns `[trim.x0, trim.x1)` to `out`. `scratch` holds at least the
 * overscan width.
 */
export function overscanAndTrimRows(
  input: Float32Array,
  width: number,
  rows: number,
  overscan: Section | null,
  trim: { x0: number; x1: number },
  out: Float32Array,
  scratch: Float64Array,
  options: OverscanAndTrimOptions = {},
): void {
  const outWidth = trim.x1 - trim.x0;
  const levels = options.levels ?? null;
  const estimate = options.estimate ?? "median";
  const firstRow = options.firstRow ?? 0;
  for (let r = 0; r < rows; r++) {
    const row = r * width;
    const target = r * outWidth;
    if (levels?.per === "column") {
      const values = levels.values;
      for (let x = 0; x < outWidth; x++) out[target + x] = input[row + trim.x0 + x] - values[x];
      continue;
    }
    let level = 0;
    if (levels) level = levels.values[firstRow + r];
    else if (overscan) {
      level = overscanEstimate(input, row + overscan.x0, row + overscan.x1, estimate, scratch);
    }
    for (let x = 0; x < outWidth; x++) out[target + x] = input[row + trim.x0 + x] - level;
  }
}

/**
 * The overscan level of one row: the median of the finite values in
 * `values[from, to)` (its overscan pixels), 0 when none is finite. `scratch`
 * holds at least `to − from` values.
 */
export function overscanLevel(values: Float32Array, from: number, to: number, scratch: Float64Array): number {
  return overscanEstimate(values, from, to, "median", scratch);
}

/**
 * The estimate of a line's level from the finite values in `values[from, to)`
 * (see the module's formulas), 0 when none is finite. `scratch` holds at least
 * `to − from` values.
 */
export function overscanEstimate(
  values: ArrayLike<number>,
  from: number,
  to: number,
  estimate: OverscanEstimate,
  scratch: Float64Array,
): number {
  let n = 0;
  let sum = 0;
  for (let i = from; i < to; i++) {
    const v = values[i];
    if (v === v) {
      scratch[n++] = v;
      sum += v;
    }
  }
  if (n === 0) return 0;
  if (estimate === "mean") return sum / n;
  const sorted = scratch.subarray(0, n).sort();
  const median = middleOf(sorted);
  if (estimate === "median") return median;
  // BANZAI's sigma_clipped_mean: drop what lies beyond 3 robust standard deviations of the median.
  if (deviationScratch.length < n) deviationScratch = new Float64Array(n);
  const deviations = deviationScratch.subarray(0, n);
  for (let i = 0; i < n; i++) deviations[i] = Math.abs(sorted[i] - median);
  const limit = 3 * 1.4826 * middleOf(deviations.sort());
  let kept = 0;
  let keptSum = 0;
  for (let i = 0; i < n; i++) {
    if (Math.abs(sorted[i] - median) <= limit) {
      keptSum += sorted[i];
      kept++;
    }
  }
  return keptSum / kept;
}

/** Scratch of {@link overscanEstimate}'s clipped mean: the deviations from the median. */
let deviationScratch = new Float64Array(0);

/** The median of sorted values. */
function middleOf(sorted: Float64Array): number {
  const h = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[h] : (sorted[h - 1] + sorted[h]) / 2;
}

/**
 * The levels of a strip's lines: `strip` holds its pixels row by row
 * (`stripRows` rows of `stripWidth`); a column strip gives one level per row,
 * a row strip one per column, each its line's estimate or the model fitted to them.
 */
export function stripLevels(
  strip: Float32Array,
  stripWidth: number,
  stripRows: number,
  orientation: OverscanStrip,
  method: OverscanMethod,
): Float64Array {
  const lines = orientation === "columns" ? stripRows : stripWidth;
  const length = orientation === "columns" ? stripWidth : stripRows;
  const line = new Float64Array(length);
  const scratch = new Float64Array(length);
  const estimates = new Float64Array(lines);
  for (let l = 0; l < lines; l++) {
    for (let i = 0; i < length; i++) {
      line[i] = orientation === "columns" ? strip[l * stripWidth + i] : strip[i * stripWidth + l];
    }
    estimates[l] = overscanEstimate(line, 0, length, method.estimate, scratch);
  }
  return method.model === "none" ? estimates : fitPolynomial(estimates, method.model.polynomial);
}

/**
 * The least-squares polynomial of degree `degree` through `values[i]` at
 * x = i, evaluated at each x: what astropy's `LinearLSQFitter` gives for
 * `Polynomial1D(degree)`. Worked out by Householder QR on Legendre polynomials
 * of x mapped onto [−1, 1], which keeps degree 10 over thousands of rows well
 * conditioned (the fitted values do not depend on the basis).
 */
export function fitPolynomial(values: Float64Array, degree: number): Float64Array {
  const n = values.length;
  const terms = Math.max(1, Math.min(Math.floor(degree) + 1, n));
  // The design matrix, column by column: P_j(t_i).
  const basis = new Float64Array(terms * n);
  for (let i = 0; i < n; i++) {
    const t = n > 1 ? (2 * i) / (n - 1) - 1 : 0;
    basis[i] = 1;
    if (terms > 1) basis[n + i] = t;
    for (let j = 1; j + 1 < terms; j++) {
      basis[(j + 1) * n + i] = ((2 * j + 1) * t * basis[j * n + i] - j * basis[(j - 1) * n + i]) / (j + 1);
    }
  }
  const a = basis.slice();
  const b = values.slice();
  const diagonal = new Float64Array(terms);
  const v = new Float64Array(n);
  for (let j = 0; j < terms; j++) {
    const column = j * n;
    let norm = 0;
    for (let i = j; i < n; i++) norm += a[column + i] ** 2;
    norm = Math.sqrt(norm);
    const alpha = a[column + j] > 0 ? -norm : norm;
    diagonal[j] = alpha;
    let vNorm = 0;
    for (let i = j; i < n; i++) {
      v[i] = a[column + i] - (i === j ? alpha : 0);
      vNorm += v[i] ** 2;
    }
    if (vNorm === 0) continue;
    const reflect = (target: Float64Array, offset: number) => {
      let dot = 0;
      for (let i = j; i < n; i++) dot += v[i] * target[offset + i];
      const w = (2 * dot) / vNorm;
      for (let i = j; i < n; i++) target[offset + i] -= w * v[i];
    };
    for (let k = j + 1; k < terms; k++) reflect(a, k * n);
    reflect(b, 0);
  }
  // R c = (Qᵀ b)[0, terms)
  const coefficients = new Float64Array(terms);
  for (let j = terms - 1; j >= 0; j--) {
    let s = b[j];
    for (let k = j + 1; k < terms; k++) s -= a[k * n + j] * coefficients[k];
    coefficients[j] = diagonal[j] === 0 ? 0 : s / diagonal[j];
  }
  const fitted = new Float64Array(n);
  for (let j = 0; j < terms; j++) {
    const c = coefficients[j];
    for (let i = 0; i < n; i++) fitted[i] += c * basis[j * n + i];
  }
  return fitted;
}
