/**
 * Optional peers for the tests (astropy, ccdproc, fitsverify, PostgreSQL, Python's xmlrpc.client,
 * indiserver with the INDI simulators, Debian's chromium for the browser tests).
 *
 * A test that needs a missing peer is reported as ignored and prints why. With
 * `TOROS_REQUIRE_PEERS=1` (set by `.ci/run`) a missing peer fails the test instead,
 * so CI can never pass by skipping.
 *
 * @module
 */

/** The Python that has Debian's astropy/ccdproc/numpy. */
export const PYTHON = "/usr/bin/python3";

/** The browser the browser tests drive (Debian's `chromium`), or `TOROS_CHROMIUM`. */
export const CHROMIUM = Deno.env.get("TOROS_CHROMIUM") ?? "/usr/bin/chromium";

/** A peer a test may need. */
export type Peer = "astropy" | "ccdproc" | "fitsverify" | "python" | "indi" | "chromium" | "netns";

/** Where a test finds PostgreSQL's own programs (initdb, pg_ctl) to run a server of its own. */
export async function postgresBinDir(): Promise<string | null> {
  try {
    const versions: string[] = [];
    for await (const entry of Deno.readDir("/usr/lib/postgresql")) versions.push(entry.name);
    for (const version of versions.sort((a, b) => Number(b) - Number(a))) {
      const dir = `/usr/lib/postgresql/${version}/bin`;
      if ((await Deno.stat(`${dir}/initdb`).catch(() => null))?.isFile) return dir;
    }
  } catch { /* not installed */ }
  return null;
}

/** Whether missing peers must fail the run (CI). */
export const REQUIRE_PEERS = Deno.env.get("TOROS_REQUIRE_PEERS") === "1";

const cache = new Map<string, string | null>();

async function runs(cmd: string, args: string[]): Promise<boolean> {
  try {
    const out = await new Deno.Command(cmd, { args, stdout: "null", stderr: "null" }).output();
    return out.success;
  } catch {
    return false;
  }
}

/** Checks one peer; returns null when present, else the reason it is missing. */
export async function missingPeer(name: Peer): Promise<string | null> {
  if (cache.has(name)) return cache.get(name)!;
  let reason: string | null = null;
  switch (name) {
    case "python":
      if (!await runs(PYTHON, ["-c", "import xmlrpc.client"])) reason = `${PYTHON} is not installed`;
      break;
    case "astropy":
      if (!await runs(PYTHON, ["-c", "import astropy.io.fits, numpy"])) {
        reason = "python3-astropy is not installed (apt-get install python3-astropy)";
      }
      break;
    case "ccdproc":
      if (!await runs(PYTHON, ["-c", "import ccdproc"])) {
        reason = "python3-ccdproc is not installed (apt-get install python3-ccdproc)";
      }
      break;
    case "fitsverify":
      if (!await runs("sh", ["-c", "command -v fitsverify"])) {
        reason = "fitsverify is not installed (apt-get install fitsverify)";
      }
      break;
    case "indi": {
      const programs = [
        "indiserver",
        "indi_simulator_telescope",
        "indi_simulator_ccd",
        "indi_simulator_wheel",
        "indi_simulator_dome",
        "indi_simulator_weather",
      ];
      const missing: string[] = [];
      for (const program of programs) {
        if (!await runs("sh", ["-c", `command -v ${program}`])) missing.push(program);
      }
      if (missing.length > 0) reason = `${missing.join(", ")} not installed (apt-get install indi-bin)`;
      break;
    }
    case "netns": {
      // Hosts as network namespaces on this machine, with a PostgreSQL server of the test's own.
      const missing: string[] = [];
      if (Deno.uid() !== 0) missing.push("root (network namespaces, veth links and a bridge need it)");
      for (const program of ["ip", "unshare", "runuser"]) {
        if (!await runs("sh", ["-c", `command -v ${program}`])) missing.push(program);
      }
      if (!await postgresBinDir()) {
        missing.push("PostgreSQL's initdb and pg_ctl (apt-get install postgresql)");
      }
      if (missing.length > 0) reason = `needs ${missing.join(", ")} (apt-get install iproute2 util-linux)`;
      break;
    }
    case "chromium":
      if (!await runs(CHROMIUM, ["--version"])) {
        reason = `${CHROMIUM} does not run (apt-get install chromium)`;
      }
      break;
  }
  cache.set(name, reason);
  return reason;
}

/** The PostgreSQL URL for tests, or null with the reason printed. */
export function postgresTestUrl(): string | null {
  return Deno.env.get("TOROS_TEST_DATABASE_URL") ?? null;
}

/**
 * Registers a test that needs peers. When one is missing the test is ignored with
 * the reason printed, or fails under `TOROS_REQUIRE_PEERS=1`.
 *
 * Peer availability is checked before registration, so call it with top-level await:
 * `await peerTest("reads astropy files", ["astropy"], async () => { ... })`.
 */
export async function peerTest(
  name: string,
  peers: Peer[],
  fn: (t: Deno.TestContext) => Promise<void> | void,
): Promise<void> {
  const reasons: string[] = [];
  for (const peer of peers) {
    const reason = await missingPeer(peer);
    if (reason) reasons.push(reason);
  }
  if (reasons.length === 0) {
    Deno.test(name, fn);
  } else if (REQUIRE_PEERS) {
    Deno.test(name, () => {
      throw new Error(`Peer missing and TOROS_REQUIRE_PEERS=1: ${reasons.join("; ")}`);
    });
  } else {
    console.warn(`SKIP ${name}: ${reasons.join("; ")}`);
    Deno.test({ name: `${name} (skipped: ${reasons.join("; ")})`, ignore: true, fn });
  }
}

/** Runs `/usr/bin/python3 -c SCRIPT ARGS...`, returning stdout; throws with stderr on failure. */
export async function runPython(script: string, args: string[] = []): Promise<string> {
  const out = await new Deno.Command(PYTHON, {
    args: ["-c", script, ...args],
    stdout: "piped",
    stderr: "piped",
  })
    .output();
  const stdout = new TextDecoder().decode(out.stdout);
  if (!out.success) {
    throw new Error(`python failed (${out.code}): ${new TextDecoder().decode(out.stderr)}\n${stdout}`);
  }
  return stdout;
}

/**
 * Registers a test that needs PostgreSQL (`TOROS_TEST_DATABASE_URL`); skipped loudly
 * when unset, failed instead under `TOROS_REQUIRE_PEERS=1`.
 */
export function postgresTest(name: string, fn: (url: string) => Promise<void>): void {
  const url = postgresTestUrl();
  if (url) {
    Deno.test(name, () => fn(url));
  } else if (REQUIRE_PEERS) {
    Deno.test(name, () => {
      throw new Error("TOROS_TEST_DATABASE_URL is not set and TOROS_REQUIRE_PEERS=1");
    });
  } else {
    const reason = "TOROS_TEST_DATABASE_URL is not set (e.g. postgres://postgres@127.0.0.1:5432/test)";
    console.warn(`SKIP ${name}: ${reason}`);
    Deno.test({ name: `${name} (skipped: ${reason})`, ignore: true, fn: () => {} });
  }
}

/** A schema name no other test run uses. */
export function uniqueSchema(prefix = "toros_test"): string {
  return `${prefix}_${Date.now().toString(36)}_${crypto.randomUUID().slice(0, 8)}`;
}

/** Drops a test schema (best effort). */
export async function dropSchema(url: string, schema: string): Promise<void> {
  const { default: postgres } = await import("postgres");
  const sql = postgres(url, { max: 1, onnotice: () => {}, connect_timeout: 5 });
  try {
    await sql.unsafe(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  } finally {
    await sql.end({ timeout: 5 });
  }
}
