/**
 * Where a product's previews live and whether they are up to date: two
 * zscale PNGs (lib/preview) beside the product, in a `.previews` directory of
 * the products directory (`products/.previews/calib_a.thumb.png`, `calib_a.png`).
 * They are made once, on the reduction thread after a night's reduction, for
 * every product of the night whose previews are missing or older than the
 * product; the web page only reads them, never makes them.
 *
 * @module
 */
import { PREVIEW_SIZES, writePreviews } from "../../lib/preview/mod.ts";

/** The directory, beside the products, that holds their previews. */
export const PREVIEW_DIR = ".previews";

/** The two previews of a product. */
export type PreviewSize = "thumbnail" | "large";

/** Paths of a product's previews. */
export interface PreviewPaths {
  /** {@link PREVIEW_SIZES}.thumbnail pixels on the longer side. */
  thumbnail: string;
  /** {@link PREVIEW_SIZES}.large pixels on the longer side. */
  large: string;
}

/** The previews of the product at `productPath` (an absolute path). */
export function previewPaths(productPath: string): PreviewPaths {
  const slash = productPath.lastIndexOf("/");
  const dir = `${productPath.slice(0, slash)}/${PREVIEW_DIR}`;
  const base = productPath.slice(slash + 1).replace(/\.(fits?|fts)(\.gz)?$/i, "");
  return { thumbnail: `${dir}/${base}.thumb.png`, large: `${dir}/${base}.png` };
}

/** Whether a product's previews can be shown: `ready`, `missing`, or `stale` (older than the product). */
export type PreviewState = "ready" | "missing" | "stale";

async function mtimeOf(path: string): Promise<number | null> {
  try {
    return (await Deno.stat(path)).mtime?.getTime() ?? 0;
  } catch {
    return null;
  }
}

/** Whether the previews of the product at `productPath` are there and as new as the product. */
export async function previewState(productPath: string): Promise<PreviewState> {
  const paths = previewPaths(productPath);
  const [product, thumbnail, large] = await Promise.all([
    mtimeOf(productPath),
    mtimeOf(paths.thumbnail),
    mtimeOf(paths.large),
  ]);
  if (thumbnail === null || large === null) return "missing";
  return product !== null && (thumbnail < product || large < product) ? "stale" : "ready";
}

/** What {@link makePreviews} did. */
export interface PreviewsMade {
  /** Products whose previews were made now. */
  made: number;
  /** Products whose previews were already up to date. */
  upToDate: number;
  /** Products whose previews could not be made, with the reason. */
  failed: { path: string; reason: string }[];
}

/** How {@link makePreviews} works. */
export interface MakePreviewsOptions {
  /** Stops between products (what is made stays). */
  signal?: AbortSignal;
  /** Called after each product: products looked at and how many there are. */
  onProgress?: (done: number, total: number) => void;
}

/** Removes half-written PNGs an interrupted run left (`.NAME.xxxxxxxx.tmp`, the atomic writer's names). */
async function removeStaleTemporaries(dir: string): Promise<void> {
  try {
    for await (const entry of Deno.readDir(dir)) {
      if (entry.isFile && /^\..+\.[0-9a-f]{8}\.tmp$/.test(entry.name)) {
        await Deno.remove(`${dir}/${entry.name}`).catch(() => {});
      }
    }
  } catch { /* no directory yet */ }
}

/**
 * The previews directory beside `productPath`, created if need be; refused when
 * it is a symbolic link (previews are never written through one, as products are not).
 */
async function previewDirOf(
  productPath: string,
  checked: Map<string, string | null>,
): Promise<string | null> {
  const dir = previewPaths(productPath).thumbnail.replace(/\/[^/]*$/, "");
  if (checked.has(dir)) return checked.get(dir)!;
  let problem: string | null = null;
  try {
    const info = await Deno.lstat(dir);
    if (info.isSymlink) problem = `${dir} is a symbolic link: previews are not written through it`;
    else if (!info.isDirectory) problem = `${dir} is not a directory`;
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
    await Deno.mkdir(dir, { recursive: true });
  }
  if (problem === null) await removeStaleTemporaries(dir);
  checked.set(dir, problem);
  return problem;
}

/**
 * Makes the previews of every product in `productPaths` whose previews are
 * missing or older than it, one product after the other (each read once, in
 * row bands). A product that cannot be read is reported, and the others go on.
 */
export async function makePreviews(
  productPaths: readonly string[],
  options: MakePreviewsOptions = {},
): Promise<PreviewsMade> {
  const result: PreviewsMade = { made: 0, upToDate: 0, failed: [] };
  const dirs = new Map<string, string | null>();
  for (const [index, path] of productPaths.entries()) {
    if (options.signal?.aborted) break;
    try {
      if (await previewState(path) === "ready") {
        result.upToDate++;
      } else {
        const problem = await previewDirOf(path, dirs);
        if (problem) throw new Error(problem);
        await writePreviews(path, previewPaths(path), { sizes: PREVIEW_SIZES });
        result.made++;
      }
    } catch (error) {
      result.failed.push({ path, reason: error instanceof Error ? error.message : String(error) });
    }
    options.onProgress?.(index + 1, productPaths.length);
  }
  return result;
}
