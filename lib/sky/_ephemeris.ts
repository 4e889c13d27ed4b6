/**
 * The geometry under every `lib/sky` answer, in the true equator and equinox of date (EQD).
 *
 * A {@link SkyFrame} holds what does not depend on the target at one instant: the
 * precession–nutation rotation from J2000, the Earth's velocity (for aberration), Greenwich
 * apparent sidereal time and the geocentric Sun and Moon, all from astronomy-engine.
 * {@link skyTrack} computes frames at whole hours over a window and interpolates between them
 * (the Sun and Moon linearly, sidereal time at the sidereal rate), which is what makes a night
 * of samples cost microseconds instead of a full ephemeris call each; the interpolation error
 * is below 1″ for the Moon and far below for everything else.
 *
 * @module
 */
import * as Astronomy from "astronomy-engine";
import type { Site, Target } from "./types.ts";

/** A Cartesian vector. */
export type Vec3 = [number, number, number];

const DEG = Math.PI / 180;
const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;
/** Earth rotation in radians per millisecond of UT: 1.00273781191135448 turns per UT day. */
const ROTATION_PER_MS = 2 * Math.PI * 1.00273781191135448 / DAY_MS;
/** WGS84 equatorial radius in AU and flattening: where the observer sits, for the Moon's parallax. */
const EARTH_RADIUS_AU = 6378.137 / Astronomy.KM_PER_AU;
const EARTH_FLATTENING = 1 / 298.257223563;

/** What does not depend on the target at one instant; vectors are EQD except `earthVelocity` (J2000). */
export interface SkyFrame {
  /** Milliseconds since 1970 (UTC, taken as UT1: they differ by under 0.9 s). */
  readonly time: number;
  /** J2000 → EQD rotation (precession IAU 2006, nutation IAU 2000B) in astronomy-engine's layout. */
  readonly rotation: number[][];
  /** The Earth's heliocentric velocity in J2000 axes, as a fraction of the speed of light. */
  readonly earthVelocity: Vec3;
  /** Greenwich apparent sidereal time in radians. */
  readonly gast: number;
  /** The geocentric apparent Sun (light time and aberration included), AU. */
  readonly sun: Vec3;
  /** The geocentric Moon, AU. */
  readonly moon: Vec3;
}

/** The site quantities every frame needs, computed once. */
export interface SiteGeometry {
  readonly sinLat: number;
  readonly cosLat: number;
  /** East longitude in radians. */
  readonly longitude: number;
  /** Distance from the Earth's axis and above the equator plane, AU. */
  readonly axisDistance: number;
  readonly equatorHeight: number;
}

/** The local horizon at one instant, as EQD unit vectors, and the observer's geocentric position (AU). */
export interface LocalAxes {
  readonly zenith: Vec3;
  readonly north: Vec3;
  readonly east: Vec3;
  readonly observer: Vec3;
}

function rotate(rot: number[][], v: Vec3): Vec3 {
  return [
    rot[0][0] * v[0] + rot[1][0] * v[1] + rot[2][0] * v[2],
    rot[0][1] * v[0] + rot[1][1] * v[1] + rot[2][1] * v[2],
    rot[0][2] * v[0] + rot[1][2] * v[1] + rot[2][2] * v[2],
  ];
}

function unrotate(rot: number[][], v: Vec3): Vec3 {
  return [
    rot[0][0] * v[0] + rot[0][1] * v[1] + rot[0][2] * v[2],
    rot[1][0] * v[0] + rot[1][1] * v[1] + rot[1][2] * v[2],
    rot[2][0] * v[0] + rot[2][1] * v[1] + rot[2][2] * v[2],
  ];
}

function dot(a: Vec3, b: Vec3): number {
  return a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
}

function normalize(v: Vec3): Vec3 {
  const n = Math.hypot(v[0], v[1], v[2]);
  return [v[0] / n, v[1] / n, v[2] / n];
}

/** The exact frame at `ms` (about 45 µs). */
export function frameAt(ms: number): SkyFrame {
  const time = Astronomy.MakeTime(new Date(ms));
  const rotation = Astronomy.Rotation_EQJ_EQD(time).rot;
  // Heliocentric rather than barycentric velocity: the Sun's own 13 m/s changes aberration by
  // under 0.01″, and HelioState costs a sixth of BaryState.
  const earth = Astronomy.HelioState(Astronomy.Body.Earth, time);
  const c = Astronomy.C_AUDAY;
  const sun = Astronomy.GeoVector(Astronomy.Body.Sun, time, true);
  const moon = Astronomy.GeoMoon(time);
  return {
    time: ms,
    rotation,
    earthVelocity: [earth.vx / c, earth.vy / c, earth.vz / c],
    gast: Astronomy.SiderealTime(time) * 15 * DEG,
    sun: rotate(rotation, [sun.x, sun.y, sun.z]),
    moon: rotate(rotation, [moon.x, moon.y, moon.z]),
  };
}

/**
 * Frames over `[start, end]`: exact ones at whole hours from `start`, interpolated between.
 * The returned function accepts any time (it extrapolates from the nearest node outside).
 */
export function skyTrack(start: number, end: number): (ms: number) => SkyFrame {
  const count = Math.max(2, Math.ceil((end - start) / HOUR_MS) + 1);
  const nodes: SkyFrame[] = [];
  for (let k = 0; k < count; k++) nodes.push(frameAt(start + k * HOUR_MS));
  return function interpolated(ms: number): SkyFrame {
    const k = Math.min(count - 2, Math.max(0, Math.floor((ms - start) / HOUR_MS)));
    const a = nodes[k];
    const b = nodes[k + 1];
    const f = (ms - a.time) / HOUR_MS;
    const near = f < 0.5 ? a : b;
    return {
      time: ms,
      rotation: near.rotation,
      earthVelocity: near.earthVelocity,
      gast: a.gast + ROTATION_PER_MS * (ms - a.time),
      sun: [
        a.sun[0] + f * (b.sun[0] - a.sun[0]),
        a.sun[1] + f * (b.sun[1] - a.sun[1]),
        a.sun[2] + f * (b.sun[2] - a.sun[2]),
      ],
      moon: [
        a.moon[0] + f * (b.moon[0] - a.moon[0]),
        a.moon[1] + f * (b.moon[1] - a.moon[1]),
        a.moon[2] + f * (b.moon[2] - a.moon[2]),
      ],
    };
  };
}

/** The site's latitude terms and its distance from the Earth's axis and equator plane (WGS84). */
export function siteGeometry(site: Site): SiteGeometry {
  const lat = site.latitude * DEG;
  const sinLat = Math.sin(lat);
  const cosLat = Math.cos(lat);
  const b2a2 = (1 - EARTH_FLATTENING) ** 2;
  const c = 1 / Math.sqrt(cosLat * cosLat + b2a2 * sinLat * sinLat);
  const height = site.elevation / 1000 / Astronomy.KM_PER_AU;
  return {
    sinLat,
    cosLat,
    longitude: site.longitude * DEG,
    axisDistance: (EARTH_RADIUS_AU * c + height) * cosLat,
    equatorHeight: (EARTH_RADIUS_AU * b2a2 * c + height) * sinLat,
  };
}

/** The site's zenith, north and east directions and geocentric position in EQD at a frame's instant. */
export function localAxes(geometry: SiteGeometry, frame: SkyFrame): LocalAxes {
  const lst = frame.gast + geometry.longitude;
  const cosLst = Math.cos(lst);
  const sinLst = Math.sin(lst);
  const { sinLat, cosLat } = geometry;
  return {
    zenith: [cosLat * cosLst, cosLat * sinLst, sinLat],
    north: [-sinLat * cosLst, -sinLat * sinLst, cosLat],
    east: [-sinLst, cosLst, 0],
    observer: [geometry.axisDistance * cosLst, geometry.axisDistance * sinLst, geometry.equatorHeight],
  };
}

/** A J2000 direction as a unit vector. */
export function catalogueVector(target: Target): Vec3 {
  const ra = target.ra * 15 * DEG;
  const dec = target.dec * DEG;
  return [Math.cos(dec) * Math.cos(ra), Math.cos(dec) * Math.sin(ra), Math.sin(dec)];
}

/**
 * A star's apparent direction (EQD unit vector): annual aberration, p' ∝ p + v/c, applied in
 * J2000 axes, then precession and nutation.
 */
export function apparentVector(catalogue: Vec3, frame: SkyFrame): Vec3 {
  const v = frame.earthVelocity;
  return rotate(frame.rotation, normalize([catalogue[0] + v[0], catalogue[1] + v[1], catalogue[2] + v[2]]));
}

/**
 * The inverse of {@link apparentVector}: the J2000 direction p with p + v/c ∝ q, solved exactly
 * (p = λq − v with |p| = 1).
 */
export function catalogueFromApparent(apparent: Vec3, frame: SkyFrame): Vec3 {
  const q = normalize(unrotate(frame.rotation, apparent));
  const v = frame.earthVelocity;
  const qv = dot(q, v);
  const lambda = qv + Math.sqrt(qv * qv - dot(v, v) + 1);
  return normalize([lambda * q[0] - v[0], lambda * q[1] - v[1], lambda * q[2] - v[2]]);
}

/** A direction's right ascension (hours, 0–24) and declination (degrees). */
export function equatorialOf(v: Vec3): { ra: number; dec: number } {
  let ra = Math.atan2(v[1], v[0]) / DEG / 15;
  if (ra < 0) ra += 24;
  if (ra >= 24) ra -= 24;
  return { ra, dec: Math.asin(Math.max(-1, Math.min(1, v[2] / Math.hypot(v[0], v[1], v[2])))) / DEG };
}

/** Geometric altitude (degrees) of an EQD direction of any length. */
export function altitudeOf(v: Vec3, axes: LocalAxes): number {
  const s = dot(v, axes.zenith) / Math.hypot(v[0], v[1], v[2]);
  return Math.asin(Math.max(-1, Math.min(1, s))) / DEG;
}

/** Azimuth (degrees from north through east, 0–360) of an EQD direction. */
export function azimuthOf(v: Vec3, axes: LocalAxes): number {
  const az = Math.atan2(dot(v, axes.east), dot(v, axes.north)) / DEG;
  return az < 0 ? az + 360 : az;
}

/** The topocentric direction of a geocentric position (AU). */
export function topocentric(geocentric: Vec3, axes: LocalAxes): Vec3 {
  const o = axes.observer;
  return [geocentric[0] - o[0], geocentric[1] - o[1], geocentric[2] - o[2]];
}

/** The angle between two directions, in degrees (atan2 form, accurate at all separations). */
export function separation(a: Vec3, b: Vec3): number {
  const cross: Vec3 = [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]];
  return Math.atan2(Math.hypot(cross[0], cross[1], cross[2]), dot(a, b)) / DEG;
}
