/**
 * Walking the HDUs of a FITS file: reads each header, works out where its data
 * unit lies, and checks the file is long enough, without reading any data.
 *
 * A FITS file is a sequence of whole 2880-byte blocks (FITS Standard 4.0 §3.1):
 * each header ends with END in its last block, padded with spaces (§3.3.1), and
 * each data unit is padded with zeros to the end of its last block (§3.3.2).
 * A file that ends before that is truncated: a header cut short is an error; a
 * data unit cut short is reported in {@link HduInfo.truncated} (and is an error
 * when pixels are missing, unless the caller asks to see it).
 *
 * @module
 */
import { FitsError } from "./errors.ts";
import { BLOCK_SIZE, CARD_SIZE, cardsFromImages, Header } from "./header.ts";

/** What one HDU is. */
export type HduType = "PRIMARY" | "IMAGE" | "BINTABLE" | "TABLE" | string;

/**
 * How the end of the file cuts a data unit short. Like astropy's "File may have
 * been truncated" warning, `missingBytes` counts up to the end of the data
 * unit's last 2880-byte block, so it is the size the file should have minus the
 * size it has.
 */
export interface HduTruncation {
  /** Bytes the file lacks to hold the whole data unit with its padding. */
  missingBytes: number;
  /**
   * True when every pixel (every data byte) is in the file and only padding of
   * the final block is cut short; false when pixels are missing too.
   */
  pixelsComplete: boolean;
  /** Data bytes, without padding, that the file holds: `dataBytes` when `pixelsComplete`. */
  presentBytes: number;
}

/** Where one HDU is and what it holds. */
export interface HduInfo {
  /** Zero-based index (0 = primary). */
  index: number;
  /** EXTNAME, or `PRIMARY` for the primary HDU, or "" */
  name: string;
  type: HduType;
  header: Header;
  bitpix: number;
  /** NAXIS1..NAXISn (empty when NAXIS = 0). */
  shape: number[];
  /** Byte offset of the header. */
  headerOffset: number;
  /** Byte offset of the data unit. */
  dataOffset: number;
  /** Data bytes without padding. */
  dataBytes: number;
  /**
   * Null when the data unit is whole; otherwise how the end of the file cuts it
   * short. Only the last HDU of a file can be truncated. {@link truncationProblem}
   * says it in words.
   */
  truncated: HduTruncation | null;
  /** Problems that did not stop reading (unparsable cards). */
  warnings: string[];
}

/** How {@link readHdus} treats a truncated file. */
export interface ReadHdusOptions {
  /**
   * Return an HDU whose data unit is cut inside its pixels (`truncated.pixelsComplete`
   * false) instead of throwing; default false, so a caller that does not look at
   * `truncated` never takes a frame with missing pixels for a whole one. A data
   * unit missing only its final block's padding is always returned, with
   * `truncated` set.
   */
  allowMissingPixels?: boolean;
}

const VALID_BITPIX = new Set([8, 16, 32, 64, -32, -64]);

const decoder = new TextDecoder("latin1");

async function readFully(file: Deno.FsFile, position: number, length: number): Promise<Uint8Array> {
  const buffer = new Uint8Array(length);
  await file.seek(position, Deno.SeekMode.Start);
  let filled = 0;
  while (filled < length) {
    const n = await file.read(buffer.subarray(filled));
    if (n === null) break;
    filled += n;
  }
  return buffer.subarray(0, filled);
}

/**
 * Reads header blocks from `offset` until END; returns the card images and the
 * header's size in bytes. A header the file ends inside is an error that says
 * how many bytes are missing.
 */
async function readHeaderImages(
  file: Deno.FsFile,
  path: string,
  index: number,
  offset: number,
  fileSize: number,
): Promise<{ images: string[]; size: number }> {
  const images: string[] = [];
  let position = offset;
  for (;;) {
    // Headers are read a few blocks at a time; a real header rarely exceeds 8 blocks.
    const chunk = await readFully(file, position, Math.min(8 * BLOCK_SIZE, fileSize - position));
    for (let at = 0; at + CARD_SIZE <= chunk.length; at += CARD_SIZE) {
      const image = decoder.decode(chunk.subarray(at, at + CARD_SIZE));
      if (image.startsWith("END") && image.slice(3).trim() === "") {
        const size = position - offset + Math.ceil((at + CARD_SIZE) / BLOCK_SIZE) * BLOCK_SIZE;
        if (offset + size > fileSize) {
          throw headerCut(
            path,
            index,
            fileSize,
            endedHeaderShortfall(images, path, index, offset + size - fileSize),
          );
        }
        return { images, size };
      }
      images.push(image);
    }
    position += chunk.length;
    if (position >= fileSize || chunk.length === 0) {
      const intoBlock = (position - offset) % BLOCK_SIZE;
      if (intoBlock === 0) {
        // The END card would open a block the file does not have.
        throw new FitsError(
          path,
          index,
          `header has no END card before the file ends (truncated header: at least ${BLOCK_SIZE} bytes missing)`,
        );
      }
      throw headerCut(
        path,
        index,
        fileSize,
        `at least ${bytesMissing(BLOCK_SIZE - intoBlock)} (the file ends before the END card)`,
      );
    }
  }
}

/** What a header whose END card is in the file, but not its last block's end, lacks, with its data unit. */
function endedHeaderShortfall(images: string[], path: string, index: number, headerMissing: number): string {
  let dataBlocksBytes: number;
  try {
    const { dataBytes } = describeHdu(new Header(cardsFromImages(images)), path, index);
    dataBlocksBytes = Math.ceil(dataBytes / BLOCK_SIZE) * BLOCK_SIZE;
  } catch {
    return `at least ${bytesMissing(headerMissing)} (the header's last 2880-byte block is cut short)`;
  }
  if (dataBlocksBytes === 0) return `${bytesMissing(headerMissing)} from the header's last 2880-byte block`;
  const total = headerMissing + dataBlocksBytes;
  return `${total} bytes missing (${headerMissing} of the header's last 2880-byte block ` +
    `and all ${dataBlocksBytes} of the data unit)`;
}

/** The error for a header cut short by the end of the file. */
function headerCut(path: string, index: number, fileSize: number, shortfall: string): FitsError {
  if (index === 0 && fileSize < BLOCK_SIZE) {
    // Not even one block: the file as a whole is what is wrong (messages have always begun "truncated").
    return new FitsError(
      path,
      null,
      `truncated header of HDU 0 (the file is ${fileSize} bytes, less than one 2880-byte block): ${shortfall}`,
    );
  }
  return new FitsError(path, index, `truncated header: ${shortfall}`);
}

function integerCard(header: Header, key: string, path: string, index: number, min = 0): number {
  const value = header.get(key);
  if (typeof value !== "number" || !Number.isInteger(value) || value < min) {
    const shown = value === undefined
      ? "missing"
      : JSON.stringify(typeof value === "bigint" ? String(value) : value);
    throw new FitsError(path, index, `${key} is ${shown} (expected an integer >= ${min})`);
  }
  return value;
}

function describeHdu(
  header: Header,
  path: string,
  index: number,
): Omit<HduInfo, "headerOffset" | "dataOffset" | "truncated"> {
  const first = header.cards[0];
  let type: HduType;
  if (index === 0) {
    if (!first || first.key !== "SIMPLE") {
      throw new FitsError(path, 0, "not a FITS file (first card is not SIMPLE)");
    }
    if (first.value !== true) throw new FitsError(path, 0, "SIMPLE is not T (file does not conform to FITS)");
    type = "PRIMARY";
  } else {
    if (!first || first.key !== "XTENSION" || typeof first.value !== "string") {
      throw new FitsError(path, index, "extension header does not start with XTENSION");
    }
    type = first.value.trim().toUpperCase();
  }
  const bitpix = header.get("BITPIX");
  if (typeof bitpix !== "number" || !VALID_BITPIX.has(bitpix)) {
    throw new FitsError(
      path,
      index,
      `bad BITPIX ${bitpix ?? "(missing)"} (expected 8, 16, 32, 64, -32 or -64)`,
    );
  }
  const naxis = integerCard(header, "NAXIS", path, index);
  if (naxis > 999) throw new FitsError(path, index, `NAXIS is ${naxis} (expected 0-999)`);
  const shape: number[] = [];
  for (let axis = 1; axis <= naxis; axis++) shape.push(integerCard(header, `NAXIS${axis}`, path, index));
  const pcount = index === 0 ? 0 : header.has("PCOUNT") ? integerCard(header, "PCOUNT", path, index) : 0;
  const gcount = index === 0 ? 1 : header.has("GCOUNT") ? integerCard(header, "GCOUNT", path, index, 1) : 1;
  // Random groups (NAXIS1 = 0 with GROUPS = T) count groups of NAXIS2..n plus parameters.
  const groups = index === 0 && header.get("GROUPS") === true && shape[0] === 0;
  const elements = naxis === 0 ? 0 : (groups ? shape.slice(1) : shape).reduce((product, n) => product * n, 1);
  const dataBytes = naxis === 0
    ? 0
    : (Math.abs(bitpix) / 8) * (groups ? header.getNumber("GCOUNT") ?? 1 : gcount) *
      (pcount + elements);
  const extname = header.getString("EXTNAME")?.trim();
  return {
    index,
    name: extname ?? (index === 0 ? "PRIMARY" : ""),
    type,
    header,
    bitpix,
    shape,
    dataBytes,
    warnings: [],
  };
}

/**
 * Reads every HDU's header and locates its data, without reading the data.
 * Throws a {@link FitsError} naming the file, HDU and problem, among them a
 * header cut short by the end of the file and, unless `allowMissingPixels`, a
 * data unit cut inside its pixels. A data unit cut short is reported in the
 * HDU's `truncated` field; the check is one size comparison per HDU.
 *
 * @example
 * ```ts
 * const hdus = await readHdus("night/light_001.fits");
 * const cut = hdus.find((hdu) => hdu.truncated);
 * if (cut) console.warn(`light_001.fits: HDU ${cut.index}: ${truncationProblem(cut)}`);
 * ```
 */
export async function readHdus(path: string, options: ReadHdusOptions = {}): Promise<HduInfo[]> {
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path, { read: true });
  } catch (error) {
    throw new FitsError(path, null, openProblem(error));
  }
  try {
    const fileSize = (await file.stat()).size;
    if (fileSize === 0) throw new FitsError(path, null, "empty file");
    const hdus: HduInfo[] = [];
    let offset = 0;
    while (offset < fileSize) {
      const index = hdus.length;
      if (index > 0) {
        // Anything after the last HDU that is not an extension is trailing padding (astropy warns and ignores it).
        const peek = decoder.decode(await readFully(file, offset, Math.min(8, fileSize - offset)));
        if (peek !== "XTENSION") {
          if (peek.length < 8 && "XTENSION".startsWith(peek)) {
            throw headerCut(
              path,
              index,
              fileSize,
              `at least ${bytesMissing(BLOCK_SIZE - peek.length)} (the file ends inside the XTENSION card)`,
            );
          }
          break;
        }
      } else {
        const peek = decoder.decode(await readFully(file, 0, Math.min(fileSize, 80)));
        if (!peek.startsWith("SIMPLE  =")) {
          throw new FitsError(path, null, "not a FITS file (does not start with SIMPLE)");
        }
      }
      const { images, size } = await readHeaderImages(file, path, index, offset, fileSize);
      const warnings: string[] = [];
      const header = new Header(cardsFromImages(images, (problem) => warnings.push(problem)));
      const info = describeHdu(header, path, index);
      const dataOffset = offset + size;
      const dataBlocksBytes = Math.ceil(info.dataBytes / BLOCK_SIZE) * BLOCK_SIZE;
      const available = fileSize - dataOffset;
      const truncated = dataBlocksBytes > available
        ? {
          missingBytes: dataBlocksBytes - available,
          pixelsComplete: available >= info.dataBytes,
          presentBytes: Math.min(available, info.dataBytes),
        }
        : null;
      const hdu: HduInfo = { ...info, headerOffset: offset, dataOffset, truncated, warnings };
      if (truncated && !truncated.pixelsComplete && !options.allowMissingPixels) {
        throw new FitsError(path, index, truncationProblem(hdu)!);
      }
      hdus.push(hdu);
      offset = dataOffset + dataBlocksBytes;
    }
    return hdus;
  } finally {
    file.close();
  }
}

/**
 * The truncation of an HDU's data unit in words, as `lib/fits` errors and
 * `toros fits` say it (without file and HDU), or null when the data unit is whole.
 *
 * @example
 * ```ts
 * truncationProblem(hdu);
 * // "truncated data: 10 bytes missing, all pixels present (only the final block's padding is cut short)"
 * ```
 */
export function truncationProblem(hdu: HduInfo): string | null {
  const cut = hdu.truncated;
  if (!cut) return null;
  const what = hdu.type === "PRIMARY" || hdu.type === "IMAGE" ? "pixels" : "data";
  if (cut.pixelsComplete) {
    return `truncated data: ${bytesMissing(cut.missingBytes)}, all ${what} present ` +
      "(only the final block's padding is cut short)";
  }
  const axes = hdu.shape.map((n, i) => `NAXIS${i + 1}=${n}`).join(" ");
  const rowBytes = (hdu.shape[0] ?? 0) * (Math.abs(hdu.bitpix) / 8);
  const rows = hdu.shape.slice(1).reduce((product, n) => product * n, 1);
  const wholeRows = Math.min(rows, Math.floor(cut.presentBytes / rowBytes));
  // Random groups (NAXIS1 = 0) have no rows to count.
  const rowsNote = rowBytes === 0
    ? ""
    : wholeRows === 0
    ? `; none of the ${rows} rows is whole`
    : `; only the first ${wholeRows} of ${rows} rows are whole`;
  return `truncated data: BITPIX=${hdu.bitpix} ${axes} needs ${hdu.dataBytes} bytes but only ` +
    `${cut.presentBytes} remain: ${bytesMissing(cut.missingBytes)}, ${what} among them${rowsNote}`;
}

/** "1 byte missing", "2880 bytes missing": how the truncation messages count. */
export function bytesMissing(count: number): string {
  return `${count} byte${count === 1 ? "" : "s"} missing`;
}

/** A readable reason for a failed open. */
export function openProblem(error: unknown): string {
  if (error instanceof Deno.errors.NotFound) return "no such file";
  if (error instanceof Deno.errors.PermissionDenied) return "cannot be read (permission denied)";
  if (error instanceof Deno.errors.IsADirectory) return "is a directory";
  return error instanceof Error ? error.message : String(error);
}
