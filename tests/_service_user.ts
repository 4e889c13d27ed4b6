/**
 * A daemon started as the installed unit runs it: in a subprocess, as an
 * unprivileged user (`User=toros` in the unit), so file permissions mean in a
 * test what they mean on an observatory host. Root reads everything, so when
 * the tests run as root the daemon is started as `nobody` through `setpriv`
 * (util-linux) with a copy of Deno's cache it can read.
 *
 * @module
 */

const MAIN = new URL("../main.ts", import.meta.url).pathname;

/** The user `nobody` (Debian's uid and gid 65534). */
export const UNPRIVILEGED_ID = 65534;

/** Whether the tests run as root (and must drop to {@link UNPRIVILEGED_ID} for permissions to mean anything). */
export function runningAsRoot(): boolean {
  return Deno.uid() === 0;
}

/** Why a daemon cannot be started unprivileged here, or null when it can. */
export async function missingUnprivileged(): Promise<string | null> {
  if (!runningAsRoot()) return null;
  try {
    const out = await new Deno.Command("setpriv", { args: ["--version"], stdout: "null", stderr: "null" })
      .output();
    return out.success ? null : "setpriv (util-linux) does not run";
  } catch {
    return "setpriv (util-linux) is not installed";
  }
}

let denoDir: Promise<string> | null = null;

/** A copy of Deno's cache the unprivileged user can read and write (made once per test file). */
function unprivilegedDenoDir(): Promise<string> {
  return denoDir ??= (async () => {
    const info = await new Deno.Command(Deno.execPath(), { args: ["info", "--json"], stdout: "piped" })
      .output();
    const source = JSON.parse(new TextDecoder().decode(info.stdout)).denoDir as string;
    const copy = await Deno.makeTempDir({ prefix: "toros-deno-dir-" });
    const cp = await new Deno.Command("cp", { args: ["-a", `${source}/.`, copy] }).output();
    if (!cp.success) throw new Error(`Could not copy Deno's cache ${source} to ${copy}`);
    await giveToUnprivileged(copy);
    return copy;
  })();
}

/** Makes a directory tree belong to the unprivileged user (when running as root). */
export async function giveToUnprivileged(path: string): Promise<void> {
  if (!runningAsRoot()) return;
  const out = await new Deno.Command("chown", {
    args: ["-R", `${UNPRIVILEGED_ID}:${UNPRIVILEGED_ID}`, path],
  }).output();
  if (!out.success) throw new Error(`chown of ${path} failed`);
}

/**
 * Starts `toros ARGS...` (e.g. `serve preprocessor --config PATH`) as the
 * unprivileged user, with its stderr piped for the test to show on failure.
 */
export async function spawnUnprivileged(args: string[], home: string): Promise<Deno.ChildProcess> {
  const deno = [Deno.execPath(), "run", "--allow-all", "--cached-only", MAIN, ...args];
  if (!runningAsRoot()) {
    return new Deno.Command(deno[0], { args: deno.slice(1), stdout: "null", stderr: "piped" }).spawn();
  }
  const env = { DENO_DIR: await unprivilegedDenoDir(), HOME: home, NO_COLOR: "1" };
  return new Deno.Command("setpriv", {
    args: [
      `--reuid=${UNPRIVILEGED_ID}`,
      `--regid=${UNPRIVILEGED_ID}`,
      "--clear-groups",
      "--",
      ...deno,
    ],
    env,
    stdout: "null",
    stderr: "piped",
  }).spawn();
}
