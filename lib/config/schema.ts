/**
 * The declarations a configuration is made of. A **key** is one YAML key: its
 * name, the reader that checks a value and turns it into the typed value, its
 * default (which may depend on the state directory) and one line of doc. A
 * **section** is a mapping of keys and nested sections. A schema is the
 * top-level mapping of sections, each under the property it has in the typed
 * config.
 *
 * Everything else comes from the declarations: the typed config
 * ({@link ConfigOf}), the defaults, the parser's messages, `toros config check`
 * and the README's configuration table.
 *
 * @example
 * ```ts
 * import { key, section, type ConfigOf } from "./schema.ts";
 * import { readIntegerIn, readStringList } from "./readers.ts";
 *
 * const schema = {
 *   telescope: section("Telescope", {
 *     doc: "The telescope daemon's instruments",
 *     keys: {
 *       filters: key("Filters", readStringList, { default: ["U", "B", "V"], doc: "filter wheel slots in order" }),
 *       calibration: section("Calibration", {
 *         doc: "Frames per calibration series",
 *         keys: { bias: key("Bias", readIntegerIn(1, 100, "a frame count (1-100)"), { default: 5, doc: "bias frames" }) },
 *       }),
 *     },
 *   }),
 * };
 * type Config = ConfigOf<typeof schema>; // { telescope: { filters: string[]; calibration: { bias: number } } }
 * ```
 *
 * @module
 */
import { readHttpUrl, readNonEmptyString, readPort } from "./readers.ts";

/** What a reader makes of a YAML value: the typed value, or what was expected (`is not a port (1-65535)`). */
export type ReadResult<T> = { ok: true; value: T } | { ok: false; expected: string };

/**
 * Checks a YAML value (as `yaml` gives it: string, number, boolean, null, array
 * or plain object) and turns it into a config value. `baseDir` is the config
 * file's directory, against which relative paths resolve.
 */
export type Reader<T> = (value: unknown, baseDir: string) => ReadResult<T>;

/** The parts of a key's declaration every key has. */
interface KeyDocs<T> {
  /** One line for the README table: what the key means (Markdown). */
  doc: string;
  /** The value as it is written in YAML, for `config check` and the README (default: the value itself). */
  toYaml?: (value: T) => unknown;
  /** What `config check` shows instead of the value (a token, a password in a URL). */
  redact?: (value: T) => T;
}

/** Options of a key every config has: its default, a value or a function of the state directory. */
export interface RequiredKeyOptions<T> extends KeyDocs<T> {
  /** The value when the file does not set the key (`(stateDir) => ...` when it lives in the state directory). */
  default: T | ((stateDir: string) => T);
  /** A required key is always present in the typed config. */
  optional?: false;
}

/** Options of a key that may be absent from the typed config (one of a section's `oneOf` keys). */
export interface OptionalKeyOptions<T> extends KeyDocs<T> {
  /** The value when the file sets none of the section's `oneOf` keys; no default leaves the key absent. */
  default?: T | ((stateDir: string) => T);
  /** The property is optional (`url?: string`). */
  optional: true;
}

/** A declared key; `Optional` says whether its property may be absent from the typed config. */
export interface Key<T, Optional extends boolean = boolean> {
  /** Tells keys from sections when walking a schema. */
  readonly kind: "key";
  /** The key as written in YAML (`Log Level`). */
  readonly name: string;
  /** One line of doc (Markdown). */
  readonly doc: string;
  /** Whether the property may be absent. */
  readonly optional: Optional;
  /** Whether the key has a default. */
  readonly hasDefault: boolean;
  /** Checks and converts a YAML value. */
  read(value: unknown, baseDir: string): ReadResult<T>;
  /** The default for a state directory (a fresh copy each call); undefined when the key has none. */
  defaultFor(stateDir: string): T | undefined;
  /** The value as written in YAML. */
  toYaml(value: T): unknown;
  /** The value `config check` may show. */
  redact(value: T): T;
}

/** Any key, whatever its value type. */
export type AnyKey = Key<unknown, boolean>;

/** The keys and sections of a mapping, each under its property in the typed config. */
export interface Entries {
  readonly [property: string]: AnyKey | Section<Entries>;
}

/** A declared mapping: a top-level section (`Logging`) or a nested one (`Reduction: Overscan`). */
export interface Section<E extends Entries = Entries> {
  /** Tells keys from sections when walking a schema. */
  readonly kind: "section";
  /** The key as written in YAML (`Preprocessor Address`). */
  readonly name: string;
  /** One line of doc. */
  readonly doc: string;
  /** The keys and nested sections. */
  readonly entries: E;
  /** Properties of which a file may set at most one; setting one drops the others' defaults. */
  readonly oneOf: readonly string[];
}

/** A configuration schema: the top-level sections (or keys) under their typed-config properties. */
export type Schema = Entries;

/** Options of {@link section}. */
export interface SectionOptions<E extends Entries> {
  /** One line of doc. */
  doc: string;
  /** The keys and nested sections, under their typed-config properties, in display order. */
  keys: E;
  /** Keys of which a file may set at most one (`Database: File` or `URL`); each must be declared optional. */
  oneOf?: readonly (keyof E & string)[];
}

/** The typed value of a key or section declaration. */
export type ValueOf<X> = X extends Key<infer T, boolean> ? T
  : X extends Section<infer E> ? ConfigOf<E>
  : never;

type OptionalProperties<E extends Entries> = {
  [P in keyof E]: E[P] extends Key<unknown, true> ? P : never;
}[keyof E];

type Flatten<T> = { [P in keyof T]: T[P] } & unknown;

/**
 * The typed config a schema (or section entries) declares: each key's reader
 * type under its property, nested sections as nested objects, optional keys as
 * optional properties.
 */
export type ConfigOf<E extends Entries> = Flatten<
  & { -readonly [P in Exclude<keyof E, OptionalProperties<E>>]: ValueOf<E[P]> }
  & { -readonly [P in OptionalProperties<E>]?: ValueOf<E[P]> }
>;

function identity<T>(value: T): T {
  return value;
}

/**
 * Declares a key: its YAML name, the reader that checks it, its default and one
 * line of doc. The value type is the reader's.
 *
 * @example
 * ```ts
 * const port = key("Port", readPort, { default: 8000, doc: "port the service binds" });
 * const logFile = key("File", readOptionalPath, { default: (state) => `${state}/log/toros.log`, doc: "log file" });
 * ```
 */
export function key<T>(name: string, read: Reader<T>, options: RequiredKeyOptions<NoInfer<T>>): Key<T, false>;
/** Declares a key whose property may be absent (one of a section's `oneOf` keys). */
export function key<T>(name: string, read: Reader<T>, options: OptionalKeyOptions<NoInfer<T>>): Key<T, true>;
export function key<T>(
  name: string,
  read: Reader<T>,
  options: RequiredKeyOptions<T> | OptionalKeyOptions<T>,
): Key<T, boolean> {
  const fallback = options.default;
  return {
    kind: "key",
    name,
    doc: options.doc,
    optional: options.optional === true,
    hasDefault: "default" in options && fallback !== undefined,
    read,
    defaultFor(stateDir: string): T | undefined {
      const value = typeof fallback === "function"
        ? (fallback as (stateDir: string) => T)(stateDir)
        : fallback;
      return value === undefined ? undefined : structuredClone(value);
    },
    toYaml: options.toYaml ?? identity,
    redact: options.redact ?? identity,
  };
}

/**
 * Declares a section: a mapping of keys and nested sections. A file may leave
 * out any key (it takes its default) or the whole section.
 *
 * @example
 * ```ts
 * const logging = section("Logging", {
 *   doc: "Where the log goes",
 *   keys: { level: key("Log Level", readLogLevel, { default: "INFO", doc: "log level" }) },
 * });
 * ```
 */
export function section<E extends Entries>(name: string, options: SectionOptions<E>): Section<E> {
  for (const property of options.oneOf ?? []) {
    const entry = options.keys[property];
    if (entry?.kind !== "key" || !entry.optional) {
      throw new Error(`Section ${name}: oneOf names ${property}, which is not an optional key`);
    }
  }
  return { kind: "section", name, doc: options.doc, entries: options.keys, oneOf: options.oneOf ?? [] };
}

/** Options of {@link addressSection}. */
export interface AddressSectionOptions {
  /** The service, as the docs name it (`preprocessor`, `telescope daemon`). */
  service: string;
  /** The default port. */
  port: number;
  /** The default host, for both the URL and the bind address (default `localhost`). */
  host?: string;
}

/** The keys of every `X Address` section: `HTTP`, `IP`, `Port`. */
export type AddressEntries = {
  http: Key<string, false>;
  ip: Key<string, false>;
  port: Key<number, false>;
};

/**
 * Declares an `X Address: {HTTP, IP, Port}` section, where a service's XML-RPC
 * front desk listens and where clients reach it.
 *
 * @example
 * ```ts
 * const telescopeAddress = addressSection("Telescope Address", { service: "telescope daemon", port: 8001 });
 * ```
 */
export function addressSection(name: string, options: AddressSectionOptions): Section<AddressEntries> {
  const host = options.host ?? "localhost";
  const { service, port } = options;
  return section(name, {
    doc: `Where the ${service}'s XML-RPC service listens`,
    keys: {
      http: key("HTTP", readHttpUrl, {
        default: `http://${host}:${port}/`,
        doc: `URL clients use to reach the ${service}`,
      }),
      ip: key("IP", readNonEmptyString, { default: host, doc: `address the ${service} binds` }),
      port: key("Port", readPort, { default: port, doc: `port the ${service} binds` }),
    },
  });
}

/** A key or section met while walking a schema, with its place. */
export interface SchemaEntry {
  /** The YAML names from the top (`["Reduction", "Overscan", "Model"]`). */
  names: string[];
  /** The typed-config properties from the top (`["reduction", "overscan", "model"]`). */
  properties: string[];
  /** The declaration. */
  entry: AnyKey | Section;
}

/** Every section and key of a schema, depth first in declaration order (a section before its keys). */
export function walkSchema(schema: Schema): SchemaEntry[] {
  const found: SchemaEntry[] = [];
  const visit = (entries: Entries, names: string[], properties: string[]) => {
    for (const [property, entry] of Object.entries(entries)) {
      const here = { names: [...names, entry.name], properties: [...properties, property], entry };
      found.push(here);
      if (entry.kind === "section") visit(entry.entries, here.names, here.properties);
    }
  };
  visit(schema, [], []);
  return found;
}

/** The defaults a schema declares, for a state directory (keys without a default are absent). */
export function defaultsOf<S extends Schema>(schema: S, stateDir: string): ConfigOf<S> {
  const build = (entries: Entries): Record<string, unknown> => {
    const value: Record<string, unknown> = {};
    for (const [property, entry] of Object.entries(entries)) {
      if (entry.kind === "section") {
        value[property] = build(entry.entries);
      } else {
        const fallback = entry.defaultFor(stateDir);
        if (fallback !== undefined) value[property] = fallback;
      }
    }
    return value;
  };
  return build(schema) as ConfigOf<S>;
}
