/**
 * A file that appears whole or not at all: written under a temporary name in
 * the same directory (`.NAME.XXXXXXXX.tmp`, so a rename never crosses a file
 * system), synced, then renamed over its final path; abandoned, the temporary
 * file is removed. What every product, FITS or preview, is written through.
 *
 * Large files are written behind: every {@link WRITE_BEHIND_BYTES} written, the
 * data so far is synced in the background while writing goes on (as
 * PostgreSQL's `backend_flush_after`), so the disk takes a product while the
 * next band is computed and the sync that commits it finds little left to do.
 *
 * @module
 */

/** Bytes written between background syncs of a staged file. */
export const WRITE_BEHIND_BYTES = 8 << 20;

/** A temporary file standing in for `path` until {@link StagedFile.commit}. */
export class StagedFile {
  /** The final path. */
  readonly path: string;
  /** The temporary file written until `commit`. */
  readonly tempPath: string;
  /** The open temporary file. */
  readonly file: Deno.FsFile;
  #finished = false;
  /** Bytes written since the last background sync started. */
  #unsynced = 0;
  /** The background sync in flight, if any. */
  #syncing: Promise<void> | null = null;
  /** The first background sync's failure: the commit reports it (the kernel reports a failed write back once). */
  #syncError: unknown = null;

  private constructor(path: string, tempPath: string, file: Deno.FsFile) {
    this.path = path;
    this.tempPath = tempPath;
    this.file = file;
  }

  /** Creates the temporary file beside `path`; the error says which file could not be created and why. */
  static async open(path: string): Promise<StagedFile> {
    const slash = path.lastIndexOf("/");
    const dir = slash >= 0 ? path.slice(0, slash) || "/" : ".";
    const tempPath = `${dir}/.${path.slice(slash + 1)}.${crypto.randomUUID().slice(0, 8)}.tmp`;
    try {
      return new StagedFile(path, tempPath, await Deno.open(tempPath, { write: true, createNew: true }));
    } catch (error) {
      throw new Error(`cannot create ${tempPath}: ${error instanceof Error ? error.message : error}`);
    }
  }

  /** Whether the file was committed or abandoned (nothing more may be written). */
  get finished(): boolean {
    return this.#finished;
  }

  /**
   * Counts `bytes` just written to {@link file}; past {@link WRITE_BEHIND_BYTES}
   * since the last, starts a background sync of the data so far (unless one is
   * still running).
   */
  wrote(bytes: number): void {
    this.#unsynced += bytes;
    if (this.#unsynced < WRITE_BEHIND_BYTES || this.#syncing || this.#finished) return;
    this.#unsynced = 0;
    this.#syncing = this.file.syncData().catch((error) => {
      this.#syncError ??= error;
    }).finally(() => {
      this.#syncing = null;
    });
  }

  /** Syncs and closes the temporary file and renames it over the final path. */
  async commit(): Promise<void> {
    await this.#syncing;
    if (this.#syncError) throw this.#syncError;
    await this.file.sync();
    this.file.close();
    this.#finished = true;
    await Deno.rename(this.tempPath, this.path);
  }

  /** Abandons the write: closes and removes the temporary file (the final path is untouched). */
  async abort(): Promise<void> {
    await this.#syncing;
    if (!this.#finished) {
      this.#finished = true;
      try {
        this.file.close();
      } catch { /* already closed */ }
    }
    await Deno.remove(this.tempPath).catch(() => {});
  }
}
