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
}

/**
 * light ← (light − bias − dark·darkScale) ÷ flat × flatMean over `[start, end)`.
 * The arithmetic is done in double precision, as ccdproc's float64 pipeline, then
 * stored; a NaN (a saturated pixel) stays NaN. `normalizedFlat`, when given,
 * holds {@link normalizeFlat}'s values of the terms' flat over the same pixels
 * (worked out once for every light of a band): the same result, one division
 * a pixel fewer.
 */
export function calibrateBand(
  light: Float32Array,
  terms: CalibrationTerms,
  start = 0,
  end = light.length,
  normalizedFlat?: Float64Array,
): void {
  const bias = terms.bias ?? null;
  const dark = terms.dark ?? null;
  const flat = terms.flat ?? null;
  const darkScale = terms.darkScale ?? 1;
  const flatMean = terms.flatMean ?? 1;
  const floor = terms.flatFloor ?? -Infinity;
  if (flat && normalizedFlat) {
    for (let i = start; i < end; i++) {
      let v = light[i];
      if (bias) v -= bias[i];
      if (dark) v -= dark[i] * darkScale;
      light[i] = v / normalizedFlat[i];
    }
    return;
  }
  for (let i = start; i < end; i++) {
    let v = light[i];
    if (bias) v -= bias[i];
    if (dark) v -= dark[i] * darkScale;
    if (flat) {
      const f = flat[i] < floor ? floor : flat[i];
      v = v / (f / flatMean);
    }
    light[i] = v;
  }
}

/** max(flat, floor) ÷ flatMean over `[start, end)`, in double precision: the divisor {@link calibrateBand} uses. */
export function normalizeFlat(
  flat: Float32Array,
  flatMean: number,
  floor: number,
  out: Float64Array,
  start = 0,
  end = flat.length,
): void {
  for (let i = start; i < end; i++) {
    const f = flat[i] < floor ? floor : flat[i];
    out[i] = f / flatMean;
  }
}
