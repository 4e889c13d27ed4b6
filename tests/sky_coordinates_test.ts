import { assert, assertAlmostEquals, assertEquals, assertThrows } from "./_assert.ts";
import {
  airmass,
  altitudeForAirmass,
  fromEpochOfDate,
  horizontal,
  moonPosition,
  SkyError,
  sunAltitude,
  toEpochOfDate,
} from "../lib/sky/mod.ts";

const SITE = { latitude: 25.99, longitude: -97.57, elevation: 12 };
const M42 = { ra: 5.5881, dec: -5.3911 };
const POLARIS = { ra: 2.5303, dec: 89.2641 };
const ARCSEC = 1 / 3600;

Deno.test("airmass follows Young (1994): 1 at the zenith, 1.99 at 30°, 31.7 at the horizon, none below", () => {
  assertAlmostEquals(airmass(90), 1, 1e-6);
  assertAlmostEquals(airmass(30), 1.9918, 1e-4);
  assertAlmostEquals(airmass(0), 31.735, 1e-3);
  assertEquals(airmass(-0.01), Infinity);
  assertEquals(airmass(NaN), Infinity);
  let previous = Infinity;
  for (let altitude = 0; altitude <= 90; altitude += 0.5) {
    const x = airmass(altitude);
    assert(x < previous, `airmass falls as altitude rises (${altitude}°)`);
    previous = x;
  }
  // Within 0.5 % of sec z down to airmass 2 (z = 60°), where the atmosphere's curvature starts to tell.
  for (let z = 0; z <= 60; z += 5) {
    const secz = 1 / Math.cos(z * Math.PI / 180);
    assert(Math.abs(airmass(90 - z) / secz - 1) < 0.005, `z = ${z}°`);
  }
  assertAlmostEquals(altitudeForAirmass(2), 29.862, 0.001);
  assertEquals(altitudeForAirmass(1), 90);
});

Deno.test("refraction is off by default and, when asked for, lifts the altitude only", () => {
  const date = new Date("2026-12-01T06:00:00Z");
  const geometric = horizontal(SITE, M42, date);
  const refracted = horizontal(SITE, M42, date, { refraction: true });
  const lift = refracted.altitude - geometric.altitude;
  // About 1′ at 50°, the textbook value at sea level.
  assert(lift > 0.6 / 60 && lift < 1 / 60, `lift ${lift * 60}′ at ${geometric.altitude}°`);
  assertEquals(refracted.azimuth, geometric.azimuth);
  assertEquals(refracted.airmass, geometric.airmass);
});

Deno.test("JNow of M42 in late 2026: 26.9 years of precession plus nutation and aberration", () => {
  const jnow = toEpochOfDate(M42, new Date("2026-12-01T03:00:00Z"));
  // Annual precession at M42 is +3.07 s of RA and +2.2″ of Dec: over 26.9 years ≈ +82.6 s and +1′;
  // nutation and aberration add up to ~30″.
  const dRaSeconds = (jnow.ra - M42.ra) * 3600;
  assert(dRaSeconds > 79 && dRaSeconds < 86, `RA moved ${dRaSeconds} s`);
  assert(Math.abs(jnow.dec - M42.dec) < 0.05, `Dec moved ${(jnow.dec - M42.dec) * 60}′`);
});

Deno.test("JNow back to J2000 returns the catalogue position, near the pole too", () => {
  for (const target of [M42, POLARIS, { ra: 0, dec: 0 }, { ra: 23.99, dec: -89.9 }]) {
    for (const iso of ["2000-01-01T12:00:00Z", "2026-12-01T03:00:00Z", "2040-06-15T00:00:00Z"]) {
      const date = new Date(iso);
      const back = fromEpochOfDate(toEpochOfDate(target, date), date);
      const dRa = Math.abs(((back.ra - target.ra + 36) % 24) - 12) * 15 *
        Math.cos(target.dec * Math.PI / 180);
      assert(Math.hypot(dRa, back.dec - target.dec) < 0.001 * ARCSEC, `${JSON.stringify(target)} at ${iso}`);
    }
  }
});

Deno.test("at J2000.0 itself JNow differs from the catalogue only by nutation and aberration", () => {
  const jnow = toEpochOfDate(M42, new Date("2000-01-01T11:58:56Z"));
  const dRa = (jnow.ra - M42.ra) * 15 * Math.cos(M42.dec * Math.PI / 180);
  const offset = Math.hypot(dRa, jnow.dec - M42.dec) / ARCSEC;
  assert(offset > 1 && offset < 45, `offset ${offset}″`);
});

Deno.test("the Sun is overhead at noon on the equator at the March equinox", () => {
  // Equinox 2026-03-20 14:46 UTC; the equation of time puts apparent noon at 12:07 UTC on the meridian 0°.
  const altitude = sunAltitude({ latitude: 0, longitude: 0, elevation: 0 }, new Date("2026-03-20T12:07:30Z"));
  assert(altitude > 89.5, `Sun at ${altitude}°`);
});

Deno.test("the Moon's illuminated fraction runs from new to full", () => {
  // New Moon 2026-11-09 07:02 UTC, full Moon 2026-11-24 14:54 UTC.
  assert(moonPosition(SITE, new Date("2026-11-09T07:00:00Z")).illuminatedFraction < 0.01);
  assert(moonPosition(SITE, new Date("2026-11-24T15:00:00Z")).illuminatedFraction > 0.99);
});

Deno.test("bad sites, targets and dates are refused with what was expected", () => {
  const date = new Date("2026-12-01T03:00:00Z");
  assertThrows(
    () => toEpochOfDate({ ra: 25, dec: 0 }, date),
    SkyError,
    "Invalid target RA: 25 (expected 0 to 24 hours)",
  );
  assertThrows(
    () => toEpochOfDate(M42, new Date("soon")),
    SkyError,
    "Invalid date: Invalid Date (expected a valid Date)",
  );
  assertThrows(
    () => horizontal({ ...SITE, longitude: NaN }, M42, date),
    SkyError,
    "Invalid site longitude: NaN",
  );
  assertThrows(
    () => sunAltitude({ ...SITE, elevation: 20_000 }, date),
    SkyError,
    "Invalid site elevation: 20000",
  );
  assertThrows(
    () => fromEpochOfDate({ ra: 1, dec: -95 }, date),
    SkyError,
    "Invalid coordinates Dec: -95 (expected -90 to 90 degrees)",
  );
});
