/**
 * Sweeping frames band by band with the pixel workers, pipelined: while the
 * workers decode, calibrate, combine and encode band k, the main thread reads
 * band k+1 from every input and writes band k−1 of every output. Each input and
 * output has two slots of SharedArrayBuffers, one per band in flight.
 *
 * @module
 */
import type { BandInput, CalibrationTerms, HistogramPass, PoolDigest } from "../../lib/ccd/mod.ts";
import { type FrameGeometry, FrameSource } from "./frame_source.ts";
import { Sha256Stream } from "../../lib/file_hash.ts";
import type { YieldGate } from "../../lib/yield_gate.ts";

/** Bytes of band buffers one sweep may hold, however many frames it reads: rows shrink to fit. */
export const SWEEP_MEMORY_BUDGET = 64 << 20;

/**
 * SharedArrayBuffers reused from one sweep to the next: a night's stages ask for
 * the same sizes again and again, and fresh buffers cost a page fault per 4 KiB.
 * Keeps at most {@link SWEEP_MEMORY_BUDGET} bytes idle.
 */
export class SharedArena {
  readonly #idle = new Map<number, SharedArrayBuffer[]>();
  #idleBytes = 0;

  /** A buffer of at least `bytes`, in power-of-two sizes so that bands of other row counts can reuse it. */
  #take(bytes: number): SharedArrayBuffer {
    let size = 1 << 16;
    while (size < bytes) size *= 2;
    const buffer = this.#idle.get(size)?.pop();
    if (!buffer) return new SharedArrayBuffer(size);
    this.#idleBytes -= size;
    return buffer;
  }

  /** Bytes (contents undefined). */
  bytes(length: number): Uint8Array {
    return new Uint8Array(this.#take(length), 0, length);
  }

  /** Float32 values (contents undefined). */
  float32(length: number): Float32Array {
    return new Float32Array(this.#take(length * 4), 0, length);
  }

  /** Uint32 counts, zeroed. */
  counts(length: number): Uint32Array {
    return new Uint32Array(this.#take(length * 4), 0, length).fill(0);
  }

  /** Gives the buffers of views it handed out back for reuse. */
  release(...views: (ArrayBufferView | null)[]): void {
    for (const view of views) {
      if (!view || !(view.buffer instanceof SharedArrayBuffer)) continue;
      const bytes = view.buffer.byteLength;
      if (this.#idleBytes + bytes > SWEEP_MEMORY_BUDGET) continue;
      const list = this.#idle.get(bytes) ?? [];
      list.push(view.buffer);
      this.#idle.set(bytes, list);
      this.#idleBytes += bytes;
    }
  }
}

/** Rows per band for `inputs` frames of `width` pixels: the configured rows, fewer when the budget needs. */
export function rowsPerBand(configured: number, inputs: number, width: number): number {
  // Per input: two slots of float32 values, raw bytes (up to 8 per pixel) and encoded output.
  const bytesPerRow = Math.max(1, inputs) * width * 2 * (4 + 8 + 4);
  return Math.max(1, Math.min(configured, Math.floor(SWEEP_MEMORY_BUDGET / bytesPerRow)));
}

interface Slot {
  raw: Uint8Array;
  band: Float32Array;
  /** The frame's row the band read into this slot starts at. */
  firstRow: number;
}

/** Where a sweep that read a whole file in order sends its SHA-256, or says it could not. */
export interface HashSink {
  /** The file's SHA-256, and the seconds spent hashing it. */
  done(hex: string, seconds: number): void;
  failed(reason: string): void;
}

/** What a sweep input does besides reading bands. */
export interface SweepInputOptions {
  /** Stored values at or above this are saturated (NaN). */
  saturation?: number | null;
  /**
   * Hash the whole file as its bands are read (the raw frame's content hash, at
   * no second read): its header first, then each band's bytes, then the rest.
   */
  hash?: HashSink | null;
  /**
   * Where the hashing is done: on a pool worker (`pool.sha256`), which takes a
   * band's bytes before the band task that decodes them; on this thread when
   * absent, or when decoding swaps the stored bytes in place (BITPIX other than 8 and 16).
   */
  digest?: () => PoolDigest;
}

/** A SHA-256 on this thread, in the shape of a pool's. */
function localDigest(): PoolDigest {
  const stream = new Sha256Stream();
  let seconds = 0;
  return {
    update(bytes: Uint8Array): void {
      const started = performance.now();
      stream.update(bytes);
      seconds += (performance.now() - started) / 1000;
    },
    finish: () => Promise.resolve({ hex: stream.hex(), seconds }),
    cancel(): void {},
  };
}

/** One frame or master read band by band into two slots of shared buffers, decoded by the workers. */
export class SweepInput {
  readonly source: FrameSource;
  readonly #slots: [Slot, Slot];
  readonly #saturation: number | null;
  readonly #arena: SharedArena;
  #hash: { digest: PoolDigest; sink: HashSink; nextRow: number } | null = null;

  private constructor(source: FrameSource, rows: number, saturation: number | null, arena: SharedArena) {
    this.source = source;
    this.#saturation = saturation;
    this.#arena = arena;
    const slot = (): Slot => ({
      raw: arena.bytes(rows * source.rawRowBytes),
      band: arena.float32(rows * source.width),
      firstRow: 0,
    });
    this.#slots = [slot(), slot()];
  }

  /** Opens a frame for bands of up to `rows` rows. */
  static async open(
    geometry: FrameGeometry,
    rows: number,
    arena: SharedArena,
    options: SweepInputOptions = {},
  ): Promise<SweepInput> {
    let source: FrameSource;
    try {
      source = await FrameSource.open(geometry);
    } catch (error) {
      options.hash?.failed(error instanceof Error ? error.message : String(error));
      throw error;
    }
    const input = new SweepInput(source, rows, options.saturation ?? null, arena);
    if (options.hash) {
      try {
        const inPlace = ![8, 16].includes(source.encoding.bitpix);
        const digest = options.digest && !inPlace ? options.digest() : localDigest();
        digest.update(source.readFileBytesSync(0, source.storedRange.start));
        input.#hash = { digest, sink: options.hash, nextRow: 0 };
      } catch (error) {
        options.hash.failed(error instanceof Error ? error.message : String(error));
      }
    }
    return input;
  }

  /** The band values of a slot (the master bands other inputs calibrate with). */
  band(slot: number): Float32Array {
    return this.#slots[slot].band;
  }

  /** Reads the stored bytes of rows `[y0, y0+rows)` into a slot (a failed read rejects). */
  read(y0: number, rows: number, slot: number): Promise<void> {
    try {
      const raw = this.#slots[slot].raw;
      this.source.readRawSync(y0, rows, raw);
      this.#slots[slot].firstRow = y0;
      if (this.#hash) this.#hashRows(y0, rows, raw);
      return Promise.resolve();
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** Adds rows just read to the file's hash (before the workers decode them: some decodings swap in place). */
  #hashRows(y0: number, rows: number, raw: Uint8Array): void {
    const hash = this.#hash!;
    if (y0 !== hash.nextRow) return this.#abandonHash("bands were not read in order");
    hash.digest.update(raw.subarray(0, rows * this.source.rawRowBytes));
    hash.nextRow += rows;
    if (hash.nextRow < this.source.height) return;
    this.#hash = null;
    try {
      hash.digest.update(this.source.readFileBytesSync(this.source.storedRange.end));
      hash.digest.finish().then(
        ({ hex, seconds }) => hash.sink.done(hex, seconds),
        (error) => hash.sink.failed(error instanceof Error ? error.message : String(error)),
      );
    } catch (error) {
      hash.sink.failed(error instanceof Error ? error.message : String(error));
    }
  }

  #abandonHash(reason: string): void {
    this.#hash?.digest.cancel();
    this.#hash?.sink.failed(reason);
    this.#hash = null;
  }

  /** The band task input for a slot. */
  input(
    slot: number,
    extra: {
      terms?: CalibrationTerms | null;
      encoded?: Uint8Array | null;
      histogram?: HistogramPass | null;
    } = {},
  ): BandInput {
    const { raw, band, firstRow } = this.#slots[slot];
    return {
      raw,
      encoding: this.source.encoding,
      layout: this.source.layout,
      firstRow,
      band,
      saturation: this.#saturation,
      terms: extra.terms ?? null,
      encoded: extra.encoded ?? null,
      histogram: extra.histogram ?? null,
    };
  }

  /** Closes the file and gives the buffers back. */
  close(): void {
    this.#abandonHash("the sweep stopped before the end of the file");
    this.source.close();
    for (const slot of this.#slots) this.#arena.release(slot.raw, slot.band);
  }
}

/** The three steps of a band, each given the band's first row, row count and slot. */
export interface SweepSteps {
  read(y0: number, rows: number, slot: number): Promise<void>;
  compute(y0: number, rows: number, slot: number): Promise<void>;
  write(y0: number, rows: number, slot: number): Promise<void>;
}

/**
 * Runs the steps over rows `[0, height)` in bands of `rows`, reading ahead and
 * writing behind. With a `gate`, this thread passes it after each round's
 * reading and writing, so it naps (if the desk is busy) while the workers compute.
 */
export async function sweepBands(
  height: number,
  rows: number,
  steps: SweepSteps,
  gate?: YieldGate,
): Promise<void> {
  const bands: [number, number][] = [];
  for (let y0 = 0; y0 < height; y0 += rows) bands.push([y0, Math.min(rows, height - y0)]);
  if (bands.length === 0) return;
  await steps.read(bands[0][0], bands[0][1], 0);
  for (let k = 0; k < bands.length; k++) {
    gate?.start();
    const work = [steps.compute(bands[k][0], bands[k][1], k % 2)];
    const io: Promise<void>[] = [];
    if (k + 1 < bands.length) {
      io.push(steps.read(bands[k + 1][0], bands[k + 1][1], (k + 1) % 2));
    }
    if (k > 0) io.push(steps.write(bands[k - 1][0], bands[k - 1][1], (k - 1) % 2));
    work.push(...io);
    if (gate) {
      await Promise.allSettled(io);
      gate.pass();
    }
    // Every step of this round settles before a failure surfaces: no read or write is left in flight.
    const settled = await Promise.allSettled(work);
    const failed = settled.find((result) => result.status === "rejected");
    if (failed) throw (failed as PromiseRejectedResult).reason;
  }
  const last = bands.length - 1;
  await steps.write(bands[last][0], bands[last][1], last % 2);
}
