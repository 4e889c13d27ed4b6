/**
 * Previews of FITS products for the operators' web page: zscale display limits
 * (as ds9 and astropy's `ZScaleInterval` compute them) and 8-bit grayscale PNGs,
 * streamed from the file in row bands, oriented as ds9 shows them.
 *
 * @example
 * ```ts
 * import { writePreviews } from "./mod.ts";
 * const { limits } = await writePreviews("night/r_0001.fits", {
 *   thumbnail: "night/previews/r_0001_thumb.png",
 *   large: "night/previews/r_0001.png",
 * });
 * ```
 *
 * @module
 */
export { zscale, ZSCALE_DEFAULTS, type ZScaleLimits, type ZScaleOptions } from "./zscale.ts";
export {
  PREVIEW_SIZES,
  type PreviewOptions,
  type PreviewTargets,
  type RenderedPreview,
  type RenderedPreviews,
  renderPreviews,
  writePreviews,
  type WritePreviewsOptions,
  type WrittenPreview,
  type WrittenPreviews,
} from "./preview.ts";
