/**
 * Encoding float32 pixels as FITS stores them (big-endian) with their checksum
 * word sum, in WebAssembly SIMD: four pixels per instruction, byte order
 * reversed by one shuffle, the two 16-bit halves of each word summed in their
 * own lanes. JavaScript's loop does a pixel at a time (about 2 ns a pixel on a
 * 2-core VM); this, with the copies into and out of the module's memory, about
 * a quarter of that.
 *
 * Memory layout (one instance per thread): the sums (two v128: high halves,
 * low halves) at byte 0, the source words from {@link SOURCE}, the encoded
 * bytes from {@link SOURCE} + {@link CHUNK_BYTES}.
 *
 * @module
 */
import { forEachVector, func, I32, MODULE_HEADER, name, op, section, V128, vec } from "../wasm_assembly.ts";
import { foldSum } from "./checksum.ts";

/** Words encoded per call: each lane then sums at most 16,384 halves of up to 65,535, well inside 32 bits. */
const CHUNK_WORDS = 1 << 16;
const CHUNK_BYTES = CHUNK_WORDS * 4;
/** Where the source words start (after the sums). */
const SOURCE = 64;

/**
 * encode(src, dst, bytes, sums): the words at `src` byte-swapped to `dst`, and
 * the sums of their high and low 16-bit halves (as host-order words) added
 * lane by lane into two v128 at `sums`. Locals: 4 i (i32); 5 v, 6 hi, 7 lo, 8 mask (v128).
 */
function encodeBody(): number[] {
  const [src, dst, bytes, sums, i, v, hi, lo, mask] = [0, 1, 2, 3, 4, 5, 6, 7, 8];
  const reverseEachWord = [3, 2, 1, 0, 7, 6, 5, 4, 11, 10, 9, 8, 15, 14, 13, 12];
  return [
    ...op.i32Const(0xffff),
    ...op.i32x4Splat,
    ...op.set(mask),
    ...forEachVector(i, bytes, [
      ...op.get(dst),
      ...op.get(i),
      ...op.i32Add,
      ...op.get(src),
      ...op.get(i),
      ...op.i32Add,
      ...op.v128Load,
      ...op.set(v),
      ...op.get(v),
      ...op.get(v),
      ...op.i8x16Shuffle(reverseEachWord),
      ...op.v128Store,
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
    ]),
    ...op.get(sums),
    ...op.get(hi),
    ...op.v128Store,
    ...op.get(sums),
    ...op.get(lo),
    ...op.v128StoreAt(16),
  ];
}

/** The module's bytes. */
export function encodeSimdModule(): Uint8Array<ArrayBuffer> {
  const pages = Math.ceil((SOURCE + 2 * CHUNK_BYTES) / 65536);
  return new Uint8Array([
    ...MODULE_HEADER,
    ...section(1, vec([[0x60, ...vec([[I32], [I32], [I32], [I32]]), ...vec([])]])),
    ...section(3, vec([[0]])),
    ...section(5, vec([[0x00, pages]])),
    ...section(7, vec([[...name("encode"), 0x00, 0], [...name("memory"), 0x02, 0]])),
    ...section(10, vec([func([[1, I32], [4, V128]], encodeBody())])),
  ]);
}

interface EncodeSimd {
  memory: WebAssembly.Memory;
  encode(src: number, dst: number, bytes: number, sums: number): void;
}

let instance: EncodeSimd | null | undefined;

function encodeSimd(): EncodeSimd | null {
  if (instance !== undefined) return instance;
  try {
    instance = new WebAssembly.Instance(new WebAssembly.Module(encodeSimdModule()))
      .exports as unknown as EncodeSimd;
  } catch {
    instance = null;
  }
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
  const simd = encodeSimd();
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
