/**
 * The catalog's data model and the one interface both backends (SQLite, PostgreSQL) implement.
 *
 * CONTRACT shared by the pipeline, the service and the CLI. Timestamps are ISO 8601 UTC strings.
 *
 * @module
 */

/** Normalized `IMAGETYP` of a raw frame. */
export type ImageType = "bias" | "dark" | "flat" | "light";

/** Whether an exposure could be used. */
export type ExposureStatus = "ok" | "skipped";

/** A night directory. */
export interface NightRecord {
  id: number;
  /** Absolute real path of the night directory; the key. */
  directory: string;
  /** Night date (YYYY-MM-DD) from the frames' DATE-OBS or the directory name, when known. */
  date: string | null;
  /** `TELESCOP` when known. */
  telescope: string | null;
  createdAt: string;
  updatedAt: string;
}

/** A night with counts, as listed by `toros nights`. */
export interface NightSummary extends NightRecord {
  exposures: number;
  products: number;
}

/** What ingest records of one raw file. Keyed by night + file name + content hash. */
export interface ExposureInput {
  nightId: number;
  fileName: string;
  /** SHA-256 hex of the file's bytes. */
  contentHash: string;
  size: number;
  imageType: ImageType | null;
  filter: string | null;
  exposureTime: number | null;
  width: number | null;
  height: number | null;
  /** `"1x1"`, from XBINNING/YBINNING (or CCDSUM); null when unknown. */
  binning: string | null;
  dateObs: string | null;
  status: ExposureStatus;
  /** Why it was skipped. */
  error: string | null;
}

/** A stored exposure. */
export interface ExposureRecord extends ExposureInput {
  id: number;
}

/** What kind of product a file is. */
export type ProductKind =
  | "master_bias"
  | "master_dark"
  | "master_flat"
  | "bad_pixel_map"
  | "calibrated_light";

/** What the pipeline records of one product. Keyed by `path`: recording the same path again replaces it. */
export interface ProductInput {
  nightId: number;
  kind: ProductKind;
  /** Absolute path of the product file. */
  path: string;
  filter: string | null;
  exposureTime: number | null;
  width: number;
  height: number;
  binning: string | null;
  /** Number of raw frames combined (1 for a calibrated light). */
  nCombined: number;
  /** The file's CHECKSUM card value. */
  checksum: string | null;
  /** Mean DATE-OBS of the inputs, used to pick the closest-in-time master. */
  dateObs: string | null;
  /** Warnings recorded on the product (missing calibration, master borrowed from another night, ...). */
  warnings: string[];
  /** Exposure ids this product was made from. */
  inputExposureIds: number[];
  /** Product ids of the masters it used. */
  usedProductIds: number[];
  /** The detector's temperature (°C) when its inputs were taken (`CCD-TEMP`, else `SET-TEMP`), when known. */
  temperature?: number | null;
}

/** A stored product with its provenance resolved. */
export interface ProductRecord
  extends Omit<ProductInput, "inputExposureIds" | "usedProductIds" | "temperature"> {
  id: number;
  /** The detector's temperature (°C) of its inputs, when known. */
  temperature: number | null;
  createdAt: string;
  inputs: { exposureId: number; fileName: string }[];
  uses: { productId: number; kind: ProductKind; path: string }[];
}

/** Query for the closest-in-time matching master (used when a night lacks one). */
export interface MasterQuery {
  kind: "master_bias" | "master_dark" | "master_flat" | "bad_pixel_map";
  width: number;
  height: number;
  binning: string | null;
  /** Required for flats. */
  filter?: string | null;
  /** For darks: prefer this exposure time, else the nearest. */
  exposureTime?: number | null;
  /** ISO time to be closest to. */
  near: string | null;
  /** Do not return masters of this night. */
  excludeNightId?: number;
  /** For darks: prefer masters within `temperatureTolerance` °C of this (a master of unknown temperature counts as within). */
  temperature?: number | null;
  /** °C (default 0). */
  temperatureTolerance?: number;
  /** Only masters no quality-control verdict found fault with (every verdict `pass`). */
  goodOnly?: boolean;
}

/**
 * A quality-control verdict's outcome: `pass`; `warning` (used, with a warning:
 * a master of too few frames, a dark of another temperature); `rejected` (a
 * frame kept out); `flagged` (a master unlike the previous one, still used);
 * `borrowed` (another night's master used instead).
 */
export type QcOutcome = "pass" | "warning" | "rejected" | "flagged" | "borrowed";

/** One quality-control verdict: which frame or product, which check, what was measured against what limit. */
export interface QcVerdictInput {
  /** A raw frame's file name, or a product's path. */
  subject: string;
  /** The product it is about, when it is one. */
  productId?: number | null;
  /** The stage that judged. */
  stage: string;
  /** What was checked, in words: `saturation`, `flat level`, `frame count`, `median ratio`. */
  check: string;
  verdict: QcOutcome;
  /** The value measured (a percent, a level in ADU, a count), when there is one. */
  measured: number | null;
  /** The limit it was held to, in words: `< 5 %`, `1000-50000 ADU`, `>= 5 frames`. */
  limit: string;
  /** One sentence: what was found and what was done. */
  reason: string;
}

/** A stored verdict. */
export interface QcVerdictRecord extends QcVerdictInput {
  id: number;
  nightId: number;
  productId: number | null;
  createdAt: string;
}

/** Life cycle of a job. */
export type JobStatus = "queued" | "running" | "done" | "failed" | "cancelled";

/** The service a job belongs to when none is named: the first daemon, owner of every older job. */
export const DEFAULT_SERVICE = "preprocessor";

/** A job: one work order to carry out. */
export interface JobRecord {
  /** Job number, unique across every service of the catalog. */
  id: number;
  /** The daemon that owns and runs the job (`preprocessor`, `telescope`, ...). */
  service: string;
  /** The work order's `ID`; unique within its service. */
  workOrderId: string;
  /** Night directory the job works on, when it has one (dedup key while queued/running). */
  night: string | null;
  /** The work order as received (JSON-compatible). */
  workOrder: unknown;
  /** 0-10, higher runs first; ties run oldest first. */
  priority: number;
  status: JobStatus;
  attempts: number;
  leaseExpiresAt: string | null;
  /** A deferred job is not claimed before this time (ISO 8601); null when it may run now. */
  notBefore: string | null;
  workerId: string | null;
  /** 0..1 */
  progress: number;
  error: string | null;
  /** What the job produced (JSON-compatible), set on completion. */
  result: unknown;
  /** What its service keeps of it while it lives (JSON-compatible): where it was sent, why it waits. */
  detail: unknown;
  createdAt: string;
  updatedAt: string;
  startedAt: string | null;
  finishedAt: string | null;
}

/** What to enqueue. */
export interface JobInput {
  /** The owning service (default {@link DEFAULT_SERVICE}). */
  service?: string;
  workOrderId: string;
  night: string | null;
  workOrder: unknown;
  priority: number;
  /** What the service keeps of the job from the start (JSON-compatible). */
  detail?: unknown;
}

/** One line of a job's story. */
export interface JobEvent {
  /** ISO 8601 UTC. */
  at: string;
  /** What happened, in words (`received`, `dispatched to telescope job 7`, `exposing 2/10`). */
  event: string;
}

/** What {@link Store.updateJob} may change; absent fields are kept. */
export interface JobChanges {
  status?: JobStatus;
  error?: string | null;
  /** 0..1 */
  progress?: number;
  result?: unknown;
  detail?: unknown;
}

/** Filter for {@link Store.listJobs}. */
export interface JobFilter {
  /** Only this service's jobs (default every service's). */
  service?: string;
  status?: JobStatus;
  limit?: number;
  /**
   * `newest` (default): newest first. `queue`: the order the runner claims them in (priority, highest
   * first, then oldest), for showing a queue.
   */
  order?: "newest" | "queue";
}

/** One page of a longer list, and how long the whole list is. */
export interface Page<T> {
  items: T[];
  /** Rows matching the filter, on every page. */
  total: number;
}

/** Which rows of a list, for the paginated look-ups. */
export interface PageRange {
  /** Rows per page (1-1000; default 100). */
  limit?: number;
  /** Rows skipped (default 0). */
  offset?: number;
}

/** Filter for {@link Store.listProductsPage}; absent fields do not filter. */
export interface ProductFilter extends PageRange {
  nightId?: number;
  kind?: ProductKind;
  /** Products made from this raw exposure. */
  inputExposureId?: number;
  /** Products that used this master. */
  masterId?: number;
}

/** After this many claims a task whose worker keeps dying (or losing its lease) fails instead of running again. */
export const MAX_TASK_ATTEMPTS = 5;

/** Life cycle of a task. */
export type TaskStatus = "queued" | "running" | "done" | "failed" | "cancelled";

/**
 * A task to add to a job: one piece of its work (a master, a chunk of lights)
 * that any worker of the job's service may run once the tasks it depends on are done.
 */
export interface TaskInput {
  /** Unique within its job, in words: `master_darks 2048x2048@1x1 60 s`, `calibrated_lights … 2/8`. */
  name: string;
  /** What kind of work it is, for its handler (the preprocessor: `ingest` or a stage's name). */
  kind: string;
  /** What its handler needs to run it (JSON-compatible). */
  spec?: unknown;
  /** Its share of the job's work, for the job's progress (default 1). */
  weight?: number;
  /** Names of tasks of the same job that must be done before it may start (added before it, or with it). */
  dependsOn?: string[];
}

/** A stored task. */
export interface TaskRecord {
  id: number;
  jobId: number;
  /** The service of its job, whose workers run it. */
  service: string;
  name: string;
  kind: string;
  spec: unknown;
  weight: number;
  /** Its job's priority: 0-10, higher runs first; ties run by the job's age, then in the order planned. */
  priority: number;
  status: TaskStatus;
  /** Claims so far; the holder's fencing token is the attempt it claimed. */
  attempts: number;
  /** Who runs it (`host:pid`), or who ran it once it is done or failed. */
  workerId: string | null;
  leaseExpiresAt: string | null;
  /** What it produced (JSON-compatible), once done. */
  result: unknown;
  error: string | null;
  /** Ids of the tasks it waits for. */
  dependsOn: number[];
  createdAt: string;
  updatedAt: string;
  startedAt: string | null;
  finishedAt: string | null;
}

/**
 * Who holds a task, as its claim said: every write made under the task's lease
 * names it, and the catalog takes the write only while this worker still holds
 * this attempt (a worker that lost its lease and was replaced holds an older attempt).
 */
export interface TaskFence {
  taskId: number;
  workerId: string;
  /** The attempt claimed ({@link TaskRecord.attempts} as the claim returned it). */
  attempt: number;
}

/** What a worker says of itself at each heartbeat. */
export interface WorkerInput {
  /** `host:pid`, as its claims name it. */
  id: string;
  host: string;
  pid: number;
  /** The service whose tasks it runs. */
  service: string;
  /** The task it runs now, or null when idle. */
  taskId: number | null;
  /** Tasks it has finished since it started. */
  tasksDone: number;
}

/** A worker as the catalog last heard of it. */
export interface WorkerRecord extends WorkerInput {
  startedAt: string;
  /** Its last heartbeat (the catalog's clock). */
  heartbeatAt: string;
  /** Seconds since its last heartbeat, by the catalog's clock. */
  ageSeconds: number;
  /** The name of the task it runs, and that task's job. */
  taskName: string | null;
  jobId: number | null;
}

/** Options of {@link Store.replaceProduct}. */
export interface ReplaceProductOptions {
  /**
   * Record the product only while this task's lease holds for `marginMs` more;
   * otherwise nothing is written and a {@link LeaseLostError} is thrown.
   */
  fence?: TaskFence;
  /** How long the lease must still run, in milliseconds (default 0). */
  marginMs?: number;
}

/** A subscription to the task queue's changes (PostgreSQL `LISTEN`). */
export interface TaskListener {
  /** Stops listening. */
  close(): Promise<void>;
}

/** What a change to the task queue means to a listener. */
export type TaskChange =
  /** Work may have become ready: tasks added, a task done (its dependents), one queued again. */
  | "ready"
  /** A task changed without freeing work: claimed, failed, cancelled. */
  | "changed";

/** The catalog: one interface, two backends. All methods are safe to call concurrently. */
export interface Store {
  /** Which backend this is. */
  readonly backend: "sqlite" | "postgres";
  /** A description safe to print (never the password), e.g. `postgres://postgres@127.0.0.1:5432/test`. */
  readonly description: string;

  /** Inserts or updates the night with this directory. */
  upsertNight(
    directory: string,
    fields?: { date?: string | null; telescope?: string | null },
  ): Promise<NightRecord>;
  /** The night with this directory, or null. */
  getNight(directory: string): Promise<NightRecord | null>;
  /** Every night with its counts, newest first. */
  listNights(): Promise<NightSummary[]>;
  /** One page of the nights with their counts, newest first. */
  listNightsPage(range?: PageRange): Promise<Page<NightSummary>>;
  /** A night with its counts, by id, or null. */
  getNightById(nightId: number): Promise<NightSummary | null>;

  /** Inserts or updates (by night + file name + content hash) one exposure. */
  upsertExposure(exposure: ExposureInput): Promise<ExposureRecord>;
  /** The night's exposures by file name. */
  listExposures(nightId: number): Promise<ExposureRecord[]>;
  /** An exposure by id, or null. */
  getExposure(exposureId: number): Promise<ExposureRecord | null>;

  /**
   * Records a product, replacing any product with the same path (and its provenance rows); with a
   * fence, only while that task's lease holds (else {@link LeaseLostError} and nothing written).
   */
  replaceProduct(product: ProductInput, options?: ReplaceProductOptions): Promise<ProductRecord>;
  /** Products of one night (or all), with provenance. */
  listProducts(filter?: { nightId?: number }): Promise<ProductRecord[]>;
  /**
   * One page of the products matching `filter`, with provenance: newest night first, then by kind
   * and path (masters before calibrated lights).
   */
  listProductsPage(filter?: ProductFilter): Promise<Page<ProductRecord>>;
  /** A product with its provenance, by id, or null. */
  getProduct(productId: number): Promise<ProductRecord | null>;
  /** The closest-in-time matching master from other nights, or null. */
  findMaster(query: MasterQuery): Promise<ProductRecord | null>;

  /**
   * Records a stage's quality-control verdicts on a night, in one transaction: the verdicts that
   * stage recorded before on the same `subjects` are replaced (a frame that passes now loses an
   * old rejection).
   */
  replaceVerdicts(
    nightId: number,
    scope: { stage: string; subjects: string[] },
    verdicts: QcVerdictInput[],
  ): Promise<void>;
  /** Verdicts of a night, or about a product, in the order recorded. */
  listVerdicts(filter: { nightId?: number; productId?: number }): Promise<QcVerdictRecord[]>;

  /**
   * Enqueues a job unless its service has one with this work-order ID, or
   * (queued/running) for this night.
   */
  enqueueJob(job: JobInput): Promise<{ job: JobRecord; created: boolean }>;
  /**
   * Atomically claims the next queued job (priority desc, then oldest) with a
   * lease: of `service` when given, else of any service.
   */
  claimJob(workerId: string, leaseMs: number, service?: string): Promise<JobRecord | null>;
  /** Extends the lease (and records progress); false if the job is no longer this worker's. */
  heartbeat(jobId: number, workerId: string, leaseMs: number, progress?: number): Promise<boolean>;
  /** Marks the job done with its result. */
  completeJob(jobId: number, workerId: string, result: unknown): Promise<void>;
  /** Marks the job failed with the reason. */
  failJob(jobId: number, workerId: string, error: string): Promise<void>;
  /** Puts a running job back in the queue (graceful shutdown). */
  releaseJob(jobId: number, workerId: string): Promise<void>;
  /**
   * Puts a running job back in the queue, not to be claimed before `until`,
   * with the reason it waits (shown as its error until it runs again).
   */
  deferJob(jobId: number, workerId: string, reason: string, until: Date): Promise<void>;
  /** Cancels a queued (or running) job; returns it, or null when unknown. */
  cancelJob(jobId: number): Promise<JobRecord | null>;
  /** Re-queues running jobs (of `service`, or all) whose lease expired (their process died); returns how many. */
  requeueExpired(service?: string): Promise<number>;
  /**
   * Changes a job that no lease-holding worker runs (a scheduler's job, which
   * follows its order through other services): status, error, progress,
   * result, detail. Setting `running` stamps the start, a final status the finish.
   * Returns the job, or null when unknown.
   */
  updateJob(jobId: number, changes: JobChanges): Promise<JobRecord | null>;
  /** Adds a line to the job's story. */
  addJobEvent(jobId: number, event: string, at?: Date): Promise<void>;
  /** The job's story, in time order (events recorded later with an earlier time fall into place). */
  listJobEvents(jobId: number): Promise<JobEvent[]>;
  /** A job by id. */
  getJob(jobId: number): Promise<JobRecord | null>;
  /** A job by work-order ID within a service (default {@link DEFAULT_SERVICE}). */
  getJobByWorkOrderId(workOrderId: string, service?: string): Promise<JobRecord | null>;
  /** Jobs, newest first. */
  listJobs(filter?: JobFilter): Promise<JobRecord[]>;
  /** Number of jobs per status (of `service`, or all). */
  countJobs(service?: string): Promise<Record<JobStatus, number>>;

  /**
   * Adds tasks to a job (its priority theirs), in one transaction; a name the job already has is
   * kept as it is. Returns every task of the job.
   */
  addTasks(jobId: number, tasks: TaskInput[]): Promise<TaskRecord[]>;
  /**
   * Atomically claims the next ready task (queued, every task it depends on done): highest priority
   * first, then the oldest job's, then in the order planned; of `service` when given. Its lease
   * runs `leaseMs` by the catalog's clock.
   */
  claimTask(workerId: string, leaseMs: number, service?: string): Promise<TaskRecord | null>;
  /** Extends the task's lease; false when the fence no longer holds (lost, cancelled, taken over). */
  heartbeatTask(fence: TaskFence, leaseMs: number): Promise<boolean>;
  /** Whether the fence holds with at least `marginMs` of its lease left, by the catalog's clock. */
  holdsTask(fence: TaskFence, marginMs: number): Promise<boolean>;
  /**
   * Marks the task done with its result and adds the tasks it planned (`add`), in one transaction;
   * false (and nothing changed) when the fence no longer holds.
   */
  completeTask(fence: TaskFence, result: unknown, add?: TaskInput[]): Promise<boolean>;
  /** Marks the task failed with the reason; false when the fence no longer holds. */
  failTask(fence: TaskFence, error: string): Promise<boolean>;
  /** Puts a running task back in the queue (a worker stopping); false when the fence no longer holds. */
  releaseTask(fence: TaskFence): Promise<boolean>;
  /**
   * Queues again the running tasks (of `service`, or all) whose lease expired, each noted in its
   * job's story; a task claimed {@link MAX_TASK_ATTEMPTS} times fails instead. Returns how many.
   */
  requeueExpiredTasks(service?: string): Promise<number>;
  /** A job's tasks in the order planned, with what each depends on. */
  listTasks(jobId: number): Promise<TaskRecord[]>;
  /** Cancels a job's queued and running tasks (a running one's worker learns it at its heartbeat). */
  cancelTasks(jobId: number): Promise<number>;
  /**
   * Calls `onChange` whenever the task queue changes (PostgreSQL `LISTEN`, across hosts), or
   * answers null when this backend cannot tell (SQLite: look every so often).
   */
  listenTasks(onChange: (change: TaskChange) => void): Promise<TaskListener | null>;
  /** Records a worker's heartbeat (the catalog's clock), creating its row the first time. */
  recordWorker(worker: WorkerInput): Promise<void>;
  /** Removes a worker that stops. */
  removeWorker(workerId: string): Promise<void>;
  /** The workers heard from in the last day, most recent heartbeat first. */
  listWorkers(): Promise<WorkerRecord[]>;

  /** Checks the connection; throws a StoreError when the database does not answer. */
  ping(): Promise<void>;
  /** Closes the connection. */
  close(): Promise<void>;
}
