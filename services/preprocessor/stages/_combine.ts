/**
 * Making a master, as the master stages share it: the inputs calibrated against
 * the masters they need, scaled (flats: by 1/their median, found exactly in a
 * streamed pass), combined band by band on the pixel workers into a new file,
 * kept instead when up to date, and recorded.
 *
 * @module
 */
import { basename } from "node:path";
import { addSums, FitsImageWriter, type Header } from "../../../lib/fits/mod.ts";
import {
  type BandTask,
  calibrateBand,
  type CombineOptions,
  HISTOGRAM_BINS,
  type HistogramPass,
  history,
  medianOf,
  StreamingMedian,
} from "../../../lib/ccd/mod.ts";
import type { ProductRecord } from "../../../lib/store/mod.ts";
import type { RawFrame } from "../ingest.ts";
import { rowsPerBand, sweepBands, SweepInput } from "../band_sweep.ts";
import { describeReadout } from "../frame_source.ts";
import { flooredMean, type Master, type MasterKind } from "../master_library.ts";
import { meanDate, stampProduct } from "../products.ts";
import type { StageContext } from "./stage.ts";
import { type Calibration, openMasters, readBands, termsOf, withMasters } from "./_sweep.ts";
import { keptProduct } from "./_products.ts";

/** An input of a combine: a frame and what to subtract from it before combining. */
export interface CombineInput extends Calibration {
  frame: RawFrame;
  /** Multiply after calibration (flat normalization), default 1. */
  scale: number;
}

/** The frames of a combine and the masters they are calibrated with, open for bands of the same rows. */
interface CombineSources {
  masters: Map<string, SweepInput>;
  frames: SweepInput[];
  /** Closes every file and gives the buffers back. */
  close(): void;
}

async function openCombineSources(
  context: StageContext,
  inputs: CombineInput[],
  rows: number,
): Promise<CombineSources> {
  const masters = await openMasters(context.arena, inputs.flatMap((input) => [input.bias, input.dark]), rows);
  const frames: SweepInput[] = [];
  const close = () => {
    for (const frame of frames) frame.close();
    for (const master of masters.values()) master.close();
  };
  try {
    for (const input of inputs) {
      const hash = context.catalog.claimHash(input.frame.fileName);
      const geometry = { ...input.frame, overscanMethod: context.reduction.overscan };
      frames.push(
        await SweepInput.open(geometry, rows, context.arena, { hash, digest: context.pool.sha256 }),
      );
    }
  } catch (error) {
    close();
    throw error;
  }
  return { masters, frames, close };
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

/**
 * Inputs whose medians are found in one sweep: their histograms (2 MiB each on
 * two workers) stay bounded however many flats. Eight, not more: the
 * histograms are the largest buffers of a night (11 flats at once took 13 MiB
 * more peak RSS than 8 and 3, for no time measured).
 */
const MEDIAN_BATCH = 8;

/** Exact median of each input after calibration, streamed, {@link MEDIAN_BATCH} inputs at a time. */
export async function inputMedians(context: StageContext, inputs: CombineInput[]): Promise<number[]> {
  const medians: number[] = [];
  for (let i = 0; i < inputs.length; i += MEDIAN_BATCH) {
    if (i > 0) context.checkAbort();
    medians.push(...await batchMedians(context, inputs.slice(i, i + MEDIAN_BATCH)));
  }
  return medians;
}

/**
 * Exact median of each input after calibration, streamed: one pass over all
 * inputs at once counting the fine counts of the buckets a sample points at and
 * how many values lie below them; only an input whose guess missed (or that had
 * none) takes two more passes, a coarse one and a fine one.
 */
async function batchMedians(context: StageContext, inputs: CombineInput[]): Promise<number[]> {
  const { width, height } = inputs[0].frame;
  const { arena, pool } = context;
  const rows = rowsPerBand(context.reduction.bandRows, inputs.length + 2, width);
  const { masters, frames, close } = await openCombineSources(context, inputs, rows);
  const medians = inputs.map(() => new StreamingMedian());
  const workers = pool.size;
  const histograms: Uint32Array[] = [];
  try {
    /** One sweep over the inputs `which`, with their histograms; returns finite and below counts. */
    const pass = async (
      which: number[],
      histogram: (i: number) => HistogramPass,
    ): Promise<{ finite: number[]; below: number[] }> => {
      const finite = inputs.map(() => 0);
      const below = inputs.map(() => 0);
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
          for (const slice of await pool.run(task, n * width)) {
            which.forEach((i, j) => {
              finite[i] += slice.finite[masters.size + j];
              below[i] += slice.below[masters.size + j];
            });
          }
        },
        write: () => Promise.resolve(),
      }, context.gate);
      return { finite, below };
    };
    const guesses = await guessMedianBuckets(inputs, frames, masters, width, height);
    const guessed = guesses.map((buckets) => arena.counts(workers * buckets.length * HISTOGRAM_BINS));
    histograms.push(...guessed);
    const all = inputs.map((_, i) => i);
    const first = await pass(all, (i) => ({
      coarse: null,
      fine: { buckets: guesses[i], bins: guessed[i] },
      countBelow: true,
    }));
    const missed = all.filter((i) =>
      guesses[i].length === 0 ||
      !medians[i].mergeBracket(first.finite[i], first.below[i], guessed[i], guesses[i])
    );
    if (missed.length > 0) {
      // The guess missed: a coarse pass places the middle ranks, a fine one finds them.
      context.checkAbort();
      for (const i of missed) medians[i] = new StreamingMedian();
      const coarse = new Map(missed.map((i) => [i, arena.counts(workers * HISTOGRAM_BINS)]));
      histograms.push(...coarse.values());
      const { finite } = await pass(missed, (i) => ({ coarse: coarse.get(i)!, fine: null }));
      const placed = missed.filter((i) => {
        medians[i].mergeCoarse(coarse.get(i)!, finite[i]);
        return medians[i].beginFine(); // no finite value: the median is NaN
      });
      context.checkAbort();
      const fine = new Map(placed.map((i) => [i, arena.counts(workers * 2 * HISTOGRAM_BINS)]));
      histograms.push(...fine.values());
      if (placed.length > 0) {
        await pass(
          placed,
          (i) => ({ coarse: null, fine: { buckets: medians[i].fineBuckets, bins: fine.get(i)! } }),
        );
      }
      for (const i of placed) medians[i].mergeFine(fine.get(i)!);
    }
    context.log.debug(
      `Input medians: ${inputs.length - missed.length} of ${inputs.length} exact in one pass`,
    );
  } finally {
    close();
    arena.release(...histograms);
  }
  return medians.map((median) => median.median());
}

/** The HISTORY words of the combine's clipping, in the order it is applied (see `lib/ccd/combine.ts`). */
function rejections(reduction: StageContext["reduction"]): string[] {
  const words: string[] = [];
  const { minMaxClip, sigmaClip } = reduction;
  if (minMaxClip) {
    words.push(`values outside ${minMaxClip.min} to ${minMaxClip.max} ADU rejected, before scaling`);
  }
  if (sigmaClip) {
    words.push(
      `values beyond ${sigmaClip.low} sigma below or ${sigmaClip.high} sigma above the ${sigmaClip.center} ` +
        `rejected, one pass, after scaling`,
    );
  }
  return words;
}

/** Combines calibrated inputs band by band into a new master file; returns the mean of max(value, floor). */
async function combineToFile(
  context: StageContext,
  inputs: CombineInput[],
  path: string,
  header: Header,
  floorForMean: number,
): Promise<{ checksum: string; mean: number }> {
  const { width, height } = inputs[0].frame;
  const { arena, pool, reduction } = context;
  const rows = rowsPerBand(reduction.bandRows, inputs.length + 3, width);
  const options: CombineOptions = {
    method: reduction.combine,
    sigmaClip: reduction.sigmaClip,
    minMaxClip: reduction.minMaxClip,
    scales: inputs.every((input) => input.scale === 1) ? null : inputs.map((input) => input.scale),
  };
  const { masters, frames, close } = await openCombineSources(context, inputs, rows);
  const out = [arena.float32(rows * width), arena.float32(rows * width)];
  const encoded = [arena.bytes(rows * width * 4), arena.bytes(rows * width * 4)];
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
        for (const slice of await pool.run(task, n * width)) {
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
    }, context.gate);
    const closing = performance.now();
    const written = await writer.close();
    context.addFsync((performance.now() - closing) / 1000);
    return { checksum: written.checksum, mean: count > 0 ? sum / count : NaN };
  } catch (error) {
    await writer?.abort();
    throw error;
  } finally {
    close();
    arena.release(...out, ...encoded);
  }
}

/**
 * Makes (or keeps, when up to date) one master, records it and reports it;
 * returns it to calibrate with. `prepare` runs only when the master is made
 * (a flat's inputs are scaled by their medians there).
 */
export async function buildMaster(
  context: StageContext,
  kind: MasterKind,
  fileName: string,
  inputs: CombineInput[],
  warnings: string[],
  describe: string,
  prepare?: () => Promise<void>,
): Promise<Master> {
  context.checkAbort();
  const path = `${context.outDir}/${fileName}`;
  const frames = inputs.map((input) => input.frame);
  warnings = [...warnings, ...frames.flatMap((frame) => frame.warnings)];
  const uses = [
    ...new Map(inputs.flatMap((i) => [i.bias, i.dark]).filter((m): m is Master => !!m).map((m) => [m.id, m]))
      .values(),
  ];
  const exposureTime = frames[0].exposureTime;
  const floor = kind === "master_flat" ? context.reduction.flatFloor : -Infinity;
  const kept = await keptProduct(context, path, frames, uses);
  let record: ProductRecord;
  let mean: number;
  if (kept) {
    record = kept;
    mean = kind === "master_flat" ? await flooredMean(path, floor, context.reduction.bandRows) : NaN;
    context.log.info(`Kept up-to-date ${fileName}`);
  } else {
    const header = frames[0].header.clone();
    stampProduct(header, kind, context.fingerprint);
    header.set("NCOMBINE", frames.length, "number of frames combined");
    header.set("COMBINE", context.reduction.combine, "combine method");
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
    describeReadout(header, frames[0], context.reduction.overscan);
    header.addHistory(
      history("combine", `${context.reduction.combine} of ${frames.length} frames: ${describe}`),
    );
    for (const rejection of rejections(context.reduction)) header.addHistory(history("combine", rejection));
    for (const frame of frames) header.addHistory(history("input", frame.fileName));
    for (const warning of warnings) header.addComment(`WARNING: ${warning}`);
    await prepare?.();
    await context.confine();
    const result = await combineToFile(context, inputs, path, header, floor);
    mean = result.mean;
    record = await context.catalog.recordProduct({
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
      inputs: frames.map((frame) => frame.fileName),
      usedProductIds: uses.map((m) => m.id),
    });
    context.log.info(`Wrote ${fileName} (${describe})`);
  }
  context.produced({
    kind,
    path,
    inputs: frames.map((f) => f.fileName),
    uses: uses.map((m) => basename(m.path)),
    warnings,
    reused: !!kept,
  });
  return { id: record.id, kind, path, exposureTime, mean, borrowed: null, remade: !kept };
}
