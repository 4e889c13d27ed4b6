/**
 * The Sun and the Moon as the site sees them: the Sun's altitude (for twilight), the
 * Moon's altitude, azimuth and phase, and a target's distance from the Moon.
 *
 * Positions are topocentric (the Moon's parallax of up to 1° matters) and geometric
 * (no refraction), like every altitude in `lib/sky`.
 *
 * @module
 */
import * as Astronomy from "astronomy-engine";
import {
  altitudeOf,
  apparentVector,
  azimuthOf,
  catalogueVector,
  frameAt,
  localAxes,
  separation,
  siteGeometry,
  topocentric,
} from "./_ephemeris.ts";
import { checkDate, checkSite, checkTarget } from "./_validate.ts";
import type { Site, Target } from "./types.ts";

/**
 * The Sun's geometric altitude in degrees (centre of the disc, no refraction) at `site` and `date`.
 *
 * @example
 * ```ts
 * sunAltitude({ latitude: 25.99, longitude: -97.57, elevation: 12 }, new Date("2026-12-01T03:00:00Z"));
 * // -44.55
 * ```
 */
export function sunAltitude(site: Site, date: Date): number {
  checkSite(site);
  const frame = frameAt(checkDate(date));
  const axes = localAxes(siteGeometry(site), frame);
  return altitudeOf(topocentric(frame.sun, axes), axes);
}

/** Where the Moon is and how much of it is lit. */
export interface MoonPosition {
  /** Topocentric geometric altitude of the Moon's centre, degrees. */
  altitude: number;
  /** Azimuth in degrees from north through east (0–360). */
  azimuth: number;
  /** Illuminated fraction of the disc, 0 (new) to 1 (full). */
  illuminatedFraction: number;
}

/**
 * The Moon's topocentric altitude and azimuth (degrees) and illuminated fraction at `site` and `date`.
 *
 * @example
 * ```ts
 * moonPosition({ latitude: 25.99, longitude: -97.57, elevation: 12 }, new Date("2026-12-01T03:00:00Z"));
 * // { altitude: -40.11, azimuth: 53.56, illuminatedFraction: 0.516 }
 * ```
 */
export function moonPosition(site: Site, date: Date): MoonPosition {
  checkSite(site);
  const ms = checkDate(date);
  const frame = frameAt(ms);
  const axes = localAxes(siteGeometry(site), frame);
  const moon = topocentric(frame.moon, axes);
  return {
    altitude: altitudeOf(moon, axes),
    azimuth: azimuthOf(moon, axes),
    illuminatedFraction: Astronomy.Illumination(Astronomy.Body.Moon, new Date(ms)).phase_fraction,
  };
}

/**
 * The angle in degrees between a target and the Moon's centre as seen from `site` at `date`
 * (topocentric Moon, apparent target).
 */
export function moonSeparation(site: Site, target: Target, date: Date): number {
  checkSite(site);
  checkTarget(target);
  const frame = frameAt(checkDate(date));
  const axes = localAxes(siteGeometry(site), frame);
  return separation(apparentVector(catalogueVector(target), frame), topocentric(frame.moon, axes));
}
