import { assert, assertEquals, assertMatch, assertRejects } from "./_assert.ts";
import { ConfigError, defaultConfig, loadConfig, loadConfigOrThrow, parseConfigText } from "../lib/config.ts";

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
    sigmaClip: { low: 3, high: 4 },
    minMaxClip: { min: 0, max: 60000 },
    flatFloor: 0.05,
    saturation: 65000,
    workers: 4,
    bandRows: 32,
    niceness: 15,
    shareWhileServing: 40,
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
