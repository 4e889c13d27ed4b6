/**
 * Bands of a frame as the reduction sees it: raw rows with the overscan level
 * subtracted and the trim section cut out when the header asks for it, either
 * as stored bytes for the pixel workers to decode ({@link FrameSource.readRawSync}
 * with its {@link FrameSource.layout}) or decoded here ({@link FrameSource.readBand}).
 *
 * A column strip's levels without a model are estimated row by row as the bands
 * are decoded; a row strip, or a model fitted along the strip, needs every
 * line's estimate first, so those levels are worked out as the frame is opened
 * (the strip's rows read once more).
 *
 * @module
 */
import { FitsImageReader, type Header, type PixelEncoding } from "../../lib/fits/mod.ts";
import {
  formatSection,
  history,
  MEDIAN_OVERSCAN,
  overscanAndTrimRows,
  type OverscanLevels,
  type OverscanMethod,
  type RawLayout,
  type Section,
  stripLevels,
  stripOrientation,
} from "../../lib/ccd/mod.ts";

/** What a source needs to know of its file. */
export interface FrameGeometry {
  path: string;
  hdu?: number;
  overscan?: Section | null;
  trim?: Section | null;
  /** How the overscan level is found (`Reduction: Overscan`); default the median of each line, no model. */
  overscanMethod?: OverscanMethod | null;
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

  private constructor(
    reader: FitsImageReader,
    overscan: Section | null,
    trim: Section | null,
    method: OverscanMethod,
    levels: OverscanLevels | null,
  ) {
    this.#reader = reader;
    this.path = reader.path;
    this.#overscan = overscan;
    this.#trim = trim ?? { x0: 0, x1: reader.width, y0: 0, y1: reader.height };
    this.#plain = !overscan && !trim;
    this.width = this.#trim.x1 - this.#trim.x0;
    this.height = this.#trim.y1 - this.#trim.y0;
    this.#layout = this.#plain
      ? null
      : { rawWidth: reader.width, overscan, trim: this.#trim, estimate: method.estimate, levels };
  }

  /**
   * Opens a frame; a row strip's or a modelled strip's levels are worked out
   * here. Throws when the overscan strip does not reach every row (column strip)
   * or column (row strip) that is kept.
   */
  static async open(geometry: FrameGeometry): Promise<FrameSource> {
    const reader = await FitsImageReader.open(geometry.path, { hdu: geometry.hdu });
    try {
      const overscan = geometry.overscan ?? null;
      const trim = geometry.trim ?? null;
      const method = geometry.overscanMethod ?? MEDIAN_OVERSCAN;
      const levels = overscan ? await precomputedLevels(reader, overscan, trim, method) : null;
      return new FrameSource(reader, overscan, trim, method, levels);
    } catch (error) {
      reader.close();
      throw error;
    }
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
    overscanAndTrimRows(this.#raw, rawWidth, rows, this.#overscan, this.#trim, out, this.#scratch, {
      estimate: this.#layout!.estimate,
      levels: this.#layout!.levels,
      firstRow: y0,
    });
  }

  /** Closes the file. */
  close(): void {
    this.#reader.close();
  }
}

/** Rows of the strip read at a time when its levels are worked out beforehand. */
const STRIP_ROWS = 256;

/**
 * The overscan levels of each kept row or column, when they must be known
 * before the bands (a row strip, or a model); null when the band task
 * estimates each row from its own overscan columns.
 */
async function precomputedLevels(
  reader: FitsImageReader,
  strip: Section,
  trim: Section | null,
  method: OverscanMethod,
): Promise<OverscanLevels | null> {
  const kept = trim ?? { x0: 0, x1: reader.width, y0: 0, y1: reader.height };
  const orientation = stripOrientation(strip);
  const section = formatSection(strip);
  if (orientation === "columns" && (kept.y0 < strip.y0 || kept.y1 > strip.y1)) {
    throw new Error(
      `BIASSEC ${section} does not cover rows ${kept.y0 + 1}-${kept.y1} of the image it is for`,
    );
  }
  if (orientation === "rows" && (kept.x0 < strip.x0 || kept.x1 > strip.x1)) {
    throw new Error(
      `BIASSEC ${section} does not cover columns ${kept.x0 + 1}-${kept.x1} of the image it is for`,
    );
  }
  if (orientation === "columns" && method.model === "none") return null;
  const stripWidth = strip.x1 - strip.x0;
  const stripRows = strip.y1 - strip.y0;
  const pixels = new Float32Array(stripWidth * stripRows);
  const rows = new Float32Array(Math.min(STRIP_ROWS, stripRows) * reader.width);
  for (let y = 0; y < stripRows; y += STRIP_ROWS) {
    const n = Math.min(STRIP_ROWS, stripRows - y);
    await reader.readRows(strip.y0 + y, n, rows);
    for (let r = 0; r < n; r++) {
      const from = r * reader.width + strip.x0;
      pixels.set(rows.subarray(from, from + stripWidth), (y + r) * stripWidth);
    }
  }
  const lines = stripLevels(pixels, stripWidth, stripRows, orientation, method);
  // Shared with the pixel workers, indexed by the kept row or column.
  const per = orientation === "columns" ? "row" : "column";
  const count = per === "row" ? kept.y1 - kept.y0 : kept.x1 - kept.x0;
  const first = per === "row" ? kept.y0 - strip.y0 : kept.x0 - strip.x0;
  const values = new Float64Array(new SharedArrayBuffer(count * 8));
  values.set(lines.subarray(first, first + count));
  return { per, values };
}

/** What {@link describeReadout} needs of a frame. */
export interface ReadoutGeometry {
  overscan: Section | null;
  trim: Section | null;
  rawWidth: number;
  rawHeight: number;
}

/** Words of a product's HISTORY for an overscan method: `median of each row`. */
function overscanWords(strip: Section, method: OverscanMethod): string {
  const line = stripOrientation(strip) === "columns" ? "row" : "column";
  const estimate = method.estimate === "clipped-mean" ? "3-sigma clipped mean" : method.estimate;
  const model = method.model === "none"
    ? ""
    : `, a polynomial of degree ${method.model.polynomial} fitted along the ${line}s,`;
  return `${estimate} of each ${line} of BIASSEC ${formatSection(strip)}${model}`;
}

/**
 * Makes a product's header (a copy of its first raw frame's) tell the truth of
 * the trimmed image: HISTORY cards for the overscan subtracted and the section
 * kept; `BIASSEC` and `TRIMSEC` removed (they pointed into the raw frame),
 * `DATASEC` now the whole image, and `CRPIXn`/`LTVn` moved by the trim's offset.
 */
export function describeReadout(
  header: Header,
  frame: ReadoutGeometry,
  method: OverscanMethod = MEDIAN_OVERSCAN,
): void {
  const { overscan, trim } = frame;
  if (overscan) {
    header.addHistory(history("subtract_overscan", `${overscanWords(overscan, method)} subtracted`));
  }
  if (trim) {
    const source = header.has("TRIMSEC") ? "TRIMSEC" : "DATASEC";
    header.addHistory(
      history(
        "trim_image",
        `${source} ${formatSection(trim)} kept of the ${frame.rawWidth}x${frame.rawHeight} raw frame`,
      ),
    );
    for (const [axis, offset] of [[1, trim.x0], [2, trim.y0]]) {
      if (offset === 0) continue;
      for (const key of [`CRPIX${axis}`, `LTV${axis}`]) {
        const value = header.getNumber(key);
        if (value !== undefined) header.set(key, value - offset, header.getComment(key));
      }
    }
  }
  header.delete("BIASSEC");
  header.delete("TRIMSEC");
  if (header.has("DATASEC") && (overscan || trim)) {
    const width = trim ? trim.x1 - trim.x0 : frame.rawWidth;
    const height = trim ? trim.y1 - trim.y0 : frame.rawHeight;
    header.set(
      "DATASEC",
      formatSection({ x0: 0, x1: width, y0: 0, y1: height }),
      header.getComment("DATASEC"),
    );
  }
}
