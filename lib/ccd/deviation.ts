/**
 * The uncertainty (1σ, in ADU) of a calibrated frame, made and carried through
 * the calibration as ccdproc's `create_deviation` and astropy's arithmetic on
 * `StdDevUncertainty` (uncorrelated operands) do it, in place and allocation-free.
 *
 * For a pixel x (ADU, after overscan and trim), a gain g (e⁻/ADU) and a read
 * noise RN (e⁻), with the masters B, D, F and their uncertainties σ_B, σ_D, σ_F:
 *
 *   σ₀² = max(g·(x − B), 0) / g² + (RN / g)²      create_deviation of the signal above the bias
 *   v   = x − B − s·D                              subtract_bias, subtract_dark (s = t_light / t_dark)
 *   σ₁² = σ₀² + σ_B² + (s·σ_D)²
 *   f   = max(F, floor) / mean,  σ_f = σ_F / mean   the flat normalized (min_value, then divided by its mean)
 *   v'  = v / f,  σ² = (σ₁ / f)² + (v·σ_f / f²)²    flat_correct
 *
 * The Poisson term is that of the signal above the master bias (create_deviation
 * applied after subtract_bias, the bias's own σ_B then added in quadrature):
 * ccdproc's `ccd_process` makes the deviation before the bias is subtracted,
 * which counts the bias level as photons unless an overscan has removed it (a
 * frame of ~1000 ADU pedestal would get √(1000·g)/g ADU of noise it does not
 * have). Negative signal counts as none (`disregard_nan=True`): the read noise alone.
 *
 * @module
 */
import type { CalibrationTerms } from "./arithmetic.ts";

/** What {@link calibrateWithDeviation} needs beyond the calibration itself. */
export interface DeviationTerms {
  /** e⁻ per ADU (`GAIN`). */
  gain: number;
  /** e⁻ (`RDNOISE`). */
  readNoise: number;
  /** The master bias's uncertainty band (ADU), or none. */
  biasError?: Float32Array | null;
  /** The master dark's uncertainty band (ADU, before scaling), or none. */
  darkError?: Float32Array | null;
  /** The master flat's uncertainty band (its own units, before normalizing), or none. */
  flatError?: Float32Array | null;
}

/**
 * What the lights of a band share of their uncertainty's arithmetic, worked out
 * once per band for the masters they have in common (see {@link prepareDeviation}).
 */
export interface PreparedDeviation {
  /** σ_B² + (s·σ_D)² per pixel, or null when neither master has an uncertainty. */
  masterVariance: Float64Array | null;
  /** 1 / f² per pixel (f the normalized, floored flat), or null without a flat. */
  inverseFlatSquared: Float64Array | null;
  /** (σ_F / mean) / f² per pixel, or null without a flat's uncertainty. */
  flatTerm: Float64Array | null;
}

/**
 * Works out, over `[start, end)`, the terms every light calibrated with these
 * masters (and this dark scale) shares, into the `scratch` arrays (each at least
 * `end` long); `normalizedFlat` is `normalizeFlat`'s divisor for the same pixels.
 */
export function prepareDeviation(
  terms: CalibrationTerms | null,
  deviation: DeviationTerms,
  normalizedFlat: Float64Array | null,
  scratch: { variance: Float64Array; inverse: Float64Array; flat: Float64Array },
  start: number,
  end: number,
): PreparedDeviation {
  const biasError = terms?.bias ? deviation.biasError ?? null : null;
  const darkError = terms?.dark ? deviation.darkError ?? null : null;
  const flat = terms?.flat ?? null;
  const flatError = flat ? deviation.flatError ?? null : null;
  const darkScale = terms?.darkScale ?? 1;
  const flatMean = terms?.flatMean ?? 1;
  const floor = terms?.flatFloor ?? -Infinity;
  let masterVariance: Float64Array | null = null;
  if (biasError || darkError) {
    masterVariance = scratch.variance;
    for (let i = start; i < end; i++) {
      const b = biasError ? biasError[i] : 0;
      const d = darkError ? darkError[i] * darkScale : 0;
      masterVariance[i] = b * b + d * d;
    }
  }
  let inverseFlatSquared: Float64Array | null = null;
  let flatTerm: Float64Array | null = null;
  if (flat) {
    inverseFlatSquared = scratch.inverse;
    if (flatError) flatTerm = scratch.flat;
    for (let i = start; i < end; i++) {
      const f = normalizedFlat ? normalizedFlat[i] : (flat[i] < floor ? floor : flat[i]) / flatMean;
      const inverse = 1 / (f * f);
      inverseFlatSquared[i] = inverse;
      if (flatTerm) flatTerm[i] = (flatError![i] / flatMean) * inverse;
    }
  }
  return { masterVariance, inverseFlatSquared, flatTerm };
}

/**
 * Calibrates `light` in place as `calibrateBand` does and writes each pixel's
 * propagated 1σ uncertainty to `error`, over `[start, end)`; with `mask`, ORs
 * `badBit` where the calibrated value is not finite. `normalizedFlat`, when
 * given, holds `normalizeFlat`'s divisor for the same pixels, and `prepared`
 * the terms {@link prepareDeviation} worked out for them (made here when absent).
 */
export function calibrateWithDeviation(
  light: Float32Array,
  error: Float32Array,
  terms: CalibrationTerms | null,
  deviation: DeviationTerms,
  start = 0,
  end = light.length,
  options: {
    normalizedFlat?: Float64Array | null;
    prepared?: PreparedDeviation;
    mask?: Uint8Array | null;
    badBit?: number;
  } = {},
): void {
  const bias = terms?.bias ?? null;
  const dark = terms?.dark ?? null;
  const flat = terms?.flat ?? null;
  const darkScale = terms?.darkScale ?? 1;
  const flatMean = terms?.flatMean ?? 1;
  const floor = terms?.flatFloor ?? -Infinity;
  const normalizedFlat = options.normalizedFlat ?? null;
  const prepared = options.prepared ?? prepareDeviation(
    terms,
    deviation,
    normalizedFlat,
    {
      variance: new Float64Array(end),
      inverse: new Float64Array(end),
      flat: new Float64Array(end),
    },
    start,
    end,
  );
  const { masterVariance, inverseFlatSquared, flatTerm } = prepared;
  const mask = options.mask ?? null;
  const badBit = options.badBit ?? 1;
  const gain = deviation.gain;
  const perElectron = 1 / (gain * gain);
  const readVariance = (deviation.readNoise / gain) ** 2;
  if (bias && dark && normalizedFlat && masterVariance && flatTerm && mask) {
    // The usual light (every master with its uncertainty, a mask): one loop without a branch to predict.
    const inverse = inverseFlatSquared!;
    for (let i = start; i < end; i++) {
      const signal = light[i] - bias[i];
      const v = signal - dark[i] * darkScale;
      const t = v * flatTerm[i];
      const r = v / normalizedFlat[i];
      const variance =
        (Math.max(gain * signal, 0) * perElectron + readVariance + masterVariance[i]) * inverse[i] +
        t * t;
      light[i] = r;
      error[i] = Math.sqrt(variance);
      if (r - r !== 0) mask[i] |= badBit;
    }
    return;
  }
  for (let i = start; i < end; i++) {
    const x = light[i];
    let v = bias ? x - bias[i] : x;
    const electrons = gain * v;
    let variance = (electrons > 0 ? electrons * perElectron : 0) + readVariance;
    if (masterVariance) variance += masterVariance[i];
    if (dark) v -= dark[i] * darkScale;
    if (flat) {
      // The same division calibrateBand does, so the values are the same to the bit.
      const r = normalizedFlat ? v / normalizedFlat[i] : v / ((flat[i] < floor ? floor : flat[i]) / flatMean);
      variance *= inverseFlatSquared![i];
      if (flatTerm) {
        const t = v * flatTerm[i];
        variance += t * t;
      }
      v = r;
    }
    light[i] = v;
    error[i] = Math.sqrt(variance);
    if (mask && v - v !== 0) mask[i] |= badBit;
  }
}
