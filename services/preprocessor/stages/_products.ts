/**
 * Whether a product from an earlier run can be kept instead of made again.
 *
 * @module
 */
import { readHdus } from "../../../lib/fits/mod.ts";
import type { ProductRecord } from "../../../lib/store/mod.ts";
import type { RawFrame } from "../ingest.ts";
import type { Master } from "../master_library.ts";
import type { StageContext } from "./stage.ts";

function sameSet(a: number[], b: number[]): boolean {
  const x = [...new Set(a)].sort((p, q) => p - q);
  const y = [...new Set(b)].sort((p, q) => p - q);
  return x.length === y.length && x.every((v, i) => v === y[i]);
}

/**
 * The product recorded at `path`, when it can be kept: made from these frames
 * (the same file contents) and these masters, none of them made again in this
 * run, with this stage's fingerprint, and the file on disk is the one recorded.
 */
export async function keptProduct(
  context: StageContext,
  path: string,
  frames: RawFrame[],
  masters: Master[],
): Promise<ProductRecord | null> {
  if (context.force) return null;
  const record = context.catalog.existing(path);
  if (!record) return null;
  if (masters.some((master) => master.remade)) return null;
  if (!sameSet(record.uses.map((u) => u.productId), masters.map((m) => m.id))) return null;
  // The content hashes tell a re-written raw file from the one used: only now are they waited for.
  const exposures = await context.catalog.exposures(frames.map((frame) => frame.fileName));
  if (!sameSet(record.inputs.map((i) => i.exposureId), exposures.map((e) => e.id))) return null;
  try {
    // The file the record names (a task of a shared night writes its products elsewhere until they are in place).
    const [hdu] = await readHdus(record.path);
    if (hdu.header.getString("REDFPRNT") !== context.fingerprint) return null;
    if (hdu.header.getString("CHECKSUM") !== record.checksum) return null;
    return record;
  } catch {
    return null;
  }
}
