/**
 * The reduction of one night, as ordered stages (BANZAI-style), each testable
 * alone: ingest, master bias, master darks (per exposure time), master flats
 * (per filter), calibrated lights. Every input is streamed in bands of rows and
 * the per-pixel work runs on the worker pool, so memory does not grow with the
 * number or size of frames.
 *
 * The default reduction is ccdproc's standard one:
 *
 *   master bias  = median(bias_i)
 *   master dark  = median(dark_i − bias)                            per exposure time
 *   master flat  = median((flat_i − bias − dark·t_f/t_d) / median_i)  per filter
 *   light'       = (light − bias − dark·t_l/t_d) ÷ flat × mean(flat)
 *
 * @module
 */
import { basename } from "node:path";
import { addSums, FitsImageWriter, type Header, readHdus } from "../../lib/fits/mod.ts";
import {
  type BandInput,
  type BandTask,
  calibrateBand,
  type CalibrationTerms,
  type CombineOptions,
  createPixelPool,
  HISTOGRAM_BINS,
  type HistogramPass,
  history,
  medianOf,
  type PixelPool,
  StreamingMedian,
} from "../../lib/ccd/mod.ts";
import type { ReductionConfig } from "../../lib/config.ts";
import type { ImageType, NightRecord, ProductKind, ProductRecord, Store } from "../../lib/store/mod.ts";
import { getLogger, type Logger } from "../../lib/log.ts";
import { assertStillInside, LocationError } from "../../lib/data_roots.ts";
import type { YieldGate } from "../../lib/yield_gate.ts";
import { ingestNight, type RawFrame, type SkippedFrame } from "./ingest.ts";
import { FrameSource } from "./frame_source.ts";
import { rowsPerBand, SharedArena, sweepBands, SweepInput } from "./band_sweep.ts";
import {
  calibratedName,
  formatSeconds,
  meanDate,
  reductionFingerprint,
  safeName,
  stampProduct,
} from "./products.ts";

/** Progress of a reduction, reported after each product. */
export interface ReductionProgress {
  done: number;
  total: number;
  step: string;
}

/** How to reduce. */
export interface ReduceOptions {
  store: Store;
  reduction: ReductionConfig;
  /** Where products go (default NIGHT/products). */
  outDir?: string;
  /**
   * A pool to reuse (the service keeps one); created and closed here otherwise.
   * When it has a yield gate, the hashing threads and the band sweeps pass it too.
   */
  pool?: PixelPool;
  onProgress?: (progress: ReductionProgress) => void;
  /** Checked between products: the current frame finishes, then {@link ReductionAborted} is thrown. */
  signal?: AbortSignal;
  /** Make every product again even when an up-to-date one exists. */
  force?: boolean;
  /**
   * Data roots the night must stay inside (the service's `Data: Roots`): the night
   * directory, given as the real path checked when the order was accepted, must
   * still resolve to itself inside a root when the run starts and before each
   * product is written, so a directory swapped for a symlink is refused.
   */
  roots?: string[];
  log?: Logger;
}

/** One product of the run. */
export interface ProductSummary {
  kind: ProductKind;
  path: string;
  inputs: string[];
  uses: string[];
  warnings: string[];
  /** True when an up-to-date product was kept instead of made again. */
  reused: boolean;
}

/** What a reduction did. */
export interface ReductionReport {
  nightDir: string;
  outDir: string;
  night: NightRecord;
  framesUsed: number;
  skipped: SkippedFrame[];
  failed: SkippedFrame[];
  products: ProductSummary[];
  warnings: string[];
  seconds: number;
}

/** Thrown when the signal asked the reduction to stop (after the current frame). */
export class ReductionAborted extends Error {
  /** Creates the error. */
  constructor() {
    super("Reduction stopped before the night was finished");
    this.name = "ReductionAborted";
  }
}

/** A master available to calibrate with: made tonight or borrowed from another night. */
interface Master {
  id: number;
  kind: ProductKind;
  path: string;
  exposureTime: number;
  /** Mean of the floored flat, for flats. */
  mean: number;
  /** Set when borrowed: a sentence saying from where. */
  borrowed: string | null;
}

interface Context {
  store: Store;
  night: NightRecord;
  reduction: ReductionConfig;
  outDir: string;
  pool: PixelPool;
  log: Logger;
  fingerprint: string;
  existing: Map<string, ProductRecord>;
  force: boolean;
  bandRows: number;
  /** Shared buffers reused by every sweep of the night. */
  arena: SharedArena;
  report: ReductionReport;
  progress: () => void;
  signal?: AbortSignal;
  /** Passed by the band sweeps' reading and writing (see {@link YieldGate}): the pool's. */
  gate: YieldGate | undefined;
  /** Checks, before a product is written, that the output directory has not left the data roots. */
  confine: () => Promise<void>;
}

function combineOptionsOf(reduction: ReductionConfig): CombineOptions {
  return { method: reduction.combine, sigmaClip: reduction.sigmaClip, minMaxClip: reduction.minMaxClip };
}

function sameSet(a: number[], b: number[]): boolean {
  const x = [...new Set(a)].sort((p, q) => p - q);
  const y = [...new Set(b)].sort((p, q) => p - q);
  return x.length === y.length && x.every((v, i) => v === y[i]);
}

/** A product on disk and in the store, made from these inputs and masters with these settings, is kept. */
async function upToDate(
  ctx: Context,
  path: string,
  inputIds: number[],
  useIds: number[],
): Promise<ProductRecord | null> {
  if (ctx.force) return null;
  const record = ctx.existing.get(path);
  if (!record) return null;
  if (!sameSet(record.inputs.map((i) => i.exposureId), inputIds)) return null;
  if (!sameSet(record.uses.map((u) => u.productId), useIds)) return null;
  try {
    const [hdu] = await readHdus(path);
    if (hdu.header.getString("REDFPRNT") !== ctx.fingerprint) return null;
    if (hdu.header.getString("CHECKSUM") !== record.checksum) return null;
    return record;
  } catch {
    return null;
  }
}

function checkAbort(ctx: Context): void {
  if (ctx.signal?.aborted) throw new ReductionAborted();
}

/** An input of a combine: a frame and what to subtract from it before combining. */
interface CombineInput {
  frame: RawFrame;
  bias: Master | null;
  dark: Master | null;
  darkScale: number;
  /** Multiply after calibration (flat normalization), default 1. */
  scale: number;
}

/** Opens each distinct master once, for bands of `rows` rows. */
async function openMasters(
  ctx: Context,
  masters: (Master | null)[],
  rows: number,
): Promise<Map<string, SweepInput>> {
  const opened = new Map<string, SweepInput>();
  try {
    for (const master of masters) {
      if (master && !opened.has(master.path)) {
        opened.set(master.path, await SweepInput.open(master, rows, ctx.arena));
      }
    }
  } catch (error) {
    for (const input of opened.values()) input.close();
    throw error;
  }
  return opened;
}

/** The frames of a combine and the masters they are calibrated with, open for bands of the same rows. */
interface CombineSources {
  masters: Map<string, SweepInput>;
  frames: SweepInput[];
  /** Closes every file and gives the buffers back. */
  close(): void;
}

async function openCombineSources(
  ctx: Context,
  inputs: CombineInput[],
  rows: number,
): Promise<CombineSources> {
  const masters = await openMasters(ctx, inputs.flatMap((input) => [input.bias, input.dark]), rows);
  const frames: SweepInput[] = [];
  const close = () => {
    for (const frame of frames) frame.close();
    for (const master of masters.values()) master.close();
  };
  try {
    for (const input of inputs) frames.push(await SweepInput.open(input.frame, rows, ctx.arena));
  } catch (error) {
    close();
    throw error;
  }
  return { masters, frames, close };
}

/** A slot's band task inputs: every master first (decoded for the frames after it to use), then the frames. */
function withMasters(masters: Map<string, SweepInput>, slot: number, frames: BandInput[]): BandInput[] {
  return [...[...masters.values()].map((master) => master.input(slot)), ...frames];
}

/** Reads a band of every input (masters first) into a slot. */
async function readBands(
  inputs: Iterable<SweepInput>,
  y0: number,
  rows: number,
  slot: number,
): Promise<void> {
  for (const input of inputs) await input.read(y0, rows, slot);
}

/** The masters a frame is calibrated with: a combine input's bias and dark, a light's flat too. */
interface Calibration {
  bias: Master | null;
  dark: Master | null;
  darkScale: number;
  flat?: Master | null;
}

/** A frame's calibration with its masters' bands of a slot; null when it has no master. */
function termsOf(
  calibration: Calibration,
  masters: Map<string, SweepInput>,
  slot: number,
  flatFloor?: number,
): CalibrationTerms | null {
  const { bias, dark, flat = null } = calibration;
  if (!bias && !dark && !flat) return null;
  const band = (master: Master | null) => master ? masters.get(master.path)!.band(slot) : null;
  return {
    bias: band(bias),
    dark: band(dark),
    darkScale: calibration.darkScale,
    flat: band(flat),
    flatMean: flat?.mean ?? 1,
    flatFloor,
  };
}

/** Bands of rows read from each input, spread over the frame, to guess where its median lies. */
const SAMPLE_BANDS = 4;
const SAMPLE_BAND_ROWS = 8;

/**
 * The top-16-bit buckets (see {@link StreamingMedian}) around the median of a
 * sample of rows of each input, calibrated here exactly as the workers do, so the
 * first pass can gather fine counts too and the second pass is rarely needed.
 */
async function guessMedianBuckets(
  inputs: CombineInput[],
  frames: SweepInput[],
  masters: Map<string, SweepInput>,
  width: number,
  height: number,
): Promise<number[][]> {
  const bands = Math.min(SAMPLE_BANDS, height);
  const rows = Math.min(SAMPLE_BAND_ROWS, Math.floor(height / bands));
  const samples = inputs.map(() => new Float32Array(bands * rows * width));
  const masterRows = new Map([...masters.keys()].map((path) => [path, new Float32Array(rows * width)]));
  for (let b = 0; b < bands; b++) {
    const y0 = Math.floor((b * height) / bands + (height / bands - rows) / 2);
    for (const [path, band] of masterRows) await masters.get(path)!.source.readBand(y0, rows, band);
    for (let i = 0; i < inputs.length; i++) {
      const band = samples[i].subarray(b * rows * width, (b + 1) * rows * width);
      await frames[i].source.readBand(y0, rows, band);
      const { bias, dark, darkScale } = inputs[i];
      calibrateBand(band, {
        bias: bias ? masterRows.get(bias.path) : null,
        dark: dark ? masterRows.get(dark.path) : null,
        darkScale,
      });
    }
  }
  return samples.map((sample) => {
    const median = medianOf(sample);
    if (median !== median) return [];
    const bucket = StreamingMedian.bucketOf(median);
    return [bucket - 1, bucket, bucket + 1].filter((b) => b >= 0 && b < HISTOGRAM_BINS);
  });
}

/** Exact median of each input after calibration, streamed, {@link MEDIAN_BATCH} inputs at a time. */
async function inputMedians(
  ctx: Context,
  inputs: CombineInput[],
  width: number,
  height: number,
): Promise<number[]> {
  const medians: number[] = [];
  for (let i = 0; i < inputs.length; i += MEDIAN_BATCH) {
    if (i > 0) checkAbort(ctx);
    medians.push(...await batchMedians(ctx, inputs.slice(i, i + MEDIAN_BATCH), width, height));
  }
  return medians;
}

/** Inputs whose medians are found in one sweep: their histograms (2 MiB each) stay bounded however many flats. */
const MEDIAN_BATCH = 16;

/**
 * Exact median of each input after calibration, streamed: one pass over all
 * inputs at once counting coarse buckets and the fine counts of the buckets a
 * sample points at, and a second pass only for inputs whose guess missed.
 */
async function batchMedians(
  ctx: Context,
  inputs: CombineInput[],
  width: number,
  height: number,
): Promise<number[]> {
  const rows = rowsPerBand(ctx.bandRows, inputs.length + 2, width);
  const { masters, frames, close } = await openCombineSources(ctx, inputs, rows);
  const medians = inputs.map(() => new StreamingMedian());
  const workers = ctx.pool.size;
  const histograms: Uint32Array[] = [];
  try {
    /** One sweep over the inputs `which`, with their histograms; returns finite counts. */
    const pass = async (which: number[], histogram: (i: number) => HistogramPass): Promise<number[]> => {
      const finite = inputs.map(() => 0);
      const swept = which.map((i) => frames[i]);
      await sweepBands(height, rows, {
        read: (y0, n, slot) => readBands([...masters.values(), ...swept], y0, n, slot),
        compute: async (_y0, n, slot) => {
          const task: BandTask = {
            inputs: withMasters(
              masters,
              slot,
              which.map((i) =>
                frames[i].input(slot, { terms: termsOf(inputs[i], masters, slot), histogram: histogram(i) })
              ),
            ),
            combine: null,
          };
          for (const slice of await ctx.pool.run(task, n * width)) {
            which.forEach((i, j) => (finite[i] += slice.finite[masters.size + j]));
          }
        },
        write: () => Promise.resolve(),
      }, ctx.gate);
      return finite;
    };
    const guesses = await guessMedianBuckets(inputs, frames, masters, width, height);
    const coarse = inputs.map(() => ctx.arena.counts(workers * HISTOGRAM_BINS));
    const guessed = guesses.map((buckets) => ctx.arena.counts(workers * buckets.length * HISTOGRAM_BINS));
    histograms.push(...coarse, ...guessed);
    const all = inputs.map((_, i) => i);
    const finite = await pass(all, (i) => ({
      coarse: coarse[i],
      fine: guesses[i].length > 0 ? { buckets: guesses[i], bins: guessed[i] } : null,
    }));
    const missed: number[] = [];
    medians.forEach((median, i) => {
      median.mergeCoarse(coarse[i], finite[i]);
      if (!median.beginFine()) return; // no finite value: the median is NaN
      if (median.coveredBy(guesses[i])) median.mergeFine(guessed[i], guesses[i]);
      else missed.push(i);
    });
    if (missed.length > 0) {
      checkAbort(ctx);
      const fine = new Map(missed.map((i) => [i, ctx.arena.counts(workers * 2 * HISTOGRAM_BINS)]));
      histograms.push(...fine.values());
      await pass(
        missed,
        (i) => ({ coarse: null, fine: { buckets: medians[i].fineBuckets, bins: fine.get(i)! } }),
      );
      for (const i of missed) medians[i].mergeFine(fine.get(i)!);
    }
    ctx.log.debug(`Flat medians: ${inputs.length - missed.length} of ${inputs.length} exact in one pass`);
  } finally {
    close();
    ctx.arena.release(...histograms);
  }
  return medians.map((median) => median.median());
}

/** Combines calibrated inputs band by band into a new master file; returns the mean of max(value, floor). */
async function combineToFile(
  ctx: Context,
  inputs: CombineInput[],
  path: string,
  header: Header,
  floorForMean: number,
): Promise<{ checksum: string; mean: number }> {
  const { width, height } = inputs[0].frame;
  const rows = rowsPerBand(ctx.bandRows, inputs.length + 3, width);
  const options: CombineOptions = { ...combineOptionsOf(ctx.reduction), scales: inputs.map((i) => i.scale) };
  if (inputs.every((input) => input.scale === 1)) options.scales = null;
  const { masters, frames, close } = await openCombineSources(ctx, inputs, rows);
  const out = [ctx.arena.float32(rows * width), ctx.arena.float32(rows * width)];
  const encoded = [ctx.arena.bytes(rows * width * 4), ctx.arena.bytes(rows * width * 4)];
  const sums = [0, 0];
  let writer: FitsImageWriter | null = null;
  let sum = 0;
  let count = 0;
  try {
    writer = await FitsImageWriter.create(path, header, { width, height });
    const frameIndices = frames.map((_, i) => masters.size + i);
    await sweepBands(height, rows, {
      read: (y0, n, slot) => readBands([...masters.values(), ...frames], y0, n, slot),
      compute: async (_y0, n, slot) => {
        const task: BandTask = {
          inputs: withMasters(
            masters,
            slot,
            frames.map((frame, i) => frame.input(slot, { terms: termsOf(inputs[i], masters, slot) })),
          ),
          combine: {
            options,
            inputs: frameIndices,
            out: out[slot],
            encoded: encoded[slot],
            floor: floorForMean,
          },
        };
        let slotSum = 0;
        for (const slice of await ctx.pool.run(task, n * width)) {
          slotSum = addSums(slotSum, slice.combineSum);
          sum += slice.combineFlooredSum;
          count += slice.combineCount;
        }
        sums[slot] = slotSum;
      },
      write: (_y0, n, slot) => {
        writer!.writeEncodedSync(encoded[slot].subarray(0, n * width * 4), sums[slot]);
        return Promise.resolve();
      },
    }, ctx.gate);
    const written = await writer.close();
    return { checksum: written.checksum, mean: count > 0 ? sum / count : NaN };
  } catch (error) {
    await writer?.abort();
    throw error;
  } finally {
    close();
    ctx.arena.release(...out, ...encoded);
  }
}

/** Mean of max(value, floor) of a product file, streamed (for a kept or borrowed flat). */
async function flooredMean(path: string, floor: number, bandRows: number): Promise<number> {
  const source = await FrameSource.open({ path });
  try {
    const band = new Float32Array(bandRows * source.width);
    let sum = 0;
    let count = 0;
    for (let y0 = 0; y0 < source.height; y0 += bandRows) {
      const rows = Math.min(bandRows, source.height - y0);
      await source.readBand(y0, rows, band);
      for (let i = 0; i < rows * source.width; i++) {
        const v = band[i];
        if (v === v) {
          sum += v < floor ? floor : v;
          count++;
        }
      }
    }
    return count > 0 ? sum / count : NaN;
  } finally {
    source.close();
  }
}

/** Makes (or keeps, when up to date) one master and records it. */
async function buildMaster(
  ctx: Context,
  kind: "master_bias" | "master_dark" | "master_flat",
  fileName: string,
  inputs: CombineInput[],
  warnings: string[],
  describe: string,
): Promise<Master> {
  checkAbort(ctx);
  const path = `${ctx.outDir}/${fileName}`;
  const frames = inputs.map((input) => input.frame);
  const inputIds = frames.map((frame) => frame.exposure.id);
  const uses = [
    ...new Map(inputs.flatMap((i) => [i.bias, i.dark]).filter((m): m is Master => !!m).map((m) => [m.id, m]))
      .values(),
  ];
  const useIds = uses.map((m) => m.id);
  const exposureTime = frames[0].exposureTime;
  const floor = kind === "master_flat" ? ctx.reduction.flatFloor : -Infinity;
  const kept = await upToDate(ctx, path, inputIds, useIds);
  let record: ProductRecord;
  let mean: number;
  if (kept) {
    record = kept;
    mean = kind === "master_flat" ? await flooredMean(path, floor, ctx.bandRows) : NaN;
    ctx.log.info(`Kept up-to-date ${fileName}`);
  } else {
    const header = frames[0].header.clone();
    stampProduct(header, kind, ctx.fingerprint);
    header.set("NCOMBINE", frames.length, "number of frames combined");
    header.set("COMBINE", ctx.reduction.combine, "combine method");
    header.set(
      "DATE-OBS",
      meanDate(frames.map((f) => f.dateObs)) ?? frames[0].dateObs ?? null,
      "mean of the inputs",
    );
    for (const master of uses) {
      header.set(
        master.kind === "master_bias" ? "MBIAS" : "MDARK",
        basename(master.path),
        `${master.kind} used`,
      );
    }
    header.addHistory(history("combine", `${ctx.reduction.combine} of ${frames.length} frames: ${describe}`));
    for (const frame of frames) header.addHistory(history("input", frame.fileName));
    for (const warning of warnings) header.addComment(`WARNING: ${warning}`);
    await ctx.confine();
    const result = await combineToFile(ctx, inputs, path, header, floor);
    mean = result.mean;
    record = await ctx.store.replaceProduct({
      nightId: ctx.night.id,
      kind,
      path,
      filter: frames[0].filter,
      exposureTime: kind === "master_bias" ? null : exposureTime,
      width: frames[0].width,
      height: frames[0].height,
      binning: frames[0].binning,
      nCombined: frames.length,
      checksum: result.checksum,
      dateObs: meanDate(frames.map((f) => f.dateObs)),
      warnings,
      inputExposureIds: inputIds,
      usedProductIds: useIds,
    });
    ctx.log.info(`Wrote ${fileName} (${describe})`);
  }
  ctx.report.products.push({
    kind,
    path,
    inputs: frames.map((f) => f.fileName),
    uses: uses.map((m) => basename(m.path)),
    warnings,
    reused: !!kept,
  });
  ctx.progress();
  return { id: record.id, kind, path, exposureTime, mean, borrowed: null };
}

/** The closest-in-time matching master from another night whose file still exists. */
async function borrowMaster(
  ctx: Context,
  kind: "master_bias" | "master_dark" | "master_flat",
  shape: RawFrame,
  extra: { filter?: string | null; exposureTime?: number } = {},
): Promise<Master | null> {
  const record = await ctx.store.findMaster({
    kind,
    width: shape.width,
    height: shape.height,
    binning: shape.binning,
    filter: extra.filter,
    exposureTime: extra.exposureTime,
    near: shape.dateObs,
    excludeNightId: ctx.night.id,
  });
  if (!record) return null;
  try {
    await Deno.stat(record.path);
  } catch {
    return null;
  }
  const mean = kind === "master_flat"
    ? await flooredMean(record.path, ctx.reduction.flatFloor, ctx.bandRows)
    : NaN;
  return {
    id: record.id,
    kind,
    path: record.path,
    exposureTime: record.exposureTime ?? 0,
    mean,
    borrowed: `${kind.replace("_", " ")} borrowed from ${record.path} (${record.dateObs ?? "date unknown"})`,
  };
}

/** The dark to use for exposure time t: exact match, else the nearest exposure time. */
function nearestDark(darks: Master[], t: number): Master | null {
  let best: Master | null = null;
  for (const dark of darks) {
    if (!best || Math.abs(dark.exposureTime - t) < Math.abs(best.exposureTime - t)) best = dark;
  }
  return best;
}

/** Reduces one shape group (frames of one size and binning). */
async function reduceGroup(ctx: Context, frames: RawFrame[], suffix: string): Promise<void> {
  const byType = (type: ImageType) => frames.filter((f) => f.imageType === type);
  const sample = frames[0];
  const nightWarnings = ctx.report.warnings;

  // Stage: master bias.
  let bias: Master | null = null;
  const biasFrames = byType("bias");
  if (biasFrames.length > 0) {
    bias = await buildMaster(
      ctx,
      "master_bias",
      `master_bias${suffix}.fits`,
      biasFrames.map((frame) => ({ frame, bias: null, dark: null, darkScale: 1, scale: 1 })),
      [],
      "bias frames",
    );
  } else {
    bias = await borrowMaster(ctx, "master_bias", sample);
    nightWarnings.push(
      bias ? bias.borrowed! : `no bias frames${suffix ? ` for ${suffix.slice(1)}` : ""}: bias not subtracted`,
    );
  }

  // Stage: master darks, one per exposure time.
  const darks: Master[] = [];
  for (const [t, group] of Map.groupBy(byType("dark"), (f) => String(f.exposureTime))) {
    const warnings = bias
      ? (bias.borrowed ? [bias.borrowed] : [])
      : ["no master bias: dark frames not bias-subtracted"];
    darks.push(
      await buildMaster(
        ctx,
        "master_dark",
        `master_dark_${formatSeconds(Number(t))}s${suffix}.fits`,
        group.map((frame) => ({ frame, bias, dark: null, darkScale: 1, scale: 1 })),
        warnings,
        `dark frames of ${t} s minus master bias`,
      ),
    );
  }
  const borrowedDarks = new Map<number, Master | null>();
  const darkFor = async (t: number): Promise<{ dark: Master | null; note: string | null }> => {
    if (t <= 0) return { dark: null, note: null };
    const own = nearestDark(darks, t);
    if (own) {
      return {
        dark: own,
        note: own.exposureTime === t
          ? null
          : `no ${formatSeconds(t)} s dark: ${basename(own.path)} scaled by exposure time`,
      };
    }
    if (!borrowedDarks.has(t)) {
      borrowedDarks.set(t, await borrowMaster(ctx, "master_dark", sample, { exposureTime: t }));
    }
    const borrowed = borrowedDarks.get(t)!;
    return borrowed
      ? { dark: borrowed, note: borrowed.borrowed }
      : { dark: null, note: "no master dark: dark not subtracted" };
  };
  const usableDark = (dark: Master | null) => (dark && dark.exposureTime > 0 ? dark : null);

  // Stage: master flats, one per filter, each flat scaled by 1/its own median.
  const flats = new Map<string, Master>();
  for (const [filter, group] of Map.groupBy(byType("flat"), (f) => f.filter ?? "")) {
    const inputs: CombineInput[] = [];
    const warnings = new Set<string>();
    if (!bias) warnings.add("no master bias: flats not bias-subtracted");
    else if (bias.borrowed) warnings.add(bias.borrowed);
    for (const frame of group) {
      const { dark, note } = await darkFor(frame.exposureTime);
      if (note) warnings.add(note);
      const used = usableDark(dark);
      inputs.push({
        frame,
        bias,
        dark: used,
        darkScale: used ? frame.exposureTime / used.exposureTime : 0,
        scale: 1,
      });
    }
    checkAbort(ctx);
    const medians = await inputMedians(ctx, inputs, sample.width, sample.height);
    medians.forEach((median, i) => (inputs[i].scale = 1 / median));
    const label = filter === "" ? "nofilter" : safeName(filter);
    flats.set(
      filter,
      await buildMaster(
        ctx,
        "master_flat",
        `master_flat_${label}${suffix}.fits`,
        inputs,
        [...warnings],
        `flat frames in ${filter || "no filter"}, bias and dark subtracted, each divided by its median`,
      ),
    );
  }

  // Stage: calibrated lights, in batches that share each master band read.
  const plans: LightPlan[] = [];
  for (const frame of byType("light")) {
    plans.push(await planLight(ctx, frame, bias, darkFor, flats, usableDark, sample));
  }
  for (const plan of plans.filter((p) => p.kept)) finishLight(ctx, plan, plan.kept!.warnings);
  const todo = plans.filter((p) => !p.kept);
  // Each batch's products reach the disk while the next batch is computed.
  let finishing: Promise<void> = Promise.resolve();
  try {
    for (let i = 0; i < todo.length; i += LIGHT_BATCH) {
      checkAbort(ctx);
      const { finished } = await calibrateBatch(ctx, todo.slice(i, i + LIGHT_BATCH));
      const previous = finishing;
      finishing = finished;
      await previous;
    }
  } finally {
    await finishing;
  }
}

/** Lights calibrated together: each master band is read once per batch, not once per light. */
const LIGHT_BATCH = 8;

const borrowedFlats = new WeakMap<Context, Map<string, Master | null>>();

/** What calibrating one light takes. */
interface LightPlan {
  frame: RawFrame;
  path: string;
  bias: Master | null;
  dark: Master | null;
  darkScale: number;
  flat: Master | null;
  masters: Master[];
  warnings: string[];
  saturation: number | null;
  kept: ProductRecord | null;
}

async function planLight(
  ctx: Context,
  frame: RawFrame,
  bias: Master | null,
  darkFor: (t: number) => Promise<{ dark: Master | null; note: string | null }>,
  flats: Map<string, Master>,
  usableDark: (dark: Master | null) => Master | null,
  sample: RawFrame,
): Promise<LightPlan> {
  const warnings: string[] = [];
  if (!bias) warnings.push("no master bias: bias not subtracted");
  else if (bias.borrowed) warnings.push(bias.borrowed);
  const { dark: anyDark, note } = await darkFor(frame.exposureTime);
  const dark = usableDark(anyDark);
  if (note) warnings.push(note);
  let flat = flats.get(frame.filter ?? "") ?? null;
  if (!flat) {
    let cache = borrowedFlats.get(ctx);
    if (!cache) borrowedFlats.set(ctx, cache = new Map());
    const key = `${frame.filter}|${frame.width}x${frame.height}`;
    if (!cache.has(key)) {
      cache.set(key, await borrowMaster(ctx, "master_flat", sample, { filter: frame.filter }));
    }
    flat = cache.get(key)!;
    warnings.push(flat ? flat.borrowed! : `no flat for filter ${frame.filter ?? "(none)"}: not flat-fielded`);
  }
  const masters = [bias, dark, flat].filter((m): m is Master => !!m);
  const path = `${ctx.outDir}/${calibratedName(frame.fileName)}`;
  return {
    frame,
    path,
    bias,
    dark,
    darkScale: dark ? frame.exposureTime / dark.exposureTime : 0,
    flat,
    masters,
    warnings,
    saturation: frame.saturate ?? ctx.reduction.saturation,
    kept: await upToDate(ctx, path, [frame.exposure.id], masters.map((m) => m.id)),
  };
}

function lightHeader(ctx: Context, plan: LightPlan): Header {
  const header = plan.frame.header.clone();
  stampProduct(header, "calibrated_light", ctx.fingerprint);
  const { bias, dark, flat } = plan;
  header.set(
    "CALSTAT",
    [bias && "B", dark && "D", flat && "F"].filter(Boolean).join(""),
    "calibrations applied",
  );
  if (bias) {
    header.set("MBIAS", basename(bias.path), "master bias used");
    header.addHistory(history("subtract_bias", basename(bias.path)));
  }
  if (dark) {
    header.set("MDARK", basename(dark.path), "master dark used");
    header.addHistory(
      history("subtract_dark", `${basename(dark.path)} scaled by ${plan.darkScale.toPrecision(6)}`),
    );
  }
  if (flat) {
    header.set("MFLAT", basename(flat.path), "master flat used");
    header.addHistory(history("flat_correct", `${basename(flat.path)}, mean ${flat.mean.toPrecision(8)}`));
  }
  if (plan.saturation !== null) {
    header.addHistory(history("saturation", `raw >= ${plan.saturation} ADU set to NaN`));
  }
  for (const warning of plan.warnings) header.addComment(`WARNING: ${warning}`);
  return header;
}

function finishLight(ctx: Context, plan: LightPlan, warnings: string[]): void {
  ctx.report.products.push({
    kind: "calibrated_light",
    path: plan.path,
    inputs: [plan.frame.fileName],
    uses: plan.masters.map((m) => basename(m.path)),
    warnings,
    reused: !!plan.kept,
  });
  ctx.progress();
}

async function failLight(ctx: Context, plan: LightPlan, error: unknown): Promise<void> {
  const reason = error instanceof Error ? error.message : String(error);
  ctx.log.error(`Could not calibrate ${plan.frame.fileName}: ${reason}`);
  ctx.report.failed.push({ fileName: plan.frame.fileName, reason });
  await ctx.store.upsertExposure({ ...plan.frame.exposure, status: "skipped", error: reason });
}

interface OpenLight {
  plan: LightPlan;
  input: SweepInput;
  writer: FitsImageWriter;
  /** Encoded output bands, one per slot, and their word sums. */
  encoded: [Uint8Array, Uint8Array];
  sums: [number, number];
  saturated: number;
  failed: boolean;
}

/**
 * Calibrates a batch of lights band by band. Resolves once every band is written,
 * with the batch's finishing (fsync, rename, catalog) still running, so the next
 * batch's pixels are computed while this one's reach the disk.
 */
async function calibrateBatch(ctx: Context, plans: LightPlan[]): Promise<{ finished: Promise<void> }> {
  const { width, height } = plans[0].frame;
  const rows = rowsPerBand(ctx.bandRows, plans.length + 3, width);
  await ctx.confine();
  const masters = await openMasters(ctx, plans.flatMap((plan) => [plan.bias, plan.dark, plan.flat]), rows);
  const open: OpenLight[] = [];
  const fail = async (light: OpenLight, error: unknown) => {
    if (light.failed) return;
    light.failed = true;
    await light.writer.abort();
    await failLight(ctx, light.plan, error);
  };
  try {
    for (const plan of plans) {
      let input: SweepInput | null = null;
      try {
        input = await SweepInput.open(plan.frame, rows, ctx.arena, plan.saturation);
        const writer = await FitsImageWriter.create(plan.path, lightHeader(ctx, plan), { width, height });
        open.push({
          plan,
          input,
          writer,
          encoded: [ctx.arena.bytes(rows * width * 4), ctx.arena.bytes(rows * width * 4)],
          sums: [0, 0],
          saturated: 0,
          failed: false,
        });
      } catch (error) {
        input?.close();
        await failLight(ctx, plan, error);
      }
    }
    try {
      await sweepBands(height, rows, {
        read: async (y0, n, slot) => {
          await readBands(masters.values(), y0, n, slot);
          for (const light of open) {
            if (!light.failed) await light.input.read(y0, n, slot).catch((error) => fail(light, error));
          }
        },
        compute: async (_y0, n, slot) => {
          const lights = open.filter((light) => !light.failed);
          const task: BandTask = {
            inputs: withMasters(
              masters,
              slot,
              lights.map((light) =>
                light.input.input(slot, {
                  terms: termsOf(light.plan, masters, slot, ctx.reduction.flatFloor),
                  encoded: light.encoded[slot],
                })
              ),
            ),
            combine: null,
          };
          const slices = await ctx.pool.run(task, n * width);
          lights.forEach((light, j) => {
            let sum = 0;
            for (const slice of slices) {
              sum = addSums(sum, slice.sums[masters.size + j]);
              light.saturated += slice.saturated[masters.size + j];
            }
            light.sums[slot] = sum;
          });
        },
        write: async (_y0, n, slot) => {
          for (const light of open) {
            if (light.failed) continue;
            try {
              light.writer.writeEncodedSync(light.encoded[slot].subarray(0, n * width * 4), light.sums[slot]);
            } catch (error) {
              await fail(light, error);
            }
          }
        },
      }, ctx.gate);
    } catch (error) {
      // A master band could not be read: no light of the batch can be finished.
      for (const light of open) await fail(light, error);
    }
  } finally {
    for (const light of open) {
      light.input.close();
      ctx.arena.release(...light.encoded);
    }
    for (const master of masters.values()) master.close();
  }
  return { finished: finishLights(ctx, open, width, height) };
}

/** Closes the batch's products (they appear, renamed into place, only once complete) and records them. */
async function finishLights(ctx: Context, open: OpenLight[], width: number, height: number): Promise<void> {
  // The fsyncs run side by side.
  const closed = await Promise.allSettled(open.map((light) => light.failed ? null : light.writer.close()));
  for (let i = 0; i < open.length; i++) {
    const light = open[i];
    const result = closed[i];
    if (light.failed) continue;
    if (result.status === "rejected") {
      await failLight(ctx, light.plan, result.reason);
      continue;
    }
    const warnings = [...light.plan.warnings];
    if (light.saturated > 0) warnings.push(`${light.saturated} saturated pixels set to NaN`);
    await ctx.store.replaceProduct({
      nightId: ctx.night.id,
      kind: "calibrated_light",
      path: light.plan.path,
      filter: light.plan.frame.filter,
      exposureTime: light.plan.frame.exposureTime,
      width,
      height,
      binning: light.plan.frame.binning,
      nCombined: 1,
      checksum: result.value!.checksum,
      dateObs: light.plan.frame.dateObs,
      warnings,
      inputExposureIds: [light.plan.frame.exposure.id],
      usedProductIds: light.plan.masters.map((m) => m.id),
    });
    ctx.log.info(`Wrote ${basename(light.plan.path)}`);
    finishLight(ctx, light.plan, warnings);
  }
}

/** Removes half-written products a crash left behind (the writer's `.NAME.xxxxxxxx.tmp` files). */
async function removeStaleTemporaries(outDir: string, log: Logger): Promise<void> {
  for await (const entry of Deno.readDir(outDir)) {
    if (entry.isFile && /^\..+\.[0-9a-f]{8}\.tmp$/.test(entry.name)) {
      await Deno.remove(`${outDir}/${entry.name}`).catch(() => {});
      log.info(`Removed unfinished ${entry.name} left by an interrupted run`);
    }
  }
}

/** The night's real path, checked against the data roots when they are given. */
async function openNightDir(nightDir: string, roots: string[] | undefined): Promise<string> {
  if (roots) {
    await assertStillInside(nightDir, roots);
    return nightDir;
  }
  try {
    const realDir = await Deno.realPath(nightDir);
    if (!(await Deno.stat(realDir)).isDirectory) throw new Error("not a directory");
    return realDir;
  } catch (error) {
    throw new Error(
      `Night directory ${nightDir} cannot be read: ${error instanceof Error ? error.message : error}`,
    );
  }
}

/**
 * A check that the output directory is still the real directory it was (not a
 * symlink, not swapped) inside the data roots: products never follow a link out.
 */
function confinement(outDir: string, roots: string[]): () => Promise<void> {
  return async () => {
    if ((await Deno.lstat(outDir)).isSymlink) {
      throw new LocationError(
        `Products directory ${outDir} is a symbolic link: products are not written through it`,
      );
    }
    await assertStillInside(outDir, roots);
  };
}

/**
 * Reduces a night: ingest, masters, calibrated lights, every product recorded
 * with its inputs and masters. Frames that cannot be used are skipped with the
 * reason; the rest of the night goes on.
 */
export async function reduceNight(nightDir: string, options: ReduceOptions): Promise<ReductionReport> {
  const started = performance.now();
  const log = options.log ?? getLogger("preprocessor.reduce");
  const realDir = await openNightDir(nightDir, options.roots);
  const outDir = options.outDir ?? `${realDir}/products`;
  await Deno.mkdir(outDir, { recursive: true });
  const confine = options.roots ? confinement(outDir, options.roots) : () => Promise.resolve();
  await confine();
  await removeStaleTemporaries(outDir, log);
  log.info(`Reducing ${realDir} into ${outDir}`);
  const ingest = await ingestNight(options.store, realDir, { gate: options.pool?.gate });
  for (const skip of ingest.skipped) log.warning(`Skipped ${skip.fileName}: ${skip.reason}`);
  const report: ReductionReport = {
    nightDir: realDir,
    outDir,
    night: ingest.night,
    framesUsed: ingest.frames.length,
    skipped: ingest.skipped,
    failed: [],
    products: [],
    warnings: [],
    seconds: 0,
  };
  const groups = Map.groupBy(ingest.frames, (f) => `${f.width}x${f.height}@${f.binning ?? "?"}`);
  const total = [...groups.values()].reduce((sum, frames) => {
    const types = (t: ImageType) => frames.filter((f) => f.imageType === t);
    return sum + (types("bias").length > 0 ? 1 : 0) + new Set(types("dark").map((f) => f.exposureTime)).size +
      new Set(types("flat").map((f) => f.filter)).size + types("light").length;
  }, 0);
  let done = 0;
  const pool = options.pool ??
    createPixelPool(options.reduction.workers || navigator.hardwareConcurrency || 1);
  const existing = new Map(
    (await options.store.listProducts({ nightId: ingest.night.id })).map((p) => [p.path, p]),
  );
  const ctx: Context = {
    store: options.store,
    night: ingest.night,
    reduction: options.reduction,
    outDir,
    pool,
    log,
    fingerprint: await reductionFingerprint(options.reduction),
    existing,
    force: options.force ?? false,
    bandRows: options.reduction.bandRows,
    arena: new SharedArena(),
    report,
    signal: options.signal,
    gate: pool.gate,
    confine,
    progress: () => {
      done++;
      options.onProgress?.({ done, total, step: report.products[report.products.length - 1]?.path ?? "" });
    },
  };
  try {
    options.onProgress?.({ done: 0, total, step: "ingested" });
    const multiple = groups.size > 1;
    for (const [key, frames] of groups) {
      const suffix = multiple ? `_${safeName(key.replace("@", "_"))}` : "";
      await reduceGroup(ctx, frames, suffix);
    }
  } finally {
    if (!options.pool) pool.close();
  }
  report.seconds = (performance.now() - started) / 1000;
  for (const warning of report.warnings) log.warning(warning);
  log.info(`Reduced ${realDir}: ${report.products.length} products in ${report.seconds.toFixed(1)} s`);
  return report;
}
