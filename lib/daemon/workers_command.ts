/**
 * `toros workers`: the reduction workers of the catalog the config names (any
 * host that shares it can ask), each with its last heartbeat, the task it runs
 * and how many it has finished. Workers silent for longer than
 * {@link WORKER_SILENCE_SECONDS} are dead or cut off: `--all` shows them too.
 *
 * @module
 */
import { type GlobalOptions, parseCommandArgs, UsageError } from "../cli.ts";
import { loadConfigOrThrow } from "../config.ts";
import { openStore, type WorkerRecord } from "../store/mod.ts";
import { WORKER_SILENCE_SECONDS } from "./task_runner.ts";

/** `12.3 s`, `4 min`, `2.1 h`: how long ago a heartbeat was. */
function ago(seconds: number): string {
  if (seconds < 60) return `${seconds.toFixed(1)} s`;
  if (seconds < 3600) return `${Math.round(seconds / 60)} min`;
  return `${(seconds / 3600).toFixed(1)} h`;
}

/** Runs `toros workers [--all] [--json]`; resolves with the exit code. */
export async function workersCommand(args: string[], options: GlobalOptions): Promise<number> {
  const { values, positionals } = parseCommandArgs(args, {
    all: { type: "boolean" },
    json: { type: "boolean" },
  });
  if (positionals.length > 0) throw new UsageError(`Unexpected argument '${positionals[0]}'`);
  const config = await loadConfigOrThrow(options.configPath);
  const store = await openStore(config.database);
  let workers: WorkerRecord[];
  try {
    workers = await store.listWorkers();
  } finally {
    await store.close();
  }
  const shown = workers.map((worker) => ({ ...worker, live: worker.ageSeconds <= WORKER_SILENCE_SECONDS }))
    .filter((worker) => values.all || worker.live);
  if (values.json) {
    console.log(JSON.stringify(shown, null, 2));
    return 0;
  }
  if (shown.length === 0) {
    console.log(
      store.backend === "sqlite"
        ? "No workers: the catalog is SQLite, whose nights the preprocessor reduces itself."
        : `No live workers${workers.length > 0 ? ` (${workers.length} silent: --all shows them)` : ""}.`,
    );
    return 0;
  }
  const rows = shown.map((worker) => [
    worker.id,
    worker.live ? "live" : "silent",
    `${worker.heartbeatAt} (${ago(worker.ageSeconds)} ago)`,
    String(worker.tasksDone),
    worker.taskName ? `${worker.taskName} (job ${worker.jobId})` : "idle",
  ]);
  const header = ["WORKER", "STATE", "LAST HEARTBEAT", "DONE", "TASK"];
  const widths = header.map((title, i) => Math.max(title.length, ...rows.map((row) => row[i].length)));
  for (const row of [header, ...rows]) {
    console.log(row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]))).join("  "));
  }
  return 0;
}
