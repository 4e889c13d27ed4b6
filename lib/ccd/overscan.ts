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
      let n = 0;
      for (let x = overscan.x0; x < overscan.x1; x++) {
        const v = input[row + x];
        if (v === v) scratch[n++] = v;
      }
      level = n === 0 ? 0 : medianOfScratch(scratch, n);
    }
    const target = r * outWidth;
    for (let x = 0; x < outWidth; x++) out[target + x] = input[row + trim.x0 + x] - level;
  }
}

function medianOfScratch(v: Float64Array, n: number): number {
  const sorted = v.subarray(0, n).sort();
  const h = n >> 1;
  return n % 2 === 1 ? sorted[h] : (sorted[h - 1] + sorted[h]) / 2;
}
