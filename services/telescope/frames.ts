/**
 * Filing the camera's frames as a night on disk: `<Data Root>/<night date>/`,
 * each frame stamped with what the service knows and the camera cannot be
 * trusted to write (the filter actually in place, the target, the order), under
 * a name that is unique and never overwritten, appearing only when whole.
 *
 * @module
 */
import { basename, dirname } from "node:path";
import {
  addSums,
  BLOCK_SIZE,
  checksumOf,
  encodeChecksum,
  FitsError,
  type Header,
  readHdus,
} from "../../lib/fits/mod.ts";

/** `IMAGETYP` as the preprocessor (and MaxIm DL, Ekos) spell it. */
export type FrameKind = "light" | "bias" | "dark" | "flat";

const IMAGETYP: Record<FrameKind, string> = {
  light: "Light Frame",
  bias: "Bias Frame",
  dark: "Dark Frame",
  flat: "Flat Field",
};

/** What the service writes into every frame it files. */
export interface FrameStamp {
  kind: FrameKind;
  /** The filter in the beam (from the wheel), or null for a dark or bias. */
  filter: string | null;
  /** `OBJECT`: the target's name. */
  object: string;
  /** `TELESCOP` */
  telescope: string;
  /** `OBSERVER`: the order's `User`. */
  observer: string | null;
  /** `WORKORD`: the work order's `ID`. */
  workOrder: string;
  /** Requested J2000 right ascension (hours) and declination (degrees), for lights and flats. */
  target: { ra: number; dec: number } | null;
  /** Exposure time asked for, seconds (`EXPTIME` when the camera wrote none). */
  exposureTime: number;
}

/** A file name's safe form: letters, digits, `.`, `_` and `-` only. */
export function safePart(text: string): string {
  return text.replace(/[^A-Za-z0-9._-]+/g, "-").replace(/^[.-]+/, "").slice(0, 64) || "x";
}

function sexagesimal(value: number, signed: boolean): string {
  const sign = value < 0 ? "-" : signed ? "+" : "";
  let total = Math.round(Math.abs(value) * 360000) / 100; // hundredths of a second
  const whole = Math.floor(total / 3600);
  total -= whole * 3600;
  const minutes = Math.floor(total / 60);
  const seconds = total - minutes * 60;
  return `${sign}${String(whole).padStart(2, "0")}:${String(minutes).padStart(2, "0")}:${
    seconds.toFixed(signed ? 1 : 2).padStart(signed ? 4 : 5, "0")
  }`;
}

/** The base name (without sequence number) of a frame of this kind for this order. */
export function frameBaseName(stamp: FrameStamp): string {
  const parts = [stamp.kind, safePart(stamp.workOrder)];
  if (stamp.kind === "dark") parts.push(`${stamp.exposureTime}s`);
  if (stamp.filter && (stamp.kind === "light" || stamp.kind === "flat")) parts.push(safePart(stamp.filter));
  return parts.join("_");
}

/**
 * Makes `path` appear with the bytes of `temporary` only if no file has that
 * name (a hard link fails when the name exists), then drops the temporary name.
 * Returns false when the name was taken.
 */
async function linkIfAbsent(temporary: string, path: string): Promise<boolean> {
  try {
    await Deno.link(temporary, path);
  } catch (error) {
    if (error instanceof Deno.errors.AlreadyExists) return false;
    throw error;
  }
  await Deno.remove(temporary);
  return true;
}

/**
 * Files the camera's image (`blobPath`, a FITS file written by the INDI client)
 * into `nightDir` as `<base>_<NNN>.fits` with the stamp's cards, taking the
 * first free number: an existing frame is never overwritten. The primary
 * header is rewritten; the data (and any extensions) are copied byte for byte.
 * The file appears, synced, only when whole; `blobPath` is removed. Returns the
 * path written.
 */
export async function fileFrame(blobPath: string, nightDir: string, stamp: FrameStamp): Promise<string> {
  let hdus;
  try {
    hdus = await readHdus(blobPath);
  } catch (error) {
    const reason = error instanceof FitsError
      ? error.problem
      : error instanceof Error
      ? error.message
      : error;
    throw new Error(`The camera's image is not a FITS file the service can read: ${reason}`);
  }
  const primary = hdus[0];
  const header = primary.header.clone();
  header.set("IMAGETYP", IMAGETYP[stamp.kind], "frame type, as the preprocessor reads it");
  if (stamp.filter !== null) header.set("FILTER", stamp.filter, "filter in the beam, from the filter wheel");
  else header.delete("FILTER");
  header.set("OBJECT", stamp.object, "target");
  header.set("TELESCOP", stamp.telescope, "telescope");
  if (stamp.observer) header.set("OBSERVER", stamp.observer, "work order's User");
  header.set("WORKORD", stamp.workOrder, "TOROS work order ID");
  if (!header.has("EXPTIME")) header.set("EXPTIME", stamp.exposureTime, "exposure time (s)");
  if (stamp.target) {
    header.set("OBJCTRA", sexagesimal(stamp.target.ra, false), "requested RA (J2000, hours)");
    header.set("OBJCTDEC", sexagesimal(stamp.target.dec, true), "requested Dec (J2000, degrees)");
    header.set("RA", Math.round(stamp.target.ra * 15 * 1e7) / 1e7, "requested RA (J2000, degrees)");
    header.set("DEC", Math.round(stamp.target.dec * 1e7) / 1e7, "requested Dec (J2000, degrees)");
    header.set("EQUINOX", 2000.0, "equinox of RA and DEC");
  }
  header.addHistory(`TOROS telescope service: filed for work order ${stamp.workOrder}`);
  const headerBytes = await headerWithChecksum(header, blobPath, primary.dataOffset, primary.dataBytes);
  await Deno.mkdir(nightDir, { recursive: true });
  const base = frameBaseName(stamp);
  const temporary = `${nightDir}/.${base}.${crypto.randomUUID().slice(0, 8)}.tmp`;
  try {
    {
      using source = await Deno.open(blobPath, { read: true });
      using target = await Deno.open(temporary, { write: true, createNew: true, mode: 0o644 });
      await writeAll(target, headerBytes);
      // Everything after the primary header (its data, padding and any extensions) as it is.
      await source.seek(primary.dataOffset, Deno.SeekMode.Start);
      const buffer = new Uint8Array(1 << 20);
      for (let n = await source.read(buffer); n !== null; n = await source.read(buffer)) {
        await writeAll(target, buffer.subarray(0, n));
      }
      await target.sync();
    }
    for (let sequence = 1;; sequence++) {
      const path = `${nightDir}/${base}_${String(sequence).padStart(3, "0")}.fits`;
      if (await linkIfAbsent(temporary, path)) {
        await Deno.remove(blobPath).catch(() => {});
        await syncDirectory(dirname(path));
        return path;
      }
    }
  } catch (error) {
    await Deno.remove(temporary).catch(() => {});
    throw new Error(
      `Could not file ${basename(blobPath)} into ${nightDir}: ${
        error instanceof Error ? error.message : error
      }`,
    );
  }
}

/**
 * The header's bytes; when it carries `CHECKSUM` (the camera wrote one), the
 * checksum is made again for the changed header: the data's sum is `DATASUM`,
 * or read from the file when the camera wrote none.
 */
async function headerWithChecksum(
  header: Header,
  path: string,
  dataOffset: number,
  dataBytes: number,
): Promise<Uint8Array> {
  if (!header.has("CHECKSUM")) return header.toBytes();
  const written = Number(header.getString("DATASUM") ?? NaN);
  let dataSum = Number.isFinite(written) ? written : 0;
  if (!Number.isFinite(written)) {
    using file = await Deno.open(path, { read: true });
    await file.seek(dataOffset, Deno.SeekMode.Start);
    const padded = Math.ceil(dataBytes / BLOCK_SIZE) * BLOCK_SIZE;
    const buffer = new Uint8Array(BLOCK_SIZE * 360);
    for (let done = 0; done < padded;) {
      // Fill whole blocks (a read may return less); a file cut short is summed as zero fill.
      const want = Math.min(buffer.length, padded - done);
      let got = 0;
      while (got < want) {
        const n = await file.read(buffer.subarray(got, want));
        if (n === null) break;
        got += n;
      }
      buffer.fill(0, got, want);
      dataSum = addSums(dataSum, checksumOf(buffer.subarray(0, want)));
      done += want;
    }
    header.set("DATASUM", String(dataSum), "data unit checksum");
  }
  header.set("CHECKSUM", "0".repeat(16), "HDU checksum");
  header.set("CHECKSUM", encodeChecksum(addSums(checksumOf(header.toBytes()), dataSum)), "HDU checksum");
  return header.toBytes();
}

async function writeAll(file: Deno.FsFile, bytes: Uint8Array): Promise<void> {
  for (let offset = 0; offset < bytes.length;) offset += await file.write(bytes.subarray(offset));
}

/** Makes a new directory entry durable (best effort: not every system lets a directory be opened). */
async function syncDirectory(path: string): Promise<void> {
  try {
    using directory = await Deno.open(path, { read: true });
    await directory.sync();
  } catch { /* not supported here */ }
}
