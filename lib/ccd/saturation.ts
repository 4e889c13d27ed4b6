/**
 * Saturated pixels: raw values at or above the detector's `SATURATE` level (or
 * the configured one) are flagged, so calibrated products can mark them. The
 * band task flags them in one place, right after decoding, where the values are
 * still the stored ones (before overscan and calibration): {@link saturate}.
 * {@link saturationMask} keeps the flags apart, for a step that needs them (a
 * bad-pixel mask).
 *
 * @module
 */

/** Sets `mask[i] = 1` where `raw[i] >= level` (leaves other entries); returns how many were flagged. */
export function saturationMask(
  raw: Float32Array,
  level: number,
  mask: Uint8Array,
  start = 0,
  end = raw.length,
): number {
  let count = 0;
  for (let i = start; i < end; i++) {
    if (raw[i] >= level) {
      mask[i] = 1;
      count++;
    }
  }
  return count;
}

/**
 * Sets `values[start, end)` at or above `level` to NaN (NaN then survives every
 * calibration step); returns how many were.
 */
export function saturate(values: Float32Array, level: number, start = 0, end = values.length): number {
  let flagged = 0;
  for (let i = start; i < end; i++) {
    if (values[i] >= level) {
      values[i] = NaN;
      flagged++;
    }
  }
  return flagged;
}

/** The bad-pixel mask bit of a saturated pixel (BANZAI's convention: 1 bad, 2 saturated, 4 low response, 8 cosmic ray). */
export const SATURATED_BIT = 2;

/**
 * Flags `values[start, end)` at or above `level`: ORs {@link SATURATED_BIT} into
 * `flags` (when given) and sets the value to NaN unless `keep`; returns how many were.
 */
export function flagSaturation(
  values: Float32Array,
  level: number,
  flags: Uint8Array | null,
  keep: boolean,
  start = 0,
  end = values.length,
): number {
  let flagged = 0;
  for (let i = start; i < end; i++) {
    if (values[i] >= level) {
      if (flags) flags[i] |= SATURATED_BIT;
      if (!keep) values[i] = NaN;
      flagged++;
    }
  }
  return flagged;
}
