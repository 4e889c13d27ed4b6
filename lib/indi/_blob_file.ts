/**
 * A BLOB member's payload written straight to a file as it is decoded: to a
 * temporary name beside the destination, renamed into place only when the
 * payload was whole, removed when it was not. A reader of the destination
 * never sees half an image.
 *
 * @module
 */
import type { BlobSink } from "./_stream.ts";
import { propertyLabel } from "./errors.ts";
import type { BlobFile, BlobHeader } from "./types.ts";

/** How a received BLOB ended: the file, or why there is none. */
export type BlobOutcome = { file: BlobFile; error?: undefined } | { file?: undefined; error: Error };

/**
 * Checks the decoded length against the declared size; a `.z` format is
 * compressed, so its declared size is the uncompressed one and cannot be checked.
 */
export function sizeProblem(header: BlobHeader, decoded: number): Error | undefined {
  if (Number.isNaN(header.size) || header.format.endsWith(".z") || header.size === decoded) return undefined;
  return new Error(
    `BLOB ${
      propertyLabel(header.device, header.property, header.member)
    } decoded to ${decoded} bytes but the driver declared ${header.size}`,
  );
}

/** A sink that counts a BLOB's bytes and keeps none of them. */
export function countingSink(header: BlobHeader, done: (outcome: BlobOutcome) => void): BlobSink {
  return {
    write(): Promise<void> {
      return Promise.resolve();
    },
    end(error: Error | undefined, decoded: number): Promise<void> {
      const problem = error ?? sizeProblem(header, decoded);
      done(problem ? { error: problem } : { file: blobFile(header, decoded, undefined) });
      return Promise.resolve();
    },
  };
}

/** A sink that writes a BLOB to `path` through a temporary file in the same directory. */
export function fileSink(header: BlobHeader, path: string, done: (outcome: BlobOutcome) => void): BlobSink {
  const temporary = `${path}.${crypto.randomUUID().slice(0, 8)}.part`;
  let file: Deno.FsFile | null = null;
  let failure: Error | undefined;
  async function open(): Promise<Deno.FsFile> {
    file ??= await Deno.open(temporary, { write: true, createNew: true });
    return file;
  }
  return {
    async write(bytes: Uint8Array): Promise<void> {
      if (failure) return;
      try {
        const target = await open();
        let written = 0;
        while (written < bytes.length) written += await target.write(bytes.subarray(written));
      } catch (error) {
        failure = new Error(`Cannot write BLOB ${label(header)} to ${temporary}: ${message(error)}`, {
          cause: error,
        });
      }
    },
    async end(error: Error | undefined, decoded: number): Promise<void> {
      let problem = failure ?? error ?? sizeProblem(header, decoded);
      if (!problem) {
        try {
          const target = await open(); // an empty BLOB still makes a file
          target.close();
          file = null;
          await Deno.rename(temporary, path);
        } catch (renameError) {
          problem = new Error(`Cannot write BLOB ${label(header)} to ${path}: ${message(renameError)}`, {
            cause: renameError,
          });
        }
      }
      if (problem) {
        try {
          file?.close();
        } catch {
          // already closed
        }
        file = null;
        await Deno.remove(temporary).catch(() => {});
        done({ error: problem });
        return;
      }
      done({ file: blobFile(header, decoded, path) });
    },
  };
}

function blobFile(header: BlobHeader, decoded: number, path: string | undefined): BlobFile {
  const size = Number.isNaN(header.size) ? decoded : header.size;
  return { ...header, size, bytes: decoded, path };
}

function label(header: BlobHeader): string {
  return propertyLabel(header.device, header.property, header.member);
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
