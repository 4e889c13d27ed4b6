/**
 * `toros.conf.yaml`: the configuration of every TOROS daemon, with the keys of
 * the original TOROS Manager kept exactly (flow mappings, keys with spaces).
 *
 * Errors are collected, not thrown one at a time: each names the key path, the
 * line and column, the bad value and what was expected. Unknown keys warn with a
 * "did you mean" suggestion.
 *
 * @module
 */
import { isMap, isScalar, isSeq, LineCounter, type Node as YamlNode, parseDocument, type Scalar } from "yaml";

/** Log levels of the original, in increasing severity. */
export type LogLevel = "DEBUG" | "INFO" | "WARNING" | "ERROR";

/** How frames are combined into a master. */
export type CombineMethod = "median" | "average" | "sum";

/** `Preprocessor Address:` — where the XML-RPC service listens. */
export interface AddressConfig {
  /** `HTTP`: the URL clients use, e.g. `http://localhost:8000/`. */
  http: string;
  /** `IP`: the address to bind (the original ignored it; we honour it). */
  ip: string;
  /** `Port`: TCP port, 1-65535. */
  port: number;
}

/** `Logging:` */
export interface LoggingConfig {
  /** `File`: log file path, rotated daily, 30 kept; empty string disables the file. */
  file: string;
  /** `Log Level` */
  level: LogLevel;
}

/** `Database:` — exactly one of `file` or `url` is set after loading. */
export interface DatabaseConfig {
  /** `File`: SQLite database path (the embedded default). */
  file?: string;
  /** `URL`: `sqlite:PATH` or `postgres://user@host:5432/db`. */
  url?: string;
}

/** `Data:` */
export interface DataConfig {
  /** `Roots`: directories under which nights may be read (work orders outside are refused). */
  roots: string[];
}

/** `Reduction:` — how a night is calibrated. */
export interface ReductionConfig {
  /** `Combine`: combine method for masters (default median, as ccdproc's standard reduction). */
  combine: CombineMethod;
  /** `Sigma Clip`: `{Low, High}` in standard deviations around the median, or null for none (default). */
  sigmaClip: { low: number; high: number } | null;
  /** `MinMax Clip`: `{Min, Max}` pixel values outside which inputs are rejected, or null (default). */
  minMaxClip: { min: number; max: number } | null;
  /** `Flat Floor`: normalized flat values below this are replaced by it (avoids division blow-up); default 0.01 (ccdproc's `min_value`). */
  flatFloor: number;
  /** `Saturation`: ADU level above which raw pixels are flagged, when the frame has no `SATURATE` card; null = none. */
  saturation: number | null;
  /** `Workers`: number of pixel workers; 0 = one per core (default). */
  workers: number;
  /** `Band Rows`: rows per streamed band (default 64). */
  bandRows: number;
  /**
   * `Niceness`: the nice value (0-19) of the service's reduction threads, so the
   * front desk answers first when both want the CPU; default 10. Linux only.
   */
  niceness: number;
  /**
   * `Share While Serving`: percent of the time (1-100) the service's reduction
   * threads keep while the front desk is answering requests; between pieces of
   * under a millisecond they nap for the rest. Default 25; 100 never pauses.
   */
  shareWhileServing: number;
}

/** `Security:` — optional protections for the XML-RPC service. */
export interface SecurityConfig {
  /** `Token`: shared secret, sent as HTTP Basic password or Bearer token; null = no authentication. */
  token: string | null;
  /** `Allowed Networks`: CIDR blocks allowed to connect (empty = any). */
  allowedNetworks: string[];
  /**
   * `CORS Origin`: Access-Control-Allow-Origin on preflights and on answers to
   * browsers (requests that carry `Origin`); "" = none.
   */
  corsOrigin: string;
  /** `Max Body Bytes`: largest accepted request body (default 1 MiB). */
  maxBodyBytes: number;
}

/** The whole effective configuration. */
export interface TorosConfig {
  preprocessorAddress: AddressConfig;
  logging: LoggingConfig;
  database: DatabaseConfig;
  data: DataConfig;
  reduction: ReductionConfig;
  security: SecurityConfig;
  /** Directory for state when defaults are used ($XDG_STATE_HOME/toros or ~/.local/state/toros). */
  stateDir: string;
}

/** The state directory used by embedded defaults. */
export function defaultStateDir(env: (name: string) => string | undefined = (n) => Deno.env.get(n)): string {
  const xdg = env("XDG_STATE_HOME");
  if (xdg) return `${xdg}/toros`;
  const home = env("HOME") ?? ".";
  return `${home}/.local/state/toros`;
}

/** The embedded defaults: a newcomer needs no config file and no root. */
export function defaultConfig(stateDir: string = defaultStateDir()): TorosConfig {
  return {
    preprocessorAddress: { http: "http://localhost:8000/", ip: "localhost", port: 8000 },
    logging: { file: `${stateDir}/log/toros.log`, level: "INFO" },
    database: { file: `${stateDir}/toros.sqlite3` },
    data: { roots: ["/data/toros"] },
    reduction: {
      combine: "median",
      sigmaClip: null,
      minMaxClip: null,
      flatFloor: 0.01,
      saturation: null,
      workers: 0,
      bandRows: 64,
      niceness: 10,
      shareWhileServing: 25,
    },
    security: { token: null, allowedNetworks: [], corsOrigin: "*", maxBodyBytes: 1024 * 1024 },
    stateDir,
  };
}

// ---------------------------------------------------------------------------
// Loading and validation
// ---------------------------------------------------------------------------

/** One problem found in a config file: where it is and what was expected. */
export interface ConfigIssue {
  /** Key path, e.g. `Preprocessor Address.Port`. */
  path: string;
  /** 1-based line in the file, when known. */
  line?: number;
  /** 1-based column in the file, when known. */
  column?: number;
  /** The full message, e.g. `Preprocessor Address.Port at line 4: 99999 is not a port (1-65535)`. */
  message: string;
}

/** Where each effective value came from. */
export type ValueSource = "file" | "default";

/** The result of reading a config file: the effective config and every problem found. */
export interface LoadedConfig {
  config: TorosConfig;
  /** The file read, or undefined for embedded defaults. */
  path: string | undefined;
  /** Source of each leaf value by key path (`Logging.Log Level`). */
  sources: Record<string, ValueSource>;
  warnings: ConfigIssue[];
  errors: ConfigIssue[];
}

/** Thrown by {@link loadConfigOrThrow} when a config file has errors; the message lists them all. */
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

/** A leaf reader: turns a YAML value into a config value or says what was expected. */
type LeafReader = (
  value: unknown,
  baseDir: string,
) => { ok: true; value: unknown } | { ok: false; expected: string };

interface LeafSpec {
  /** Key as written in YAML. */
  key: string;
  /** Property on the TorosConfig section. */
  prop: string;
  read: LeafReader;
}

interface SectionSpec {
  key: string;
  prop: keyof Omit<TorosConfig, "stateDir">;
  leaves: LeafSpec[];
}

function describe(value: unknown): string {
  if (value === null || value === undefined) return "null";
  if (typeof value === "string") return JSON.stringify(value);
  if (Array.isArray(value)) return "a list";
  if (typeof value === "object") return "a mapping";
  return String(value);
}

const readString: LeafReader = (value) =>
  typeof value === "string" ? { ok: true, value } : { ok: false, expected: "is not a string" };

const readNonEmptyString: LeafReader = (value) =>
  typeof value === "string" && value.trim() !== ""
    ? { ok: true, value: value.trim() }
    : { ok: false, expected: "is not a non-empty string" };

function resolvePath(path: string, baseDir: string): string {
  if (path.startsWith("/")) return path;
  if (path.startsWith("~/")) return `${Deno.env.get("HOME") ?? "."}/${path.slice(2)}`;
  return `${baseDir}/${path}`.replace(/\/\.\//g, "/");
}

const readPath: LeafReader = (value, baseDir) =>
  typeof value === "string" && value.trim() !== ""
    ? { ok: true, value: resolvePath(value.trim(), baseDir) }
    : { ok: false, expected: "is not a path (a non-empty string)" };

const readOptionalPath: LeafReader = (value, baseDir) =>
  value === null || value === "" ? { ok: true, value: "" } : readPath(value, baseDir);

const readPort: LeafReader = (value) =>
  typeof value === "number" && Number.isInteger(value) && value >= 1 && value <= 65535
    ? { ok: true, value }
    : { ok: false, expected: "is not a port (1-65535)" };

const LOG_LEVELS: LogLevel[] = ["DEBUG", "INFO", "WARNING", "ERROR"];

const readLogLevel: LeafReader = (value) => {
  // Python's logging accepts WARN as an alias; the original passed the value to logging.setLevel.
  const upper = typeof value === "string" ? value.trim().toUpperCase() : "";
  const level = upper === "WARN" ? "WARNING" : upper;
  return (LOG_LEVELS as string[]).includes(level)
    ? { ok: true, value: level }
    : { ok: false, expected: `is not a log level (${LOG_LEVELS.join(", ")})` };
};

const readUrl: LeafReader = (value) => {
  if (typeof value !== "string" || value.trim() === "") return { ok: false, expected: "is not a URL" };
  try {
    new URL(value.trim());
    return { ok: true, value: value.trim() };
  } catch {
    return { ok: false, expected: "is not a URL" };
  }
};

const readHttpUrl: LeafReader = (value) => {
  const url = readUrl(value, "");
  if (!url.ok) return { ok: false, expected: "is not an http:// URL" };
  const protocol = new URL(url.value as string).protocol;
  return protocol === "http:" || protocol === "https:"
    ? url
    : { ok: false, expected: "is not an http:// URL" };
};

const readDatabaseUrl: LeafReader = (value, baseDir) => {
  if (typeof value !== "string" || value.trim() === "") {
    return { ok: false, expected: "is not a database URL (sqlite:PATH or postgres://user@host:5432/db)" };
  }
  const text = value.trim();
  if (text.startsWith("sqlite:")) {
    const path = text.slice("sqlite:".length).replace(/^\/\/(?=\/)/, "");
    return path === ""
      ? { ok: false, expected: "names no SQLite file (sqlite:PATH)" }
      : { ok: true, value: `sqlite:${resolvePath(path, baseDir)}` };
  }
  if (/^postgres(ql)?:\/\//.test(text)) {
    try {
      new URL(text);
      return { ok: true, value: text };
    } catch { /* fall through */ }
  }
  return { ok: false, expected: "is not a database URL (sqlite:PATH or postgres://user@host:5432/db)" };
};

const readPathList: LeafReader = (value, baseDir) => {
  const list = typeof value === "string" ? [value] : value;
  if (!Array.isArray(list) || list.some((item) => typeof item !== "string" || item.trim() === "")) {
    return { ok: false, expected: "is not a list of directory paths" };
  }
  return { ok: true, value: list.map((item) => resolvePath((item as string).trim(), baseDir)) };
};

function readNumberIn(min: number, max: number, what: string): LeafReader {
  return (value) =>
    typeof value === "number" && Number.isFinite(value) && value >= min && value <= max
      ? { ok: true, value }
      : { ok: false, expected: `is not ${what}` };
}

function readIntegerIn(min: number, max: number, what: string): LeafReader {
  return (value) =>
    typeof value === "number" && Number.isInteger(value) && value >= min && value <= max
      ? { ok: true, value }
      : { ok: false, expected: `is not ${what}` };
}

const readCombine: LeafReader = (value) => {
  const method = typeof value === "string" ? value.trim().toLowerCase() : "";
  return ["median", "average", "sum"].includes(method)
    ? { ok: true, value: method }
    : { ok: false, expected: "is not a combine method (median, average, sum)" };
};

const readSigmaClip: LeafReader = (value) => {
  if (value === null || value === false) return { ok: true, value: null };
  const record = value as Record<string, unknown>;
  if (typeof value === "object" && !Array.isArray(value)) {
    const low = record.Low ?? record.low;
    const high = record.High ?? record.high;
    if (typeof low === "number" && typeof high === "number" && low > 0 && high > 0) {
      return { ok: true, value: { low, high } };
    }
  }
  return { ok: false, expected: "is not a sigma clip ({Low: 3, High: 3} with positive numbers, or null)" };
};

const readMinMaxClip: LeafReader = (value) => {
  if (value === null || value === false) return { ok: true, value: null };
  const record = value as Record<string, unknown>;
  if (typeof value === "object" && !Array.isArray(value)) {
    const min = record.Min ?? record.min;
    const max = record.Max ?? record.max;
    if (typeof min === "number" && typeof max === "number" && min < max) {
      return { ok: true, value: { min, max } };
    }
  }
  return { ok: false, expected: "is not a min/max clip ({Min: 0, Max: 65000} with Min < Max, or null)" };
};

const readOptionalNumber: LeafReader = (value) =>
  value === null
    ? { ok: true, value: null }
    : typeof value === "number" && Number.isFinite(value) && value > 0
    ? { ok: true, value }
    : { ok: false, expected: "is not a positive number (or null)" };

const readOptionalToken: LeafReader = (value) =>
  value === null || value === ""
    ? { ok: true, value: null }
    : typeof value === "string" && value.length >= 8 && !/[\s:]/.test(value)
    ? { ok: true, value }
    : { ok: false, expected: "is not a token (at least 8 characters, no spaces or colons)" };

const CIDR_V4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})(\/(\d{1,2}))?$/;

function isCidr(text: string): boolean {
  const v4 = CIDR_V4.exec(text);
  if (v4) {
    const octetsOk = v4.slice(1, 5).every((octet) => Number(octet) <= 255);
    return octetsOk && (v4[6] === undefined || Number(v4[6]) <= 32);
  }
  const [address, prefix, ...rest] = text.split("/");
  if (rest.length > 0 || !address.includes(":") || !/^[0-9a-fA-F:.]+$/.test(address)) return false;
  return prefix === undefined || (/^\d{1,3}$/.test(prefix) && Number(prefix) <= 128);
}

const readNetworks: LeafReader = (value) => {
  const list = typeof value === "string" ? [value] : value ?? [];
  if (!Array.isArray(list) || list.some((item) => typeof item !== "string" || !isCidr(item.trim()))) {
    return {
      ok: false,
      expected: "is not a list of networks in CIDR form (e.g. [127.0.0.1/32, 10.0.0.0/8])",
    };
  }
  return { ok: true, value: list.map((item) => (item as string).trim()) };
};

const SECTIONS: SectionSpec[] = [
  {
    key: "Preprocessor Address",
    prop: "preprocessorAddress",
    leaves: [
      { key: "HTTP", prop: "http", read: readHttpUrl },
      { key: "IP", prop: "ip", read: readNonEmptyString },
      { key: "Port", prop: "port", read: readPort },
    ],
  },
  {
    key: "Logging",
    prop: "logging",
    leaves: [
      { key: "File", prop: "file", read: readOptionalPath },
      { key: "Log Level", prop: "level", read: readLogLevel },
    ],
  },
  {
    key: "Database",
    prop: "database",
    leaves: [
      { key: "File", prop: "file", read: readPath },
      { key: "URL", prop: "url", read: readDatabaseUrl },
    ],
  },
  {
    key: "Data",
    prop: "data",
    leaves: [{ key: "Roots", prop: "roots", read: readPathList }],
  },
  {
    key: "Reduction",
    prop: "reduction",
    leaves: [
      { key: "Combine", prop: "combine", read: readCombine },
      { key: "Sigma Clip", prop: "sigmaClip", read: readSigmaClip },
      { key: "MinMax Clip", prop: "minMaxClip", read: readMinMaxClip },
      {
        key: "Flat Floor",
        prop: "flatFloor",
        read: readNumberIn(0, 1, "a flat floor (a number from 0 to 1)"),
      },
      { key: "Saturation", prop: "saturation", read: readOptionalNumber },
      {
        key: "Workers",
        prop: "workers",
        read: readIntegerIn(0, 256, "a worker count (0 = one per core, up to 256)"),
      },
      { key: "Band Rows", prop: "bandRows", read: readIntegerIn(1, 65536, "a row count (1-65536)") },
      { key: "Niceness", prop: "niceness", read: readIntegerIn(0, 19, "a nice value (0-19)") },
      {
        key: "Share While Serving",
        prop: "shareWhileServing",
        read: readIntegerIn(1, 100, "a percent of the time (1-100)"),
      },
    ],
  },
  {
    key: "Security",
    prop: "security",
    leaves: [
      { key: "Token", prop: "token", read: readOptionalToken },
      { key: "Allowed Networks", prop: "allowedNetworks", read: readNetworks },
      { key: "CORS Origin", prop: "corsOrigin", read: readString },
      {
        key: "Max Body Bytes",
        prop: "maxBodyBytes",
        read: readIntegerIn(1024, 1024 * 1024 * 1024, "a body size in bytes (1024 to 1 GiB)"),
      },
    ],
  },
];

/** Every key the config understands, as `Section.Key` paths (for suggestions and docs). */
export const CONFIG_KEYS: string[] = SECTIONS.flatMap((section) => [
  section.key,
  ...section.leaves.map((leaf) => `${section.key}.${leaf.key}`),
]);

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

/**
 * Parses and validates config text. Every problem is collected; nothing throws
 * for bad content. `fileName` is used in messages and to resolve relative paths.
 */
export function parseConfigText(
  text: string,
  fileName: string,
  stateDir: string = defaultStateDir(),
): LoadedConfig {
  const config = defaultConfig(stateDir);
  const sources: Record<string, ValueSource> = {};
  for (const path of CONFIG_KEYS) if (path.includes(".")) sources[path] = "default";
  const errors: ConfigIssue[] = [];
  const warnings: ConfigIssue[] = [];
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const absolute = fileName.startsWith("/") ? fileName : `${Deno.cwd()}/${fileName}`;
  const baseDir = dirname(absolute);

  const where = (node: YamlNode | null | undefined): { line?: number; column?: number } => {
    const offset = node?.range?.[0];
    if (offset === undefined) return {};
    const pos = lineCounter.linePos(offset);
    return { line: pos.line, column: pos.col };
  };
  const issue = (path: string, node: YamlNode | null | undefined, text: string): ConfigIssue => {
    const { line, column } = where(node);
    const at = line !== undefined ? ` at line ${line}, column ${column}` : "";
    return { path, line, column, message: `${path}${at}: ${text}` };
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
    return { config, path: fileName, sources, warnings, errors };
  }

  const root = doc.contents;
  if (root === null || (isScalar(root) && (root.value === null || root.value === ""))) {
    return { config, path: fileName, sources, warnings, errors };
  }
  if (!isMap(root)) {
    errors.push(issue("(top level)", root as YamlNode, "is not a mapping of sections (e.g. Logging: {...})"));
    return { config, path: fileName, sources, warnings, errors };
  }

  for (const pair of root.items) {
    const keyNode = pair.key as Scalar | null;
    const sectionKey = String(isScalar(keyNode) ? keyNode.value : keyNode);
    const section = SECTIONS.find((candidate) => candidate.key === sectionKey);
    if (!section) {
      const hint = suggestion(sectionKey, SECTIONS.map((s) => s.key));
      warnings.push(issue(sectionKey, keyNode as YamlNode, `unknown section, ignored${hint}`));
      continue;
    }
    const valueNode = pair.value as YamlNode | null;
    if (valueNode === null || (isScalar(valueNode) && valueNode.value === null)) continue;
    if (!isMap(valueNode)) {
      errors.push(issue(section.key, valueNode, `${describe(valueNode.toJSON())} is not a mapping of keys`));
      continue;
    }
    const target = config[section.prop] as unknown as Record<string, unknown>;
    const seen = new Set<string>();
    for (const item of valueNode.items) {
      const leafKeyNode = item.key as Scalar | null;
      const leafKey = String(isScalar(leafKeyNode) ? leafKeyNode.value : leafKeyNode);
      const path = `${section.key}.${leafKey}`;
      const leaf = section.leaves.find((candidate) => candidate.key === leafKey);
      if (!leaf) {
        const hint = suggestion(leafKey, section.leaves.map((l) => l.key));
        warnings.push(issue(path, leafKeyNode as YamlNode, `unknown key, ignored${hint}`));
        continue;
      }
      const node = item.value as YamlNode | null;
      const raw = node === null ? null : isScalar(node) || isMap(node) || isSeq(node) ? node.toJSON() : null;
      const result = leaf.read(raw, baseDir);
      if (!result.ok) {
        errors.push(issue(path, node ?? (leafKeyNode as YamlNode), `${describe(raw)} ${result.expected}`));
        continue;
      }
      target[leaf.prop] = result.value;
      sources[path] = "file";
      seen.add(leaf.key);
    }
    if (section.prop === "database") {
      if (seen.has("File") && seen.has("URL")) {
        errors.push(issue(section.key, valueNode, "has both File and URL (expected one of them)"));
      } else if (seen.has("URL")) {
        delete config.database.file;
        sources["Database.File"] = "default";
      } else if (seen.has("File")) {
        delete config.database.url;
      }
    }
  }
  return { config, path: fileName, sources, warnings, errors };
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
    const config = defaultConfig(stateDir);
    const sources: Record<string, ValueSource> = {};
    for (const key of CONFIG_KEYS) if (key.includes(".")) sources[key] = "default";
    return { config, path: undefined, sources, warnings: [], errors: [] };
  }
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
      config: defaultConfig(stateDir),
      path,
      sources: {},
      warnings: [],
      errors: [{ path: "", message: `Config file ${path} ${reason}` }],
    };
  }
  return parseConfigText(text, path, stateDir);
}

/** Loads the config for a command; throws {@link ConfigError} listing every error. Warnings are returned. */
export async function loadConfigOrThrow(
  path: string | undefined,
  stateDir: string = defaultStateDir(),
): Promise<TorosConfig> {
  const loaded = await loadConfig(path, stateDir);
  if (loaded.errors.length > 0) throw new ConfigError(path ?? "(defaults)", loaded.errors);
  for (const warning of loaded.warnings) console.error(`toros: warning: ${warning.message}`);
  return loaded.config;
}
