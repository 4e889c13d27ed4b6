/**
 * A pixel worker: runs its slice of a band task over bands that live in
 * SharedArrayBuffers, so no pixel is copied between threads.
 *
 * @module
 */
/// <reference lib="deno.worker" />
import { type BandTask, runBandSlice } from "./band_task.ts";

self.onmessage = (
  event: MessageEvent<{ id: number; task: BandTask; start: number; end: number; worker: number }>,
) => {
  const { id, task, start, end, worker } = event.data;
  try {
    self.postMessage({ id, result: runBandSlice(task, start, end, worker) });
  } catch (error) {
    self.postMessage({ id, error: error instanceof Error ? error.message : String(error) });
  }
};
