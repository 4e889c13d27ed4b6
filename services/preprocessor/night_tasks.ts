/**
 * A night that several hosts share: its reduction as tasks of its job in the
 * catalog, planned from what the stages declare.
 *
 * - **Planning.** The first stage (ingest) runs once, as the job's first task,
 *   and plans the rest from the frames it found: one task per group of each
 *   later stage, grouped as the stage declares (a master bias per shape, a
 *   master dark per exposure time, a master flat per filter), and a stage that
 *   gives one product per frame (the calibrated lights) split into chunks of
 *   {@link FRAMES_PER_TASK}. A task depends on every earlier task of its shape
 *   that writes a kind of master it uses (darks wait for the bias, flats for
 *   the bias and the darks, lights for their masters), and on every earlier
 *   task that read one of its frames (whose rejections it must see).
 * - **Running.** A task is one group of one stage, run by the same stage code
 *   as a whole night on one host. The masters it uses come from the results of
 *   the tasks it depends on (tonight's, made perhaps on another host, found
 *   through the catalog), or are borrowed from other nights as always.
 * - **Fencing.** A task writes its products into a directory of its own
 *   (`products/.task-ID-ATTEMPT/`) and puts each in place only while it holds
 *   its lease: the lease is checked with a margin (the catalog's clock) right
 *   before the rename, and the catalog row is recorded under the task's fence
 *   (refused once another attempt holds the task). A host cut off from the
 *   catalog cannot check and so never renames; its work is thrown away.
 *
 * @module
 */
import { basename } from "node:path";
import type { PixelPool } from "../../lib/ccd/mod.ts";
import type { ReductionConfig } from "../../lib/config.ts";
import type { Logger } from "../../lib/log.ts";
import {
  LeaseLostError,
  type Store,
  type TaskFence,
  type TaskInput,
  type TaskRecord,
} from "../../lib/store/mod.ts";
import { type InspectedFile, inspectFrame, type RawFrame } from "./ingest.ts";
import type { Master, TonightMaster } from "./master_library.ts";
import type { Publication } from "./night_catalog.ts";
import { confinement, openNightDir, REDUCTION_STAGES, removeStaleTemporaries } from "./pipeline.ts";
import { makePreviews, type PreviewsMade } from "./previews.ts";
import type { ProductSummary, QcVerdict, ReductionProgress, SkippedFrame, StageSummary } from "./report.ts";
import { type FrameGroup, groupFrames, NightRun, type Stage } from "./stages/mod.ts";
import { shapeOf } from "./stages/stage.ts";

/**
 * Frames per task of a stage that gives one product per frame: as many lights
 * as one batch calibrates together, so a chunk costs one read of each master band.
 */
export const FRAMES_PER_TASK = 8;

/** What a task of a night carries (its `spec`). */
export interface NightTaskSpec {
  /** The night directory's real path, as the front desk resolved it (the same on every host). */
  night: string;
  /** When the job was received: a master recorded since then was made by this run. */
  since: string;
  /** A stage task's group: its key (`2048x2048@1x1 V`), the product names' suffix, its frames. */
  key?: string;
  suffix?: string;
  frames?: string[];
  /** The night's first frame of the task's shape: masters borrowed from other nights are the closest in time to it. */
  samples?: string[];
  /** Frames per task of a per-frame stage (planning; default {@link FRAMES_PER_TASK}). */
  framesPerTask?: number;
}

/** What a task of a night gives (its `result`). */
export interface NightTaskResult {
  /** The stage it ran. */
  stage: string;
  /** Products it made or kept, at their final paths. */
  products: ProductSummary[];
  /** Files that are not usable frames (ingest), and frames it rejected. */
  skipped: SkippedFrame[];
  /** Frames it failed on. */
  failed: SkippedFrame[];
  /** Warnings about the night (a calibration missing or borrowed). */
  warnings: string[];
  /** What its stage did (for this group, or chunk of one). */
  summary: StageSummary | null;
  /** Quality control's verdicts (also in the catalog). */
  qc?: QcVerdict[];
  /** Masters it made or kept, for the tasks that use them. */
  masters: TonightMaster[];
  /** Frames later tasks must leave out (rejected or failed here, or by what it depended on). */
  leftOut: string[];
  /** Previews made for its products. */
  previews: { made: number; upToDate: number; failed: { path: string; reason: string }[] };
  /** Time spent hashing raw files. */
  hashSeconds: number;
  /** Its wall time on the worker. */
  seconds: number;
}

/** Whether a stage's group may be split into chunks run apart: each of its frames gives a product of its own. */
function splits(stage: Stage, group: FrameGroup): boolean {
  return group.frames.length > 1 && stage.products(group) === group.frames.length;
}

/** Options of {@link planNightTasks}. */
export interface PlanOptions {
  /** The night's real path. */
  night: string;
  /** When the job was received (see {@link NightTaskSpec.since}). */
  since: string;
  /** Frames per task of a per-frame stage (default {@link FRAMES_PER_TASK}). */
  framesPerTask?: number;
}

/**
 * The tasks of a night after its ingest: one per group of each stage (a stage that gives a product
 * per frame in chunks), named `STAGE KEY` (`calibrated_lights 2048x2048@1x1 3/8` for a chunk), with
 * their dependencies, in the order they are best run.
 *
 * @example
 * ```ts
 * import { planNightTasks } from "./night_tasks.ts";
 * import { REDUCTION_STAGES } from "./pipeline.ts";
 * declare const frames: import("./ingest.ts").RawFrame[];
 * const tasks = planNightTasks(REDUCTION_STAGES.slice(1), frames, { night: "/data/n", since: "2026-11-24T12:00:00Z" });
 * ```
 */
export function planNightTasks(
  stages: readonly Stage[],
  frames: readonly RawFrame[],
  options: PlanOptions,
): TaskInput[] {
  const size = Math.max(1, options.framesPerTask ?? FRAMES_PER_TASK);
  const severalShapes = new Set(frames.map(shapeOf)).size > 1;
  const samples = new Map<string, string>();
  for (const frame of frames) if (!samples.has(shapeOf(frame))) samples.set(shapeOf(frame), frame.fileName);
  const planned: { task: TaskInput; stage: Stage; shape: string | null; frames: Set<string> }[] = [];
  for (const stage of stages) {
    for (const group of groupFrames(stage, frames, severalShapes)) {
      const shape = group.frames.length > 0 ? shapeOf(group.frames[0]) : null;
      const chunks: RawFrame[][] = [];
      if (splits(stage, group)) {
        for (let i = 0; i < group.frames.length; i += size) chunks.push(group.frames.slice(i, i + size));
      } else chunks.push(group.frames);
      chunks.forEach((members, i) => {
        const names = new Set(members.map((frame) => frame.fileName));
        const dependsOn = planned.filter((earlier) =>
          earlier.stage !== stage && (
            (stage.uses.some((kind) => earlier.stage.writes.includes(kind)) &&
              (shape === null || earlier.shape === null || earlier.shape === shape)) ||
            [...names].some((name) => earlier.frames.has(name))
          )
        ).map((earlier) => earlier.task.name);
        const spec: NightTaskSpec = {
          night: options.night,
          since: options.since,
          key: group.key,
          suffix: group.suffix,
          frames: [...names],
          samples: shape === null ? [] : [samples.get(shape)!],
        };
        planned.push({
          task: {
            name: `${stage.name} ${group.key}${chunks.length > 1 ? ` ${i + 1}/${chunks.length}` : ""}`,
            kind: stage.name,
            spec,
            weight: Math.max(1, stage.products({ ...group, frames: members })),
            dependsOn,
          },
          stage,
          shape,
          frames: names,
        });
      });
    }
  }
  return planned.map((entry) => entry.task);
}

/** What running a task of a night needs (on a reduction thread of any host). */
export interface NightTaskOptions {
  store: Store;
  reduction: ReductionConfig;
  /** `Data: Roots`: the night and its products must stay inside them. */
  roots?: string[];
  pool: PixelPool;
  /** The task's claim, under which its products are put in place and recorded. */
  fence: TaskFence;
  /** How much of its lease a product's rename and row need left, in milliseconds. */
  marginMs: number;
  /** Aborted when the task must stop (the current frame finishes). */
  signal?: AbortSignal;
  log: Logger;
  onProgress?: (progress: ReductionProgress) => void;
  /** The stages (default {@link REDUCTION_STAGES}); the first finds the frames. */
  stages?: readonly Stage[];
}

/** What a task gave: its result, and for ingest the tasks it planned. */
export interface NightTaskOutcome {
  result: NightTaskResult;
  add: TaskInput[];
}

/** `promise`, or `fallback` once `ms` have passed without an answer. */
async function within<T>(promise: Promise<T>, ms: number, fallback: T): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<T>((resolve) => (timer = setTimeout(resolve, ms, fallback))),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Previews of a task's products (made on the worker that made them, never on a request). */
async function previewsOf(
  products: ProductSummary[],
  signal?: AbortSignal,
): Promise<NightTaskResult["previews"]> {
  const made: PreviewsMade = await makePreviews(products.map((product) => product.path), { signal });
  return { made: made.made, upToDate: made.upToDate, failed: made.failed };
}

/**
 * Runs one task of a night: ingest (which plans the rest), or one group (or chunk) of a stage.
 * Throws {@link LeaseLostError} when its lease could not be made sure of before a product was put in
 * place (nothing of that product is in place or recorded).
 */
export async function runNightTask(task: TaskRecord, options: NightTaskOptions): Promise<NightTaskOutcome> {
  const started = performance.now();
  const stages = options.stages ?? REDUCTION_STAGES;
  const spec = task.spec as NightTaskSpec;
  const realDir = await openNightDir(spec.night, options.roots);
  const outDir = `${realDir}/products`;
  await Deno.mkdir(outDir, { recursive: true });
  const confine = options.roots ? confinement(outDir, options.roots) : () => Promise.resolve();
  await confine();
  if (task.kind === stages[0].name) {
    return await runIngest(spec, realDir, outDir, confine, options, started);
  }
  const stage = stages.find((candidate) => candidate.name === task.kind);
  if (!stage) throw new Error(`Task ${task.name}: no stage ${task.kind} in this version of the reduction`);
  return await runStageTask(task, spec, stage, { realDir, outDir, confine, started }, options);
}

async function runIngest(
  spec: NightTaskSpec,
  realDir: string,
  outDir: string,
  confine: () => Promise<void>,
  options: NightTaskOptions,
  started: number,
): Promise<NightTaskOutcome> {
  const stages = options.stages ?? REDUCTION_STAGES;
  const { log } = options;
  // Left by an earlier run's hosts that were killed or cut off: half-written files and task directories.
  await removeStaleTemporaries(outDir, log);
  for await (const entry of Deno.readDir(outDir)) {
    if (entry.isDirectory && /^\.task-\d+-\d+$/.test(entry.name)) {
      await Deno.remove(`${outDir}/${entry.name}`, { recursive: true }).catch(() => {});
    }
  }
  const night = new NightRun({
    nightDir: realDir,
    outDir,
    store: options.store,
    reduction: options.reduction,
    pool: options.pool,
    log,
    signal: options.signal,
    confine,
    onProgress: options.onProgress,
  });
  let add: TaskInput[];
  try {
    await night.runGroups(stages[0], groupFrames(stages[0], [], false));
    add = planNightTasks(stages.slice(1), night.frames, {
      night: realDir,
      since: spec.since,
      framesPerTask: spec.framesPerTask,
    });
    // The frames' rows are written by the tasks that read them; here only the files no task reads.
    const planned = new Set(add.flatMap((t) => (t.spec as NightTaskSpec).frames ?? []));
    const unread = night.skipped.map((skip) => skip.fileName)
      .concat(night.frames.map((frame) => frame.fileName).filter((name) => !planned.has(name)));
    await night.catalog.exposures(unread);
  } finally {
    await night.catalog.settle();
  }
  log.info(`Night ${realDir}: ${night.frames.length} frames, ${add.length} tasks planned`);
  return {
    result: {
      stage: stages[0].name,
      products: [],
      skipped: night.skipped,
      failed: night.catalog.hashFailures,
      warnings: night.warnings,
      summary: night.stages[0] ?? null,
      masters: [],
      leftOut: [],
      previews: { made: 0, upToDate: 0, failed: [] },
      hashSeconds: night.catalog.hashSeconds,
      seconds: (performance.now() - started) / 1000,
    },
    add,
  };
}

/** The staging directory's product path mapped to the products directory, and the fenced rename. */
function publicationOf(staging: string, outDir: string, options: NightTaskOptions): Publication {
  const { store, fence, marginMs } = options;
  const finalPath = (path: string) =>
    path.startsWith(`${staging}/`) ? `${outDir}/${path.slice(staging.length + 1)}` : path;
  return {
    finalPath,
    async publish(path) {
      const final = finalPath(path);
      // The check must answer, and the rename follow, well within the margin: the lease then still
      // has at least half the margin to run when the file appears (see the README's "A host that dies").
      const sent = performance.now();
      const held = await within(store.holdsTask(fence, marginMs).catch(() => false), marginMs / 2, false);
      if (!held || performance.now() - sent > marginMs / 2) {
        throw new LeaseLostError(
          `Task ${fence.taskId} attempt ${fence.attempt} is no longer sure of its lease: ${
            basename(final)
          } not put in place`,
        );
      }
      await Deno.rename(path, final);
      return final;
    },
    record: { fence, marginMs },
  };
}

async function runStageTask(
  task: TaskRecord,
  spec: NightTaskSpec,
  stage: Stage,
  where: { realDir: string; outDir: string; confine: () => Promise<void>; started: number },
  options: NightTaskOptions,
): Promise<NightTaskOutcome> {
  const { realDir, outDir, confine, started } = where;
  const { store, log, fence } = options;
  const staging = `${outDir}/.task-${task.id}-${fence.attempt}`;
  await Deno.remove(staging, { recursive: true }).catch(() => {});
  await Deno.mkdir(staging);
  const publication = publicationOf(staging, outDir, options);
  const night = new NightRun({
    nightDir: realDir,
    outDir: staging,
    store,
    reduction: options.reduction,
    pool: options.pool,
    log,
    signal: options.signal,
    confine,
    onProgress: options.onProgress,
    publication,
  });
  try {
    await night.catalog.joinNight(realDir);
    // What the tasks it depends on made, and the frames they left out.
    const all = await store.listTasks(task.jobId);
    const earlier = all.filter((other) => task.dependsOn.includes(other.id))
      .map((other) => other.result as NightTaskResult | null);
    const leftOut = new Set(earlier.flatMap((result) => result?.leftOut ?? []));
    const wanted = (spec.frames ?? []).filter((name) => !leftOut.has(name));
    const names = [...new Set([...wanted, ...spec.samples ?? []])];
    const inspected = new Map<string, InspectedFile>();
    for (const name of names) inspected.set(name, await inspectFrame(realDir, name));
    const own = wanted.map((name) => inspected.get(name)!);
    night.catalog.recordExposures(realDir, own);
    night.masters.addFrames(
      names.flatMap((name) => inspected.get(name)?.frame ?? []).filter((frame) =>
        (spec.samples ?? []).includes(frame.fileName)
      ),
    );
    for (const result of earlier) for (const made of result?.masters ?? []) night.masters.adopt(made);
    const adopted = night.masters.tonight().length;
    // A product kept from an earlier run must be readable under the name the stage writes it.
    const frames = new Set(wanted);
    for (const product of night.catalog.existingProducts()) {
      if (stage.writes.includes(product.kind) && product.inputs.some((input) => frames.has(input.fileName))) {
        await Deno.link(product.path, `${staging}/${basename(product.path)}`).catch(() => {});
      }
    }
    const failed: SkippedFrame[] = [];
    for (const file of own.filter((file) => !file.frame)) {
      // Usable when the night was ingested, not now (the file changed since).
      failed.push({ fileName: file.fileName, reason: file.reason ?? "unusable", stage: stage.name });
    }
    const group: FrameGroup = {
      key: spec.key ?? "night",
      frames: own.flatMap((file) => file.frame ? [file.frame] : []),
      suffix: spec.suffix ?? "",
    };
    if (group.frames.length > 0 || stage.reads.length === 0) await night.runGroups(stage, [group]);
    await night.catalog.recordRemaining();
    const products = night.products.map((product) => ({
      ...product,
      path: publication.finalPath(product.path),
    }));
    const masters = night.masters.tonight().slice(adopted).map((made): TonightMaster => {
      const path = publication.finalPath(made.master.path);
      const recorded = night.catalog.existing(path)?.createdAt ?? "";
      // Kept, but recorded since this job began: an earlier attempt of this very task made it.
      const remade = made.master.remade || recorded >= spec.since;
      const master: Master = { ...made.master, path, remade };
      return { ...made, master };
    });
    const summary = night.stages[0] ?? null;
    const rejectedOrFailed = [...night.skipped, ...night.failed, ...failed].map((skip) => skip.fileName);
    return {
      result: {
        stage: stage.name,
        products,
        skipped: night.skipped,
        failed: [...night.failed, ...failed, ...night.catalog.hashFailures],
        warnings: night.warnings,
        summary: summary && { ...summary, failed: summary.failed + failed.length },
        qc: night.verdicts,
        masters,
        leftOut: [...new Set([...leftOut, ...rejectedOrFailed])],
        previews: await previewsOf(products, options.signal),
        hashSeconds: night.catalog.hashSeconds,
        seconds: (performance.now() - started) / 1000,
      },
      add: [],
    };
  } finally {
    await night.catalog.settle();
    await Deno.remove(staging, { recursive: true }).catch(() => {});
  }
}
