import { assert, assertEquals, assertMatch, assertStringIncludes } from "./_assert.ts";
import { extractConfigFlag, resolveConfigPath, UsageError } from "../lib/cli.ts";
import { VERSION } from "../lib/version.ts";

const MAIN = new URL("../main.ts", import.meta.url).pathname;

async function toros(args: string[], env: Record<string, string> = {}) {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", MAIN, ...args],
    env: { NO_COLOR: "1", ...env },
    stdout: "piped",
    stderr: "piped",
  }).output();
  return {
    code: output.code,
    stdout: new TextDecoder().decode(output.stdout),
    stderr: new TextDecoder().decode(output.stderr),
  };
}

Deno.test("toros help lists every command", async () => {
  const result = await toros(["help"]);
  assertEquals(result.code, 0);
  for (const command of ["serve", "reduce", "submit", "jobs", "products", "fits", "config", "version"]) {
    assertMatch(result.stdout, new RegExp(`^  ${command} `, "m"));
  }
});

Deno.test("toros version prints the version from deno.json", async () => {
  const result = await toros(["version"]);
  assertEquals(result.code, 0);
  assertEquals(result.stdout.trim(), `toros ${VERSION}`);
});

Deno.test("an unknown command prints usage on stderr and exits 2", async () => {
  const result = await toros(["frobnicate"]);
  assertEquals(result.code, 2);
  assertEquals(result.stdout, "");
  assertStringIncludes(result.stderr, "Unknown command 'frobnicate'");
  assertStringIncludes(result.stderr, "Usage: toros COMMAND");
});

Deno.test("an unknown flag prints the command's usage and exits 2", async () => {
  const result = await toros(["config", "check", "--verbose"]);
  assertEquals(result.code, 2);
  assertStringIncludes(result.stderr, "--verbose");
  assertStringIncludes(result.stderr, "Usage: toros config check");
});

Deno.test("toros config check prints the effective config with sources", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/toros.conf.yaml`;
    await Deno.writeTextFile(
      path,
      "Preprocessor Address: {HTTP: 'http://localhost:8123/', IP: 127.0.0.1, Port: 8123}\n",
    );
    const result = await toros(["config", "check", path]);
    assertEquals(result.code, 0);
    assertMatch(result.stdout, /^ {2}Port: 8123 +# file$/m);
    assertMatch(result.stdout, /^ {2}Log Level: INFO +# default$/m);
    assertMatch(result.stdout, /^ {2}Niceness: 10 +# default$/m);
    assertMatch(result.stdout, /^ {2}Share While Serving: 25 +# default$/m);
    const json = await toros(["config", "check", path, "--json"]);
    assertEquals(json.code, 0);
    const parsed = JSON.parse(json.stdout);
    assertEquals(parsed.valid, true);
    assertEquals(parsed.config.preprocessorAddress.port, 8123);
    assertEquals(parsed.sources["Preprocessor Address.Port"], "file");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("toros config check exits non-zero and lists every error", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/bad.yaml`;
    await Deno.writeTextFile(
      path,
      "Preprocessor Address:\n  HTTP: 'http://x/'\n  IP: x\n  Port: 99999\nLogging: {Log Level: LOUD}\n",
    );
    const result = await toros(["config", "check", path]);
    assertEquals(result.code, 1);
    assertStringIncludes(
      result.stderr,
      "Preprocessor Address.Port at line 4, column 9: 99999 is not a port (1-65535)",
    );
    assertStringIncludes(result.stderr, 'Logging.Log Level at line 5, column 22: "LOUD" is not a log level');
    assertStringIncludes(result.stderr, "2 error(s)");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("--config beats TOROS_CONFIG, which beats the system file", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const flagFile = `${dir}/flag.yaml`;
    const envFile = `${dir}/env.yaml`;
    await Deno.writeTextFile(flagFile, "Preprocessor Address: {HTTP: 'http://a/', IP: a, Port: 1111}\n");
    await Deno.writeTextFile(envFile, "Preprocessor Address: {HTTP: 'http://b/', IP: b, Port: 2222}\n");
    const viaFlag = await toros(["config", "check", "--config", flagFile], { TOROS_CONFIG: envFile });
    assertMatch(viaFlag.stdout, /Port: 1111/);
    const viaEnv = await toros(["config", "check"], { TOROS_CONFIG: envFile });
    assertMatch(viaEnv.stdout, /Port: 2222/);
    const viaEquals = await toros([`--config=${flagFile}`, "config", "check"], { TOROS_CONFIG: envFile });
    assertMatch(viaEquals.stdout, /Port: 1111/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("resolveConfigPath: flag, then env, then the system file if it exists, else defaults", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const system = `${dir}/toros.conf.yaml`;
    const env = (vars: Record<string, string>) => (name: string) => vars[name];
    assertEquals(resolveConfigPath(undefined, env({}), system), undefined);
    await Deno.writeTextFile(system, "");
    assertEquals(resolveConfigPath(undefined, env({}), system), system);
    assertEquals(resolveConfigPath(undefined, env({ TOROS_CONFIG: "/e.yaml" }), system), "/e.yaml");
    assertEquals(resolveConfigPath("/f.yaml", env({ TOROS_CONFIG: "/e.yaml" }), system), "/f.yaml");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("extractConfigFlag takes --config anywhere and rejects a missing value", () => {
  assertEquals(extractConfigFlag(["reduce", "--config", "/c.yaml", "/night"]), {
    rest: ["reduce", "/night"],
    configFlag: "/c.yaml",
  });
  let error: unknown;
  try {
    extractConfigFlag(["reduce", "--config"]);
  } catch (e) {
    error = e;
  }
  assert(error instanceof UsageError);
});
