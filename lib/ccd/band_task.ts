/**
 * One band of a reduction step as a single unit of work for the pixel workers:
 * decode every input's stored bytes, flag saturation, subtract the overscan and
 * trim, calibrate it against the masters' bands, histogram it for a median,
 * combine the inputs, and encode the result big-endian with its checksum — all on
 * one slice of the band's pixels, so the main thread only moves bytes between
 * files and SharedArrayBuffers.
 *
 * @module
 */
import { convertBigEndian, type PixelEncoding } from "../fits/encoding.ts";
import { encodeFloat32BigEndian } from "../fits/encoding.ts";
import { calibrateBand, type CalibrationTerms, normalizeFlat } from "./arithmetic.ts";
import { combineBand, type CombineOptions } from "./combine.ts";
import { type OverscanEstimate, overscanEstimate, type OverscanLevels } from "./overscan.ts";
import { flagSaturation, SATURATED_BIT } from "./saturation.ts";
import {
  calibrateWithDeviation,
  type DeviationTerms,
  type PreparedDeviation,
  prepareDeviation,
} from "./deviation.ts";
import type { Section } from "./section.ts";
import { StreamingMedian } from "./streaming_median.ts";
import { addSums, positionedSum } from "../fits/checksum.ts";
import { type KernelLayout, LightScratch, runLightKernel } from "./_light_scratch.ts";

/** Bins of one histogram block: a coarse histogram, or one bucket of a fine one. */
export const HISTOGRAM_BINS = 65536;

/**
 * Median histograms of an input (see {@link StreamingMedian}), each holding one
 * block per worker: coarse counts, and fine counts of up to three buckets.
 */
export interface HistogramPass {
  coarse: Uint32Array | null;
  fine: { buckets: number[]; bins: Uint32Array } | null;
  /**
   * Instead of a coarse histogram, count the values below the fine buckets
   * (which are then consecutive): a first pass that trusts its guess of where
   * the median lies, at a fraction of the cost (see `StreamingMedian.mergeBracket`).
   */
  countBelow?: boolean;
}

/**
 * Where a band's pixels lie in its stored rows when the frame has overscan or
 * trim sections (ccdproc's `subtract_overscan` then `trim_image`, see
 * `overscan.ts`): each stored row loses its overscan level and keeps the trim columns.
 */
export interface RawLayout {
  /** Stored pixels per row. */
  rawWidth: number;
  /** Overscan columns (`x0`, `x1`) of each row, estimated here when `levels` is null; null for none. */
  overscan: Section | null;
  /** Columns kept (`x0`, `x1`); the band is `trim.x1 − trim.x0` pixels wide. */
  trim: Section;
  /** How a row's overscan columns give its level (default `median`). */
  estimate?: OverscanEstimate;
  /** Levels worked out before the sweep (a row strip, or a fitted model), per row or column of the trimmed frame. */
  levels?: OverscanLevels | null;
}

/** The bad-pixel mask bit of a pixel with no usable value (and of the bad-pixel map's bad pixels). */
export const BAD_PIXEL_BIT = 1;

/**
 * An input's own bad-pixel mask (a calibrated light's BPM): started from the
 * bad-pixel map's band (or zeros), saturation ORed in as the band is decoded,
 * and {@link BAD_PIXEL_BIT} where the calibrated value is not finite.
 */
export interface BandMask {
  /** The mask band: one byte a pixel, written here. */
  out: Uint8Array;
  /**
   * The bad-pixel map's band, or none: its stored bytes (BITPIX 8, one a pixel,
   * copied as they are) or its values (an input earlier in the task, the bits).
   */
  badPixels: Uint8Array | Float32Array | null;
  /**
   * Where the band's first byte lies in the mask's data unit (its first row times
   * the width): the returned sum counts each byte in its place there.
   */
  position?: number;
}

/** An input's uncertainty: made from its values and carried through its calibration (see `deviation.ts`). */
export interface BandDeviation {
  /** The uncertainty band, written here. */
  out: Float32Array;
  /** Where to encode it as big-endian float32 (its word sum is returned), or null. */
  encoded: Uint8Array | null;
  /** Gain, read noise and the masters' uncertainty bands (inputs earlier in the task). */
  terms: DeviationTerms;
}

/** One input of a band task; every array is a view on a SharedArrayBuffer. */
export interface BandInput {
  /** The band's stored big-endian bytes (whole stored rows), or null when `band` already holds its values. */
  raw: Uint8Array | null;
  /** How `raw` decodes. */
  encoding: PixelEncoding | null;
  /** How the stored rows map to the band (overscan, trim); null when they are the band's rows. */
  layout?: RawLayout | null;
  /** The frame's row (after trimming) the band starts at, for per-row overscan `levels` (default 0). */
  firstRow?: number;
  /** The band's values: decoded into, then calibrated in place. */
  band: Float32Array;
  /** Stored values at or above this are saturated: NaN in the band (and every value made from it), unless `keepSaturated`. */
  saturation?: number | null;
  /** Saturated values stay as they are (flagged in the mask only): a calibrated light of a MEF product. */
  keepSaturated?: boolean;
  /**
   * Only the encoded bytes (and the mask) are wanted after the task: the band's
   * values and the uncertainty's may be left unwritten, which lets a camera's
   * MEF light go through the light kernel in one pass (see `_light_simd.ts`).
   */
  encodedOnly?: boolean;
  /** Where saturated pixels get their mask bit (ORed in) when the input has no `mask` of its own: a combine's mask. */
  flags?: Uint8Array | null;
  /** The input's own bad-pixel mask. */
  mask?: BandMask | null;
  /** The input's uncertainty, made as it is calibrated. */
  deviation?: BandDeviation | null;
  /**
   * Calibration applied after decoding; the master bands it names are inputs
   * earlier in the task, so each slice has them decoded first.
   */
  terms: CalibrationTerms | null;
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
  /** The combined values' uncertainty (ccdproc's `Combiner`'s), or none. */
  deviation?: Float32Array | null;
  /** Where to encode the uncertainty as big-endian float32. */
  deviationEncoded?: Uint8Array | null;
  /**
   * The master's mask, one byte a pixel: zeroed, then {@link BAD_PIXEL_BIT} where
   * the combined value is NaN; the inputs' saturation is ORed in when they name it as their `flags`.
   */
  mask?: Uint8Array | null;
  /** Where the mask band's first byte lies in its data unit (see {@link BandMask.position}). */
  maskPosition?: number;
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
  /** Per input: word sum of its encoded uncertainty slice (0 when none). */
  deviationSums: number[];
  /** Per input: ones' complement sum of its mask slice as it lies in the data unit (0 when none). */
  maskSums: number[];
  /** Per input: pixels set to NaN for saturation. */
  saturated: number[];
  /** Per input: finite values counted by a coarse histogram pass (or a pass counting below). */
  finite: number[];
  /** Per input: finite values below the fine buckets, in a pass counting below. */
  below: number[];
  /** Word sum of the encoded combined slice. */
  combineSum: number;
  /** Word sum of the encoded uncertainty of the combined slice. */
  combineDeviationSum: number;
  /** Ones' complement sum of the combine's mask slice as it lies in the data unit. */
  combineMaskSum: number;
  /** Sum of max(value, floor) over the finite combined values, and their count. */
  combineFlooredSum: number;
  combineCount: number;
}

/** Runs pixels `[start, end)` of a band task; `worker` picks this thread's histogram block. */
export function runBandSlice(task: BandTask, start: number, end: number, worker: number): BandSliceResult {
  const result: BandSliceResult = {
    sums: [],
    deviationSums: [],
    maskSums: [],
    saturated: [],
    finite: [],
    below: [],
    combineSum: 0,
    combineDeviationSum: 0,
    combineMaskSum: 0,
    combineFlooredSum: 0,
    combineCount: 0,
  };
  // Each master flat is normalized once for the band's pixels here, not once a light; so are the
  // uncertainty terms the lights of the band share (in the light kernel's memory, where it runs).
  const flats = new Set(task.inputs.map((input) => input.terms?.flat).filter((flat) => flat));
  const combos: unknown[][] = [];
  for (const input of task.inputs) {
    if (!input.deviation) continue;
    const key = deviationKey(input.terms, input.deviation.terms);
    if (!combos.some((known) => sameKey(known, key))) combos.push(key);
  }
  const kernelWanted = end - start >= KERNEL_FROM &&
    task.inputs.some((input) => kernelEncoding(input) !== null);
  const scratch = LightScratch.of(flats.size, combos.length, end, kernelWanted);
  const normalized = new Map<Float32Array, { divisor: Float64Array; which: number }>();
  const prepared: { key: unknown[]; terms: PreparedDeviation; kernel: KernelLayout | null }[] = [];
  task.combine?.mask?.fill(0, start, end);
  for (const input of task.inputs) {
    const band = input.band;
    const mask = input.mask ?? null;
    const terms = input.terms;
    let flat: { divisor: Float64Array; which: number } | undefined;
    if (terms?.flat) {
      flat = normalized.get(terms.flat);
      if (!flat) {
        flat = { divisor: scratch.flat(normalized.size), which: normalized.size };
        normalizeFlat(
          terms.flat,
          terms.flatMean ?? 1,
          terms.flatFloor ?? -Infinity,
          flat.divisor,
          start,
          end,
        );
        normalized.set(terms.flat, flat);
      }
    }
    const divisor = flat?.divisor;
    const deviation = input.deviation ?? null;
    let shared: (typeof prepared)[number] | undefined;
    if (deviation) {
      const key = deviationKey(terms, deviation.terms);
      shared = prepared.find((entry) => sameKey(entry.key, key));
      if (!shared) {
        const which = prepared.length;
        const made = prepareDeviation(
          terms,
          deviation.terms,
          divisor ?? null,
          scratch.deviation(which),
          start,
          end,
        );
        // The kernel takes the usual light: every master with its uncertainty.
        const usual = terms?.bias && terms.dark && flat && made.masterVariance && made.flatTerm;
        const kernel = usual
          ? scratch.stage(flat!.which, which, terms!.bias!, terms!.dark!, start, end)
          : null;
        shared = { key, terms: made, kernel };
        prepared.push(shared);
      }
    }
    // The usual MEF light goes through the light kernel in one pass, four pixels at a time; the passes
    // below take the rest (and every other input).
    let from = start;
    let kernelSums = { sum: 0, errorSum: 0, saturated: 0 };
    const zero = kernelEncoding(input);
    if (zero !== null && shared?.kernel && mask && !(mask.badPixels instanceof Float32Array)) {
      from = start + ((end - start) & ~3);
      kernelSums = runLightKernel(
        shared.kernel,
        {
          raw: input.raw!,
          zero,
          level: input.saturation ?? Infinity,
          map: mask.badPixels,
          mask: mask.out,
          encoded: input.encoded!,
          errorEncoded: deviation!.encoded!,
          darkScale: terms!.darkScale ?? 1,
          gain: deviation!.terms.gain,
          readNoise: deviation!.terms.readNoise,
          badBit: BAD_PIXEL_BIT,
          saturatedBit: SATURATED_BIT,
        },
        start,
        from,
      );
    }
    // A light's mask starts from the bad-pixel map as its band is decoded (saturation added there).
    const flags = mask?.out ?? input.flags ?? null;
    const base = mask ? { from: mask.badPixels } : null;
    result.saturated.push(kernelSums.saturated + decodeSlice(input, from, end, flags, base));
    if (deviation) {
      calibrateWithDeviation(band, deviation.out, terms, deviation.terms, from, end, {
        normalizedFlat: divisor,
        prepared: shared!.terms,
        mask: mask?.out,
        badBit: BAD_PIXEL_BIT,
      });
    } else {
      if (terms) calibrateBand(band, terms, from, end, divisor);
      if (mask) {
        const out = mask.out;
        for (let i = from; i < end; i++) if (!Number.isFinite(band[i])) out[i] |= BAD_PIXEL_BIT;
      }
    }
    result.maskSums.push(mask ? positionedSum(mask.out, start, end, (mask.position ?? 0) + start) : 0);
    result.sums.push(
      addSums(kernelSums.sum, input.encoded ? encodeFloat32BigEndian(band, input.encoded, from, end) : 0),
    );
    result.deviationSums.push(
      addSums(
        kernelSums.errorSum,
        deviation?.encoded ? encodeFloat32BigEndian(deviation.out, deviation.encoded, from, end) : 0,
      ),
    );
    const coarse = input.histogram?.coarse ?? null;
    const fine = input.histogram?.fine ?? null;
    const fineAt = fine && { ...fine, offset: worker * fine.buckets.length * HISTOGRAM_BINS };
    if (input.histogram?.countBelow && fineAt) {
      const { finite, below } = StreamingMedian.countBracket(band, start, end, fineAt);
      result.finite.push(finite);
      result.below.push(below);
    } else {
      const finite = coarse || fine
        ? StreamingMedian.count(
          band,
          start,
          end,
          coarse && { bins: coarse, offset: worker * HISTOGRAM_BINS },
          fineAt,
        )
        : 0;
      result.finite.push(coarse ? finite : 0);
      result.below.push(0);
    }
  }
  return task.combine ? { ...result, ...runCombineSlice(task, task.combine, start, end) } : result;
}

/** The combined band's pixels `[start, end)` and their totals (the `combine…` fields of a slice's result). */
function runCombineSlice(
  task: BandTask,
  combine: BandCombine,
  start: number,
  end: number,
): Pick<
  BandSliceResult,
  "combineSum" | "combineDeviationSum" | "combineMaskSum" | "combineFlooredSum" | "combineCount"
> {
  // The totals are locals returned in a fresh object: stored one by one into the slice's result, they
  // kept the JIT deoptimizing and compiling the slice's function again, slice after slice.
  const { out, floor } = combine;
  const deviation = combine.deviation ?? null;
  combineBand(combine.inputs.map((i) => task.inputs[i].band), out, combine.options, start, end, deviation);
  let combineMaskSum = 0;
  if (combine.mask) {
    flagNotFinite(out, combine.mask, start, end);
    combineMaskSum = positionedSum(combine.mask, start, end, (combine.maskPosition ?? 0) + start);
  }
  const combineDeviationSum = deviation && combine.deviationEncoded
    ? encodeFloat32BigEndian(deviation, combine.deviationEncoded, start, end)
    : 0;
  const [sum, count] = flooredSum(out, floor, start, end);
  const combineSum = combine.encoded ? encodeFloat32BigEndian(out, combine.encoded, start, end) : 0;
  return { combineSum, combineDeviationSum, combineMaskSum, combineFlooredSum: sum, combineCount: count };
}

// The slice's loops are functions of their own (here and in combine.ts): the slice function then has
// none for V8 to compile it again on stack replacement, each time one runs hot.

/** ORs {@link BAD_PIXEL_BIT} into `mask` where `values` is NaN, over `[start, end)`. */
function flagNotFinite(values: Float32Array, mask: Uint8Array, start: number, end: number): void {
  for (let i = start; i < end; i++) if (values[i] !== values[i]) mask[i] |= BAD_PIXEL_BIT;
}

/** The sum of max(v, floor) over the values of `[start, end)` that are not NaN, and their count. */
function flooredSum(values: Float32Array, floor: number, start: number, end: number): [number, number] {
  let sum = 0;
  let count = 0;
  for (let i = start; i < end; i++) {
    const v = values[i];
    if (v === v) {
      sum += v < floor ? floor : v;
      count++;
    }
  }
  return [sum, count];
}

/** Pixels of a slice from which its usual lights go through the light kernel. */
const KERNEL_FROM = 256;

/**
 * The integer `BZERO` of an input the light kernel takes whole (a camera's
 * uint16 band, stored as it is read, made into a MEF light whose values are
 * wanted only encoded), or null.
 */
function kernelEncoding(input: BandInput): number | null {
  const encoding = input.encoding;
  if (
    !input.encodedOnly || !input.raw || !encoding || input.layout || !input.keepSaturated || !input.encoded ||
    !input.deviation?.encoded || input.histogram
  ) return null;
  const { bitpix, bscale, bzero, blank } = encoding;
  const exact = Number.isInteger(bzero) && Math.abs(bzero) <= 1 << 23;
  return bitpix === 16 && bscale === 1 && blank === undefined && exact ? bzero : null;
}

/** What the lights sharing their uncertainty terms have in common: their masters, dark scale and masters' uncertainties. */
function deviationKey(terms: CalibrationTerms | null, d: DeviationTerms): unknown[] {
  return [terms?.bias, terms?.dark, terms?.darkScale, terms?.flat, d.biasError, d.darkError, d.flatError];
}

function sameKey(a: unknown[], b: unknown[]): boolean {
  return a.every((k, i) => k === b[i]);
}

/** Scratch of the thread running slices: one row's overscan. */
let overscanValues = new Float32Array(0);
let overscanScratch = new Float64Array(0);

/**
 * Decodes pixels `[start, end)` of an input's band from its stored bytes, flags
 * saturation from the stored values (into `flags`, and as NaN unless the input
 * keeps them), and subtracts the overscan; returns how many pixels were
 * saturated. The one place saturation is flagged. With `base`, `flags` is set
 * (to the base's bits, saturation added) rather than ORed into.
 */
function decodeSlice(
  input: BandInput,
  start: number,
  end: number,
  flags: Uint8Array | null,
  base: { from: Uint8Array | Float32Array | null } | null,
): number {
  const { raw, encoding, band } = input;
  const layout = input.layout ?? null;
  const keep = input.keepSaturated ?? false;
  // A mask to start gets every pixel set, saturated or not: with no level, nothing is.
  const level = input.saturation ?? (base ? Infinity : null);
  const saturate = base
    ? (values: Float32Array, level: number, from: number, to: number) =>
      startMask(values, level, flags!, base.from, keep, from, to)
    : (values: Float32Array, level: number, from: number, to: number) =>
      flagSaturation(values, level, flags, keep, from, to);
  if (!raw || !encoding) return level === null ? 0 : saturate(band, level, start, end);
  const size = Math.abs(encoding.bitpix) / 8;
  const decode = (from: number, to: number, out: Float32Array, at: number) =>
    convertBigEndian(
      raw.subarray(from * size, to * size),
      encoding.bitpix,
      out.subarray(at, at + to - from),
      to - from,
      encoding.bscale,
      encoding.bzero,
      encoding.blank,
    );
  if (!layout) {
    decode(start, end, band, start);
    return level === null ? 0 : saturate(band, level, start, end);
  }
  const { rawWidth, overscan, trim } = layout;
  const estimate = layout.estimate ?? "median";
  const levels = layout.levels ?? null;
  const firstRow = input.firstRow ?? 0;
  const width = trim.x1 - trim.x0;
  let saturated = 0;
  // Row by row: the slice may begin and end inside a row.
  for (let p = start; p < end;) {
    const row = Math.floor(p / width);
    const x = p - row * width;
    const n = Math.min(end - p, width - x);
    const stored = row * rawWidth + trim.x0 + x;
    decode(stored, stored + n, band, p);
    if (level !== null) saturated += saturate(band, level, p, p + n);
    if (levels?.per === "column") {
      const values = levels.values;
      for (let i = 0; i < n; i++) band[p + i] -= values[x + i];
    } else if (levels) {
      const offset = levels.values[firstRow + row];
      for (let i = p; i < p + n; i++) band[i] -= offset;
    } else if (overscan) {
      const columns = overscan.x1 - overscan.x0;
      if (overscanValues.length < columns) {
        overscanValues = new Float32Array(columns);
        overscanScratch = new Float64Array(columns);
      }
      decode(row * rawWidth + overscan.x0, row * rawWidth + overscan.x1, overscanValues, 0);
      const offset = overscanEstimate(overscanValues, 0, columns, estimate, overscanScratch);
      for (let i = p; i < p + n; i++) band[i] -= offset;
    }
    p += n;
  }
  return saturated;
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
    a.deviationSums[i] = addSums(a.deviationSums[i], b.deviationSums[i]);
    a.maskSums[i] = addSums(a.maskSums[i], b.maskSums[i]);
    a.saturated[i] += b.saturated[i];
    a.finite[i] += b.finite[i];
    a.below[i] += b.below[i];
  }
  a.combineSum = addSums(a.combineSum, b.combineSum);
  a.combineDeviationSum = addSums(a.combineDeviationSum, b.combineDeviationSum);
  a.combineMaskSum = addSums(a.combineMaskSum, b.combineMaskSum);
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

/**
 * Sets `mask[start, end)` to the bad-pixel map's bits (`from`, or 0) with
 * {@link SATURATED_BIT} where the value is at or above `level`, the value NaN
 * there unless `keep`; returns how many were saturated.
 */
function startMask(
  values: Float32Array,
  level: number,
  mask: Uint8Array,
  from: Uint8Array | Float32Array | null,
  keep: boolean,
  start: number,
  end: number,
): number {
  if (!(from instanceof Float32Array)) {
    // The map's bytes are the bits: copied, then saturation ORed in where there is any.
    if (from) mask.set(from.subarray(start, end), start);
    else mask.fill(0, start, end);
    return level === Infinity ? 0 : flagSaturation(values, level, mask, keep, start, end);
  }
  let flagged = 0;
  for (let i = start; i < end; i++) {
    let bits = from ? from[i] & 0xff : 0;
    if (values[i] >= level) {
      bits |= SATURATED_BIT;
      if (!keep) values[i] = NaN;
      flagged++;
    }
    mask[i] = bits;
  }
  return flagged;
}
