/**
 * Quality control's checks of frames and masters, as the stages share them:
 * each gives a verdict that says which frame or product, which check, the value
 * measured and the limit (`Reduction: Quality Control`). The master stages run
 * the frame checks on what they read anyway (a flat's median and saturation in
 * the pass that finds its scale, a bias's or dark's saturation in the combine),
 * so quality control reads no pixel twice.
 *
 * @module
 */
import { basename } from "node:path";
import type { ReductionConfig } from "../../../lib/config.ts";
import type { RawFrame } from "../ingest.ts";
import type { Judgement } from "./stage.ts";

/** `12.3`: a percent with up to three significant decimals. */
function percentText(value: number): string {
  return value >= 10 ? value.toFixed(1) : value >= 1 ? value.toFixed(2) : value.toPrecision(2);
}

/**
 * A frame kept out of a master for its saturated pixels (`Max Saturated` percent
 * or more of them), or null when it passes.
 */
export function saturationVerdict(
  frame: RawFrame,
  saturated: number,
  reduction: ReductionConfig,
  master: string,
): Judgement | null {
  const percent = (100 * saturated) / (frame.width * frame.height);
  const limit = reduction.qualityControl.maxSaturated;
  if (percent < limit) return null;
  return {
    subject: frame.fileName,
    check: "saturation",
    verdict: "rejected",
    measured: percent,
    limit: `< ${limit} %`,
    reason: `${percentText(percent)} % of its pixels saturated (at most ${limit} % allowed): kept out of ${
      basename(master)
    }`,
  };
}

/** A flat kept out for its level (its median after bias and dark, outside `Flat Min`-`Flat Max`), or null. */
export function flatLevelVerdict(
  frame: RawFrame,
  median: number,
  reduction: ReductionConfig,
  master: string,
): Judgement | null {
  const { flatMin, flatMax } = reduction.qualityControl;
  if (median >= flatMin && median <= flatMax) return null;
  const level = Number.isFinite(median) ? `${Math.round(median)} ADU` : "no finite pixel";
  return {
    subject: frame.fileName,
    check: "flat level",
    verdict: "rejected",
    measured: Number.isFinite(median) ? median : null,
    limit: `${flatMin}-${flatMax} ADU`,
    reason: `median level ${level} after bias and dark, outside ${flatMin}-${flatMax} ADU: kept out of ${
      basename(master)
    }`,
  };
}

/**
 * A master's frame count against `Min Frames`: a pass, a warning (made anyway),
 * or, when another night's good master stands in, `borrowed`.
 */
export function frameCountVerdict(
  master: string,
  frames: number,
  reduction: ReductionConfig,
  borrowed: string | null = null,
): Judgement {
  const minimum = reduction.qualityControl.minFrames;
  const base = { subject: master, check: "frame count", measured: frames, limit: `>= ${minimum} frames` };
  const count = `${frames} frame${frames === 1 ? "" : "s"}`;
  if (frames >= minimum) return { ...base, verdict: "pass", reason: `made of ${count}` };
  if (borrowed) {
    return {
      ...base,
      verdict: "borrowed",
      reason: `only ${count} (fewer than ${minimum}): ${borrowed} used instead, the frames left out`,
    };
  }
  return { ...base, verdict: "warning", reason: `made of only ${count} (fewer than ${minimum})` };
}

/** A product calibrated with a dark of another temperature (beyond `Temperature Tolerance`). */
export function temperatureVerdict(
  product: string,
  temperatures: { frame: number; master: number },
  dark: string,
  reduction: ReductionConfig,
): Judgement {
  const gap = Math.abs(temperatures.frame - temperatures.master);
  return {
    subject: product,
    check: "dark temperature",
    verdict: "warning",
    measured: gap,
    limit: `<= ${reduction.temperatureTolerance} °C`,
    reason: `${basename(dark)} taken at ${temperatures.master.toFixed(1)} °C, the frame at ${
      temperatures.frame.toFixed(1)
    } °C: ${gap.toFixed(1)} °C apart, used for want of a dark at this temperature`,
  };
}
