/**
 * A product's file, in the layout `Reduction: Output: Format` asks for:
 *
 * - `mef` (default): the science image `SCI` (float32, the primary HDU, with
 *   the product's whole header), its bad-pixel mask `BPM` (uint8, one bit a
 *   reason: {@link MASK_BITS}) and its uncertainty `ERR` (float32, 1σ in the
 *   data's units), so that astropy's `CCDData.read(path, hdu="SCI",
 *   hdu_mask="BPM", hdu_uncertainty="ERR")` gives data, mask and uncertainty.
 *   Saturated pixels keep their values in `SCI` and are flagged in `BPM`.
 * - `single`: `SCI` alone, saturated pixels NaN (for tools that want one HDU).
 *
 * Every HDU is streamed band by band into one temporary file, renamed into
 * place when complete; the catalog's checksum is `SCI`'s `CHECKSUM`.
 *
 * @module
 */
import { FitsImageWriter, FitsMultiImageWriter, Header } from "../../lib/fits/mod.ts";

/** `Reduction: Output: Format`. */
export type OutputFormat = "mef" | "single";

/** The `BPM` bits (BANZAI's convention), as each product's `BPM` header documents them. */
export const MASK_BITS: readonly { bit: number; meaning: string }[] = [
  { bit: 1, meaning: "bad: hot or dead in the bad-pixel map, or no usable value" },
  { bit: 2, meaning: "saturated: raw value >= SATURATE (a master: in some input)" },
  { bit: 4, meaning: "low flat-field response in the bad-pixel map" },
  { bit: 8, meaning: "cosmic ray (reserved, not set yet)" },
];

/** The index of each HDU in a `mef` product. */
export const HDU = { SCI: 0, BPM: 1, ERR: 2 } as const;

/** How a product's uncertainty was made, for its `ERR` header. */
export interface ErrorNotes {
  /** Lines of the `ERR` header's COMMENT: the formula. */
  formula: string[];
  /** Cards of what went into it (`GAIN`, `RDNOISE`), with their comments. */
  cards?: { key: string; value: number; comment: string }[];
}

/** The `SCI` header: the product's, named, with its unit and (for `mef`) what the other HDUs hold. */
function scienceHeader(header: Header, format: OutputFormat): Header {
  const sci = header.clone();
  sci.delete("EXTNAME");
  sci.cards.unshift({ key: "EXTNAME", value: "SCI", comment: "science image" });
  if (!sci.has("BUNIT")) sci.set("BUNIT", "adu", "data unit (a master flat: normalized)");
  if (format === "mef") {
    sci.addComment(
      "This file: SCI (data), BPM (bad-pixel mask, bits in its header), ERR (1-sigma, in BUNIT).",
    );
  }
  return sci;
}

function maskHeader(): Header {
  const bpm = new Header();
  bpm.set("EXTNAME", "BPM", "bad-pixel mask of SCI");
  for (const { bit, meaning } of MASK_BITS) bpm.set(`BPMBIT${bit}`, meaning);
  bpm.addComment("Each pixel's value is the sum of its bits; 0 is a good pixel.");
  return bpm;
}

function errorHeader(notes: ErrorNotes): Header {
  const err = new Header();
  err.set("EXTNAME", "ERR", "1-sigma uncertainty of SCI");
  err.set("BUNIT", "adu", "same unit as SCI");
  err.set("UTYPE", "StdDevUncertainty", "astropy uncertainty class");
  for (const card of notes.cards ?? []) err.set(card.key, card.value, card.comment);
  for (const line of notes.formula) err.addComment(line);
  return err;
}

/** One product being written: its SCI band by band, with BPM and ERR for `mef`. */
export class ProductFile {
  /** Whether BPM and ERR are written too. */
  readonly mef: boolean;
  readonly #single: FitsImageWriter | null;
  readonly #multi: FitsMultiImageWriter | null;

  private constructor(single: FitsImageWriter | null, multi: FitsMultiImageWriter | null) {
    this.#single = single;
    this.#multi = multi;
    this.mef = multi !== null;
  }

  /** Starts writing a product at `path` (a temporary file until {@link close}). */
  static async create(
    path: string,
    header: Header,
    options: { width: number; height: number; format: OutputFormat; error: ErrorNotes },
  ): Promise<ProductFile> {
    const { width, height, format } = options;
    const sci = scienceHeader(header, format);
    if (format === "single") {
      return new ProductFile(await FitsImageWriter.create(path, sci, { width, height }), null);
    }
    const multi = await FitsMultiImageWriter.create(path, [
      { header: sci, width, height },
      { header: maskHeader(), width, height, bitpix: 8 },
      { header: errorHeader(options.error), width, height },
    ]);
    return new ProductFile(null, multi);
  }

  /** Appends rows of SCI, encoded big-endian float32, with their word sum. */
  writeScience(bytes: Uint8Array, sum: number): void {
    if (this.#single) this.#single.writeEncodedSync(bytes, sum);
    else this.#multi!.writeEncodedSync(HDU.SCI, bytes, sum);
  }

  /**
   * Appends rows of BPM, one byte a pixel (`mef` only), with their ones'
   * complement sum as they lie in the data unit when known (`positionedSum`).
   */
  writeMask(bytes: Uint8Array, sum?: number): void {
    this.#multi?.writeEncodedSync(HDU.BPM, bytes, sum);
  }

  /** Appends rows of ERR, encoded big-endian float32, with their word sum (`mef` only). */
  writeError(bytes: Uint8Array, sum: number): void {
    this.#multi?.writeEncodedSync(HDU.ERR, bytes, sum);
  }

  /** Completes the file and renames it into place; SCI's CHECKSUM is the product's checksum. */
  async close(): Promise<{ checksum: string }> {
    if (this.#single) return { checksum: (await this.#single.close()).checksum };
    return { checksum: (await this.#multi!.close()).checksums[HDU.SCI] };
  }

  /** Abandons the file. */
  async abort(): Promise<void> {
    await (this.#single ?? this.#multi)!.abort();
  }
}
