/**
 * Keeps `bench/RESULTS.md` made of one section per benchmark, each replaced in
 * place between `<!-- name:start -->` and `<!-- name:end -->` markers.
 *
 * @module
 */

/** Path of the results file. */
export const RESULTS_PATH: string = new URL("./RESULTS.md", import.meta.url).pathname;

/** Replaces (or appends) the section `name` of RESULTS.md with `markdown`. */
export async function writeResultsSection(name: string, markdown: string): Promise<void> {
  let text = "";
  try {
    text = await Deno.readTextFile(RESULTS_PATH);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
    text =
      "# Benchmark results\n\nWritten by `deno task bench`; each section is replaced when its benchmark runs.\n";
  }
  const start = `<!-- ${name}:start -->`;
  const end = `<!-- ${name}:end -->`;
  const block = `${start}\n${markdown.trim()}\n${end}`;
  const from = text.indexOf(start);
  const to = text.indexOf(end);
  text = from >= 0 && to > from
    ? text.slice(0, from) + block + text.slice(to + end.length)
    : `${text.trimEnd()}\n\n${block}\n`;
  const tmp = `${RESULTS_PATH}.tmp`;
  await Deno.writeTextFile(tmp, text);
  await Deno.rename(tmp, RESULTS_PATH);
  // Keep `deno fmt --check` (and so `deno task check`) clean after every run.
  await new Deno.Command(Deno.execPath(), {
    args: ["fmt", "--quiet", RESULTS_PATH],
    stdout: "null",
    stderr: "null",
  })
    .output();
}

/** A short description of this machine for result headers. */
export async function machineLine(): Promise<string> {
  let cpu = "unknown CPU";
  try {
    const info = await Deno.readTextFile("/proc/cpuinfo");
    cpu = info.match(/model name\s*:\s*(.*)/)?.[1]?.trim() ?? cpu;
  } catch { /* not Linux */ }
  return `${navigator.hardwareConcurrency} cores, ${cpu}, Deno ${Deno.version.deno}, ${
    new Date().toISOString()
  }`;
}
