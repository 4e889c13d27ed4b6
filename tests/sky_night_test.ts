import { assert, assertEquals, assertMatch, assertThrows } from "./_assert.ts";
import { darkWindow, nightBounds, nightDate, SkyError, sunAltitude } from "../lib/sky/mod.ts";

const SITE = { latitude: 25.99, longitude: -97.57, elevation: 12 };
const LONGYEARBYEN = { latitude: 78.22, longitude: 15.65, elevation: 10 };
const MINUTE = 60_000;

Deno.test("night date: 03:00 UTC at longitude -97.57 belongs to the night that began the day before", () => {
  assertEquals(nightDate(new Date("2026-12-01T03:00:00Z"), -97.57), "2026-11-30");
});

Deno.test("night date: local mean midnight does not change the night", () => {
  // Local mean time at -97.57° is UTC − 6 h 30 min 16.8 s; local midnight is 06:30:17 UTC.
  assertEquals(nightDate(new Date("2026-12-01T06:29:00Z"), -97.57), "2026-11-30");
  assertEquals(nightDate(new Date("2026-12-01T06:31:00Z"), -97.57), "2026-11-30");
});

Deno.test("night date: local mean noon starts the next night", () => {
  // Local noon of 2026-12-01 is 18:30:16.8 UTC.
  assertEquals(nightDate(new Date("2026-12-01T18:30:00Z"), -97.57), "2026-11-30");
  assertEquals(nightDate(new Date("2026-12-01T18:31:00Z"), -97.57), "2026-12-01");
});

Deno.test("night date east of Greenwich: the UTC date can be the night's date or the one before", () => {
  // 139.7° E: local mean time is UTC + 9 h 18 min 48 s.
  assertEquals(nightDate(new Date("2026-12-01T02:00:00Z"), 139.7), "2026-11-30"); // 11:19 local
  assertEquals(nightDate(new Date("2026-12-01T03:30:00Z"), 139.7), "2026-12-01"); // 12:49 local
  assertEquals(nightDate(new Date("2026-11-30T20:00:00Z"), 139.7), "2026-11-30"); // 05:19 local on the 1st
});

Deno.test("night bounds run from local mean noon to the next and hold exactly that night's dates", () => {
  const bounds = nightBounds("2026-11-30", -97.57);
  assertEquals(bounds.start.toISOString(), "2026-11-30T18:30:16.800Z");
  assertEquals(bounds.end.toISOString(), "2026-12-01T18:30:16.800Z");
  assertEquals(nightDate(bounds.start, -97.57), "2026-11-30");
  assertEquals(nightDate(new Date(bounds.end.getTime() - 1), -97.57), "2026-11-30");
  assertEquals(nightDate(bounds.end, -97.57), "2026-12-01");
});

Deno.test("a night date that is not YYYY-MM-DD is refused by name", () => {
  const error = assertThrows(() => nightBounds("2026-13-01", 0), SkyError);
  assertEquals(error.message, 'Invalid night date: "2026-13-01" (expected YYYY-MM-DD)');
  assertThrows(() => nightDate(new Date("nonsense"), 0), SkyError, "Invalid date");
  assertThrows(() => nightDate(new Date(), 400), SkyError, "Invalid longitude: 400");
});

Deno.test("dark window at the site on the night of 2026-11-30/12-01: Sun at -12° at both ends", () => {
  const night = darkWindow(SITE, new Date("2026-12-01T03:00:00Z"), { twilight: -12 });
  assert(night.kind === "dark", `kind ${night.kind}`);
  assertEquals(night.night, "2026-11-30");
  // Nautical dusk about 18:31 CST, dawn about 06:07 CST (sunset 17:38, sunrise 07:0x at 26° N).
  assert(night.start > new Date("2026-12-01T00:25:00Z") && night.start < new Date("2026-12-01T00:40:00Z"));
  assert(night.end > new Date("2026-12-01T12:00:00Z") && night.end < new Date("2026-12-01T12:15:00Z"));
  for (const edge of [night.start, night.end]) {
    const sun = sunAltitude(SITE, edge);
    assert(Math.abs(sun + 12) < 0.005, `Sun at ${edge.toISOString()}: ${sun}°`);
  }
  assert(
    sunAltitude(SITE, new Date(night.start.getTime() - MINUTE)) > -12,
    "light a minute before the start",
  );
  assert(sunAltitude(SITE, new Date(night.end.getTime() + MINUTE)) > -12, "light a minute after the end");
  assert(night.lowestSun.altitude < -80, `lowest Sun ${night.lowestSun.altitude}`);
  assert(night.lowestSun.time > night.start && night.lowestSun.time < night.end);
});

Deno.test("the dark window is the same from any moment of the night, and the evening begins the next one", () => {
  const a = darkWindow(SITE, new Date("2026-11-30T19:00:00Z"));
  const b = darkWindow(SITE, new Date("2026-12-01T11:00:00Z"));
  assertEquals(a, b);
  const next = darkWindow(SITE, new Date("2026-12-01T20:00:00Z"));
  assertEquals(next.night, "2026-12-01");
  assert(next.kind === "dark" && a.kind === "dark");
  assert(Math.abs(next.start.getTime() - a.start.getTime() - 86_400_000) < 5 * MINUTE);
});

Deno.test("astronomical twilight gives a shorter dark window inside the nautical one", () => {
  const nautical = darkWindow(SITE, new Date("2026-12-01T03:00:00Z"));
  const astronomical = darkWindow(SITE, new Date("2026-12-01T03:00:00Z"), { twilight: -18 });
  assert(nautical.kind === "dark" && astronomical.kind === "dark");
  assertEquals(astronomical.twilight, -18);
  assert(astronomical.start > nautical.start && astronomical.end < nautical.end);
});

Deno.test("a white night is never dark, with the Sun's lowest altitude in the reason", () => {
  const night = darkWindow(LONGYEARBYEN, new Date("2026-06-21T00:00:00Z"));
  assert(night.kind === "never dark", `kind ${night.kind}`);
  assertEquals(night.start, null);
  assertEquals(night.end, null);
  // Midnight Sun at 78.22° N at the solstice: 23.44 − 11.78 = 11.7°.
  assert(Math.abs(night.lowestSun.altitude - 11.66) < 0.1, `lowest ${night.lowestSun.altitude}`);
  assertMatch(
    night.reason,
    /^never dark: the Sun stays above the twilight angle -12° \(lowest 11\.\d° at 2026-06-2\dT\d\d:\d\dZ\)$/,
  );
});

Deno.test("a polar night is always dark from noon to noon", () => {
  // At 78.22° N on 21 December the Sun peaks at -11.66°: dark all day for twilight -6°.
  const night = darkWindow(LONGYEARBYEN, new Date("2026-12-21T12:00:00Z"), { twilight: -6 });
  assert(night.kind === "always dark", `kind ${night.kind}`);
  const bounds = nightBounds(night.night, LONGYEARBYEN.longitude);
  assertEquals(night.start, bounds.start);
  assertEquals(night.end, bounds.end);
});

Deno.test("near the polar limit the night is dark but for the hour around noon", () => {
  // At 78.22° N on 21 December the noon Sun reaches -11.66°, just above -12°.
  const night = darkWindow(LONGYEARBYEN, new Date("2026-12-21T00:00:00Z"), { twilight: -12 });
  assert(night.kind === "dark", `kind ${night.kind}`);
  const bounds = nightBounds(night.night, LONGYEARBYEN.longitude);
  assert(night.start > bounds.start && night.start.getTime() - bounds.start.getTime() < 60 * MINUTE);
  assert(night.end < bounds.end && bounds.end.getTime() - night.end.getTime() < 60 * MINUTE);
  for (const edge of [night.start, night.end]) {
    assert(Math.abs(sunAltitude(LONGYEARBYEN, edge) + 12) < 0.005, `Sun at ${edge.toISOString()}`);
  }
});

Deno.test("a dark spell shorter than the sampling step is still found around the Sun's lowest point", () => {
  // 60° N at the June solstice: the Sun bottoms out at -6.56° near midnight, so it is below -6.5°
  // for about half an hour, between two 50-minute samples (23:40 and 00:30).
  const site = { latitude: 60, longitude: 0, elevation: 0 };
  const date = new Date("2026-06-21T00:00:00Z");
  const coarse = darkWindow(site, date, { twilight: -6.5, step: 50 });
  const fine = darkWindow(site, date, { twilight: -6.5, step: 1 });
  assert(coarse.kind === "dark" && fine.kind === "dark", `kinds ${coarse.kind}, ${fine.kind}`);
  const minutes = (coarse.end.getTime() - coarse.start.getTime()) / MINUTE;
  assert(minutes > 20 && minutes < 45, `dark for ${minutes} min`);
  assert(Math.abs(coarse.start.getTime() - fine.start.getTime()) < 2_000, "start as with 1-minute samples");
  assert(Math.abs(coarse.end.getTime() - fine.end.getTime()) < 2_000, "end as with 1-minute samples");
});
