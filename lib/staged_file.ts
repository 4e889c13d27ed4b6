/**
 * A file that appears whole or not at all: written under a temporary name in
 * the same directory (`.NAME.XXXXXXXX.tmp`, so a rename never crosses a file
 * system), synced, then renamed over its final path; abandoned, the temporary
 * file is removed. What every product, FITS or preview, is written through.
 *
 * @module
 */

/** A temporary file standing in for `path` until {@link StagedFile.commit}. */
export class StagedFile {
  /** The final path. */
  readonly path: string;
  /** The temporary file written until `commit`. */
  readonly tempPath: string;
  /** The open temporary file. */
  readonly file: Deno.FsFile;
  #finished = false;

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

  /** Syncs and closes the temporary file and renames it over the final path. */
  async commit(): Promise<void> {
    await this.file.sync();
    this.file.close();
    this.#finished = true;
    await Deno.rename(this.tempPath, this.path);
  }

  /** Abandons the write: closes and removes the temporary file (the final path is untouched). */
  async abort(): Promise<void> {
    if (!this.#finished) {
      this.#finished = true;
      try {
        this.file.close();
      } catch { /* already closed */ }
    }
    await Deno.remove(this.tempPath).catch(() => {});
  }
}
