/**
 * Ephemerides and observability for the observatory: where a target is for the mount
 * (J2000 to "JNow") and in the site's sky (altitude, azimuth, airmass), where the Sun and
 * Moon are, which night a moment belongs to and when it is dark, and whether and when a
 * target can be observed under the scheduler's limits.
 *
 * Units: right ascension in hours, every other angle in degrees, elevation in metres,
 * times as `Date` (UTC). Altitudes are geometric (no refraction) unless asked otherwise,
 * so limits mean the same thing everywhere. Positions come from astronomy-engine
 * (VSOP87/ELP, IAU 2006 precession, IAU 2000B nutation) and agree with astropy within
 * arcseconds (`tests/sky_astropy_test.ts`).
 *
 * @example
 * ```ts
 * import { darkWindow, horizontal, observableWindows, toEpochOfDate } from "./mod.ts";
 *
 * const site = { latitude: 25.99, longitude: -97.57, elevation: 12 };
 * const m42 = { ra: 5.5881, dec: -5.3911 };
 * const now = new Date("2026-12-01T06:00:00Z");
 * toEpochOfDate(m42, now); // for EQUATORIAL_EOD_COORD
 * horizontal(site, m42, now); // { altitude, azimuth, airmass }
 * const night = darkWindow(site, now, { twilight: -12 });
 * if (night.kind !== "never dark") observableWindows(site, m42, { start: night.start, end: night.end });
 * ```
 *
 * @module
 */
export { type EquatorialOfDate, type Site, SkyError, type Target, type TimeWindow } from "./types.ts";
export {
  airmass,
  altitudeForAirmass,
  fromEpochOfDate,
  horizontal,
  type HorizontalOptions,
  type HorizontalPosition,
  toEpochOfDate,
} from "./coordinates.ts";
export { type MoonPosition, moonPosition, moonSeparation, sunAltitude } from "./bodies.ts";
export {
  type DarkWindow,
  darkWindow,
  type DarkWindowBase,
  type DarkWindowOptions,
  nightBounds,
  nightDate,
  type SunExtreme,
} from "./night.ts";
export {
  type BestTime,
  bestTime,
  DEFAULT_LIMITS,
  isObservable,
  type Observability,
  type ObservabilityCheck,
  type ObservableWindows,
  observableWindows,
  type ObservingLimits,
  type ObservingOptions,
} from "./observability.ts";
