/**
 * Element-wise calibration arithmetic on bands, in place, allocation-free.
 *
 * The calibrated light is, as in ccdproc (`subtract_bias`, `subtract_dark` with
 * `scale=True`, `flat_correct` with `min_value`):
 *
 *   light' = (light − bias − dark · t_light / t_dark) ÷ (max(flat, floor) / mean(max(flat, floor)))
 *
 * @module
 */

/** target /= divisor, with divisor values below `floor` raised to it first (ccdproc's `min_value`). */
export function divideInPlace(
  target: Float32Array,
  divisor: Float32Array,
  options: { floor?: number } = {},
  start = 0,
  end = target.length,
): void {
  const floor = options.floor;
  if (floor === undefined) {
    for (let i = start; i < end; i++) target[i] /= divisor[i];
  } else {
    for (let i = start; i < end; i++) {
      const d = divisor[i];
      target[i] /= d < floor ? floor : d;
    }
  }
}

/** What {@link calibrateBand} applies; absent masters are skipped. */
export interface CalibrationTerms {
  bias?: Float32Array | null;
  dark?: Float32Array | null;
  /** t_light / t_dark */
  darkScale?: number;
  flat?: Float32Array | null;
  /** mean of the (floored) master flat */
  flatMean?: number;
  /** flat values below this are raised to it */
  flatFloor?: number;
  /** Values (before calibration) at or above this are saturated: set to NaN. */
  saturation?: number | null;
}

/**
 * light ← (light − bias − dark·darkScale) ÷ flat × flatMean over `[start, end)`,
 * and NaN where the value before calibration was at or above `saturation`.
 * The arithmetic is done in double precision, as ccdproc's float64 pipeline, then
 * stored. Returns how many pixels were saturated.
 */
export function calibrateBand(
  light: Float32Array,
  terms: CalibrationTerms,
  start = 0,
  end = light.length,
): number {
  const bias = terms.bias ?? null;
  const dark = terms.dark ?? null;
  const flat = terms.flat ?? null;
  const darkScale = terms.darkScale ?? 1;
  const flatMean = terms.flatMean ?? 1;
  const floor = terms.flatFloor ?? -Infinity;
  const level = terms.saturation ?? Infinity;
  let saturated = 0;
  for (let i = start; i < end; i++) {
    const raw = light[i];
    let v = raw;
    if (bias) v -= bias[i];
    if (dark) v -= dark[i] * darkScale;
    if (flat) {
      const f = flat[i] < floor ? floor : flat[i];
      v = v / (f / flatMean);
    }
    if (raw >= level) {
      v = NaN;
      saturated++;
    }
    light[i] = v;
  }
  return saturated;
}
