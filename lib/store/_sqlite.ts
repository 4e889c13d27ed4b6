/**
 * The embedded default backend: SQLite through Deno's built-in `node:sqlite`,
 * in WAL mode so readers never wait for the writer, with a busy timeout so
 * several processes can share one file.
 *
 * @module
 */
import { DatabaseSync, type StatementSync } from "node:sqlite";
import type { Row, SqlDriver } from "./_driver.ts";
import { StoreError } from "./errors.ts";

/** Serializes use of one synchronous connection across async callers (a transaction spans awaits). */
class Mutex {
  #tail: Promise<void> = Promise.resolve();

  async run<T>(fn: () => Promise<T>): Promise<T> {
    const previous = this.#tail;
    let release!: () => void;
    this.#tail = new Promise((resolve) => (release = resolve));
    await previous;
    try {
      return await fn();
    } finally {
      release();
    }
  }
}

function bind(params: unknown[]): (string | number | bigint | null | Uint8Array)[] {
  return params.map((value) => {
    if (value === undefined || value === null) return null;
    if (typeof value === "boolean") return value ? 1 : 0;
    if (typeof value === "number" || typeof value === "string" || typeof value === "bigint") return value;
    if (value instanceof Uint8Array) return value;
    return JSON.stringify(value);
  });
}

class SqliteConnection implements SqlDriver {
  readonly dialect = "sqlite" as const;
  readonly #db: DatabaseSync;
  readonly #path: string;
  readonly #statements = new Map<string, StatementSync>();

  constructor(db: DatabaseSync, path: string) {
    this.#db = db;
    this.#path = path;
  }

  query(sql: string, params: unknown[] = []): Promise<Row[]> {
    try {
      let statement = this.#statements.get(sql);
      if (!statement) {
        // Preparing costs more than running most of these statements: keep each one.
        statement = this.#db.prepare(sql);
        this.#statements.set(sql, statement);
      }
      const rows = /^\s*(select|with|pragma)|\breturning\b/i.test(sql)
        ? statement.all(...bind(params))
        : (statement.run(...bind(params)), []);
      return Promise.resolve(rows as Row[]);
    } catch (error) {
      return Promise.reject(wrap(error, this.#path));
    }
  }

  exec(sql: string): Promise<void> {
    try {
      this.#db.exec(sql);
      return Promise.resolve();
    } catch (error) {
      return Promise.reject(wrap(error, this.#path));
    }
  }

  async transaction<T>(fn: (tx: SqlDriver) => Promise<T>): Promise<T> {
    await this.exec("BEGIN IMMEDIATE");
    try {
      const result = await fn(this);
      await this.exec("COMMIT");
      return result;
    } catch (error) {
      try {
        this.#db.exec("ROLLBACK");
      } catch { /* the failed statement may already have rolled back */ }
      throw error;
    }
  }

  notify(): Promise<void> {
    return Promise.resolve();
  }

  listen(): Promise<null> {
    return Promise.resolve(null);
  }

  close(): Promise<void> {
    this.#db.close();
    return Promise.resolve();
  }
}

/** Keeps the SQLite error code (e.g. SQLITE_CONSTRAINT_UNIQUE) on a StoreError naming the file. */
function wrap(error: unknown, path: string): Error {
  const message = error instanceof Error ? error.message : String(error);
  const wrapped = new StoreError(`SQLite ${path}: ${message}`, { cause: error });
  (wrapped as Error & { code?: string }).code = (error as { errcode?: number; code?: string })?.code;
  if (/UNIQUE constraint failed/.test(message)) (wrapped as Error & { unique?: boolean }).unique = true;
  return wrapped;
}

/** Serializes every query and transaction of one connection. */
class SerializedSqlite implements SqlDriver {
  readonly dialect = "sqlite" as const;
  readonly #connection: SqliteConnection;
  readonly #mutex = new Mutex();
  readonly #key: string;
  users = 1;

  constructor(connection: SqliteConnection, key: string) {
    this.#connection = connection;
    this.#key = key;
  }

  query(sql: string, params?: unknown[]): Promise<Row[]> {
    return this.#mutex.run(() => this.#connection.query(sql, params));
  }

  exec(sql: string): Promise<void> {
    return this.#mutex.run(() => this.#connection.exec(sql));
  }

  transaction<T>(fn: (tx: SqlDriver) => Promise<T>): Promise<T> {
    return this.#mutex.run(() => this.#connection.transaction(fn));
  }

  notify(): Promise<void> {
    return Promise.resolve();
  }

  listen(): Promise<null> {
    return Promise.resolve(null);
  }

  async close(): Promise<void> {
    if (--this.users > 0) return;
    OPEN.delete(this.#key);
    await this.#mutex.run(() => this.#connection.close());
  }
}

/**
 * One connection per file per process. node:sqlite is synchronous: a second
 * connection waiting on the busy timeout would block the thread that holds the
 * first one's transaction, so stores in one process share a serialized connection.
 */
const OPEN = new Map<string, SerializedSqlite>();

/** Opens (creating if needed) a SQLite database file with WAL and a busy timeout. */
export async function openSqlite(path: string): Promise<SqlDriver> {
  const absolute = path.startsWith("/") ? path : `${Deno.cwd()}/${path}`;
  const shared = OPEN.get(absolute);
  if (shared) {
    shared.users++;
    return shared;
  }
  const dir = absolute.slice(0, absolute.lastIndexOf("/"));
  try {
    if (dir) await Deno.mkdir(dir, { recursive: true });
  } catch (error) {
    throw new StoreError(
      `Cannot create the database directory ${dir}: ${error instanceof Error ? error.message : error}`,
    );
  }
  const again = OPEN.get(absolute);
  if (again) {
    again.users++;
    return again;
  }
  let db: DatabaseSync;
  try {
    db = new DatabaseSync(absolute);
    db.exec("PRAGMA busy_timeout = 10000");
    db.exec("PRAGMA journal_mode = WAL");
    db.exec("PRAGMA synchronous = NORMAL");
    db.exec("PRAGMA foreign_keys = ON");
  } catch (error) {
    throw new StoreError(
      `Cannot open SQLite database ${absolute}: ${error instanceof Error ? error.message : error}`,
    );
  }
  const driver = new SerializedSqlite(new SqliteConnection(db, absolute), absolute);
  OPEN.set(absolute, driver);
  return driver;
}
