/**
 * The catalog of nights, exposures, products (with the exposures and masters
 * behind each) and jobs: SQLite by default, PostgreSQL for sites where several
 * hosts share one catalog.
 *
 * @example
 * ```ts
 * import { openStore } from "./mod.ts";
 * const store = await openStore({ file: "/var/lib/toros/toros.sqlite3" });
 * console.log(await store.listNights());
 * await store.close();
 * ```
 *
 * @module
 */
import type { DatabaseConfig } from "../config.ts";
import { openSqlite } from "./_sqlite.ts";
import { describePostgresUrl, openPostgres } from "./_postgres.ts";
import { migrate, SCHEMA_VERSION } from "./migrations.ts";
import { SqlStore } from "./_sql_store.ts";
import { StoreError } from "./errors.ts";
import type { Store } from "./types.ts";

export type * from "./types.ts";
export { DEFAULT_SERVICE, MAX_TASK_ATTEMPTS } from "./types.ts";
export { LeaseLostError, StoreError } from "./errors.ts";
export { MIGRATIONS, SCHEMA_VERSION } from "./migrations.ts";

/** Options for {@link openStore}. */
export interface OpenStoreOptions {
  /** PostgreSQL schema to use (created if missing): one per test run. */
  schema?: string;
  /** Migrate only up to this version (tests of upgrades). */
  schemaVersion?: number;
  /** Seconds to wait for PostgreSQL to answer (default 5). */
  connectTimeout?: number;
}

/**
 * Opens the catalog named by the config's `Database:` section, creating and
 * migrating it as needed. Throws {@link StoreError} with a message safe to show.
 */
export async function openStore(database: DatabaseConfig, options: OpenStoreOptions = {}): Promise<Store> {
  const url = database.url;
  if (url && /^postgres(ql)?:\/\//.test(url)) {
    const driver = await openPostgres(url, {
      schema: options.schema,
      connectTimeout: options.connectTimeout,
    });
    try {
      await migrate(driver, options.schemaVersion ?? SCHEMA_VERSION);
    } catch (error) {
      await driver.close();
      throw error;
    }
    const where = describePostgresUrl(url);
    return new SqlStore(driver, options.schema ? `${where} (schema ${options.schema})` : where);
  }
  const path = url ? url.replace(/^sqlite:/, "") : database.file;
  if (!path) throw new StoreError("Database has neither File nor URL");
  const driver = await openSqlite(path);
  try {
    await migrate(driver, options.schemaVersion ?? SCHEMA_VERSION);
  } catch (error) {
    await driver.close();
    throw error;
  }
  return new SqlStore(driver, `sqlite:${path}`);
}
