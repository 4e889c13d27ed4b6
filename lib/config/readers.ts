/**
 * Readers for config values: each checks one YAML value and turns it into a
 * typed value, or says what was expected. The parser prefixes the key path,
 * position and bad value, giving `Preprocessor Address.Port at line 4,
 * column 9: 99999 is not a port (1-65535)`.
 *
 * @module
 */
import { parseNetwork } from "../cidr.ts";
import type { Reader, ReadResult } from "./schema.ts";

/** Log levels of the original, in increasing severity. */
export type LogLevel = "DEBUG" | "INFO" | "WARNING" | "ERROR";

/** How frames are combined into a master. */
export type CombineMethod = "median" | "average" | "sum";

/** The center a sigma clip measures deviations from. */
export type ClipCenter = "mean" | "median";

/** `Reduction: Sigma Clip`: reject values more than `low`/`high` standard deviations below/above the `center`. */
export interface SigmaClip {
  /** Standard deviations below the center. */
  low: number;
  /** Standard deviations above the center. */
  high: number;
  /** Where deviations are measured from. */
  center: ClipCenter;
}

/** `Reduction: MinMax Clip`: reject pixel values outside `[min, max]`. */
export interface MinMaxClip {
  /** Lowest kept value. */
  min: number;
  /** Highest kept value. */
  max: number;
}

/** How each row's overscan level is estimated from its overscan pixels. */
export type OverscanEstimate = "median" | "mean" | "clipped-mean";

/** How the row estimates become the level subtracted: each row its own (`none`), or a polynomial fitted along the rows. */
export type OverscanModel = "none" | { polynomial: number };

function ok<T>(value: T): ReadResult<T> {
  return { ok: true, value };
}

function fail<T>(expected: string): ReadResult<T> {
  return { ok: false, expected };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * The fields of a flow mapping value (`{Low: 3, High: 3}`), keys matched
 * case-insensitively; null when it is not a mapping or has a key not in `names`.
 */
function fieldsOf(value: unknown, names: string[]): Map<string, unknown> | null {
  if (!isRecord(value)) return null;
  const fields = new Map<string, unknown>();
  for (const [name, field] of Object.entries(value)) {
    const known = names.find((candidate) => candidate.toLowerCase() === name.toLowerCase());
    if (known === undefined) return null;
    fields.set(known, field);
  }
  return fields;
}

/** Resolves a config path: absolute as is, `~/` under $HOME, else relative to `baseDir`. */
export function resolvePath(path: string, baseDir: string): string {
  if (path.startsWith("/")) return path;
  if (path.startsWith("~/")) return `${Deno.env.get("HOME") ?? "."}/${path.slice(2)}`;
  return `${baseDir}/${path}`.replace(/\/\.\//g, "/");
}

/** Any string, kept as written. */
export function readString(value: unknown): ReadResult<string> {
  return typeof value === "string" ? ok(value) : fail("is not a string");
}

/** A string with something in it, trimmed. */
export function readNonEmptyString(value: unknown): ReadResult<string> {
  return typeof value === "string" && value.trim() !== ""
    ? ok(value.trim())
    : fail("is not a non-empty string");
}

/** A path, resolved against the config file's directory. */
export function readPath(value: unknown, baseDir: string): ReadResult<string> {
  return typeof value === "string" && value.trim() !== ""
    ? ok(resolvePath(value.trim(), baseDir))
    : fail("is not a path (a non-empty string)");
}

/** A path, or null / `""` for none (read as `""`). */
export function readOptionalPath(value: unknown, baseDir: string): ReadResult<string> {
  return value === null || value === "" ? ok("") : readPath(value, baseDir);
}

/** A TCP port, 1-65535. */
export function readPort(value: unknown): ReadResult<number> {
  return typeof value === "number" && Number.isInteger(value) && value >= 1 && value <= 65535
    ? ok(value)
    : fail("is not a port (1-65535)");
}

const LOG_LEVELS: LogLevel[] = ["DEBUG", "INFO", "WARNING", "ERROR"];

/** A log level, case-insensitive; `WARN` means `WARNING`. */
export function readLogLevel(value: unknown): ReadResult<LogLevel> {
  // Python's logging accepts WARN as an alias; the original passed the value to logging.setLevel.
  const upper = typeof value === "string" ? value.trim().toUpperCase() : "";
  const level = upper === "WARN" ? "WARNING" : upper;
  return (LOG_LEVELS as string[]).includes(level)
    ? ok(level as LogLevel)
    : fail(`is not a log level (${LOG_LEVELS.join(", ")})`);
}

/** Any absolute URL, trimmed. */
export function readUrl(value: unknown): ReadResult<string> {
  if (typeof value !== "string" || value.trim() === "") return fail("is not a URL");
  try {
    new URL(value.trim());
    return ok(value.trim());
  } catch {
    return fail("is not a URL");
  }
}

/** An `http://` or `https://` URL. */
export function readHttpUrl(value: unknown): ReadResult<string> {
  const url = readUrl(value);
  if (!url.ok) return fail("is not an http:// URL");
  const protocol = new URL(url.value).protocol;
  return protocol === "http:" || protocol === "https:" ? url : fail("is not an http:// URL");
}

const DATABASE_URL = "is not a database URL (sqlite:PATH or postgres://user@host:5432/db)";

/** `sqlite:PATH` (the path resolved like any other) or `postgres://user@host:5432/db`. */
export function readDatabaseUrl(value: unknown, baseDir: string): ReadResult<string> {
  if (typeof value !== "string" || value.trim() === "") return fail(DATABASE_URL);
  const text = value.trim();
  if (text.startsWith("sqlite:")) {
    const path = text.slice("sqlite:".length).replace(/^\/\/(?=\/)/, "");
    return path === ""
      ? fail("names no SQLite file (sqlite:PATH)")
      : ok(`sqlite:${resolvePath(path, baseDir)}`);
  }
  if (/^postgres(ql)?:\/\//.test(text)) {
    try {
      new URL(text);
      return ok(text);
    } catch { /* not a URL after all */ }
  }
  return fail(DATABASE_URL);
}

/** A list of directory paths (or one path), each resolved against the config file's directory. */
export function readPathList(value: unknown, baseDir: string): ReadResult<string[]> {
  const list = typeof value === "string" ? [value] : value;
  if (!Array.isArray(list) || list.some((item) => typeof item !== "string" || item.trim() === "")) {
    return fail("is not a list of directory paths");
  }
  return ok(list.map((item) => resolvePath((item as string).trim(), baseDir)));
}

/** `host:port` (a port from 1 to 65535; `[v6]:port` for an IPv6 address). */
export function readHostPort(value: unknown): ReadResult<string> {
  const text = typeof value === "string" ? value.trim() : "";
  const match = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(text);
  return match && Number(match[2]) >= 1 && Number(match[2]) <= 65535
    ? ok(text)
    : fail("is not host:port (e.g. localhost:7624)");
}

/** `true` or `false` (YAML's `yes`/`no` spellings are strings in YAML 1.2: refused, naming what is wanted). */
export function readBoolean(value: unknown): ReadResult<boolean> {
  return typeof value === "boolean" ? ok(value) : fail("is not true or false");
}

/**
 * A reader of a mapping of names to numbers in `[min, max]` (`{Research: 5,
 * Target of Opportunity: 9}`); `what` names the numbers (`priorities (0-10)`).
 */
export function readNumberMap(min: number, max: number, what: string): Reader<Record<string, number>> {
  return (value) => {
    if (value === null || value === undefined) return ok({});
    if (!isRecord(value)) return fail(`is not a mapping of names to ${what}`);
    const map: Record<string, number> = {};
    for (const [name, number] of Object.entries(value)) {
      if (typeof number !== "number" || !Number.isFinite(number) || number < min || number > max) {
        return fail(
          `holds ${JSON.stringify(name)}: ${JSON.stringify(number)} (expected names to ${what})`,
        );
      }
      map[name.trim()] = number;
    }
    return ok(map);
  };
}

/** A list of non-empty names (`[U, B, V]`), or one name, trimmed. */
export function readStringList(value: unknown): ReadResult<string[]> {
  const list = typeof value === "string" ? [value] : value;
  if (!Array.isArray(list) || list.some((item) => typeof item !== "string" || item.trim() === "")) {
    return fail("is not a list of names (e.g. [U, B, V])");
  }
  return ok(list.map((item) => (item as string).trim()));
}

/** A reader of a finite number in `[min, max]`; `what` completes "is not …" (`a flat floor (a number from 0 to 1)`). */
export function readNumberIn(min: number, max: number, what: string): Reader<number> {
  return (value) =>
    typeof value === "number" && Number.isFinite(value) && value >= min && value <= max
      ? ok(value)
      : fail(`is not ${what}`);
}

/** A reader of an integer in `[min, max]`; `what` completes "is not …" (`a nice value (0-19)`). */
export function readIntegerIn(min: number, max: number, what: string): Reader<number> {
  return (value) =>
    typeof value === "number" && Number.isInteger(value) && value >= min && value <= max
      ? ok(value)
      : fail(`is not ${what}`);
}

/**
 * A reader of one of a few words, case-insensitive, giving the word as declared;
 * the message lists them: `is not a combine method (median, average, sum)`.
 */
export function readChoice<const C extends string>(choices: readonly C[], what: string): Reader<C> {
  return (value) => {
    const word = typeof value === "string" ? value.trim().toLowerCase() : "";
    const choice = choices.find((candidate) => candidate.toLowerCase() === word);
    return choice !== undefined ? ok(choice) : fail(`is not ${what} (${choices.join(", ")})`);
  };
}

/** `median`, `average` or `sum`. */
export const readCombine: Reader<CombineMethod> = readChoice(
  ["median", "average", "sum"],
  "a combine method",
);

const SIGMA_CLIP =
  "is not a sigma clip ({Low: 3, High: 3, Center: median or mean} with positive numbers, or null)";

/** `{Low: 3, High: 3}` with an optional `Center: median | mean` (default median), or null / false for none. */
export function readSigmaClip(value: unknown): ReadResult<SigmaClip | null> {
  if (value === null || value === false) return ok(null);
  const fields = fieldsOf(value, ["Low", "High", "Center"]);
  const low = fields?.get("Low");
  const high = fields?.get("High");
  const center = fields?.get("Center") ?? "median";
  const centerWord = typeof center === "string" ? center.trim().toLowerCase() : "";
  if (
    typeof low === "number" && typeof high === "number" && low > 0 && high > 0 &&
    (centerWord === "median" || centerWord === "mean")
  ) {
    return ok({ low, high, center: centerWord });
  }
  return fail(SIGMA_CLIP);
}

/** The YAML form of a sigma clip. */
export function sigmaClipToYaml(clip: SigmaClip | null): unknown {
  return clip === null ? null : { Low: clip.low, High: clip.high, Center: clip.center };
}

/** `{Min: 0, Max: 65000}` with Min < Max, or null / false for none. */
export function readMinMaxClip(value: unknown): ReadResult<MinMaxClip | null> {
  if (value === null || value === false) return ok(null);
  const fields = fieldsOf(value, ["Min", "Max"]);
  const min = fields?.get("Min");
  const max = fields?.get("Max");
  if (typeof min === "number" && typeof max === "number" && min < max) return ok({ min, max });
  return fail("is not a min/max clip ({Min: 0, Max: 65000} with Min < Max, or null)");
}

/** The YAML form of a min/max clip. */
export function minMaxClipToYaml(clip: MinMaxClip | null): unknown {
  return clip === null ? null : { Min: clip.min, Max: clip.max };
}

/** An INDI switch member, by device, property and member name (`Dome: Warning Light`). */
export interface IndiSwitchRef {
  /** INDI device name. */
  device: string;
  /** Switch vector (property) name. */
  property: string;
  /** Member of the vector that is turned On. */
  member: string;
}

/** `{Device: D, Property: P, Member: M}` (non-empty names), or null / false for none. */
export function readIndiSwitch(value: unknown): ReadResult<IndiSwitchRef | null> {
  if (value === null || value === false) return ok(null);
  const fields = fieldsOf(value, ["Device", "Property", "Member"]);
  const [device, property, member] = ["Device", "Property", "Member"].map((name) => fields?.get(name));
  if ([device, property, member].every((name) => typeof name === "string" && name.trim() !== "")) {
    return ok({
      device: (device as string).trim(),
      property: (property as string).trim(),
      member: (member as string).trim(),
    });
  }
  return fail("is not an INDI switch ({Device: D, Property: P, Member: M}, or null)");
}

/** The YAML form of an INDI switch reference. */
export function indiSwitchToYaml(ref: IndiSwitchRef | null): unknown {
  return ref === null ? null : { Device: ref.device, Property: ref.property, Member: ref.member };
}

/** A positive number, or null for none. */
export function readOptionalNumber(value: unknown): ReadResult<number | null> {
  if (value === null) return ok(null);
  return typeof value === "number" && Number.isFinite(value) && value > 0
    ? ok(value)
    : fail("is not a positive number (or null)");
}

/** A shared secret of at least 8 characters with no spaces or colons, or null / `""` for none. */
export function readOptionalToken(value: unknown): ReadResult<string | null> {
  if (value === null || value === "") return ok(null);
  return typeof value === "string" && value.length >= 8 && !/[\s:]/.test(value)
    ? ok(value)
    : fail("is not a token (at least 8 characters, no spaces or colons)");
}

/**
 * A list of networks in CIDR form (or one), checked with the parser the
 * XML-RPC server uses ({@link parseNetwork}), so what passes here starts there.
 */
export function readNetworks(value: unknown): ReadResult<string[]> {
  const list = typeof value === "string" ? [value] : value ?? [];
  if (!Array.isArray(list) || list.some((item) => typeof item !== "string" || parseNetwork(item) === null)) {
    return fail("is not a list of networks in CIDR form (e.g. [127.0.0.1/32, 10.0.0.0/8])");
  }
  return ok(list.map((item) => (item as string).trim()));
}

/** `median`, `mean` or `clipped-mean`. */
export const readOverscanEstimate: Reader<OverscanEstimate> = readChoice(
  ["median", "mean", "clipped-mean"],
  "an overscan estimate",
);

/** `none`, or `polynomial N` with N from 1 to 10. */
export function readOverscanModel(value: unknown): ReadResult<OverscanModel> {
  const text = typeof value === "string" ? value.trim().toLowerCase() : "";
  if (text === "none") return ok("none");
  const polynomial = /^polynomial\s+(\d{1,2})$/.exec(text);
  const order = polynomial ? Number(polynomial[1]) : NaN;
  return order >= 1 && order <= 10
    ? ok({ polynomial: order })
    : fail("is not an overscan model (none, or polynomial N with N from 1 to 10)");
}

/** The YAML form of an overscan model (`polynomial 3`). */
export function overscanModelToYaml(model: OverscanModel): unknown {
  return model === "none" ? "none" : `polynomial ${model.polynomial}`;
}

/** A URL with its password, if any, replaced by `********`. */
export function redactUrlPassword(value: string): string {
  try {
    const url = new URL(value);
    if (url.password) url.password = "********";
    return url.toString();
  } catch {
    return value;
  }
}

/** A secret replaced by `********` (null stays null). */
export function redactSecret(value: string | null): string | null {
  return value ? "********" : value;
}
