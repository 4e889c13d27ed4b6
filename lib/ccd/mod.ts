/**
 * CCD reduction kernels: pure functions on Float32Array bands (combine,
 * arithmetic, overscan, saturation, statistics), and a worker pool that runs
 * them on every core over SharedArrayBuffers. Nothing here knows files or databases.
 *
 * @module
 */
export {
  type ClipCenter,
  combineBand,
  type CombineMethod,
  type CombineOptions,
  MAD_TO_SIGMA,
  type MinMaxClipOptions,
  type SigmaClipOptions,
} from "./combine.ts";
export { calibrateBand, type CalibrationTerms, divideInPlace, normalizeFlat } from "./arithmetic.ts";
export { calibrateWithDeviation, type DeviationTerms } from "./deviation.ts";
export { medianOf } from "./stats.ts";
export {
  BLOCK,
  blockMedians,
  countFlagged,
  flagHot,
  flagLowResponse,
  LOW_RESPONSE_BIT,
  sampleDeviations,
  sampleMedian,
} from "./bad_pixels.ts";
export { StreamingMedian } from "./streaming_median.ts";
export { formatSection, parseSection, type Section, SectionError } from "./section.ts";
export {
  fitPolynomial,
  MEDIAN_OVERSCAN,
  type OverscanAndTrimOptions,
  overscanAndTrimRows,
  type OverscanEstimate,
  overscanEstimate,
  overscanLevel,
  type OverscanLevels,
  type OverscanMethod,
  type OverscanModel,
  type OverscanStrip,
  stripLevels,
  stripOrientation,
} from "./overscan.ts";
export { flagSaturation, saturate, SATURATED_BIT, saturationMask } from "./saturation.ts";
export { history } from "./history.ts";
export {
  BAD_PIXEL_BIT,
  type BandCombine,
  type BandDeviation,
  type BandInput,
  type BandMask,
  type BandSliceResult,
  type BandTask,
  HISTOGRAM_BINS,
  type HistogramPass,
  PIECE_INPUT_PIXELS,
  type RawLayout,
  runBandSlice,
  runBandSliceInPieces,
} from "./band_task.ts";
export { createPixelPool, type PixelPool, type PoolDigest, sharedFloat32 } from "./pool.ts";
