/**
 * FITS I/O (FITS Standard 4.0): headers, image HDUs read whole or as bands of
 * rows, streamed atomic writes with DATASUM/CHECKSUM.
 *
 * @example
 * ```ts
 * import { FitsImageReader } from "./mod.ts";
 * const reader = await FitsImageReader.open("night/bias_001.fits");
 * const band = new Float32Array(64 * reader.width);
 * await reader.readRows(0, 64, band);
 * reader.close();
 * ```
 *
 * @module
 */
export { type Card, type CardValue, formatCard, parseValue } from "./card.ts";
export { FitsError } from "./errors.ts";
export { BLOCK_SIZE, Header } from "./header.ts";
export {
  type HduInfo,
  type HduTruncation,
  type HduType,
  readHdus,
  type ReadHdusOptions,
  truncationProblem,
} from "./hdu.ts";
export { type FitsImage, FitsImageReader, readImage, type ReadImageOptions } from "./reader.ts";
export {
  FitsImageWriter,
  verifyChecksums,
  type WriteBitpix,
  writeImage,
  type WriteImageOptions,
  type WrittenImage,
} from "./writer.ts";
export { FitsMultiImageWriter, type HduPlan, type WrittenHdus } from "./multi_writer.ts";
export { addSums, checksumOf, encodeChecksum, positionedSum } from "./checksum.ts";
export { convertBigEndian, encodeFloat32BigEndian, type PixelEncoding } from "./encoding.ts";
export { sha256File } from "../file_hash.ts";
