/**
 * Finding bad pixels in masters, band by band: each pixel is judged against its
 * neighbourhood, the median of the square block of pixels it lies in (so a
 * vignetted corner of a flat, or a dark's amplifier glow, is not taken for bad
 * pixels), as bad-pixel-mask makers (BANZAI's, IRAF's `ccdmask`) do.
 *
 * - hot: a master dark's pixel more than `hotSigma` σ above its block's median,
 *   σ the robust standard deviation (1.4826 · median absolute deviation) of
 *   every pixel about its block's median;
 * - dead: a master flat's pixel below `deadResponse` of its block's median;
 *   low response: below `lowResponse`;
 * - a pixel with no value (NaN) in a master is bad.
 *
 * @module
 */
import { BAD_PIXEL_BIT } from "./band_task.ts";
import { selectKth } from "./stats.ts";

/** The bad-pixel mask bit of a pixel whose flat-field response is low. */
export const LOW_RESPONSE_BIT = 4;

/** Rows and columns of a neighbourhood block. */
export const BLOCK = 32;

/**
 * The median of each block of `rows` rows (one row of blocks, `BLOCK` columns
 * each, the last narrower) of `band` (`width` pixels a row) into `out`, NaN
 * left out (NaN for a block with no value): of every other pixel of every other
 * row, a quarter of the block, which is plenty for a level a rare bad pixel
 * does not move. `scratch` holds at least `rows · BLOCK / 4` values.
 */
export function blockMedians(
  band: Float32Array,
  width: number,
  rows: number,
  out: Float32Array,
  scratch: Float32Array,
): void {
  const step = rows > 1 ? 2 : 1;
  for (let bx = 0, x0 = 0; x0 < width; bx++, x0 += BLOCK) {
    const x1 = Math.min(width, x0 + BLOCK);
    const xStep = x1 - x0 > 1 ? 2 : 1;
    let n = 0;
    for (let y = 0; y < rows; y += step) {
      for (let x = x0; x < x1; x += xStep) {
        const v = band[y * width + x];
        if (v === v) scratch[n++] = v;
      }
    }
    if (n === 0) {
      out[bx] = NaN;
      continue;
    }
    const upper = selectKth(scratch, n, n >> 1);
    let lower = upper;
    if (n % 2 === 0) {
      lower = -Infinity;
      for (let i = 0; i < n >> 1; i++) if (scratch[i] > lower) lower = scratch[i];
    }
    out[bx] = (lower + upper) / 2;
  }
}

/**
 * Every `stride`-th pixel's |value − its block's median| from `band`, appended
 * to `sample` from `at`; returns the new length (stops when `sample` is full).
 */
export function sampleDeviations(
  band: Float32Array,
  width: number,
  rows: number,
  levels: Float32Array,
  stride: number,
  sample: Float32Array,
  at: number,
): number {
  for (let p = 0; p < rows * width && at < sample.length; p += stride) {
    const v = band[p] - levels[Math.floor((p % width) / BLOCK)];
    if (v === v) sample[at++] = Math.abs(v);
  }
  return at;
}

/**
 * ORs {@link BAD_PIXEL_BIT} into `mask` where a dark's pixel lies more than
 * `limit` above its block's median, or has no value; returns how many were hot.
 */
export function flagHot(
  band: Float32Array,
  width: number,
  rows: number,
  levels: Float32Array,
  limit: number,
  mask: Uint8Array,
): number {
  let hot = 0;
  // Block by block along each row: the block's level fetched once, no division a pixel.
  for (let y = 0; y < rows; y++) {
    const row = y * width;
    for (let bx = 0, x0 = 0; x0 < width; bx++, x0 += BLOCK) {
      const level = levels[bx];
      const x1 = Math.min(width, x0 + BLOCK);
      for (let p = row + x0; p < row + x1; p++) {
        const v = band[p];
        if (v !== v) mask[p] |= BAD_PIXEL_BIT;
        else if (v - level > limit) {
          mask[p] |= BAD_PIXEL_BIT;
          hot++;
        }
      }
    }
  }
  return hot;
}

/**
 * ORs into `mask`, from a flat: {@link BAD_PIXEL_BIT} where its response (the
 * pixel over its block's median) is below `dead` or it has no value, and
 * {@link LOW_RESPONSE_BIT} where the response is below `low`; returns the counts.
 */
export function flagLowResponse(
  band: Float32Array,
  width: number,
  rows: number,
  levels: Float32Array,
  limits: { dead: number; low: number },
  mask: Uint8Array,
): { dead: number; low: number } {
  let dead = 0;
  let low = 0;
  for (let y = 0; y < rows; y++) {
    const row = y * width;
    for (let bx = 0, x0 = 0; x0 < width; bx++, x0 += BLOCK) {
      const level = levels[bx];
      const x1 = Math.min(width, x0 + BLOCK);
      for (let p = row + x0; p < row + x1; p++) {
        const v = band[p];
        if (v !== v) {
          mask[p] |= BAD_PIXEL_BIT;
          continue;
        }
        const response = v / level;
        if (response < limits.dead) {
          mask[p] |= BAD_PIXEL_BIT;
          dead++;
        } else if (response < limits.low) {
          mask[p] |= LOW_RESPONSE_BIT;
          low++;
        }
      }
    }
  }
  return { dead, low };
}

/** How many of the first `pixels` bytes of `mask` are not 0. */
export function countFlagged(mask: Uint8Array, pixels: number): number {
  let flagged = 0;
  for (let p = 0; p < pixels; p++) if (mask[p] !== 0) flagged++;
  return flagged;
}

/** The median of `sample[0..n)` (reorders it); NaN for none. */
export function sampleMedian(sample: Float32Array, n: number): number {
  if (n === 0) return NaN;
  const upper = selectKth(sample, n, n >> 1);
  if (n % 2 === 1) return upper;
  let lower = -Infinity;
  for (let i = 0; i < n >> 1; i++) if (sample[i] > lower) lower = sample[i];
  return (lower + upper) / 2;
}
