/**
 * `toros serve worker`: a reduction worker, declared to the daemon kit. It
 * opens no port: it claims the tasks of nights that the preprocessor shares
 * out through a PostgreSQL catalog (see night_tasks.ts), runs them on its own
 * reduction thread against the shared data path, and heartbeats its row in the
 * catalog's workers table (`toros workers`, the preprocessor's `/health`).
 * SIGTERM lets the current frame finish and puts the task back in the queue.
 *
 * @module
 */
import { type DaemonSpec, WORKER_SILENCE_SECONDS } from "../../lib/daemon/mod.ts";
import type { Store, WorkerRecord } from "../../lib/store/mod.ts";
import { startReductionWorker } from "./task_handler.ts";

/** A live worker as `/health` shows it. */
export interface LiveWorker {
  /** `host:pid` */
  id: string;
  host: string;
  /** Its last heartbeat (the catalog's clock) and how long ago that was. */
  heartbeatAt: string;
  secondsAgo: number;
  /** The task it runs (`calibrated_lights 2048x2048@1x1 3/8` of job 12), or null when idle. */
  task: string | null;
  tasksDone: number;
}

/** The workers heard from in the last {@link WORKER_SILENCE_SECONDS}; none when the catalog does not answer. */
export async function liveWorkers(store: Store): Promise<LiveWorker[]> {
  let workers: WorkerRecord[];
  try {
    workers = await store.listWorkers();
  } catch {
    return [];
  }
  return workers.filter((worker) => worker.ageSeconds <= WORKER_SILENCE_SECONDS).map((worker) => ({
    id: worker.id,
    host: worker.host,
    heartbeatAt: worker.heartbeatAt,
    secondsAgo: Math.round(worker.ageSeconds * 10) / 10,
    task: worker.taskName ? `${worker.taskName} of job ${worker.jobId}` : null,
    tasksDone: worker.tasksDone,
  }));
}

/** The reduction worker daemon. */
export const workerDaemon: DaemonSpec = {
  name: "worker",
  title: "TOROS Reduction Worker",
  description: "Claims and runs the tasks of nights that the preprocessor shares out through a PostgreSQL " +
    "catalog; opens no port.",
  workOrders: [],
  frontDeskHelp: "",
  background: (context) => {
    if (context.store.backend !== "postgres") {
      throw new Error(
        `A reduction worker needs the PostgreSQL catalog the preprocessor uses (Database: URL); ` +
          `${context.store.description} is SQLite, whose nights the preprocessor reduces itself`,
      );
    }
    return startReductionWorker(context);
  },
};
