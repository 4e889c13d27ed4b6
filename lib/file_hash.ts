/**
 * Content hashes of raw files, so the catalog can tell a re-ingested file from a changed one.
 *
 * @module
 */
import { createHash } from "node:crypto";

/** SHA-256 of a file's bytes as lowercase hex, read in chunks (memory independent of file size). */
export async function sha256File(path: string): Promise<string> {
  const hash = createHash("sha256");
  using file = await Deno.open(path, { read: true });
  const buffer = new Uint8Array(1 << 20);
  for (;;) {
    const n = await file.read(buffer);
    if (n === null) break;
    hash.update(buffer.subarray(0, n));
  }
  return hash.digest("hex");
}
