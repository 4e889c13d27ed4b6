/**
 * A sidereal target's place for the mount and in the site's sky: J2000 to the equator
 * and equinox of date ("JNow"), altitude, azimuth and airmass.
 *
 * @module
 */
import * as Astronomy from "astronomy-engine";
import {
  altitudeOf,
  apparentVector,
  azimuthOf,
  catalogueFromApparent,
  catalogueVector,
  equatorialOf,
  frameAt,
  localAxes,
  siteGeometry,
  type Vec3,
} from "./_ephemeris.ts";
import { checkDate, checkSite, checkTarget } from "./_validate.ts";
import type { EquatorialOfDate, Site, Target } from "./types.ts";

const DEG = Math.PI / 180;

/**
 * J2000 coordinates to the true equator and equinox of `date`, as an INDI mount's
 * `EQUATORIAL_EOD_COORD` ("JNow") expects them.
 *
 * This is what KStars/Ekos sends: `SkyPoint::apparentCoord(J2000, jd)` precesses, nutates
 * and applies annual aberration, i.e. the geocentric apparent place. Here precession is
 * IAU 2006 and nutation IAU 2000B (astronomy-engine), aberration is computed from the
 * Earth's orbital velocity; diurnal aberration (≤ 0.3″) and light deflection (≈ 0.004″
 * away from the Sun) are left out. It equals astropy's geocentric `TETE(obstime=date)`
 * frame within 0.2″; the mean place of date (`FK5(equinox=date)`, precession only)
 * differs from it by up to ≈ 40″.
 *
 * @example
 * ```ts
 * toEpochOfDate({ ra: 5.5881, dec: -5.3911 }, new Date("2026-12-01T03:00:00Z"));
 * // { ra: 5.61068, dec: -5.37242 } (J2000: 5.5881 h, -5.3911°)
 * ```
 */
export function toEpochOfDate(target: Target, date: Date): EquatorialOfDate {
  checkTarget(target);
  const frame = frameAt(checkDate(date));
  return equatorialOf(apparentVector(catalogueVector(target), frame));
}

/**
 * The inverse of {@link toEpochOfDate}: a mount's JNow position back to J2000
 * (for headers and logs).
 */
export function fromEpochOfDate(coordinates: EquatorialOfDate, date: Date): Target {
  checkTarget(coordinates, "coordinates");
  const frame = frameAt(checkDate(date));
  const ra = coordinates.ra * 15 * DEG;
  const dec = coordinates.dec * DEG;
  const apparent: Vec3 = [Math.cos(dec) * Math.cos(ra), Math.cos(dec) * Math.sin(ra), Math.sin(dec)];
  return equatorialOf(catalogueFromApparent(apparent, frame));
}

/** Options of {@link horizontal}. */
export interface HorizontalOptions {
  /**
   * Add standard atmospheric refraction (Saemundsson's formula, sea level, 10 °C, 1010 hPa,
   * as astronomy-engine's "normal") to the altitude. Default false: altitudes are geometric,
   * as in astropy's `AltAz` with pressure 0, and as every limit in `lib/sky` is meant.
   */
  refraction?: boolean;
}

/** Where a target is in the site's sky. */
export interface HorizontalPosition {
  /** Altitude above the horizon in degrees (geometric unless refraction was asked for). */
  altitude: number;
  /** Azimuth in degrees from north through east (0–360). */
  azimuth: number;
  /** Relative airmass from the geometric altitude ({@link airmass}); Infinity below the horizon. */
  airmass: number;
}

/**
 * Altitude, azimuth and airmass of a sidereal target seen from `site` at `date`.
 *
 * The target's apparent place (as {@link toEpochOfDate}) is turned to the horizon of the
 * site with Greenwich apparent sidereal time (UTC taken as UT1) and the geodetic latitude.
 * No refraction unless `options.refraction` (the limits of the scheduler are geometric).
 *
 * @example
 * ```ts
 * const site = { latitude: 25.99, longitude: -97.57, elevation: 12 };
 * horizontal(site, { ra: 5.5881, dec: -5.3911 }, new Date("2026-12-01T06:00:00Z"));
 * // { altitude: 52.28, azimuth: 143.17, airmass: 1.263 }
 * ```
 */
export function horizontal(
  site: Site,
  target: Target,
  date: Date,
  options: HorizontalOptions = {},
): HorizontalPosition {
  checkSite(site);
  checkTarget(target);
  const frame = frameAt(checkDate(date));
  const axes = localAxes(siteGeometry(site), frame);
  const direction = apparentVector(catalogueVector(target), frame);
  const altitude = altitudeOf(direction, axes);
  return {
    altitude: options.refraction ? altitude + Astronomy.Refraction("normal", altitude) : altitude,
    azimuth: azimuthOf(direction, axes),
    airmass: airmass(altitude),
  };
}

/**
 * Relative airmass at a geometric (unrefracted) altitude in degrees, by Young (1994,
 * Applied Optics 33, 1108), in the true zenith angle z:
 *
 *   X = (1.002432 cos²z + 0.148386 cos z + 0.0096467)
 *     / (cos³z + 0.149864 cos²z + 0.0102963 cos z + 0.000303978)
 *
 * It is within 0.0037 of a full atmospheric model down to the horizon (X ≈ 31.7 there),
 * where the plane-parallel sec z of astropy's `AltAz.secz` diverges; the two differ by 0.4 %
 * at X = 2 and 1 % at X = 3. Below the horizon the result is Infinity.
 */
export function airmass(altitude: number): number {
  if (!(altitude >= 0)) return Infinity;
  const c = Math.sin(Math.min(altitude, 90) * DEG);
  const c2 = c * c;
  return (1.002432 * c2 + 0.148386 * c + 0.0096467) / (c2 * c + 0.149864 * c2 + 0.0102963 * c + 0.000303978);
}

/** The geometric altitude (degrees) at which {@link airmass} equals `value` (≥ 1). */
export function altitudeForAirmass(value: number): number {
  if (value <= 1) return 90;
  let low = 0;
  let high = 90;
  if (airmass(low) <= value) return 0;
  for (let i = 0; i < 50; i++) {
    const mid = (low + high) / 2;
    if (airmass(mid) > value) low = mid;
    else high = mid;
  }
  return high;
}
