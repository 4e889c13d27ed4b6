/**
 * The scratch a band slice's lights share, worked out once for all of them: the
 * normalized flats and the uncertainty terms of each combination of masters
 * (see `deviation.ts`). Where the light kernel runs (`_light_simd.ts`) and the
 * slice has lights with an uncertainty, they are laid out in its memory, with a
 * copy of each combination's bias and dark and room for one light's bytes, so the
 * kernel reads the terms where they were made; elsewhere, in plain arrays kept
 * by the thread.
 *
 * Every region is indexed by the band's pixel (pixel i of a region at its
 * offset + i · size), as the slice's own arrays are.
 *
 * @module
 */
import { foldSum } from "../fits/checksum.ts";
import { type LightSimd, lightSimd, SUMS_BYTES } from "./_light_simd.ts";

/** The shared uncertainty terms of one combination of masters (see `prepareDeviation`). */
export interface DeviationScratch {
  variance: Float64Array;
  inverse: Float64Array;
  flat: Float64Array;
}

/** A combination's regions in the kernel's memory (byte offsets of pixel 0). */
interface ComboRegions {
  variance: number;
  inverse: number;
  flatTerm: number;
  bias: number;
  dark: number;
}

/** Where one light's bytes go in and out of the kernel's memory (byte offsets of pixel 0), and its sums. */
interface Staging {
  simd: LightSimd;
  raw: number;
  map: number;
  sci: number;
  err: number;
  mask: number;
  sums: number;
}

/** Where the kernel finds a light's terms (byte offsets of pixel 0 in its memory), and its staging. */
export interface KernelLayout extends Staging {
  norm: number;
  combo: ComboRegions;
}

/** The slice's regions in the kernel's memory. */
interface KernelRegions extends Staging {
  flats: number[];
  combos: ComboRegions[];
}

/** What the kernel needs of one light (a camera's uint16 frame with its mask and uncertainty; see `band_task.ts`). */
export interface KernelLight {
  /** The stored big-endian 16-bit pixels of the band. */
  raw: Uint8Array;
  /** The integer `BZERO`. */
  zero: number;
  /** Stored values at or above this are saturated (flagged, kept): Infinity for none. */
  level: number;
  /** The bad-pixel map's bytes, or none. */
  map: Uint8Array | null;
  /** Out: the mask, and the calibrated values and their uncertainty encoded big-endian. */
  mask: Uint8Array;
  encoded: Uint8Array;
  errorEncoded: Uint8Array;
  darkScale: number;
  gain: number;
  readNoise: number;
  badBit: number;
  saturatedBit: number;
}

/** Pixels a kernel call: each sum lane then adds at most 16,384 halves of up to 65,535, inside 32 bits. */
const CALL_PIXELS = 1 << 16;

/** Scratch of the thread without the kernel: reused from slice to slice. */
const plainFlats: Float64Array[] = [];
const plainDeviations: DeviationScratch[] = [];

function aligned(bytes: number): number {
  return (bytes + 15) & ~15;
}

/** The normalized flats and shared uncertainty terms of one band slice. */
export class LightScratch {
  readonly #flats: Float64Array[];
  readonly #deviations: DeviationScratch[];
  readonly #kernel: KernelRegions | null;

  private constructor(flats: Float64Array[], deviations: DeviationScratch[], kernel: KernelRegions | null) {
    this.#flats = flats;
    this.#deviations = deviations;
    this.#kernel = kernel;
  }

  /**
   * Room for `flats` normalized flats and `combos` combinations' terms over
   * pixels `[0, end)`: in the kernel's memory when `kernel` asks for it and
   * WebAssembly SIMD runs.
   */
  static of(flats: number, combos: number, end: number, kernel: boolean): LightScratch {
    const simd = kernel && combos > 0 ? lightSimd() : null;
    if (!simd) {
      for (let i = 0; i < flats; i++) {
        if (!plainFlats[i] || plainFlats[i].length < end) plainFlats[i] = new Float64Array(end);
      }
      for (let i = 0; i < combos; i++) {
        if (!plainDeviations[i] || plainDeviations[i].variance.length < end) {
          plainDeviations[i] = {
            variance: new Float64Array(end),
            inverse: new Float64Array(end),
            flat: new Float64Array(end),
          };
        }
      }
      return new LightScratch(plainFlats.slice(0, flats), plainDeviations.slice(0, combos), null);
    }
    let at = 0;
    const take = (bytes: number) => {
      const offset = at;
      at += aligned(bytes);
      return offset;
    };
    const regions: KernelRegions = {
      simd,
      flats: Array.from({ length: flats }, () => take(end * 8)),
      combos: Array.from({ length: combos }, () => ({
        variance: take(end * 8),
        inverse: take(end * 8),
        flatTerm: take(end * 8),
        bias: take(end * 4),
        dark: take(end * 4),
      })),
      raw: take(end * 2),
      map: take(end),
      sci: take(end * 4),
      err: take(end * 4),
      mask: take(end),
      sums: take(SUMS_BYTES),
    };
    if (simd.memory.buffer.byteLength < at) {
      simd.memory.grow(Math.ceil((at - simd.memory.buffer.byteLength) / 65536));
    }
    // The views are made once the memory has grown (growing detaches the views made before).
    const memory = simd.memory.buffer;
    return new LightScratch(
      regions.flats.map((offset) => new Float64Array(memory, offset, end)),
      regions.combos.map((combo) => ({
        variance: new Float64Array(memory, combo.variance, end),
        inverse: new Float64Array(memory, combo.inverse, end),
        flat: new Float64Array(memory, combo.flatTerm, end),
      })),
      regions,
    );
  }

  /** Normalized flat `which`. */
  flat(which: number): Float64Array {
    return this.#flats[which];
  }

  /** The terms of combination `which`. */
  deviation(which: number): DeviationScratch {
    return this.#deviations[which];
  }

  /**
   * Where the kernel calibrates a light of combination `combo` with normalized
   * flat `flat`, with that combination's bias and dark copied in over
   * `[start, end)` (call it once per combination); null without the kernel.
   */
  stage(
    flat: number,
    combo: number,
    bias: Float32Array,
    dark: Float32Array,
    start: number,
    end: number,
  ): KernelLayout | null {
    const kernel = this.#kernel;
    if (!kernel) return null;
    const regions = kernel.combos[combo];
    const memory = kernel.simd.memory.buffer;
    new Float32Array(memory, regions.bias, end).set(bias.subarray(start, end), start);
    new Float32Array(memory, regions.dark, end).set(dark.subarray(start, end), start);
    const { simd, raw, map, sci, err, mask, sums } = kernel;
    return { simd, norm: kernel.flats[flat], combo: regions, raw, map, sci, err, mask, sums };
  }
}

/**
 * Runs pixels `[start, end)` (a multiple of 4) of a light through the kernel:
 * its bytes copied in beside the terms, its mask and both encodings copied out;
 * returns the word sums of its encoded values and uncertainty, and how many
 * pixels were saturated.
 */
export function runLightKernel(
  layout: KernelLayout,
  light: KernelLight,
  start: number,
  end: number,
): { sum: number; errorSum: number; saturated: number } {
  const { simd, combo } = layout;
  const memory = simd.memory.buffer;
  const raw = new Uint8Array(memory, layout.raw, end * 2);
  const map = new Uint8Array(memory, layout.map, end);
  raw.set(light.raw.subarray(start * 2, end * 2), start * 2);
  if (light.map) map.set(light.map.subarray(start, end), start);
  else map.fill(0, start, end);
  const sums = new Uint32Array(memory, layout.sums, SUMS_BYTES / 4);
  const counts = new Int32Array(memory, layout.sums + 64, 4);
  const perElectron = 1 / (light.gain * light.gain);
  const readVariance = (light.readNoise / light.gain) ** 2;
  let hi = 0;
  let lo = 0;
  let errorHi = 0;
  let errorLo = 0;
  let saturated = 0;
  for (let from = start; from < end; from += CALL_PIXELS) {
    const to = Math.min(end, from + CALL_PIXELS);
    simd.light(
      layout.raw + 2 * from,
      layout.map + from,
      combo.bias + 4 * from,
      combo.dark + 4 * from,
      layout.norm + 8 * from,
      combo.variance + 8 * from,
      combo.inverse + 8 * from,
      combo.flatTerm + 8 * from,
      layout.sci + 4 * from,
      layout.err + 4 * from,
      layout.mask + from,
      layout.sums,
      to - from,
      light.zero,
      light.level,
      light.darkScale,
      light.gain,
      perElectron,
      readVariance,
      light.badBit,
      light.saturatedBit,
    );
    hi += sums[0] + sums[1] + sums[2] + sums[3];
    lo += sums[4] + sums[5] + sums[6] + sums[7];
    errorHi += sums[8] + sums[9] + sums[10] + sums[11];
    errorLo += sums[12] + sums[13] + sums[14] + sums[15];
    // Two i64 lanes of counts (each far below 2^31: their low words).
    saturated += counts[0] + counts[2];
  }
  light.encoded.set(new Uint8Array(memory, layout.sci + 4 * start, 4 * (end - start)), 4 * start);
  light.errorEncoded.set(new Uint8Array(memory, layout.err + 4 * start, 4 * (end - start)), 4 * start);
  light.mask.set(new Uint8Array(memory, layout.mask + start, end - start), start);
  return { sum: foldSum(hi, lo), errorSum: foldSum(errorHi, errorLo), saturated };
}
