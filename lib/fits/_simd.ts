/**
 * FITS byte order in WebAssembly SIMD, four or eight pixels per instruction
 * where JavaScript's loops do one:
 *
 * - encoding float32 pixels big-endian with their checksum word sum: one
 *   shuffle reverses each word, the two 16-bit halves of each word are summed
 *   in their own lanes (about 2 ns a pixel in JavaScript on a 2-core VM; this,
 *   with the copies into and out of the module's memory, about a quarter);
 * - decoding 16-bit integers with an integer `BZERO` (cameras' uint16) and
 *   big-endian float32 (our masters) into float32.
 *
 * Memory layout (one instance per thread): the sums (two v128: high halves,
 * low halves) at byte 0, the source from {@link SOURCE}, the result from
 * {@link SOURCE} + {@link CHUNK_BYTES}.
 *
 * @module
 */
import {
  at,
  forEachVector,
  func,
  I32,
  instantiate,
  MODULE_HEADER,
  name,
  op,
  section,
  V128,
  vec,
} from "../wasm_assembly.ts";
import { foldSum } from "./checksum.ts";

/** Words encoded per call: each lane then sums at most 16,384 halves of up to 65,535, well inside 32 bits. */
const CHUNK_WORDS = 1 << 16;
const CHUNK_BYTES = CHUNK_WORDS * 4;
/** Where the source words start (after the sums). */
const SOURCE = 64;
/** Shuffle lanes that reverse the bytes of each 32-bit word. */
const REVERSE_EACH_WORD = [3, 2, 1, 0, 7, 6, 5, 4, 11, 10, 9, 8, 15, 14, 13, 12];

/** The vector at `src + i` into local `v`, and stored at `dst + i` with each 4-byte word byte-reversed. */
function copyWordsSwapped(src: number, dst: number, i: number, v: number): number[] {
  return [
    ...at(dst, i),
    ...at(src, i),
    ...op.v128Load,
    ...op.set(v),
    ...op.get(v),
    ...op.get(v),
    ...op.i8x16Shuffle(REVERSE_EACH_WORD),
    ...op.v128Store,
  ];
}

/**
 * `hi += v >>> 16; lo += v & 0xffff`, lane by lane: the FITS checksum's sums of
 * the 16-bit halves of the words in local `v` (host-order values of the
 * big-endian words), `mask` a local holding 0xffff in each lane.
 */
export function addHalfSums(hi: number, lo: number, v: number, mask: number): number[] {
  return [
    ...op.get(hi),
    ...op.get(v),
    ...op.i32Const(16),
    ...op.i32x4ShrU,
    ...op.i32x4Add,
    ...op.set(hi),
    ...op.get(lo),
    ...op.get(v),
    ...op.get(mask),
    ...op.v128And,
    ...op.i32x4Add,
    ...op.set(lo),
  ];
}

/**
 * encode(src, dst, bytes, sums): the words at `src` byte-swapped to `dst`, and
 * the sums of their high and low 16-bit halves (as host-order words) added
 * lane by lane into two v128 at `sums`. Locals: 4 i (i32); 5 v, 6 hi, 7 lo, 8 mask (v128).
 */
function encodeBody(): number[] {
  const [src, dst, bytes, sums, i, v, hi, lo, mask] = [0, 1, 2, 3, 4, 5, 6, 7, 8];
  return [
    ...op.i32Const(0xffff),
    ...op.i32x4Splat,
    ...op.set(mask),
    ...forEachVector(i, bytes, [
      ...copyWordsSwapped(src, dst, i, v),
      ...addHalfSums(hi, lo, v, mask),
    ]),
    ...op.get(sums),
    ...op.get(hi),
    ...op.v128Store,
    ...op.get(sums),
    ...op.get(lo),
    ...op.v128StoreAt(16),
  ];
}

/**
 * decode16(src, dst, bytes, zero): big-endian int16 at `src` plus `zero`, as
 * float32 at `dst` (eight pixels a step: bytes swapped in each half-word by a
 * shuffle, widened to i32, the zero added, converted). Locals: 4 i (i32); 5 v, 6 z (v128).
 */
function decode16Body(): number[] {
  const [src, dst, bytes, zero, i, v, z] = [0, 1, 2, 3, 4, 5, 6];
  const swapHalves = [1, 0, 3, 2, 5, 4, 7, 6, 9, 8, 11, 10, 13, 12, 15, 14];
  // Each 16 bytes in become 32 out: dst + 2i, and 16 bytes further.
  const out = (offset: number) => [
    ...op.get(dst),
    ...at(i, i),
    ...op.i32Add,
    ...op.i32Const(offset),
    ...op.i32Add,
  ];
  const widen = (extend: number[]) => [
    ...op.get(v),
    ...extend,
    ...op.get(z),
    ...op.i32x4Add,
    ...op.f32x4ConvertI32x4S,
    ...op.v128Store,
  ];
  return [
    ...op.get(zero),
    ...op.i32x4Splat,
    ...op.set(z),
    ...forEachVector(i, bytes, [
      ...at(src, i),
      ...op.v128Load,
      ...op.set(v),
      ...op.get(v),
      ...op.get(v),
      ...op.i8x16Shuffle(swapHalves),
      ...op.set(v),
      ...out(0),
      ...widen(op.i32x4ExtendLowI16x8S),
      ...out(16),
      ...widen(op.i32x4ExtendHighI16x8S),
    ]),
  ];
}

/** swap32(src, dst, bytes): each 4-byte word at `src` byte-reversed to `dst`. Locals: 3 i (i32); 4 v (v128). */
function swap32Body(): number[] {
  const [src, dst, bytes, i, v] = [0, 1, 2, 3, 4];
  return forEachVector(i, bytes, copyWordsSwapped(src, dst, i, v));
}

/** The module's bytes. */
export function byteOrderSimdModule(): Uint8Array<ArrayBuffer> {
  const pages = Math.ceil((SOURCE + 2 * CHUNK_BYTES) / 65536);
  return new Uint8Array([
    ...MODULE_HEADER,
    ...section(
      1,
      vec([
        [0x60, ...vec([[I32], [I32], [I32], [I32]]), ...vec([])], // encode, decode16
        [0x60, ...vec([[I32], [I32], [I32]]), ...vec([])], // swap32
      ]),
    ),
    ...section(3, vec([[0], [0], [1]])),
    ...section(5, vec([[0x00, pages]])),
    ...section(
      7,
      vec([
        [...name("encode"), 0x00, 0],
        [...name("decode16"), 0x00, 1],
        [...name("swap32"), 0x00, 2],
        [...name("memory"), 0x02, 0],
      ]),
    ),
    ...section(
      10,
      vec([
        func([[1, I32], [4, V128]], encodeBody()),
        func([[1, I32], [2, V128]], decode16Body()),
        func([[1, I32], [1, V128]], swap32Body()),
      ]),
    ),
  ]);
}

interface ByteOrderSimd {
  memory: WebAssembly.Memory;
  encode(src: number, dst: number, bytes: number, sums: number): void;
  decode16(src: number, dst: number, bytes: number, zero: number): void;
  swap32(src: number, dst: number, bytes: number): void;
}

let instance: ByteOrderSimd | null | undefined;

function byteOrderSimd(): ByteOrderSimd | null {
  if (instance === undefined) instance = instantiate<ByteOrderSimd>(byteOrderSimdModule());
  return instance;
}

/**
 * `values[start, end)` as big-endian float32 into `out` (pixel i at byte 4·i),
 * returning their ones' complement word sum; null where WebAssembly SIMD is
 * unavailable (the caller's JavaScript loop runs). Little-endian hosts only.
 */
export function encodeFloat32Simd(
  values: Float32Array,
  out: Uint8Array,
  start: number,
  end: number,
): number | null {
  const simd = byteOrderSimd();
  if (!simd) return null;
  const memory = simd.memory.buffer;
  const source = new Float32Array(memory, SOURCE, CHUNK_WORDS);
  const encoded = new Uint8Array(memory, SOURCE + CHUNK_BYTES, CHUNK_BYTES);
  const sums = new Uint32Array(memory, 0, 8);
  let hi = 0;
  let lo = 0;
  for (let from = start; from < end; from += CHUNK_WORDS) {
    const count = Math.min(CHUNK_WORDS, end - from);
    const padded = (count + 3) & ~3;
    source.set(values.subarray(from, from + count));
    // Zero words add nothing to the sums.
    source.fill(0, count, padded);
    sums.fill(0);
    simd.encode(SOURCE, SOURCE + CHUNK_BYTES, padded * 4, 0);
    out.set(encoded.subarray(0, count * 4), from * 4);
    hi += sums[0] + sums[1] + sums[2] + sums[3];
    lo += sums[4] + sums[5] + sums[6] + sums[7];
  }
  return foldSum(hi, lo);
}

/**
 * `count` big-endian int16 pixels of `bytes` plus the integer `zero` into
 * `out` as float32 (exact: |value| stays below 2^24); false where WebAssembly
 * SIMD is unavailable. Little-endian hosts only.
 */
export function decodeInt16Simd(bytes: Uint8Array, out: Float32Array, count: number, zero: number): boolean {
  const simd = byteOrderSimd();
  if (!simd) return false;
  const memory = simd.memory.buffer;
  // Half-words in, words out: a chunk of CHUNK_BYTES / 4 pixels fills the result's half of memory.
  const pixels = CHUNK_BYTES / 4;
  const source = new Uint8Array(memory, SOURCE, CHUNK_BYTES);
  const result = new Float32Array(memory, SOURCE + CHUNK_BYTES, pixels);
  for (let from = 0; from < count; from += pixels) {
    const n = Math.min(pixels, count - from);
    const padded = (n + 7) & ~7;
    source.set(bytes.subarray(from * 2, (from + n) * 2));
    source.fill(0, n * 2, padded * 2);
    simd.decode16(SOURCE, SOURCE + CHUNK_BYTES, padded * 2, zero);
    out.set(result.subarray(0, n), from);
  }
  return true;
}

/**
 * `count` big-endian float32 pixels of `bytes` into `out`; false where
 * WebAssembly SIMD is unavailable. Little-endian hosts only.
 */
export function decodeFloat32Simd(bytes: Uint8Array, out: Float32Array, count: number): boolean {
  const simd = byteOrderSimd();
  if (!simd) return false;
  const memory = simd.memory.buffer;
  const source = new Uint8Array(memory, SOURCE, CHUNK_BYTES);
  const result = new Float32Array(memory, SOURCE + CHUNK_BYTES, CHUNK_WORDS);
  for (let from = 0; from < count; from += CHUNK_WORDS) {
    const n = Math.min(CHUNK_WORDS, count - from);
    const padded = (n + 3) & ~3;
    source.set(bytes.subarray(from * 4, (from + n) * 4));
    source.fill(0, n * 4, padded * 4);
    simd.swap32(SOURCE, SOURCE + CHUNK_BYTES, padded * 4);
    out.set(result.subarray(0, n), from);
  }
  return true;
}
