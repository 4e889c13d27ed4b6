/**
 * `toros config check [PATH] [--json]`: validates a config file and prints the
 * effective configuration, each value with where it came from (file or default).
 *
 * @module
 */
import { type GlobalOptions, parseCommandArgs, UsageError } from "./cli.ts";
import { loadConfig, type LoadedConfig, type TorosConfig } from "./config.ts";

/** YAML section/key names for each config property, in display order. */
const DISPLAY: { section: string; prop: keyof TorosConfig; keys: [string, string][] }[] = [
  {
    section: "Preprocessor Address",
    prop: "preprocessorAddress",
    keys: [["HTTP", "http"], ["IP", "ip"], ["Port", "port"]],
  },
  { section: "Logging", prop: "logging", keys: [["File", "file"], ["Log Level", "level"]] },
  { section: "Database", prop: "database", keys: [["File", "file"], ["URL", "url"]] },
  { section: "Data", prop: "data", keys: [["Roots", "roots"]] },
  {
    section: "Reduction",
    prop: "reduction",
    keys: [
      ["Combine", "combine"],
      ["Sigma Clip", "sigmaClip"],
      ["MinMax Clip", "minMaxClip"],
      ["Flat Floor", "flatFloor"],
      ["Saturation", "saturation"],
      ["Workers", "workers"],
      ["Band Rows", "bandRows"],
      ["Niceness", "niceness"],
      ["Share While Serving", "shareWhileServing"],
    ],
  },
  {
    section: "Security",
    prop: "security",
    keys: [["Token", "token"], ["Allowed Networks", "allowedNetworks"], ["CORS Origin", "corsOrigin"], [
      "Max Body Bytes",
      "maxBodyBytes",
    ]],
  },
];

function redact(path: string, value: unknown): unknown {
  if (path === "Security.Token" && value) return "********";
  if (path === "Database.URL" && typeof value === "string") {
    try {
      const url = new URL(value);
      if (url.password) url.password = "********";
      return url.toString();
    } catch {
      return value;
    }
  }
  return value;
}

function formatValue(value: unknown): string {
  if (value === null || value === undefined) return "null";
  if (typeof value === "string") return value === "" ? '""' : value;
  return JSON.stringify(value);
}

/** Renders the effective config as YAML-like text with a `# file` / `# default` note on each value. */
export function renderEffectiveConfig(loaded: LoadedConfig): string {
  const lines: string[] = [`# effective configuration (${loaded.path ?? "embedded defaults"})`];
  for (const entry of DISPLAY) {
    lines.push(`${entry.section}:`);
    const section = loaded.config[entry.prop] as unknown as Record<string, unknown>;
    for (const [key, prop] of entry.keys) {
      const path = `${entry.section}.${key}`;
      if (!(prop in section)) continue;
      const value = formatValue(redact(path, section[prop]));
      lines.push(`  ${key}: ${value}`.padEnd(56) + `  # ${loaded.sources[path] ?? "default"}`);
    }
  }
  return lines.join("\n");
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
    const config = structuredClone(loaded.config);
    if (config.security.token) config.security.token = "********";
    if (config.database.url) config.database.url = String(redact("Database.URL", config.database.url));
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
