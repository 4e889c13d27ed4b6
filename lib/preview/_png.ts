/**
 * From a small float image to a PNG file: the linear stretch to 8-bit gray,
 * turned so FITS row 1 is at the bottom, encoded with fast-png, written atomically.
 *
 * @module
 */
import { StagedFile } from "../staged_file.ts";
import { encode } from "fast-png";
import type { ZScaleLimits } from "./zscale.ts";

/**
 * Gray levels of `image` (`width` × `height`, row 0 = FITS row 1) as PNG rows top
 * to bottom: `round(255 · (v − low) / (high − low))` clipped to 0–255; NaN pixels
 * take `nanGray`. With `high ≤ low` (a flat image) pixels above `low` are white,
 * the rest black.
 */
export function stretchToGray(
  image: Float32Array,
  width: number,
  height: number,
  limits: ZScaleLimits,
  nanGray: number,
): Uint8Array {
  const gray = new Uint8Array(width * height);
  const { low, high } = limits;
  const scale = high > low ? 255 / (high - low) : Infinity;
  for (let y = 0; y < height; y++) {
    // ds9 puts FITS row 1 at the bottom; PNG row 0 is the top.
    const source = (height - 1 - y) * width;
    const target = y * width;
    for (let x = 0; x < width; x++) {
      const v = image[source + x];
      let level: number;
      if (v !== v) level = nanGray;
      else if (v <= low) level = 0;
      else if (v >= high) level = 255;
      else level = Math.min(255, Math.floor((v - low) * scale + 0.5));
      gray[target + x] = level;
    }
  }
  return gray;
}

/** Encodes 8-bit gray levels as a PNG with tEXt chunks. */
export function encodeGrayPng(
  gray: Uint8Array,
  width: number,
  height: number,
  text: Record<string, string>,
): Uint8Array {
  return encode({ width, height, data: gray, depth: 8, channels: 1, text });
}

/**
 * Writes `bytes` to `path` atomically: into a temporary file in the same
 * directory, synced, then renamed over `path`, so a reader never sees a partial
 * preview. The error names `path`.
 */
export async function writeFileAtomic(path: string, bytes: Uint8Array): Promise<void> {
  let staged: StagedFile | null = null;
  try {
    staged = await StagedFile.open(path);
    let written = 0;
    while (written < bytes.length) written += await staged.file.write(bytes.subarray(written));
    await staged.commit();
  } catch (error) {
    await staged?.abort();
    throw new Error(`Cannot write preview ${path}: ${error instanceof Error ? error.message : error}`);
  }
}
