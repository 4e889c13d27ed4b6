/**
 * The `Dome:` section of toros.conf.yaml: its defaults (the INDI simulators'),
 * a warning light as an INDI switch, a reopen time in fractions of a minute,
 * and the errors, each naming its key.
 */
import { assertEquals, assertStringIncludes } from "./_assert.ts";
import { defaultConfig, parseConfigText } from "../lib/config.ts";

Deno.test("Dome: defaults to the INDI simulators, ten minutes of safe weather and no warning light", () => {
  const dome = defaultConfig("/s").dome;
  assertEquals(dome, {
    indiServer: "localhost:7624",
    dome: "Dome Simulator",
    weather: "Weather Simulator",
    mount: "Telescope Simulator",
    reopenAfterMinutes: 10,
    telescopeTimeout: 5,
    motionTimeout: 300,
    retrySeconds: 30,
    warningLight: null,
  });
});

Deno.test("Dome: a warning light is an INDI switch; Reopen After Minutes takes decimals", () => {
  const loaded = parseConfigText(
    "Dome: {INDI Server: 'obs1:7625', Dome: Dome Pro, Reopen After Minutes: 0.05,\n" +
      "  Warning Light: {Device: Dome Relays, Property: RELAY_1, Member: ON}}\n",
    "/etc/toros/toros.conf.yaml",
    "/s",
  );
  assertEquals([...loaded.errors, ...loaded.warnings], []);
  const dome = loaded.config.dome;
  assertEquals([dome.indiServer, dome.dome, dome.weather, dome.reopenAfterMinutes], [
    "obs1:7625",
    "Dome Pro",
    "Weather Simulator",
    0.05,
  ]);
  assertEquals(dome.warningLight, { device: "Dome Relays", property: "RELAY_1", member: "ON" });
  assertEquals(loaded.sources["Dome.Warning Light"], "file");
  assertEquals(loaded.sources["Dome.Mount"], "default");
});

Deno.test("Dome: a bad value is reported with its key, line and what was expected", () => {
  const loaded = parseConfigText(
    "Dome:\n  Reopen After Minutes: 0\n  Warning Light: {Device: Relays, Property: RELAY_1}\n  INDI Server: nowhere\n",
    "/etc/toros/toros.conf.yaml",
    "/s",
  );
  const messages = loaded.errors.map((error) => error.message);
  assertEquals(messages.length, 3, messages.join("\n"));
  assertStringIncludes(
    messages.find((text) => text.startsWith("Dome.Reopen After Minutes")) ?? "",
    "at line 2, column 25: 0 is not a number of minutes (0.01-1440)",
  );
  assertStringIncludes(
    messages.find((text) => text.startsWith("Dome.Warning Light")) ?? "",
    "is not an INDI switch ({Device: D, Property: P, Member: M}, or null)",
  );
  assertStringIncludes(
    messages.find((text) => text.startsWith("Dome.INDI Server")) ?? "",
    "is not host:port (e.g. localhost:7624)",
  );
});
