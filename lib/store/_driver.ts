/**
 * What the SQL store needs from a database connection: the two backends
 * (node:sqlite, postgres.js) implement this, and everything else is shared.
 *
 * @module
 */

/** A row as returned by a driver. */
export type Row = Record<string, unknown>;

/** A connection (or a transaction on one). Placeholders are written `?` and converted per dialect. */
export interface SqlDriver {
  readonly dialect: "sqlite" | "postgres";
  /** Runs a statement and returns its rows (empty for statements without RETURNING). */
  query(sql: string, params?: unknown[]): Promise<Row[]>;
  /** Runs several statements with no parameters (DDL). */
  exec(sql: string): Promise<void>;
  /**
   * Runs `fn` in a transaction that takes the write lock at once (SQLite BEGIN IMMEDIATE;
   * PostgreSQL a normal transaction). Commits when `fn` resolves, rolls back when it throws.
   */
  transaction<T>(fn: (tx: SqlDriver) => Promise<T>): Promise<T>;
  /**
   * Tells every listener of `channel` on any connection (PostgreSQL `NOTIFY`: inside a transaction,
   * at its commit); nothing on SQLite, whose listeners look every so often instead.
   */
  notify(channel: string, payload: string): Promise<void>;
  /**
   * Calls `fn` with each payload sent to `channel` (PostgreSQL `LISTEN`, on a connection of its own);
   * resolves with a function that stops listening, or null on SQLite.
   */
  listen(channel: string, fn: (payload: string) => void): Promise<(() => Promise<void>) | null>;
  /** Closes the connection. */
  close(): Promise<void>;
}
