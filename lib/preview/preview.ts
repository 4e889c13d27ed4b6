/**
 * PNG previews of FITS images as ds9 shows them with "zscale": the image read in
 * row bands (never whole), block-averaged down to fit, stretched linearly between
 * the zscale limits of the full-resolution pixels, FITS row 1 at the bottom.
 *
 * @module
 */
import { FitsError, FitsImageReader } from "../fits/mod.ts";
import { BlockAverager, blockFactor } from "./_block_average.ts";
import { encodeGrayPng, stretchToGray, writeFileAtomic } from "./_png.ts";
import { ZScaleSampler } from "./_zscale_sampler.ts";
import { resolveZScaleOptions, zscale, type ZScaleLimits, type ZScaleOptions } from "./zscale.ts";

/** Largest side, in pixels, of each named preview. */
export const PREVIEW_SIZES: Readonly<{ thumbnail: number; large: number }> = Object.freeze({
  thumbnail: 256,
  large: 1024,
});

/** Bytes of float32 pixels read per band when `bandRows` is not given. */
const BAND_BYTES = 4 << 20;

/** How to make previews. */
export interface PreviewOptions {
  /** Zero-based HDU; default the first HDU with image data. A cube shows its first plane. */
  hdu?: number;
  /** zscale parameters; default astropy's. */
  zscale?: ZScaleOptions;
  /** Gray level (0–255) of a block with no finite pixel; default 0 (black). */
  nanGray?: number;
  /** Rows read per band; default as many as fit in 4 MiB of float32 pixels. */
  bandRows?: number;
}

/** One preview in memory. */
export interface RenderedPreview {
  /** The largest side it was asked to fit. */
  maxSize: number;
  /** Width of the PNG. */
  width: number;
  /** Height of the PNG. */
  height: number;
  /** Edge of the averaged blocks, in image pixels (1 = full resolution). */
  blockSize: number;
  /** The encoded 8-bit grayscale PNG. */
  png: Uint8Array;
}

/** Previews of one image, with what they were made from. */
export interface RenderedPreviews {
  /** NAXIS1 of the image. */
  imageWidth: number;
  /** NAXIS2 of the image. */
  imageHeight: number;
  /** zscale limits of the full-resolution pixels, mapped to gray 0 and 255. */
  limits: ZScaleLimits;
  /** One per requested size, in the order asked. */
  previews: RenderedPreview[];
}

/**
 * Renders zscale previews of a FITS image fitting each of `maxSizes` (pixels on
 * the longer side), reading the image once in row bands.
 *
 * Memory stays at one band, the zscale sample and the downsampled images: the
 * zscale limits come from the same pixels astropy's `ZScaleInterval` samples from
 * the whole image (see {@link zscale}). As that sample's stride depends on the
 * count of finite pixels, enough NaN or ±Infinity pixels to change it cost a
 * second read of the bands that hold sampled pixels. Each preview averages blocks of
 * `ceil(longer side / maxSize)` pixels square, leaving NaN and ±Infinity pixels
 * out of the mean (a block with none finite shows `nanGray`); it is never enlarged.
 * Gray is `round(255 · (mean − low) / (high − low))` clipped to 0–255, FITS row 1
 * in the bottom PNG row (as ds9 shows it); tEXt chunks name the file and the limits.
 *
 * @example
 * ```ts
 * import { renderPreviews } from "./mod.ts";
 * const { limits, previews } = await renderPreviews("night/r_0001.fits", [256, 1024]);
 * ```
 *
 * @throws {FitsError} naming the file when it cannot be read or has no finite pixel.
 */
export async function renderPreviews(
  fitsPath: string,
  maxSizes: number[],
  options: PreviewOptions = {},
): Promise<RenderedPreviews> {
  for (const maxSize of maxSizes) {
    if (!Number.isInteger(maxSize) || maxSize < 1) {
      throw new RangeError(`Invalid preview size for ${fitsPath}: ${maxSize} (expected a positive integer)`);
    }
  }
  const nanGray = options.nanGray ?? 0;
  if (!Number.isInteger(nanGray) || nanGray < 0 || nanGray > 255) {
    throw new RangeError(`Invalid "nanGray" for ${fitsPath}: ${nanGray} (expected 0-255)`);
  }
  const zscaleOptions = resolveZScaleOptions(options.zscale);

  const reader = await FitsImageReader.open(fitsPath, { hdu: options.hdu });
  try {
    const { width, height } = reader;
    const bandRows = options.bandRows ?? Math.max(1, Math.floor(BAND_BYTES / (width * 4)));
    if (!Number.isInteger(bandRows) || bandRows < 1) {
      throw new RangeError(`Invalid "bandRows" for ${fitsPath}: ${bandRows} (expected a positive integer)`);
    }
    const sampler = new ZScaleSampler(width, height, zscaleOptions.nSamples);
    const averagers = maxSizes.map((maxSize) =>
      new BlockAverager(width, height, blockFactor(width, height, maxSize))
    );
    const band = new Float32Array(Math.min(bandRows, height) * width);
    for (let y0 = 0; y0 < height; y0 += bandRows) {
      const rows = Math.min(bandRows, height - y0);
      await reader.readRows(y0, rows, band);
      sampler.addRows(band, rows);
      for (const averager of averagers) averager.addRows(band, rows);
    }
    const sample = await sampler.finish((y0, rows, out) => reader.readRows(y0, rows, out), band, bandRows);
    if (!sample) throw new FitsError(fitsPath, reader.hdu.index, "holds no finite pixel to preview");
    const limits = zscale(sample, zscaleOptions);

    const source = fitsPath.slice(fitsPath.lastIndexOf("/") + 1);
    const previews = averagers.map((averager, i): RenderedPreview => {
      const image = averager.finish();
      const gray = stretchToGray(image, averager.width, averager.height, limits, nanGray);
      const png = encodeGrayPng(gray, averager.width, averager.height, {
        Source: source,
        Comment:
          `zscale ${limits.low} to ${limits.high}; ${averager.factor}x${averager.factor} block mean; ` +
          `FITS row 1 at the bottom`,
      });
      return {
        maxSize: maxSizes[i],
        width: averager.width,
        height: averager.height,
        blockSize: averager.factor,
        png,
      };
    });
    return { imageWidth: width, imageHeight: height, limits, previews };
  } finally {
    reader.close();
  }
}

/** Where to write the previews of one image; either may be left out. */
export interface PreviewTargets {
  /** PNG path of the small preview ({@link PREVIEW_SIZES}.thumbnail on its longer side). */
  thumbnail?: string;
  /** PNG path of the large preview ({@link PREVIEW_SIZES}.large on its longer side). */
  large?: string;
}

/** {@link PreviewOptions}, and the sizes of the named previews. */
export interface WritePreviewsOptions extends PreviewOptions {
  /** Largest sides in pixels; default {@link PREVIEW_SIZES}. */
  sizes?: { thumbnail?: number; large?: number };
}

/** One preview written. */
export interface WrittenPreview {
  path: string;
  width: number;
  height: number;
  blockSize: number;
}

/** What {@link writePreviews} wrote. */
export interface WrittenPreviews {
  /** zscale limits of the full-resolution pixels, mapped to gray 0 and 255. */
  limits: ZScaleLimits;
  thumbnail?: WrittenPreview;
  large?: WrittenPreview;
}

/**
 * Writes the thumbnail and large zscale previews of a FITS image (see
 * {@link renderPreviews}), each atomically: to a temporary name in the same
 * directory, then renamed, so the web page never serves half a PNG.
 *
 * @example
 * ```ts
 * import { writePreviews } from "./mod.ts";
 * await writePreviews("night/r_0001.fits", {
 *   thumbnail: "night/previews/r_0001_thumb.png",
 *   large: "night/previews/r_0001.png",
 * });
 * ```
 *
 * @throws {FitsError} naming the FITS file when it cannot be read; an Error naming
 *   the PNG when it cannot be written.
 */
export async function writePreviews(
  fitsPath: string,
  targets: PreviewTargets,
  options: WritePreviewsOptions = {},
): Promise<WrittenPreviews> {
  const names = (["thumbnail", "large"] as const).filter((name) => targets[name] !== undefined);
  if (names.length === 0) {
    throw new TypeError(`No preview asked of ${fitsPath} (expected a thumbnail or large path)`);
  }
  const sizes = { ...PREVIEW_SIZES, ...options.sizes };
  const rendered = await renderPreviews(fitsPath, names.map((name) => sizes[name]), options);
  const written: WrittenPreviews = { limits: rendered.limits };
  for (const [i, name] of names.entries()) {
    const preview = rendered.previews[i];
    const path = targets[name]!;
    await writeFileAtomic(path, preview.png);
    written[name] = { path, width: preview.width, height: preview.height, blockSize: preview.blockSize };
  }
  return written;
}
