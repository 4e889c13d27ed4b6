/**
 * A small WebAssembly assembler: the numbers, opcodes and sections our SIMD
 * kernels (`lib/ccd/_median_simd.ts`, `lib/fits/_encode_simd.ts`) are written
 * in, so each module is assembled from its instructions at start-up, with no
 * binary blob and no build step.
 *
 * @module
 */

/** Value type i32. */
export const I32 = 0x7f;
/** Value type f64. */
export const F64 = 0x7c;
/** Value type v128. */
export const V128 = 0x7b;

/** Unsigned LEB128. */
export function uleb(value: number): number[] {
  const out: number[] = [];
  do {
    let byte = value & 0x7f;
    value >>>= 7;
    if (value !== 0) byte |= 0x80;
    out.push(byte);
  } while (value !== 0);
  return out;
}

/** Signed LEB128 (for i32.const). */
export function sleb(value: number): number[] {
  const out: number[] = [];
  for (;;) {
    const byte = value & 0x7f;
    value >>= 7;
    if ((value === 0 && (byte & 0x40) === 0) || (value === -1 && (byte & 0x40) !== 0)) {
      out.push(byte);
      return out;
    }
    out.push(byte | 0x80);
  }
}

/** Instructions, as the bytes they encode to (the text format's names in camel case). */
export const op = {
  block: [0x02, 0x40],
  loop: [0x03, 0x40],
  end: [0x0b],
  br: (depth: number) => [0x0c, ...uleb(depth)],
  brIf: (depth: number) => [0x0d, ...uleb(depth)],
  get: (local: number) => [0x20, ...uleb(local)],
  set: (local: number) => [0x21, ...uleb(local)],
  i32Load: (offset: number) => [0x28, 0x02, ...uleb(offset)],
  i32Const: (value: number) => [0x41, ...sleb(value)],
  i32Eqz: [0x45],
  i32GeU: [0x4f],
  i32Add: [0x6a],
  i32Sub: [0x6b],
  v128Load: [0xfd, 0x00, 0x04, 0x00],
  v128LoadAt: (offset: number) => [0xfd, 0x00, 0x04, ...uleb(offset)],
  v128Store: [0xfd, 0x0b, 0x04, 0x00],
  v128StoreAt: (offset: number) => [0xfd, 0x0b, 0x04, ...uleb(offset)],
  i32x4Splat: [0xfd, 0x11],
  f32x4Ne: [0xfd, 0x42],
  v128And: [0xfd, 0x4e],
  /** a & ~b */
  v128AndNot: [0xfd, 0x4f],
  v128Or: [0xfd, 0x50],
  v128Xor: [0xfd, 0x51],
  v128AnyTrue: [0xfd, 0x53],
  i8x16Shuffle: (lanes: number[]) => [0xfd, 0x0d, ...lanes],
  i32x4ShrS: [0xfd, 0xac, 0x01],
  i32x4ShrU: [0xfd, 0xad, 0x01],
  i32x4Add: [0xfd, 0xae, 0x01],
  i32x4ExtendLowI16x8S: [0xfd, 0xa7, 0x01],
  i32x4ExtendHighI16x8S: [0xfd, 0xa8, 0x01],
  f32x4ConvertI32x4S: [0xfd, 0xfa, 0x01],
  i32x4MinS: [0xfd, 0xb6, 0x01],
  i32x4MaxS: [0xfd, 0xb8, 0x01],
  f32x4Abs: [0xfd, 0xe0, 0x01],
  f32x4Sub: [0xfd, 0xe5, 0x01],
  f64Load: (offset: number) => [0x2b, 0x03, ...uleb(offset)],
  /** Two float32 (8 bytes) into the low lanes, the rest zero. */
  v128Load64Zero: (offset: number) => [0xfd, 0x5d, 0x03, ...uleb(offset)],
  /** The low 8 bytes (lane 0 of i64x2) to memory. */
  v128Store64Lane0: (offset: number) => [0xfd, 0x5b, 0x03, ...uleb(offset), 0],
  v128Bitselect: [0xfd, 0x52],
  f64x2Splat: [0xfd, 0x14],
  f64x2Eq: [0xfd, 0x47],
  f32x4DemoteF64x2Zero: [0xfd, 0x5e],
  f64x2PromoteLowF32x4: [0xfd, 0x5f],
  /** Four bytes into the low lane, the rest zero. */
  v128Load32Zero: (offset: number) => [0xfd, 0x5c, 0x02, ...uleb(offset)],
  /** The low 4 bytes (lane 0 of i32x4) to memory. */
  v128Store32Lane0: (offset: number) => [0xfd, 0x5a, 0x02, ...uleb(offset), 0],
  i8x16Splat: [0xfd, 0x0f],
  f64x2Ne: [0xfd, 0x48],
  f64x2Ge: [0xfd, 0x4c],
  i64x2Sub: [0xfd, 0xd1, 0x01],
  f64x2Sqrt: [0xfd, 0xef, 0x01],
  f64x2Add: [0xfd, 0xf0, 0x01],
  f64x2Div: [0xfd, 0xf3, 0x01],
  f64x2Pmax: [0xfd, 0xf7, 0x01],
  f64x2Abs: [0xfd, 0xec, 0x01],
  f64x2Sub: [0xfd, 0xf1, 0x01],
  f64x2Mul: [0xfd, 0xf2, 0x01],
};

/** `local += by` for an i32 local, `by` the instructions that push the amount. */
export function increment(local: number, by: number[]): number[] {
  return [...op.get(local), ...by, ...op.i32Add, ...op.set(local)];
}

/** `local -= by` for an i32 local, `by` the instructions that push the amount. */
function decrement(local: number, by: number[]): number[] {
  return [...op.get(local), ...by, ...op.i32Sub, ...op.set(local)];
}

/**
 * A module's exports, instantiated from its bytes (without imports), or null
 * where the runtime cannot compile it (no WebAssembly SIMD): the caller's
 * JavaScript runs instead.
 */
export function instantiate<T>(bytes: Uint8Array<ArrayBuffer>): T | null {
  try {
    return new WebAssembly.Instance(new WebAssembly.Module(bytes)).exports as unknown as T;
  } catch {
    return null;
  }
}

/** The address `base + i` (two i32 locals) on the stack. */
export function at(base: number, i: number): number[] {
  return [...op.get(base), ...op.get(i), ...op.i32Add];
}

/**
 * `while (rows != 0) { body; row += stride; rows -= 1 }` over the i32 locals
 * `row`, `rows` and `stride`: a kernel's walk down the rows of a block.
 */
export function forEachRow(row: number, rows: number, stride: number, body: number[]): number[] {
  return [
    ...op.block,
    ...op.loop,
    ...op.get(rows),
    ...op.i32Eqz,
    ...op.brIf(1),
    ...body,
    ...increment(row, op.get(stride)),
    ...decrement(rows, op.i32Const(1)),
    ...op.br(0),
    ...op.end,
    ...op.end,
  ];
}

/** `for (i = 0; i < bytes; i += step) body` with i in local `i`, bytes in local `bytes` (a vector's 16 by default). */
export function forEachVector(i: number, bytes: number, body: number[], step = 16): number[] {
  return [
    ...op.i32Const(0),
    ...op.set(i),
    ...op.block,
    ...op.loop,
    ...op.get(i),
    ...op.get(bytes),
    ...op.i32GeU,
    ...op.brIf(1),
    ...body,
    ...increment(i, op.i32Const(step)),
    ...op.br(0),
    ...op.end,
    ...op.end,
  ];
}

/** A module section: its id and its content's length before it. */
export function section(id: number, content: number[]): number[] {
  return [id, ...uleb(content.length), ...content];
}

/** A vector: its length, then its items. */
export function vec(items: number[][]): number[] {
  return [...uleb(items.length), ...items.flat()];
}

/** A name: its UTF-8 length, then its bytes. */
export function name(text: string): number[] {
  const bytes = [...new TextEncoder().encode(text)];
  return [...uleb(bytes.length), ...bytes];
}

/** A function body: its locals (count, type) and its code, ended. */
export function func(locals: [number, number][], body: number[]): number[] {
  const content = [...vec(locals.map(([count, type]) => [...uleb(count), type])), ...body, ...op.end];
  return [...uleb(content.length), ...content];
}

/** The module header: magic number and version 1. */
export const MODULE_HEADER = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];
