/**
 * The catalog over any {@link SqlDriver}: one implementation of {@link Store}
 * for both backends, with the few dialect differences (job claiming, null-safe
 * comparison) handled where they occur.
 *
 * @module
 */
import type { Row, SqlDriver } from "./_driver.ts";
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
  type NightRecord,
  type NightSummary,
  type Page,
  type PageRange,
  type ProductFilter,
  type ProductInput,
  type ProductKind,
  type ProductRecord,
  type Store,
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

  async replaceProduct(p: ProductInput): Promise<ProductRecord> {
    const id = await this.#db.transaction(async (tx) => {
      // Upsert keeps the id, so products that used this master still point at it.
      const [row] = await tx.query(
        `INSERT INTO products (night_id, kind, path, filter, exposure_time, width, height, binning, n_combined, checksum,
           date_obs, warnings, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (path) DO UPDATE SET
           night_id = excluded.night_id, kind = excluded.kind, filter = excluded.filter,
           exposure_time = excluded.exposure_time, width = excluded.width, height = excluded.height,
           binning = excluded.binning, n_combined = excluded.n_combined, checksum = excluded.checksum,
           date_obs = excluded.date_obs, warnings = excluded.warnings, created_at = excluded.created_at
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
    candidates.sort((a, b) =>
      exposureDistance(a) - exposureDistance(b) || timeDistance(a) - timeDistance(b) || b.id - a.id
    );
    return candidates[0];
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

  async ping(): Promise<void> {
    await this.#db.query("SELECT 1 AS ok");
  }

  close(): Promise<void> {
    return this.#db.close();
  }
}
