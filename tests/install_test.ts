/**
 * The installer and uninstaller, staged into a --destdir with a stand-in binary,
 * the unit checked by systemd-analyze and the plist by plistutil, and the unit's
 * own ExecStart command line run for real and spoken to with Python's xmlrpc.client.
 */
import { assert, assertEquals, assertStringIncludes } from "./_assert.ts";
import { peerTest, runPython } from "./_peers.ts";

const REPO = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
const INSTALL = `${REPO}/install/install.sh`;
const UNINSTALL = `${REPO}/install/uninstall.sh`;

async function sh(args: string[], env: Record<string, string> = {}) {
  const out = await new Deno.Command("sh", { args, env, stdout: "piped", stderr: "piped" }).output();
  return {
    code: out.code,
    stdout: new TextDecoder().decode(out.stdout),
    stderr: new TextDecoder().decode(out.stderr),
  };
}

/** A stand-in for the compiled binary: runs main.ts with this Deno. */
async function standIn(dir: string): Promise<string> {
  const path = `${dir}/toros-stand-in`;
  await Deno.writeTextFile(
    path,
    `#!/bin/sh\nexec "${Deno.execPath()}" run --allow-all "${REPO}/main.ts" "$@"\n`,
  );
  await Deno.chmod(path, 0o755);
  return path;
}

function tree(root: string): string[] {
  const entries: string[] = [];
  const walk = (dir: string) => {
    for (const entry of Deno.readDirSync(dir)) {
      const path = `${dir}/${entry.name}`;
      const info = Deno.lstatSync(path);
      entries.push(`${path.slice(root.length)} ${(info.mode! & 0o7777).toString(8)} ${info.size}`);
      if (entry.isDirectory) walk(path);
    }
  };
  walk(root);
  return entries.sort();
}

function mode(path: string): string {
  return (Deno.statSync(path).mode! & 0o7777).toString(8);
}

Deno.test("install stages binary, config, directories and a hardened unit; systemd-analyze verify is silent", async () => {
  const dir = await Deno.makeTempDir({ prefix: "toros-install-" });
  try {
    const bin = await standIn(dir);
    const stage = `${dir}/root`;
    const result = await sh([INSTALL, "--destdir", stage, "--bin", bin, "--os", "linux"]);
    assertEquals(result.code, 0, result.stderr);
    assertEquals(mode(`${stage}/usr/local/bin/toros`), "755");
    assertEquals(mode(`${stage}/etc/toros/toros.conf.yaml`), "640");
    assertEquals(
      await Deno.readTextFile(`${stage}/etc/toros/toros.conf.yaml`),
      await Deno.readTextFile(`${REPO}/install/toros.conf.yaml`),
    );
    assertEquals(mode(`${stage}/var/lib/toros`), "750");
    assertEquals(mode(`${stage}/var/log/toros`), "750");
    const unitPath = `${stage}/etc/systemd/system/preprocessor.service`;
    assertEquals(mode(unitPath), "644");
    const unit = await Deno.readTextFile(unitPath);
    for (
      const line of [
        "ExecStart=/usr/local/bin/toros serve preprocessor --config /etc/toros/toros.conf.yaml",
        "User=toros",
        "Restart=on-failure",
        "After=network-online.target",
        "WantedBy=multi-user.target",
        "Alias=preprocessord.service",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "PrivateTmp=yes",
        "ProtectHome=yes",
        "ReadWritePaths=/var/lib/toros /var/log/toros -/data/toros",
      ]
    ) assertStringIncludes(unit, `\n${line}\n`);
    // systemd-analyze checks that ExecStart exists: point it at the staged binary.
    const verifyPath = `${dir}/preprocessor.service`;
    await Deno.writeTextFile(
      verifyPath,
      unit.replace("/usr/local/bin/toros", `${stage}/usr/local/bin/toros`),
    );
    const verify = await new Deno.Command("systemd-analyze", {
      args: ["verify", verifyPath],
      stdout: "piped",
      stderr: "piped",
    })
      .output();
    const said = new TextDecoder().decode(verify.stdout) + new TextDecoder().decode(verify.stderr);
    assertEquals([verify.code, said], [0, ""]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the data roots in the unit come from the installed config", async () => {
  const dir = await Deno.makeTempDir({ prefix: "toros-install-" });
  try {
    const bin = await standIn(dir);
    const stage = `${dir}/root`;
    await Deno.mkdir(`${stage}/etc/toros`, { recursive: true });
    await Deno.writeTextFile(
      `${stage}/etc/toros/toros.conf.yaml`,
      "Data: {Roots: [/srv/nights, /mnt/ccd]}\n",
    );
    const result = await sh([INSTALL, "--destdir", stage, "--bin", bin, "--os", "linux"]);
    assertEquals(result.code, 0, result.stderr);
    const unit = await Deno.readTextFile(`${stage}/etc/systemd/system/preprocessor.service`);
    assertStringIncludes(unit, "ReadWritePaths=/var/lib/toros /var/log/toros -/srv/nights -/mnt/ccd\n");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("macOS staging writes a launchd plist that plistutil reads", async () => {
  const dir = await Deno.makeTempDir({ prefix: "toros-install-" });
  try {
    const stage = `${dir}/root`;
    const result = await sh([INSTALL, "--destdir", stage, "--bin", await standIn(dir), "--os", "darwin"]);
    assertEquals(result.code, 0, result.stderr);
    const plist = `${stage}/Library/LaunchDaemons/org.toros.preprocessor.plist`;
    assertEquals(mode(plist), "644");
    const out = await new Deno.Command("plistutil", {
      args: ["-i", plist, "-o", "-", "-f", "xml"],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert(out.success, new TextDecoder().decode(out.stderr));
    const text = new TextDecoder().decode(out.stdout);
    assertStringIncludes(text, "<string>org.toros.preprocessor</string>");
    assertStringIncludes(text, "<string>/usr/local/bin/toros</string>");
    assertEquals(await Deno.stat(`${stage}/etc/systemd/system/preprocessor.service`).catch(() => null), null);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("reinstall keeps an edited config, puts a changed template beside it, and is idempotent", async () => {
  const dir = await Deno.makeTempDir({ prefix: "toros-install-" });
  try {
    const bin = await standIn(dir);
    const stage = `${dir}/root`;
    assertEquals((await sh([INSTALL, "--destdir", stage, "--bin", bin, "--os", "linux"])).code, 0);
    const config = `${stage}/etc/toros/toros.conf.yaml`;
    const edited = (await Deno.readTextFile(config)).replace("Log Level: INFO", "Log Level: DEBUG");
    await Deno.writeTextFile(config, edited);
    const again = await sh([INSTALL, "--destdir", stage, "--bin", bin, "--os", "linux"]);
    assertEquals(again.code, 0);
    assertEquals(await Deno.readTextFile(config), edited, "a site's edits survive");
    // The shipped template is unchanged relative to the first install: .new holds it for comparison.
    assertEquals(
      await Deno.readTextFile(`${config}.new`),
      await Deno.readTextFile(`${REPO}/install/toros.conf.yaml`),
    );
    const third = await sh([INSTALL, "--destdir", stage, "--bin", bin, "--os", "linux"]);
    assertEquals(third.code, 0);
    assertStringIncludes(third.stdout, "already beside it");
    assertEquals(await Deno.readTextFile(config), edited);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("--dry-run changes nothing; uninstall keeps config and data unless --purge", async () => {
  const dir = await Deno.makeTempDir({ prefix: "toros-install-" });
  try {
    const bin = await standIn(dir);
    const stage = `${dir}/root`;
    const dry = await sh([INSTALL, "--destdir", stage, "--bin", bin, "--os", "linux", "--dry-run"]);
    assertEquals(dry.code, 0, dry.stderr);
    assertStringIncludes(dry.stdout, "would run: install -m 0755");
    assertEquals(await Deno.stat(stage).catch(() => null), null, "dry run created nothing");
    assertEquals((await sh([INSTALL, "--destdir", stage, "--bin", bin, "--os", "linux"])).code, 0);
    await Deno.writeTextFile(`${stage}/var/lib/toros/toros.sqlite3`, "catalog");
    const before = tree(stage);
    const dryUninstall = await sh([UNINSTALL, "--destdir", stage, "--os", "linux", "--purge", "--dry-run"]);
    assertEquals(dryUninstall.code, 0);
    assertEquals(tree(stage), before, "dry-run uninstall wrote nothing");
    const uninstall = await sh([UNINSTALL, "--destdir", stage, "--os", "linux"]);
    assertEquals(uninstall.code, 0, uninstall.stderr);
    assertEquals(await Deno.stat(`${stage}/usr/local/bin/toros`).catch(() => null), null);
    assertEquals(await Deno.stat(`${stage}/etc/systemd/system/preprocessor.service`).catch(() => null), null);
    assert((await Deno.stat(`${stage}/etc/toros/toros.conf.yaml`)).isFile, "config kept");
    assertEquals(await Deno.readTextFile(`${stage}/var/lib/toros/toros.sqlite3`), "catalog", "state kept");
    assertEquals((await sh([UNINSTALL, "--destdir", stage, "--os", "linux"])).code, 0, "idempotent");
    const purge = await sh([UNINSTALL, "--destdir", stage, "--os", "linux", "--purge"]);
    assertEquals(purge.code, 0);
    assertEquals(await Deno.stat(`${stage}/etc/toros`).catch(() => null), null);
    assertEquals(await Deno.stat(`${stage}/var/lib/toros`).catch(() => null), null);
    const bad = await sh([INSTALL, "--destdir", stage, "--bin", `${dir}/missing`]);
    assertEquals(bad.code, 1);
    assertStringIncludes(bad.stderr, "no binary at");
    const unknown = await sh([INSTALL, "--frobnicate"]);
    assertEquals(unknown.code, 1);
    assertStringIncludes(unknown.stderr, "unknown option '--frobnicate'");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

await peerTest(
  "the unit's ExecStart, run with the staged paths, serves Python's xmlrpc.client and stops on SIGTERM",
  [
    "python",
  ],
  async () => {
    const dir = await Deno.realPath(await Deno.makeTempDir({ prefix: "toros-install-e2e-" }));
    try {
      const stage = `${dir}/root`;
      assertEquals(
        (await sh([INSTALL, "--destdir", stage, "--bin", await standIn(dir), "--os", "linux"])).code,
        0,
      );
      const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
      const port = (listener.addr as Deno.NetAddr).port;
      listener.close();
      const config = `${stage}/etc/toros/toros.conf.yaml`;
      await Deno.writeTextFile(
        config,
        (await Deno.readTextFile(config))
          .replace(
            /Preprocessor Address: .*/,
            `Preprocessor Address: {HTTP: "http://127.0.0.1:${port}/", IP: 127.0.0.1, Port: ${port}}`,
          )
          .replace("/var/log/toros/", `${stage}/var/log/toros/`)
          .replace("/var/lib/toros/", `${stage}/var/lib/toros/`)
          .replace("[/data/toros]", `[${dir}/data]`),
      );
      const unit = await Deno.readTextFile(`${stage}/etc/systemd/system/preprocessor.service`);
      const execStart = /^ExecStart=(.*)$/m.exec(unit)![1]
        .replace("/usr/local/bin/toros", `${stage}/usr/local/bin/toros`)
        .replace("/etc/toros/toros.conf.yaml", config)
        .split(" ");
      const service = new Deno.Command(execStart[0], {
        args: execStart.slice(1),
        stdout: "null",
        stderr: "piped",
      }).spawn();
      try {
        const result = await runPython(
          `
import sys, time, xmlrpc.client
s = xmlrpc.client.ServerProxy(sys.argv[1])
for _ in range(200):
    try:
        methods = s.system.listMethods()
        break
    except OSError:
        time.sleep(0.05)
try:
    s.front_desk({"ID": "1", "WOType": "Dome", "Priority": 2, "User": "John Doe", "Blink01": True})
except xmlrpc.client.Fault as f:
    print(f.faultCode, f.faultString)
print(",".join(m for m in methods if not m.startswith("system.")))
`,
          [`http://127.0.0.1:${port}/RPC2`],
        );
        assertStringIncludes(result, '1 Work orders of type "Dome" are handled by the dome service');
        assertStringIncludes(result, "cancel_job,front_desk,job_status,list_jobs");
      } finally {
        service.kill("SIGTERM");
        const status = await service.status;
        const stderr = new TextDecoder().decode(await new Response(service.stderr).arrayBuffer());
        assertEquals(status.code, 0, stderr);
      }
      const log = await Deno.readTextFile(`${stage}/var/log/toros/toros.log`);
      assertStringIncludes(log, "[INFO] [preprocessor]: Stopped");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);

const denort = Deno.env.get("DENORT_BIN");
Deno.test({
  name: denort
    ? "deno task compile builds dist/toros, which runs `toros version` and serves"
    : "deno task compile builds dist/toros (skipped: DENORT_BIN is not set and denort cannot be downloaded here)",
  ignore: !denort,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "toros-compile-" });
    try {
      const output = `${dir}/toros`;
      const build = await new Deno.Command(Deno.execPath(), {
        args: ["run", "--allow-all", `${REPO}/install/compile.ts`, output],
        stdout: "piped",
        stderr: "piped",
      }).output();
      assert(build.success, new TextDecoder().decode(build.stderr));
      const version = await new Deno.Command(output, { args: ["version"], stdout: "piped" }).output();
      assertStringIncludes(new TextDecoder().decode(version.stdout), "toros ");
      const help = await new Deno.Command(output, { args: ["help"], stdout: "piped" }).output();
      assertStringIncludes(new TextDecoder().decode(help.stdout), "serve");
      const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
      const port = (listener.addr as Deno.NetAddr).port;
      listener.close();
      const config = `${dir}/toros.conf.yaml`;
      await Deno.writeTextFile(
        config,
        `Preprocessor Address: {IP: 127.0.0.1, Port: ${port}}\n` +
          `Logging: {File: ${dir}/toros.log}\nDatabase: {File: ${dir}/toros.sqlite3}\nData: {Roots: [${dir}]}\n`,
      );
      const service = new Deno.Command(output, {
        args: ["serve", "preprocessor", "--config", config],
        stdout: "null",
        stderr: "null",
      }).spawn();
      try {
        let health: Response | null = null;
        for (let i = 0; i < 100 && !health; i++) {
          health = await fetch(`http://127.0.0.1:${port}/health`).catch(() => null);
          if (!health) await new Promise((r) => setTimeout(r, 50));
        }
        assertEquals(health?.status, 200);
        await health?.body?.cancel();
      } finally {
        service.kill("SIGTERM");
        assertEquals((await service.status).code, 0);
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
if (!denort) {
  console.warn(
    "SKIP deno compile test: DENORT_BIN is not set and denort cannot be downloaded on this machine",
  );
}

Deno.test("deno task compile names DENORT_BIN when the runtime cannot be found", async () => {
  const dir = await Deno.makeTempDir({ prefix: "toros-compile-" });
  try {
    const missing = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-all", `${REPO}/install/compile.ts`, `${dir}/toros`],
      env: { DENORT_BIN: `${dir}/no-denort` },
      stdout: "piped",
      stderr: "piped",
    }).output();
    assertEquals(missing.code, 1);
    assertStringIncludes(
      new TextDecoder().decode(missing.stderr),
      `DENORT_BIN is set to ${dir}/no-denort, which does not exist`,
    );
    if (!denort) {
      // Without DENORT_BIN, deno tries to download denort: offline it must fail with advice, never half a binary.
      const offline = await new Deno.Command(Deno.execPath(), {
        args: ["run", "--allow-all", `${REPO}/install/compile.ts`, `${dir}/toros`],
        stdout: "piped",
        stderr: "piped",
      }).output();
      if (!offline.success) {
        assertStringIncludes(new TextDecoder().decode(offline.stderr), "set DENORT_BIN=/path/to/denort");
        assertEquals(await Deno.stat(`${dir}/toros`).catch(() => null), null);
      }
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
