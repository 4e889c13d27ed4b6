/**
 * Loading `toros.conf.yaml`: {@link TOROS_SCHEMA}'s parser and defaults bound
 * to the state directory, for the commands and services.
 *
 * @module
 */
import { ConfigError, defaultSources, loadConfigWith, type LoadedConfig, parseConfigWith } from "./parse.ts";
import { defaultsOf, walkSchema } from "./schema.ts";
import { TOROS_SCHEMA, type TorosConfig } from "./toros_schema.ts";

/** The state directory used by embedded defaults. */
export function defaultStateDir(env: (name: string) => string | undefined = (n) => Deno.env.get(n)): string {
  const xdg = env("XDG_STATE_HOME");
  if (xdg) return `${xdg}/toros`;
  const home = env("HOME") ?? ".";
  return `${home}/.local/state/toros`;
}

/** The embedded defaults: a newcomer needs no config file and no root. */
export function defaultConfig(stateDir: string = defaultStateDir()): TorosConfig {
  return { ...defaultsOf(TOROS_SCHEMA, stateDir), stateDir };
}

/** Every key the config understands, as `Section.Key` paths (sections too, for suggestions and docs). */
export const CONFIG_KEYS: string[] = walkSchema(TOROS_SCHEMA).map(({ names }) => names.join("."));

/**
 * Parses and validates config text. Every problem is collected; nothing throws
 * for bad content. `fileName` is used in messages and to resolve relative paths.
 */
export function parseConfigText(
  text: string,
  fileName: string,
  stateDir: string = defaultStateDir(),
): LoadedConfig {
  const loaded = parseConfigWith(TOROS_SCHEMA, text, { fileName, stateDir });
  return { ...loaded, config: { ...loaded.config, stateDir } };
}

/**
 * Loads the effective config: the file at `path` over the embedded defaults, or
 * the defaults alone when `path` is undefined. A missing or unreadable file is an error.
 */
export async function loadConfig(
  path: string | undefined,
  stateDir: string = defaultStateDir(),
): Promise<LoadedConfig> {
  if (path === undefined) {
    const sources = defaultSources(TOROS_SCHEMA);
    return { config: defaultConfig(stateDir), path: undefined, sources, warnings: [], errors: [] };
  }
  const loaded = await loadConfigWith(TOROS_SCHEMA, path, { stateDir });
  return { ...loaded, config: { ...loaded.config, stateDir } };
}

/** Loads the config for a command; throws {@link ConfigError} listing every error. Warnings are printed. */
export async function loadConfigOrThrow(
  path: string | undefined,
  stateDir: string = defaultStateDir(),
): Promise<TorosConfig> {
  const loaded = await loadConfig(path, stateDir);
  if (loaded.errors.length > 0) throw new ConfigError(path ?? "(defaults)", loaded.errors);
  for (const warning of loaded.warnings) console.error(`toros: warning: ${warning.message}`);
  return loaded.config;
}
