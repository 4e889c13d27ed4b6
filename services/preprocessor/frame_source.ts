/**
 * Bands of a frame as the reduction sees it: raw rows with the overscan level
 * subtracted and the trim section cut out when the header asks for it, either
 * as stored bytes for the pixel workers to decode ({@link FrameSource.readRawSync}
 * with its {@link FrameSource.layout}) or decoded here ({@link FrameSource.readBand}).
 *
 * @module
 */
import { FitsImageReader, type PixelEncoding } from "../../lib/fits/mod.ts";
import { overscanAndTrimRows, type RawLayout, type Section } from "../../lib/ccd/mod.ts";

/** What a source needs to know of its file. */
export interface FrameGeometry {
  path: string;
  hdu?: number;
  overscan?: Section | null;
  trim?: Section | null;
}

/** Reads bands of one frame, read-only. */
export class FrameSource {
  readonly path: string;
  /** Width after trimming. */
  readonly width: number;
  /** Height after trimming. */
  readonly height: number;
  readonly #reader: FitsImageReader;
  readonly #overscan: Section | null;
  readonly #trim: Section;
  readonly #plain: boolean;
  readonly #layout: RawLayout | null;
  #raw = new Float32Array(0);
  #scratch = new Float64Array(0);

  private constructor(reader: FitsImageReader, overscan: Section | null, trim: Section | null) {
    this.#reader = reader;
    this.path = reader.path;
    this.#overscan = overscan;
    this.#trim = trim ?? { x0: 0, x1: reader.width, y0: 0, y1: reader.height };
    this.#plain = !overscan && !trim;
    this.width = this.#trim.x1 - this.#trim.x0;
    this.height = this.#trim.y1 - this.#trim.y0;
    this.#layout = this.#plain ? null : { rawWidth: reader.width, overscan, trim: this.#trim };
  }

  /** Opens a frame. */
  static async open(geometry: FrameGeometry): Promise<FrameSource> {
    const reader = await FitsImageReader.open(geometry.path, { hdu: geometry.hdu });
    return new FrameSource(reader, geometry.overscan ?? null, geometry.trim ?? null);
  }

  /** How the stored bytes decode. */
  get encoding(): PixelEncoding {
    return this.#reader.encoding;
  }

  /** How stored rows map to bands (overscan, trim); null when a stored row is a band row. */
  get layout(): RawLayout | null {
    return this.#layout;
  }

  /** Bytes of one stored row. */
  get rawRowBytes(): number {
    return this.#reader.width * this.#reader.bytesPerPixel;
  }

  /**
   * Reads the stored big-endian bytes of the stored rows behind band rows
   * `[y0, y0+rows)`, on this thread: the reduction runs on a thread of its own.
   */
  readRawSync(y0: number, rows: number, bytes: Uint8Array): void {
    this.#reader.readRawRowsSync(this.#trim.y0 + y0, rows, bytes);
  }

  /** File bytes `[start, end)` holding the stored rows behind the band rows (the rest is header and padding). */
  get storedRange(): { start: number; end: number } {
    const start = this.#reader.hdu.dataOffset + this.#trim.y0 * this.rawRowBytes;
    return { start, end: start + this.height * this.rawRowBytes };
  }

  /** Reads the file's bytes `[start, end)`, or to its end (the header and padding around the rows). */
  readFileBytesSync(start: number, end?: number): Uint8Array {
    using file = Deno.openSync(this.path, { read: true });
    const size = end ?? file.statSync().size;
    const bytes = new Uint8Array(Math.max(0, size - start));
    file.seekSync(start, Deno.SeekMode.Start);
    let filled = 0;
    while (filled < bytes.length) {
      const n = file.readSync(bytes.subarray(filled));
      if (n === null) break;
      filled += n;
    }
    return bytes.subarray(0, filled);
  }

  /** Reads `rows` rows from row `y0` (of the trimmed frame) into `out`, decoded on this thread. */
  async readBand(y0: number, rows: number, out: Float32Array): Promise<void> {
    if (this.#plain) {
      await this.#reader.readRows(y0, rows, out);
      return;
    }
    const rawWidth = this.#reader.width;
    if (this.#raw.length < rows * rawWidth) this.#raw = new Float32Array(rows * rawWidth);
    if (this.#scratch.length < rawWidth) this.#scratch = new Float64Array(rawWidth);
    await this.#reader.readRows(this.#trim.y0 + y0, rows, this.#raw);
    overscanAndTrimRows(this.#raw, rawWidth, rows, this.#overscan, this.#trim, out, this.#scratch);
  }

  /** Closes the file. */
  close(): void {
    this.#reader.close();
  }
}
