/**
 * Versioned schema migrations, applied at open inside one locked transaction,
 * so running them twice, or from two processes at once, is safe.
 *
 * @module
 */
import type { SqlDriver } from "./_driver.ts";

/**
 * One schema step. `{{id}}` becomes the backend's auto-increment primary key.
 * A step whose SQL differs between the backends (SQLite cannot drop a
 * constraint, so it rebuilds the table) gives one text per dialect.
 */
export interface Migration {
  version: number;
  description: string;
  sql: string | { sqlite: string; postgres: string };
}

/** Every migration in order; a database at version N gets N+1.. applied. */
export const MIGRATIONS: Migration[] = [
  {
    version: 1,
    description: "nights, exposures, products with provenance, jobs",
    sql: `
CREATE TABLE nights (
  id {{id}},
  directory TEXT NOT NULL UNIQUE,
  date TEXT,
  telescope TEXT,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL
);
CREATE TABLE exposures (
  id {{id}},
  night_id INTEGER NOT NULL REFERENCES nights(id) ON DELETE CASCADE,
  file_name TEXT NOT NULL,
  content_hash TEXT NOT NULL,
  size BIGINT NOT NULL,
  image_type TEXT,
  filter TEXT,
  exposure_time DOUBLE PRECISION,
  width INTEGER,
  height INTEGER,
  binning TEXT,
  date_obs TEXT,
  status TEXT NOT NULL,
  error TEXT,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL,
  UNIQUE (night_id, file_name, content_hash)
);
CREATE TABLE products (
  id {{id}},
  night_id INTEGER NOT NULL REFERENCES nights(id) ON DELETE CASCADE,
  kind TEXT NOT NULL,
  path TEXT NOT NULL UNIQUE,
  filter TEXT,
  exposure_time DOUBLE PRECISION,
  width INTEGER NOT NULL,
  height INTEGER NOT NULL,
  binning TEXT,
  n_combined INTEGER NOT NULL,
  checksum TEXT,
  date_obs TEXT,
  warnings TEXT NOT NULL,
  created_at TEXT NOT NULL
);
CREATE TABLE product_inputs (
  product_id INTEGER NOT NULL REFERENCES products(id) ON DELETE CASCADE,
  exposure_id INTEGER NOT NULL REFERENCES exposures(id) ON DELETE CASCADE,
  PRIMARY KEY (product_id, exposure_id)
);
CREATE TABLE product_uses (
  product_id INTEGER NOT NULL REFERENCES products(id) ON DELETE CASCADE,
  master_id INTEGER NOT NULL REFERENCES products(id) ON DELETE CASCADE,
  PRIMARY KEY (product_id, master_id)
);
CREATE TABLE jobs (
  id {{id}},
  work_order_id TEXT NOT NULL UNIQUE,
  night TEXT,
  work_order TEXT NOT NULL,
  priority DOUBLE PRECISION NOT NULL,
  status TEXT NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  lease_expires_at TEXT,
  worker_id TEXT,
  progress DOUBLE PRECISION NOT NULL DEFAULT 0,
  error TEXT,
  result TEXT,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL,
  started_at TEXT,
  finished_at TEXT
);
CREATE UNIQUE INDEX jobs_one_active_per_night ON jobs (night)
  WHERE night IS NOT NULL AND status IN ('queued', 'running');
`,
  },
  {
    version: 2,
    description: "indexes for the job queue and product look-ups",
    sql: `
CREATE INDEX jobs_queue ON jobs (status, priority DESC, created_at, id);
CREATE INDEX products_master_lookup ON products (kind, width, height, binning, filter);
CREATE INDEX exposures_night ON exposures (night_id, file_name);
`,
  },
  {
    version: 3,
    description: "jobs belong to a service: one catalog holds every daemon's jobs",
    sql: {
      // SQLite keeps the UNIQUE (work_order_id) of version 1 in the table's definition: rebuild the table.
      sqlite: `
CREATE TABLE jobs_by_service (
  id {{id}},
  service TEXT NOT NULL,
  work_order_id TEXT NOT NULL,
  night TEXT,
  work_order TEXT NOT NULL,
  priority DOUBLE PRECISION NOT NULL,
  status TEXT NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  lease_expires_at TEXT,
  worker_id TEXT,
  progress DOUBLE PRECISION NOT NULL DEFAULT 0,
  error TEXT,
  result TEXT,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL,
  started_at TEXT,
  finished_at TEXT,
  UNIQUE (service, work_order_id)
);
INSERT INTO jobs_by_service (id, service, work_order_id, night, work_order, priority, status, attempts,
  lease_expires_at, worker_id, progress, error, result, created_at, updated_at, started_at, finished_at)
  SELECT id, 'preprocessor', work_order_id, night, work_order, priority, status, attempts, lease_expires_at,
    worker_id, progress, error, result, created_at, updated_at, started_at, finished_at FROM jobs;
DROP TABLE jobs;
ALTER TABLE jobs_by_service RENAME TO jobs;
CREATE UNIQUE INDEX jobs_one_active_per_night ON jobs (service, night)
  WHERE night IS NOT NULL AND status IN ('queued', 'running');
CREATE INDEX jobs_queue ON jobs (service, status, priority DESC, created_at, id);
`,
      postgres: `
ALTER TABLE jobs ADD COLUMN service TEXT NOT NULL DEFAULT 'preprocessor';
ALTER TABLE jobs ALTER COLUMN service DROP DEFAULT;
ALTER TABLE jobs DROP CONSTRAINT jobs_work_order_id_key;
ALTER TABLE jobs ADD CONSTRAINT jobs_service_work_order_id_key UNIQUE (service, work_order_id);
DROP INDEX jobs_one_active_per_night;
CREATE UNIQUE INDEX jobs_one_active_per_night ON jobs (service, night)
  WHERE night IS NOT NULL AND status IN ('queued', 'running');
DROP INDEX jobs_queue;
CREATE INDEX jobs_queue ON jobs (service, status, priority DESC, created_at, id);
`,
    },
  },
  {
    version: 4,
    description: "a job can wait before its next attempt (a device or service that is not there yet)",
    sql: `
ALTER TABLE jobs ADD COLUMN not_before TEXT;
`,
  },
  {
    version: 5,
    description: "a job's story (events) and a service's details of it",
    sql: `
CREATE TABLE job_events (
  id {{id}},
  job_id INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
  at TEXT NOT NULL,
  event TEXT NOT NULL
);
CREATE INDEX job_events_job ON job_events (job_id, id);
ALTER TABLE jobs ADD COLUMN detail TEXT;
`,
  },
  {
    version: 6,
    description: "indexes for the status page: a night's products, provenance both ways, a service's jobs",
    sql: `
CREATE INDEX products_night ON products (night_id, kind, path);
CREATE INDEX product_inputs_exposure ON product_inputs (exposure_id);
CREATE INDEX product_uses_master ON product_uses (master_id);
CREATE INDEX jobs_service_id ON jobs (service, id);
`,
  },
  {
    version: 7,
    description: "a job's tasks with their dependencies, leases and results; the workers that run them",
    sql: `
CREATE TABLE tasks (
  id {{id}},
  job_id INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
  service TEXT NOT NULL,
  name TEXT NOT NULL,
  kind TEXT NOT NULL,
  spec TEXT NOT NULL,
  weight DOUBLE PRECISION NOT NULL DEFAULT 1,
  priority DOUBLE PRECISION NOT NULL,
  status TEXT NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  worker_id TEXT,
  lease_expires_at TEXT,
  result TEXT,
  error TEXT,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL,
  started_at TEXT,
  finished_at TEXT,
  UNIQUE (job_id, name)
);
CREATE INDEX tasks_queue ON tasks (service, status, priority DESC, job_id, id);
CREATE TABLE task_dependencies (
  task_id INTEGER NOT NULL REFERENCES tasks(id) ON DELETE CASCADE,
  depends_on INTEGER NOT NULL REFERENCES tasks(id) ON DELETE CASCADE,
  PRIMARY KEY (task_id, depends_on)
);
CREATE INDEX task_dependencies_on ON task_dependencies (depends_on);
CREATE TABLE workers (
  id TEXT PRIMARY KEY,
  host TEXT NOT NULL,
  pid INTEGER NOT NULL,
  service TEXT NOT NULL,
  started_at TEXT NOT NULL,
  heartbeat_at TEXT NOT NULL,
  task_id INTEGER,
  tasks_done INTEGER NOT NULL DEFAULT 0
);
`,
  },
  {
    version: 8,
    description: "quality-control verdicts of frames and products; a product's detector temperature",
    sql: `
CREATE TABLE qc_verdicts (
  id {{id}},
  night_id INTEGER NOT NULL REFERENCES nights(id) ON DELETE CASCADE,
  product_id INTEGER REFERENCES products(id) ON DELETE CASCADE,
  subject TEXT NOT NULL,
  stage TEXT NOT NULL,
  check_name TEXT NOT NULL,
  verdict TEXT NOT NULL,
  measured DOUBLE PRECISION,
  limit_text TEXT NOT NULL,
  reason TEXT NOT NULL,
  created_at TEXT NOT NULL
);
CREATE INDEX qc_verdicts_night ON qc_verdicts (night_id, stage, subject);
CREATE INDEX qc_verdicts_product ON qc_verdicts (product_id);
ALTER TABLE products ADD COLUMN temperature DOUBLE PRECISION;
`,
  },
];

/** The newest schema version this software knows. */
export const SCHEMA_VERSION: number = MIGRATIONS[MIGRATIONS.length - 1].version;

/** PostgreSQL advisory lock key held while creating a schema or migrating, so processes take turns. */
export const POSTGRES_MIGRATION_LOCK = 7415290381;

/** Applies pending migrations up to `target` (default all); returns the version reached. */
export async function migrate(driver: SqlDriver, target: number = SCHEMA_VERSION): Promise<number> {
  const id = driver.dialect === "sqlite" ? "INTEGER PRIMARY KEY AUTOINCREMENT" : "SERIAL PRIMARY KEY";
  await driver.exec(
    "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, description TEXT NOT NULL, applied_at TEXT NOT NULL)",
  ).catch(async (error) => {
    // Two processes creating the table at once: one wins, the other sees it exists.
    const rows = await driver.query("SELECT 1 FROM schema_version LIMIT 1").catch(() => null);
    if (rows === null) throw error;
  });
  return await driver.transaction(async (tx) => {
    // PostgreSQL: one migrator at a time across every process (SQLite's BEGIN IMMEDIATE already is).
    if (tx.dialect === "postgres") await tx.query(`SELECT pg_advisory_xact_lock(${POSTGRES_MIGRATION_LOCK})`);
    const [row] = await tx.query("SELECT MAX(version) AS version FROM schema_version");
    let current = Number(row?.version ?? 0);
    for (const migration of MIGRATIONS) {
      if (migration.version <= current || migration.version > target) continue;
      const sql = typeof migration.sql === "string" ? migration.sql : migration.sql[tx.dialect];
      await tx.exec(sql.replaceAll("{{id}}", id));
      await tx.query("INSERT INTO schema_version (version, description, applied_at) VALUES (?, ?, ?)", [
        migration.version,
        migration.description,
        new Date().toISOString(),
      ]);
      current = migration.version;
    }
    return current;
  });
}
