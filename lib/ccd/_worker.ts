/**
 * A pixel worker: runs its slice of a band task over bands that live in
 * SharedArrayBuffers, so no pixel is copied between threads. Given a yield gate
 * (see {@link YieldGate}), it works in pieces and passes the gate between them.
 *
 * @module
 */
/// <reference lib="deno.worker" />
import { type BandTask, runBandSlice, runBandSliceInPieces } from "./band_task.ts";
import { YieldGate } from "../yield_gate.ts";

let gate: YieldGate | null = null;

self.onmessage = (
  event: MessageEvent<
    { gate: SharedArrayBuffer } | { id: number; task: BandTask; start: number; end: number; worker: number }
  >,
) => {
  if ("gate" in event.data) {
    gate = new YieldGate(event.data.gate);
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
