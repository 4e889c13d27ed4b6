/**
 * Confinement to the data roots (`Data: Roots`): a night a work order names must
 * resolve, symlinks followed, inside one of them, and must still do so when the
 * job runs and while its products are written. A directory swapped for a symlink
 * after the order was accepted is caught because the stored path is the real
 * path: resolved again, it no longer equals itself.
 *
 * @module
 */
import { sep as SEPARATOR } from "node:path";

/** A location outside the data roots, missing, not a directory, or unreadable; the message says which. */
export class LocationError extends Error {
  /** Creates the error. */
  constructor(message: string) {
    super(message);
    this.name = "LocationError";
  }
}

/** Whether `path` is `root` or lies under it (both real, absolute paths). */
export function isInside(path: string, root: string): boolean {
  return path === root || path.startsWith(root.endsWith(SEPARATOR) ? root : `${root}${SEPARATOR}`);
}

/** The real paths of the roots that exist (a root that does not exist holds nothing). */
export async function realRoots(roots: string[]): Promise<string[]> {
  const real: string[] = [];
  for (const root of roots) {
    try {
      real.push(await Deno.realPath(root));
    } catch { /* a missing root confines nothing */ }
  }
  return real;
}

function rootsText(roots: string[]): string {
  return roots.join(", ") || "none configured";
}

/**
 * Resolves a night directory (symlinks followed) and checks that it lies inside
 * a data root, is a directory, and that this process may list it. Returns the
 * real path, which is what a job stores and works on.
 */
export async function resolveInsideRoots(location: string, roots: string[]): Promise<string> {
  let real: string;
  try {
    real = await Deno.realPath(location);
  } catch (error) {
    const reason = error instanceof Deno.errors.PermissionDenied
      ? "cannot be reached (permission denied)"
      : "does not exist";
    throw new LocationError(`File Location ${location} ${reason}`);
  }
  if (!(await realRoots(roots)).some((root) => isInside(real, root))) {
    throw new LocationError(`File Location ${location} is outside the data roots (${rootsText(roots)})`);
  }
  const info = await Deno.stat(real);
  if (!info.isDirectory) throw new LocationError(`File Location ${location} is not a directory`);
  try {
    // Listing needs read and search permission on the directory (a mode 0311 or 000 night has neither).
    for await (const _ of Deno.readDir(real)) break;
  } catch (error) {
    const reason = error instanceof Deno.errors.PermissionDenied
      ? "permission denied"
      : error instanceof Error
      ? error.message
      : String(error);
    throw new LocationError(`File Location ${location} cannot be read by the service (${reason})`);
  }
  return real;
}

/**
 * Checks that a real directory path found earlier still resolves to itself and
 * lies inside a data root: throws {@link LocationError} naming where it now
 * leads when a component was replaced by a symlink (or the directory is gone).
 */
export async function assertStillInside(realDir: string, roots: string[]): Promise<void> {
  let now: string;
  try {
    now = await Deno.realPath(realDir);
  } catch {
    throw new LocationError(`Directory ${realDir} no longer exists`);
  }
  if (now !== realDir) {
    const inside = (await realRoots(roots)).some((root) => isInside(now, root));
    throw new LocationError(
      `Directory ${realDir} now resolves to ${now}${
        inside ? "" : `, outside the data roots (${rootsText(roots)})`
      }: it was replaced by a symbolic link after the work order was accepted`,
    );
  }
  if (!(await realRoots(roots)).some((root) => isInside(now, root))) {
    throw new LocationError(`Directory ${realDir} is outside the data roots (${rootsText(roots)})`);
  }
}
