/**
 * The median network's inner loops in WebAssembly SIMD: four pixels per
 * instruction where the JavaScript loop does one. The module is small enough to
 * be assembled here from its instructions (below, with the text format beside
 * each), so there is no binary blob and no build step.
 *
 * Memory layout (one instance per thread, laid out by the caller): the
 * comparator table at byte 0, as (low, high) byte offsets of rows, then the rows.
 *
 * @module
 */

import {
  at,
  forEachRow,
  forEachVector,
  func,
  I32,
  MODULE_HEADER,
  name,
  op,
  section,
  uleb,
  V128,
  vec,
} from "../wasm_assembly.ts";

/**
 * net(pairs, count, bytes): for each of `count` comparators at `pairs`, rows lo
 * and hi become their element-wise min and max over `bytes` bytes.
 * Locals: 3 lo, 4 hi, 5 i (i32); 6 a, 7 b (v128).
 */
function netBody(): number[] {
  const [pairs, count, bytes, lo, hi, i, a, b] = [0, 1, 2, 3, 4, 5, 6, 7];
  const at = (row: number) => [...op.get(row), ...op.get(i), ...op.i32Add];
  return [
    ...op.block,
    ...op.loop,
    ...op.get(count),
    ...op.i32Eqz,
    ...op.brIf(1),
    ...op.get(pairs),
    ...op.i32Load(0),
    ...op.set(lo),
    ...op.get(pairs),
    ...op.i32Load(4),
    ...op.set(hi),
    ...forEachVector(i, bytes, [
      ...at(lo),
      ...op.v128Load,
      ...op.set(a),
      ...at(hi),
      ...op.v128Load,
      ...op.set(b),
      ...at(lo),
      ...op.get(a),
      ...op.get(b),
      ...op.i32x4MinS,
      ...op.v128Store,
      ...at(hi),
      ...op.get(a),
      ...op.get(b),
      ...op.i32x4MaxS,
      ...op.v128Store,
    ]),
    ...op.get(pairs),
    ...op.i32Const(8),
    ...op.i32Add,
    ...op.set(pairs),
    ...op.get(count),
    ...op.i32Const(1),
    ...op.i32Sub,
    ...op.set(count),
    ...op.br(0),
    ...op.end,
    ...op.end,
  ];
}

/** `v = v ^ ((v >> 31) & 0x7fffffff)` on the v128 in local `v`: float bits ⇄ order-preserving keys. */
function flipKey(v: number): number[] {
  return [
    ...op.get(v),
    ...op.get(v),
    ...op.i32Const(31),
    ...op.i32x4ShrS,
    ...op.i32Const(0x7fffffff),
    ...op.i32x4Splat,
    ...op.v128And,
    ...op.v128Xor,
  ];
}

/**
 * keys(row, rows, stride, bytes) → anyNaN: turns `rows` rows of float32 bits
 * from `row` (each `stride` bytes apart) into keys in place; returns 1 when any
 * value was NaN. Locals: 4 i (i32); 5 v, 6 nan (v128).
 */
function keysBody(): number[] {
  const [row, rows, stride, bytes, i, v, nan] = [0, 1, 2, 3, 4, 5, 6];
  return [
    ...forEachRow(
      row,
      rows,
      stride,
      forEachVector(i, bytes, [
        ...at(row, i),
        ...op.v128Load,
        ...op.set(v),
        ...op.get(nan),
        ...op.get(v),
        ...op.get(v),
        ...op.f32x4Ne,
        ...op.v128Or,
        ...op.set(nan),
        ...at(row, i),
        ...flipKey(v),
        ...op.v128Store,
      ]),
    ),
    ...op.get(nan),
    ...op.v128AnyTrue,
  ];
}

/** unkey(row, bytes): keys back to float32 bits in one row. Locals: 2 i (i32); 3 v (v128). */
function unkeyBody(): number[] {
  const [row, bytes, i, v] = [0, 1, 2, 3];
  return forEachVector(i, bytes, [
    ...at(row, i),
    ...op.v128Load,
    ...op.set(v),
    ...at(row, i),
    ...flipKey(v),
    ...op.v128Store,
  ]);
}

/**
 * absdiff(row, rows, stride, center, bytes): |value − center| in place, float32,
 * over `rows` rows from `row` (each `stride` bytes apart) against the row at
 * `center`. Locals: 5 i (i32).
 */
function absdiffBody(): number[] {
  const [row, rows, stride, center, bytes, i] = [0, 1, 2, 3, 4, 5];
  return [
    ...forEachRow(
      row,
      rows,
      stride,
      forEachVector(i, bytes, [
        ...at(row, i),
        ...at(row, i),
        ...op.v128Load,
        ...at(center, i),
        ...op.v128Load,
        ...op.f32x4Sub,
        ...op.f32x4Abs,
        ...op.v128Store,
      ]),
    ),
  ];
}

/** The module's bytes. */
export function medianSimdModule(): Uint8Array<ArrayBuffer> {
  const types = [
    [0x60, ...vec([[I32], [I32], [I32]]), ...vec([])], // net
    [0x60, ...vec([[I32], [I32], [I32], [I32]]), ...vec([[I32]])], // keys
    [0x60, ...vec([[I32], [I32]]), ...vec([])], // unkey
    [0x60, ...vec([[I32], [I32], [I32], [I32], [I32]]), ...vec([])], // absdiff
  ];
  return new Uint8Array([
    ...MODULE_HEADER,
    ...section(1, vec(types)),
    ...section(3, vec([[0], [1], [2], [3]])),
    ...section(5, vec([[0x00, ...uleb(2)]])),
    ...section(
      7,
      vec([
        [...name("net"), 0x00, 0],
        [...name("keys"), 0x00, 1],
        [...name("unkey"), 0x00, 2],
        [...name("absdiff"), 0x00, 3],
        [...name("memory"), 0x02, 0],
      ]),
    ),
    ...section(
      10,
      vec([
        func([[3, I32], [2, V128]], netBody()),
        func([[1, I32], [2, V128]], keysBody()),
        func([[1, I32], [1, V128]], unkeyBody()),
        func([[1, I32]], absdiffBody()),
      ]),
    ),
  ]);
}

/** The assembled kernels of one thread. */
export interface MedianSimd {
  memory: WebAssembly.Memory;
  net(pairs: number, count: number, bytes: number): void;
  keys(row: number, rows: number, stride: number, bytes: number): number;
  unkey(row: number, bytes: number): void;
  absdiff(row: number, rows: number, stride: number, center: number, bytes: number): void;
}

let instance: MedianSimd | null | undefined;

/** This thread's instance, or null where WebAssembly SIMD is unavailable (the JavaScript network runs). */
export function medianSimd(): MedianSimd | null {
  if (instance !== undefined) return instance;
  try {
    const module = new WebAssembly.Module(medianSimdModule());
    instance = new WebAssembly.Instance(module).exports as unknown as MedianSimd;
  } catch {
    instance = null;
  }
  return instance;
}
