/**
 * A pixel worker: runs one kernel over a pixel range of bands that live in
 * SharedArrayBuffers, so no pixel is copied between threads.
 *
 * @module
 */
/// <reference lib="deno.worker" />
import { combineBand } from "./combine.ts";
import { calibrateBand } from "./arithmetic.ts";
import { runBandSlice } from "./band_task.ts";
import type { PoolTask } from "./pool.ts";

self.onmessage = (
  event: MessageEvent<{ id: number; task: PoolTask; start: number; end: number; worker: number }>,
) => {
  const { id, task, start, end, worker } = event.data;
  try {
    if (task.op === "band") {
      self.postMessage({ id, result: runBandSlice(task, start, end, worker) });
      return;
    }
    if (task.op === "combine") combineBand(task.inputs, task.out, task.options, start, end);
    else calibrateBand(task.target, task.terms, start, end);
    self.postMessage({ id });
  } catch (error) {
    self.postMessage({ id, error: error instanceof Error ? error.message : String(error) });
  }
};
