/**
 * What is shown from a schema: the effective config as YAML with each value's
 * source (`toros config check`), the same config with secrets hidden (its
 * `--json`), and the Markdown table of every key, default and meaning (the
 * README's configuration reference).
 *
 * @module
 */
import { stringify } from "yaml";
import type { LoadedConfig } from "./parse.ts";
import { type AnyKey, type ConfigOf, type Schema, walkSchema } from "./schema.ts";

/** A value as one line of flow YAML (`[/data/toros]`, `{Low: 3, High: 3, Center: median}`, `"*"`). */
export function formatYamlValue(value: unknown): string {
  if (value === undefined) return "null";
  return stringify(value, { collectionStyle: "flow", flowCollectionPadding: false, lineWidth: 0 }).trimEnd();
}

function valueAt(config: unknown, properties: string[]): unknown {
  let value = config;
  for (const property of properties) {
    if (typeof value !== "object" || value === null || !(property in value)) return undefined;
    value = (value as Record<string, unknown>)[property];
  }
  return value;
}

/**
 * The effective config as YAML text, every key of the schema in declaration
 * order with a `# file` / `# default` note; secrets are hidden. The text loads
 * back as the same config.
 */
export function renderEffective<S extends Schema>(schema: S, loaded: LoadedConfig<ConfigOf<S>>): string {
  const lines: string[] = [`# effective configuration (${loaded.path ?? "embedded defaults"})`];
  for (const { names, properties, entry } of walkSchema(schema)) {
    const indent = "  ".repeat(names.length - 1);
    const name = names[names.length - 1];
    if (entry.kind === "section") {
      lines.push(`${indent}${name}:`);
      continue;
    }
    const value = valueAt(loaded.config, properties);
    if (value === undefined) continue;
    const shown = formatYamlValue(entry.toYaml(entry.redact(value)));
    const source = loaded.sources[names.join(".")] ?? "default";
    lines.push(`${indent}${name}: ${shown}`.padEnd(56) + `  # ${source}`);
  }
  return lines.join("\n");
}

/** A copy of a config with every key's secret hidden (`Security.Token`, a password in `Database.URL`). */
export function redactConfig<C>(schema: Schema, config: C): C {
  const copy = structuredClone(config);
  for (const { properties, entry } of walkSchema(schema)) {
    if (entry.kind !== "key") continue;
    const holder = valueAt(copy, properties.slice(0, -1)) as Record<string, unknown> | undefined;
    const property = properties[properties.length - 1];
    if (holder && holder[property] !== undefined) {
      holder[property] = (entry as AnyKey).redact(holder[property]);
    }
  }
  return copy;
}

function markdownCell(text: string): string {
  return text.replaceAll("|", "\\|");
}

/**
 * The Markdown table of every key: its path, its default (as YAML, `$STATE`
 * for the state directory; `—` when it has none) and its one line of doc,
 * padded as `deno fmt` pads it.
 */
export function renderConfigTable(schema: Schema): string {
  const rows = [["key", "default", "meaning"]];
  for (const { names, entry } of walkSchema(schema)) {
    if (entry.kind !== "key") continue;
    const fallback = entry.defaultFor("$STATE");
    const shown = fallback === undefined ? "—" : `\`${formatYamlValue(entry.toYaml(fallback))}\``;
    rows.push([`\`${names.join(".")}\``, markdownCell(shown), markdownCell(entry.doc)]);
  }
  const widths = rows[0].map((_, column) => Math.max(...rows.map((row) => row[column].length)));
  const line = (cells: string[]) =>
    `| ${cells.map((cell, column) => cell.padEnd(widths[column])).join(" | ")} |`;
  const [header, ...body] = rows;
  return [line(header), line(widths.map((width) => "-".repeat(width))), ...body.map(line)].join("\n");
}

const SECTION_HEADING = "## Configuration reference";

function tableRange(markdown: string): { start: number; end: number } {
  const lines = markdown.split("\n");
  const heading = lines.indexOf(SECTION_HEADING);
  const start = heading < 0
    ? -1
    : lines.findIndex((line, index) => index > heading && line.startsWith("| key "));
  if (start < 0) throw new Error(`No configuration table (a "| key" table under "${SECTION_HEADING}") found`);
  let end = start;
  while (end < lines.length && lines[end].startsWith("|")) end++;
  return { start, end };
}

/** The configuration table in a README (the first `| key` table under "## Configuration reference"). */
export function readmeConfigTable(markdown: string): string {
  const { start, end } = tableRange(markdown);
  return markdown.split("\n").slice(start, end).join("\n");
}

/** The README with its configuration table replaced by `table`. */
export function replaceReadmeConfigTable(markdown: string, table: string): string {
  const { start, end } = tableRange(markdown);
  const lines = markdown.split("\n");
  return [...lines.slice(0, start), table, ...lines.slice(end)].join("\n");
}
