import * as Astronomy from "astronomy-engine";
import { assert, assertEquals, assertMatch, assertThrows } from "./_assert.ts";
import {
  airmass,
  altitudeForAirmass,
  bestTime,
  darkWindow,
  DEFAULT_LIMITS,
  horizontal,
  isObservable,
  moonSeparation,
  observableWindows,
  SkyError,
  sunAltitude,
  type TimeWindow,
} from "../lib/sky/mod.ts";

const SITE = { latitude: 25.99, longitude: -97.57, elevation: 12 };
const M42 = { ra: 5.5881, dec: -5.3911 };
const SECOND = 1_000;

function darkOf(date: string): TimeWindow {
  const night = darkWindow(SITE, new Date(date));
  assert(night.kind === "dark", `night of ${date} is ${night.kind}`);
  return { start: night.start, end: night.end };
}

const NIGHT = darkOf("2026-12-01T03:00:00Z");

Deno.test("the default limits are 30°, airmass 2, 30° from the Moon and nautical twilight", () => {
  assertEquals({ ...DEFAULT_LIMITS }, {
    altitudeLimit: 30,
    airmassLimit: 2,
    moonSeparation: 30,
    twilight: -12,
  });
});

Deno.test("M42 in December is observable from the site, best at its culmination", () => {
  const found = observableWindows(SITE, M42, NIGHT);
  assertEquals(found.reason, undefined);
  assertEquals(found.windows.length, 1);
  const [window] = found.windows;
  assert(window.start >= NIGHT.start && window.end <= NIGHT.end, "inside the dark window");
  // Rises through 30° after dusk and sets through it before dawn: both edges are the altitude limit.
  for (const edge of [window.start, window.end]) {
    const altitude = horizontal(SITE, M42, edge).altitude;
    assert(Math.abs(altitude - 30) < 0.01, `M42 at ${altitude}° at ${edge.toISOString()}`);
  }
  const best = bestTime(SITE, M42, NIGHT);
  assert(best.ok, "M42 has a best time");
  assert(best.time > window.start && best.time < window.end);
  // Culmination altitude 90° − 25.99° − 5.37° (declination of date).
  assert(Math.abs(best.altitude - 58.64) < 0.02, `culminates at ${best.altitude}°`);
  assert(Math.abs(best.airmass - airmass(best.altitude)) < 1e-12);
  assertEquals(isObservable(SITE, M42, best.time), { ok: true });
});

Deno.test("the window's edges are where isObservable changes its answer", () => {
  const [window] = observableWindows(SITE, M42, NIGHT).windows;
  assertEquals(isObservable(SITE, M42, new Date(window.start.getTime() + 5 * SECOND)), { ok: true });
  assertEquals(isObservable(SITE, M42, new Date(window.end.getTime() - 5 * SECOND)), { ok: true });
  const before = isObservable(SITE, M42, new Date(window.start.getTime() - 5 * SECOND));
  const after = isObservable(SITE, M42, new Date(window.end.getTime() + 5 * SECOND));
  assert(!before.ok && !after.ok, "not observable just outside");
  // Airmass 2 is 29.86° (Young 1994), so just below 30° only the altitude check fails.
  assertEquals(before.failed, ["altitude"]);
  assertMatch(before.reason, /^altitude 29\.9\d*° is below the limit 30°$/);
});

Deno.test("Dec -80° never rises above 30° at latitude +26°: reason with its highest altitude", () => {
  const target = { ra: 12, dec: -80 };
  const found = observableWindows(SITE, target, NIGHT);
  assertEquals(found.windows, []);
  assertMatch(found.reason!, /^never above 30° tonight \(highest -1\d\.\d° at 2026-12-01T\d\d:\d\dZ\)$/);
  // Its highest possible altitude is 90° − 26° − 80° = -16°.
  const highest = Number(/highest (-?[\d.]+)°/.exec(found.reason!)![1]);
  assert(highest <= -15.9 && highest > -20, `highest ${highest}`);
  const best = bestTime(SITE, target, NIGHT);
  assertEquals(best, { ok: false, reason: found.reason! });
});

Deno.test("a target that culminates at 14° at midnight is reported with that altitude and time", () => {
  // Dec -50° culminates at 90° − 25.99° − 50° ≈ 14° (+0.05°: precession since J2000 at RA 4.7 h);
  // RA 4.7 h is on the meridian around local midnight in early December.
  const target = { ra: 4.7, dec: -50 };
  const found = observableWindows(SITE, target, NIGHT);
  assertEquals(found.windows, []);
  const match = /^never above 30° tonight \(highest (\d+\.\d)° at (2026-12-01T\d\d:\d\dZ)\)$/.exec(
    found.reason!,
  );
  assert(match, `reason: ${found.reason}`);
  const highest = Number(match[1]);
  assert(highest >= 14 && highest <= 14.1, `highest ${highest}`);
  const at = new Date(match[2].replace("Z", ":00Z"));
  assert(Math.abs(horizontal(SITE, target, at).altitude - highest) < 0.05, "the altitude at the time given");
});

Deno.test("isObservable names each failed check with the measured value and the limit", () => {
  const noon = new Date("2026-12-01T18:00:00Z");
  const day = isObservable(SITE, M42, noon);
  assert(!day.ok);
  assertEquals(day.failed, ["twilight", "altitude", "airmass"]);
  const sun = sunAltitude(SITE, noon);
  assert(day.reason.startsWith(`Sun at ${sun.toFixed(1)}° is above the twilight angle -12°; altitude -`));
  assert(day.reason.endsWith("airmass ∞ (below the horizon) is above the limit 2"), day.reason);

  // At 35° M42 passes the default limits but not an airmass limit of 1.5.
  const [window] = observableWindows(SITE, M42, NIGHT, { altitudeLimit: 35 }).windows;
  const stricter = isObservable(SITE, M42, window.start, { airmassLimit: 1.5 });
  assert(!stricter.ok);
  assertEquals(stricter.failed, ["airmass"]);
  assertMatch(stricter.reason, /^airmass 1\.7\d is above the limit 1\.5$/);
});

Deno.test("a target next to the Moon fails the Moon separation check all night", () => {
  // On 2026-11-01 at 10:00 UTC the Moon is 59° up in a dark sky at the site.
  const date = new Date("2026-11-01T10:00:00Z");
  const observer = new Astronomy.Observer(SITE.latitude, SITE.longitude, SITE.elevation);
  const moon = Astronomy.Equator(Astronomy.Body.Moon, date, observer, false, true);
  const target = { ra: moon.ra, dec: moon.dec };
  assert(moonSeparation(SITE, target, date) < 0.05, "the target sits on the Moon");
  const now = isObservable(SITE, target, date);
  assert(!now.ok);
  assertEquals(now.failed, ["moonSeparation"]);
  assertMatch(now.reason, /^Moon separation 0\.0\d*° is below the limit 30°$/);

  const found = observableWindows(SITE, target, darkOf("2026-11-01T10:00:00Z"));
  assertEquals(found.windows, []);
  assertMatch(
    found.reason!,
    /^Moon separation never reaches the limit 30° while dark and high enough \(widest \d\.\d° at 2026-11-01T\d\d:\d\dZ\)$/,
  );
  // With the Moon check off (0°) it is observable that night.
  assert(
    observableWindows(SITE, target, darkOf("2026-11-01T10:00:00Z"), { moonSeparation: 0 }).windows.length > 0,
  );
});

Deno.test("an airmass limit the target never gets under is reported with its lowest airmass", () => {
  // M42 culminates at 58.6°, airmass 1.17.
  const found = observableWindows(SITE, M42, NIGHT, { airmassLimit: 1.1 });
  assertEquals(found.windows, []);
  assertMatch(
    found.reason!,
    /^airmass never below the limit 1\.1 tonight \(lowest 1\.17 at 2026-12-01T07:2\dZ\)$/,
  );
});

Deno.test("a window in daylight is never dark, and says how low the Sun got", () => {
  const afternoon = { start: new Date("2026-12-01T18:00:00Z"), end: new Date("2026-12-01T22:00:00Z") };
  const found = observableWindows(SITE, M42, afternoon);
  assertEquals(found.windows, []);
  assertMatch(
    found.reason!,
    /^never dark: the Sun stays above the twilight angle -12° \(lowest -?\d+\.\d° at /,
  );
  assert(found.reason!.includes("2026-12-01T22:00Z"), found.reason);
});

Deno.test("lower limits give longer windows; the airmass limit acts as the altitude it implies", () => {
  const at30 = observableWindows(SITE, M42, NIGHT).windows[0];
  const at20 = observableWindows(SITE, M42, NIGHT, { altitudeLimit: 20, airmassLimit: 3 }).windows[0];
  assert(at20.start < at30.start && at20.end > at30.end, "20° opens earlier and closes later");
  const byAirmass = observableWindows(SITE, M42, NIGHT, { altitudeLimit: 0, airmassLimit: 1.5 }).windows[0];
  const limit = altitudeForAirmass(1.5);
  assert(Math.abs(airmass(limit) - 1.5) < 1e-9);
  for (const edge of [byAirmass.start, byAirmass.end]) {
    assert(Math.abs(horizontal(SITE, M42, edge).airmass - 1.5) < 0.001, `airmass at ${edge.toISOString()}`);
  }
});

Deno.test("bad limits, windows and targets are refused by name", () => {
  assertThrows(
    () => isObservable(SITE, M42, new Date(), { airmassLimit: 0.5 }),
    SkyError,
    "Invalid airmass limit: 0.5",
  );
  assertThrows(
    () => isObservable(SITE, M42, new Date(), { twilight: -100 }),
    SkyError,
    "Invalid twilight angle: -100",
  );
  assertThrows(
    () => observableWindows(SITE, M42, { start: NIGHT.end, end: NIGHT.start }),
    SkyError,
    "Invalid time window: end",
  );
  assertThrows(() => observableWindows(SITE, M42, NIGHT, { step: 0 }), SkyError, "Invalid step: 0");
  assertThrows(
    () => isObservable({ ...SITE, latitude: 95 }, M42, new Date()),
    SkyError,
    "Invalid site latitude: 95 (expected -90 to 90 degrees)",
  );
  assertThrows(() => isObservable(SITE, { ra: 5, dec: 91 }, new Date()), SkyError, "Invalid target Dec: 91");
});

Deno.test("a scheduler can check 40 orders over a night in well under a second", () => {
  const targets = Array.from(
    { length: 40 },
    (_, i) => ({ ra: (i * 0.61) % 24, dec: -60 + ((i * 17) % 120) }),
  );
  observableWindows(SITE, targets[0], NIGHT); // warm up
  const start = performance.now();
  for (const target of targets) {
    observableWindows(SITE, target, NIGHT);
    isObservable(SITE, target, new Date("2026-12-01T06:00:00Z"));
  }
  const elapsed = performance.now() - start;
  console.log(`  40 targets: ${elapsed.toFixed(1)} ms (${(elapsed / 40).toFixed(2)} ms each)`);
  assert(elapsed < 800, `40 targets took ${elapsed} ms`);
});
