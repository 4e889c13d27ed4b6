/**
 * Pixel encodings of the FITS data unit, without files: big-endian integers or
 * floats (with BSCALE/BZERO, BLANK → NaN) decoded into Float32Array, and float32
 * encoded big-endian together with its checksum word sum. Pure and allocation-free,
 * so the pixel workers can run them on their slice of a band.
 *
 * @module
 */
import { foldSum } from "./checksum.ts";
import { decodeFloat32Simd, decodeInt16Simd, encodeFloat32Simd } from "./_simd.ts";

/** Pixels from which encoding and decoding go through WebAssembly SIMD (below, the copies cost more than they save). */
const SIMD_FROM = 256;

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** How stored values map to physical ones: `BITPIX`, `BSCALE`, `BZERO`, `BLANK`. */
export interface PixelEncoding {
  bitpix: number;
  bscale: number;
  bzero: number;
  /** The integer `BLANK` value (integer BITPIX only). */
  blank?: number;
}

/** Swaps bytes in place from big-endian words of `size` bytes to host order. */
function swapInPlace(bytes: Uint8Array, size: number): void {
  if (!LITTLE_ENDIAN) return;
  if (size === 2) {
    for (let i = 0; i < bytes.length; i += 2) {
      const a = bytes[i];
      bytes[i] = bytes[i + 1];
      bytes[i + 1] = a;
    }
  } else if (size === 4) {
    const words = new Uint32Array(bytes.buffer, bytes.byteOffset, bytes.length >>> 2);
    for (let i = 0; i < words.length; i++) {
      const x = words[i];
      words[i] = ((x & 0xff) << 24) | ((x & 0xff00) << 8) | ((x >>> 8) & 0xff00) | (x >>> 24);
    }
  } else if (size === 8) {
    for (let i = 0; i < bytes.length; i += 8) {
      for (let j = 0; j < 4; j++) {
        const a = bytes[i + j];
        bytes[i + j] = bytes[i + 7 - j];
        bytes[i + 7 - j] = a;
      }
    }
  }
}

/** Converts `count` big-endian pixels of `bitpix` in `bytes` (which it may overwrite) into `out`. */
export function convertBigEndian(
  bytes: Uint8Array,
  bitpix: number,
  out: Float32Array,
  count: number,
  bscale = 1,
  bzero = 0,
  blank?: number,
): void {
  const identity = bscale === 1 && bzero === 0;
  switch (bitpix) {
    case 8: {
      for (let i = 0; i < count; i++) {
        const v = bytes[i];
        out[i] = v === blank ? NaN : v * bscale + bzero;
      }
      return;
    }
    case 16: {
      if (
        blank === undefined && bscale === 1 && Number.isInteger(bzero) && Math.abs(bzero) <= 1 << 23 &&
        LITTLE_ENDIAN && count >= SIMD_FROM && decodeInt16Simd(bytes, out, count, bzero)
      ) return;
      if (blank === undefined && bscale === 1) {
        // The common camera case (uint16 via BZERO = 32768) without a multiply,
        // one 16-bit load per pixel when the bytes are aligned for it.
        if (LITTLE_ENDIAN && (bytes.byteOffset & 1) === 0) {
          const words = new Uint16Array(bytes.buffer, bytes.byteOffset, count);
          for (let i = 0; i < count; i++) {
            const v = words[i];
            out[i] = ((((v & 0xff) << 24) | ((v & 0xff00) << 8)) >> 16) + bzero;
          }
          return;
        }
        for (let i = 0, j = 0; i < count; i++, j += 2) {
          out[i] = (((bytes[j] << 24) | (bytes[j + 1] << 16)) >> 16) + bzero;
        }
        return;
      }
      for (let i = 0, j = 0; i < count; i++, j += 2) {
        const v = ((bytes[j] << 24) | (bytes[j + 1] << 16)) >> 16;
        out[i] = v === blank ? NaN : v * bscale + bzero;
      }
      return;
    }
    case 32: {
      swapInPlace(bytes.subarray(0, count * 4), 4);
      const words = new Int32Array(bytes.buffer, bytes.byteOffset, count);
      for (let i = 0; i < count; i++) {
        const v = words[i];
        out[i] = v === blank ? NaN : v * bscale + bzero;
      }
      return;
    }
    case 64: {
      swapInPlace(bytes.subarray(0, count * 8), 8);
      const words = new BigInt64Array(bytes.buffer, bytes.byteOffset, count);
      const blankBig = blank === undefined ? undefined : BigInt(blank);
      for (let i = 0; i < count; i++) {
        const v = words[i];
        out[i] = v === blankBig ? NaN : Number(v) * bscale + bzero;
      }
      return;
    }
    case -32: {
      if (identity && LITTLE_ENDIAN && count >= SIMD_FROM && decodeFloat32Simd(bytes, out, count)) return;
      swapInPlace(bytes.subarray(0, count * 4), 4);
      const floats = new Float32Array(bytes.buffer, bytes.byteOffset, count);
      if (identity) out.set(floats);
      else for (let i = 0; i < count; i++) out[i] = floats[i] * bscale + bzero;
      return;
    }
    case -64: {
      swapInPlace(bytes.subarray(0, count * 8), 8);
      const doubles = new Float64Array(bytes.buffer, bytes.byteOffset, count);
      for (let i = 0; i < count; i++) out[i] = doubles[i] * bscale + bzero;
      return;
    }
    default:
      throw new RangeError(`bad BITPIX ${bitpix}`);
  }
}

/**
 * Writes pixels `[start, end)` of `values` as big-endian float32 into `out` at byte
 * `4·start`, and returns the 32-bit ones' complement sum of those words (the FITS
 * checksum convention), so slices encoded apart can be added with `addSums`.
 */
export function encodeFloat32BigEndian(
  values: Float32Array,
  out: Uint8Array,
  start = 0,
  end: number = values.length,
): number {
  // Long runs go through WebAssembly SIMD where the host has it (the same bytes and sum).
  if (LITTLE_ENDIAN && end - start >= SIMD_FROM) {
    const sum = encodeFloat32Simd(values, out, start, end);
    if (sum !== null) return sum;
  }
  const words = new Uint32Array(out.buffer, out.byteOffset + start * 4, end - start);
  const floats = new Float32Array(out.buffer, out.byteOffset + start * 4, end - start);
  floats.set(values.subarray(start, end));
  let hi = 0;
  let lo = 0;
  for (let i = 0; i < words.length; i++) {
    // The word's value is the float's bits; on a little-endian host its bytes are then swapped.
    const x = words[i];
    if (LITTLE_ENDIAN) {
      words[i] = ((x & 0xff) << 24) | ((x & 0xff00) << 8) | ((x >>> 8) & 0xff00) | (x >>> 24);
    }
    hi += x >>> 16;
    lo += x & 0xffff;
  }
  return foldSum(hi, lo);
}
