/**
 * One band of a reduction step as a single unit of work for the pixel workers:
 * decode every input's stored bytes, calibrate it against the masters' bands,
 * flag saturation, histogram it for a median, combine the inputs, and encode the
 * result big-endian with its checksum — all on one slice of the band's pixels, so
 * the main thread only moves bytes between files and SharedArrayBuffers.
 *
 * @module
 */
import { convertBigEndian, type PixelEncoding } from "../fits/encoding.ts";
import { encodeFloat32BigEndian } from "../fits/encoding.ts";
import { calibrateBand, type CalibrationTerms } from "./arithmetic.ts";
import { combineBand, type CombineOptions } from "./combine.ts";
import { applyMask } from "./saturation.ts";
import { StreamingMedian } from "./streaming_median.ts";
import { addSums } from "../fits/checksum.ts";

/** Bins of one histogram block: a coarse histogram, or one bucket of a fine one. */
export const HISTOGRAM_BINS = 65536;

/**
 * Median histograms of an input (see {@link StreamingMedian}), each holding one
 * block per worker: coarse counts, and fine counts of up to three buckets.
 */
export interface HistogramPass {
  coarse: Uint32Array | null;
  fine: { buckets: number[]; bins: Uint32Array } | null;
}

/** One input of a band task; every array is a view on a SharedArrayBuffer. */
export interface BandInput {
  /** The band's stored big-endian bytes, or null when `band` already holds its values. */
  raw: Uint8Array | null;
  /** How `raw` decodes. */
  encoding: PixelEncoding | null;
  /** The band's values: decoded into, then calibrated in place. */
  band: Float32Array;
  /**
   * Calibration (and saturation level) applied after decoding; the master bands it
   * names are inputs earlier in the task, so each slice has them decoded first.
   */
  terms: CalibrationTerms | null;
  /** Saturation flags computed elsewhere (frames decoded on the main thread): NaN after calibration. */
  mask: Uint8Array | null;
  /** Where to encode the calibrated band as big-endian float32 (its word sum is returned). */
  encoded: Uint8Array | null;
  /** A median histogram pass over the calibrated band. */
  histogram: HistogramPass | null;
}

/** Combining some of the inputs into one output band. */
export interface BandCombine {
  options: CombineOptions;
  /** Indices of the inputs combined. */
  inputs: number[];
  out: Float32Array;
  /** Where to encode the output as big-endian float32. */
  encoded: Uint8Array | null;
  /** The returned sum counts values below this as this (a flat's floor); -Infinity for none. */
  floor: number;
}

/** The work of one band. */
export interface BandTask {
  inputs: BandInput[];
  combine: BandCombine | null;
}

/** What one slice of a band task found. */
export interface BandSliceResult {
  /** Per input: word sum of its encoded slice (0 when not encoded). */
  sums: number[];
  /** Per input: pixels set to NaN for saturation. */
  saturated: number[];
  /** Per input: finite values counted by a coarse histogram pass. */
  finite: number[];
  /** Word sum of the encoded combined slice. */
  combineSum: number;
  /** Sum of max(value, floor) over the finite combined values, and their count. */
  combineFlooredSum: number;
  combineCount: number;
}

/** Runs pixels `[start, end)` of a band task; `worker` picks this thread's histogram block. */
export function runBandSlice(task: BandTask, start: number, end: number, worker: number): BandSliceResult {
  const result: BandSliceResult = {
    sums: [],
    saturated: [],
    finite: [],
    combineSum: 0,
    combineFlooredSum: 0,
    combineCount: 0,
  };
  for (const input of task.inputs) {
    const { raw, encoding, band } = input;
    if (raw && encoding) {
      const size = Math.abs(encoding.bitpix) / 8;
      convertBigEndian(
        raw.subarray(start * size, end * size),
        encoding.bitpix,
        band.subarray(start, end),
        end - start,
        encoding.bscale,
        encoding.bzero,
        encoding.blank,
      );
    }
    let saturated = input.terms ? calibrateBand(band, input.terms, start, end) : 0;
    if (input.mask) saturated += applyMask(band, input.mask, start, end);
    result.saturated.push(saturated);
    result.sums.push(input.encoded ? encodeFloat32BigEndian(band, input.encoded, start, end) : 0);
    const coarse = input.histogram?.coarse;
    const fine = input.histogram?.fine;
    result.finite.push(
      coarse ? StreamingMedian.countCoarse(band, start, end, coarse, worker * HISTOGRAM_BINS) : 0,
    );
    if (fine) {
      const offset = worker * fine.buckets.length * HISTOGRAM_BINS;
      StreamingMedian.countFine(band, start, end, fine.buckets, fine.bins, offset);
    }
  }
  const combine = task.combine;
  if (combine) {
    const { out, floor } = combine;
    combineBand(combine.inputs.map((i) => task.inputs[i].band), out, combine.options, start, end);
    let sum = 0;
    let count = 0;
    for (let i = start; i < end; i++) {
      const v = out[i];
      if (v === v) {
        sum += v < floor ? floor : v;
        count++;
      }
    }
    result.combineFlooredSum = sum;
    result.combineCount = count;
    if (combine.encoded) result.combineSum = encodeFloat32BigEndian(out, combine.encoded, start, end);
  }
  return result;
}

/**
 * Input pixels (pixels times inputs) in one piece of {@link runBandSliceInPieces}:
 * well under a millisecond of work (about 0.4 ms on a 2-core VM), so a thread
 * passing its yield gate between pieces gives way to the desk within that.
 */
export const PIECE_INPUT_PIXELS = 1 << 15;

/** Adds `b` (a later stretch of the same slice) into `a`. */
function mergeSliceResults(a: BandSliceResult, b: BandSliceResult): void {
  for (let i = 0; i < a.sums.length; i++) {
    a.sums[i] = addSums(a.sums[i], b.sums[i]);
    a.saturated[i] += b.saturated[i];
    a.finite[i] += b.finite[i];
  }
  a.combineSum = addSums(a.combineSum, b.combineSum);
  a.combineFlooredSum += b.combineFlooredSum;
  a.combineCount += b.combineCount;
}

/**
 * {@link runBandSlice} in pieces of about {@link PIECE_INPUT_PIXELS} input
 * pixels, calling `between` after each: the same pixels and totals (every
 * kernel works pixel by pixel and every total adds up; the floored sum may differ
 * in its last bits), with a point to yield the core after every piece.
 */
export function runBandSliceInPieces(
  task: BandTask,
  start: number,
  end: number,
  worker: number,
  between: () => void,
): BandSliceResult {
  const piece = Math.max(64, Math.floor(PIECE_INPUT_PIXELS / Math.max(1, task.inputs.length) / 64) * 64);
  let result: BandSliceResult | null = null;
  for (let from = start; from < end; from += piece) {
    const part = runBandSlice(task, from, Math.min(end, from + piece), worker);
    if (result) mergeSliceResults(result, part);
    else result = part;
    between();
  }
  return result ?? runBandSlice(task, start, end, worker);
}
