/**
 * Reading a night's raw frames: find the frame files, read their headers and
 * classify them by IMAGETYP (the spellings of real cameras and control
 * software), with the reason when one cannot be used. The ingest stage
 * (`stages/ingest.ts`) records what this finds.
 *
 * @module
 */
import { basename } from "node:path";
import { FitsError, type Header, readHdus, truncationProblem } from "../../lib/fits/mod.ts";
import { parseSection, type Section, SectionError } from "../../lib/ccd/mod.ts";
import type { ExposureRecord, ImageType } from "../../lib/store/mod.ts";

/** File names a night's frames may have. */
export const FRAME_PATTERN = /\.(fits?|fts)$/i;

const TYPE_SPELLINGS: [RegExp, ImageType][] = [
  [/^(bias|zero)( ?frame)?$/, "bias"],
  [/^dark( ?frame| ?current)?$/, "dark"],
  [/^((sky|dome|twilight|tw|screen) ?)?flat( ?field| ?frame)?$/, "flat"],
  [/^(light|object|science|sci|target)( ?frame)?$/, "light"],
];

/** Normalizes an IMAGETYP value (`'Bias Frame'`, `ZERO`, `SKYFLAT`, `Light Frame`, ...), or null. */
export function classifyImageType(value: unknown): ImageType | null {
  if (typeof value !== "string") return null;
  const text = value.trim().toLowerCase().replace(/[_-]+/g, " ").replace(/\s+/g, " ");
  for (const [pattern, type] of TYPE_SPELLINGS) if (pattern.test(text)) return type;
  return null;
}

/** The binning as `XxY`, from XBINNING/YBINNING or CCDSUM; null when unknown. */
export function binningOf(header: Header): string | null {
  const x = header.getNumber("XBINNING");
  const y = header.getNumber("YBINNING");
  if (x !== undefined && y !== undefined) return `${x}x${y}`;
  const ccdsum = header.getString("CCDSUM")?.trim().split(/\s+/);
  if (ccdsum?.length === 2 && ccdsum.every((n) => /^\d+$/.test(n))) return `${ccdsum[0]}x${ccdsum[1]}`;
  return x !== undefined ? `${x}x${x}` : null;
}

/** A raw frame ready for reduction. */
export interface RawFrame {
  path: string;
  fileName: string;
  imageType: ImageType;
  filter: string | null;
  exposureTime: number;
  /** Raw NAXIS1, NAXIS2 */
  rawWidth: number;
  rawHeight: number;
  /** Shape after trimming (the product's shape). */
  width: number;
  height: number;
  binning: string | null;
  dateObs: string | null;
  header: Header;
  /** BIASSEC when present. */
  overscan: Section | null;
  /** TRIMSEC (or DATASEC when overscan is present); null = whole frame. */
  trim: Section | null;
  /** SATURATE, when present. */
  saturate: number | null;
  /** GAIN (e⁻/ADU), when present. */
  gain: number | null;
  /** RDNOISE (e⁻), when present. */
  readNoise: number | null;
  /** The detector's temperature (°C): CCD-TEMP, else SET-TEMP, when present. */
  temperature: number | null;
  /** The set point (°C), SET-TEMP, when present: darks of different set points are not combined together. */
  setPoint: number | null;
  /** HDU holding the image. */
  hdu: number;
  /** What every product made from it carries (a file cut short in its last block's padding). */
  warnings: string[];
}

/** Lists a night's candidate frame files (sorted; not recursive). */
export async function listFrameFiles(nightDir: string): Promise<string[]> {
  const names: string[] = [];
  for await (const entry of Deno.readDir(nightDir)) {
    if (entry.isFile && FRAME_PATTERN.test(entry.name) && !entry.name.startsWith(".")) names.push(entry.name);
  }
  return names.sort();
}

/** One file of a night as its headers describe it: a usable frame, or the reason it is not one. */
export interface InspectedFile {
  fileName: string;
  size: number;
  frame?: RawFrame;
  /** What the headers tell of a file that is not a usable frame. */
  partial?: Pick<
    ExposureRecord,
    "imageType" | "filter" | "exposureTime" | "width" | "height" | "binning" | "dateObs"
  >;
  reason?: string;
}

/** The night's date (from the directory name, else the earliest DATE-OBS) and telescope (TELESCOP). */
export function nightFields(
  nightDir: string,
  files: InspectedFile[],
): { date: string | null; telescope: string | null } {
  const telescope = files.map((file) => file.frame?.header.getString("TELESCOP")).find((t) => t) ?? null;
  const fromDir = /(\d{4})-?(\d{2})-?(\d{2})/.exec(basename(nightDir));
  const first = files.map((file) => file.frame?.dateObs ?? file.partial?.dateObs ?? null)
    .filter((d): d is string => !!d).sort()[0];
  return {
    date: fromDir ? `${fromDir[1]}-${fromDir[2]}-${fromDir[3]}` : first ? first.slice(0, 10) : null,
    telescope: telescope?.trim() ?? null,
  };
}

/** Reads a frame file's headers and classifies it; an unreadable or unusable file gets its reason. */
export async function inspectFrame(nightDir: string, fileName: string): Promise<InspectedFile> {
  const path = `${nightDir}/${fileName}`;
  let size = 0;
  let hdus;
  try {
    size = (await Deno.stat(path)).size;
    // A file cut inside its pixels throws, with the bytes missing: skipped with that reason.
    hdus = await readHdus(path);
  } catch (error) {
    // An unreadable frame (permissions, vanished, damaged) is recorded and skipped; the night goes on.
    if (error instanceof FitsError) return { fileName, size, reason: error.problem };
    return { fileName, size, reason: `cannot be read: ${error instanceof Error ? error.message : error}` };
  }
  const image = hdus.find((h) => (h.type === "PRIMARY" || h.type === "IMAGE") && h.shape.length >= 2);
  if (!image) return { fileName, size, reason: "no 2-D image in the file" };
  // Cameras that write an empty primary HDU keep the observing cards there.
  const header = image.header;
  const lookup = (key: string) => header.get(key) ?? hdus[0].header.get(key);
  const typeValue = lookup("IMAGETYP") ?? lookup("OBSTYPE") ?? lookup("FRAMETYP");
  const imageType = classifyImageType(typeValue);
  const filterValue = lookup("FILTER");
  const filter = typeof filterValue === "string" && filterValue.trim() ? filterValue.trim() : null;
  const exptimeValue = lookup("EXPTIME") ?? lookup("EXPOSURE");
  const exposureTime = typeof exptimeValue === "number" ? exptimeValue : null;
  const dateValue = lookup("DATE-OBS");
  const dateObs = typeof dateValue === "string" ? dateValue.trim() : null;
  const binning = binningOf(header) ?? binningOf(hdus[0].header);
  const [rawWidth, rawHeight] = image.shape;
  const partial = { imageType, filter, exposureTime, width: rawWidth, height: rawHeight, binning, dateObs };
  if (image.shape.length > 2 && image.shape.slice(2).some((n) => n > 1)) {
    return {
      fileName,
      size,
      partial,
      reason: `image is ${image.shape.length}-D, expected a 2-D frame`,
    };
  }
  if (typeValue === undefined) return { fileName, size, partial, reason: "no IMAGETYP card" };
  if (!imageType) {
    return {
      fileName,
      size,
      partial,
      reason: `IMAGETYP '${typeValue}' is not bias, dark, flat or light`,
    };
  }
  if (exposureTime === null && imageType !== "bias") {
    return { fileName, size, partial, reason: "no EXPTIME (or EXPOSURE) card" };
  }
  if (exposureTime !== null && (!Number.isFinite(exposureTime) || exposureTime < 0)) {
    return { fileName, size, partial, reason: `EXPTIME ${exposureTime} is not a non-negative number` };
  }
  let overscan: Section | null = null;
  let trim: Section | null = null;
  try {
    const biassec = header.getString("BIASSEC");
    const trimsec = header.getString("TRIMSEC") ?? (biassec ? header.getString("DATASEC") : undefined);
    if (biassec) overscan = parseSection(biassec, rawWidth, rawHeight);
    if (trimsec) trim = parseSection(trimsec, rawWidth, rawHeight);
  } catch (error) {
    if (error instanceof SectionError) return { fileName, size, partial, reason: error.message };
    throw error;
  }
  // Every pixel is there, only padding of the last block is not: the frame is used, and said to be cut.
  const warnings = hdus.flatMap((hdu) => {
    const problem = truncationProblem(hdu);
    return problem === null ? [] : [`${fileName}: ${problem}`];
  });
  const width = trim ? trim.x1 - trim.x0 : rawWidth;
  const height = trim ? trim.y1 - trim.y0 : rawHeight;
  const saturateValue = lookup("SATURATE");
  const numberOf = (key: string) => {
    const value = lookup(key);
    return typeof value === "number" && Number.isFinite(value) ? value : null;
  };
  const setPoint = numberOf("SET-TEMP");
  return {
    fileName,
    size,
    frame: {
      path,
      fileName,
      imageType,
      filter: imageType === "flat" || imageType === "light" ? filter : null,
      exposureTime: exposureTime ?? 0,
      rawWidth,
      rawHeight,
      width,
      height,
      binning,
      dateObs,
      header,
      overscan,
      trim,
      saturate: typeof saturateValue === "number" ? saturateValue : null,
      gain: numberOf("GAIN"),
      readNoise: numberOf("RDNOISE"),
      temperature: numberOf("CCD-TEMP") ?? setPoint,
      setPoint,
      hdu: image.index,
      warnings,
    },
  };
}
