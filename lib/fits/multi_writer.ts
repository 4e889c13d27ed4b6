/**
 * Writing a file of several image HDUs (a science image with its mask and
 * uncertainty, say), each streamed band by band in any interleaving: every
 * HDU's place in the file is known from its size before the first pixel, so a
 * band of each is written where it belongs as it is made. Each HDU gets its own
 * DATASUM and CHECKSUM; the file is written to a temporary name and renamed
 * into place only when complete, as {@link FitsImageWriter} does.
 *
 * @example
 * ```ts
 * import { FitsMultiImageWriter, Header } from "./mod.ts";
 * const sci = new Header([{ key: "EXTNAME", value: "SCI" }]);
 * const bpm = new Header([{ key: "EXTNAME", value: "BPM" }]);
 * const writer = await FitsMultiImageWriter.create("/tmp/product.fits", [
 *   { header: sci, width: 4, height: 2 },
 *   { header: bpm, width: 4, height: 2, bitpix: 8 },
 * ]);
 * writer.writeRowsSync(1, new Float32Array(8));
 * writer.writeRowsSync(0, new Float32Array(8));
 * await writer.close();
 * ```
 *
 * @module
 */
import { FitsError } from "./errors.ts";
import { BLOCK_SIZE, type Header } from "./header.ts";
import { addSums, checksumOf, encodeChecksum, positionedSum } from "./checksum.ts";
import { encodeFloat32BigEndian } from "./encoding.ts";
import { outputHeader, stage, type WriteImageOptions } from "./writer.ts";
import type { StagedFile } from "../staged_file.ts";

/** One image HDU of a file: its cards (the writer adds the mandatory ones) and how its image is stored. */
export interface HduPlan extends WriteImageOptions {
  header: Header;
}

/** What a finished write produced: each HDU's CHECKSUM and DATASUM, in order. */
export interface WrittenHdus {
  path: string;
  checksums: string[];
  datasums: string[];
}

interface HduState {
  header: Header;
  headerOffset: number;
  dataOffset: number;
  width: number;
  bitpix: number;
  pixelBytes: number;
  dataBytes: number;
  written: number;
  /** The ones' complement sum of the data written so far. */
  sum: number;
}

function padded(bytes: number): number {
  return Math.ceil(bytes / BLOCK_SIZE) * BLOCK_SIZE;
}

/** Streams several image HDUs into one file. Create, write each HDU's rows in order, then close. */
export class FitsMultiImageWriter {
  /** The final path. */
  readonly path: string;
  readonly #staged: StagedFile;
  readonly #file: Deno.FsFile;
  readonly #hdus: HduState[];

  private constructor(staged: StagedFile, hdus: HduState[]) {
    this.path = staged.path;
    this.#staged = staged;
    this.#file = staged.file;
    this.#hdus = hdus;
  }

  /** The temporary file written until `close`. */
  get tempPath(): string {
    return this.#staged.tempPath;
  }

  /** Starts writing `path` (as a temporary file beside it): the first plan is the primary HDU, the rest image extensions. */
  static async create(path: string, plans: HduPlan[]): Promise<FitsMultiImageWriter> {
    if (plans.length === 0) throw new FitsError(path, 0, "a file needs at least one HDU");
    const hdus: HduState[] = [];
    let offset = 0;
    for (const [index, plan] of plans.entries()) {
      const full = {
        width: plan.width,
        height: plan.height,
        depth: plan.depth ?? 1,
        bitpix: plan.bitpix ?? -32,
      };
      for (const [name, value] of [["width", full.width], ["height", full.height], ["depth", full.depth]]) {
        if (!Number.isInteger(value) || (value as number) < 1) {
          throw new FitsError(path, index, `${name} ${value} is not a positive integer`);
        }
      }
      if (![8, 16, 32, -32, -64].includes(full.bitpix)) {
        throw new FitsError(path, index, `cannot write BITPIX ${full.bitpix}`);
      }
      const unsigned = plan.unsigned ?? false;
      if (unsigned && full.bitpix !== 16 && full.bitpix !== 32) {
        throw new FitsError(path, index, "unsigned storage needs BITPIX 16 or 32");
      }
      const header = outputHeader(plan.header, full as Required<WriteImageOptions>, unsigned, index > 0);
      const headerBytes = header.toBytes().length;
      const pixelBytes = Math.abs(full.bitpix) / 8;
      const dataBytes = full.width * full.height * full.depth * pixelBytes;
      hdus.push({
        header,
        headerOffset: offset,
        dataOffset: offset + headerBytes,
        width: full.width,
        bitpix: full.bitpix,
        pixelBytes,
        dataBytes,
        written: 0,
        sum: 0,
      });
      offset += headerBytes + padded(dataBytes);
    }
    const staged = await stage(path);
    const writer = new FitsMultiImageWriter(staged, hdus);
    try {
      // The whole file's length at once: every data unit's padding is then the zeros FITS asks for.
      await staged.file.truncate(offset);
      for (const hdu of hdus) writer.#writeAt(hdu.headerOffset, hdu.header.toBytes());
    } catch (error) {
      await writer.abort();
      throw error;
    }
    return writer;
  }

  #writeAt(position: number, bytes: Uint8Array): void {
    this.#file.seekSync(position, Deno.SeekMode.Start);
    let written = 0;
    while (written < bytes.length) written += this.#file.writeSync(bytes.subarray(written));
    this.#staged.wrote(bytes.length);
  }

  /**
   * Appends whole rows of HDU `index`, already encoded big-endian as its BITPIX,
   * with their ones' complement sum when known (worked out here otherwise): the
   * sum of the bytes as they lie in the data unit (`positionedSum` at the HDU's
   * bytes written so far; for whole words at a word boundary, their plain word sum).
   */
  writeEncodedSync(index: number, bytes: Uint8Array, sum?: number): void {
    if (this.#staged.finished) throw new FitsError(this.path, index, "writer already closed");
    const hdu = this.#hdus[index];
    if (!hdu) throw new FitsError(this.path, index, `no such HDU (the file has ${this.#hdus.length})`);
    if (bytes.length % (hdu.width * hdu.pixelBytes) !== 0) {
      throw new FitsError(this.path, index, `${bytes.length} bytes is not a whole number of rows`);
    }
    if (hdu.written + bytes.length > hdu.dataBytes) {
      throw new FitsError(this.path, index, `more pixels than the image holds (${hdu.dataBytes} bytes)`);
    }
    hdu.sum = addSums(hdu.sum, sum ?? positionedSum(bytes, 0, bytes.length, hdu.written));
    this.#writeAt(hdu.dataOffset + hdu.written, bytes);
    hdu.written += bytes.length;
  }

  /** Appends whole rows of HDU `index` (BITPIX -32 or 8: values rounded and clamped to 0-255). */
  writeRowsSync(index: number, rows: Float32Array): void {
    const hdu = this.#hdus[index];
    if (!hdu) throw new FitsError(this.path, index, `no such HDU (the file has ${this.#hdus.length})`);
    if (hdu.bitpix === -32) {
      const bytes = new Uint8Array(rows.length * 4);
      this.writeEncodedSync(index, bytes, encodeFloat32BigEndian(rows, bytes));
    } else if (hdu.bitpix === 8) {
      const bytes = Uint8Array.from(rows, (v) => (v === v ? Math.min(255, Math.max(0, Math.round(v))) : 0));
      this.writeEncodedSync(index, bytes);
    } else {
      throw new FitsError(this.path, index, "writeRowsSync writes BITPIX -32 and 8 only");
    }
  }

  /** Checks every HDU is complete, writes each DATASUM and CHECKSUM, syncs, and renames the file into place. */
  async close(): Promise<WrittenHdus> {
    if (this.#staged.finished) throw new FitsError(this.path, 0, "writer already closed");
    try {
      const checksums: string[] = [];
      const datasums: string[] = [];
      for (const [index, hdu] of this.#hdus.entries()) {
        if (hdu.written !== hdu.dataBytes) {
          throw new FitsError(
            this.path,
            index,
            `only ${hdu.written / hdu.pixelBytes} of ${hdu.dataBytes / hdu.pixelBytes} pixels were written`,
          );
        }
        const datasum = hdu.sum;
        hdu.header.set("DATASUM", String(datasum));
        hdu.header.set("CHECKSUM", "0000000000000000");
        const checksum = encodeChecksum(addSums(checksumOf(hdu.header.toBytes()), datasum));
        hdu.header.set("CHECKSUM", checksum);
        this.#writeAt(hdu.headerOffset, hdu.header.toBytes());
        checksums.push(checksum);
        datasums.push(String(datasum));
      }
      await this.#staged.commit();
      return { path: this.path, checksums, datasums };
    } catch (error) {
      await this.abort();
      if (error instanceof FitsError) throw error;
      throw new FitsError(this.path, 0, `write failed: ${error instanceof Error ? error.message : error}`);
    }
  }

  /** Abandons the write and removes the temporary file. */
  async abort(): Promise<void> {
    await this.#staged.abort();
  }
}
