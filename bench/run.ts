/**
 * `deno task bench`: runs every benchmark in turn, each side by side with its peer
 * (astropy, ccdproc, Python's DocXMLRPCServer; the window's with chromium), and lets each write its section of
 * `bench/RESULTS.md`. Pass `--quick` for a smoke run, or names to run a subset
 * (`deno task bench reduce`).
 *
 * @module
 */

/** The benchmarks in the order they run: name and module. */
export const BENCHMARKS: { name: string; file: string }[] = [
  { name: "fits", file: "fits_bench.ts" },
  { name: "reduce", file: "reduce_bench.ts" },
  { name: "rpc", file: "rpc_bench.ts" },
  { name: "web", file: "web_bench.ts" },
  { name: "workers", file: "workers_bench.ts" },
];

async function runBenchmarks(args: string[]): Promise<number> {
  const flags = args.filter((arg) => arg.startsWith("--"));
  const names = args.filter((arg) => !arg.startsWith("--"));
  const unknown = names.filter((name) => !BENCHMARKS.some((bench) => bench.name === name));
  if (unknown.length > 0) {
    console.error(
      `Unknown benchmark '${unknown[0]}' (expected one of ${BENCHMARKS.map((b) => b.name).join(", ")})`,
    );
    return 2;
  }
  let failures = 0;
  for (const bench of BENCHMARKS) {
    if (names.length > 0 && !names.includes(bench.name)) continue;
    const path = new URL(`./${bench.file}`, import.meta.url).pathname;
    console.log(`\n=== bench ${bench.name} ===`);
    const status = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-all", path, ...flags],
      stdout: "inherit",
      stderr: "inherit",
    }).spawn().status;
    if (!status.success) {
      console.error(`bench ${bench.name} failed (exit ${status.code})`);
      failures++;
    }
  }
  return failures === 0 ? 0 : 1;
}

if (import.meta.main) {
  Deno.exit(await runBenchmarks(Deno.args));
}
