/**
 * Argument checks shared by the public functions: each throws a SkyError that names
 * the argument, its value and the accepted range.
 *
 * @module
 */
import { type Site, SkyError, type Target, type TimeWindow } from "./types.ts";

function requireNumber(value: unknown, name: string, low: number, high: number, unit: string): number {
  if (typeof value !== "number" || !Number.isFinite(value) || value < low || value > high) {
    throw new SkyError(`Invalid ${name}: ${String(value)} (expected ${low} to ${high} ${unit})`);
  }
  return value;
}

/** Checks a site's latitude, longitude and elevation. */
export function checkSite(site: Site): void {
  if (site === null || typeof site !== "object") {
    throw new SkyError(`Invalid site: ${String(site)} (expected {latitude, longitude, elevation})`);
  }
  requireNumber(site.latitude, "site latitude", -90, 90, "degrees");
  requireNumber(site.longitude, "site longitude", -180, 360, "degrees");
  requireNumber(site.elevation, "site elevation", -500, 10_000, "metres");
}

/** Checks a target's right ascension (hours) and declination (degrees). */
export function checkTarget(target: Target, name = "target"): void {
  if (target === null || typeof target !== "object") {
    throw new SkyError(`Invalid ${name}: ${String(target)} (expected {ra, dec})`);
  }
  requireNumber(target.ra, `${name} RA`, 0, 24, "hours");
  requireNumber(target.dec, `${name} Dec`, -90, 90, "degrees");
}

/** Checks a Date and returns its milliseconds since 1970. */
export function checkDate(date: Date, name = "date"): number {
  const ms = date instanceof Date ? date.getTime() : NaN;
  if (!Number.isFinite(ms)) throw new SkyError(`Invalid ${name}: ${String(date)} (expected a valid Date)`);
  return ms;
}

/** Checks a time window and returns its start and end in milliseconds. */
export function checkWindow(window: TimeWindow): [number, number] {
  if (window === null || typeof window !== "object") {
    throw new SkyError(`Invalid time window: ${String(window)} (expected {start, end})`);
  }
  const start = checkDate(window.start, "window start");
  const end = checkDate(window.end, "window end");
  if (end <= start) {
    throw new SkyError(
      `Invalid time window: end ${window.end.toISOString()} is not after start ${window.start.toISOString()}`,
    );
  }
  if (end - start > 31 * 86_400_000) {
    throw new SkyError(
      `Invalid time window: ${((end - start) / 86_400_000).toFixed(1)} days (expected at most 31)`,
    );
  }
  return [start, end];
}

/** Checks an angle in degrees within a range; `name` says which option it is. */
export function checkAngle(value: number, name: string, low = -90, high = 90): number {
  return requireNumber(value, name, low, high, "degrees");
}

/** Checks a sampling step in minutes. */
export function checkStep(minutes: number, name = "step"): number {
  return requireNumber(minutes, name, 0.1, 60, "minutes");
}
