/**
 * Writing image HDUs: the header with the mandatory keywords in order, data
 * streamed band by band, block padding, DATASUM and CHECKSUM, all into a temporary
 * file that is renamed over the final name only when complete, so a crash never
 * leaves a half-written product under the final name.
 *
 * @module
 */
import { FitsError } from "./errors.ts";
import { StagedFile } from "../staged_file.ts";
import { BLOCK_SIZE, Header } from "./header.ts";
import { addSums, checksumOf, encodeChecksum, OnesComplementSum } from "./checksum.ts";
import { type Card, formatCard } from "./card.ts";
import { encodeFloat32BigEndian } from "./encoding.ts";

/** BITPIX values the writer produces. */
export type WriteBitpix = 8 | 16 | 32 | -32 | -64;

/** How to store the image. */
export interface WriteImageOptions {
  width: number;
  height: number;
  /** Planes for a 3-D cube (NAXIS3); default 1 (a 2-D image). */
  depth?: number;
  /** Stored type; default -32 (float32). */
  bitpix?: WriteBitpix;
  /** For BITPIX 16/32: store unsigned values with the BZERO convention (32768 / 2147483648). */
  unsigned?: boolean;
}

/** What a finished write produced. */
export interface WrittenImage {
  path: string;
  /** The CHECKSUM card's value. */
  checksum: string;
  /** The DATASUM card's value. */
  datasum: string;
}

/** Cards the writer owns: whatever the given header says about them is replaced. */
const STRUCTURAL = new Set([
  "SIMPLE",
  "XTENSION",
  "BITPIX",
  "NAXIS",
  "EXTEND",
  "PCOUNT",
  "GCOUNT",
  "BZERO",
  "BSCALE",
  "BLANK",
  "CHECKSUM",
  "DATASUM",
  "END",
]);

function isStructural(card: Card): boolean {
  return card.value !== undefined && (STRUCTURAL.has(card.key) || /^NAXIS\d+$/.test(card.key));
}

function timestamp(): string {
  return new Date().toISOString().slice(0, 19);
}

/**
 * Builds the header to write: mandatory cards first (a primary HDU's, or an
 * image extension's with `extension`), then the given cards, then the checksum pair.
 */
export function outputHeader(
  header: Header,
  options: Required<Omit<WriteImageOptions, "unsigned">>,
  unsigned: boolean,
  extension = false,
): Header {
  const axes = options.depth > 1
    ? [options.width, options.height, options.depth]
    : [options.width, options.height];
  const cards: Card[] = [
    extension
      ? { key: "XTENSION", value: "IMAGE", comment: "image extension" }
      : { key: "SIMPLE", value: true, comment: "conforms to FITS standard" },
    { key: "BITPIX", value: options.bitpix, comment: "array data type" },
    { key: "NAXIS", value: axes.length, comment: "number of array dimensions" },
    ...axes.map((n, i): Card => ({ key: `NAXIS${i + 1}`, value: n })),
    ...(extension
      ? [{ key: "PCOUNT", value: 0, comment: "number of parameters" }, {
        key: "GCOUNT",
        value: 1,
        comment: "number of groups",
      }]
      : [{ key: "EXTEND", value: true }]),
  ];
  if (unsigned) {
    // BSCALE before BZERO, where astropy puts them: it re-renders this part of the header when verifying.
    cards.push({ key: "BSCALE", value: 1 });
    cards.push({ key: "BZERO", value: options.bitpix === 16 ? 32768 : 2147483648 });
  }
  for (const card of header.cards) {
    if (!isStructural(card)) cards.push({ ...card, images: card.images ? [...card.images] : undefined });
  }
  const usesContinue = cards.some((card) =>
    card.images ? card.images.length > 1 : formatCard(card).length > 1 && card.value !== undefined
  );
  if (usesContinue && !cards.some((card) => card.key === "LONGSTRN")) {
    // fitsverify asks for this HEASARC keyword whenever CONTINUE long strings appear.
    cards.push({
      key: "LONGSTRN",
      value: "OGIP 1.0",
      comment: "The OGIP long string convention may be used",
    });
  }
  cards.push({ key: "CHECKSUM", value: "0000000000000000", comment: `HDU checksum updated ${timestamp()}` });
  cards.push({ key: "DATASUM", value: "0", comment: `data unit checksum updated ${timestamp()}` });
  return new Header(cards);
}

/** The staged file a FITS writer writes `path` through; a failure to create it is a {@link FitsError}. */
export async function stage(path: string): Promise<StagedFile> {
  try {
    return await StagedFile.open(path);
  } catch (error) {
    throw new FitsError(path, 0, error instanceof Error ? error.message : String(error));
  }
}

/** Streams one image HDU to disk. Create with {@link FitsImageWriter.create}, then `writeRows`, then `close`. */
export class FitsImageWriter {
  /** The final path. */
  readonly path: string;
  readonly #staged: StagedFile;
  readonly #file: Deno.FsFile;
  readonly #header: Header;
  readonly #bitpix: WriteBitpix;
  readonly #unsigned: boolean;
  readonly #width: number;
  readonly #totalPixels: number;
  #writtenPixels = 0;
  readonly #sum = new OnesComplementSum();
  #buffer = new ArrayBuffer(0);

  private constructor(staged: StagedFile, header: Header, options: Required<WriteImageOptions>) {
    this.path = staged.path;
    this.#staged = staged;
    this.#file = staged.file;
    this.#header = header;
    this.#bitpix = options.bitpix;
    this.#unsigned = options.unsigned;
    this.#width = options.width;
    this.#totalPixels = options.width * options.height * options.depth;
  }

  /** Starts writing `path` (as a temporary file beside it) with the given header's cards. */
  static async create(path: string, header: Header, options: WriteImageOptions): Promise<FitsImageWriter> {
    const full: Required<WriteImageOptions> = {
      width: options.width,
      height: options.height,
      depth: options.depth ?? 1,
      bitpix: options.bitpix ?? -32,
      unsigned: options.unsigned ?? false,
    };
    for (
      const [name, value] of [["width", full.width], ["height", full.height], ["depth", full.depth]] as const
    ) {
      if (!Number.isInteger(value) || value < 1) {
        throw new FitsError(path, 0, `${name} ${value} is not a positive integer`);
      }
    }
    if (![8, 16, 32, -32, -64].includes(full.bitpix)) {
      throw new FitsError(path, 0, `cannot write BITPIX ${full.bitpix}`);
    }
    if (full.unsigned && full.bitpix !== 16 && full.bitpix !== 32) {
      throw new FitsError(path, 0, "unsigned storage needs BITPIX 16 or 32");
    }
    const staged = await stage(path);
    const out = outputHeader(header, full, full.unsigned);
    const writer = new FitsImageWriter(staged, out, full);
    try {
      // The header is rewritten with the real checksums at close; its size does not change.
      await writer.#writeAll(out.toBytes());
    } catch (error) {
      await writer.abort();
      throw error;
    }
    return writer;
  }

  async #writeAll(bytes: Uint8Array): Promise<void> {
    let written = 0;
    while (written < bytes.length) written += await this.#file.write(bytes.subarray(written));
    this.#staged.wrote(bytes.length);
  }

  /** Appends pixels (whole rows, in order). Values are rounded and clamped for integer BITPIX. */
  async writeRows(rows: Float32Array): Promise<void> {
    if (this.#staged.finished) throw new FitsError(this.path, 0, "writer already closed");
    if (rows.length % this.#width !== 0) {
      throw new FitsError(
        this.path,
        0,
        `${rows.length} pixels is not a whole number of ${this.#width}-pixel rows`,
      );
    }
    if (this.#writtenPixels + rows.length > this.#totalPixels) {
      throw new FitsError(this.path, 0, `more pixels than the image holds (${this.#totalPixels})`);
    }
    if (this.#bitpix === -32) {
      // Encoding and checksumming in one pass over the words.
      const bytes = new Uint8Array(this.#scratch(rows.length * 4), 0, rows.length * 4);
      this.#sum.addWordSum(encodeFloat32BigEndian(rows, bytes));
      await this.#writeAll(bytes);
    } else {
      const bytes = this.#encode(rows);
      this.#sum.update(bytes);
      await this.#writeAll(bytes);
    }
    this.#writtenPixels += rows.length;
  }

  /**
   * Appends whole rows already encoded big-endian as the file's BITPIX (by
   * {@link encodeFloat32BigEndian}, perhaps in slices on other threads), with the
   * ones' complement sum of their words.
   */
  async writeEncoded(bytes: Uint8Array, sum: number): Promise<void> {
    this.#acceptEncoded(bytes, sum);
    await this.#writeAll(bytes);
  }

  /**
   * {@link writeEncoded} without leaving the thread (a page-cache write of a band
   * is faster than the hop to an I/O thread); for threads that do nothing else.
   */
  writeEncodedSync(bytes: Uint8Array, sum: number): void {
    this.#acceptEncoded(bytes, sum);
    let written = 0;
    while (written < bytes.length) written += this.#file.writeSync(bytes.subarray(written));
    this.#staged.wrote(bytes.length);
  }

  #acceptEncoded(bytes: Uint8Array, sum: number): void {
    if (this.#staged.finished) throw new FitsError(this.path, 0, "writer already closed");
    const pixelBytes = Math.abs(this.#bitpix) / 8;
    const pixels = bytes.length / pixelBytes;
    if (bytes.length % 4 !== 0 || pixels % this.#width !== 0) {
      throw new FitsError(this.path, 0, `${bytes.length} bytes is not a whole number of rows`);
    }
    if (this.#writtenPixels + pixels > this.#totalPixels) {
      throw new FitsError(this.path, 0, `more pixels than the image holds (${this.#totalPixels})`);
    }
    this.#sum.addWordSum(sum);
    this.#writtenPixels += pixels;
  }

  #scratch(byteLength: number): ArrayBuffer {
    if (this.#buffer.byteLength < byteLength) this.#buffer = new ArrayBuffer(byteLength);
    return this.#buffer;
  }

  #encode(rows: Float32Array): Uint8Array {
    const n = rows.length;
    switch (this.#bitpix) {
      case -64: {
        const view = new DataView(this.#scratch(n * 8), 0, n * 8);
        for (let i = 0; i < n; i++) view.setFloat64(i * 8, rows[i]);
        return new Uint8Array(view.buffer, 0, n * 8);
      }
      case 16: {
        const bytes = new Uint8Array(this.#scratch(n * 2), 0, n * 2);
        const offset = this.#unsigned ? 32768 : 0;
        for (let i = 0, j = 0; i < n; i++, j += 2) {
          const v = rows[i];
          let stored = (Number.isNaN(v) ? 0 : Math.round(v)) - offset;
          stored = stored < -32768 ? -32768 : stored > 32767 ? 32767 : stored;
          bytes[j] = (stored >> 8) & 0xff;
          bytes[j + 1] = stored & 0xff;
        }
        return bytes;
      }
      case 32: {
        const view = new DataView(this.#scratch(n * 4), 0, n * 4);
        const offset = this.#unsigned ? 2147483648 : 0;
        for (let i = 0; i < n; i++) {
          const v = rows[i];
          const value = Number.isNaN(v) ? 0 : Math.round(v);
          const stored = Math.min(2147483647, Math.max(-2147483648, value - offset));
          view.setInt32(i * 4, stored);
        }
        return new Uint8Array(view.buffer, 0, n * 4);
      }
      case 8: {
        const bytes = new Uint8Array(this.#scratch(n), 0, n);
        for (let i = 0; i < n; i++) {
          const v = rows[i];
          bytes[i] = Number.isNaN(v) ? 0 : Math.min(255, Math.max(0, Math.round(v)));
        }
        return bytes;
      }
      default: // -32 is encoded by encodeFloat32BigEndian
        throw new RangeError(`no encoder for BITPIX ${this.#bitpix}`);
    }
  }

  /** Pads the data, writes DATASUM and CHECKSUM, syncs, and renames the file to its final name. */
  async close(): Promise<WrittenImage> {
    if (this.#staged.finished) throw new FitsError(this.path, 0, "writer already closed");
    try {
      if (this.#writtenPixels !== this.#totalPixels) {
        throw new FitsError(
          this.path,
          0,
          `only ${this.#writtenPixels} of ${this.#totalPixels} pixels were written`,
        );
      }
      const dataBytes = this.#totalPixels * (Math.abs(this.#bitpix) / 8);
      const padding = (BLOCK_SIZE - (dataBytes % BLOCK_SIZE)) % BLOCK_SIZE;
      if (padding > 0) await this.#writeAll(new Uint8Array(padding));
      const datasum = this.#sum.value();
      this.#header.set("DATASUM", String(datasum));
      this.#header.set("CHECKSUM", "0000000000000000");
      const checksum = encodeChecksum(addSums(checksumOf(this.#header.toBytes()), datasum));
      this.#header.set("CHECKSUM", checksum);
      await this.#file.seek(0, Deno.SeekMode.Start);
      await this.#writeAll(this.#header.toBytes());
      await this.#staged.commit();
      return { path: this.path, checksum, datasum: String(datasum) };
    } catch (error) {
      await this.abort();
      if (error instanceof FitsError) throw error;
      throw new FitsError(this.path, 0, `write failed: ${error instanceof Error ? error.message : error}`);
    }
  }

  /** The temporary file written until `close`. */
  get tempPath(): string {
    return this.#staged.tempPath;
  }

  /** Abandons the write and removes the temporary file. */
  async abort(): Promise<void> {
    await this.#staged.abort();
  }
}

/** Writes a whole image in one call (atomically, with checksums). */
export async function writeImage(
  path: string,
  header: Header,
  data: Float32Array,
  options: WriteImageOptions,
): Promise<WrittenImage> {
  const writer = await FitsImageWriter.create(path, header, options);
  try {
    const rowsPerBand = Math.max(1, Math.floor((4 << 20) / (options.width * 8)));
    const total = options.width * options.height * (options.depth ?? 1);
    for (let start = 0; start < total; start += rowsPerBand * options.width) {
      await writer.writeRows(data.subarray(start, Math.min(total, start + rowsPerBand * options.width)));
    }
  } catch (error) {
    await writer.abort();
    throw error;
  }
  return await writer.close();
}

/** Verifies an HDU's DATASUM and CHECKSUM from its header and data bytes. */
export function verifyChecksums(headerBytes: Uint8Array, dataBytes: Uint8Array, header: Header): {
  datasumOk: boolean;
  checksumOk: boolean;
} {
  const datasum = checksumOf(dataBytes);
  const datasumOk = header.getString("DATASUM") === String(datasum);
  const total = addSums(checksumOf(headerBytes), datasum);
  return { datasumOk, checksumOk: total === 0xffffffff || total === 0 };
}
