/**
 * A hashing thread for {@link sha256Files}: SHA-256 of one file per message.
 * Given a yield gate first, it passes the gate between chunks.
 *
 * @module
 */
/// <reference lib="deno.worker" />
import { sha256FileSync } from "./file_hash.ts";
import { YieldGate } from "./yield_gate.ts";

let gate: YieldGate | null = null;

self.onmessage = (event: MessageEvent<{ gate: SharedArrayBuffer } | { id: number; path: string }>) => {
  if ("gate" in event.data) {
    gate = new YieldGate(event.data.gate);
    return;
  }
  const { id, path } = event.data;
  try {
    gate?.start();
    self.postMessage({ id, hash: sha256FileSync(path, gate ? () => gate!.pass() : undefined) });
  } catch (error) {
    self.postMessage({ id, error: error instanceof Error ? error.message : String(error) });
  }
};
