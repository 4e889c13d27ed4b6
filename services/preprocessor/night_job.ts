/**
 * A calibration job whose night several hosts share, as its front desk follows
 * it: the job adds its night's first task (ingest, which plans the rest), then
 * waits while workers on any host run the tasks (woken by the catalog's
 * notifications, looking every second anyway), showing which host runs or ran
 * each, and is done when every task is, with the products, frames left out,
 * warnings and each stage's work gathered from the tasks' results as
 * `job_status` has always answered them.
 *
 * @module
 */
import type { JobContext } from "../../lib/daemon/mod.ts";
import type { JobRecord, Store, TaskListener, TaskRecord } from "../../lib/store/mod.ts";
import type { NightTaskResult, NightTaskSpec } from "./night_tasks.ts";
import { REDUCTION_STAGES } from "./pipeline.ts";
import type { JobResult, TaskLine } from "./reduction_handler.ts";
import { qcLinesOf } from "./report.ts";
import { REDUCTION_SERVICE } from "./task_handler.ts";

/** Options of {@link followNightTasks}. */
export interface FollowOptions {
  /** How often the job looks at its tasks without a notification (default 1 s). */
  pollMs?: number;
  /** Frames per task of a per-frame stage (the lights), passed to the plan (default 8). */
  framesPerTask?: number;
}

/** A task as `job_status` shows it: its name, status, the host that runs or ran it, attempts, time. */
export function taskLine(task: TaskRecord): TaskLine {
  const result = task.result as NightTaskResult | null;
  const line: TaskLine = {
    Name: task.name,
    Status: task.status,
    Host: task.workerId ? task.workerId.slice(0, task.workerId.lastIndexOf(":")) : "",
    Worker: task.workerId ?? "",
    Attempts: task.attempts,
  };
  if (result) line.Seconds = Math.round(result.seconds * 100) / 100;
  if (task.error) line.Error = task.error;
  return line;
}

/** The job's result from its tasks' results, in the order planned (the order of a night on one host). */
export function jobResultOfTasks(tasks: TaskRecord[], seconds: number): JobResult {
  const round = (value: number) => Math.round(value * 100) / 100;
  const results = tasks.map((task) => task.result as NightTaskResult | null).filter((
    r,
  ): r is NightTaskResult => r !== null);
  const stages = new Map<string, NonNullable<JobResult["Stages"]>[number]>();
  const groups = new Map<string, Set<string>>();
  tasks.forEach((task) => {
    const result = task.result as NightTaskResult | null;
    const summary = result?.summary;
    if (!result || !summary) return;
    const stage = stages.get(summary.name) ??
      {
        Name: summary.name,
        Groups: 0,
        Frames: 0,
        Products: 0,
        Reused: 0,
        Rejected: 0,
        Failed: 0,
        Seconds: 0,
      };
    stages.set(summary.name, stage);
    // A group split in chunks counts once.
    const keys = groups.get(summary.name) ?? new Set();
    groups.set(summary.name, keys);
    keys.add((task.spec as NightTaskSpec).key ?? "night");
    stage.Groups = keys.size;
    stage.Frames += summary.frames;
    stage.Products += summary.products;
    stage.Reused += summary.reused;
    stage.Rejected += summary.rejected;
    stage.Failed += summary.failed;
    stage.Seconds = round(stage.Seconds + summary.seconds);
  });
  return {
    Products: results.flatMap((result) => result.products.map((product) => product.path)),
    QC: qcLinesOf(results.flatMap((result) => result.qc ?? [])),
    Skipped: results.flatMap((result) => result.skipped.map((s) => ({ File: s.fileName, Reason: s.reason }))),
    Failed: results.flatMap((result) => result.failed.map((s) => ({ File: s.fileName, Reason: s.reason }))),
    Warnings: [...new Set(results.flatMap((result) => result.warnings))],
    Seconds: round(seconds),
    Stages: [...stages.values()],
    Previews: {
      Made: results.reduce((n, result) => n + result.previews.made, 0),
      UpToDate: results.reduce((n, result) => n + result.previews.upToDate, 0),
      Failed: results.flatMap((result) =>
        result.previews.failed.map((failed) => ({ File: failed.path, Reason: failed.reason }))
      ),
    },
    Tasks: tasks.map(taskLine),
  };
}

/** Removes the task directories a killed or cut-off host left in the night's products. */
async function removeTaskDirectories(night: string, tasks: TaskRecord[]): Promise<void> {
  const ids = new Set(tasks.map((task) => String(task.id)));
  try {
    for await (const entry of Deno.readDir(`${night}/products`)) {
      const id = /^\.task-(\d+)-\d+$/.exec(entry.name)?.[1];
      if (entry.isDirectory && id && ids.has(id)) {
        await Deno.remove(`${night}/products/${entry.name}`, { recursive: true }).catch(() => {});
      }
    }
  } catch { /* no products directory: nothing left behind */ }
}

/**
 * Follows a calibration job's night as tasks that workers on any host run; resolves with the job's
 * result once every task is done, throws when one failed (the others are cancelled) or when the job
 * must stop (a cancelled job cancels its tasks; a daemon that stops leaves them to the workers, and
 * the job, queued again, takes up following them).
 */
export async function followNightTasks(
  job: JobRecord,
  context: JobContext,
  store: Store,
  options: FollowOptions = {},
): Promise<JobResult> {
  if (!job.night) throw new Error(`Job ${job.id} names no night directory`);
  const started = performance.now();
  const spec: NightTaskSpec = {
    night: job.night,
    since: job.createdAt,
    framesPerTask: options.framesPerTask,
  };
  await store.addTasks(job.id, [{ name: REDUCTION_STAGES[0].name, kind: REDUCTION_STAGES[0].name, spec }]);
  let wake = () => {};
  let listener: TaskListener | null = null;
  try {
    listener = await store.listenTasks(() => wake());
  } catch (error) {
    context.log.warning(`Job ${job.id}: cannot listen for its tasks (looking every second): ${error}`);
  }
  const onAbort = () => wake();
  context.signal.addEventListener("abort", onAbort);
  let shown = "";
  let lastRequeue = 0;
  try {
    for (;;) {
      if (context.signal.aborted) {
        if (context.signal.reason !== "stopping") await store.cancelTasks(job.id);
        throw new Error(`stopped (${context.signal.reason ?? "aborted"})`);
      }
      if (Date.now() - lastRequeue >= 1000) {
        // Whoever looks notices expired leases: a night whose workers all died shows it here too.
        lastRequeue = Date.now();
        await store.requeueExpiredTasks(REDUCTION_SERVICE);
      }
      const tasks = await store.listTasks(job.id);
      const lines = tasks.map(taskLine);
      const key = JSON.stringify(lines.map(({ Seconds: _, ...line }) => line));
      if (key !== shown) {
        shown = key;
        await store.updateJob(job.id, { detail: { Tasks: lines } });
      }
      const total = tasks.reduce((n, task) => n + task.weight, 0);
      const done = tasks.filter((task) => task.status === "done").reduce((n, task) => n + task.weight, 0);
      const running = tasks.filter((task) => task.status === "running");
      const hosts = [...new Set(running.map((task) => taskLine(task).Host))];
      context.progress({
        done,
        total,
        step: `${tasks.filter((task) => task.status === "done").length} of ${tasks.length} tasks done` +
          (hosts.length > 0 ? `, running on ${hosts.join(", ")}` : ", waiting for a worker"),
      });
      const broken = tasks.find((task) => task.status === "failed" || task.status === "cancelled");
      if (broken) {
        await store.cancelTasks(job.id);
        throw new Error(`task ${broken.name} ${broken.status}${broken.error ? `: ${broken.error}` : ""}`);
      }
      const planned = tasks[0]?.status === "done";
      if (planned && tasks.every((task) => task.status === "done")) {
        await removeTaskDirectories(job.night, tasks);
        return jobResultOfTasks(tasks, (performance.now() - started) / 1000);
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(finish, options.pollMs ?? 1000);
        function finish() {
          clearTimeout(timer);
          resolve();
        }
        wake = finish;
      });
    }
  } finally {
    context.signal.removeEventListener("abort", onAbort);
    await listener?.close();
  }
}
