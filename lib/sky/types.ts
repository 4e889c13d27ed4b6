/**
 * The shapes every `lib/sky` function shares: where the observatory is, what it
 * points at, an interval of time, and the one error type.
 *
 * @module
 */

/**
 * An observatory site, as the config's `Site: {Latitude: 25.99, Longitude: -97.57, Elevation: 12}`
 * describes it: geodetic (WGS84) latitude and longitude in degrees, longitude east positive,
 * elevation in metres above sea level.
 */
export interface Site {
  /** Geodetic latitude in degrees, north positive (-90 to 90). */
  latitude: number;
  /** Longitude in degrees, east positive (-180 to 360). */
  longitude: number;
  /** Elevation in metres above sea level. */
  elevation: number;
}

/** A sidereal target: catalogue (J2000, treated as ICRS) right ascension in hours and declination in degrees. */
export interface Target {
  /** Right ascension in hours (0 to 24), J2000. */
  ra: number;
  /** Declination in degrees (-90 to 90), J2000. */
  dec: number;
}

/** Equatorial coordinates of date ("JNow"): right ascension in hours, declination in degrees. */
export interface EquatorialOfDate {
  /** Right ascension in hours (0 to 24), true equator and equinox of date. */
  ra: number;
  /** Declination in degrees, true equator of date. */
  dec: number;
}

/** An interval of time from `start` to `end`. */
export interface TimeWindow {
  /** When the interval begins. */
  start: Date;
  /** When the interval ends (after `start`). */
  end: Date;
}

/** Thrown for an argument `lib/sky` cannot use; the message names it, its value and what was expected. */
export class SkyError extends Error {
  /** Creates the error. */
  constructor(message: string) {
    super(message);
    this.name = "SkyError";
  }
}
