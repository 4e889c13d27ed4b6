/**
 * A pixel worker: runs its slice of a band task over bands that live in
 * SharedArrayBuffers, so no pixel is copied between threads, and hashes the
 * byte streams given to it (see `PixelPool.sha256`). Given a yield gate (see
 * {@link YieldGate}), it works in pieces and passes the gate between them.
 *
 * @module
 */
/// <reference lib="deno.worker" />
import { type BandTask, runBandSlice, runBandSliceInPieces } from "./band_task.ts";
import { Sha256Stream } from "../file_hash.ts";
import { YieldGate } from "../yield_gate.ts";

let gate: YieldGate | null = null;
const digests = new Map<number, { hash: Sha256Stream; seconds: number }>();

/** Bytes hashed between passes of the gate: about 0.15 ms. */
const HASH_PIECE = 1 << 18;

function digest(message: { digest: number; bytes?: Uint8Array; finish?: number; cancel?: boolean }): void {
  const { digest: stream, bytes, finish } = message;
  if (message.cancel) {
    digests.delete(stream);
    return;
  }
  let state = digests.get(stream);
  if (!state) digests.set(stream, state = { hash: new Sha256Stream(), seconds: 0 });
  if (bytes) {
    gate?.start();
    const started = performance.now();
    for (let at = 0; at < bytes.length; at += HASH_PIECE) {
      state.hash.update(bytes.subarray(at, at + HASH_PIECE));
      gate?.pass();
    }
    state.seconds += (performance.now() - started) / 1000;
  }
  if (finish !== undefined) {
    digests.delete(stream);
    self.postMessage({ id: finish, result: { hex: state.hash.hex(), seconds: state.seconds } });
  }
}

self.onmessage = (
  event: MessageEvent<
    | { gate: SharedArrayBuffer }
    | { digest: number; bytes?: Uint8Array; finish?: number; cancel?: boolean }
    | { id: number; task: BandTask; start: number; end: number; worker: number }
  >,
) => {
  if ("gate" in event.data) {
    gate = new YieldGate(event.data.gate);
    return;
  }
  if ("digest" in event.data) {
    digest(event.data);
    return;
  }
  const { id, task, start, end, worker } = event.data;
  try {
    gate?.start();
    const result = gate
      ? runBandSliceInPieces(task, start, end, worker, () => gate!.pass())
      : runBandSlice(task, start, end, worker);
    self.postMessage({ id, result });
  } catch (error) {
    self.postMessage({ id, error: error instanceof Error ? error.message : String(error) });
  }
};
