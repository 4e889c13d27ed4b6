/**
 * The site backend: PostgreSQL through postgres.js, for several hosts sharing
 * one catalog. An unreachable server is reported within seconds, naming host
 * and port but never the password.
 *
 * @module
 */
import postgres from "postgres";
import type { Row, SqlDriver } from "./_driver.ts";
import { StoreError } from "./errors.ts";
import { POSTGRES_MIGRATION_LOCK } from "./migrations.ts";

type Sql = postgres.Sql | postgres.TransactionSql;

/** `?` placeholders to PostgreSQL's `$n`. */
function numbered(sql: string): string {
  let n = 0;
  return sql.replace(/\?/g, () => `$${++n}`);
}

/** The URL without its password, for messages. */
export function describePostgresUrl(url: string): string {
  try {
    const parsed = new URL(url);
    parsed.password = "";
    return `postgres://${parsed.username ? `${parsed.username}@` : ""}${parsed.hostname}:${
      parsed.port || "5432"
    }${parsed.pathname}`;
  } catch {
    return "postgres://(unparsable URL)";
  }
}

function wrap(error: unknown, where: string): Error {
  const code = (error as { code?: string })?.code;
  const message = error instanceof Error ? error.message : String(error);
  let text: string;
  switch (code) {
    case "ECONNREFUSED":
      text = `Cannot connect to PostgreSQL at ${where}: connection refused (is the server running?)`;
      break;
    case "CONNECT_TIMEOUT":
      text = `Cannot connect to PostgreSQL at ${where}: no answer within the connect timeout`;
      break;
    case "ENOTFOUND":
    case "EAI_AGAIN":
      text = `Cannot connect to PostgreSQL at ${where}: unknown host`;
      break;
    case "28P01":
    case "28000":
      text = `PostgreSQL at ${where} refused the login: ${message}`;
      break;
    case "3D000":
      text = `PostgreSQL at ${where}: ${message}`;
      break;
    default:
      text = `PostgreSQL at ${where}: ${message}`;
  }
  const wrapped = new StoreError(text, { cause: error });
  if (code === "23505") (wrapped as Error & { unique?: boolean }).unique = true;
  return wrapped;
}

/** PostgreSQL's longest identifier (a channel name is one). */
const MAX_IDENTIFIER = 63;

class PostgresDriver implements SqlDriver {
  readonly dialect = "postgres" as const;
  readonly #sql: Sql;
  readonly #where: string;
  readonly #root: postgres.Sql | null;
  readonly #schema: string | undefined;

  constructor(sql: Sql, where: string, root: postgres.Sql | null, schema: string | undefined) {
    this.#sql = sql;
    this.#where = where;
    this.#root = root;
    this.#schema = schema;
  }

  /** Channels are the database's, not a schema's: a schema's catalog gets channels of its own. */
  #channel(channel: string): string {
    return (this.#schema ? `${channel}.${this.#schema}` : channel).slice(0, MAX_IDENTIFIER);
  }

  async notify(channel: string, payload: string): Promise<void> {
    await this.query("SELECT pg_notify(?, ?)", [this.#channel(channel), payload]);
  }

  async listen(channel: string, fn: (payload: string) => void): Promise<() => Promise<void>> {
    const root = this.#root;
    if (!root) throw new StoreError("Cannot listen inside a transaction");
    try {
      const { unlisten } = await root.listen(this.#channel(channel), fn);
      return async () => {
        await unlisten().catch(() => {});
      };
    } catch (error) {
      throw wrap(error, this.#where);
    }
  }

  async query(sql: string, params: unknown[] = []): Promise<Row[]> {
    try {
      const values = params.map((value) =>
        value === undefined
          ? null
          : typeof value === "object" && value !== null
          ? JSON.stringify(value)
          : value
      );
      return [...await this.#sql.unsafe(numbered(sql), values as postgres.ParameterOrJSON<never>[])] as Row[];
    } catch (error) {
      throw wrap(error, this.#where);
    }
  }

  async exec(sql: string): Promise<void> {
    try {
      await this.#sql.unsafe(sql);
    } catch (error) {
      throw wrap(error, this.#where);
    }
  }

  async transaction<T>(fn: (tx: SqlDriver) => Promise<T>): Promise<T> {
    if (!this.#root) return await fn(this);
    try {
      return await this.#root.begin((tx) => fn(new PostgresDriver(tx, this.#where, null, this.#schema))) as T;
    } catch (error) {
      if (error instanceof StoreError) throw error;
      throw wrap(error, this.#where);
    }
  }

  async close(): Promise<void> {
    await this.#root?.end({ timeout: 5 });
  }
}

/** Options for {@link openPostgres}. */
export interface PostgresOptions {
  /** Schema to use (created if missing); tests use one each. */
  schema?: string;
  /** Seconds to wait for a connection (default 5). */
  connectTimeout?: number;
  /** Pool size (default 4). */
  max?: number;
}

/** Connects to PostgreSQL and checks the connection answers. */
export async function openPostgres(url: string, options: PostgresOptions = {}): Promise<SqlDriver> {
  const where = describePostgresUrl(url).replace(/^postgres:\/\/([^@]*@)?/, "");
  const connection: Record<string, string> = { application_name: "toros" };
  if (options.schema) connection.search_path = options.schema;
  const sql = postgres(url, {
    max: options.max ?? 4,
    connect_timeout: options.connectTimeout ?? 5,
    idle_timeout: 30,
    onnotice: () => {},
    connection,
  });
  const driver = new PostgresDriver(sql, where, sql, options.schema);
  try {
    if (options.schema) {
      // CREATE SCHEMA IF NOT EXISTS races between connections (a unique violation): take turns.
      const schema = options.schema.replaceAll('"', '""');
      await sql.begin(async (tx) => {
        await tx.unsafe(`SELECT pg_advisory_xact_lock(${POSTGRES_MIGRATION_LOCK})`);
        await tx.unsafe(`CREATE SCHEMA IF NOT EXISTS "${schema}"`);
      });
    }
    await sql`SELECT 1`;
  } catch (error) {
    await sql.end({ timeout: 1 }).catch(() => {});
    throw wrap(error, where);
  }
  return driver;
}
