/**
 * The store's error: says which database and what went wrong, never a password.
 *
 * @module
 */

/** A database could not be opened, reached or used; the message is safe to show to a user. */
export class StoreError extends Error {
  /** Creates the error. */
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "StoreError";
  }
}

/**
 * A write made under a task's lease was refused: the lease has expired (or is about to), the task
 * was cancelled, or another worker holds it now. Nothing was written; the work stops.
 */
export class LeaseLostError extends StoreError {
  /** Creates the error. */
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "LeaseLostError";
  }
}
