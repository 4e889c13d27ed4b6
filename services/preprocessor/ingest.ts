/**
 * Ingest: find a night's raw frames, read their headers, classify them by
 * IMAGETYP (the spellings of real cameras and control software), and record
 * every file in the catalog, with the reason when one cannot be used.
 *
 * @module
 */
import { basename } from "node:path";
import { FitsError, type Header, readHdus } from "../../lib/fits/mod.ts";
import { sha256Files } from "../../lib/file_hash.ts";
import type { YieldGate } from "../../lib/yield_gate.ts";
import { parseSection, type Section, SectionError } from "../../lib/ccd/mod.ts";
import type { ExposureRecord, ImageType, NightRecord, Store } from "../../lib/store/mod.ts";

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
  exposure: ExposureRecord;
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
  /** HDU holding the image. */
  hdu: number;
}

/** A file that cannot be used, and why. */
export interface SkippedFrame {
  fileName: string;
  reason: string;
}

/** What ingest found. */
export interface IngestResult {
  night: NightRecord;
  frames: RawFrame[];
  skipped: SkippedFrame[];
}

/** Lists a night's candidate frame files (sorted; not recursive). */
export async function listFrameFiles(nightDir: string): Promise<string[]> {
  const names: string[] = [];
  for await (const entry of Deno.readDir(nightDir)) {
    if (entry.isFile && FRAME_PATTERN.test(entry.name) && !entry.name.startsWith(".")) names.push(entry.name);
  }
  return names.sort();
}

function nightDateFrom(dir: string, frames: { dateObs: string | null }[]): string | null {
  const fromDir = /(\d{4})-?(\d{2})-?(\d{2})/.exec(basename(dir));
  if (fromDir) return `${fromDir[1]}-${fromDir[2]}-${fromDir[3]}`;
  const first = frames.map((f) => f.dateObs).filter((d): d is string => !!d).sort()[0];
  return first ? first.slice(0, 10) : null;
}

interface Inspected {
  fileName: string;
  size: number;
  hash: string;
  frame?: Omit<RawFrame, "exposure">;
  partial?: Pick<
    ExposureRecord,
    "imageType" | "filter" | "exposureTime" | "width" | "height" | "binning" | "dateObs"
  >;
  reason?: string;
}

/** Reads a frame's headers and classifies it (its content hash is computed on another thread). */
async function inspect(nightDir: string, fileName: string): Promise<Omit<Inspected, "hash">> {
  const path = `${nightDir}/${fileName}`;
  let size = 0;
  let hdus;
  try {
    size = (await Deno.stat(path)).size;
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
  const width = trim ? trim.x1 - trim.x0 : rawWidth;
  const height = trim ? trim.y1 - trim.y0 : rawHeight;
  const saturateValue = lookup("SATURATE");
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
      hdu: image.index,
    },
  };
}

/**
 * Ingests a night: every frame file is recorded (keyed by name and content
 * hash); unusable ones with their reason. Raw files are only read.
 */
export async function ingestNight(
  store: Store,
  nightDir: string,
  options: { gate?: YieldGate } = {},
): Promise<IngestResult> {
  const names = await listFrameFiles(nightDir);
  const hashes = sha256Files(names.map((name) => `${nightDir}/${name}`), undefined, options.gate);
  const inspected: Inspected[] = [];
  // sha256Files marks its promises handled, so a hash that fails while headers are read is no crash.
  for (let i = 0; i < names.length; i++) {
    const headers = await inspect(nightDir, names[i]);
    try {
      inspected.push({ ...headers, hash: await hashes[i] });
    } catch (error) {
      const reason = headers.reason ?? `cannot be read: ${error instanceof Error ? error.message : error}`;
      inspected.push({ ...headers, frame: undefined, hash: "", reason });
    }
  }
  const telescope = inspected.map((i) => i.frame?.header.getString("TELESCOP")).find((t) => t) ?? null;
  const night = await store.upsertNight(nightDir, {
    date: nightDateFrom(
      nightDir,
      inspected.map((i) => ({ dateObs: i.frame?.dateObs ?? i.partial?.dateObs ?? null })),
    ),
    telescope: telescope?.trim() ?? null,
  });
  const frames: RawFrame[] = [];
  const skipped: SkippedFrame[] = [];
  for (const item of inspected) {
    const info = item.frame ?? item.partial;
    const exposure = await store.upsertExposure({
      nightId: night.id,
      fileName: item.fileName,
      contentHash: item.hash,
      size: item.size,
      imageType: info?.imageType ?? null,
      filter: info?.filter ?? null,
      exposureTime: info?.exposureTime ?? null,
      width: item.frame?.width ?? item.partial?.width ?? null,
      height: item.frame?.height ?? item.partial?.height ?? null,
      binning: info?.binning ?? null,
      dateObs: info?.dateObs ?? null,
      status: item.frame ? "ok" : "skipped",
      error: item.reason ?? null,
    });
    if (item.frame) frames.push({ ...item.frame, exposure });
    else skipped.push({ fileName: item.fileName, reason: item.reason ?? "unusable" });
  }
  return { night, frames, skipped };
}
