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
  increment,
  instantiate,
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

// Scaled inputs (flats) in double precision, as ccdproc scales and combines them: each input's float32
// row (its "raw" row) times its scale, an f64 in memory. Two pixels a step, promoted to f64x2.

/** `f64x2(raw[addr + offset], raw[addr + offset + 4]) × scale`, the address on the stack, the scale in local `sc`. */
function scaledPair(offset: number, sc: number): number[] {
  return [...op.v128Load64Zero(offset), ...op.f64x2PromoteLowF32x4, ...op.get(sc), ...op.f64x2Mul];
}

/**
 * scale(row, rows, stride, raw, scales, bytes): row i becomes float32(raw row i ×
 * scales[i]) over `bytes` bytes, for `rows` rows (`stride` bytes apart in both).
 * Locals: 6 i (i32); 7 sc (v128).
 */
function scaleBody(): number[] {
  const [row, rows, stride, raw, scales, bytes, i, sc] = [0, 1, 2, 3, 4, 5, 6, 7];
  const half = (offset: number) => [
    ...at(row, i),
    ...at(raw, i),
    ...scaledPair(offset, sc),
    ...op.f32x4DemoteF64x2Zero,
    ...op.v128Store64Lane0(offset),
  ];
  return forEachRow(row, rows, stride, [
    ...op.get(scales),
    ...op.f64Load(0),
    ...op.f64x2Splat,
    ...op.set(sc),
    ...forEachVector(i, bytes, [...half(0), ...half(8)]),
    ...increment(raw, op.get(stride)),
    ...increment(scales, op.i32Const(8)),
  ]);
}

/**
 * centers(raw, rows, stride, scales, key, out, ties, bytes) → anyTie: for each
 * pixel of the key row (float32 values over `bytes` bytes), the scaled input in
 * double precision whose float32 rounding is the key (the first such input; the
 * key itself when none is), written as an f64 to `out`; where more than one
 * input rounds to the key (their order in double precision unknown here), all
 * ones (8 bytes) to `ties`, else zeros; returns 1 when any pixel has a tie.
 * Locals: 8 j, 9 r, 10 s, 11 left (i32); 12 k, 13 c, 14 v, 15 e, 16 seen, 17 tie, 18 any (v128).
 */
function centersBody(): number[] {
  const [raw, rows, stride, scales, key, out, ties, bytes, j, r, s, left, k, c, v, e, seen, tie, any] = Array
    .from({ length: 19 }, (_, i) => i);
  const twice = (local: number) => [...at(local, j), ...op.get(j), ...op.i32Add];
  const zero = (local: number) => [...op.get(any), ...op.get(any), ...op.v128Xor, ...op.set(local)];
  return [
    ...forEachVector(j, bytes, [
      ...at(key, j),
      ...op.v128Load64Zero(0),
      ...op.f64x2PromoteLowF32x4,
      ...op.set(k),
      ...op.get(k),
      ...op.set(c),
      ...op.get(raw),
      ...op.set(r),
      ...op.get(scales),
      ...op.set(s),
      ...op.get(rows),
      ...op.set(left),
      ...zero(seen),
      ...zero(tie),
      ...forEachRow(r, left, stride, [
        ...at(r, j),
        ...op.v128Load64Zero(0),
        ...op.f64x2PromoteLowF32x4,
        ...op.get(s),
        ...op.f64Load(0),
        ...op.f64x2Splat,
        ...op.f64x2Mul,
        ...op.set(v),
        // e = float32(v) == key; the first match becomes c, a second one is a tie.
        ...op.get(v),
        ...op.f32x4DemoteF64x2Zero,
        ...op.f64x2PromoteLowF32x4,
        ...op.get(k),
        ...op.f64x2Eq,
        ...op.set(e),
        ...op.get(v),
        ...op.get(c),
        ...op.get(e),
        ...op.get(seen),
        ...op.v128AndNot,
        ...op.v128Bitselect,
        ...op.set(c),
        ...op.get(tie),
        ...op.get(seen),
        ...op.get(e),
        ...op.v128And,
        ...op.v128Or,
        ...op.set(tie),
        ...op.get(seen),
        ...op.get(e),
        ...op.v128Or,
        ...op.set(seen),
        ...increment(s, op.i32Const(8)),
      ]),
      ...twice(out),
      ...op.get(c),
      ...op.v128Store,
      ...twice(ties),
      ...op.get(tie),
      ...op.v128Store,
      ...op.get(any),
      ...op.get(tie),
      ...op.v128Or,
      ...op.set(any),
    ], 8),
    ...op.get(any),
    ...op.v128AnyTrue,
  ];
}

/**
 * deviations(raw, rows, stride, scales, centers, out, bytes): row i of `out`
 * becomes float32(|raw row i × scales[i] − centers|), the centers f64, over
 * `bytes` bytes of float32, for `rows` rows. Locals: 7 i, 8 ci (i32); 9 sc (v128).
 */
function deviationsBody(): number[] {
  const [raw, rows, stride, scales, centers, out, bytes, i, ci, sc] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9];
  const half = (offset: number) => [
    ...at(out, i),
    ...at(raw, i),
    ...scaledPair(offset, sc),
    ...op.get(ci),
    ...op.v128LoadAt(2 * offset),
    ...op.f64x2Sub,
    ...op.f64x2Abs,
    ...op.f32x4DemoteF64x2Zero,
    ...op.v128Store64Lane0(offset),
  ];
  return forEachRow(raw, rows, stride, [
    ...op.get(scales),
    ...op.f64Load(0),
    ...op.f64x2Splat,
    ...op.set(sc),
    ...forEachVector(i, bytes, [
      ...at(centers, i),
      ...op.get(i),
      ...op.i32Add,
      ...op.set(ci),
      ...half(0),
      ...half(8),
    ]),
    ...increment(out, op.get(stride)),
    ...increment(scales, op.i32Const(8)),
  ]);
}

/** The module's bytes. */
export function medianSimdModule(): Uint8Array<ArrayBuffer> {
  const types = [
    [0x60, ...vec([[I32], [I32], [I32]]), ...vec([])], // net
    [0x60, ...vec([[I32], [I32], [I32], [I32]]), ...vec([[I32]])], // keys
    [0x60, ...vec([[I32], [I32]]), ...vec([])], // unkey
    [0x60, ...vec([[I32], [I32], [I32], [I32], [I32]]), ...vec([])], // absdiff
    [0x60, ...vec([[I32], [I32], [I32], [I32], [I32], [I32]]), ...vec([])], // scale
    [0x60, ...vec([[I32], [I32], [I32], [I32], [I32], [I32], [I32]]), ...vec([])], // deviations
    [0x60, ...vec([[I32], [I32], [I32], [I32], [I32], [I32], [I32], [I32]]), ...vec([[I32]])], // centers
  ];
  return new Uint8Array([
    ...MODULE_HEADER,
    ...section(1, vec(types)),
    ...section(3, vec([[0], [1], [2], [3], [4], [6], [5]])),
    ...section(5, vec([[0x00, ...uleb(2)]])),
    ...section(
      7,
      vec([
        [...name("net"), 0x00, 0],
        [...name("keys"), 0x00, 1],
        [...name("unkey"), 0x00, 2],
        [...name("absdiff"), 0x00, 3],
        [...name("scale"), 0x00, 4],
        [...name("centers"), 0x00, 5],
        [...name("deviations"), 0x00, 6],
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
        func([[1, I32], [1, V128]], scaleBody()),
        func([[4, I32], [7, V128]], centersBody()),
        func([[2, I32], [1, V128]], deviationsBody()),
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
  scale(row: number, rows: number, stride: number, raw: number, scales: number, bytes: number): void;
  centers(
    raw: number,
    rows: number,
    stride: number,
    scales: number,
    key: number,
    out: number,
    ties: number,
    bytes: number,
  ): number;
  deviations(
    raw: number,
    rows: number,
    stride: number,
    scales: number,
    centers: number,
    out: number,
    bytes: number,
  ): void;
}

let instance: MedianSimd | null | undefined;

/** This thread's instance, or null where WebAssembly SIMD is unavailable (the JavaScript network runs). */
export function medianSimd(): MedianSimd | null {
  if (instance === undefined) instance = instantiate<MedianSimd>(medianSimdModule());
  return instance;
}
