/**
 * Making a master, as the master stages share it: the inputs calibrated against
 * the masters they need, scaled (flats: by 1/their median, found exactly in a
 * streamed pass), combined band by band on the pixel workers into a new file,
 * kept instead when up to date, and recorded.
 *
 * @module
 */
import { basename } from "node:path";
import { addSums, type Header } from "../../../lib/fits/mod.ts";
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
import type { ProductKind } from "../../../lib/store/mod.ts";
import type { RawFrame } from "../ingest.ts";
import { rowsPerBand, sweepBands, SweepInput } from "../band_sweep.ts";
import { describeReadout } from "../frame_source.ts";
import { flooredMean, type Master, type MasterKey, type MasterKind } from "../master_library.ts";
import { type ErrorNotes, ProductFile } from "../product_file.ts";
import { meanDate, stampProduct } from "../products.ts";
import type { Judgement, StageContext } from "./stage.ts";
import { frameCountVerdict, saturationVerdict } from "./_quality.ts";
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
      // Saturated pixels are left out of the combine (NaN), and counted for quality control.
      const saturation = input.frame.saturate ?? context.reduction.saturation;
      frames.push(
        await SweepInput.open(geometry, rows, context.arena, {
          hash,
          digest: context.pool.sha256,
          saturation,
        }),
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

/** An input's level: its exact median after calibration, and how many of its pixels were saturated. */
export interface InputLevel {
  median: number;
  saturated: number;
}

/**
 * Exact median of each input after calibration (saturated pixels left out),
 * streamed, {@link MEDIAN_BATCH} inputs at a time, with its saturated pixel count.
 */
export async function inputMedians(context: StageContext, inputs: CombineInput[]): Promise<InputLevel[]> {
  const levels: InputLevel[] = [];
  for (let i = 0; i < inputs.length; i += MEDIAN_BATCH) {
    if (i > 0) context.checkAbort();
    levels.push(...await batchMedians(context, inputs.slice(i, i + MEDIAN_BATCH)));
  }
  return levels;
}

/**
 * Exact median of each input after calibration, streamed: one pass over all
 * inputs at once counting the fine counts of the buckets a sample points at and
 * how many values lie below them; only an input whose guess missed (or that had
 * none) takes two more passes, a coarse one and a fine one.
 */
async function batchMedians(context: StageContext, inputs: CombineInput[]): Promise<InputLevel[]> {
  const { width, height } = inputs[0].frame;
  const { arena, pool } = context;
  const rows = rowsPerBand(context.reduction.bandRows, inputs.length + 2, width);
  const { masters, frames, close } = await openCombineSources(context, inputs, rows);
  const medians = inputs.map(() => new StreamingMedian());
  let saturated = inputs.map(() => 0);
  const workers = pool.size;
  const histograms: Uint32Array[] = [];
  try {
    /** One sweep over the inputs `which`, with their histograms; returns finite and below counts. */
    const pass = async (
      which: number[],
      histogram: (i: number) => HistogramPass,
    ): Promise<{ finite: number[]; below: number[]; saturated: number[] }> => {
      const finite = inputs.map(() => 0);
      const below = inputs.map(() => 0);
      const saturated = inputs.map(() => 0);
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
              saturated[i] += slice.saturated[masters.size + j];
            });
          }
        },
        write: () => Promise.resolve(),
      }, context.gate);
      return { finite, below, saturated };
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
    saturated = first.saturated;
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
  return medians.map((median, i) => ({ median: median.median(), saturated: saturated[i] }));
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

/** The `ERR` header's words for a master of the configured combine (ccdproc's `Combiner`). */
function combineErrorNotes(reduction: StageContext["reduction"]): ErrorNotes {
  const spread = {
    median: "1.4826 * MAD / sqrt(n), MAD the median absolute deviation",
    average: "std / sqrt(n), std the population standard deviation",
    sum: "std * sqrt(n), std the population standard deviation",
  }[reduction.combine];
  return {
    formula: [
      `ERR = ${spread} of the n values combined at each pixel (after rejection and scaling),`,
      "as ccdproc's Combiner gives a combined image's uncertainty.",
    ],
  };
}

/** What combining gave: the file's checksum, the mean of max(value, floor), each input's saturated pixels. */
interface Combined {
  checksum: string;
  mean: number;
  saturated: number[];
}

/**
 * Combines calibrated inputs band by band into a new master file (with its BPM
 * and ERR for `Output: Format: mef`).
 */
async function combineToFile(
  context: StageContext,
  inputs: CombineInput[],
  path: string,
  header: Header,
  floorForMean: number,
): Promise<Combined> {
  const { width, height } = inputs[0].frame;
  const { arena, pool, reduction } = context;
  const mef = reduction.output.format === "mef";
  const rows = rowsPerBand(reduction.bandRows, inputs.length + (mef ? 5 : 3), width);
  const options: CombineOptions = {
    method: reduction.combine,
    sigmaClip: reduction.sigmaClip,
    minMaxClip: reduction.minMaxClip,
    scales: inputs.every((input) => input.scale === 1) ? null : inputs.map((input) => input.scale),
  };
  const { masters, frames, close } = await openCombineSources(context, inputs, rows);
  const two = <T>(make: () => T): [T, T] => [make(), make()];
  const out = two(() => arena.float32(rows * width));
  const encoded = two(() => arena.bytes(rows * width * 4));
  const deviation = mef ? two(() => arena.float32(rows * width)) : null;
  const deviationEncoded = mef ? two(() => arena.bytes(rows * width * 4)) : null;
  const mask = mef ? two(() => arena.bytes(rows * width)) : null;
  const sums = [0, 0];
  const deviationSums = [0, 0];
  const maskSums = [0, 0];
  const saturated = inputs.map(() => 0);
  let file: ProductFile | null = null;
  let sum = 0;
  let count = 0;
  try {
    file = await ProductFile.create(path, header, {
      width,
      height,
      format: reduction.output.format,
      error: combineErrorNotes(reduction),
    });
    const frameIndices = frames.map((_, i) => masters.size + i);
    await sweepBands(height, rows, {
      read: (y0, n, slot) => readBands([...masters.values(), ...frames], y0, n, slot),
      compute: async (y0, n, slot) => {
        const flags = mask?.[slot] ?? null;
        const task: BandTask = {
          inputs: withMasters(
            masters,
            slot,
            frames.map((frame, i) => ({
              ...frame.input(slot, { terms: termsOf(inputs[i], masters, slot) }),
              flags,
            })),
          ),
          combine: {
            options,
            inputs: frameIndices,
            out: out[slot],
            encoded: encoded[slot],
            floor: floorForMean,
            deviation: deviation?.[slot] ?? null,
            deviationEncoded: deviationEncoded?.[slot] ?? null,
            mask: flags,
            maskPosition: y0 * width,
          },
        };
        let slotSum = 0;
        let slotDeviationSum = 0;
        let slotMaskSum = 0;
        for (const slice of await pool.run(task, n * width)) {
          slotSum = addSums(slotSum, slice.combineSum);
          slotDeviationSum = addSums(slotDeviationSum, slice.combineDeviationSum);
          slotMaskSum = addSums(slotMaskSum, slice.combineMaskSum);
          sum += slice.combineFlooredSum;
          count += slice.combineCount;
          frames.forEach((_, i) => (saturated[i] += slice.saturated[masters.size + i]));
        }
        sums[slot] = slotSum;
        deviationSums[slot] = slotDeviationSum;
        maskSums[slot] = slotMaskSum;
      },
      write: (_y0, n, slot) => {
        file!.writeScience(encoded[slot].subarray(0, n * width * 4), sums[slot]);
        if (mask && deviationEncoded) {
          file!.writeMask(mask[slot].subarray(0, n * width), maskSums[slot]);
          file!.writeError(deviationEncoded[slot].subarray(0, n * width * 4), deviationSums[slot]);
        }
        return Promise.resolve();
      },
    }, context.gate);
    const closing = performance.now();
    const written = await file.close();
    context.addFsync((performance.now() - closing) / 1000);
    return { checksum: written.checksum, mean: count > 0 ? sum / count : NaN, saturated };
  } catch (error) {
    await file?.abort();
    throw error;
  } finally {
    close();
    arena.release(...out, ...encoded, ...deviation ?? [], ...deviationEncoded ?? [], ...mask ?? []);
  }
}

/** What a master stage asks of {@link buildMaster}. */
export interface MasterPlan {
  kind: MasterKind;
  fileName: string;
  inputs: CombineInput[];
  /** Warnings its products carry (a master of another night used to make it, ...). */
  warnings: string[];
  /** What it is made of, for its HISTORY: `bias frames`. */
  describe: string;
  /** What it is for (filter, exposure time, set point): the key of another night's stand-in. */
  key?: MasterKey;
  /**
   * Quality control's look at the inputs before they are combined, only when
   * the master is made (a flat's level and saturation, in the pass that finds its
   * scale): the verdicts of the inputs to keep out.
   */
  screen?: (inputs: CombineInput[], path: string) => Promise<Judgement[]>;
}

/** The mean detector temperature of frames that have one, or null. */
function meanTemperature(frames: RawFrame[]): number | null {
  const known = frames.map((frame) => frame.temperature).filter((t): t is number => t !== null);
  return known.length > 0 ? known.reduce((a, b) => a + b, 0) / known.length : null;
}

/** A master's header: its first frame's, stamped, with its inputs, clipping, quality control and warnings. */
function masterHeader(
  context: StageContext,
  plan: MasterPlan,
  inputs: CombineInput[],
  uses: Master[],
  warnings: string[],
  judged: Judgement[],
): Header {
  const frames = inputs.map((input) => input.frame);
  const header = frames[0].header.clone();
  stampProduct(header, plan.kind, context.fingerprint);
  header.set("NCOMBINE", frames.length, "number of frames combined");
  header.set("COMBINE", context.reduction.combine, "combine method");
  header.set(
    "DATE-OBS",
    meanDate(frames.map((f) => f.dateObs)) ?? frames[0].dateObs ?? null,
    "mean of the inputs",
  );
  const temperature = meanTemperature(frames);
  if (temperature !== null) header.set("CCD-TEMP", Number(temperature.toFixed(2)), "[C] mean of the inputs");
  for (const master of uses) {
    header.set(
      master.kind === "master_bias" ? "MBIAS" : "MDARK",
      basename(master.path),
      `${master.kind} used`,
    );
  }
  describeReadout(header, frames[0], context.reduction.overscan);
  header.addHistory(
    history("combine", `${context.reduction.combine} of ${frames.length} frames: ${plan.describe}`),
  );
  for (const rejection of rejections(context.reduction)) header.addHistory(history("combine", rejection));
  for (const frame of frames) header.addHistory(history("input", frame.fileName));
  for (const verdict of judged) {
    header.addHistory(history("quality_control", `${verdict.subject}: ${verdict.check}: ${verdict.reason}`));
  }
  for (const warning of warnings) header.addComment(`WARNING: ${warning}`);
  return header;
}

/**
 * Makes (or keeps, when up to date) one master, records it and reports it;
 * returns it to calibrate with. When it is made, quality control keeps out the
 * frames `screen` finds fault with and those saturated over `Max Saturated`
 * percent (found as they are combined: the master is then combined again
 * without them), and holds its frame count to `Min Frames`: under it the master
 * is made with a warning, or, with `Few Frames: borrow`, the closest good master
 * of another night is returned instead. Null when no frame is left.
 */
export async function buildMaster(context: StageContext, plan: MasterPlan): Promise<Master | null> {
  context.checkAbort();
  const { kind, fileName, describe, key = {} } = plan;
  const { reduction } = context;
  const path = `${context.outDir}/${fileName}`;
  const allFrames = plan.inputs.map((input) => input.frame);
  const uses = [
    ...new Map(
      plan.inputs.flatMap((i) => [i.bias, i.dark]).filter((m): m is Master => !!m).map((m) => [m.id, m]),
    ).values(),
  ];
  const exposureTime = allFrames[0].exposureTime;
  const floor = kind === "master_flat" ? reduction.flatFloor : -Infinity;
  const kept = await keptProduct(context, path, allFrames, uses);
  if (kept) {
    const warnings = [...plan.warnings, ...allFrames.flatMap((frame) => frame.warnings)];
    const mean = kind === "master_flat" ? await flooredMean(path, floor, reduction.bandRows) : NaN;
    context.log.info(`Kept up-to-date ${fileName}`);
    produced(context, kind, path, allFrames, uses, warnings, true);
    return {
      id: kept.id,
      kind,
      path,
      exposureTime,
      mean,
      borrowed: null,
      remade: false,
      temperature: kept.temperature,
    };
  }
  const subjects = [...allFrames.map((frame) => frame.fileName), path];
  const judged: Judgement[] = [];
  let inputs = plan.inputs;
  const leaveOut = (verdicts: Judgement[]) => {
    const out = new Set(verdicts.map((verdict) => verdict.subject));
    for (const verdict of verdicts) {
      judged.push(verdict);
      const frame = allFrames.find((f) => f.fileName === verdict.subject)!;
      context.reject(frame, `quality control: ${verdict.check}: ${verdict.reason}`);
    }
    inputs = inputs.filter((input) => !out.has(input.frame.fileName));
  };
  const nothingLeft = (): null => {
    context.judge(subjects, judged);
    context.warn(`${fileName} not made: quality control kept every frame out`);
    return null;
  };
  if (plan.screen) leaveOut(await plan.screen(inputs, path));
  if (inputs.length === 0) return nothingLeft();
  if (inputs.length < reduction.qualityControl.minFrames && reduction.qualityControl.fewFrames === "borrow") {
    const standIn = await context.masters.goodElsewhere(kind, inputs[0].frame, key);
    if (standIn) {
      judged.push(frameCountVerdict(path, inputs.length, reduction, standIn.path));
      for (const input of inputs) {
        context.reject(
          input.frame,
          `quality control: only ${inputs.length} frames for ${fileName}: ${standIn.path} used instead`,
        );
      }
      context.judge(subjects, judged);
      return standIn;
    }
  }
  let result: Combined;
  for (;;) {
    context.checkAbort();
    const count = frameCountVerdict(path, inputs.length, reduction);
    const frames = inputs.map((input) => input.frame);
    const warnings = [...plan.warnings, ...frames.flatMap((frame) => frame.warnings)];
    const header = masterHeader(
      context,
      plan,
      inputs,
      uses,
      warnings,
      count.verdict === "pass" ? judged : [...judged, count],
    );
    await context.confine();
    result = await combineToFile(context, inputs, path, header, floor);
    const over = inputs.flatMap((input, i) =>
      saturationVerdict(input.frame, result.saturated[i], reduction, path) ?? []
    );
    if (over.length === 0) break;
    leaveOut(over);
    if (inputs.length === 0) {
      await Deno.remove(path).catch(() => {});
      return nothingLeft();
    }
    context.log.info(`Combining ${fileName} again without ${over.map((v) => v.subject).join(", ")}`);
  }
  const frames = inputs.map((input) => input.frame);
  const warnings = [...plan.warnings, ...frames.flatMap((frame) => frame.warnings)];
  judged.push(frameCountVerdict(path, frames.length, reduction));
  const temperature = meanTemperature(frames);
  const record = await context.catalog.recordProduct({
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
    temperature,
  });
  context.judge(subjects, judged);
  context.log.info(`Wrote ${fileName} (${describe})`);
  produced(context, kind, path, frames, uses, warnings, false);
  return {
    id: record.id,
    kind,
    path,
    exposureTime,
    mean: result.mean,
    borrowed: null,
    remade: true,
    temperature,
  };
}

function produced(
  context: StageContext,
  kind: MasterKind,
  path: string,
  frames: RawFrame[],
  uses: Master[],
  warnings: string[],
  reused: boolean,
): void {
  context.produced({
    kind: kind as ProductKind,
    path,
    inputs: frames.map((f) => f.fileName),
    uses: uses.map((m) => basename(m.path)),
    warnings,
    reused,
  });
}
