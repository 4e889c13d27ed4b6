/**
 * What a stage of the reduction is (after LCO's BANZAI): it declares the frames
 * it reads, the masters it calibrates with, the products it writes, the frame
 * attributes it groups by and the settings that change its pixels, and does its
 * one thing to a group of frames at a time. The runner ({@link runStages}) groups
 * the night's frames, runs each group, times the stage, and records the frames a
 * stage rejects; the order of the stages is data (`REDUCTION_STAGES`).
 *
 * @module
 */
import type { ReductionConfig } from "../../../lib/config.ts";
import type { PixelPool } from "../../../lib/ccd/mod.ts";
import type { ImageType, ProductKind } from "../../../lib/store/mod.ts";
import type { Logger } from "../../../lib/log.ts";
import type { YieldGate } from "../../../lib/yield_gate.ts";
import type { InspectedFile, RawFrame } from "../ingest.ts";
import type { SharedArena } from "../band_sweep.ts";
import type { NightCatalog } from "../night_catalog.ts";
import type { MasterKind, MasterLibrary } from "../master_library.ts";
import type { ProductSummary, QcVerdict } from "../report.ts";

/** A quality-control verdict as a stage gives it (the runner adds the stage's name). */
export type Judgement = Omit<QcVerdict, "stage">;
import { safeName } from "../products.ts";

/**
 * Frame attributes a stage may group by (with the shape, every stage does): the
 * set point is the detector's `SET-TEMP` (frames without one share a group).
 */
export type FrameAttribute = "shape" | "filter" | "exposureTime" | "setPoint";

/** Frames a stage works on together: one run of the stage. */
export interface FrameGroup {
  /** The group's attribute values, for logs: `2048x2048@1x1`, `2048x2048@1x1 V`, `2048x2048@1x1 60 s`. */
  key: string;
  frames: RawFrame[];
  /** Added to product names when the night holds frames of several shapes; "" otherwise. */
  suffix: string;
}

/** One step of the reduction. */
export interface Stage {
  /** Its name in logs, progress and the report: `master_bias`. */
  readonly name: string;
  /** The frame types it reads (none for a stage that finds frames: ingest). */
  readonly reads: readonly ImageType[];
  /** The masters it calibrates with, looked up in the master library. */
  readonly uses: readonly MasterKind[];
  /** The products it writes. */
  readonly writes: readonly ProductKind[];
  /** Frames are grouped by these attributes; the stage runs once per group. */
  readonly groupBy: readonly FrameAttribute[];
  /**
   * The settings that change its products' pixels (never scheduling ones such as
   * Workers or Niceness): its products' fingerprint, so changing one of these
   * makes its products (and those made from them) again, and nothing else does.
   */
  readonly settings: readonly (keyof ReductionConfig)[];
  /** How many products a group will give (the progress total). */
  products(group: FrameGroup): number;
  /** Does the stage's work on one group. */
  run(group: FrameGroup, context: StageContext): Promise<void>;
}

/** What a stage gets to work with; given by the runner, one per stage. */
export interface StageContext {
  /** The night directory's real path. */
  readonly nightDir: string;
  /** Where products go. */
  readonly outDir: string;
  readonly reduction: ReductionConfig;
  readonly pool: PixelPool;
  /** Shared buffers reused by every band sweep of the night. */
  readonly arena: SharedArena;
  /** The pool's yield gate, passed by the sweeps' reading and writing and by the hashing threads. */
  readonly gate: YieldGate | undefined;
  readonly log: Logger;
  readonly catalog: NightCatalog;
  readonly masters: MasterLibrary;
  /** `REDFPRNT` of this stage's products: the software version and the stage's {@link Stage.settings}. */
  readonly fingerprint: string;
  /** Make every product again even when an up-to-date one exists. */
  readonly force: boolean;
  /** Throws `ReductionAborted` once the reduction was asked to stop (call between products). */
  checkAbort(): void;
  /** Checks, before a product is written, that the output directory has not left the data roots. */
  confine(): Promise<void>;
  /** Records a product made or kept (the report, the progress). */
  produced(product: ProductSummary): void;
  /**
   * Counts `products` under way (a fraction of them: a batch of lights half
   * swept is half its products) in the progress before they are recorded, so
   * the progress moves while a batch is swept; the progress never goes back.
   */
  underWay(products: number): void;
  /** Rejects a frame (quality control): recorded with the reason, and later stages never see it. */
  reject(frame: RawFrame, reason: string): void;
  /** Records a frame the stage failed on: with the reason, and later stages never see it. */
  fail(frame: RawFrame, reason: string): void;
  /** A warning about the whole night (a calibration type missing). */
  warn(warning: string): void;
  /**
   * Records quality-control verdicts (in the report and the catalog), replacing
   * what this stage said before of `subjects` (the frames and products it judged).
   */
  judge(subjects: string[], verdicts: Judgement[]): void;
  /** Adds time spent waiting for products to reach the disk. */
  addFsync(seconds: number): void;
  /** For ingest: the night's usable frames and the files that are not usable frames. */
  addFrames(frames: RawFrame[], unusable: InspectedFile[]): void;
}

/** A frame's shape: size after trimming, and binning. */
export function shapeOf(frame: RawFrame): string {
  return `${frame.width}x${frame.height}@${frame.binning ?? "?"}`;
}

/** The product name suffix of a shape on a night of several shapes: `_2048x2048_1x1`. */
export function shapeSuffix(shape: string): string {
  return `_${safeName(shape.replace("@", "_"))}`;
}

function attributeOf(frame: RawFrame, attribute: FrameAttribute): string {
  if (attribute === "shape") return shapeOf(frame);
  if (attribute === "filter") return frame.filter ?? "";
  if (attribute === "setPoint") return frame.setPoint === null ? "" : `${frame.setPoint} C`;
  return `${frame.exposureTime} s`;
}

/**
 * The groups a stage runs on: the frames of the types it reads, grouped by the
 * shape and its attributes, in the order the first frame of each appears. A
 * stage that reads no frames runs once, on no frames.
 */
export function groupFrames(stage: Stage, frames: readonly RawFrame[], severalShapes: boolean): FrameGroup[] {
  if (stage.reads.length === 0) return [{ key: "night", frames: [], suffix: "" }];
  const attributes: FrameAttribute[] = ["shape", ...stage.groupBy.filter((a) => a !== "shape")];
  const read = frames.filter((frame) => stage.reads.includes(frame.imageType));
  const groups = Map.groupBy(read, (frame) => attributes.map((a) => attributeOf(frame, a)).join(" "));
  return [...groups].map(([key, members]) => ({
    key: key.trimEnd(),
    frames: members,
    suffix: severalShapes ? shapeSuffix(shapeOf(members[0])) : "",
  }));
}
