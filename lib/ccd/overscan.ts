/**
 * Overscan subtraction and trimming on bands of whole rows, as ccdproc's
 * `subtract_overscan(median=True, overscan_axis=1)` followed by `trim_image`:
 * each row loses the median of its overscan pixels, then only the trim
 * columns are kept.
 *
 * @module
 */
import type { Section } from "./section.ts";

/**
 * For each of `rows` rows of `width` pixels in `input`: subtracts the median of
 * the row's overscan columns, and writes columns `[trim.x0, trim.x1)` to `out`.
 * `scratch` holds at least the overscan width.
 */
export function overscanAndTrimRows(
  input: Float32Array,
  width: number,
  rows: number,
  overscan: Section | null,
  trim: { x0: number; x1: number },
  out: Float32Array,
  scratch: Float64Array,
): void {
  const outWidth = trim.x1 - trim.x0;
  for (let r = 0; r < rows; r++) {
    const row = r * width;
    let level = 0;
    if (overscan) {
      level = overscanLevel(input, row + overscan.x0, row + overscan.x1, scratch);
    }
    const target = r * outWidth;
    for (let x = 0; x < outWidth; x++) out[target + x] = input[row + trim.x0 + x] - level;
  }
}

/**
 * The overscan level of one row: the median of the finite values in
 * `values[from, to)` (its overscan pixels), 0 when none is finite. `scratch`
 * holds at least `to − from` values.
 */
export function overscanLevel(values: Float32Array, from: number, to: number, scratch: Float64Array): number {
  let n = 0;
  for (let i = from; i < to; i++) {
    const v = values[i];
    if (v === v) scratch[n++] = v;
  }
  if (n === 0) return 0;
  const sorted = scratch.subarray(0, n).sort();
  const h = n >> 1;
  return n % 2 === 1 ? sorted[h] : (sorted[h - 1] + sorted[h]) / 2;
}
