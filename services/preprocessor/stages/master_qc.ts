/**
 * Stage: quality control of each master made tonight against the previous one
 * of its kind (the closest in time of another night, of the same shape and
 * filter or exposure time, a dark at the nearest temperature). Two checks,
 * each a verdict in the catalog and the report, the master flagged (still used)
 * beyond `Reduction: Master Comparison`:
 *
 * - the level: the ratio of the two masters' medians, flagged when it moves by
 *   more than `Max Level Change` percent; for a master whose level lies within
 *   its pixels' scatter (a cold dark), the difference of the medians against
 *   that scatter instead, where a ratio would mean nothing;
 * - the pixels changed: the percent of pixels whose difference lies more than
 *   `Changed Sigma` robust σ from the difference's median (σ = 1.4826 · its
 *   median absolute deviation), flagged above `Max Changed` percent.
 *
 * The medians and σ come from an even sample of pixels; the count from every pixel.
 *
 * @module
 */
import { basename } from "node:path";
import { MAD_TO_SIGMA, sampleMedian } from "../../../lib/ccd/mod.ts";
import type { ProductRecord } from "../../../lib/store/mod.ts";
import { FrameSource } from "../frame_source.ts";
import type { TonightMaster } from "../master_library.ts";
import type { Judgement, Stage, StageContext } from "./stage.ts";

/** Pixels sampled for the medians and σ: about this many, evenly spread. */
const SAMPLE = 1 << 18;
/** Rows read at a time. */
const ROWS = 64;

/** Compares each master made tonight with the previous one of its kind. */
export const masterQc: Stage = {
  name: "master_qc",
  reads: [],
  uses: ["master_bias", "master_dark", "master_flat"],
  writes: [],
  groupBy: [],
  settings: ["masterComparison"],
  products: () => 0,
  async run(_group, context) {
    const made = context.masters.tonight().filter(({ master }) =>
      master.remade && master.borrowed === null && master.kind !== "bad_pixel_map"
    );
    for (const master of made) {
      context.checkAbort();
      const previous = await previousMaster(context, master);
      if (!previous) {
        context.log.info(`${basename(master.master.path)}: no earlier master of its kind to compare with`);
        continue;
      }
      const judged = await compare(context, master, previous);
      context.judge([master.master.path], judged);
    }
  },
};

/** The master of another night this one is compared with, or null. */
async function previousMaster(context: StageContext, made: TonightMaster): Promise<ProductRecord | null> {
  const [size, binning] = made.shape.split("@");
  const [width, height] = size.split("x").map(Number);
  const kind = made.master.kind as "master_bias" | "master_dark" | "master_flat";
  const record = await context.catalog.findMaster({
    kind,
    width,
    height,
    binning: binning === "?" ? null : binning,
    filter: made.key.filter,
    exposureTime: kind === "master_dark" ? made.master.exposureTime : undefined,
    near: context.catalog.night.date ? `${context.catalog.night.date}T12:00:00` : null,
    temperature: made.master.temperature,
    temperatureTolerance: context.reduction.temperatureTolerance,
  });
  if (!record) return null;
  try {
    await Deno.stat(record.path);
  } catch {
    return null;
  }
  return record;
}

/** The two verdicts of a master against its predecessor. */
async function compare(
  context: StageContext,
  made: TonightMaster,
  previous: ProductRecord,
): Promise<Judgement[]> {
  const { maxLevelChange, maxChanged, changedSigma } = context.reduction.masterComparison;
  const path = made.master.path;
  const now = await FrameSource.open({ path });
  const before = await FrameSource.open({ path: previous.path });
  try {
    const { width, height } = now;
    if (before.width !== width || before.height !== height) return [];
    const total = width * height;
    const stride = Math.max(1, Math.floor(total / SAMPLE));
    const samples = {
      now: new Float32Array(SAMPLE),
      before: new Float32Array(SAMPLE),
      diff: new Float32Array(SAMPLE),
    };
    const a = new Float32Array(ROWS * width);
    const b = new Float32Array(ROWS * width);
    let n = 0;
    let m = 0;
    // First pass: even samples of both masters and of their difference.
    for (let y0 = 0; y0 < height; y0 += ROWS) {
      const rows = Math.min(ROWS, height - y0);
      await now.readBand(y0, rows, a);
      await before.readBand(y0, rows, b);
      for (let p = (stride - ((y0 * width) % stride)) % stride; p < rows * width; p += stride) {
        if (m >= SAMPLE) break;
        const [x, y] = [a[p], b[p]];
        if (x !== x || y !== y) continue;
        samples.now[m] = x;
        samples.before[m] = y;
        samples.diff[m++] = x - y;
      }
      n += rows * width;
    }
    const medianNow = sampleMedian(samples.now, m);
    const medianBefore = sampleMedian(samples.before, m);
    const centre = sampleMedian(samples.diff, m);
    for (let i = 0; i < m; i++) samples.diff[i] = Math.abs(samples.diff[i] - centre);
    const sigma = MAD_TO_SIGMA * sampleMedian(samples.diff, m);
    // Second pass: every pixel's difference against the difference's median and σ.
    let changed = 0;
    for (let y0 = 0; y0 < height; y0 += ROWS) {
      const rows = Math.min(ROWS, height - y0);
      await now.readBand(y0, rows, a);
      await before.readBand(y0, rows, b);
      for (let p = 0; p < rows * width; p++) {
        const d = Math.abs(a[p] - b[p] - centre);
        if (d > changedSigma * sigma || (sigma === 0 && d > 0)) changed++;
      }
    }
    const against = `${basename(previous.path)} (${previous.dateObs ?? "date unknown"})`;
    const verdicts: Judgement[] = [];
    if (Math.abs(medianBefore) >= sigma && sigma > 0 || Math.abs(medianBefore) > 0 && sigma === 0) {
      const change = 100 * Math.abs(medianNow / medianBefore - 1);
      const flagged = change > maxLevelChange;
      verdicts.push({
        subject: path,
        check: "median ratio",
        verdict: flagged ? "flagged" : "pass",
        measured: medianNow / medianBefore,
        limit: `${(1 - maxLevelChange / 100).toFixed(3)}-${(1 + maxLevelChange / 100).toFixed(3)}`,
        reason: `median ${medianNow.toPrecision(6)} against ${medianBefore.toPrecision(6)} in ${against}: ${
          change.toFixed(2)
        } % apart${flagged ? ` (more than ${maxLevelChange} %)` : ""}`,
      });
    } else {
      const shift = Math.abs(medianNow - medianBefore);
      const flagged = shift > sigma;
      verdicts.push({
        subject: path,
        check: "median shift",
        verdict: flagged ? "flagged" : "pass",
        measured: shift,
        limit: `<= ${sigma.toPrecision(4)} ADU (the difference's robust sigma: a level within the noise)`,
        reason: `median ${medianNow.toPrecision(4)} against ${medianBefore.toPrecision(4)} ADU in ${against}`,
      });
    }
    const percent = (100 * changed) / n;
    const flagged = percent > maxChanged;
    verdicts.push({
      subject: path,
      check: "pixels changed",
      verdict: flagged ? "flagged" : "pass",
      measured: percent,
      limit: `<= ${maxChanged} %`,
      reason: `${percent.toFixed(3)} % of pixels differ from ${against} by more than ${changedSigma} sigma (${
        (changedSigma * sigma).toPrecision(4)
      })${flagged ? ` (more than ${maxChanged} %)` : ""}`,
    });
    return verdicts;
  } finally {
    now.close();
    before.close();
  }
}
