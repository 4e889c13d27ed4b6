/**
 * The catalog over any {@link SqlDriver}: one implementation of {@link Store}
 * for both backends, with the few dialect differences (job claiming, null-safe
 * comparison) handled where they occur.
 *
 * @module
 */
import type { Row, SqlDriver } from "./_driver.ts";
import { LeaseLostError } from "./errors.ts";
import {
  DEFAULT_SERVICE,
  type ExposureInput,
  type ExposureRecord,
  type ImageType,
  type JobChanges,
  type JobEvent,
  type JobFilter,
  type JobInput,
  type JobRecord,
  type JobStatus,
  type MasterQuery,
  MAX_TASK_ATTEMPTS,
  type NightRecord,
  type NightSummary,
  type Page,
  type PageRange,
  type ProductFilter,
  type ProductInput,
  type ProductKind,
  type ProductRecord,
  type QcOutcome,
  type QcVerdictInput,
  type QcVerdictRecord,
  type ReplaceProductOptions,
  type Store,
  type TaskChange,
  type TaskFence,
  type TaskInput,
  type TaskListener,
  type TaskRecord,
  type TaskStatus,
  type WorkerInput,
  type WorkerRecord,
} from "./types.ts";

/** After this many claims a job whose worker keeps dying is failed instead of re-queued. */
export const MAX_ATTEMPTS = 5;

function now(): string {
  return new Date().toISOString();
}

function num(value: unknown): number {
  return typeof value === "number" ? value : Number(value);
}

function numOrNull(value: unknown): number | null {
  return value === null || value === undefined ? null : num(value);
}

function str(value: unknown): string | null {
  return value === null || value === undefined ? null : String(value);
}

function json(value: unknown): unknown {
  if (value === null || value === undefined) return null;
  try {
    return JSON.parse(String(value));
  } catch {
    return null;
  }
}

function toNight(row: Row): NightRecord {
  return {
    id: num(row.id),
    directory: String(row.directory),
    date: str(row.date),
    telescope: str(row.telescope),
    createdAt: String(row.created_at),
    updatedAt: String(row.updated_at),
  };
}

function toNightSummary(row: Row): NightSummary {
  return { ...toNight(row), exposures: num(row.exposure_count), products: num(row.product_count) };
}

function toExposure(row: Row): ExposureRecord {
  return {
    id: num(row.id),
    nightId: num(row.night_id),
    fileName: String(row.file_name),
    contentHash: String(row.content_hash),
    size: num(row.size),
    imageType: str(row.image_type) as ImageType | null,
    filter: str(row.filter),
    exposureTime: numOrNull(row.exposure_time),
    width: numOrNull(row.width),
    height: numOrNull(row.height),
    binning: str(row.binning),
    dateObs: str(row.date_obs),
    status: String(row.status) as ExposureRecord["status"],
    error: str(row.error),
  };
}

function toJob(row: Row): JobRecord {
  return {
    id: num(row.id),
    service: String(row.service),
    workOrderId: String(row.work_order_id),
    night: str(row.night),
    workOrder: json(row.work_order),
    priority: num(row.priority),
    status: String(row.status) as JobStatus,
    attempts: num(row.attempts),
    leaseExpiresAt: str(row.lease_expires_at),
    notBefore: str(row.not_before),
    workerId: str(row.worker_id),
    progress: num(row.progress),
    error: str(row.error),
    result: json(row.result),
    detail: json(row.detail),
    createdAt: String(row.created_at),
    updatedAt: String(row.updated_at),
    startedAt: str(row.started_at),
    finishedAt: str(row.finished_at),
  };
}

function toTask(row: Row, dependsOn: number[]): TaskRecord {
  return {
    id: num(row.id),
    jobId: num(row.job_id),
    service: String(row.service),
    name: String(row.name),
    kind: String(row.kind),
    spec: json(row.spec),
    weight: num(row.weight),
    priority: num(row.priority),
    status: String(row.status) as TaskStatus,
    attempts: num(row.attempts),
    workerId: str(row.worker_id),
    leaseExpiresAt: str(row.lease_expires_at),
    result: json(row.result),
    error: str(row.error),
    dependsOn,
    createdAt: String(row.created_at),
    updatedAt: String(row.updated_at),
    startedAt: str(row.started_at),
    finishedAt: str(row.finished_at),
  };
}

/** The notification channel of the task queue. */
const TASKS_CHANNEL = "toros_tasks";

/** Rows of workers silent for longer than this are forgotten. */
const FORGET_WORKER_MS = 24 * 3600_000;

/** The largest page the paginated look-ups answer. */
const MAX_PAGE = 1000;

/** A page range made safe: whole numbers, 1..MAX_PAGE rows, no negative offset. */
function pageOf(range: PageRange): { limit: number; offset: number } {
  const limit = Math.trunc(range.limit ?? 100);
  const offset = Math.trunc(range.offset ?? 0);
  return {
    limit: Number.isFinite(limit) ? Math.max(1, Math.min(limit, MAX_PAGE)) : 100,
    offset: Number.isFinite(offset) ? Math.max(0, offset) : 0,
  };
}

function isUnique(error: unknown): boolean {
  return (error as { unique?: boolean })?.unique === true;
}

/** The Store implementation shared by both backends. */
export class SqlStore implements Store {
  readonly backend: "sqlite" | "postgres";
  readonly description: string;
  readonly #db: SqlDriver;

  /** Wraps an open, migrated driver. */
  constructor(db: SqlDriver, description: string) {
    this.#db = db;
    this.backend = db.dialect;
    this.description = description;
  }

  /**
   * The catalog's clock as ISO 8601 UTC text with milliseconds (the format of every timestamp here),
   * plus a `?` parameter of milliseconds when `offset`: leases are set and compared by one clock,
   * whatever the clocks of the hosts that hold them say.
   */
  #clock(offset = false): string {
    if (this.#db.dialect === "postgres") {
      const at = offset
        ? "clock_timestamp() + (?::double precision) * interval '1 millisecond'"
        : "clock_timestamp()";
      return `to_char((${at}) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;
    }
    return offset
      ? "strftime('%Y-%m-%dT%H:%M:%fZ', 'now', (? / 1000.0) || ' seconds')"
      : "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')";
  }

  /** `a IS b` that treats two NULLs as equal, in each dialect. */
  #same(column: string): string {
    return this.#db.dialect === "sqlite" ? `${column} IS ?` : `${column} IS NOT DISTINCT FROM ?`;
  }

  async upsertNight(
    directory: string,
    fields: { date?: string | null; telescope?: string | null } = {},
  ): Promise<NightRecord> {
    const stamp = now();
    const [row] = await this.#db.query(
      `INSERT INTO nights (directory, date, telescope, created_at, updated_at) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (directory) DO UPDATE SET
         date = COALESCE(excluded.date, nights.date),
         telescope = COALESCE(excluded.telescope, nights.telescope),
         updated_at = excluded.updated_at
       RETURNING *`,
      [directory, fields.date ?? null, fields.telescope ?? null, stamp, stamp],
    );
    return toNight(row);
  }

  async getNight(directory: string): Promise<NightRecord | null> {
    const [row] = await this.#db.query("SELECT * FROM nights WHERE directory = ?", [directory]);
    return row ? toNight(row) : null;
  }

  async listNights(): Promise<NightSummary[]> {
    return (await this.#nights("", [], "")).map(toNightSummary);
  }

  async listNightsPage(range: PageRange = {}): Promise<Page<NightSummary>> {
    const { limit, offset } = pageOf(range);
    const [count] = await this.#db.query("SELECT COUNT(*) AS n FROM nights");
    const rows = await this.#nights("", [limit, offset], "LIMIT ? OFFSET ?");
    return { items: rows.map(toNightSummary), total: num(count.n) };
  }

  async getNightById(nightId: number): Promise<NightSummary | null> {
    const [row] = await this.#nights("WHERE n.id = ?", [nightId], "");
    return row ? toNightSummary(row) : null;
  }

  /** Nights with their counts, newest first. */
  #nights(where: string, params: unknown[], tail: string): Promise<Row[]> {
    return this.#db.query(
      `SELECT n.*,
         (SELECT COUNT(*) FROM exposures e WHERE e.night_id = n.id) AS exposure_count,
         (SELECT COUNT(*) FROM products p WHERE p.night_id = n.id) AS product_count
       FROM nights n ${where} ORDER BY COALESCE(n.date, n.created_at) DESC, n.id DESC ${tail}`,
      params,
    );
  }

  async upsertExposure(e: ExposureInput): Promise<ExposureRecord> {
    const stamp = now();
    const [row] = await this.#db.query(
      `INSERT INTO exposures (night_id, file_name, content_hash, size, image_type, filter, exposure_time, width, height,
         binning, date_obs, status, error, created_at, updated_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (night_id, file_name, content_hash) DO UPDATE SET
         size = excluded.size, image_type = excluded.image_type, filter = excluded.filter,
         exposure_time = excluded.exposure_time, width = excluded.width, height = excluded.height,
         binning = excluded.binning, date_obs = excluded.date_obs, status = excluded.status, error = excluded.error,
         updated_at = excluded.updated_at
       RETURNING *`,
      [
        e.nightId,
        e.fileName,
        e.contentHash,
        e.size,
        e.imageType,
        e.filter,
        e.exposureTime,
        e.width,
        e.height,
        e.binning,
        e.dateObs,
        e.status,
        e.error,
        stamp,
        stamp,
      ],
    );
    return toExposure(row);
  }

  async listExposures(nightId: number): Promise<ExposureRecord[]> {
    const rows = await this.#db.query("SELECT * FROM exposures WHERE night_id = ? ORDER BY file_name, id", [
      nightId,
    ]);
    return rows.map(toExposure);
  }

  async getExposure(exposureId: number): Promise<ExposureRecord | null> {
    const [row] = await this.#db.query("SELECT * FROM exposures WHERE id = ?", [exposureId]);
    return row ? toExposure(row) : null;
  }

  async replaceProduct(p: ProductInput, options: ReplaceProductOptions = {}): Promise<ProductRecord> {
    const id = await this.#db.transaction(async (tx) => {
      // Fenced: the task's row is locked for the write, so its lease cannot be taken over meanwhile.
      if (options.fence && !await this.#holds(tx, options.fence, options.marginMs ?? 0, true)) {
        throw new LeaseLostError(
          `Task ${options.fence.taskId} is no longer held by ${options.fence.workerId} (attempt ${options.fence.attempt}): ` +
            `${p.path} not recorded`,
        );
      }
      // Upsert keeps the id, so products that used this master still point at it.
      const [row] = await tx.query(
        `INSERT INTO products (night_id, kind, path, filter, exposure_time, width, height, binning, n_combined, checksum,
           date_obs, warnings, created_at, temperature)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (path) DO UPDATE SET
           night_id = excluded.night_id, kind = excluded.kind, filter = excluded.filter,
           exposure_time = excluded.exposure_time, width = excluded.width, height = excluded.height,
           binning = excluded.binning, n_combined = excluded.n_combined, checksum = excluded.checksum,
           date_obs = excluded.date_obs, warnings = excluded.warnings, created_at = excluded.created_at,
           temperature = excluded.temperature
         RETURNING id`,
        [
          p.nightId,
          p.kind,
          p.path,
          p.filter,
          p.exposureTime,
          p.width,
          p.height,
          p.binning,
          p.nCombined,
          p.checksum,
          p.dateObs,
          JSON.stringify(p.warnings),
          now(),
          p.temperature ?? null,
        ],
      );
      const productId = num(row.id);
      await tx.query("DELETE FROM product_inputs WHERE product_id = ?", [productId]);
      await tx.query("DELETE FROM product_uses WHERE product_id = ?", [productId]);
      for (const exposureId of new Set(p.inputExposureIds)) {
        await tx.query("INSERT INTO product_inputs (product_id, exposure_id) VALUES (?, ?)", [
          productId,
          exposureId,
        ]);
      }
      for (const masterId of new Set(p.usedProductIds)) {
        await tx.query("INSERT INTO product_uses (product_id, master_id) VALUES (?, ?)", [
          productId,
          masterId,
        ]);
      }
      return productId;
    });
    const [product] = await this.#products("WHERE p.id = ?", [id]);
    return product;
  }

  async #products(
    where: string,
    params: unknown[],
    order = "ORDER BY p.night_id, p.kind, p.path",
  ): Promise<ProductRecord[]> {
    const rows = await this.#db.query(`SELECT p.* FROM products p ${where} ${order}`, params);
    if (rows.length === 0) return [];
    const ids = rows.map((row) => num(row.id));
    const marks = ids.map(() => "?").join(", ");
    const inputs = await this.#db.query(
      `SELECT i.product_id, e.id AS exposure_id, e.file_name FROM product_inputs i
       JOIN exposures e ON e.id = i.exposure_id WHERE i.product_id IN (${marks}) ORDER BY e.file_name`,
      ids,
    );
    const uses = await this.#db.query(
      `SELECT u.product_id, m.id AS master_id, m.kind, m.path FROM product_uses u
       JOIN products m ON m.id = u.master_id WHERE u.product_id IN (${marks}) ORDER BY m.kind, m.path`,
      ids,
    );
    return rows.map((row) => {
      const id = num(row.id);
      return {
        id,
        nightId: num(row.night_id),
        kind: String(row.kind) as ProductKind,
        path: String(row.path),
        filter: str(row.filter),
        exposureTime: numOrNull(row.exposure_time),
        width: num(row.width),
        height: num(row.height),
        binning: str(row.binning),
        nCombined: num(row.n_combined),
        checksum: str(row.checksum),
        dateObs: str(row.date_obs),
        warnings: (json(row.warnings) as string[] | null) ?? [],
        temperature: numOrNull(row.temperature),
        createdAt: String(row.created_at),
        inputs: inputs.filter((input) => num(input.product_id) === id).map((input) => ({
          exposureId: num(input.exposure_id),
          fileName: String(input.file_name),
        })),
        uses: uses.filter((use) => num(use.product_id) === id).map((use) => ({
          productId: num(use.master_id),
          kind: String(use.kind) as ProductKind,
          path: String(use.path),
        })),
      };
    });
  }

  listProducts(filter: { nightId?: number } = {}): Promise<ProductRecord[]> {
    return filter.nightId === undefined
      ? this.#products("", [])
      : this.#products("WHERE p.night_id = ?", [filter.nightId]);
  }

  async listProductsPage(filter: ProductFilter = {}): Promise<Page<ProductRecord>> {
    const { limit, offset } = pageOf(filter);
    const conditions: string[] = [];
    const params: unknown[] = [];
    if (filter.nightId !== undefined) {
      conditions.push("p.night_id = ?");
      params.push(filter.nightId);
    }
    if (filter.kind !== undefined) {
      conditions.push("p.kind = ?");
      params.push(filter.kind);
    }
    if (filter.inputExposureId !== undefined) {
      conditions.push("p.id IN (SELECT product_id FROM product_inputs WHERE exposure_id = ?)");
      params.push(filter.inputExposureId);
    }
    if (filter.masterId !== undefined) {
      conditions.push("p.id IN (SELECT product_id FROM product_uses WHERE master_id = ?)");
      params.push(filter.masterId);
    }
    const where = conditions.length > 0 ? `WHERE ${conditions.join(" AND ")}` : "";
    const [count] = await this.#db.query(`SELECT COUNT(*) AS n FROM products p ${where}`, params);
    // Within a night: masters first (bias, darks, flats), then the calibrated lights, by path. Across
    // nights: the newest recorded first, which the primary key gives without sorting 20,000 rows.
    const order = filter.nightId !== undefined
      ? "ORDER BY CASE WHEN p.kind = 'calibrated_light' THEN 1 ELSE 0 END, p.kind, p.path, p.id"
      : "ORDER BY p.id DESC";
    const items = await this.#products(where, params.concat(limit, offset), `${order} LIMIT ? OFFSET ?`);
    return { items, total: num(count.n) };
  }

  async getProduct(productId: number): Promise<ProductRecord | null> {
    const [product] = await this.#products("WHERE p.id = ?", [productId]);
    return product ?? null;
  }

  async findMaster(query: MasterQuery): Promise<ProductRecord | null> {
    const conditions = ["p.kind = ?", "p.width = ?", "p.height = ?", this.#same("p.binning")];
    const params: unknown[] = [query.kind, query.width, query.height, query.binning];
    if (query.kind === "master_flat") {
      conditions.push(this.#same("p.filter"));
      params.push(query.filter ?? null);
    }
    if (query.excludeNightId !== undefined) {
      conditions.push("p.night_id <> ?");
      params.push(query.excludeNightId);
    }
    if (query.goodOnly) {
      conditions.push(
        "NOT EXISTS (SELECT 1 FROM qc_verdicts v WHERE v.product_id = p.id AND v.verdict <> 'pass')",
      );
    }
    const candidates = await this.#products(`WHERE ${conditions.join(" AND ")}`, params);
    if (candidates.length === 0) return null;
    const near = query.near ? Date.parse(query.near) : NaN;
    const timeDistance = (p: ProductRecord) => {
      const t = p.dateObs ? Date.parse(p.dateObs) : NaN;
      return Number.isNaN(near) || Number.isNaN(t) ? Number.MAX_VALUE : Math.abs(t - near);
    };
    const exposureDistance = (p: ProductRecord) =>
      query.kind === "master_dark" && query.exposureTime != null && p.exposureTime != null
        ? Math.abs(p.exposureTime - query.exposureTime)
        : 0;
    // A dark of another temperature only when none within the tolerance is there.
    const tolerance = query.temperatureTolerance ?? 0;
    const otherTemperature = (p: ProductRecord) =>
      query.temperature != null && p.temperature != null &&
        Math.abs(p.temperature - query.temperature) > tolerance
        ? 1
        : 0;
    candidates.sort((a, b) =>
      otherTemperature(a) - otherTemperature(b) || exposureDistance(a) - exposureDistance(b) ||
      timeDistance(a) - timeDistance(b) || b.id - a.id
    );
    return candidates[0];
  }

  async replaceVerdicts(
    nightId: number,
    scope: { stage: string; subjects: string[] },
    verdicts: QcVerdictInput[],
  ): Promise<void> {
    await this.#db.transaction(async (tx) => {
      const subjects = [...new Set([...scope.subjects, ...verdicts.map((v) => v.subject)])];
      for (let i = 0; i < subjects.length; i += 500) {
        const chunk = subjects.slice(i, i + 500);
        await tx.query(
          `DELETE FROM qc_verdicts WHERE night_id = ? AND stage = ? AND subject IN (${
            chunk.map(() => "?").join(", ")
          })`,
          [nightId, scope.stage, ...chunk],
        );
      }
      const stamp = now();
      for (const v of verdicts) {
        await tx.query(
          `INSERT INTO qc_verdicts (night_id, product_id, subject, stage, check_name, verdict, measured, limit_text,
             reason, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
          [
            nightId,
            v.productId ?? null,
            v.subject,
            v.stage,
            v.check,
            v.verdict,
            v.measured,
            v.limit,
            v.reason,
            stamp,
          ],
        );
      }
    });
  }

  async listVerdicts(filter: { nightId?: number; productId?: number }): Promise<QcVerdictRecord[]> {
    const conditions: string[] = [];
    const params: unknown[] = [];
    if (filter.nightId !== undefined) {
      conditions.push("night_id = ?");
      params.push(filter.nightId);
    }
    if (filter.productId !== undefined) {
      conditions.push("product_id = ?");
      params.push(filter.productId);
    }
    const where = conditions.length > 0 ? `WHERE ${conditions.join(" AND ")}` : "";
    const rows = await this.#db.query(`SELECT * FROM qc_verdicts ${where} ORDER BY id`, params);
    return rows.map((row) => ({
      id: num(row.id),
      nightId: num(row.night_id),
      productId: numOrNull(row.product_id),
      subject: String(row.subject),
      stage: String(row.stage),
      check: String(row.check_name),
      verdict: String(row.verdict) as QcOutcome,
      measured: numOrNull(row.measured),
      limit: String(row.limit_text),
      reason: String(row.reason),
      createdAt: String(row.created_at),
    }));
  }

  async enqueueJob(job: JobInput): Promise<{ job: JobRecord; created: boolean }> {
    const service = job.service ?? DEFAULT_SERVICE;
    for (let attempt = 0; attempt < 3; attempt++) {
      const existing = await this.#activeDuplicate(job, service);
      if (existing) return { job: existing, created: false };
      const stamp = now();
      try {
        const [row] = await this.#db.query(
          `INSERT INTO jobs (service, work_order_id, night, work_order, priority, status, attempts, progress,
             detail, created_at, updated_at)
           VALUES (?, ?, ?, ?, ?, 'queued', 0, 0, ?, ?, ?) RETURNING *`,
          [
            service,
            job.workOrderId,
            job.night,
            JSON.stringify(job.workOrder),
            job.priority,
            job.detail === undefined ? null : JSON.stringify(job.detail),
            stamp,
            stamp,
          ],
        );
        return { job: toJob(row), created: true };
      } catch (error) {
        // Another process enqueued the same order or night between our look-up and insert: return theirs.
        if (!isUnique(error)) throw error;
      }
    }
    const existing = await this.#activeDuplicate(job, service);
    if (existing) return { job: existing, created: false };
    throw new Error(`Could not enqueue work order ${job.workOrderId}`);
  }

  async #activeDuplicate(job: JobInput, service: string): Promise<JobRecord | null> {
    const byId = await this.getJobByWorkOrderId(job.workOrderId, service);
    if (byId) return byId;
    if (job.night === null) return null;
    const [row] = await this.#db.query(
      "SELECT * FROM jobs WHERE service = ? AND night = ? AND status IN ('queued', 'running') ORDER BY id LIMIT 1",
      [service, job.night],
    );
    return row ? toJob(row) : null;
  }

  async claimJob(workerId: string, leaseMs: number, service?: string): Promise<JobRecord | null> {
    const stamp = now();
    const lease = new Date(Date.now() + leaseMs).toISOString();
    // PostgreSQL: SKIP LOCKED lets concurrent claimers pass over a row another is taking.
    // SQLite: the IMMEDIATE transaction holds the write lock, so the select and update are one step.
    const lock = this.#db.dialect === "postgres" ? "FOR UPDATE SKIP LOCKED" : "";
    const serviceCondition = service === undefined ? "" : "AND service = ?";
    const params = [workerId, lease, stamp, stamp, stamp];
    if (service !== undefined) params.push(service);
    return await this.#db.transaction(async (tx) => {
      const [row] = await tx.query(
        `UPDATE jobs SET status = 'running', worker_id = ?, lease_expires_at = ?, attempts = attempts + 1,
           not_before = NULL, started_at = COALESCE(started_at, ?), updated_at = ?
         WHERE id = (SELECT id FROM jobs WHERE status = 'queued' AND (not_before IS NULL OR not_before <= ?)
           ${serviceCondition} ORDER BY priority DESC, created_at, id LIMIT 1 ${lock})
         RETURNING *`,
        params,
      );
      return row ? toJob(row) : null;
    });
  }

  async heartbeat(jobId: number, workerId: string, leaseMs: number, progress?: number): Promise<boolean> {
    const rows = await this.#db.query(
      `UPDATE jobs SET lease_expires_at = ?, progress = COALESCE(?, progress), updated_at = ?
       WHERE id = ? AND worker_id = ? AND status = 'running' RETURNING id`,
      [new Date(Date.now() + leaseMs).toISOString(), progress ?? null, now(), jobId, workerId],
    );
    return rows.length > 0;
  }

  async completeJob(jobId: number, workerId: string, result: unknown): Promise<void> {
    const stamp = now();
    await this.#db.query(
      `UPDATE jobs SET status = 'done', result = ?, progress = 1, lease_expires_at = NULL, error = NULL,
         finished_at = ?, updated_at = ? WHERE id = ? AND worker_id = ? AND status = 'running'`,
      [JSON.stringify(result ?? null), stamp, stamp, jobId, workerId],
    );
  }

  async failJob(jobId: number, workerId: string, error: string): Promise<void> {
    const stamp = now();
    await this.#db.query(
      `UPDATE jobs SET status = 'failed', error = ?, lease_expires_at = NULL, finished_at = ?, updated_at = ?
       WHERE id = ? AND worker_id = ? AND status = 'running'`,
      [error, stamp, stamp, jobId, workerId],
    );
  }

  async releaseJob(jobId: number, workerId: string): Promise<void> {
    await this.#db.query(
      `UPDATE jobs SET status = 'queued', worker_id = NULL, lease_expires_at = NULL, updated_at = ?
       WHERE id = ? AND worker_id = ? AND status = 'running'`,
      [now(), jobId, workerId],
    );
  }

  async deferJob(jobId: number, workerId: string, reason: string, until: Date): Promise<void> {
    await this.#db.query(
      `UPDATE jobs SET status = 'queued', worker_id = NULL, lease_expires_at = NULL, error = ?, not_before = ?,
         updated_at = ?
       WHERE id = ? AND worker_id = ? AND status = 'running'`,
      [reason, until.toISOString(), now(), jobId, workerId],
    );
  }

  async cancelJob(jobId: number): Promise<JobRecord | null> {
    const stamp = now();
    await this.#db.query(
      `UPDATE jobs SET status = 'cancelled', lease_expires_at = NULL, finished_at = ?, updated_at = ?
       WHERE id = ? AND status IN ('queued', 'running')`,
      [stamp, stamp, jobId],
    );
    return await this.getJob(jobId);
  }

  async requeueExpired(service?: string): Promise<number> {
    const stamp = now();
    const rows = await this.#db.query(
      `UPDATE jobs SET
         status = CASE WHEN attempts >= ${MAX_ATTEMPTS} THEN 'failed' ELSE 'queued' END,
         error = CASE WHEN attempts >= ${MAX_ATTEMPTS}
           THEN 'gave up after ${MAX_ATTEMPTS} attempts: the worker stopped without finishing each time' ELSE error END,
         worker_id = NULL, lease_expires_at = NULL, updated_at = ?
       WHERE status = 'running' AND lease_expires_at < ? ${service === undefined ? "" : "AND service = ?"}
       RETURNING id`,
      service === undefined ? [stamp, stamp] : [stamp, stamp, service],
    );
    return rows.length;
  }

  async updateJob(jobId: number, changes: JobChanges): Promise<JobRecord | null> {
    const stamp = now();
    const sets = ["updated_at = ?"];
    const params: unknown[] = [stamp];
    if (changes.status !== undefined) {
      sets.push("status = ?");
      params.push(changes.status);
      if (changes.status === "running") sets.push("started_at = COALESCE(started_at, ?)");
      if (["done", "failed", "cancelled"].includes(changes.status)) sets.push("finished_at = ?");
      if (changes.status === "queued") sets.push("finished_at = NULL");
      if (changes.status !== "queued") params.push(stamp);
    }
    if (changes.error !== undefined) {
      sets.push("error = ?");
      params.push(changes.error);
    }
    if (changes.progress !== undefined) {
      sets.push("progress = ?");
      params.push(changes.progress);
    }
    if (changes.result !== undefined) {
      sets.push("result = ?");
      params.push(JSON.stringify(changes.result));
    }
    if (changes.detail !== undefined) {
      sets.push("detail = ?");
      params.push(JSON.stringify(changes.detail));
    }
    const [row] = await this.#db.query(`UPDATE jobs SET ${sets.join(", ")} WHERE id = ? RETURNING *`, [
      ...params,
      jobId,
    ]);
    return row ? toJob(row) : null;
  }

  async addJobEvent(jobId: number, event: string, at: Date = new Date()): Promise<void> {
    await this.#db.query("INSERT INTO job_events (job_id, at, event) VALUES (?, ?, ?)", [
      jobId,
      at.toISOString(),
      event,
    ]);
  }

  async listJobEvents(jobId: number): Promise<JobEvent[]> {
    const rows = await this.#db.query("SELECT at, event FROM job_events WHERE job_id = ? ORDER BY at, id", [
      jobId,
    ]);
    return rows.map((row) => ({ at: String(row.at), event: String(row.event) }));
  }

  async getJob(jobId: number): Promise<JobRecord | null> {
    const [row] = await this.#db.query("SELECT * FROM jobs WHERE id = ?", [jobId]);
    return row ? toJob(row) : null;
  }

  async getJobByWorkOrderId(
    workOrderId: string,
    service: string = DEFAULT_SERVICE,
  ): Promise<JobRecord | null> {
    const [row] = await this.#db.query("SELECT * FROM jobs WHERE service = ? AND work_order_id = ?", [
      service,
      workOrderId,
    ]);
    return row ? toJob(row) : null;
  }

  async listJobs(filter: JobFilter = {}): Promise<JobRecord[]> {
    const limit = Math.max(1, Math.min(filter.limit ?? 100, 10000));
    const conditions: string[] = [];
    const params: unknown[] = [];
    if (filter.service !== undefined) {
      conditions.push("service = ?");
      params.push(filter.service);
    }
    if (filter.status) {
      conditions.push("status = ?");
      params.push(filter.status);
    }
    const where = conditions.length > 0 ? `WHERE ${conditions.join(" AND ")}` : "";
    const order = filter.order === "queue" ? "priority DESC, created_at, id" : "id DESC";
    const rows = await this.#db.query(`SELECT * FROM jobs ${where} ORDER BY ${order} LIMIT ${limit}`, params);
    return rows.map(toJob);
  }

  async countJobs(service?: string): Promise<Record<JobStatus, number>> {
    const counts: Record<JobStatus, number> = { queued: 0, running: 0, done: 0, failed: 0, cancelled: 0 };
    const rows = service === undefined
      ? await this.#db.query("SELECT status, COUNT(*) AS n FROM jobs GROUP BY status")
      : await this.#db.query("SELECT status, COUNT(*) AS n FROM jobs WHERE service = ? GROUP BY status", [
        service,
      ]);
    for (const row of rows) counts[String(row.status) as JobStatus] = num(row.n);
    return counts;
  }

  /** The condition of a held task: this worker, this attempt, still running. */
  static readonly #HELD = "id = ? AND worker_id = ? AND attempts = ? AND status = 'running'";

  async #holds(db: SqlDriver, fence: TaskFence, marginMs: number, lock: boolean): Promise<boolean> {
    const forUpdate = lock && db.dialect === "postgres" ? "FOR UPDATE" : "";
    const rows = await db.query(
      `SELECT id FROM tasks WHERE ${SqlStore.#HELD} AND lease_expires_at > ${this.#clock(true)} ${forUpdate}`,
      [fence.taskId, fence.workerId, fence.attempt, marginMs],
    );
    return rows.length > 0;
  }

  async #tasks(db: SqlDriver, where: string, params: unknown[]): Promise<TaskRecord[]> {
    const rows = await db.query(`SELECT * FROM tasks ${where} ORDER BY id`, params);
    if (rows.length === 0) return [];
    const ids = rows.map((row) => num(row.id));
    const dependencies = await db.query(
      `SELECT task_id, depends_on FROM task_dependencies WHERE task_id IN (${ids.map(() => "?").join(", ")})
       ORDER BY depends_on`,
      ids,
    );
    return rows.map((row) =>
      toTask(
        row,
        dependencies.filter((d) => num(d.task_id) === num(row.id)).map((d) => num(d.depends_on)),
      )
    );
  }

  /** Adds tasks to a job inside a transaction (names it has are kept); tells the workers. */
  async #addTasks(tx: SqlDriver, jobId: number, tasks: TaskInput[]): Promise<void> {
    if (tasks.length === 0) return;
    const [job] = await tx.query("SELECT service, priority FROM jobs WHERE id = ?", [jobId]);
    if (!job) throw new Error(`No job ${jobId} to add tasks to`);
    const known = new Map(
      (await tx.query("SELECT id, name FROM tasks WHERE job_id = ?", [jobId])).map((row) => [
        String(row.name),
        num(row.id),
      ]),
    );
    const added: TaskInput[] = [];
    for (const task of tasks) {
      if (known.has(task.name)) continue;
      const [row] = await tx.query(
        `INSERT INTO tasks (job_id, service, name, kind, spec, weight, priority, status, attempts, created_at,
           updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, 'queued', 0, ${this.#clock()}, ${this.#clock()}) RETURNING id`,
        [
          jobId,
          job.service,
          task.name,
          task.kind,
          JSON.stringify(task.spec ?? null),
          task.weight ?? 1,
          job.priority,
        ],
      );
      known.set(task.name, num(row.id));
      added.push(task);
    }
    for (const task of added) {
      for (const name of new Set(task.dependsOn ?? [])) {
        const dependency = known.get(name);
        if (dependency === undefined) {
          throw new Error(`Task ${task.name} depends on ${name}, which job ${jobId} lacks`);
        }
        await tx.query("INSERT INTO task_dependencies (task_id, depends_on) VALUES (?, ?)", [
          known.get(task.name),
          dependency,
        ]);
      }
    }
    if (added.length > 0) await tx.notify(TASKS_CHANNEL, "ready" satisfies TaskChange);
  }

  async addTasks(jobId: number, tasks: TaskInput[]): Promise<TaskRecord[]> {
    await this.#db.transaction((tx) => this.#addTasks(tx, jobId, tasks));
    return await this.listTasks(jobId);
  }

  async claimTask(workerId: string, leaseMs: number, service?: string): Promise<TaskRecord | null> {
    // PostgreSQL: SKIP LOCKED lets concurrent claimers pass over a row another is taking.
    // SQLite: the IMMEDIATE transaction holds the write lock, so the select and update are one step.
    const lock = this.#db.dialect === "postgres" ? "FOR UPDATE SKIP LOCKED" : "";
    const serviceCondition = service === undefined ? "" : "AND t.service = ?";
    const params: unknown[] = [workerId, leaseMs];
    if (service !== undefined) params.push(service);
    return await this.#db.transaction(async (tx) => {
      const [row] = await tx.query(
        `UPDATE tasks SET status = 'running', worker_id = ?, attempts = attempts + 1,
           lease_expires_at = ${this.#clock(true)}, started_at = COALESCE(started_at, ${this.#clock()}),
           updated_at = ${this.#clock()}
         WHERE id = (SELECT t.id FROM tasks t WHERE t.status = 'queued' ${serviceCondition}
           AND NOT EXISTS (SELECT 1 FROM task_dependencies d JOIN tasks p ON p.id = d.depends_on
             WHERE d.task_id = t.id AND p.status <> 'done')
           ORDER BY t.priority DESC, t.job_id, t.id LIMIT 1 ${lock})
         RETURNING *`,
        params,
      );
      if (!row) return null;
      await tx.notify(TASKS_CHANNEL, "changed" satisfies TaskChange);
      const dependencies = await tx.query(
        "SELECT depends_on FROM task_dependencies WHERE task_id = ? ORDER BY depends_on",
        [num(row.id)],
      );
      return toTask(row, dependencies.map((d) => num(d.depends_on)));
    });
  }

  async heartbeatTask(fence: TaskFence, leaseMs: number): Promise<boolean> {
    const rows = await this.#db.query(
      `UPDATE tasks SET lease_expires_at = ${this.#clock(true)}, updated_at = ${this.#clock()}
       WHERE ${SqlStore.#HELD} RETURNING id`,
      [leaseMs, fence.taskId, fence.workerId, fence.attempt],
    );
    return rows.length > 0;
  }

  holdsTask(fence: TaskFence, marginMs: number): Promise<boolean> {
    return this.#holds(this.#db, fence, marginMs, false);
  }

  /** Ends a held task with `status`, in a transaction that `then` may add to; false when not held. */
  #finishTask(
    fence: TaskFence,
    status: TaskStatus,
    fields: { result?: unknown; error?: string },
    change: TaskChange,
    then?: (tx: SqlDriver, jobId: number) => Promise<void>,
  ): Promise<boolean> {
    const final = status !== "queued";
    return this.#db.transaction(async (tx) => {
      const [row] = await tx.query(
        `UPDATE tasks SET status = ?, result = COALESCE(?, result), error = COALESCE(?, error),
           lease_expires_at = NULL, updated_at = ${this.#clock()},
           ${final ? `finished_at = ${this.#clock()}` : "worker_id = NULL"}
         WHERE ${SqlStore.#HELD} RETURNING job_id`,
        [
          status,
          fields.result === undefined ? null : JSON.stringify(fields.result),
          fields.error ?? null,
          fence.taskId,
          fence.workerId,
          fence.attempt,
        ],
      );
      if (!row) return false;
      await then?.(tx, num(row.job_id));
      await tx.notify(TASKS_CHANNEL, change);
      return true;
    });
  }

  completeTask(fence: TaskFence, result: unknown, add: TaskInput[] = []): Promise<boolean> {
    return this.#finishTask(
      fence,
      "done",
      { result: result ?? null },
      "ready",
      (tx, jobId) => this.#addTasks(tx, jobId, add),
    );
  }

  failTask(fence: TaskFence, error: string): Promise<boolean> {
    return this.#finishTask(fence, "failed", { error }, "changed");
  }

  releaseTask(fence: TaskFence): Promise<boolean> {
    return this.#finishTask(fence, "queued", {}, "ready");
  }

  async requeueExpiredTasks(service?: string): Promise<number> {
    const lock = this.#db.dialect === "postgres" ? "FOR UPDATE SKIP LOCKED" : "";
    const serviceCondition = service === undefined ? "" : "AND service = ?";
    return await this.#db.transaction(async (tx) => {
      // A task locked by a fenced write in progress is passed over: that write checks the lease itself.
      const expired = await tx.query(
        `SELECT id, job_id, name, worker_id, attempts FROM tasks
         WHERE status = 'running' AND lease_expires_at < ${this.#clock()} ${serviceCondition} ORDER BY id ${lock}`,
        service === undefined ? [] : [service],
      );
      for (const task of expired) {
        const givenUp = num(task.attempts) >= MAX_TASK_ATTEMPTS;
        const lost = `${task.worker_id} lost its lease (attempt ${num(task.attempts)})`;
        await tx.query(
          `UPDATE tasks SET status = ?, error = ?, worker_id = NULL, lease_expires_at = NULL,
             updated_at = ${this.#clock()} ${givenUp ? `, finished_at = ${this.#clock()}` : ""}
           WHERE id = ?`,
          [
            givenUp ? "failed" : "queued",
            givenUp ? `gave up after ${MAX_TASK_ATTEMPTS} attempts: ${lost}` : null,
            num(task.id),
          ],
        );
        await tx.query(`INSERT INTO job_events (job_id, at, event) VALUES (?, ${this.#clock()}, ?)`, [
          num(task.job_id),
          `task ${task.name}: ${lost}; ${givenUp ? "failed" : "queued again"}`,
        ]);
      }
      if (expired.length > 0) await tx.notify(TASKS_CHANNEL, "ready" satisfies TaskChange);
      return expired.length;
    });
  }

  listTasks(jobId: number): Promise<TaskRecord[]> {
    return this.#tasks(this.#db, "WHERE job_id = ?", [jobId]);
  }

  async cancelTasks(jobId: number): Promise<number> {
    return await this.#db.transaction(async (tx) => {
      const rows = await tx.query(
        `UPDATE tasks SET status = 'cancelled', lease_expires_at = NULL, finished_at = ${this.#clock()},
           updated_at = ${this.#clock()}
         WHERE job_id = ? AND status IN ('queued', 'running') RETURNING id`,
        [jobId],
      );
      if (rows.length > 0) await tx.notify(TASKS_CHANNEL, "changed" satisfies TaskChange);
      return rows.length;
    });
  }

  async listenTasks(onChange: (change: TaskChange) => void): Promise<TaskListener | null> {
    const stop = await this.#db.listen(TASKS_CHANNEL, (payload) => onChange(payload as TaskChange));
    return stop ? { close: stop } : null;
  }

  async recordWorker(worker: WorkerInput): Promise<void> {
    await this.#db.query(
      `INSERT INTO workers (id, host, pid, service, started_at, heartbeat_at, task_id, tasks_done)
       VALUES (?, ?, ?, ?, ${this.#clock()}, ${this.#clock()}, ?, ?)
       ON CONFLICT (id) DO UPDATE SET heartbeat_at = excluded.heartbeat_at, task_id = excluded.task_id,
         tasks_done = excluded.tasks_done`,
      [worker.id, worker.host, worker.pid, worker.service, worker.taskId, worker.tasksDone],
    );
  }

  async removeWorker(workerId: string): Promise<void> {
    await this.#db.query("DELETE FROM workers WHERE id = ?", [workerId]);
  }

  async listWorkers(): Promise<WorkerRecord[]> {
    await this.#db.query(`DELETE FROM workers WHERE heartbeat_at < ${this.#clock(true)}`, [
      -FORGET_WORKER_MS,
    ]);
    const rows = await this.#db.query(
      `SELECT w.*, t.name AS task_name, t.job_id, ${this.#clock()} AS now FROM workers w
       LEFT JOIN tasks t ON t.id = w.task_id ORDER BY w.heartbeat_at DESC, w.id`,
    );
    return rows.map((row) => ({
      id: String(row.id),
      host: String(row.host),
      pid: num(row.pid),
      service: String(row.service),
      taskId: numOrNull(row.task_id),
      tasksDone: num(row.tasks_done),
      startedAt: String(row.started_at),
      heartbeatAt: String(row.heartbeat_at),
      ageSeconds: Math.max(0, (Date.parse(String(row.now)) - Date.parse(String(row.heartbeat_at))) / 1000),
      taskName: str(row.task_name),
      jobId: numOrNull(row.job_id),
    }));
  }

  async ping(): Promise<void> {
    await this.#db.query("SELECT 1 AS ok");
  }

  close(): Promise<void> {
    return this.#db.close();
  }
}
