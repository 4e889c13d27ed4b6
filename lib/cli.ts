/**
 * Shared command-line plumbing for `toros` sub-commands: strict flag parsing
 * that turns mistakes into {@link UsageError}, and the config path rule.
 *
 * @module
 */
import { parseArgs, type ParseArgsConfig } from "node:util";
import { existsSync } from "node:fs";

/** A command-line mistake: `main.ts` prints it with the usage text and exits 2. */
export class UsageError extends Error {
  /** Creates a usage error with a message naming the bad flag or argument. */
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/** Options every command receives from `main.ts`. */
export interface GlobalOptions {
  /** Config file chosen by `--config`, `TOROS_CONFIG` or the system default; undefined means embedded defaults. */
  configPath: string | undefined;
}

/** The flag specification accepted by {@link parseCommandArgs}. */
export type FlagSpec = NonNullable<ParseArgsConfig["options"]>;

/** Parsed flags and positionals of one command. */
export interface ParsedCommandArgs {
  /** Flag values by long name. */
  values: Record<string, string | boolean | (string | boolean)[] | undefined>;
  /** Positional arguments in order. */
  positionals: string[];
}

/**
 * Parses a command's arguments strictly: an unknown flag or a missing value
 * becomes a {@link UsageError} naming it.
 *
 * @example
 * ```ts
 * const { values, positionals } = parseCommandArgs(["--json", "a.fits"], { json: { type: "boolean" } });
 * ```
 */
export function parseCommandArgs(args: string[], flags: FlagSpec): ParsedCommandArgs {
  try {
    const parsed = parseArgs({ args, options: flags, allowPositionals: true, strict: true });
    return { values: parsed.values as ParsedCommandArgs["values"], positionals: parsed.positionals };
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    // node:util messages end with advice about "--" that does not apply to toros
    throw new UsageError(message.replace(/\. To specify a positional argument.*$/s, ""));
  }
}

/** The system-wide config location that the installer writes. */
export const SYSTEM_CONFIG_PATH = "/etc/toros/toros.conf.yaml";

/**
 * Picks the config file: `--config` first, then `TOROS_CONFIG`, then
 * {@link SYSTEM_CONFIG_PATH} when it exists; otherwise undefined (embedded defaults).
 */
export function resolveConfigPath(
  flagValue: string | undefined,
  env: (name: string) => string | undefined = (name) => Deno.env.get(name),
  systemPath: string = SYSTEM_CONFIG_PATH,
): string | undefined {
  if (flagValue !== undefined && flagValue !== "") return flagValue;
  const fromEnv = env("TOROS_CONFIG");
  if (fromEnv !== undefined && fromEnv !== "") return fromEnv;
  return existsSync(systemPath) ? systemPath : undefined;
}

/**
 * Removes every `--config PATH` / `--config=PATH` from an argument list,
 * returning the remaining arguments and the last value given.
 */
export function extractConfigFlag(args: string[]): { rest: string[]; configFlag: string | undefined } {
  const rest: string[] = [];
  let configFlag: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === "--") {
      rest.push(...args.slice(i));
      break;
    }
    if (arg === "--config") {
      if (i + 1 >= args.length) throw new UsageError("Option '--config' needs a path");
      configFlag = args[++i];
    } else if (arg.startsWith("--config=")) {
      configFlag = arg.slice("--config=".length);
    } else {
      rest.push(arg);
    }
  }
  return { rest, configFlag };
}
