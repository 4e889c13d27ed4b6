/**
 * Whether and when a target can be observed: the Sun below the twilight angle, the
 * target above an altitude and below an airmass, and far enough from the Moon.
 *
 * {@link isObservable} answers for one instant and says which checks fail, with the
 * measured value and the limit. {@link observableWindows} and {@link bestTime} answer
 * for a time window (typically a night from `darkWindow`): the target is sampled every
 * `step` minutes (default 5) and every boundary is refined by bisection to 1 s; a
 * stretch shorter than a step is found when it sits on a sampled peak (a culmination),
 * otherwise it may be missed. One call over a night costs 1–2 ms, because
 * the Sun, Moon and Earth orientation come from an hourly ephemeris track that is
 * interpolated between samples (see `_ephemeris.ts`).
 *
 * @module
 */
import {
  altitudeOf,
  apparentVector,
  catalogueVector,
  frameAt,
  localAxes,
  separation,
  type SiteGeometry,
  siteGeometry,
  type SkyFrame,
  skyTrack,
  topocentric,
  type Vec3,
} from "./_ephemeris.ts";
import { formatDegrees, formatMinute, formatValue } from "./_format.ts";
import { findIntervals, type Margin, maximize, sampleTimes } from "./_search.ts";
import { checkAngle, checkDate, checkSite, checkStep, checkTarget, checkWindow } from "./_validate.ts";
import { airmass, altitudeForAirmass } from "./coordinates.ts";
import { type Site, SkyError, type Target, type TimeWindow } from "./types.ts";

/** Observing limits; each one left out takes its value from {@link DEFAULT_LIMITS}. */
export interface ObservingLimits {
  /** Lowest geometric altitude of the target, degrees. */
  altitudeLimit?: number;
  /** Highest airmass of the target (Young 1994, see `airmass`). */
  airmassLimit?: number;
  /** Smallest angle between the target and the Moon's centre, degrees (applied whether or not the Moon is up). */
  moonSeparation?: number;
  /** The Sun's altitude below which it is dark, degrees. */
  twilight?: number;
}

/** The limits used when none are given: 30° altitude, airmass 2, 30° from the Moon, nautical twilight (-12°). */
export const DEFAULT_LIMITS: Readonly<Required<ObservingLimits>> = Object.freeze({
  altitudeLimit: 30,
  airmassLimit: 2,
  moonSeparation: 30,
  twilight: -12,
});

/** The checks {@link isObservable} makes, in the order it reports them. */
export type ObservabilityCheck = "twilight" | "altitude" | "airmass" | "moonSeparation";

/**
 * The answer of {@link isObservable}: `ok`, or the failed checks and a reason naming each
 * with its measured value and limit, e.g. `altitude 12.3° is below the limit 30°`.
 */
export type Observability =
  | { ok: true }
  | { ok: false; reason: string; failed: ObservabilityCheck[] };

/** Limits plus the sampling step of the window searches. */
export interface ObservingOptions extends ObservingLimits {
  /** Sampling step in minutes (default 5); boundaries are refined to 1 s. */
  step?: number;
}

/** The answer of {@link observableWindows}. */
export interface ObservableWindows {
  /** The stretches of the window, in time order, when every check passes; empty when none. */
  windows: TimeWindow[];
  /** Why there is no window, e.g. `never above 30° tonight (highest 12.3° at 2026-12-01T03:10Z)`. */
  reason?: string;
}

/** The answer of {@link bestTime}: the highest point of the target inside its observable windows, or why none. */
export type BestTime =
  | { ok: true; time: Date; altitude: number; airmass: number; windows: TimeWindow[] }
  | { ok: false; reason: string };

/** What the checks measure at one instant. */
interface Conditions {
  sunAltitude: number;
  altitude: number;
  moonSeparation: number;
}

const BOUNDARY_TOLERANCE_MS = 1_000;
const PEAK_TOLERANCE_MS = 10_000;

function resolveLimits(limits: ObservingLimits): Required<ObservingLimits> {
  const resolved = {
    altitudeLimit: checkAngle(limits.altitudeLimit ?? DEFAULT_LIMITS.altitudeLimit, "altitude limit"),
    airmassLimit: limits.airmassLimit ?? DEFAULT_LIMITS.airmassLimit,
    moonSeparation: checkAngle(
      limits.moonSeparation ?? DEFAULT_LIMITS.moonSeparation,
      "Moon separation limit",
      0,
      180,
    ),
    twilight: checkAngle(limits.twilight ?? DEFAULT_LIMITS.twilight, "twilight angle"),
  };
  if (typeof resolved.airmassLimit !== "number" || !(resolved.airmassLimit >= 1)) {
    throw new SkyError(`Invalid airmass limit: ${String(resolved.airmassLimit)} (expected a number ≥ 1)`);
  }
  return resolved;
}

function conditionsIn(frame: SkyFrame, geometry: SiteGeometry, catalogue: Vec3): Conditions {
  const axes = localAxes(geometry, frame);
  const direction = apparentVector(catalogue, frame);
  return {
    sunAltitude: altitudeOf(topocentric(frame.sun, axes), axes),
    altitude: altitudeOf(direction, axes),
    moonSeparation: separation(direction, topocentric(frame.moon, axes)),
  };
}

function failures(c: Conditions, limits: Required<ObservingLimits>): [ObservabilityCheck, string][] {
  const { altitudeLimit, airmassLimit, moonSeparation, twilight } = limits;
  const failed: [ObservabilityCheck, string][] = [];
  if (c.sunAltitude > twilight) {
    const sun = formatDegrees(c.sunAltitude, twilight);
    failed.push(["twilight", `Sun at ${sun} is above the twilight angle ${twilight}°`]);
  }
  if (c.altitude < altitudeLimit) {
    const altitude = formatDegrees(c.altitude, altitudeLimit);
    failed.push(["altitude", `altitude ${altitude} is below the limit ${altitudeLimit}°`]);
  }
  const x = airmass(c.altitude);
  if (x > airmassLimit) {
    const value = formatValue(x, 2, airmassLimit) + (Number.isFinite(x) ? "" : " (below the horizon)");
    failed.push(["airmass", `airmass ${value} is above the limit ${airmassLimit}`]);
  }
  if (c.moonSeparation < moonSeparation) {
    const distance = formatDegrees(c.moonSeparation, moonSeparation);
    failed.push(["moonSeparation", `Moon separation ${distance} is below the limit ${moonSeparation}°`]);
  }
  return failed;
}

/**
 * Whether `target` can be observed from `site` at `date` under `limits` (defaults
 * {@link DEFAULT_LIMITS}). Every failing check is reported, in the order twilight,
 * altitude, airmass, Moon separation, joined by "; ".
 *
 * @example
 * ```ts
 * const site = { latitude: 25.99, longitude: -97.57, elevation: 12 };
 * isObservable(site, { ra: 12, dec: -80 }, new Date("2026-12-01T06:00:00Z"));
 * // { ok: false, failed: ["altitude", "airmass"],
 * //   reason: "altitude -30.2° is below the limit 30°; airmass ∞ (below the horizon) is above the limit 2" }
 * ```
 */
export function isObservable(
  site: Site,
  target: Target,
  date: Date,
  limits: ObservingLimits = {},
): Observability {
  checkSite(site);
  checkTarget(target);
  const resolved = resolveLimits(limits);
  const conditions = conditionsIn(frameAt(checkDate(date)), siteGeometry(site), catalogueVector(target));
  const failed = failures(conditions, resolved);
  if (failed.length === 0) return { ok: true };
  return {
    ok: false,
    reason: failed.map(([, message]) => message).join("; "),
    failed: failed.map(([check]) => check),
  };
}

/** A window's conditions as a fast function of time, the merged margin, and the resolved settings. */
interface Survey {
  start: number;
  end: number;
  step: number;
  limits: Required<ObservingLimits>;
  conditions: (ms: number) => Conditions;
  margin: Margin;
}

function survey(site: Site, target: Target, window: TimeWindow, options: ObservingOptions): Survey {
  checkSite(site);
  checkTarget(target);
  const [start, end] = checkWindow(window);
  const limits = resolveLimits(options);
  const step = checkStep(options.step ?? 5) * 60_000;
  const track = skyTrack(start, end);
  const geometry = siteGeometry(site);
  const catalogue = catalogueVector(target);
  const conditions = (ms: number): Conditions => conditionsIn(track(ms), geometry, catalogue);
  // The airmass limit is an altitude limit in disguise (airmass falls as altitude rises), so
  // every check is a margin in degrees and one bisection serves them all.
  const lowestAltitude = Math.max(limits.altitudeLimit, altitudeForAirmass(limits.airmassLimit));
  const margin = (ms: number): number => {
    const c = conditions(ms);
    return Math.min(
      limits.twilight - c.sunAltitude,
      c.altitude - lowestAltitude,
      c.moonSeparation - limits.moonSeparation,
    );
  };
  return { start, end, step, limits, conditions, margin };
}

/**
 * The stretches of `window` when `target` passes every check at `site`, with the reason
 * when there is none: the first check that no sample passes, among the samples that
 * pass the ones before it (twilight, altitude, airmass, Moon), with the best value
 * reached, e.g. `never above 30° tonight (highest 12.3° at 2026-12-01T03:10Z)`.
 *
 * @example
 * ```ts
 * const site = { latitude: 25.99, longitude: -97.57, elevation: 12 };
 * const night = darkWindow(site, new Date("2026-12-01T03:00:00Z"));
 * observableWindows(site, { ra: 5.5881, dec: -5.3911 }, { start: night.start!, end: night.end! });
 * ```
 */
export function observableWindows(
  site: Site,
  target: Target,
  window: TimeWindow,
  options: ObservingOptions = {},
): ObservableWindows {
  const s = survey(site, target, window, options);
  const intervals = findIntervals(s.margin, s.start, s.end, s.step, BOUNDARY_TOLERANCE_MS);
  if (intervals.length > 0) {
    return { windows: intervals.map(([from, to]) => ({ start: new Date(from), end: new Date(to) })) };
  }
  return { windows: [], reason: whyNever(s) };
}

/** Follows the checks in order over the samples and says which one nothing gets past. */
function whyNever(s: Survey): string {
  const { limits } = s;
  const times = sampleTimes(s.start, s.end, s.step);
  const samples = times.map((time, index) => ({ time, index, ...s.conditions(time) }));
  const isDark = (c: Conditions): boolean => c.sunAltitude <= limits.twilight;
  const isHigh = (c: Conditions): boolean => isDark(c) && c.altitude >= limits.altitudeLimit;
  const isThin = (c: Conditions): boolean => isHigh(c) && airmass(c.altitude) <= limits.airmassLimit;

  const dark = samples.filter(isDark);
  if (dark.length === 0) {
    const lowest = refine(s, times, samples, (c) => -c.sunAltitude, () => true);
    return `never dark: the Sun stays above the twilight angle ${limits.twilight}° ` +
      `(lowest ${formatDegrees(-lowest.value, limits.twilight)} at ${formatMinute(lowest.time)})`;
  }
  const high = samples.filter(isHigh);
  if (high.length === 0) {
    const highest = refine(s, times, dark, (c) => c.altitude, isDark);
    return `never above ${limits.altitudeLimit}° tonight ` +
      `(highest ${formatDegrees(highest.value, limits.altitudeLimit)} at ${formatMinute(highest.time)})`;
  }
  const thin = samples.filter(isThin);
  if (thin.length === 0) {
    const highest = refine(s, times, high, (c) => c.altitude, isHigh);
    const lowestAirmass = formatValue(airmass(highest.value), 2, limits.airmassLimit);
    return `airmass never below the limit ${limits.airmassLimit} tonight ` +
      `(lowest ${lowestAirmass} at ${formatMinute(highest.time)})`;
  }
  const clear = thin.filter((c) => c.moonSeparation >= limits.moonSeparation);
  if (clear.length === 0) {
    const widest = refine(s, times, thin, (c) => c.moonSeparation, isThin);
    return `Moon separation never reaches the limit ${limits.moonSeparation}° while dark and high enough ` +
      `(widest ${formatDegrees(widest.value, limits.moonSeparation)} at ${formatMinute(widest.time)})`;
  }
  return `no observable stretch found at ${s.step / 60_000}-minute sampling`;
}

/**
 * The best value of `score` near the best of `candidates` (samples), refined between the
 * neighbouring samples while `allowed` holds.
 */
function refine(
  s: Survey,
  times: number[],
  candidates: (Conditions & { time: number; index: number })[],
  score: (c: Conditions) => number,
  allowed: (c: Conditions) => boolean,
): { time: number; value: number } {
  let best = candidates[0];
  for (const c of candidates) if (score(c) > score(best)) best = c;
  const low = times[Math.max(0, best.index - 1)];
  const high = times[Math.min(times.length - 1, best.index + 1)];
  const found = maximize(
    (ms) => {
      const c = s.conditions(ms);
      return allowed(c) ? score(c) : -Infinity;
    },
    low,
    high,
    PEAK_TOLERANCE_MS,
  );
  return found.value >= score(best) ? found : { time: best.time, value: score(best) };
}

/**
 * When in `window` the target is highest while every check passes (the culmination, or
 * the window edge nearest to it), with its altitude (degrees) and airmass; or why it is
 * never observable (as {@link observableWindows}).
 */
export function bestTime(
  site: Site,
  target: Target,
  window: TimeWindow,
  options: ObservingOptions = {},
): BestTime {
  const s = survey(site, target, window, options);
  const intervals = findIntervals(s.margin, s.start, s.end, s.step, BOUNDARY_TOLERANCE_MS);
  if (intervals.length === 0) return { ok: false, reason: whyNever(s) };
  let best = { time: intervals[0][0], value: -Infinity };
  for (const [from, to] of intervals) {
    const times = sampleTimes(from, to, s.step);
    const altitudes = times.map((ms) => s.conditions(ms).altitude);
    let i = 0;
    for (let k = 1; k < times.length; k++) if (altitudes[k] > altitudes[i]) i = k;
    const found = maximize(
      (ms) => s.conditions(ms).altitude,
      times[Math.max(0, i - 1)],
      times[Math.min(times.length - 1, i + 1)],
      PEAK_TOLERANCE_MS,
    );
    if (found.value > best.value) best = found;
  }
  return {
    ok: true,
    time: new Date(best.time),
    altitude: best.value,
    airmass: airmass(best.value),
    windows: intervals.map(([from, to]) => ({ start: new Date(from), end: new Date(to) })),
  };
}
