/**
 * Walking the HDUs of a FITS file: reads each header, works out where its data
 * unit lies, and checks the file is long enough, without reading any data.
 *
 * @module
 */
import { FitsError } from "./errors.ts";
import { BLOCK_SIZE, CARD_SIZE, cardsFromImages, Header } from "./header.ts";

/** What one HDU is. */
export type HduType = "PRIMARY" | "IMAGE" | "BINTABLE" | "TABLE" | string;

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
  /** Problems that did not stop reading (unparsable cards). */
  warnings: string[];
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

/** Reads header blocks from `offset` until END; returns the card images and the header's size in bytes. */
async function readHeaderImages(
  file: Deno.FsFile,
  path: string,
  index: number,
  offset: number,
  fileSize: number,
): Promise<{ images: string[]; size: number }> {
  const images: string[] = [];
  let position = offset;
  // Headers are read a few blocks at a time; a real header rarely exceeds 8 blocks.
  for (;;) {
    if (position >= fileSize) {
      throw new FitsError(
        path,
        index,
        images.length === 0 ? "no header where one was expected" : "header has no END card",
      );
    }
    const chunk = await readFully(file, position, Math.min(8 * BLOCK_SIZE, fileSize - position));
    const whole = chunk.length - (chunk.length % BLOCK_SIZE);
    if (whole === 0) throw new FitsError(path, index, "truncated header (less than one 2880-byte block)");
    for (let at = 0; at < whole; at += CARD_SIZE) {
      const image = decoder.decode(chunk.subarray(at, at + CARD_SIZE));
      if (image.startsWith("END") && image.slice(3).trim() === "") {
        const size = position - offset + Math.ceil((at + CARD_SIZE) / BLOCK_SIZE) * BLOCK_SIZE;
        return { images, size };
      }
      images.push(image);
    }
    position += whole;
  }
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
): Omit<HduInfo, "headerOffset" | "dataOffset"> {
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
 * Throws a {@link FitsError} naming the file, HDU and problem.
 */
export async function readHdus(path: string): Promise<HduInfo[]> {
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
        if (peek !== "XTENSION") break;
      } else {
        const peek = decoder.decode(await readFully(file, 0, Math.min(fileSize, 80)));
        if (!peek.startsWith("SIMPLE  =")) {
          throw new FitsError(path, null, "not a FITS file (does not start with SIMPLE)");
        }
        if (fileSize < BLOCK_SIZE) {
          throw new FitsError(path, null, `truncated (${fileSize} bytes, less than one 2880-byte block)`);
        }
      }
      const { images, size } = await readHeaderImages(file, path, index, offset, fileSize);
      const warnings: string[] = [];
      const header = new Header(cardsFromImages(images, (problem) => warnings.push(problem)));
      const info = describeHdu(header, path, index);
      const dataOffset = offset + size;
      const available = fileSize - dataOffset;
      if (info.dataBytes > available) {
        const axes = info.shape.map((n, i) => `NAXIS${i + 1}=${n}`).join(" ");
        throw new FitsError(
          path,
          index,
          `truncated data: BITPIX=${info.bitpix} ${axes} needs ${info.dataBytes} bytes but only ${available} remain`,
        );
      }
      hdus.push({ ...info, headerOffset: offset, dataOffset, warnings });
      offset = dataOffset + Math.ceil(info.dataBytes / BLOCK_SIZE) * BLOCK_SIZE;
    }
    return hdus;
  } finally {
    file.close();
  }
}

/** A readable reason for a failed open. */
export function openProblem(error: unknown): string {
  if (error instanceof Deno.errors.NotFound) return "no such file";
  if (error instanceof Deno.errors.PermissionDenied) return "cannot be read (permission denied)";
  if (error instanceof Deno.errors.IsADirectory) return "is a directory";
  return error instanceof Error ? error.message : String(error);
}
