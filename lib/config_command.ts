/**
 * `toros config check [PATH] [--json]`: validates a config file and prints the
 * effective configuration, each value with where it came from (file or default).
 * Every key comes from the schema (`lib/config/toros_schema.ts`), as does the
 * README's configuration table, which `deno run -A lib/config_command.ts --readme`
 * regenerates.
 *
 * @module
 */
import { type GlobalOptions, parseCommandArgs, UsageError } from "./cli.ts";
import {
  loadConfig,
  type LoadedConfig,
  redactConfig,
  renderConfigTable,
  renderEffective,
  replaceReadmeConfigTable,
  TOROS_SCHEMA,
} from "./config.ts";

/** The command that regenerates the README's configuration table. */
export const README_COMMAND = "deno task docs";

/** Renders the effective config as YAML with a `# file` / `# default` note on each value, every key of the schema. */
export function renderEffectiveConfig(loaded: LoadedConfig): string {
  return renderEffective(TOROS_SCHEMA, loaded);
}

/** The README's configuration table, rendered from the schema. */
export function configTable(): string {
  return renderConfigTable(TOROS_SCHEMA);
}

/**
 * Rewrites the configuration table of the README at `path` from the schema;
 * returns whether the file changed.
 */
export async function updateReadme(path: string): Promise<boolean> {
  const text = await Deno.readTextFile(path);
  const updated = replaceReadmeConfigTable(text, configTable());
  if (updated === text) return false;
  await Deno.writeTextFile(path, updated);
  return true;
}

/** Runs `toros config check`; exit 0 when valid, 1 on any error, 2 on a usage error. */
export async function configCommand(args: string[], options: GlobalOptions): Promise<number> {
  const { values, positionals } = parseCommandArgs(args, { json: { type: "boolean" } });
  const [action, pathArg, ...extra] = positionals;
  if (action !== "check") {
    throw new UsageError(
      action === undefined ? "Missing action (expected 'check')" : `Unknown action '${action}'`,
    );
  }
  if (extra.length > 0) throw new UsageError(`Unexpected argument '${extra[0]}'`);
  const loaded = await loadConfig(pathArg ?? options.configPath);
  if (values.json) {
    const config = redactConfig(TOROS_SCHEMA, loaded.config);
    console.log(JSON.stringify(
      {
        path: loaded.path ?? null,
        valid: loaded.errors.length === 0,
        config,
        sources: loaded.sources,
        warnings: loaded.warnings,
        errors: loaded.errors,
      },
      null,
      2,
    ));
  } else {
    for (const warning of loaded.warnings) console.error(`warning: ${warning.message}`);
    for (const error of loaded.errors) console.error(`error: ${error.message}`);
    if (loaded.errors.length === 0) console.log(renderEffectiveConfig(loaded));
    const verdict = loaded.errors.length === 0 ? "OK" : `${loaded.errors.length} error(s)`;
    console.error(`${loaded.path ?? "embedded defaults"}: ${verdict}, ${loaded.warnings.length} warning(s)`);
  }
  return loaded.errors.length === 0 ? 0 : 1;
}

if (import.meta.main) {
  // `deno run -A lib/config_command.ts --readme [README.md]`: regenerate the README's configuration table.
  const [flag, path = new URL("../README.md", import.meta.url).pathname] = Deno.args;
  if (flag !== "--readme") {
    console.error(`Usage: ${README_COMMAND} [README.md]`);
    Deno.exit(2);
  }
  const changed = await updateReadme(path);
  console.error(`${path}: configuration table ${changed ? "regenerated" : "already current"}`);
}
