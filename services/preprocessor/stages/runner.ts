/**
 * The stage runner: runs stages in their declared order over one night. For
 * each stage it groups the night's frames as the stage declares, runs the stage
 * on each group, and records what happened — products, frames rejected or
 * failed (with the reason, in the report and the catalog; later stages never see
 * them), the stage's time — and logs it. An error in one group stops that group
 * only: its frames are recorded as failed and the night goes on, unless the
 * reduction was stopped, a product would leave the data roots, or the catalog
 * failed.
 *
 * @module
 */
import type { ReductionConfig } from "../../../lib/config.ts";
import type { PixelPool } from "../../../lib/ccd/mod.ts";
import { LocationError } from "../../../lib/data_roots.ts";
import type { Logger } from "../../../lib/log.ts";
import { type Store, StoreError } from "../../../lib/store/mod.ts";
import type { InspectedFile, RawFrame } from "../ingest.ts";
import { SharedArena } from "../band_sweep.ts";
import { NightCatalog, type Publication } from "../night_catalog.ts";
import { MasterLibrary } from "../master_library.ts";
import { reductionFingerprint } from "../products.ts";
import {
  type ProductSummary,
  type QcVerdict,
  ReductionAborted,
  type ReductionProgress,
  type SkippedFrame,
  type StageSummary,
} from "../report.ts";
import { type FrameGroup, groupFrames, shapeOf, type Stage, type StageContext } from "./stage.ts";

/** What a night's run needs. */
export interface NightRunOptions {
  /** The night directory's real path. */
  nightDir: string;
  outDir: string;
  store: Store;
  reduction: ReductionConfig;
  pool: PixelPool;
  log: Logger;
  force?: boolean;
  signal?: AbortSignal;
  /** Checked before each product is written (see `ReduceOptions.roots`). */
  confine?: () => Promise<void>;
  onProgress?: (progress: ReductionProgress) => void;
  /** Products are written under private names and put in place as recorded (a task of a shared night). */
  publication?: Publication;
}

/** Errors that stop the whole night rather than one group. */
function stopsTheNight(error: unknown): boolean {
  return error instanceof ReductionAborted || error instanceof LocationError || error instanceof StoreError;
}

/** One night's run of stages, and what it found. */
export class NightRun {
  readonly catalog: NightCatalog;
  readonly masters: MasterLibrary;
  /** The night's frames still in the reduction (rejected and failed ones leave). */
  frames: RawFrame[] = [];
  /** Usable frames ingest found. */
  framesFound = 0;
  readonly products: ProductSummary[] = [];
  readonly skipped: SkippedFrame[] = [];
  readonly failed: SkippedFrame[] = [];
  /** Warnings about the whole night. */
  readonly warnings: string[] = [];
  readonly stages: StageSummary[] = [];
  /** Quality control's verdicts, in the order the stages gave them. */
  readonly verdicts: QcVerdict[] = [];
  readonly #options: NightRunOptions;
  readonly #arena = new SharedArena();
  #severalShapes = false;
  #done = 0;
  #total = 0;
  /** The progress last shown: it never goes back (products under way are counted before they are recorded). */
  #shown = 0;
  /** Frames left out by the group running now, and its pending catalog writes. */
  #leftOut = new Set<string>();
  #writes: Promise<void>[] = [];

  /** Prepares a run; nothing is read until {@link run}. */
  constructor(options: NightRunOptions) {
    this.#options = options;
    this.catalog = new NightCatalog(options.store, {
      gate: options.pool.gate,
      publication: options.publication,
    });
    this.masters = new MasterLibrary(this.catalog, {
      flatFloor: options.reduction.flatFloor,
      bandRows: options.reduction.bandRows,
      temperatureTolerance: options.reduction.temperatureTolerance,
      warn: (warning) => this.warnings.push(warning),
    });
  }

  /** Runs the stages in order. */
  async run(stages: readonly Stage[]): Promise<void> {
    for (const [index, stage] of stages.entries()) {
      this.#checkAbort();
      const groups = groupFrames(stage, this.frames, this.#severalShapes);
      this.#total = this.#done + stages.slice(index).reduce(
        (sum, later) =>
          sum + groupFrames(later, this.frames, this.#severalShapes)
            .reduce((n, group) => n + later.products(group), 0),
        0,
      );
      this.#progress(this.#done, stage.name);
      await this.#runStage(stage, groups);
    }
  }

  /** Tells `onProgress` how far the night is: `done` products of the total, never less than shown before. */
  #progress(done: number, step: string): void {
    this.#shown = Math.min(this.#total, Math.max(this.#shown, done));
    this.#options.onProgress?.({ done: this.#shown, total: this.#total, step });
  }

  /**
   * Runs one stage on the groups given, as planned elsewhere (a task of a night that several hosts
   * share runs one group, or a chunk of one); the frames must have been added already.
   */
  async runGroups(stage: Stage, groups: FrameGroup[]): Promise<void> {
    this.#checkAbort();
    this.#total = this.#done + groups.reduce((n, group) => n + stage.products(group), 0);
    this.#progress(this.#done, stage.name);
    await this.#runStage(stage, groups);
  }

  async #runStage(stage: Stage, groups: ReturnType<typeof groupFrames>): Promise<void> {
    const started = performance.now();
    const summary: StageSummary = {
      name: stage.name,
      groups: groups.length,
      frames: groups.reduce((n, group) => n + group.frames.length, 0),
      products: 0,
      reused: 0,
      rejected: 0,
      failed: 0,
      seconds: 0,
      fsyncSeconds: 0,
    };
    this.stages.push(summary);
    const context = await this.#context(stage, summary);
    for (const group of groups) {
      this.#checkAbort();
      this.#leftOut = new Set();
      const made = this.products.length;
      try {
        await stage.run(group, context);
      } catch (error) {
        if (stopsTheNight(error)) throw error;
        const reason = error instanceof Error ? error.message : String(error);
        this.#options.log.error(`${stage.name} ${group.key} failed: ${reason}`);
        const done = new Set(this.products.slice(made).flatMap((product) => product.inputs));
        for (const frame of group.frames) {
          if (!done.has(frame.fileName) && !this.#leftOut.has(frame.fileName)) context.fail(frame, reason);
        }
      } finally {
        const writes = this.#writes;
        this.#writes = [];
        await Promise.all(writes);
      }
      if (this.#leftOut.size > 0) {
        this.frames = this.frames.filter((frame) => !this.#leftOut.has(frame.fileName));
      }
    }
    summary.seconds = (performance.now() - started) / 1000;
    this.#options.log.info(
      `Stage ${stage.name}: ${summary.groups} group${
        summary.groups === 1 ? "" : "s"
      }, ${summary.frames} frames, ` +
        `${summary.products} products (${summary.reused} kept), ${summary.rejected} rejected, ` +
        `${summary.failed} failed in ${summary.seconds.toFixed(2)} s`,
    );
  }

  async #context(stage: Stage, summary: StageSummary): Promise<StageContext> {
    const options = this.#options;
    const leaveOut = (frame: RawFrame, reason: string, list: SkippedFrame[], what: string) => {
      this.#leftOut.add(frame.fileName);
      list.push({ fileName: frame.fileName, reason, stage: stage.name });
      options.log.warning(`${stage.name} ${what} ${frame.fileName}: ${reason}`);
      const write = this.catalog.recordSkipped(frame.fileName, reason);
      write.catch(() => {}); // awaited at the group's end; handled until then
      this.#writes.push(write);
    };
    return {
      nightDir: options.nightDir,
      outDir: options.outDir,
      reduction: options.reduction,
      pool: options.pool,
      arena: this.#arena,
      gate: options.pool.gate,
      log: options.log,
      catalog: this.catalog,
      masters: this.masters,
      fingerprint: await reductionFingerprint(options.reduction, stage.settings),
      force: options.force ?? false,
      checkAbort: () => this.#checkAbort(),
      confine: options.confine ?? (() => Promise.resolve()),
      produced: (product) => {
        this.products.push(product);
        summary.products++;
        if (product.reused) summary.reused++;
        this.#done++;
        this.#progress(this.#done, product.path);
      },
      underWay: (products) => this.#progress(this.#done + products, stage.name),
      reject: (frame, reason) => {
        summary.rejected++;
        leaveOut(frame, reason, this.skipped, "rejected");
      },
      fail: (frame, reason) => {
        summary.failed++;
        leaveOut(frame, reason, this.failed, "could not use");
      },
      warn: (warning) => this.warnings.push(warning),
      judge: (subjects, judgements) => {
        const verdicts = judgements.map((judgement) => ({ ...judgement, stage: stage.name }));
        this.verdicts.push(...verdicts);
        for (const verdict of verdicts.filter((v) => v.verdict !== "pass")) {
          options.log.warning(`${stage.name} quality control: ${verdict.subject}: ${verdict.reason}`);
        }
        const write = this.catalog.recordVerdicts(stage.name, subjects, verdicts);
        write.catch(() => {}); // awaited at the group's end; handled until then
        this.#writes.push(write);
      },
      addFsync: (seconds) => (summary.fsyncSeconds += seconds),
      addFrames: (frames: RawFrame[], unusable: InspectedFile[]) => {
        this.frames.push(...frames);
        this.framesFound += frames.length;
        this.masters.addFrames(frames);
        this.#severalShapes = new Set(this.frames.map(shapeOf)).size > 1;
        for (const warning of frames.flatMap((frame) => frame.warnings)) {
          this.warnings.push(warning);
          options.log.warning(warning);
        }
        for (const file of unusable) {
          const reason = file.reason ?? "unusable";
          this.skipped.push({ fileName: file.fileName, reason, stage: stage.name });
          options.log.warning(`Skipped ${file.fileName}: ${reason}`);
        }
      },
    };
  }

  #checkAbort(): void {
    if (this.#options.signal?.aborted) throw new ReductionAborted();
  }
}
