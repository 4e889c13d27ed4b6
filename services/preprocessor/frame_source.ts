/**
 * Bands of a frame as the reduction sees it: raw rows with the overscan level
 * subtracted and the trim section cut out when the header asks for it, and the
 * saturated pixels flagged from the raw values.
 *
 * @module
 */
import { FitsImageReader, type PixelEncoding } from "../../lib/fits/mod.ts";
import { overscanAndTrimRows, saturationMask, type Section } from "../../lib/ccd/mod.ts";

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
  }

  /** Opens a frame. */
  static async open(geometry: FrameGeometry): Promise<FrameSource> {
    const reader = await FitsImageReader.open(geometry.path, { hdu: geometry.hdu });
    return new FrameSource(reader, geometry.overscan ?? null, geometry.trim ?? null);
  }

  /**
   * How the stored bytes decode, when bands can be read raw with {@link readRaw}
   * (no overscan or trim); null when bands must go through {@link readBand}.
   */
  get rawEncoding(): PixelEncoding | null {
    return this.#plain ? this.#reader.encoding : null;
  }

  /** Bytes one stored pixel takes. */
  get bytesPerPixel(): number {
    return this.#reader.bytesPerPixel;
  }

  /**
   * Reads the stored big-endian bytes of `rows` rows from row `y0` (frames without
   * overscan or trim), on this thread: the reduction runs on a thread of its own.
   */
  readRawSync(y0: number, rows: number, bytes: Uint8Array): void {
    if (!this.#plain) throw new Error(`${this.path}: a trimmed frame has no raw bands`);
    this.#reader.readRawRowsSync(y0, rows, bytes);
  }

  /**
   * Reads `rows` rows from row `y0` (of the trimmed frame) into `out`. With
   * `saturation`, pixels whose raw value is at or above the level are flagged in its mask.
   */
  async readBand(
    y0: number,
    rows: number,
    out: Float32Array,
    saturation?: { level: number; mask: Uint8Array },
  ): Promise<void> {
    if (this.#plain) {
      await this.#reader.readRows(y0, rows, out);
      if (saturation) {
        saturation.mask.fill(0, 0, rows * this.width);
        saturationMask(out, saturation.level, saturation.mask, 0, rows * this.width);
      }
      return;
    }
    const rawWidth = this.#reader.width;
    if (this.#raw.length < rows * rawWidth) this.#raw = new Float32Array(rows * rawWidth);
    if (this.#scratch.length < rawWidth) this.#scratch = new Float64Array(rawWidth);
    await this.#reader.readRows(this.#trim.y0 + y0, rows, this.#raw);
    if (saturation) {
      saturation.mask.fill(0, 0, rows * this.width);
      for (let r = 0; r < rows; r++) {
        for (let x = 0; x < this.width; x++) {
          if (this.#raw[r * rawWidth + this.#trim.x0 + x] >= saturation.level) {
            saturation.mask[r * this.width + x] = 1;
          }
        }
      }
    }
    overscanAndTrimRows(this.#raw, rawWidth, rows, this.#overscan, this.#trim, out, this.#scratch);
  }

  /** Closes the file. */
  close(): void {
    this.#reader.close();
  }
}
