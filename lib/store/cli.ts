/**
 * `toros products [NIGHT] [--json]`, `toros nights [--json]` and `toros qc
 * [NIGHT] [--all] [--json]`: what the catalog holds, with each product's raw
 * exposures and the masters it used, and what quality control said.
 *
 * @module
 */
import { type GlobalOptions, parseCommandArgs, UsageError } from "../cli.ts";
import { loadConfigOrThrow } from "../config.ts";
import { openStore } from "./mod.ts";
import type { ProductRecord, QcVerdictRecord, Store } from "./types.ts";
import { verdictLine } from "./verdict_line.ts";

async function withStore<T>(options: GlobalOptions, fn: (store: Store) => Promise<T>): Promise<T> {
  const config = await loadConfigOrThrow(options.configPath);
  const store = await openStore(config.database);
  try {
    return await fn(store);
  } finally {
    await store.close();
  }
}

function baseName(path: string): string {
  return path.slice(path.lastIndexOf("/") + 1);
}

/** Renders products as a readable list: kind, file, inputs and masters. */
export function renderProducts(products: ProductRecord[]): string {
  if (products.length === 0) return "No products.";
  const lines: string[] = [];
  for (const product of products) {
    const detail = [
      product.filter ? `filter ${product.filter}` : "",
      product.exposureTime !== null ? `${product.exposureTime} s` : "",
      `${product.width}x${product.height}`,
      product.nCombined > 1 ? `${product.nCombined} combined` : "",
    ].filter(Boolean).join(", ");
    lines.push(`${product.kind.padEnd(16)} ${product.path}  (${detail})`);
    if (product.inputs.length > 0) {
      lines.push(`    from: ${product.inputs.map((input) => input.fileName).join(", ")}`);
    }
    if (product.uses.length > 0) {
      lines.push(`    used: ${product.uses.map((use) => baseName(use.path)).join(", ")}`);
    }
    for (const warning of product.warnings) lines.push(`    warning: ${warning}`);
  }
  return lines.join("\n");
}

/** The catalog's night for a directory given on the command line (its real path when it exists), or null. */
async function findNight(store: Store, nightArg: string): Promise<{ id: number; directory: string } | null> {
  let directory = nightArg;
  try {
    directory = await Deno.realPath(nightArg);
  } catch { /* the night may no longer exist on disk; look it up as given */ }
  const night = await store.getNight(directory);
  if (!night) console.error(`toros: no night ${directory} in ${store.description}`);
  return night ? { id: night.id, directory } : null;
}

/** Runs `toros products [NIGHT] [--json]`. */
export async function productsCommand(args: string[], options: GlobalOptions): Promise<number> {
  const { values, positionals } = parseCommandArgs(args, { json: { type: "boolean" } });
  if (positionals.length > 1) throw new UsageError(`Unexpected argument '${positionals[1]}'`);
  const [nightArg] = positionals;
  return await withStore(options, async (store) => {
    let nightId: number | undefined;
    if (nightArg !== undefined) {
      const night = await findNight(store, nightArg);
      if (!night) return 1;
      nightId = night.id;
    }
    const products = await store.listProducts({ nightId });
    console.log(values.json ? JSON.stringify(products, null, 2) : renderProducts(products));
    return 0;
  });
}

/**
 * Renders a night's verdicts: every one that is not a pass, one a line, then
 * how many passed (`all`: the passes too).
 */
export function renderVerdicts(verdicts: QcVerdictRecord[], all = false): string {
  if (verdicts.length === 0) return "No quality-control verdicts.";
  const shown = all ? verdicts : verdicts.filter((verdict) => verdict.verdict !== "pass");
  const passed = verdicts.length - verdicts.filter((verdict) => verdict.verdict !== "pass").length;
  const lines = shown.map(verdictLine);
  if (!all) lines.push(`${passed} of ${verdicts.length} checks passed`);
  return lines.join("\n");
}

/** Runs `toros qc [NIGHT] [--all] [--json]`: the verdicts of one night, or of every night. */
export async function qcCommand(args: string[], options: GlobalOptions): Promise<number> {
  const { values, positionals } = parseCommandArgs(args, {
    json: { type: "boolean" },
    all: { type: "boolean" },
  });
  if (positionals.length > 1) throw new UsageError(`Unexpected argument '${positionals[1]}'`);
  const [nightArg] = positionals;
  return await withStore(options, async (store) => {
    const nights = nightArg === undefined ? await store.listNights() : [await findNight(store, nightArg)];
    if (nights.some((night) => night === null)) return 1;
    const found: { directory: string; verdicts: QcVerdictRecord[] }[] = [];
    for (const night of nights as { id: number; directory: string }[]) {
      found.push({ directory: night.directory, verdicts: await store.listVerdicts({ nightId: night.id }) });
    }
    if (values.json) {
      const json = found.map(({ directory, verdicts }) => ({
        night: directory,
        verdicts: values.all ? verdicts : verdicts.filter((verdict) => verdict.verdict !== "pass"),
        checks: verdicts.length,
        passed: verdicts.filter((verdict) => verdict.verdict === "pass").length,
      }));
      console.log(JSON.stringify(nightArg === undefined ? json : json[0], null, 2));
    } else if (found.length === 0) {
      console.log("No nights.");
    } else {
      console.log(
        found.map(({ directory, verdicts }) =>
          `${directory}\n${renderVerdicts(verdicts, values.all === true)}`
        ).join(
          "\n\n",
        ),
      );
    }
    return 0;
  });
}

/** Runs `toros nights [--json]`. */
export async function nightsCommand(args: string[], options: GlobalOptions): Promise<number> {
  const { values, positionals } = parseCommandArgs(args, { json: { type: "boolean" } });
  if (positionals.length > 0) throw new UsageError(`Unexpected argument '${positionals[0]}'`);
  return await withStore(options, async (store) => {
    const nights = await store.listNights();
    if (values.json) {
      console.log(JSON.stringify(nights, null, 2));
    } else if (nights.length === 0) {
      console.log("No nights.");
    } else {
      console.log(`${"date".padEnd(10)}  ${"exposures".padStart(9)}  ${"products".padStart(8)}  directory`);
      for (const night of nights) {
        console.log(
          `${(night.date ?? "-").padEnd(10)}  ${String(night.exposures).padStart(9)}  ${
            String(night.products).padStart(8)
          }  ${night.directory}`,
        );
      }
    }
    return 0;
  });
}
