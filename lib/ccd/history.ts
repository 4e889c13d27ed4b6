/**
 * The HISTORY text each calibration step leaves on its product, so a product
 * explains how it was made (ccdproc logs each operation the same way).
 *
 * @module
 */

/** Formats a step's HISTORY text, e.g. `history("subtract_bias", "master_bias.fits")`. */
export function history(step: string, details: string): string {
  return `${step}: ${details}`;
}
