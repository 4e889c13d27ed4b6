/**
 * Reading image data: whole images or bands of rows, converted from the file's
 * big-endian integers or floats (with BZERO/BSCALE, BLANK → NaN) into Float32Array.
 * A band is one contiguous byte range, read with one positioned read.
 *
 * A truncated file opens: rows wholly in the file read as usual, rows the file
 * cut short are refused with a {@link FitsError} naming the file, the HDU and
 * the bytes missing, and {@link readImage} refuses an image with any row missing.
 *
 * @module
 */
import { FitsError } from "./errors.ts";
import {
  bytesMissing,
  type HduInfo,
  type HduTruncation,
  openProblem,
  readHdus,
  truncationProblem,
} from "./hdu.ts";
import type { Header } from "./header.ts";
import { convertBigEndian, type PixelEncoding } from "./encoding.ts";

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

/**
 * Reads rows of one image HDU. Open with {@link FitsImageReader.open}; close when done.
 * When the file is truncated (`hdu.truncated`), only rows below {@link completeRows} can be read.
 */
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
  /**
   * Rows (over all planes) wholly in the file: {@link rows} unless the file ends
   * inside the pixels, when reading a row from here on is refused.
   */
  readonly completeRows: number;
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
    const cut = hdu.truncated;
    this.completeRows = cut && !cut.pixelsComplete
      ? Math.floor(cut.presentBytes / (this.width * this.bytesPerPixel))
      : this.rows;
  }

  /**
   * Opens an image HDU read-only (the raw file is never written), also when the
   * file is truncated: see `hdu.truncated` and {@link completeRows}.
   */
  static async open(path: string, options: ReadImageOptions = {}): Promise<FitsImageReader> {
    const hdus = await readHdus(path, { allowMissingPixels: true });
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

  /** How the stored values become physical ones, for {@link convertBigEndian} on raw bytes. */
  get encoding(): PixelEncoding {
    return { bitpix: this.bitpix, bscale: this.#bscale, bzero: this.#bzero, blank: this.#blank };
  }

  /** Bytes one stored pixel takes. */
  get bytesPerPixel(): number {
    return Math.abs(this.bitpix) / 8;
  }

  /**
   * Reads the stored big-endian bytes of `rowCount` rows from row `y0` (0-based)
   * into `bytes` (length ≥ rowCount·width·bytesPerPixel), for decoding elsewhere.
   */
  async readRawRows(y0: number, rowCount: number, bytes: Uint8Array): Promise<void> {
    const byteLength = this.#checkRawRows(y0, rowCount, bytes);
    await this.#file.seek(this.hdu.dataOffset + y0 * this.width * this.bytesPerPixel, Deno.SeekMode.Start);
    let filled = 0;
    while (filled < byteLength) {
      const n = await this.#file.read(bytes.subarray(filled, byteLength));
      if (n === null) throw new FitsError(this.path, this.hdu.index, "file ended inside the data unit");
      filled += n;
    }
  }

  /**
   * {@link readRawRows} without leaving the thread: a page-cache read of a band
   * takes microseconds, less than the hop to an I/O thread and back. For threads
   * that do nothing else (the reduction's), not for one serving requests.
   */
  readRawRowsSync(y0: number, rowCount: number, bytes: Uint8Array): void {
    const byteLength = this.#checkRawRows(y0, rowCount, bytes);
    this.#file.seekSync(this.hdu.dataOffset + y0 * this.width * this.bytesPerPixel, Deno.SeekMode.Start);
    let filled = 0;
    while (filled < byteLength) {
      const n = this.#file.readSync(bytes.subarray(filled, byteLength));
      if (n === null) throw new FitsError(this.path, this.hdu.index, "file ended inside the data unit");
      filled += n;
    }
  }

  #checkRawRows(y0: number, rowCount: number, bytes: Uint8Array): number {
    if (y0 < 0 || rowCount < 0 || y0 + rowCount > this.rows) {
      throw new FitsError(
        this.path,
        this.hdu.index,
        `rows ${y0}..${y0 + rowCount - 1} outside 0..${this.rows - 1}`,
      );
    }
    if (y0 + rowCount > this.completeRows) this.#refuseMissingRows(y0, rowCount);
    const byteLength = rowCount * this.width * this.bytesPerPixel;
    if (bytes.length < byteLength) {
      throw new RangeError(`buffer holds ${bytes.length} bytes, ${byteLength} needed`);
    }
    return byteLength;
  }

  #refuseMissingRows(y0: number, rowCount: number): never {
    const whole = this.completeRows === 0
      ? "no row is whole"
      : `only rows 0..${this.completeRows - 1} are whole`;
    throw new FitsError(
      this.path,
      this.hdu.index,
      `rows ${y0}..${y0 + rowCount - 1} are not all in the file: truncated data, ` +
        `${bytesMissing(this.hdu.truncated!.missingBytes)} and ${whole} of ${this.rows}`,
    );
  }

  /**
   * Reads `rowCount` rows starting at row `y0` (0-based) into `out`
   * (length ≥ rowCount·width), applying BSCALE/BZERO and turning BLANK into NaN.
   */
  async readRows(y0: number, rowCount: number, out: Float32Array): Promise<void> {
    const count = rowCount * this.width;
    if (out.length < count) throw new RangeError(`output holds ${out.length} pixels, ${count} needed`);
    const byteLength = count * this.bytesPerPixel;
    if (this.#buffer.byteLength < byteLength) this.#buffer = new ArrayBuffer(byteLength);
    const bytes = new Uint8Array(this.#buffer, 0, byteLength);
    await this.readRawRows(y0, rowCount, bytes);
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

/** A whole image read into memory. */
export interface FitsImage {
  header: Header;
  data: Float32Array;
  width: number;
  height: number;
  /** NAXIS1..n */
  shape: number[];
  /**
   * Null for a whole data unit; otherwise the file lacks only the final block's
   * padding (`pixelsComplete` is always true here: an image with pixels missing is refused).
   */
  truncated: HduTruncation | null;
}

/**
 * Reads one image HDU whole into a Float32Array. Throws a {@link FitsError}
 * naming the file, HDU and bytes missing when the file ends inside the pixels;
 * a file missing only padding is read, with `truncated` set.
 */
export async function readImage(path: string, options: ReadImageOptions = {}): Promise<FitsImage> {
  const reader = await FitsImageReader.open(path, options);
  try {
    // Refused before reading anything: a whole image cannot come from a file that lacks some of it.
    if (reader.completeRows < reader.rows) {
      throw new FitsError(path, reader.hdu.index, truncationProblem(reader.hdu)!);
    }
    const data = await reader.readAll();
    return {
      header: reader.header,
      data,
      width: reader.width,
      height: reader.height,
      shape: reader.hdu.shape,
      truncated: reader.hdu.truncated,
    };
  } finally {
    reader.close();
  }
}
