/**
 * The pieces the daemons' pages are written with: every piece escapes what it
 * is given as text, so a FITS header card or a work order's `ID` (user input)
 * can never become markup. Functions that take HTML say so in their argument's
 * name (`bodyHtml`, `cells`); everything else is text.
 *
 * @module
 */
import { escapeHtml } from "../../xmlrpc/mod.ts";

export { escapeHtml };

/** A link to `href` (a path of this daemon, or an URL) with `text` as its text; both escaped. */
export function link(href: string, text: string): string {
  return `<a href="${escapeHtml(href)}">${escapeHtml(text)}</a>`;
}

/** A path with `segments` URI-encoded, e.g. `pathTo("jobs", 7)` → `/jobs/7`. */
export function pathTo(...segments: (string | number)[]): string {
  return "/" + segments.map((segment) => encodeURIComponent(String(segment))).join("/");
}

/** Seconds in words a person reads at a glance: `0.42 s`, `12 s`, `3 min 4 s`, `2 h 5 min`. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return "";
  const negative = seconds < 0 ? "−" : "";
  const s = Math.abs(seconds);
  if (s < 10) return `${negative}${s < 1 ? s.toFixed(2) : s.toFixed(1)} s`;
  if (s < 60) return `${negative}${Math.round(s)} s`;
  if (s < 3600) return `${negative}${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
  if (s < 86400) return `${negative}${Math.floor(s / 3600)} h ${Math.round((s % 3600) / 60)} min`;
  return `${negative}${Math.floor(s / 86400)} d ${Math.round((s % 86400) / 3600)} h`;
}

/** Seconds from one ISO 8601 time to another, or NaN when either is missing. */
export function secondsBetween(from: string | null | undefined, to: string | null | undefined): number {
  if (!from || !to) return NaN;
  return (Date.parse(to) - Date.parse(from)) / 1000;
}

/** An ISO 8601 time as `<time>`, shown as `2026-11-24 03:12:09 UTC`; empty for null. */
export function formatTime(iso: string | null | undefined): string {
  if (!iso) return "";
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return escapeHtml(iso);
  const text = `${date.toISOString().slice(0, 19).replace("T", " ")} UTC`;
  return `<time datetime="${escapeHtml(date.toISOString())}">${text}</time>`;
}

/** A whole percentage of a 0..1 fraction, as the pages show it (`42 %`). */
export function percent(fraction: number): string {
  return `${Math.floor(Math.max(0, Math.min(1, fraction)) * 100)} %`;
}

/**
 * A progress bar with its percentage; with `job`, marked so the page's script
 * updates it live (`data-progress`, `data-percent`).
 */
export function progressBar(fraction: number, job?: number): string {
  const value = Math.round(Math.max(0, Math.min(1, fraction)) * 1000) / 10;
  const mark = job === undefined ? "" : ` data-progress="${job}"`;
  const markText = job === undefined ? "" : ` data-percent="${job}"`;
  return `<span class="bar"><progress max="100" value="${value}"${mark}></progress> <span${markText}>${
    percent(fraction)
  }</span></span>`;
}

/** Badge colours of the words that are not job statuses: a daemon's health. */
const BADGE_CLASSES: Record<string, string> = { ok: "done", degraded: "failed" };

/** A job status (or a health status, `ok` or `degraded`) as a coloured badge. */
export function statusBadge(status: string): string {
  const known = ["queued", "running", "done", "failed", "cancelled"].includes(status)
    ? status
    : BADGE_CLASSES[status] ?? "other";
  return `<span class="badge ${known}">${escapeHtml(status)}</span>`;
}

/** A column of {@link table}: its heading (text) and, optionally, a class for its cells. */
export interface Column {
  /** The column's heading, and each cell's label on a narrow screen. */
  heading: string;
  /** CSS class of the column's cells (`num` right-aligns numbers, `path` breaks long paths anywhere). */
  className?: string;
}

/** How {@link table} renders. */
export interface TableOptions {
  /** Shown in one row when there are no rows. */
  empty?: string;
  /** `id` of the table. */
  id?: string;
}

/**
 * A table whose rows turn into labelled cards on a narrow screen (each cell
 * carries its column's heading), so a phone never scrolls sideways. `rows`
 * hold cell HTML, already escaped.
 */
export function table(columns: (string | Column)[], rows: string[][], options: TableOptions = {}): string {
  const cols = columns.map((column) => typeof column === "string" ? { heading: column } : column);
  const head = cols.map((column) => `<th>${escapeHtml(column.heading)}</th>`).join("");
  const body = rows.length === 0
    ? `<tr><td colspan="${cols.length}" class="empty">${escapeHtml(options.empty ?? "None.")}</td></tr>`
    : rows.map((cells) =>
      `<tr>${
        cells.map((cell, i) => {
          const column = cols[i] ?? { heading: "" };
          const klass = column.className ? ` class="${escapeHtml(column.className)}"` : "";
          return `<td data-label="${escapeHtml(column.heading)}"${klass}>${cell}</td>`;
        }).join("")
      }</tr>`
    ).join("\n");
  const id = options.id ? ` id="${escapeHtml(options.id)}"` : "";
  return `<table class="cards"${id}><thead><tr>${head}</tr></thead><tbody>\n${body}\n</tbody></table>`;
}

/** A `<dl>` of label (text) and value (HTML) pairs; pairs whose value is empty are left out. */
export function definitionList(entries: [string, string][]): string {
  const items = entries.filter(([, value]) => value !== "").map(([label, value]) =>
    `<div><dt>${escapeHtml(label)}</dt><dd>${value}</dd></div>`
  );
  return `<dl class="facts">${items.join("")}</dl>`;
}

/** A section with a heading (text) and a body (HTML). */
export function section(title: string, bodyHtml: string, id?: string): string {
  const anchor = id ? ` id="${escapeHtml(id)}"` : "";
  return `<section${anchor}><h2>${escapeHtml(title)}</h2>\n${bodyHtml}\n</section>`;
}

/** A list (`<ul>`) of text items, each escaped; `empty` when there are none. */
export function textList(items: readonly string[], empty = "None."): string {
  if (items.length === 0) return `<p class="empty">${escapeHtml(empty)}</p>`;
  return `<ul>${items.map((item) => `<li>${escapeHtml(item)}</li>`).join("")}</ul>`;
}

/**
 * Any JSON-like value as HTML: scalars as text, arrays as lists, objects as
 * definition lists (nested), everything escaped. For details a service reports
 * without a page of its own (its `/health` details).
 */
export function valueHtml(value: unknown, depth = 0): string {
  if (value === null || value === undefined) return '<span class="empty">—</span>';
  if (value instanceof Date) return formatTime(value.toISOString());
  if (typeof value !== "object") return escapeHtml(String(value));
  if (depth > 6) return escapeHtml(JSON.stringify(value));
  if (Array.isArray(value)) {
    if (value.length === 0) return '<span class="empty">none</span>';
    return `<ul>${value.map((item) => `<li>${valueHtml(item, depth + 1)}</li>`).join("")}</ul>`;
  }
  return definitionList(
    Object.entries(value as Record<string, unknown>).map(([key, item]) => [key, valueHtml(item, depth + 1)]),
  );
}

/** A JSON value, indented, in a `<pre>`. */
export function jsonBlock(value: unknown): string {
  return `<pre class="json">${escapeHtml(JSON.stringify(value, null, 2) ?? "null")}</pre>`;
}

/** A short notice (text) in a box, e.g. why a preview is not there yet. */
export function notice(text: string): string {
  return `<p class="notice">${escapeHtml(text)}</p>`;
}
