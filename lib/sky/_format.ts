/**
 * How measured values read in reasons: degrees with one decimal, airmass with two,
 * times as UTC to the minute.
 *
 * @module
 */

/** `value` with `digits` decimals; more when that would print the limit itself (29.96 is not "30.0"). */
export function formatValue(value: number, digits: number, limit?: number): string {
  if (!Number.isFinite(value)) return value > 0 ? "∞" : "-∞";
  let text = value.toFixed(digits);
  if (limit !== undefined && value !== limit) {
    while (Number(text) === limit && digits < 6) text = value.toFixed(++digits);
  }
  return text === "-0" || /^-0\.0+$/.test(text) ? text.slice(1) : text;
}

/** Degrees for a reason, e.g. `12.3°`. */
export function formatDegrees(value: number, limit?: number): string {
  return `${formatValue(value, 1, limit)}°`;
}

/** A UTC time to the minute, e.g. `2026-12-01T03:10Z`. */
export function formatMinute(ms: number): string {
  return `${new Date(Math.round(ms / 60_000) * 60_000).toISOString().slice(0, 16)}Z`;
}
