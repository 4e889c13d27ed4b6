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
 * Calibrates `light` in place as `calibrateBand` does and writes each pixel's
 * propagated 1σ uncertainty to `error`, over `[start, end)`. `normalizedFlat`,
 * when given, holds `normalizeFlat`'s divisor for the same pixels.
 */
export function calibrateWithDeviation(
  light: Float32Array,
  error: Float32Array,
  terms: CalibrationTerms | null,
  deviation: DeviationTerms,
  start = 0,
  end = light.length,
  normalizedFlat?: Float64Array,
): void {
  const bias = terms?.bias ?? null;
  const dark = terms?.dark ?? null;
  const flat = terms?.flat ?? null;
  const darkScale = terms?.darkScale ?? 1;
  const flatMean = terms?.flatMean ?? 1;
  const floor = terms?.flatFloor ?? -Infinity;
  const biasError = bias ? deviation.biasError ?? null : null;
  const darkError = dark ? deviation.darkError ?? null : null;
  const flatError = flat ? deviation.flatError ?? null : null;
  const gain = deviation.gain;
  const readVariance = (deviation.readNoise / gain) ** 2;
  for (let i = start; i < end; i++) {
    const x = light[i];
    let v = bias ? x - bias[i] : x;
    const electrons = gain * v;
    let variance = (electrons > 0 ? electrons / (gain * gain) : 0) + readVariance;
    if (biasError) variance += biasError[i] * biasError[i];
    if (dark) {
      v -= dark[i] * darkScale;
      if (darkError) variance += (darkError[i] * darkScale) ** 2;
    }
    if (flat) {
      let f: number;
      if (normalizedFlat) f = normalizedFlat[i];
      else {
        const raised = flat[i] < floor ? floor : flat[i];
        f = raised / flatMean;
      }
      const left = variance / (f * f);
      if (flatError) {
        const sigmaF = flatError[i] / flatMean;
        variance = left + (v * sigmaF / (f * f)) ** 2;
      } else variance = left;
      v = v / f;
    }
    light[i] = v;
    error[i] = Math.sqrt(variance);
  }
}
