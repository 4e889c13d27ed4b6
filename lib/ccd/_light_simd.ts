/**
 * A MEF light's whole band step in one WebAssembly SIMD pass, four pixels a
 * step: its stored big-endian 16-bit pixels decoded, its mask started from the
 * bad-pixel map's bits with saturation added, the pixels calibrated and their
 * uncertainty carried (in double precision, two lanes at a time), and both
 * encoded big-endian with their checksum word sums — what `band_task.ts` does
 * in six passes over the band, each with its copies, for the usual light (a
 * camera's uint16 frame, every master with its uncertainty, a mask). The same
 * operations in the same order as those passes: the same bytes to the bit.
 *
 * The module's memory holds the band's shared terms, laid out by
 * {@link LightScratch} (the normalized flats and each combination of masters'
 * uncertainty terms, with a copy of its bias and dark) and one light's bytes at
 * a time, in and out. Every region is indexed by the band's pixel (pixel i of a
 * region at its offset + i · size), as the slice's own arrays are.
 *
 * @module
 */
import {
  F64,
  func,
  I32,
  increment,
  instantiate,
  MODULE_HEADER,
  name,
  op,
  section,
  V128,
  vec,
} from "../wasm_assembly.ts";
import { addHalfSums } from "../fits/_simd.ts";

/** Shuffle lanes that reverse the bytes of each 32-bit word (float32 to big-endian). */
const REVERSE_EACH_WORD = [3, 2, 1, 0, 7, 6, 5, 4, 11, 10, 9, 8, 15, 14, 13, 12];
/** Shuffle lanes that swap the bytes of each 16-bit word (big-endian int16 to host order). */
const SWAP_HALVES = [1, 0, 3, 2, 5, 4, 7, 6, 9, 8, 11, 10, 13, 12, 15, 14];
/** The low two float32 lanes of each of two vectors, side by side. */
const LOW_PAIRS = [0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23];
/** The low byte of each f64 lane of two vectors: four pixels' lane masks as four bytes. */
const LANE_BYTES = [0, 8, 16, 24, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];

/** Parameters of `light`, in order: byte offsets into the memory, the count, then the constants. */
const PARAMS = [
  "raw",
  "map",
  "bias",
  "dark",
  "norm",
  "variance",
  "inverse",
  "flatTerm",
  "sci",
  "err",
  "mask",
  "sums",
  "count",
  "zero",
  "level",
  "darkScale",
  "gain",
  "perElectron",
  "readVariance",
  "badBit",
  "saturatedBit",
] as const;

/** Bytes of the sums region: SCI's and ERR's high and low half sums (four u32 lanes each), the saturated count (two i64). */
export const SUMS_BYTES = 80;

/**
 * light(raw, map, bias, dark, norm, variance, inverse, flatTerm, sci, err, mask,
 * sums, count, zero, level, darkScale, gain, perElectron, readVariance, badBit,
 * saturatedBit), for `count` pixels (a multiple of 4): `raw` big-endian int16,
 * `map` the bad-pixel map's bytes, float32 `bias` and `dark`, f64 `norm` (the
 * normalized flat), `variance` (the masters' σ_B² + (s·σ_D)²), `inverse` (1/f²)
 * and `flatTerm`; out: `sci` and `err` big-endian float32, `mask` bytes, and at
 * `sums` the word sums and the count of saturated pixels. For each pixel:
 *
 *   x = int16 + zero;  mask = map | (x ≥ level ? saturatedBit : 0)
 *   signal = x − bias;  v = signal − dark·s;  t = v·flatTerm;  r = v / norm
 *   err = √((max(gain·signal, 0)·perElectron + readVariance + variance)·inverse + t²)
 *   sci = r;  mask |= badBit where r − r ≠ 0
 */
function lightBody(): number[] {
  const p = Object.fromEntries(PARAMS.map((key, i) => [key, i])) as Record<(typeof PARAMS)[number], number>;
  const [i, o2, o4, o8] = [21, 22, 23, 24];
  const [z, lv, ds, g, pe, rv, bad, sat, fz, x, xh, signal, v, t, r0, e0, r1, e1, ne0, sat0, ne1, sat1] =
    Array
      .from({ length: 22 }, (_, k) => 25 + k);
  const [rf, ef, hiS, loS, hiE, loE, saturated, m16] = Array.from({ length: 8 }, (_, k) => 47 + k);
  const address = (base: number, offset: number) => [...op.get(base), ...op.get(offset), ...op.i32Add];
  const f32Pair = (base: number, h: number) => [
    ...address(base, o4),
    ...op.v128Load64Zero(8 * h),
    ...op.f64x2PromoteLowF32x4,
  ];
  const f64Pair = (base: number, h: number) => [...address(base, o8), ...op.v128LoadAt(16 * h)];
  // One half (two pixels) of the step, from the f64 values in xh into r, e and the two lane masks.
  const half = (h: number, r: number, e: number, ne: number, saturation: number) => [
    ...op.get(xh),
    ...op.get(lv),
    ...op.f64x2Ge,
    ...op.set(saturation),
    // signal = x − bias; v = signal − dark·s
    ...op.get(xh),
    ...f32Pair(p.bias, h),
    ...op.f64x2Sub,
    ...op.set(signal),
    ...op.get(signal),
    ...f32Pair(p.dark, h),
    ...op.get(ds),
    ...op.f64x2Mul,
    ...op.f64x2Sub,
    ...op.set(v),
    // t = v·flatTerm; r = v / norm
    ...op.get(v),
    ...f64Pair(p.flatTerm, h),
    ...op.f64x2Mul,
    ...op.set(t),
    ...op.get(v),
    ...f64Pair(p.norm, h),
    ...op.f64x2Div,
    ...op.set(r),
    // e = √(((max(g·signal, 0)·pe + rv) + variance)·inverse + t·t)
    ...op.get(g),
    ...op.get(signal),
    ...op.f64x2Mul,
    ...op.get(fz),
    ...op.f64x2Pmax,
    ...op.get(pe),
    ...op.f64x2Mul,
    ...op.get(rv),
    ...op.f64x2Add,
    ...f64Pair(p.variance, h),
    ...op.f64x2Add,
    ...f64Pair(p.inverse, h),
    ...op.f64x2Mul,
    ...op.get(t),
    ...op.get(t),
    ...op.f64x2Mul,
    ...op.f64x2Add,
    ...op.f64x2Sqrt,
    ...op.set(e),
    // r − r ≠ 0: NaN or ±∞
    ...op.get(r),
    ...op.get(r),
    ...op.f64x2Sub,
    ...op.get(fz),
    ...op.f64x2Ne,
    ...op.set(ne),
  ];
  // Four float32 values from two f64 pairs, stored big-endian at `base` with their word sums added.
  const encode = (base: number, a: number, b: number, out: number, hi: number, lo: number) => [
    ...op.get(a),
    ...op.f32x4DemoteF64x2Zero,
    ...op.get(b),
    ...op.f32x4DemoteF64x2Zero,
    ...op.i8x16Shuffle(LOW_PAIRS),
    ...op.set(out),
    ...address(base, o4),
    ...op.get(out),
    ...op.get(out),
    ...op.i8x16Shuffle(REVERSE_EACH_WORD),
    ...op.v128Store,
    ...addHalfSums(hi, lo, out, m16),
  ];
  const bytesOf = (a: number, b: number, bit: number) => [
    ...op.get(a),
    ...op.get(b),
    ...op.i8x16Shuffle(LANE_BYTES),
    ...op.get(bit),
    ...op.v128And,
  ];
  const splat = (param: number, local: number) => [...op.get(param), ...op.f64x2Splat, ...op.set(local)];
  const step = (local: number, by: number) => increment(local, op.i32Const(by));
  const store = (
    offset: number,
    local: number,
  ) => [...op.get(p.sums), ...op.get(local), ...op.v128StoreAt(offset)];
  return [
    ...op.get(p.zero),
    ...op.i32x4Splat,
    ...op.set(z),
    ...splat(p.level, lv),
    ...splat(p.darkScale, ds),
    ...splat(p.gain, g),
    ...splat(p.perElectron, pe),
    ...splat(p.readVariance, rv),
    ...op.get(p.badBit),
    ...op.i8x16Splat,
    ...op.set(bad),
    ...op.get(p.saturatedBit),
    ...op.i8x16Splat,
    ...op.set(sat),
    ...op.i32Const(0xffff),
    ...op.i32x4Splat,
    ...op.set(m16),
    ...op.block,
    ...op.loop,
    ...op.get(i),
    ...op.get(p.count),
    ...op.i32GeU,
    ...op.brIf(1),
    // x = int16 + zero, exact in float32
    ...address(p.raw, o2),
    ...op.v128Load64Zero(0),
    ...op.set(x),
    ...op.get(x),
    ...op.get(x),
    ...op.i8x16Shuffle(SWAP_HALVES),
    ...op.i32x4ExtendLowI16x8S,
    ...op.get(z),
    ...op.i32x4Add,
    ...op.f32x4ConvertI32x4S,
    ...op.set(x),
    // Pixels 0 and 1, then 2 and 3, in double precision.
    ...op.get(x),
    ...op.f64x2PromoteLowF32x4,
    ...op.set(xh),
    ...half(0, r0, e0, ne0, sat0),
    ...op.get(x),
    ...op.get(x),
    ...op.i8x16Shuffle([8, 9, 10, 11, 12, 13, 14, 15, 8, 9, 10, 11, 12, 13, 14, 15]),
    ...op.f64x2PromoteLowF32x4,
    ...op.set(xh),
    ...half(1, r1, e1, ne1, sat1),
    ...encode(p.sci, r0, r1, rf, hiS, loS),
    ...encode(p.err, e0, e1, ef, hiE, loE),
    // mask = map | saturated | not finite
    ...address(p.mask, i),
    ...address(p.map, i),
    ...op.v128Load32Zero(0),
    ...bytesOf(sat0, sat1, sat),
    ...op.v128Or,
    ...bytesOf(ne0, ne1, bad),
    ...op.v128Or,
    ...op.v128Store32Lane0(0),
    // Each saturated lane is -1: subtracted, a count.
    ...op.get(saturated),
    ...op.get(sat0),
    ...op.i64x2Sub,
    ...op.get(sat1),
    ...op.i64x2Sub,
    ...op.set(saturated),
    ...step(i, 4),
    ...step(o2, 8),
    ...step(o4, 16),
    ...step(o8, 32),
    ...op.br(0),
    ...op.end,
    ...op.end,
    ...store(0, hiS),
    ...store(16, loS),
    ...store(32, hiE),
    ...store(48, loE),
    ...store(64, saturated),
  ];
}

/** The module's bytes. */
export function lightSimdModule(): Uint8Array<ArrayBuffer> {
  const params = PARAMS.map((key) =>
    ["level", "darkScale", "gain", "perElectron", "readVariance"].includes(key) ? [F64] : [I32]
  );
  return new Uint8Array([
    ...MODULE_HEADER,
    ...section(1, vec([[0x60, ...vec(params), ...vec([])]])),
    ...section(3, vec([[0]])),
    ...section(5, vec([[0x00, 1]])),
    ...section(7, vec([[...name("light"), 0x00, 0], [...name("memory"), 0x02, 0]])),
    ...section(10, vec([func([[4, I32], [30, V128]], lightBody())])),
  ]);
}

/** The assembled kernel of one thread. */
export interface LightSimd {
  memory: WebAssembly.Memory;
  light(
    raw: number,
    map: number,
    bias: number,
    dark: number,
    norm: number,
    variance: number,
    inverse: number,
    flatTerm: number,
    sci: number,
    err: number,
    mask: number,
    sums: number,
    count: number,
    zero: number,
    level: number,
    darkScale: number,
    gain: number,
    perElectron: number,
    readVariance: number,
    badBit: number,
    saturatedBit: number,
  ): void;
}

let instance: LightSimd | null | undefined;

/** This thread's instance, or null where WebAssembly SIMD is unavailable (the band task's passes run). */
export function lightSimd(): LightSimd | null {
  if (instance === undefined) instance = instantiate<LightSimd>(lightSimdModule());
  return instance;
}
