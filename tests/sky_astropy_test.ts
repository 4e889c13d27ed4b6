// lib/sky against astropy (Debian's, offline IERS): the Sun, the Moon and targets at the
// site at 20 instants over 2026, JNow against TETE, and the dark window and observable
// windows' edges seen by astropy.
import { assert } from "./_assert.ts";
import { peerTest, runPython } from "./_peers.ts";
import {
  airmass,
  darkWindow,
  fromEpochOfDate,
  horizontal,
  moonPosition,
  moonSeparation,
  observableWindows,
  sunAltitude,
  toEpochOfDate,
} from "../lib/sky/mod.ts";

const SITE = { latitude: 25.99, longitude: -97.57, elevation: 12 };
const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/** 20 instants over 2026, 18.3 days apart, the hour of day moving on by 7.2 h each time. */
const INSTANTS = Array.from(
  { length: 20 },
  (_, k) => new Date(Date.UTC(2026, 0, 3) + k * (18 * DAY + 7.2 * HOUR)),
);

const TARGETS = [
  { name: "M42", ra: 5.5881, dec: -5.3911 },
  { name: "M13", ra: 16.6948, dec: 36.4613 },
  { name: "Vega", ra: 18.6156, dec: 38.7837 },
  { name: "NGC 253", ra: 0.7926, dec: -25.2883 },
  { name: "Polaris", ra: 2.5303, dec: 89.2641 },
  { name: "47 Tuc", ra: 0.4014, dec: -72.0813 },
];

// Debian's astropy without network: bundled IERS tables, degraded accuracy past their end
// (UT1−UTC held, under a second), no refraction (AltAz pressure defaults to 0).
const ASTROPY = `
import json, sys, warnings
warnings.simplefilter("ignore")
from astropy.utils import iers
iers.conf.auto_download = False
iers.conf.auto_max_age = None
iers.conf.iers_degraded_accuracy = "warn"
import numpy as np
import astropy.units as u
from astropy.time import Time
from astropy.coordinates import EarthLocation, AltAz, SkyCoord, get_body, TETE, FK5, solar_system_ephemeris
solar_system_ephemeris.set("builtin")

inp = json.loads(sys.argv[1])
site = inp["site"]
loc = EarthLocation.from_geodetic(lon=site["longitude"] * u.deg, lat=site["latitude"] * u.deg,
                                  height=site["elevation"] * u.m)

def sky(instants):
    t = Time(instants, scale="utc")
    frame = AltAz(obstime=t, location=loc)
    sun = get_body("sun", t, loc).transform_to(frame)
    moon = get_body("moon", t, loc).transform_to(frame)
    sun_geo, moon_geo = get_body("sun", t), get_body("moon", t)
    elongation = sun_geo.separation(moon_geo)
    phase = np.arctan2(sun_geo.distance * np.sin(elongation),
                       moon_geo.distance - sun_geo.distance * np.cos(elongation))
    out = {"sun": sun.alt.deg.tolist(), "moon": moon.alt.deg.tolist(), "moonAz": moon.az.deg.tolist(),
           "moonFraction": ((1 + np.cos(phase.to_value(u.rad))) / 2).tolist(), "targets": []}
    for ra, dec in inp["targets"]:
        c = SkyCoord(ra=ra * 15 * u.deg, dec=dec * u.deg, frame="icrs")
        h = c.transform_to(frame)
        tete = c.transform_to(TETE(obstime=t))
        fk5 = c.transform_to(FK5(equinox=t))
        out["targets"].append({
            "alt": h.alt.deg.tolist(), "az": h.az.deg.tolist(), "secz": h.secz.value.tolist(),
            "moonSeparation": h.separation(moon).deg.tolist(),
            "teteRa": (tete.ra.deg / 15).tolist(), "teteDec": tete.dec.deg.tolist(),
            "fk5Ra": (fk5.ra.deg / 15).tolist(), "fk5Dec": fk5.dec.deg.tolist(),
        })
    return out

print(json.dumps({"instants": sky(inp["instants"]), "edges": sky(inp["edges"])}))
`;

interface AstropySky {
  sun: number[];
  moon: number[];
  moonAz: number[];
  moonFraction: number[];
  targets: {
    alt: number[];
    az: number[];
    secz: number[];
    moonSeparation: number[];
    teteRa: number[];
    teteDec: number[];
    fk5Ra: number[];
    fk5Dec: number[];
  }[];
}

// Edges: the dark window of 2026-12-01 and M42's observable windows that night.
const EDGE_DATE = new Date("2026-12-01T06:00:00Z");
const NIGHT = darkWindow(SITE, EDGE_DATE, { twilight: -12 });
assert(NIGHT.kind === "dark", "2026-12-01 has a dark window at the site");
const M42_WINDOWS = observableWindows(SITE, TARGETS[0], { start: NIGHT.start, end: NIGHT.end }).windows;
const EDGES = [NIGHT.start, NIGHT.end, ...M42_WINDOWS.flatMap((w) => [w.start, w.end])];

let cached: Promise<{ instants: AstropySky; edges: AstropySky }> | null = null;
function astropy(): Promise<{ instants: AstropySky; edges: AstropySky }> {
  cached ??= runPython(ASTROPY, [
    JSON.stringify({
      site: SITE,
      instants: INSTANTS.map((d) => d.toISOString()),
      edges: EDGES.map((d) => d.toISOString()),
      targets: TARGETS.map((t) => [t.ra, t.dec]),
    }),
  ]).then((out) => JSON.parse(out));
  return cached;
}

function angleDifference(a: number, b: number): number {
  return Math.abs(((a - b + 540) % 360) - 180);
}

function report(label: string, value: number, unit: string): void {
  console.log(`  max |lib/sky − astropy| ${label}: ${value.toPrecision(3)}${unit}`);
}

Deno.test("the 20 instants cover the year and both day and night at the site", () => {
  const sun = INSTANTS.map((d) => sunAltitude(SITE, d));
  assert(sun.filter((a) => a < -12).length >= 6, `night instants: ${sun.filter((a) => a < -12).length}`);
  assert(sun.filter((a) => a > 0).length >= 6, `day instants: ${sun.filter((a) => a > 0).length}`);
  const months = new Set(INSTANTS.map((d) => d.getUTCMonth()));
  assert(months.size === 12, `months covered: ${months.size}`);
});

await peerTest("Sun and Moon altitudes equal astropy's within 0.1° at 20 instants", ["astropy"], async () => {
  const ap = (await astropy()).instants;
  let sunMax = 0, moonMax = 0, moonAzMax = 0, fractionMax = 0;
  INSTANTS.forEach((date, i) => {
    const sun = sunAltitude(SITE, date);
    const moon = moonPosition(SITE, date);
    sunMax = Math.max(sunMax, Math.abs(sun - ap.sun[i]));
    moonMax = Math.max(moonMax, Math.abs(moon.altitude - ap.moon[i]));
    moonAzMax = Math.max(moonAzMax, angleDifference(moon.azimuth, ap.moonAz[i]));
    fractionMax = Math.max(fractionMax, Math.abs(moon.illuminatedFraction - ap.moonFraction[i]));
    assert(Math.abs(sun - ap.sun[i]) < 0.1, `${date.toISOString()}: Sun ${sun} vs astropy ${ap.sun[i]}`);
    assert(
      Math.abs(moon.altitude - ap.moon[i]) < 0.1,
      `${date.toISOString()}: Moon ${moon.altitude} vs astropy ${ap.moon[i]}`,
    );
    assert(angleDifference(moon.azimuth, ap.moonAz[i]) < 0.1, `${date.toISOString()}: Moon azimuth`);
    assert(
      Math.abs(moon.illuminatedFraction - ap.moonFraction[i]) < 0.01,
      `${date.toISOString()}: Moon lit ${moon.illuminatedFraction} vs astropy ${ap.moonFraction[i]}`,
    );
  });
  report("Sun altitude", sunMax * 3600, "″");
  report("Moon altitude", moonMax * 3600, "″");
  report("Moon azimuth", moonAzMax * 3600, "″");
  report("Moon illuminated fraction", fractionMax, "");
});

await peerTest(
  "target altitude, azimuth, airmass and Moon separation equal astropy's",
  ["astropy"],
  async () => {
    const ap = (await astropy()).instants;
    let altMax = 0, azMax = 0, sepMax = 0, youngMax = 0, seczMax = 0, airmassCount = 0;
    TARGETS.forEach((target, j) => {
      const expected = ap.targets[j];
      INSTANTS.forEach((date, i) => {
        const where = `${target.name} at ${date.toISOString()}`;
        const h = horizontal(SITE, target, date);
        const dAlt = Math.abs(h.altitude - expected.alt[i]);
        altMax = Math.max(altMax, dAlt);
        assert(dAlt < 0.1, `${where}: altitude ${h.altitude} vs astropy ${expected.alt[i]}`);
        if (expected.alt[i] < 85) {
          const dAz = angleDifference(h.azimuth, expected.az[i]);
          azMax = Math.max(azMax, dAz * Math.cos(expected.alt[i] * Math.PI / 180));
          assert(dAz < 0.1, `${where}: azimuth ${h.azimuth} vs astropy ${expected.az[i]}`);
        }
        const sep = moonSeparation(SITE, target, date);
        sepMax = Math.max(sepMax, Math.abs(sep - expected.moonSeparation[i]));
        assert(Math.abs(sep - expected.moonSeparation[i]) < 0.1, `${where}: Moon separation ${sep}`);
        if (expected.alt[i] > 0 && expected.secz[i] < 3) {
          airmassCount++;
          // The same formula (Young 1994) on astropy's altitude: position agreement carried into airmass.
          const young = airmass(expected.alt[i]);
          const dYoung = Math.abs(h.airmass / young - 1);
          youngMax = Math.max(youngMax, dYoung);
          assert(dYoung < 0.01, `${where}: airmass ${h.airmass} vs Young on astropy's altitude ${young}`);
          // Against astropy's plane-parallel sec z: the two formulas differ by ≤ 1.04 % below X = 3.
          const dSecz = Math.abs(h.airmass / expected.secz[i] - 1);
          seczMax = Math.max(seczMax, dSecz);
          assert(dSecz < 0.011, `${where}: airmass ${h.airmass} vs astropy secz ${expected.secz[i]}`);
        }
      });
    });
    assert(airmassCount >= 20, `airmass compared at ${airmassCount} points`);
    report("target altitude", altMax * 3600, "″");
    report("target azimuth (on the sky)", azMax * 3600, "″");
    report("Moon separation", sepMax * 3600, "″");
    report(`airmass vs Young(astropy altitude), ${airmassCount} points`, youngMax * 100, " %");
    report("airmass vs astropy secz (formula difference)", seczMax * 100, " %");
  },
);

await peerTest(
  "JNow equals astropy's geocentric TETE within 1″ (and is not FK5 of date)",
  ["astropy"],
  async () => {
    const ap = (await astropy()).instants;
    let teteMax = 0, fk5Max = 0, roundTripMax = 0;
    TARGETS.forEach((target, j) => {
      const expected = ap.targets[j];
      INSTANTS.forEach((date, i) => {
        const jnow = toEpochOfDate(target, date);
        const cosDec = Math.cos(target.dec * Math.PI / 180);
        const dRa = Math.abs(((jnow.ra - expected.teteRa[i] + 36) % 24) - 12) * 15 * 3600 * cosDec;
        const dDec = Math.abs(jnow.dec - expected.teteDec[i]) * 3600;
        const d = Math.hypot(dRa, dDec);
        teteMax = Math.max(teteMax, d);
        assert(d < 1, `${target.name} at ${date.toISOString()}: JNow off TETE by ${d.toFixed(3)}″`);
        const fRa = Math.abs(((jnow.ra - expected.fk5Ra[i] + 36) % 24) - 12) * 15 * 3600 * cosDec;
        fk5Max = Math.max(fk5Max, Math.hypot(fRa, (jnow.dec - expected.fk5Dec[i]) * 3600));
        const back = fromEpochOfDate(jnow, date);
        const bRa = Math.abs(((back.ra - target.ra + 36) % 24) - 12) * 15 * 3600 * cosDec;
        roundTripMax = Math.max(roundTripMax, Math.hypot(bRa, (back.dec - target.dec) * 3600));
      });
    });
    assert(
      fk5Max > 10,
      `JNow vs FK5 of date differs by at most ${fk5Max}″ (nutation and aberration missing?)`,
    );
    assert(roundTripMax < 0.001, `J2000 → JNow → J2000 round trip off by ${roundTripMax}″`);
    report("JNow vs TETE", teteMax, "″");
    report("JNow vs FK5(equinox=date) (mean place: the choice matters)", fk5Max, "″");
  },
);

await peerTest(
  "astropy puts the Sun at -12° at the dark window's edges and M42 at its limits",
  ["astropy"],
  async () => {
    const ap = (await astropy()).edges;
    assert(Math.abs(ap.sun[0] + 12) < 0.01, `Sun at dark start: ${ap.sun[0]}`);
    assert(Math.abs(ap.sun[1] + 12) < 0.01, `Sun at dark end: ${ap.sun[1]}`);
    assert(M42_WINDOWS.length === 1, `M42 windows: ${M42_WINDOWS.length}`);
    // Each edge of M42's window is the dark window's edge or the 30° altitude limit
    // (airmass 2 is 29.86°, the Moon is not the limit that night).
    for (let k = 2; k < EDGES.length; k++) {
      const sun = ap.sun[k];
      const altitude = ap.targets[0].alt[k];
      assert(
        Math.abs(sun + 12) < 0.01 || Math.abs(altitude - 30) < 0.01,
        `M42 window edge ${EDGES[k].toISOString()}: astropy Sun ${sun}°, M42 ${altitude}°`,
      );
    }
  },
);
