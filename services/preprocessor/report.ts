/**
 * What a reduction reports: its products, the frames it skipped or failed on,
 * its warnings (each once, with how many products carry it), and each stage's
 * time.
 *
 * @module
 */
import type { NightRecord, ProductKind, QcVerdictInput } from "../../lib/store/mod.ts";

/**
 * A quality-control verdict: which frame (file name) or product (path), which
 * stage and check, the outcome, the value measured, the limit and why.
 */
export type QcVerdict = Omit<QcVerdictInput, "productId">;

/** Progress of a reduction, reported as each stage starts and after each product. */
export interface ReductionProgress {
  done: number;
  total: number;
  /** The last product's path, or the stage that just started. */
  step: string;
}

/** A file that was not used, or a frame a stage rejected or failed on, and why. */
export interface SkippedFrame {
  fileName: string;
  reason: string;
  /** The stage that left it out (`ingest` for files that are not usable frames). */
  stage?: string;
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

/** What one stage did. */
export interface StageSummary {
  name: string;
  /** Groups it ran on (one per master, one per shape of lights). */
  groups: number;
  /** Frames it read. */
  frames: number;
  /** Products it made or kept. */
  products: number;
  reused: number;
  /** Frames it rejected (quality control) or failed on. */
  rejected: number;
  failed: number;
  /** Wall time of the stage. */
  seconds: number;
  /** Of which waiting for its products to reach the disk (fsync). */
  fsyncSeconds: number;
}

/** A warning and how many products carry it (0: a warning about the whole night). */
export interface WarningCount {
  warning: string;
  products: number;
}

/** What a reduction did. */
export interface ReductionReport {
  nightDir: string;
  outDir: string;
  night: NightRecord;
  framesUsed: number;
  /** Files that are not usable frames, and frames a stage rejected. */
  skipped: SkippedFrame[];
  /** Frames a stage failed on (an error), with the reason. */
  failed: SkippedFrame[];
  products: ProductSummary[];
  /** Warnings about the whole night (a calibration type missing or borrowed). */
  warnings: string[];
  /** Every warning once, night-wide ones first, then the products' by how many carry them. */
  warningCounts: WarningCount[];
  /** The stages in the order they ran. */
  stages: StageSummary[];
  /**
   * Quality control's verdicts, in the order given: every check of a master, and
   * every frame kept out or master made with a warning (a frame that passed gets none).
   */
  qc: QcVerdict[];
  /** Time spent hashing raw files, most of it inside the stages' reads (each frame hashed as first read). */
  hashSeconds: number;
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

/**
 * Each warning once with the number of products that carry it: night-wide
 * warnings first (count 0), then product warnings, most frequent first. A
 * warning that starts with a count (`3 saturated pixels set to NaN`) is grouped
 * by the rest, the counts added up (`41 saturated pixels set to NaN`).
 */
export function countWarnings(nightWarnings: string[], products: ProductSummary[]): WarningCount[] {
  const groups = new Map<string, { products: number; sum: number | null }>();
  for (const product of products) {
    for (const warning of new Set(product.warnings)) {
      const counted = /^(\d+) (.+)$/.exec(warning);
      const key = counted ? counted[2] : warning;
      const group = groups.get(key) ?? { products: 0, sum: counted ? 0 : null };
      group.products++;
      if (counted && group.sum !== null) group.sum += Number(counted[1]);
      groups.set(key, group);
    }
  }
  const productWarnings = [...groups].map(([key, group]) => ({
    warning: group.sum === null ? key : `${group.sum} ${key}`,
    products: group.products,
  }));
  productWarnings.sort((a, b) => b.products - a.products);
  return [...new Set(nightWarnings)].map((warning) => ({ warning, products: 0 })).concat(productWarnings);
}

/** A quality-control verdict as `job_status` and the job's page show it. */
export interface QcLine {
  /** The frame's file name, or the product's path. */
  Product: string;
  Stage: string;
  Check: string;
  /** `pass`, `warning`, `rejected`, `flagged` or `borrowed`. */
  Verdict: string;
  /** The value measured, when there is one. */
  Measured: number | null;
  Limit: string;
  Reason: string;
}

/** Quality control's verdicts for a job's result: each master's, and each frame's that failed a check. */
export function qcLinesOf(verdicts: QcVerdict[]): QcLine[] {
  return verdicts.map((verdict) => ({
    Product: verdict.subject,
    Stage: verdict.stage,
    Check: verdict.check,
    Verdict: verdict.verdict,
    Measured: verdict.measured === null ? null : Number(verdict.measured.toPrecision(6)),
    Limit: verdict.limit,
    Reason: verdict.reason,
  }));
}
