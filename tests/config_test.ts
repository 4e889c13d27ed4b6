import { parse as parseYaml } from "yaml";
import { assert, assertEquals, assertMatch, assertRejects, assertThrows } from "./_assert.ts";
import {
  type AddressConfig,
  CONFIG_KEYS,
  ConfigError,
  defaultConfig,
  defaultsOf,
  key,
  loadConfig,
  loadConfigOrThrow,
  type LogLevel,
  parseConfigText,
  parseConfigWith,
  readIntegerIn,
  readmeConfigTable,
  readNonEmptyString,
  readNumberIn,
  readPath,
  readStringList,
  redactConfig,
  renderConfigTable,
  renderEffective,
  replaceReadmeConfigTable,
  section,
  TOROS_SCHEMA,
  walkSchema,
} from "../lib/config.ts";
import { configTable, README_COMMAND, renderEffectiveConfig } from "../lib/config_command.ts";
import { XmlRpcServer } from "../lib/xmlrpc/mod.ts";

// The original TOROS Manager template: flow mappings and keys with spaces.
const ORIGINAL_TEMPLATE = `Preprocessor Address: {HTTP: "http://localhost:8000/", IP: localhost, Port: 8000}
Logging: {File: /var/log/toros/toros.log, Log Level: INFO}
Database: {File: /var/lib/toros/toros.sqlite3}
Data: {Roots: [/data/toros]}
`;

Deno.test("the original template loads unchanged with every value from the file", () => {
  const loaded = parseConfigText(ORIGINAL_TEMPLATE, "/etc/toros/toros.conf.yaml", "/state");
  assertEquals(loaded.errors, []);
  assertEquals(loaded.warnings, []);
  assertEquals(loaded.config.preprocessorAddress, {
    http: "http://localhost:8000/",
    ip: "localhost",
    port: 8000,
  });
  assertEquals(loaded.config.logging, { file: "/var/log/toros/toros.log", level: "INFO" });
  assertEquals(loaded.config.database, { file: "/var/lib/toros/toros.sqlite3" });
  assertEquals(loaded.config.data.roots, ["/data/toros"]);
  assertEquals(loaded.sources["Preprocessor Address.Port"], "file");
  assertEquals(loaded.sources["Reduction.Combine"], "default");
});

Deno.test("missing keys take their defaults", () => {
  const loaded = parseConfigText("Logging: {Log Level: DEBUG}\n", "/etc/toros/x.yaml", "/state");
  assertEquals(loaded.errors, []);
  const defaults = defaultConfig("/state");
  assertEquals(loaded.config.logging.level, "DEBUG");
  assertEquals(loaded.config.logging.file, defaults.logging.file);
  assertEquals(loaded.config.preprocessorAddress, defaults.preprocessorAddress);
  assertEquals(loaded.config.reduction, defaults.reduction);
  assertEquals(loaded.sources["Logging.File"], "default");
});

Deno.test("an empty file is the defaults", () => {
  const loaded = parseConfigText("# nothing here\n", "/x.yaml", "/state");
  assertEquals(loaded.errors, []);
  assertEquals(loaded.config, defaultConfig("/state"));
});

Deno.test("a bad port names the key path, line and value", () => {
  const text = `Preprocessor Address:
  HTTP: "http://localhost:8000/"
  IP: localhost
  Port: 99999
`;
  const loaded = parseConfigText(text, "/x.yaml", "/state");
  assertEquals(loaded.errors.length, 1);
  const [error] = loaded.errors;
  assertEquals(error.path, "Preprocessor Address.Port");
  assertEquals(error.line, 4);
  assertEquals(error.column, 9);
  assertMatch(
    error.message,
    /^Preprocessor Address\.Port at line 4, column 9: 99999 is not a port \(1-65535\)$/,
  );
});

Deno.test("every bad value is collected, not only the first", () => {
  const text = `Preprocessor Address: {HTTP: "ftp://x", IP: "", Port: "eighty"}
Logging: {File: /tmp/t.log, Log Level: LOUD}
Database: {URL: "mysql://db/toros"}
Data: {Roots: 42}
Reduction: {Combine: mode, Sigma Clip: {Low: -1, High: 3}, Flat Floor: 2, Workers: 1.5, Band Rows: 0}
Security: {Token: short, Allowed Networks: [300.1.1.1/8], Max Body Bytes: 10}
`;
  const loaded = parseConfigText(text, "/x.yaml", "/state");
  const paths = loaded.errors.map((error) => error.path);
  assertEquals(paths, [
    "Preprocessor Address.HTTP",
    "Preprocessor Address.IP",
    "Preprocessor Address.Port",
    "Logging.Log Level",
    "Database.URL",
    "Data.Roots",
    "Reduction.Combine",
    "Reduction.Sigma Clip",
    "Reduction.Flat Floor",
    "Reduction.Workers",
    "Reduction.Band Rows",
    "Security.Token",
    "Security.Allowed Networks",
    "Security.Max Body Bytes",
  ]);
  for (const error of loaded.errors) {
    assert(error.line !== undefined && error.column !== undefined, `no position for ${error.path}`);
    assertMatch(error.message, /^[A-Za-z .]+ at line \d+, column \d+: .+ is not .+/);
  }
  assertMatch(loaded.errors[2].message, /"eighty" is not a port \(1-65535\)/);
  assertMatch(loaded.errors[3].message, /"LOUD" is not a log level \(DEBUG, INFO, WARNING, ERROR\)/);
});

Deno.test("log levels are case-insensitive and WARN means WARNING", () => {
  for (const [given, expected] of [["debug", "DEBUG"], ["Warn", "WARNING"], ["error", "ERROR"]]) {
    const loaded = parseConfigText(`Logging: {Log Level: ${given}}\n`, "/x.yaml", "/state");
    assertEquals(loaded.errors, []);
    assertEquals(loaded.config.logging.level, expected);
  }
});

Deno.test("a section that is not a mapping is an error", () => {
  const loaded = parseConfigText("Logging: verbose\n", "/x.yaml", "/state");
  assertEquals(loaded.errors.length, 1);
  assertMatch(loaded.errors[0].message, /^Logging at line 1, column 10: "verbose" is not a mapping of keys$/);
});

Deno.test("unknown keys warn with a did-you-mean suggestion", () => {
  const text =
    "Loging: {File: x}\nLogging: {Log Levle: INFO}\nPreprocessor Address: {Prot: 8000}\nZebra: 1\n";
  const loaded = parseConfigText(text, "/x.yaml", "/state");
  assertEquals(loaded.errors, []);
  const messages = loaded.warnings.map((warning) => warning.message);
  assertEquals(messages.length, 4);
  assertMatch(
    messages[0],
    /^Loging at line 1, column 1: unknown section, ignored \(did you mean "Logging"\?\)$/,
  );
  assertMatch(messages[1], /^Logging\.Log Levle at line 2.*did you mean "Log Level"/);
  assertMatch(messages[2], /^Preprocessor Address\.Prot at line 3.*did you mean "Port"/);
  assert(!messages[3].includes("did you mean"), "no suggestion for a key that resembles nothing");
});

Deno.test("malformed YAML reports line and column", () => {
  const loaded = parseConfigText(
    "Logging:\n  File: /tmp/x\n  Log Level: [INFO\nData: {}\n",
    "/etc/bad.yaml",
    "/state",
  );
  assert(loaded.errors.length >= 1);
  const [error] = loaded.errors;
  assert(error.line !== undefined && error.column !== undefined);
  assertMatch(error.message, /^Malformed YAML in \/etc\/bad\.yaml at line \d+, column \d+: /);
});

Deno.test("duplicate keys are malformed YAML", () => {
  const loaded = parseConfigText(
    "Logging: {Log Level: INFO}\nLogging: {Log Level: DEBUG}\n",
    "/x.yaml",
    "/s",
  );
  assertEquals(loaded.errors.length, 1);
  assertMatch(loaded.errors[0].message, /^Malformed YAML in \/x\.yaml at line 2, column 1: .*unique/i);
});

Deno.test("Database takes File or URL, not both", () => {
  const both = parseConfigText(
    "Database: {File: /a.sqlite3, URL: 'postgres://u@h:5432/d'}\n",
    "/x.yaml",
    "/s",
  );
  assertEquals(both.errors.length, 1);
  assertMatch(both.errors[0].message, /^Database at line 1.*both File and URL/);
  const url = parseConfigText("Database: {URL: 'postgres://u@h:5432/d'}\n", "/x.yaml", "/s");
  assertEquals(url.config.database, { url: "postgres://u@h:5432/d" });
  const sqlite = parseConfigText("Database: {URL: 'sqlite:db/toros.sqlite3'}\n", "/etc/toros/x.yaml", "/s");
  assertEquals(sqlite.config.database, { url: "sqlite:/etc/toros/db/toros.sqlite3" });
});

Deno.test("relative paths resolve against the config file's directory", () => {
  const loaded = parseConfigText(
    "Logging: {File: logs/t.log}\nData: {Roots: [night, /abs]}\n",
    "/srv/toros/c.yaml",
    "/s",
  );
  assertEquals(loaded.config.logging.file, "/srv/toros/logs/t.log");
  assertEquals(loaded.config.data.roots, ["/srv/toros/night", "/abs"]);
});

Deno.test("Reduction: Local Worker is a boolean, true by default", () => {
  assertEquals(parseConfigText("", "/x.yaml", "/s").config.reduction.localWorker, true);
  const off = parseConfigText("Reduction: {Local Worker: false}\n", "/x.yaml", "/s");
  assertEquals([off.errors, off.config.reduction.localWorker], [[], false]);
  assertEquals(
    parseConfigText("Reduction: {Local Worker: sometimes}\n", "/x.yaml", "/s").errors.length,
    1,
  );
});

Deno.test("reduction and security sections are read", () => {
  const text =
    `Reduction: {Combine: Average, Sigma Clip: {Low: 3, High: 4}, MinMax Clip: {Min: 0, Max: 60000},
  Flat Floor: 0.05, Saturation: 65000, Workers: 4, Band Rows: 32, Niceness: 15, Share While Serving: 40}
Security: {Token: s3cret-token, Allowed Networks: [127.0.0.1/32, "::1/128", 10.0.0.0/8], CORS Origin: "", Max Body Bytes: 2048}
`;
  const loaded = parseConfigText(text, "/x.yaml", "/s");
  assertEquals(loaded.errors, []);
  assertEquals(loaded.config.reduction, {
    combine: "average",
    sigmaClip: { low: 3, high: 4, center: "median" },
    minMaxClip: { min: 0, max: 60000 },
    flatFloor: 0.05,
    saturation: 65000,
    workers: 4,
    bandRows: 32,
    niceness: 15,
    shareWhileServing: 40,
    localWorker: true,
    overscan: { estimate: "median", model: "none" },
    // The defaults of the keys this text does not set.
    output: { format: "mef" },
    gain: 1,
    readNoise: 10,
    temperatureTolerance: 2,
    badPixels: { hotSigma: 5, deadResponse: 0.2, lowResponse: 0.7 },
    qualityControl: { maxSaturated: 5, minFrames: 5, fewFrames: "warn", flatMin: 1000, flatMax: 50000 },
    masterComparison: { maxLevelChange: 10, maxChanged: 1, changedSigma: 5 },
  });
  assertEquals(
    parseConfigText("Reduction: {Niceness: 25}\n", "/x.yaml", "/s").errors.map((e) => e.message),
    ["Reduction.Niceness at line 1, column 23: 25 is not a nice value (0-19)"],
  );
  assertEquals(
    parseConfigText("Reduction: {Share While Serving: 0}\n", "/x.yaml", "/s").errors.map((e) => e.message),
    ["Reduction.Share While Serving at line 1, column 34: 0 is not a percent of the time (1-100)"],
  );
  assertEquals(loaded.config.security, {
    token: "s3cret-token",
    allowedNetworks: ["127.0.0.1/32", "::1/128", "10.0.0.0/8"],
    corsOrigin: "",
    maxBodyBytes: 2048,
    requestTimeoutSeconds: 30,
  });
});

Deno.test("a missing file is an error naming it; no path means embedded defaults", async () => {
  const missing = await loadConfig("/nonexistent/toros.conf.yaml", "/s");
  assertEquals(missing.errors.length, 1);
  assertMatch(missing.errors[0].message, /^Config file \/nonexistent\/toros\.conf\.yaml does not exist$/);
  const defaults = await loadConfig(undefined, "/s");
  assertEquals(defaults.errors, []);
  assertEquals(defaults.config, defaultConfig("/s"));
  await assertRejects(
    () => loadConfigOrThrow("/nonexistent/toros.conf.yaml", "/s"),
    ConfigError,
    "does not exist",
  );
});

Deno.test("embedded defaults keep state under XDG_STATE_HOME or ~/.local/state", async () => {
  const { defaultStateDir } = await import("../lib/config.ts");
  assertEquals(
    defaultStateDir((name) => ({ XDG_STATE_HOME: "/x/state", HOME: "/home/a" })[name]),
    "/x/state/toros",
  );
  assertEquals(
    defaultStateDir((name) => ({ HOME: "/home/a" } as Record<string, string>)[name]),
    "/home/a/.local/state/toros",
  );
  const config = defaultConfig("/home/a/.local/state/toros");
  assertEquals(config.database.file, "/home/a/.local/state/toros/toros.sqlite3");
  assert(config.logging.file.startsWith("/home/a/.local/state/toros/"));
});

Deno.test("the shipped template install/toros.conf.yaml loads without errors or warnings", async () => {
  const path = new URL("../install/toros.conf.yaml", import.meta.url).pathname;
  const loaded = await loadConfig(path, "/s");
  assertEquals(loaded.errors, []);
  assertEquals(loaded.warnings, []);
  assertEquals(loaded.config.preprocessorAddress.port, 8000);
  assertEquals(loaded.config.database.file, "/var/lib/toros/toros.sqlite3");
});

// ---------------------------------------------------------------------------
// The schema: every key declared once, everything else rendered from it
// ---------------------------------------------------------------------------

Deno.test("Sigma Clip takes an optional Center (median by default, or mean)", () => {
  const mean = parseConfigText(
    "Reduction: {Sigma Clip: {Low: 3, High: 2.5, Center: mean}}\n",
    "/x.yaml",
    "/s",
  );
  assertEquals(mean.errors, []);
  assertEquals(mean.config.reduction.sigmaClip, { low: 3, high: 2.5, center: "mean" });
  const median = parseConfigText("Reduction: {Sigma Clip: {Low: 3, High: 3}}\n", "/x.yaml", "/s");
  assertEquals(median.config.reduction.sigmaClip, { low: 3, high: 3, center: "median" });
  for (const bad of ["{Low: 3, High: 3, Center: mode}", "{Low: 3, High: 3, Centre: mean}", "{Low: 3}"]) {
    const loaded = parseConfigText(`Reduction:\n  Sigma Clip: ${bad}\n`, "/x.yaml", "/s");
    assertEquals(loaded.errors.length, 1, bad);
    assertMatch(
      loaded.errors[0].message,
      /^Reduction\.Sigma Clip at line 2, column 15: a mapping is not a sigma clip/,
    );
  }
});

Deno.test("Reduction: Overscan takes Estimate and Model, each with its default", () => {
  const defaults = defaultConfig("/s").reduction.overscan;
  assertEquals(defaults, { estimate: "median", model: "none" });
  const full = parseConfigText(
    "Reduction:\n  Overscan: {Estimate: clipped-mean, Model: polynomial 3}\n",
    "/x.yaml",
    "/s",
  );
  assertEquals(full.errors, []);
  assertEquals(full.config.reduction.overscan, { estimate: "clipped-mean", model: { polynomial: 3 } });
  assertEquals(full.sources["Reduction.Overscan.Model"], "file");
  const partial = parseConfigText("Reduction: {Overscan: {Estimate: Mean}}\n", "/x.yaml", "/s");
  assertEquals(partial.config.reduction.overscan, { estimate: "mean", model: "none" });
  assertEquals(partial.sources["Reduction.Overscan.Model"], "default");
  const bad = parseConfigText(
    "Reduction:\n  Overscan:\n    Estimate: mode\n    Model: polynomial 11\n",
    "/x.yaml",
    "/s",
  );
  assertEquals(bad.errors.map((error) => error.message), [
    'Reduction.Overscan.Estimate at line 3, column 15: "mode" is not an overscan estimate (median, mean, clipped-mean)',
    'Reduction.Overscan.Model at line 4, column 12: "polynomial 11" is not an overscan model (none, or polynomial N with N from 1 to 10)',
  ]);
  const notMapping = parseConfigText("Reduction: {Overscan: median}\n", "/x.yaml", "/s");
  assertEquals(notMapping.errors.map((error) => error.message), [
    'Reduction.Overscan at line 1, column 23: "median" is not a mapping of keys',
  ]);
  const typo = parseConfigText("Reduction: {Overscan: {Estimat: mean}}\n", "/x.yaml", "/s");
  assertMatch(typo.warnings[0].message, /^Reduction\.Overscan\.Estimat at line 1.*did you mean "Estimate"/);
});

Deno.test("Security: Request Timeout is seconds from 1 to 3600, default 30", () => {
  assertEquals(defaultConfig("/s").security.requestTimeoutSeconds, 30);
  const loaded = parseConfigText("Security: {Request Timeout: 120}\n", "/x.yaml", "/s");
  assertEquals(loaded.config.security.requestTimeoutSeconds, 120);
  assertEquals(
    parseConfigText("Security: {Request Timeout: 0}\n", "/x.yaml", "/s").errors.map((e) => e.message),
    ["Security.Request Timeout at line 1, column 29: 0 is not a timeout in seconds (1-3600)"],
  );
});

Deno.test("every daemon has an address section: telescope 8001, scheduler 8002, dome 8003", () => {
  const defaults = defaultConfig("/s");
  assertEquals(defaults.telescopeAddress, { http: "http://localhost:8001/", ip: "localhost", port: 8001 });
  assertEquals(defaults.schedulerAddress, { http: "http://localhost:8002/", ip: "localhost", port: 8002 });
  assertEquals(defaults.domeAddress, { http: "http://localhost:8003/", ip: "localhost", port: 8003 });
  const text =
    "Telescope Address: {HTTP: 'http://mount:9001/', IP: 0.0.0.0, Port: 9001}\nDome Address: {Port: 0}\n";
  const loaded = parseConfigText(text, "/x.yaml", "/s");
  const telescope: AddressConfig = loaded.config.telescopeAddress;
  assertEquals(telescope, { http: "http://mount:9001/", ip: "0.0.0.0", port: 9001 });
  assertEquals(loaded.errors.map((e) => e.message), [
    "Dome Address.Port at line 2, column 22: 0 is not a port (1-65535)",
  ]);
});

Deno.test("Allowed Networks uses the server's CIDR parser: what config check accepts, the server starts with", () => {
  const refused = parseConfigText("Security:\n  Allowed Networks: [10.0.0.0/8, '1:2']\n", "/x.yaml", "/s");
  assertEquals(refused.errors.map((e) => e.message), [
    "Security.Allowed Networks at line 2, column 21: a list is not a list of networks in CIDR form (e.g. [127.0.0.1/32, 10.0.0.0/8])",
  ]);
  const server = (networks: string[]) => new XmlRpcServer({ title: "t", allowedNetworks: networks });
  const valid = [
    "127.0.0.1",
    "127.0.0.1/32",
    "10.0.0.0/8",
    "0.0.0.0/0",
    "::1",
    "::1/128",
    "fe80::/10",
    "2001:db8::/32",
    "2001:db8:0:0:0:0:0:1/128",
    "::ffff:10.0.0.0/104",
  ];
  for (const network of valid) {
    const loaded = parseConfigText(`Security: {Allowed Networks: ['${network}']}\n`, "/x.yaml", "/s");
    assertEquals(loaded.errors, [], network);
    assertEquals(loaded.config.security.allowedNetworks, [network]);
    server([network]);
  }
  const invalid = [
    "1:2",
    "10.0.0.0/",
    "10.0.0.0/33",
    "10.0.0.0/0x8",
    "10.0.0.0/8/9",
    "::1/129",
    "1:2:3:4:5:6:7::8",
  ];
  for (const network of invalid) {
    const loaded = parseConfigText(`Security: {Allowed Networks: ['${network}']}\n`, "/x.yaml", "/s");
    assertEquals(loaded.errors.length, 1, `config check accepted ${network}`);
    assertThrows(() => server([network]), Error, "is not in CIDR form");
  }
});

Deno.test("config check shows every key of the schema, as YAML that loads back to the same config", () => {
  const loaded = parseConfigText(
    "Logging: {Log Level: DEBUG}\nReduction: {Sigma Clip: {Low: 2, High: 4}, Overscan: {Model: polynomial 2}}\n",
    "/etc/toros/c.yaml",
    "/s",
  );
  const text = renderEffectiveConfig(loaded);
  for (const { names, entry } of walkSchema(TOROS_SCHEMA)) {
    const indent = "  ".repeat(names.length - 1);
    const name = names[names.length - 1];
    if (entry.kind === "section") {
      assert(text.includes(`\n${indent}${name}:\n`), `no section ${names.join(".")} in:\n${text}`);
    } else if (names.join(".") !== "Database.URL") {
      assertMatch(text, new RegExp(`\\n${indent}${name}: .* # (file|default)(\\n|$)`), names.join("."));
    }
  }
  assertMatch(text, /\n {2}Log Level: DEBUG +# file\n/);
  assertMatch(text, /\n {2}Sigma Clip: \{Low: 2, High: 4, Center: median\} +# file\n/);
  assertMatch(text, /\n {4}Model: polynomial 2 +# file\n/);
  assertMatch(text, /\n {2}CORS Origin: "\*" +# default\n/);
  const again = parseConfigText(text, "/elsewhere/c.yaml", "/s");
  assertEquals(again.errors, []);
  assertEquals(again.warnings, []);
  assertEquals(again.config, loaded.config);
});

Deno.test("config check hides the token and a database password, as the schema declares", () => {
  const loaded = parseConfigText(
    "Security: {Token: s3cret-token}\nDatabase: {URL: 'postgres://toros:pw@db:5432/toros'}\n",
    "/x.yaml",
    "/s",
  );
  const text = renderEffectiveConfig(loaded);
  assertMatch(text, /\n {2}Token: "\*{8}" +# file\n/);
  assertMatch(text, /\n {2}URL: postgres:\/\/toros:\*{8}@db:5432\/toros +# file\n/);
  assert(!text.includes("s3cret") && !text.includes(":pw@"));
  const json = redactConfig(TOROS_SCHEMA, loaded.config);
  assertEquals(json.security.token, "********");
  assertEquals(json.database.url, "postgres://toros:********@db:5432/toros");
  assertEquals(loaded.config.security.token, "s3cret-token", "the loaded config is not changed");
});

Deno.test("README.md's configuration table is the one the schema renders", async () => {
  const readme = await Deno.readTextFile(new URL("../README.md", import.meta.url));
  const inReadme = readmeConfigTable(readme).split("\n");
  const fromSchema = configTable().split("\n");
  const missing = fromSchema.filter((row) => !inReadme.includes(row));
  const stale = inReadme.filter((row) => !fromSchema.includes(row));
  assert(
    missing.length === 0 && stale.length === 0,
    `README.md's configuration table differs from the schema (lib/config/toros_schema.ts); ` +
      `regenerate it with: ${README_COMMAND}\n` +
      `rows to add:\n${missing.join("\n")}\nrows to remove:\n${stale.join("\n")}`,
  );
  assertEquals(inReadme, fromSchema, `row order differs; regenerate with: ${README_COMMAND}`);
});

Deno.test("the README table is replaced in place, and a README without one is an error", () => {
  const before =
    "# X\n\n## Configuration reference\n\nText.\n\n| key | default | meaning |\n| - | - | - |\n| old | row | here |\n\nAfter.\n";
  const after = replaceReadmeConfigTable(before, "| key | new |");
  assertEquals(after, "# X\n\n## Configuration reference\n\nText.\n\n| key | new |\n\nAfter.\n");
  assertEquals(readmeConfigTable(after), "| key | new |");
  assertThrows(() => readmeConfigTable("# X\n\n| key | a |\n"), Error, "No configuration table");
});

Deno.test("every key the template install/toros.conf.yaml shows, even in comments, exists in the schema", async () => {
  const path = new URL("../install/toros.conf.yaml", import.meta.url).pathname;
  const text = await Deno.readTextFile(path);
  // Keys in effect: every mapping key, at any depth, is a schema path.
  const shown: string[] = [];
  const collect = (value: unknown, prefix: string[]) => {
    if (typeof value !== "object" || value === null || Array.isArray(value)) return;
    for (const [name, nested] of Object.entries(value)) {
      const names = [...prefix, name];
      shown.push(names.join("."));
      const entry = walkSchema(TOROS_SCHEMA).find((candidate) =>
        candidate.names.join(".") === names.join(".")
      );
      if (entry?.entry.kind === "section") collect(nested, names);
    }
  };
  collect(parseYaml(text), []);
  assert(shown.length > 30, `only ${shown.length} keys found`);
  for (const key of shown) {
    assert(CONFIG_KEYS.includes(key), `the template shows ${key}, which the schema lacks`);
  }
  // Commented-out alternatives (`#   Database: {URL: ...}`) and examples (`Key: null # e.g. {Low: 3, High: 3}`) load too.
  let section = "";
  let examples = 0;
  for (const line of text.split("\n")) {
    const top = /^([A-Z][\w ]*):/.exec(line);
    if (top) section = top[1];
    const commented = /^# {2,}([A-Z][\w ]*: \{.*\})$/.exec(line);
    const example = /^ {2}([A-Z][\w ]*): .* # e\.g\. ([^;]+)/.exec(line);
    const snippet = commented
      ? commented[1]
      : example
      ? `${section}:\n  ${example[1]}: ${example[2].trim()}\n`
      : null;
    if (snippet === null) continue;
    examples++;
    const loaded = parseConfigText(snippet, "/etc/toros/toros.conf.yaml", "/s");
    assertEquals([...loaded.errors, ...loaded.warnings], [], `template line: ${line}`);
  }
  assert(examples >= 5, `only ${examples} commented examples checked`);
});

Deno.test("adding a section is one declaration: typed parsing, located errors, config check and README row follow", () => {
  // The real schema declares these two sections now; the test declares its own versions anew.
  const { telescope: _telescope, site: _site, ...withoutThem } = TOROS_SCHEMA;
  const observatory = {
    ...withoutThem,
    telescope: section("Telescope", {
      doc: "The telescope daemon's instruments",
      keys: {
        name: key("Name", readNonEmptyString, { default: "TOROS", doc: "telescope name written in headers" }),
        indiServer: key("INDI Server", readNonEmptyString, {
          default: "localhost:7624",
          doc: "INDI host:port",
        }),
        filters: key("Filters", readStringList, {
          default: ["U", "B", "V"],
          doc: "filter wheel slots, in order",
        }),
        dataRoot: key("Data Root", readPath, {
          default: (stateDir) => `${stateDir}/nights`,
          doc: "nights go here",
        }),
        calibration: section("Calibration", {
          doc: "Frames per calibration series",
          keys: {
            bias: key("Bias", readIntegerIn(0, 100, "a frame count (0-100)"), {
              default: 5,
              doc: "bias frames",
            }),
            dark: key("Dark", readIntegerIn(0, 100, "a frame count (0-100)"), {
              default: 5,
              doc: "dark frames",
            }),
            flatExposure: key(
              "Flat Exposure",
              readNumberIn(0.001, 3600, "an exposure in seconds (0.001-3600)"),
              {
                default: 1.5,
                doc: "seconds per flat",
              },
            ),
          },
        }),
      },
    }),
    site: section("Site", {
      doc: "Where the observatory is",
      keys: {
        latitude: key("Latitude", readNumberIn(-90, 90, "a latitude in degrees (-90 to 90)"), {
          default: -24.6,
          doc: "degrees, north positive",
        }),
      },
    }),
  };
  const text = `Logging: {Log Level: DEBUG}
Telescope:
  Filters: [U, B, V, R]
  Data Root: nights
  Calibration: {Bias: 7, Flat Exposure: 0}
  Calibraton: {}
Site: {Latitude: 91}
`;
  const loaded = parseConfigWith(observatory, text, { fileName: "/etc/toros/c.yaml", stateDir: "/s" });
  // Typed from the declarations: these assignments type-check, a property not declared does not.
  const filters: string[] = loaded.config.telescope.filters;
  const bias: number = loaded.config.telescope.calibration.bias;
  const level: LogLevel = loaded.config.logging.level;
  // @ts-expect-error Calibration declares no Flat key
  loaded.config.telescope.calibration.flat;
  assertEquals([filters, bias, level], [["U", "B", "V", "R"], 7, "DEBUG"]);
  assertEquals(loaded.config.telescope.dataRoot, "/etc/toros/nights");
  assertEquals(loaded.config.telescope.calibration, { bias: 7, dark: 5, flatExposure: 1.5 });
  assertEquals(loaded.config.site.latitude, -24.6);
  assertEquals(loaded.errors.map((e) => e.message), [
    "Telescope.Calibration.Flat Exposure at line 5, column 41: 0 is not an exposure in seconds (0.001-3600)",
    "Site.Latitude at line 7, column 18: 91 is not a latitude in degrees (-90 to 90)",
  ]);
  assertMatch(
    loaded.warnings[0].message,
    /^Telescope\.Calibraton at line 6, column 3: .*did you mean "Calibration"/,
  );
  assertEquals(defaultsOf(observatory, "/s").telescope.dataRoot, "/s/nights");

  const shown = renderEffective(observatory, loaded);
  assertMatch(shown, /\nTelescope:\n {2}Name: TOROS +# default\n/);
  assertMatch(shown, /\n {2}Filters: \[U, B, V, R\] +# file\n/);
  assertMatch(shown, /\n {2}Calibration:\n {4}Bias: 7 +# file\n {4}Dark: 5 +# default\n/);
  assertMatch(shown, /\nSite:\n {2}Latitude: -24\.6 +# default$/);

  const table = renderConfigTable(observatory);
  assertMatch(table, /\n\| `Telescope\.Calibration\.Flat Exposure` +\| `1\.5` +\| seconds per flat +\|/);
  assertMatch(table, /\n\| `Telescope\.Data Root` +\| `\$STATE\/nights` +\| nights go here +\|/);
  assertMatch(table, /\n\| `Telescope\.Filters` +\| `\[U, B, V\]` +\|/);
});

Deno.test("a oneOf key must be declared optional", () => {
  assertThrows(
    () =>
      section("Broken", {
        doc: "x",
        oneOf: ["a"],
        keys: { a: key("A", readNonEmptyString, { default: "x", doc: "a" }) },
      }),
    Error,
    "oneOf names a, which is not an optional key",
  );
});
