/**
 * `deno task compile`: builds the single `dist/toros` executable with the
 * narrowest permissions the daemons need and the worker modules included.
 *
 * `deno compile` needs Deno's `denort` runtime, which it downloads once per
 * version. Offline, point `DENORT_BIN` (Deno's own variable) at a local copy.
 *
 * @module
 */

const root = new URL("..", import.meta.url).pathname;

/** Permissions baked into the binary: files, network, environment, the host name for job leases, thread priority. */
export const PERMISSIONS: string[] = [
  "--allow-read",
  "--allow-write",
  "--allow-net",
  "--allow-env",
  "--allow-sys=hostname,getPriority,setPriority",
];

/** Modules loaded as Web Workers, which `deno compile` cannot discover by itself. */
export const WORKERS: string[] = [
  "lib/ccd/_worker.ts",
  "lib/_sha256_worker.ts",
  "services/preprocessor/_reduction_worker.ts",
];

/** The `deno compile` arguments for an output path. */
export function compileArgs(output: string): string[] {
  return [
    "compile",
    ...PERMISSIONS,
    ...WORKERS.flatMap((worker) => ["--include", `${root}${worker}`]),
    "--output",
    output,
    `${root}main.ts`,
  ];
}

async function main(): Promise<number> {
  const output = Deno.args[0] ?? `${root}dist/toros`;
  const denort = Deno.env.get("DENORT_BIN");
  if (denort) {
    try {
      await Deno.stat(denort);
    } catch {
      console.error(`compile: DENORT_BIN is set to ${denort}, which does not exist`);
      return 1;
    }
  }
  await Deno.mkdir(output.slice(0, output.lastIndexOf("/")) || ".", { recursive: true });
  const result = await new Deno.Command(Deno.execPath(), {
    args: compileArgs(output),
    stdout: "inherit",
    stderr: "piped",
  }).output();
  const stderr = new TextDecoder().decode(result.stderr);
  if (!result.success) {
    await Deno.stderr.write(result.stderr);
    if (!denort && /denort|download|error sending request|dns error|connect/i.test(stderr)) {
      console.error(
        "\ncompile: deno could not download its denort runtime. On a host without network access,\n" +
          `download denort ${Deno.version.deno} for this platform elsewhere and set DENORT_BIN=/path/to/denort.`,
      );
    }
    return 1;
  }
  console.log(`Built ${output} (toros, permissions: ${PERMISSIONS.join(" ")})`);
  return 0;
}

if (import.meta.main) Deno.exit(await main());
