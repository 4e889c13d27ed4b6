/**
 * Reading image data: whole images or bands of rows, converted from the file's
 * big-endian integers or floats (with BZERO/BSCALE, BLANK → NaN) into Float32Array.
 * A band is one contiguous byte range, read with one positioned read.
 *
 * @module
 */
import { FitsError } from "./errors.ts";
import { type HduInfo, openProblem, readHdus } from "./hdu.ts";
import type { Header } from "./header.ts";

/** Which HDU to read. */
export interface ReadImageOptions {
  /** Zero-based HDU index; default the first HDU that holds image data. */
  hdu?: number;
}

/** Picks the image HDU: the one asked for, or the first with image data. */
export function selectImageHdu(hdus: HduInfo[], path: string, hdu?: number): HduInfo {
  if (hdu !== undefined) {
    const info = hdus[hdu];
    if (!info) throw new FitsError(path, hdu, `no such HDU (the file has ${hdus.length})`);
    if (info.type !== "PRIMARY" && info.type !== "IMAGE") {
      throw new FitsError(path, hdu, `is a ${info.type} extension, not an image`);
    }
    if (info.shape.length === 0) throw new FitsError(path, hdu, "holds no image data (NAXIS = 0)");
    return info;
  }
  const found = hdus.find((info) =>
    (info.type === "PRIMARY" || info.type === "IMAGE") && info.shape.length > 0
  );
  if (!found) throw new FitsError(path, null, "holds no image data");
  return found;
}

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Reads rows of one image HDU. Open with {@link FitsImageReader.open}; close when done. */
export class FitsImageReader {
  /** The file read. */
  readonly path: string;
  /** The image HDU's header. */
  readonly header: Header;
  /** Where the HDU is. */
  readonly hdu: HduInfo;
  /** NAXIS1. */
  readonly width: number;
  /** NAXIS2 (1 for a 1-D image). */
  readonly height: number;
  /** NAXIS3 and beyond multiplied (1 for a 2-D image); rows of plane p are p·height + y. */
  readonly depth: number;
  /** BITPIX of the stored data. */
  readonly bitpix: number;
  readonly #file: Deno.FsFile;
  readonly #bzero: number;
  readonly #bscale: number;
  readonly #blank: number | undefined;
  #buffer = new ArrayBuffer(0);

  private constructor(path: string, file: Deno.FsFile, hdu: HduInfo) {
    this.path = path;
    this.#file = file;
    this.hdu = hdu;
    this.header = hdu.header;
    this.bitpix = hdu.bitpix;
    this.width = hdu.shape[0];
    this.height = hdu.shape[1] ?? 1;
    this.depth = hdu.shape.slice(2).reduce((product, n) => product * n, 1);
    this.#bzero = hdu.header.getNumber("BZERO") ?? 0;
    this.#bscale = hdu.header.getNumber("BSCALE") ?? 1;
    this.#blank = hdu.bitpix > 0 ? hdu.header.getNumber("BLANK") : undefined;
  }

  /** Opens an image HDU read-only (the raw file is never written). */
  static async open(path: string, options: ReadImageOptions = {}): Promise<FitsImageReader> {
    const hdus = await readHdus(path);
    const hdu = selectImageHdu(hdus, path, options.hdu);
    let file: Deno.FsFile;
    try {
      file = await Deno.open(path, { read: true });
    } catch (error) {
      throw new FitsError(path, hdu.index, openProblem(error));
    }
    return new FitsImageReader(path, file, hdu);
  }

  /** Total rows over all planes. */
  get rows(): number {
    return this.height * this.depth;
  }

  /**
   * Reads `rowCount` rows starting at row `y0` (0-based) into `out`
   * (length ≥ rowCount·width), applying BSCALE/BZERO and turning BLANK into NaN.
   */
  async readRows(y0: number, rowCount: number, out: Float32Array): Promise<void> {
    if (y0 < 0 || rowCount < 0 || y0 + rowCount > this.rows) {
      throw new FitsError(
        this.path,
        this.hdu.index,
        `rows ${y0}..${y0 + rowCount - 1} outside 0..${this.rows - 1}`,
      );
    }
    const count = rowCount * this.width;
    if (out.length < count) throw new RangeError(`output holds ${out.length} pixels, ${count} needed`);
    const bytesPerPixel = Math.abs(this.bitpix) / 8;
    const byteLength = count * bytesPerPixel;
    if (this.#buffer.byteLength < byteLength) this.#buffer = new ArrayBuffer(byteLength);
    const bytes = new Uint8Array(this.#buffer, 0, byteLength);
    await this.#file.seek(this.hdu.dataOffset + y0 * this.width * bytesPerPixel, Deno.SeekMode.Start);
    let filled = 0;
    while (filled < byteLength) {
      const n = await this.#file.read(bytes.subarray(filled));
      if (n === null) throw new FitsError(this.path, this.hdu.index, "file ended inside the data unit");
      filled += n;
    }
    convertBigEndian(bytes, this.bitpix, out, count, this.#bscale, this.#bzero, this.#blank);
  }

  /** Reads the whole image (all planes). */
  async readAll(): Promise<Float32Array> {
    const out = new Float32Array(this.width * this.rows);
    // In bands, so the byte buffer stays small next to the output.
    const band = Math.max(1, Math.floor((8 << 20) / (this.width * 8)));
    for (let y = 0; y < this.rows; y += band) {
      const n = Math.min(band, this.rows - y);
      await this.readRows(y, n, out.subarray(y * this.width, (y + n) * this.width));
    }
    return out;
  }

  /** Closes the file. */
  close(): void {
    try {
      this.#file.close();
    } catch { /* already closed */ }
  }
}

/** Swaps bytes in place from big-endian words of `size` bytes to host order. */
function swapInPlace(bytes: Uint8Array, size: number): void {
  if (!LITTLE_ENDIAN) return;
  if (size === 2) {
    for (let i = 0; i < bytes.length; i += 2) {
      const a = bytes[i];
      bytes[i] = bytes[i + 1];
      bytes[i + 1] = a;
    }
  } else if (size === 4) {
    const words = new Uint32Array(bytes.buffer, bytes.byteOffset, bytes.length >>> 2);
    for (let i = 0; i < words.length; i++) {
      const x = words[i];
      words[i] = ((x & 0xff) << 24) | ((x & 0xff00) << 8) | ((x >>> 8) & 0xff00) | (x >>> 24);
    }
  } else if (size === 8) {
    for (let i = 0; i < bytes.length; i += 8) {
      for (let j = 0; j < 4; j++) {
        const a = bytes[i + j];
        bytes[i + j] = bytes[i + 7 - j];
        bytes[i + 7 - j] = a;
      }
    }
  }
}

/** Converts `count` big-endian pixels of `bitpix` in `bytes` (which it may overwrite) into `out`. */
export function convertBigEndian(
  bytes: Uint8Array,
  bitpix: number,
  out: Float32Array,
  count: number,
  bscale = 1,
  bzero = 0,
  blank?: number,
): void {
  const identity = bscale === 1 && bzero === 0;
  switch (bitpix) {
    case 8: {
      for (let i = 0; i < count; i++) {
        const v = bytes[i];
        out[i] = v === blank ? NaN : v * bscale + bzero;
      }
      return;
    }
    case 16: {
      if (blank === undefined && bscale === 1) {
        // The common camera case (uint16 via BZERO = 32768) without a multiply.
        for (let i = 0, j = 0; i < count; i++, j += 2) {
          out[i] = (((bytes[j] << 24) | (bytes[j + 1] << 16)) >> 16) + bzero;
        }
        return;
      }
      for (let i = 0, j = 0; i < count; i++, j += 2) {
        const v = ((bytes[j] << 24) | (bytes[j + 1] << 16)) >> 16;
        out[i] = v === blank ? NaN : v * bscale + bzero;
      }
      return;
    }
    case 32: {
      swapInPlace(bytes.subarray(0, count * 4), 4);
      const words = new Int32Array(bytes.buffer, bytes.byteOffset, count);
      for (let i = 0; i < count; i++) {
        const v = words[i];
        out[i] = v === blank ? NaN : v * bscale + bzero;
      }
      return;
    }
    case 64: {
      swapInPlace(bytes.subarray(0, count * 8), 8);
      const words = new BigInt64Array(bytes.buffer, bytes.byteOffset, count);
      const blankBig = blank === undefined ? undefined : BigInt(blank);
      for (let i = 0; i < count; i++) {
        const v = words[i];
        out[i] = v === blankBig ? NaN : Number(v) * bscale + bzero;
      }
      return;
    }
    case -32: {
      swapInPlace(bytes.subarray(0, count * 4), 4);
      const floats = new Float32Array(bytes.buffer, bytes.byteOffset, count);
      if (identity) out.set(floats);
      else for (let i = 0; i < count; i++) out[i] = floats[i] * bscale + bzero;
      return;
    }
    case -64: {
      swapInPlace(bytes.subarray(0, count * 8), 8);
      const doubles = new Float64Array(bytes.buffer, bytes.byteOffset, count);
      for (let i = 0; i < count; i++) out[i] = doubles[i] * bscale + bzero;
      return;
    }
    default:
      throw new RangeError(`bad BITPIX ${bitpix}`);
  }
}

/** A whole image read into memory. */
export interface FitsImage {
  header: Header;
  data: Float32Array;
  width: number;
  height: number;
  /** NAXIS1..n */
  shape: number[];
}

/** Reads one image HDU whole into a Float32Array. */
export async function readImage(path: string, options: ReadImageOptions = {}): Promise<FitsImage> {
  const reader = await FitsImageReader.open(path, options);
  try {
    const data = await reader.readAll();
    return {
      header: reader.header,
      data,
      width: reader.width,
      height: reader.height,
      shape: reader.hdu.shape,
    };
  } finally {
    reader.close();
  }
}
