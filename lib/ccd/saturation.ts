/**
 * Saturated pixels: raw values at or above the detector's `SATURATE` level (or
 * the configured one) are flagged, so calibrated products can mark them. The
 * band task flags them in one place, right after decoding, where the values are
 * still the stored ones (before overscan and calibration): {@link saturate}.
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

/** Sets flagged pixels of `values` to NaN (how products mark saturation); returns how many were flagged. */
export function applyMask(values: Float32Array, mask: Uint8Array, start = 0, end = values.length): number {
  let flagged = 0;
  for (let i = start; i < end; i++) {
    if (mask[i]) {
      values[i] = NaN;
      flagged++;
    }
  }
  return flagged;
}

/**
 * Sets `values[start, end)` at or above `level` to NaN (NaN then survives every
 * calibration step); returns how many were. `mask` is scratch of at least `end`
 * entries.
 */
export function saturate(
  values: Float32Array,
  level: number,
  mask: Uint8Array,
  start = 0,
  end = values.length,
): number {
  mask.fill(0, start, end);
  const flagged = saturationMask(values, level, mask, start, end);
  if (flagged > 0) applyMask(values, mask, start, end);
  return flagged;
}
