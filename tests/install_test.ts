/**
 * The installer and uninstaller, staged into a --destdir with a stand-in binary,
 * the unit checked by systemd-analyze and the plist by plistutil, and the unit's
 * own ExecStart command line run for real and spoken to with Python's xmlrpc.client.
 */
import { assert, assertEquals, assertMatch, assertStringIncludes } from "./_assert.ts";
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

/** A daemon's systemd unit name: its own, but `toros-worker` for the reduction worker. */
function unitOf(name: string): string {
  return name === "worker" ? "toros-worker" : name;
}

/** The daemons the stand-in binary runs, as `toros serve --list` names them. */
async function listedDaemons(bin: string): Promise<string[]> {
  const out = await new Deno.Command(bin, { args: ["serve", "--list"], stdout: "piped" }).output();
  assert(out.success, "toros serve --list failed");
  return new TextDecoder().decode(out.stdout).trim().split("\n");
}

/** A stand-in whose `serve --list` names `daemons` (daemons newer than the installer); the rest runs main.ts. */
async function standInListing(dir: string, daemons: string[]): Promise<string> {
  const inner = await standIn(dir);
  const path = `${dir}/toros-listing`;
  await Deno.writeTextFile(
    path,
    `#!/bin/sh\nif [ "$1 $2" = "serve --list" ]; then printf '%s\\n' ${daemons.join(" ")}; exit 0; fi\n` +
      `exec "${inner}" "$@"\n`,
  );
  await Deno.chmod(path, 0o755);
  return path;
}

/** The unit files (not alias links) under a staged root's /etc/systemd/system, by daemon name. */
function stagedUnits(stage: string): string[] {
  const names: string[] = [];
  for (const entry of Deno.readDirSync(`${stage}/etc/systemd/system`)) {
    if (entry.isFile && entry.name.endsWith(".service")) names.push(entry.name.slice(0, -".service".length));
  }
  return names.sort();
}

/** The daemons whose units a staged root starts at boot (its multi-user.target.wants links). */
function enabledUnits(stage: string): string[] {
  const names: string[] = [];
  try {
    for (const entry of Deno.readDirSync(`${stage}/etc/systemd/system/multi-user.target.wants`)) {
      names.push(entry.name.slice(0, -".service".length));
    }
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  return names.sort();
}

/** What `systemd-analyze verify` says about a staged unit (ExecStart pointed at the staged binary). */
async function verifyUnit(dir: string, stage: string, name: string): Promise<[number, string]> {
  await Deno.mkdir(`${dir}/verify`, { recursive: true });
  const path = `${dir}/verify/${name}.service`;
  const unit = await Deno.readTextFile(`${stage}/etc/systemd/system/${name}.service`);
  await Deno.writeTextFile(path, unit.replace("/usr/local/bin/toros", `${stage}/usr/local/bin/toros`));
  const verify = await new Deno.Command("systemd-analyze", {
    args: ["verify", path],
    stdout: "piped",
    stderr: "piped",
  })
    .output();
  return [verify.code, new TextDecoder().decode(verify.stdout) + new TextDecoder().decode(verify.stderr)];
}

/**
 * A plist as plistutil reads it back, in XML. XML to XML only copies the file, so it goes
 * through the binary format, which parses it; plistutil 2.2 reports a failure on stderr, exit code 0.
 */
async function readPlist(path: string): Promise<string> {
  const binary = await new Deno.Command("plistutil", {
    args: ["-i", path, "-o", "-", "-f", "bin"],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const said = new TextDecoder().decode(binary.stderr);
  assert(
    binary.success && said === "" && binary.stdout.length > 0,
    `plistutil could not read ${path}: ${said}`,
  );
  const child = new Deno.Command("plistutil", {
    args: ["-i", "-", "-o", "-", "-f", "xml"],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(binary.stdout);
  await writer.close();
  const out = await child.output();
  assert(out.success, new TextDecoder().decode(out.stderr));
  return new TextDecoder().decode(out.stdout);
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
    const text = await readPlist(plist);
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

Deno.test("install writes a unit for every daemon `toros serve --list` names, each enabled by default; systemd-analyze verify is silent on each", async () => {
  const dir = await Deno.makeTempDir({ prefix: "toros-install-" });
  try {
    const bin = await standIn(dir);
    const daemons = await listedDaemons(bin);
    assert(daemons.includes("preprocessor") && daemons.includes("telescope"), daemons.join(","));
    const stage = `${dir}/root`;
    const result = await sh([INSTALL, "--destdir", stage, "--bin", bin, "--os", "linux"]);
    assertEquals(result.code, 0, result.stderr);
    assertEquals(stagedUnits(stage), daemons.map(unitOf).sort());
    assertEquals(enabledUnits(stage), daemons.map(unitOf).sort(), "no --services: every daemon enabled");
    for (const name of daemons) {
      const unitPath = `${stage}/etc/systemd/system/${unitOf(name)}.service`;
      assertEquals(mode(unitPath), "644");
      const unit = await Deno.readTextFile(unitPath);
      for (
        const line of [
          `ExecStart=/usr/local/bin/toros serve ${name} --config /etc/toros/toros.conf.yaml`,
          "User=toros",
          "Group=toros",
          "Environment=XDG_STATE_HOME=/var/lib/toros",
          "Restart=on-failure",
          "KillSignal=SIGTERM",
          "TimeoutStopSec=15",
          "NoNewPrivileges=yes",
          "ProtectSystem=strict",
          "ReadWritePaths=/var/lib/toros /var/log/toros -/data/toros",
          "WantedBy=multi-user.target",
          `Alias=${name}d.service`,
        ]
      ) assertStringIncludes(unit, `\n${line}\n`, `${name}.service`);
      assertMatch(unit, new RegExp(`\nDescription=TOROS ${name} \\(.+\\)\n`));
      assertEquals(
        await verifyUnit(dir, stage, unitOf(name)),
        [0, ""],
        `systemd-analyze verify ${name}.service`,
      );
      assertStringIncludes(result.stdout, `  ${name}: enabled in ${await Deno.realPath(stage)}`);
      assertStringIncludes(result.stdout, `systemctl start ${unitOf(name)}`);
    }
    assert(daemons.includes("worker"), "the reduction worker is a daemon");
    assertStringIncludes(
      await Deno.readTextFile(`${stage}/etc/systemd/system/toros-worker.service`),
      "`systemctl start toros-worker`",
    );
    assertEquals(
      await Deno.readLink(`${stage}/etc/systemd/system/preprocessord.service`),
      "/etc/systemd/system/preprocessor.service",
      "preprocessord.service stays the preprocessor's alias",
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a daemon the binary adds (scheduler, dome, one the installer has never heard of) gets its unit with no change to the installer", async () => {
  const dir = await Deno.makeTempDir({ prefix: "toros-install-" });
  try {
    const daemons = ["preprocessor", "telescope", "scheduler", "dome", "weather"];
    const bin = await standInListing(dir, daemons);
    const stage = `${dir}/root`;
    const result = await sh([
      INSTALL,
      "--destdir",
      stage,
      "--bin",
      bin,
      "--os",
      "linux",
      "--services",
      "dome",
    ]);
    assertEquals(result.code, 0, result.stderr);
    assertEquals(stagedUnits(stage), [...daemons].sort());
    assertEquals(enabledUnits(stage), ["dome"]);
    const weather = await Deno.readTextFile(`${stage}/etc/systemd/system/weather.service`);
    assertStringIncludes(weather, "\nDescription=TOROS weather daemon\n");
    assertStringIncludes(
      weather,
      "\nExecStart=/usr/local/bin/toros serve weather --config /etc/toros/toros.conf.yaml\n",
    );
    for (const name of daemons) {
      assertEquals(await verifyUnit(dir, stage, name), [0, ""], `systemd-analyze verify ${name}.service`);
    }
    const darwin = await sh([INSTALL, "--destdir", `${dir}/mac`, "--bin", bin, "--os", "darwin"]);
    assertEquals(darwin.code, 0, darwin.stderr);
    for (const name of daemons) {
      assertStringIncludes(
        await readPlist(`${dir}/mac/Library/LaunchDaemons/org.toros.${name}.plist`),
        `<string>org.toros.${name}</string>`,
      );
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the telescope's unit may write under its Data Root, also outside Data: Roots (with a warning), and reach INDI over TCP", async () => {
  const dir = await Deno.makeTempDir({ prefix: "toros-install-" });
  try {
    const bin = await standIn(dir);
    const stage = `${dir}/root`;
    const config = `${stage}/etc/toros/toros.conf.yaml`;
    await Deno.mkdir(`${stage}/etc/toros`, { recursive: true });
    await Deno.writeTextFile(
      config,
      "Data: {Roots: [/srv/nights, /mnt/ccd]}\nTelescope: {Data Root: /srv/nights/ctmo, INDI Server: 'indi.obs:7624'}\n",
    );
    const inside = await sh([INSTALL, "--destdir", stage, "--bin", bin, "--os", "linux"]);
    assertEquals(inside.code, 0, inside.stderr);
    assert(!inside.stderr.includes("warning"), inside.stderr);
    const units = `${stage}/etc/systemd/system`;
    for (const name of ["preprocessor", "telescope"]) {
      assertStringIncludes(
        await Deno.readTextFile(`${units}/${name}.service`),
        "\nReadWritePaths=/var/lib/toros /var/log/toros -/srv/nights -/mnt/ccd\n",
        "a Data Root inside the roots is already writable",
      );
    }
    await Deno.writeTextFile(config, "Data: {Roots: [/srv/nights]}\nTelescope: {Data Root: /mnt/frames}\n");
    const outside = await sh([INSTALL, "--destdir", stage, "--bin", bin, "--os", "linux"]);
    assertEquals(outside.code, 0, outside.stderr);
    assertStringIncludes(
      outside.stderr,
      "warning: Telescope: Data Root /mnt/frames is not inside Data: Roots",
    );
    const telescope = await Deno.readTextFile(`${units}/telescope.service`);
    assertStringIncludes(
      telescope,
      "\nReadWritePaths=/var/lib/toros /var/log/toros -/srv/nights -/mnt/frames\n",
    );
    assertStringIncludes(
      await Deno.readTextFile(`${units}/preprocessor.service`),
      "\nReadWritePaths=/var/lib/toros /var/log/toros -/srv/nights\n",
      "only the telescope writes its Data Root",
    );
    // INDI is a TCP server, possibly on another host: nothing in the unit may cut the telescope off from it.
    assertStringIncludes(telescope, "\nAfter=network-online.target\n");
    assertStringIncludes(telescope, "\nWants=network-online.target\n");
    for (
      const directive of ["PrivateNetwork=", "IPAddressDeny=", "IPAddressAllow=", "RestrictAddressFamilies="]
    ) {
      assert(!new RegExp(`^${directive}`, "m").test(telescope), `telescope.service has ${directive}`);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("--services telescope enables only the telescope: dry run says so, staging links only it, a later choice moves the links, uninstall removes them all", async () => {
  const dir = await Deno.makeTempDir({ prefix: "toros-install-" });
  try {
    const bin = await standIn(dir);
    const stage = `${dir}/root`;
    const dry = await sh([
      INSTALL,
      "--destdir",
      stage,
      "--bin",
      bin,
      "--os",
      "linux",
      "--services",
      "telescope",
      "--dry-run",
    ]);
    assertEquals(dry.code, 0, dry.stderr);
    assertStringIncludes(dry.stdout, `would run: systemctl --root=${stage} enable telescope.service\n`);
    assert(!/enable preprocessor/.test(dry.stdout), dry.stdout);
    assertStringIncludes(dry.stdout, "would write " + `${stage}/etc/systemd/system/preprocessor.service`);
    assertStringIncludes(
      dry.stdout,
      "  preprocessor: would not be enabled on this host; to run it here: systemctl enable --now preprocessor\n",
    );
    assertEquals(await Deno.stat(stage).catch(() => null), null, "dry run created nothing");

    const install = await sh([
      INSTALL,
      "--destdir",
      stage,
      "--bin",
      bin,
      "--os",
      "linux",
      "--services",
      "telescope",
    ]);
    assertEquals(install.code, 0, install.stderr);
    assertEquals(stagedUnits(stage), (await listedDaemons(bin)).map(unitOf).sort(), "every unit written");
    assertEquals(enabledUnits(stage), ["telescope"]);
    assertEquals(
      await Deno.readLink(`${stage}/etc/systemd/system/telescoped.service`),
      "/etc/systemd/system/telescope.service",
    );
    assertEquals(
      await Deno.lstat(`${stage}/etc/systemd/system/preprocessord.service`).catch(() => null),
      null,
    );
    assertStringIncludes(
      install.stdout,
      "  preprocessor: not enabled on this host; to run it here: systemctl enable --now preprocessor\n",
    );
    assertStringIncludes(install.stdout, "systemctl start telescope\n");

    const again = await sh([
      INSTALL,
      "--destdir",
      stage,
      "--bin",
      bin,
      "--os",
      "linux",
      "--services",
      "telescope",
    ]);
    assertEquals(again.code, 0, again.stderr);
    assert(!again.stdout.includes("systemctl --root"), `nothing left to enable or disable:\n${again.stdout}`);
    assertStringIncludes(again.stdout, "telescope.service (unchanged)");

    const moved = await sh([
      INSTALL,
      "--destdir",
      stage,
      "--bin",
      bin,
      "--os",
      "linux",
      "--services=preprocessor",
    ]);
    assertEquals(moved.code, 0, moved.stderr);
    assertEquals(enabledUnits(stage), ["preprocessor"]);
    assertStringIncludes(moved.stdout, "disable telescope.service");

    const uninstall = await sh([UNINSTALL, "--destdir", stage, "--os", "linux"]);
    assertEquals(uninstall.code, 0, uninstall.stderr);
    assertEquals(stagedUnits(stage), []);
    assertEquals(enabledUnits(stage), []);
    assertEquals(
      await Deno.lstat(`${stage}/etc/systemd/system/preprocessord.service`).catch(() => null),
      null,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("macOS: a plist per daemon that plistutil reads; the ones --services leaves out are Disabled; uninstall removes them all", async () => {
  const dir = await Deno.makeTempDir({ prefix: "toros-install-" });
  try {
    const bin = await standIn(dir);
    const stage = `${dir}/root`;
    const result = await sh([
      INSTALL,
      "--destdir",
      stage,
      "--bin",
      bin,
      "--os",
      "darwin",
      "--services",
      "telescope",
    ]);
    assertEquals(result.code, 0, result.stderr);
    for (const name of await listedDaemons(bin)) {
      const path = `${stage}/Library/LaunchDaemons/org.toros.${name}.plist`;
      assertEquals(mode(path), "644");
      const plist = await readPlist(path);
      assertStringIncludes(plist, `<string>org.toros.${name}</string>`);
      assertStringIncludes(plist, `<string>serve</string>\n\t\t<string>${name}</string>`);
      assertStringIncludes(plist, `<string>/var/log/toros/${name}.err.log</string>`);
      assertStringIncludes(plist, `<key>Disabled</key>\n\t<${name === "telescope" ? "false" : "true"}/>`);
    }
    assertStringIncludes(
      result.stdout,
      "launchctl bootstrap system /Library/LaunchDaemons/org.toros.telescope.plist\n",
    );
    assertStringIncludes(
      result.stdout,
      "launchctl enable system/org.toros.preprocessor && launchctl bootstrap",
    );
    const uninstall = await sh([UNINSTALL, "--destdir", stage, "--os", "darwin"]);
    assertEquals(uninstall.code, 0, uninstall.stderr);
    assertEquals([...Deno.readDirSync(`${stage}/Library/LaunchDaemons`)], []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("an unknown name in --services is refused before anything changes, naming it and the known daemons", async () => {
  const dir = await Deno.makeTempDir({ prefix: "toros-install-" });
  try {
    const bin = await standIn(dir);
    const stage = `${dir}/root`;
    const known = (await listedDaemons(bin)).join(" ");
    const unknown = await sh([
      INSTALL,
      "--destdir",
      stage,
      "--bin",
      bin,
      "--os",
      "linux",
      "--services",
      "telescope domes",
    ]);
    assertEquals(unknown.code, 1);
    assertEquals(unknown.stderr, `install.sh: unknown service 'domes' in --services (known: ${known})\n`);
    assertEquals(unknown.stdout, "");
    assertEquals(await Deno.stat(stage).catch(() => null), null, "nothing staged");
    const empty = await sh([INSTALL, "--destdir", stage, "--bin", bin, "--os", "linux", "--services", ""]);
    assertEquals(empty.code, 1);
    assertStringIncludes(empty.stderr, `--services needs daemon names (known: ${known})`);
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
