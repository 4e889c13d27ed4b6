/**
 * Reading a config file against a schema: the file's values over the schema's
 * defaults, with every problem collected, not thrown one at a time. Each names
 * the key path, the line and column, the bad value and what was expected;
 * unknown keys warn with a "did you mean" suggestion.
 *
 * @module
 */
import { isMap, isScalar, isSeq, LineCounter, type Node as YamlNode, parseDocument, type Scalar } from "yaml";
import { type ConfigOf, defaultsOf, type Entries, type Schema, type Section, walkSchema } from "./schema.ts";
import type { TorosConfig } from "./toros_schema.ts";

/** One problem found in a config file: where it is and what was expected. */
export interface ConfigIssue {
  /** Key path, e.g. `Preprocessor Address.Port`. */
  path: string;
  /** 1-based line in the file, when known. */
  line?: number;
  /** 1-based column in the file, when known. */
  column?: number;
  /** The full message, e.g. `Preprocessor Address.Port at line 4, column 9: 99999 is not a port (1-65535)`. */
  message: string;
}

/** Where each effective value came from. */
export type ValueSource = "file" | "default";

/** The result of reading a config file: the effective config and every problem found. */
export interface LoadedConfig<C = TorosConfig> {
  /** The effective config: the file's values over the defaults. */
  config: C;
  /** The file read, or undefined for embedded defaults. */
  path: string | undefined;
  /** Source of each key's value by key path (`Logging.Log Level`). */
  sources: Record<string, ValueSource>;
  /** Unknown keys and sections. */
  warnings: ConfigIssue[];
  /** Bad values and malformed YAML; the config holds defaults where they are. */
  errors: ConfigIssue[];
}

/** Thrown when a config file has errors; the message lists them all. */
export class ConfigError extends Error {
  /** Every error found. */
  readonly issues: ConfigIssue[];
  /** Creates the error for a file and its issues. */
  constructor(file: string, issues: ConfigIssue[]) {
    super(`Invalid config ${file}:\n${issues.map((issue) => `  ${issue.message}`).join("\n")}`);
    this.name = "ConfigError";
    this.issues = issues;
  }
}

/** Options of {@link parseConfigWith} and {@link loadConfigWith}. */
export interface ParseOptions {
  /** The file's name, for messages and to resolve relative paths (default: `config.yaml` in the working directory). */
  fileName?: string;
  /** The state directory defaults live under. */
  stateDir: string;
}

/** Every key path of a schema (`Reduction.Overscan.Model`), each marked "default". */
export function defaultSources(schema: Schema): Record<string, ValueSource> {
  const sources: Record<string, ValueSource> = {};
  for (const { names, entry } of walkSchema(schema)) {
    if (entry.kind === "key") sources[names.join(".")] = "default";
  }
  return sources;
}

function describe(value: unknown): string {
  if (value === null || value === undefined) return "null";
  if (typeof value === "string") return JSON.stringify(value);
  if (Array.isArray(value)) return "a list";
  if (typeof value === "object") return "a mapping";
  return String(value);
}

/** Levenshtein distance, case-insensitive: small and only run on unknown keys. */
function editDistance(a: string, b: string): number {
  const s = a.toLowerCase();
  const t = b.toLowerCase();
  let previous = Array.from({ length: t.length + 1 }, (_, i) => i);
  for (let i = 1; i <= s.length; i++) {
    const current = [i];
    for (let j = 1; j <= t.length; j++) {
      current[j] = Math.min(
        previous[j] + 1,
        current[j - 1] + 1,
        previous[j - 1] + (s[i - 1] === t[j - 1] ? 0 : 1),
      );
    }
    previous = current;
  }
  return previous[t.length];
}

function suggestion(key: string, candidates: string[]): string {
  let best = "";
  let bestDistance = Infinity;
  for (const candidate of candidates) {
    const distance = editDistance(key, candidate);
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return bestDistance <= Math.max(2, Math.floor(best.length / 3)) ? ` (did you mean "${best}"?)` : "";
}

function dirname(path: string): string {
  const index = path.lastIndexOf("/");
  if (index < 0) return Deno.cwd();
  return index === 0 ? "/" : path.slice(0, index);
}

function listNames(names: string[]): string {
  return names.length <= 1
    ? names.join("")
    : `${names.slice(0, -1).join(", ")} and ${names[names.length - 1]}`;
}

/**
 * Parses and validates config text against a schema. Every problem is
 * collected; nothing throws for bad content.
 *
 * @example
 * ```ts
 * const loaded = parseConfigWith(TOROS_SCHEMA, "Logging: {Log Level: DEBUG}\n", { stateDir: "/state" });
 * loaded.config.logging.level; // "DEBUG"
 * ```
 */
export function parseConfigWith<S extends Schema>(
  schema: S,
  text: string,
  options: ParseOptions,
): LoadedConfig<ConfigOf<S>> {
  const fileName = options.fileName ?? "config.yaml";
  const config = defaultsOf(schema, options.stateDir);
  const sources = defaultSources(schema);
  const errors: ConfigIssue[] = [];
  const warnings: ConfigIssue[] = [];
  const result = (): LoadedConfig<ConfigOf<S>> => ({ config, path: fileName, sources, warnings, errors });
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const absolute = fileName.startsWith("/") ? fileName : `${Deno.cwd()}/${fileName}`;
  const baseDir = dirname(absolute);

  const issue = (path: string, node: YamlNode | null | undefined, text: string): ConfigIssue => {
    const offset = node?.range?.[0];
    if (offset === undefined) return { path, message: `${path}: ${text}` };
    const { line, col: column } = lineCounter.linePos(offset);
    return { path, line, column, message: `${path} at line ${line}, column ${column}: ${text}` };
  };

  if (doc.errors.length > 0) {
    for (const error of doc.errors) {
      const pos = error.linePos?.[0] ?? lineCounter.linePos(error.pos[0]);
      const line = pos?.line;
      const column = pos?.col;
      const firstLine = error.message.split("\n")[0].replace(/ at line \d+, column \d+:?$/, "");
      errors.push({
        path: "",
        line,
        column,
        message: `Malformed YAML in ${fileName}${
          line !== undefined ? ` at line ${line}, column ${column}` : ""
        }: ${firstLine}`,
      });
    }
    return result();
  }

  // Reads one YAML mapping into `target` (the typed object of the same level); `section` is undefined at the top.
  const readMapping = (
    entries: Entries,
    mapping: YamlNode & { items: { key: unknown; value: unknown }[] },
    names: string[],
    target: Record<string, unknown>,
    section: Section | undefined,
  ) => {
    const given = new Set<string>();
    for (const pair of mapping.items) {
      const nameNode = pair.key as Scalar | null;
      const name = String(isScalar(nameNode) ? nameNode.value : nameNode);
      const path = [...names, name].join(".");
      const found = Object.entries(entries).find(([, candidate]) => candidate.name === name);
      if (!found) {
        const what = section === undefined ? "section" : "key";
        const hint = suggestion(name, Object.values(entries).map((candidate) => candidate.name));
        warnings.push(issue(path, nameNode as YamlNode, `unknown ${what}, ignored${hint}`));
        continue;
      }
      const [property, entry] = found;
      const node = pair.value as YamlNode | null;
      if (entry.kind === "section") {
        if (node === null || (isScalar(node) && node.value === null)) continue;
        if (!isMap(node)) {
          errors.push(issue(path, node, `${describe(node.toJSON())} is not a mapping of keys`));
          continue;
        }
        const nested = target[property] as Record<string, unknown>;
        readMapping(entry.entries, node, [...names, name], nested, entry);
        continue;
      }
      const raw = node === null ? null : isScalar(node) || isMap(node) || isSeq(node) ? node.toJSON() : null;
      const read = entry.read(raw, baseDir);
      if (!read.ok) {
        errors.push(issue(path, node ?? (nameNode as YamlNode), `${describe(raw)} ${read.expected}`));
        continue;
      }
      target[property] = read.value;
      sources[path] = "file";
      given.add(property);
    }
    if (section === undefined || section.oneOf.length === 0) return;
    const chosen = section.oneOf.filter((property) => given.has(property));
    if (chosen.length > 1) {
      const both = chosen.length === 2 ? "both " : "";
      const keyNames = listNames(chosen.map((property) => entries[property].name));
      errors.push(issue(names.join("."), mapping, `has ${both}${keyNames} (expected one of them)`));
    } else if (chosen.length === 1) {
      for (const property of section.oneOf) if (property !== chosen[0]) delete target[property];
    }
  };

  const root = doc.contents;
  if (root === null || (isScalar(root) && (root.value === null || root.value === ""))) return result();
  if (!isMap(root)) {
    errors.push(issue("(top level)", root as YamlNode, "is not a mapping of sections (e.g. Logging: {...})"));
    return result();
  }
  readMapping(schema, root, [], config as Record<string, unknown>, undefined);
  return result();
}

/**
 * Loads a config file against a schema: the file over the schema's defaults.
 * A missing or unreadable file is an error (and the defaults are returned).
 */
export async function loadConfigWith<S extends Schema>(
  schema: S,
  path: string,
  options: Omit<ParseOptions, "fileName">,
): Promise<LoadedConfig<ConfigOf<S>>> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    const reason = error instanceof Deno.errors.NotFound
      ? "does not exist"
      : error instanceof Deno.errors.PermissionDenied
      ? "cannot be read (permission denied)"
      : error instanceof Error
      ? `cannot be read (${error.message})`
      : "cannot be read";
    return {
      config: defaultsOf(schema, options.stateDir),
      path,
      sources: {},
      warnings: [],
      errors: [{ path: "", message: `Config file ${path} ${reason}` }],
    };
  }
  return parseConfigWith(schema, text, { ...options, fileName: path });
}
