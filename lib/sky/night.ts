/**
 * The observatory's night: its date (noon to noon in local mean solar time) and its dark
 * part (the Sun below the twilight angle), including the polar nights that are never or
 * always dark.
 *
 * @module
 */
import { altitudeOf, localAxes, siteGeometry, skyTrack, topocentric } from "./_ephemeris.ts";
import { formatDegrees, formatMinute } from "./_format.ts";
import { findIntervals, maximize, sampleTimes } from "./_search.ts";
import { checkAngle, checkDate, checkSite, checkStep } from "./_validate.ts";
import { type Site, SkyError, type TimeWindow } from "./types.ts";

const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;
/** Local mean solar time runs 4 minutes ahead of UTC per degree of east longitude. */
const MS_PER_DEGREE_EAST = 240_000;
/** Dark-window boundaries are found to this precision. */
const BOUNDARY_TOLERANCE_MS = 1_000;

/**
 * The night `date` belongs to, as `YYYY-MM-DD`: the local date at the start of the night,
 * nights running from noon to noon in local mean solar time at `longitude` (degrees, east
 * positive). Time zones and daylight saving play no part.
 *
 * @example
 * ```ts
 * nightDate(new Date("2026-12-01T03:00:00Z"), -97.57); // "2026-11-30"
 * nightDate(new Date("2026-12-01T19:00:00Z"), -97.57); // "2026-12-01" (after local noon)
 * ```
 */
export function nightDate(date: Date, longitude: number): string {
  const ms = checkDate(date);
  checkAngle(longitude, "longitude", -180, 360);
  const local = ms + longitude * MS_PER_DEGREE_EAST - 12 * HOUR_MS;
  return new Date(local).toISOString().slice(0, 10);
}

/**
 * The span of the night named `night` (`YYYY-MM-DD`) at `longitude`: from local mean noon
 * of that date to local mean noon of the next.
 *
 * @example
 * ```ts
 * nightBounds("2026-11-30", -97.57); // { start: 2026-11-30T18:30:16.800Z, end: 2026-12-01T18:30:16.800Z }
 * ```
 */
export function nightBounds(night: string, longitude: number): TimeWindow {
  const match = /^(\d{4})-(\d{2})-(\d{2})$/.exec(night);
  const noon = match ? Date.UTC(Number(match[1]), Number(match[2]) - 1, Number(match[3]), 12) : NaN;
  if (!match || new Date(noon).toISOString().slice(0, 10) !== night) {
    throw new SkyError(`Invalid night date: "${night}" (expected YYYY-MM-DD)`);
  }
  checkAngle(longitude, "longitude", -180, 360);
  const start = noon - longitude * MS_PER_DEGREE_EAST;
  return { start: new Date(start), end: new Date(start + DAY_MS) };
}

/** Options of {@link darkWindow}. */
export interface DarkWindowOptions {
  /** The Sun's altitude (degrees) below which it is dark: -12 nautical (default), -18 astronomical. */
  twilight?: number;
  /** Sampling step in minutes (default 5); boundaries are then refined to 1 s. */
  step?: number;
}

/** The Sun's lowest point in a night. */
export interface SunExtreme {
  /** Geometric altitude of the Sun's centre, degrees. */
  altitude: number;
  /** When. */
  time: Date;
}

/** Fields every kind of {@link DarkWindow} has. */
export interface DarkWindowBase {
  /** The night date (`YYYY-MM-DD`, see {@link nightDate}). */
  night: string;
  /** The twilight angle used, degrees. */
  twilight: number;
  /** The Sun's lowest altitude in the night and when. */
  lowestSun: SunExtreme;
}

/**
 * The dark part of a night:
 * - `"dark"`: the Sun goes below the twilight angle at `start` and comes back at `end`;
 * - `"always dark"`: it stays below from noon to noon (polar night); `start`/`end` are the night's bounds;
 * - `"never dark"`: it stays above (white nights); `start`/`end` are null and `reason` says how close it came.
 */
export type DarkWindow =
  | DarkWindowBase & { kind: "dark" | "always dark"; start: Date; end: Date }
  | DarkWindowBase & { kind: "never dark"; start: null; end: null; reason: string };

/**
 * The dark interval of the night containing `date` at `site`: when the Sun's centre
 * (geometric, no refraction) is below `twilight` degrees. Sampled every `step` minutes
 * from local noon to local noon; start and end are exact to 1 s.
 *
 * @example
 * ```ts
 * const site = { latitude: 25.99, longitude: -97.57, elevation: 12 };
 * darkWindow(site, new Date("2026-12-01T03:00:00Z"), { twilight: -12 });
 * // { kind: "dark", night: "2026-11-30", start: 2026-12-01T00:31:34Z, end: 2026-12-01T12:06:58Z, … }
 * ```
 */
export function darkWindow(site: Site, date: Date, options: DarkWindowOptions = {}): DarkWindow {
  checkSite(site);
  checkDate(date);
  const twilight = checkAngle(options.twilight ?? -12, "twilight angle");
  const step = checkStep(options.step ?? 5) * 60_000;
  const night = nightDate(date, site.longitude);
  const bounds = nightBounds(night, site.longitude);
  const start = bounds.start.getTime();
  const end = bounds.end.getTime();
  const sun = sunAltitudeTrack(site, start, end);
  const darkness = (ms: number): number => twilight - sun(ms);

  const intervals = findIntervals(darkness, start, end, step, BOUNDARY_TOLERANCE_MS);
  const lowest = lowestSun(sun, start, end, step);
  const base = { night, twilight, lowestSun: lowest };
  if (intervals.length === 0) {
    const reason = `never dark: the Sun stays above the twilight angle ${twilight}° ` +
      `(lowest ${formatDegrees(lowest.altitude, twilight)} at ${formatMinute(lowest.time.getTime())})`;
    return { ...base, kind: "never dark", start: null, end: null, reason };
  }
  if (intervals.length === 1 && intervals[0][0] === start && intervals[0][1] === end) {
    return { ...base, kind: "always dark", start: new Date(start), end: new Date(end) };
  }
  // A night has one dark stretch around local midnight; keep the one holding the Sun's lowest point.
  const deepest = lowest.time.getTime();
  const chosen = intervals.find(([from, to]) => from <= deepest && deepest <= to) ??
    intervals.reduce((a, b) => (b[1] - b[0] > a[1] - a[0] ? b : a));
  return { ...base, kind: "dark", start: new Date(chosen[0]), end: new Date(chosen[1]) };
}

/** The Sun's geometric altitude as a fast function of time over `[start, end]`. */
function sunAltitudeTrack(site: Site, start: number, end: number): (ms: number) => number {
  const track = skyTrack(start, end);
  const geometry = siteGeometry(site);
  return function sunAltitudeAt(ms: number): number {
    const frame = track(ms);
    const axes = localAxes(geometry, frame);
    return altitudeOf(topocentric(frame.sun, axes), axes);
  };
}

function lowestSun(sun: (ms: number) => number, start: number, end: number, step: number): SunExtreme {
  const times = sampleTimes(start, end, step);
  let best = 0;
  const values = times.map(sun);
  for (let i = 1; i < times.length; i++) if (values[i] < values[best]) best = i;
  const low = times[Math.max(0, best - 1)];
  const high = times[Math.min(times.length - 1, best + 1)];
  const found = maximize((ms) => -sun(ms), low, high, 10_000);
  return { altitude: -found.value, time: new Date(found.time) };
}
