/**
 * A hashing thread for {@link sha256Files}: SHA-256 of one file per message.
 *
 * @module
 */
/// <reference lib="deno.worker" />
import { sha256FileSync } from "./file_hash.ts";

self.onmessage = (event: MessageEvent<{ id: number; path: string }>) => {
  const { id, path } = event.data;
  try {
    self.postMessage({ id, hash: sha256FileSync(path) });
  } catch (error) {
    self.postMessage({ id, error: error instanceof Error ? error.message : String(error) });
  }
};
