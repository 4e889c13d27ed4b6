/**
 * Which pixels zscale looks at, shared by {@link zscale} on an array in memory and
 * the streamed sample of a FITS image: every `stride`-th finite pixel in file order
 * (row by row, FITS row 1 first), the first `nSamples` of them.
 *
 * @module
 */

/**
 * The step between sampled finite pixels: `int(max(1, finite / nSamples))`, as
 * astropy's `ZScaleInterval` takes it.
 */
export function sampleStride(finiteCount: number, nSamples: number): number {
  return Math.max(1, Math.floor(finiteCount / nSamples));
}

/** How many pixels the sample holds: the first `nSamples` of every `stride`-th finite pixel. */
export function sampleCount(finiteCount: number, nSamples: number): number {
  return Math.min(nSamples, Math.ceil(finiteCount / sampleStride(finiteCount, nSamples)));
}
