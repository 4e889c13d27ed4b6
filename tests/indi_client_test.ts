/**
 * The INDI client against a scripted server: the test writes every byte the
 * "server" sends, to walk the client through the protocol's corners —
 * redefinitions, Idle rejections, Alerts, partial switch updates, BLOBs cut
 * into many reads, delProperty, a dropped connection, timeouts.
 */
import {
  assert,
  assertEquals,
  assertMatch,
  assertRejects,
  assertStringIncludes,
  assertThrows,
} from "./_assert.ts";
import { ScriptedConnection, ScriptedIndiServer } from "./_indi.ts";
import {
  IndiAlertError,
  IndiClient,
  type IndiClientOptions,
  IndiConnectionError,
  IndiError,
  type IndiMessage,
  IndiRejectedError,
  IndiTimeoutError,
  type NumberVector,
  type SwitchVector,
} from "../lib/indi/mod.ts";

// ------------------------------------------------------------------ XML the "server" sends

type Members = Record<string, string | number>;

function attrs(a: Record<string, string | number | undefined>): string {
  return Object.entries(a).filter(([, v]) => v !== undefined).map(([k, v]) => ` ${k}="${v}"`).join("");
}

function defNumber(
  device: string,
  name: string,
  members: Members,
  extra: Record<string, string> = {},
  limits = { min: -1000, max: 1000 },
): string {
  const body = Object.entries(members).map(([m, v]) =>
    `  <defNumber name="${m}" label="${m} label" format="%g" min="${limits.min}" max="${limits.max}" step="1">\n${v}\n  </defNumber>\n`
  ).join("");
  return `<defNumberVector${
    attrs({ device, name, label: name, group: "Main", state: "Idle", perm: "rw", timeout: 60, ...extra })
  }>\n${body}</defNumberVector>\n`;
}

function defSwitch(
  device: string,
  name: string,
  members: Record<string, "On" | "Off">,
  rule = "OneOfMany",
  extra: Record<string, string> = {},
): string {
  const body = Object.entries(members).map(([m, v]) =>
    `  <defSwitch name="${m}" label="${m}">\n${v}\n  </defSwitch>\n`
  )
    .join("");
  return `<defSwitchVector${
    attrs({
      device,
      name,
      label: name,
      group: "Main",
      state: "Idle",
      perm: "rw",
      rule,
      timeout: 60,
      ...extra,
    })
  }>\n${body}</defSwitchVector>\n`;
}

function defText(device: string, name: string, members: Record<string, string>): string {
  const body = Object.entries(members).map(([m, v]) => `  <defText name="${m}" label="${m}">${v}</defText>\n`)
    .join("");
  return `<defTextVector${attrs({ device, name, state: "Idle", perm: "rw" })}>\n${body}</defTextVector>\n`;
}

function defBlob(device: string, name: string, member: string): string {
  return `<defBLOBVector${attrs({ device, name, state: "Idle", perm: "ro" })}>\n` +
    `  <defBLOB name="${member}" label="Image"/>\n</defBLOBVector>\n`;
}

function set(
  type: "Number" | "Switch" | "Text" | "Light",
  device: string,
  name: string,
  state: string,
  members: Members = {},
  message?: string,
): string {
  const body = Object.entries(members).map(([m, v]) => `  <one${type} name="${m}">\n${v}\n  </one${type}>\n`)
    .join("");
  return `<set${type}Vector${
    attrs({ device, name, state, timeout: 60, message })
  }>\n${body}</set${type}Vector>\n`;
}

function message(device: string, text: string): string {
  return `<message${attrs({ device, timestamp: "2026-11-30T14:00:00", message: text })}/>\n`;
}

function blobXml(device: string, name: string, member: string, payload: Uint8Array, lineWidth = 0): string {
  let text = payload.toBase64();
  if (lineWidth > 0) text = text.replace(new RegExp(`(.{${lineWidth}})`, "g"), "$1\n");
  return `<setBLOBVector${attrs({ device, name, state: "Ok", timeout: 60 })}>\n` +
    `  <oneBLOB${attrs({ name: member, size: payload.length, format: ".fits", len: payload.length })}>\n` +
    `${text}\n  </oneBLOB>\n</setBLOBVector>\n`;
}

// ------------------------------------------------------------------ harness

const MOUNT = "Mount";
const CCD = "Camera";

/** A scripted server, a client connected to it, and the server's side of the connection. */
async function harness(
  options: IndiClientOptions = {},
): Promise<
  { server: ScriptedIndiServer; client: IndiClient; conn: ScriptedConnection; close(): Promise<void> }
> {
  const server = ScriptedIndiServer.start();
  const client = new IndiClient({
    port: server.port,
    timeoutMs: 3000,
    reconnect: { initialDelayMs: 20, maxDelayMs: 100 },
    ...options,
  });
  const connecting = client.connect();
  const conn = await server.accept();
  await connecting;
  await conn.next(`<getProperties version="1.7"`);
  return {
    server,
    client,
    conn,
    async close() {
      await client.close();
      await server.close();
    },
  };
}

function randomBytes(length: number): Uint8Array {
  const bytes = new Uint8Array(length);
  for (let offset = 0; offset < length; offset += 65536) {
    crypto.getRandomValues(bytes.subarray(offset, Math.min(length, offset + 65536)));
  }
  return bytes;
}

async function tempDir(): Promise<string> {
  return await Deno.makeTempDir({ prefix: "toros_indi_client_" });
}

// ------------------------------------------------------------------ tests

Deno.test("a property defined twice is one object, and a redefinition replaces its members", async () => {
  const h = await harness();
  try {
    await h.conn.send(defNumber(MOUNT, "COORD", { RA: 1, DEC: 2 }));
    const first = await h.client.waitForProperty(MOUNT, "COORD") as NumberVector;
    assertEquals([...first.members.keys()], ["RA", "DEC"]);
    const ra = first.members.get("RA");
    // A waiter started before the redefinitions must survive them.
    const reaches50 = h.client.waitUntil(
      MOUNT,
      "COORD",
      (v) => (v as NumberVector).members.get("DEC")?.value === 50,
    );

    await h.conn.send(defNumber(MOUNT, "COORD", { RA: 3, DEC: 4 }));
    await h.conn.send(defNumber(MOUNT, "COORD", { DEC: 5, ALT: 6 }, { label: "Coordinates", state: "Ok" }));
    await h.client.waitUntil(MOUNT, "COORD", (v) => v.label === "Coordinates");

    const again = h.client.getVector(MOUNT, "COORD", "number")!;
    assert(again === first, "the client hands out the same object after a redefinition");
    assertEquals(first.definitions, 3);
    assertEquals([...first.members.keys()], ["DEC", "ALT"]);
    assertEquals(first.members.get("DEC")?.value, 5);
    assertEquals(first.state, "Ok");
    assertEquals(ra?.value, 3, "a member dropped by the redefinition keeps its last value");
    assertEquals(h.client.getNumber(MOUNT, "COORD", "ALT"), 6);
    assertThrows(
      () => h.client.getNumber(MOUNT, "COORD", "RA"),
      IndiError,
      `"Mount.COORD" has no member "RA" (members: DEC, ALT)`,
    );

    await h.conn.send(set("Number", MOUNT, "COORD", "Ok", { DEC: 50 }));
    assert((await reaches50) === first);
  } finally {
    await h.close();
  }
});

Deno.test("a command answered Idle is rejected, naming device, property and the driver's message", async () => {
  const h = await harness();
  try {
    await h.conn.send(defNumber(MOUNT, "EQUATORIAL_EOD_COORD", { RA: 0, DEC: 90 }));
    await h.client.waitForProperty(MOUNT, "EQUATORIAL_EOD_COORD");
    const slew = h.client.setNumber(MOUNT, "EQUATORIAL_EOD_COORD", { RA: 5.5, DEC: -5 });
    const command = await h.conn.next(/<newNumberVector[^>]*>[\s\S]*?<\/newNumberVector>/);
    assertStringIncludes(command[0], `device="Mount" name="EQUATORIAL_EOD_COORD"`);
    assertMatch(command[0], /<oneNumber name="RA">5.5<\/oneNumber>/);
    assertMatch(command[0], /<oneNumber name="DEC">-5<\/oneNumber>/);
    // What the simulator does right after parking: the park's last words arrive after the
    // command was sent, then a periodic update the driver sent before reading the command,
    // then the warning and the vector back to Idle: the rejection.
    await h.conn.send(message(MOUNT, "[INFO] Telescope slew is complete. Parked"));
    await h.conn.send(set("Number", MOUNT, "EQUATORIAL_EOD_COORD", "Idle", { RA: 0.01, DEC: 90 }));
    await h.conn.send(
      message(MOUNT, "[WARNING] Please unpark the mount before issuing any motion/sync commands."),
    );
    await h.conn.send(set("Number", MOUNT, "EQUATORIAL_EOD_COORD", "Idle", { RA: 0.02, DEC: 90 }));
    const error = await assertRejects(() => slew, IndiRejectedError, `"Mount.EQUATORIAL_EOD_COORD" rejected`);
    assertStringIncludes(error.message, "Please unpark the mount before issuing any motion/sync commands.");
    assertEquals(
      (error as IndiRejectedError).deviceMessage,
      "Please unpark the mount before issuing any motion/sync commands.",
    );
    assertEquals(error instanceof IndiRejectedError && error.device, MOUNT);
  } finally {
    await h.close();
  }
});

Deno.test("an Idle answer without a message is a rejection too, once the stale-update window has passed", async () => {
  const h = await harness({ staleUpdateWindowMs: 150 });
  try {
    await h.conn.send(defNumber(MOUNT, "FOCUS", { POS: 10 }));
    await h.client.waitForProperty(MOUNT, "FOCUS");
    const started = performance.now();
    const move = h.client.setNumber(MOUNT, "FOCUS", { POS: 20 });
    await h.conn.next("<newNumberVector");
    await h.conn.send(set("Number", MOUNT, "FOCUS", "Idle", { POS: 10 }));
    const error = await assertRejects(
      () => move,
      IndiRejectedError,
      `"Mount.FOCUS" rejected the command (state Idle), no message`,
    );
    assert(performance.now() - started >= 140, "judged when the window closed");
    assert(error instanceof IndiRejectedError);
  } finally {
    await h.close();
  }
});

Deno.test("an update sent before the driver read the command does not decide it", async () => {
  const h = await harness({ staleUpdateWindowMs: 500 });
  try {
    await h.conn.send(defNumber(MOUNT, "EQUATORIAL_EOD_COORD", { RA: 1, DEC: 2 }, { state: "Ok" }));
    await h.client.waitForProperty(MOUNT, "EQUATORIAL_EOD_COORD");
    const slew = h.client.setNumber(MOUNT, "EQUATORIAL_EOD_COORD", { RA: 10, DEC: 20 });
    await h.conn.next("<newNumberVector");
    // A periodic Ok update (the mount tracking at the old place), then the real answer.
    await h.conn.send(set("Number", MOUNT, "EQUATORIAL_EOD_COORD", "Ok", { RA: 1.001, DEC: 2 }));
    await new Promise((resolve) => setTimeout(resolve, 50));
    await h.conn.send(set("Number", MOUNT, "EQUATORIAL_EOD_COORD", "Busy", { RA: 4, DEC: 8 }));
    await h.conn.send(set("Number", MOUNT, "EQUATORIAL_EOD_COORD", "Ok", { RA: 10, DEC: 20 }));
    const done = await slew;
    assertEquals(done.members.get("RA")?.value, 10);
  } finally {
    await h.close();
  }
});

Deno.test("an immediate Ok answer showing the values asked for decides the command at once", async () => {
  const h = await harness({ staleUpdateWindowMs: 2000 });
  try {
    await h.conn.send(
      defSwitch(MOUNT, "TELESCOPE_PARK", { PARK: "On", UNPARK: "Off" }, "OneOfMany", { state: "Ok" }),
    );
    await h.client.waitForProperty(MOUNT, "TELESCOPE_PARK");
    const started = performance.now();
    const unpark = h.client.setSwitch(MOUNT, "TELESCOPE_PARK", { UNPARK: true });
    const sent = await h.conn.next(/<newSwitchVector[\s\S]*?<\/newSwitchVector>/);
    assertEquals((sent[0].match(/<oneSwitch/g) ?? []).length, 1, "only the switch asked for is sent");
    assertMatch(sent[0], /<oneSwitch name="UNPARK">On<\/oneSwitch>/);
    await h.conn.send(set("Switch", MOUNT, "TELESCOPE_PARK", "Ok", { UNPARK: "On" }));
    const vector = await unpark;
    assert(performance.now() - started < 1000);
    assertEquals(vector.members.get("PARK")?.value, false);
    assertEquals(vector.members.get("UNPARK")?.value, true);
  } finally {
    await h.close();
  }
});

Deno.test("Alert's message becomes the error text", async () => {
  const h = await harness();
  try {
    await h.conn.send(defNumber("Wheel", "FILTER_SLOT", { FILTER_SLOT_VALUE: 1 }));
    await h.client.waitForProperty("Wheel", "FILTER_SLOT");
    const turn = h.client.setNumber("Wheel", "FILTER_SLOT", { FILTER_SLOT_VALUE: 3 });
    await h.conn.next("<newNumberVector");
    await h.conn.send(set("Number", "Wheel", "FILTER_SLOT", "Busy", { FILTER_SLOT_VALUE: 2 }));
    await h.conn.send(
      set(
        "Number",
        "Wheel",
        "FILTER_SLOT",
        "Alert",
        { FILTER_SLOT_VALUE: 2 },
        "[ERROR] Wheel jammed at slot 2",
      ),
    );
    const error = await assertRejects(
      () => turn,
      IndiAlertError,
      `"Wheel.FILTER_SLOT" is Alert: [ERROR] Wheel jammed at slot 2`,
    );
    assertEquals((error as IndiAlertError).deviceMessage, "[ERROR] Wheel jammed at slot 2");

    // An Alert whose message came as a <message> element just before.
    const again = h.client.setNumber("Wheel", "FILTER_SLOT", { FILTER_SLOT_VALUE: 4 });
    await h.conn.next("<newNumberVector");
    await h.conn.send(message("Wheel", "[ERROR] Motor stalled"));
    await h.conn.send(set("Number", "Wheel", "FILTER_SLOT", "Alert"));
    await assertRejects(() => again, IndiAlertError, `"Wheel.FILTER_SLOT" is Alert: Motor stalled`);
  } finally {
    await h.close();
  }
});

Deno.test("a switch update carrying only the changed member is merged by the vector's rule", async () => {
  const h = await harness();
  try {
    await h.conn.send(defSwitch(MOUNT, "SLEW_RATE", { GUIDE: "On", CENTER: "Off", MAX: "Off" }, "OneOfMany"));
    await h.conn.send(defSwitch(MOUNT, "OPTIONS", { A: "On", B: "Off", C: "On" }, "AnyOfMany"));
    await h.client.waitForProperty(MOUNT, "OPTIONS");
    const rate = h.client.getVector(MOUNT, "SLEW_RATE", "switch")!;

    await h.conn.send(set("Switch", MOUNT, "SLEW_RATE", "Ok", { MAX: "On" }));
    await h.conn.send(set("Switch", MOUNT, "OPTIONS", "Ok", { B: "On" }));
    await h.client.waitUntil(MOUNT, "OPTIONS", (v) => v.state === "Ok");
    assertEquals(switches(rate), { GUIDE: false, CENTER: false, MAX: true });
    assertEquals(switches(h.client.getVector(MOUNT, "OPTIONS", "switch")!), { A: true, B: true, C: true });

    await h.conn.send(set("Switch", MOUNT, "OPTIONS", "Ok", { C: "Off" }));
    await h.client.waitUntil(MOUNT, "OPTIONS", (v) => !(v as SwitchVector).members.get("C")?.value);
    assertEquals(h.client.getSwitch(MOUNT, "OPTIONS", "A"), true);
    assertEquals(h.client.getSwitch(MOUNT, "OPTIONS", "C"), false);

    await assertRejects(
      () => h.client.setSwitch(MOUNT, "SLEW_RATE", { GUIDE: true, MAX: true }),
      IndiError,
      `"Mount.SLEW_RATE" is OneOfMany: 2 switches asked On (expected at most one)`,
    );
  } finally {
    await h.close();
  }
});

function switches(vector: SwitchVector): Record<string, boolean> {
  return Object.fromEntries([...vector.members.values()].map((m) => [m.name, m.value]));
}

Deno.test("a BLOB split across many reads is written to its file byte-identical", async () => {
  const h = await harness();
  const dir = await tempDir();
  try {
    await h.conn.send(defBlob(CCD, "CCD1", "CCD1"));
    await h.client.waitForProperty(CCD, "CCD1");
    await assertRejects(
      () => h.client.expectBlob(CCD, { path: `${dir}/never.fits` }),
      IndiError,
      `BLOBs of "Camera" are not enabled`,
    );
    await h.client.enableBlob(CCD, "Also");
    await h.conn.next(`<enableBLOB device="Camera">Also</enableBLOB>`);

    const image = randomBytes(20_000);
    const seen: string[] = [];
    h.client.on("blob", (blob) => seen.push(blob.path ?? "dropped"));
    const landed = h.client.expectBlob(CCD, { path: `${dir}/light.fits` });
    // 7-byte writes with pauses: `<oneBLOB`, the payload and `</oneBLOB>` all arrive in pieces.
    await h.conn.send(blobXml(CCD, "CCD1", "CCD1", image, 76), { chunkBytes: 7, pauseEvery: 25 });
    const file = await landed;
    assertEquals(file, {
      device: CCD,
      property: "CCD1",
      member: "CCD1",
      format: ".fits",
      size: image.length,
      bytes: image.length,
      path: `${dir}/light.fits`,
    });
    assertEquals(await Deno.readFile(`${dir}/light.fits`), image);
    assertEquals(await listDir(dir), ["light.fits"], "no temporary file is left");
    assertEquals(seen, [`${dir}/light.fits`]);
    await h.client.waitUntil(CCD, "CCD1", (v) => v.state === "Ok");
    const member = h.client.getVector(CCD, "CCD1", "blob")!.members.get("CCD1")!;
    assertEquals([member.format, member.size, member.path], [".fits", image.length, `${dir}/light.fits`]);
  } finally {
    await h.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a BLOB of several MB streams to its file, and one nobody expects is only counted", async () => {
  const h = await harness();
  const dir = await tempDir();
  try {
    await h.conn.send(defBlob(CCD, "CCD1", "CCD1"));
    await h.client.waitForProperty(CCD, "CCD1");
    await h.client.enableBlob(CCD, "Also", { property: "CCD1" });
    await h.conn.next(`<enableBLOB device="Camera" name="CCD1">Also</enableBLOB>`);

    const image = randomBytes(6 * 1024 * 1024 + 5);
    const landed = h.client.expectBlob(CCD, { property: "CCD1", path: (blob) => `${dir}/big${blob.format}` });
    await h.conn.send(blobXml(CCD, "CCD1", "CCD1", image), { chunkBytes: 64 * 1024 + 3 });
    const file = await landed;
    assertEquals(file.path, `${dir}/big.fits`);
    assertEquals(file.bytes, image.length);
    assertEquals(await Deno.readFile(`${dir}/big.fits`), image);

    const dropped = new Promise<number>((resolve) => h.client.on("blob", (blob) => resolve(blob.bytes)));
    await h.conn.send(blobXml(CCD, "CCD1", "CCD1", randomBytes(1000)));
    assertEquals(await dropped, 1000);
    assertEquals(await listDir(dir), ["big.fits"]);
  } finally {
    await h.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a 48 MB BLOB never sits whole in memory, as bytes or as base64", async () => {
  const h = await harness();
  const dir = await tempDir();
  try {
    await h.conn.send(defBlob(CCD, "CCD1", "CCD1"));
    await h.client.waitForProperty(CCD, "CCD1");
    await h.client.enableBlob(CCD, "Also");
    const size = 48 * 1024 * 1024;
    const landed = h.client.expectBlob(CCD, { path: `${dir}/big.bin`, timeoutMs: 60_000 });
    // The payload is made piece by piece from a generator, so the test holds no copy either.
    const pieces = function* (): Generator<Uint8Array> {
      const piece = new Uint8Array(48 * 1024);
      let state = 1;
      for (let made = 0; made < size; made += piece.length) {
        for (let i = 0; i < piece.length; i++) {
          state = (Math.imul(state, 1103515245) + 12345) >>> 0;
          piece[i] = state >>> 24;
        }
        yield piece;
      }
    };
    const before = Deno.memoryUsage();
    let peak = 0;
    const sampler = setInterval(() => {
      const now = Deno.memoryUsage();
      peak = Math.max(peak, now.heapUsed + now.external - before.heapUsed - before.external);
    }, 2);
    try {
      await h.conn.send(
        `<setBLOBVector device="Camera" name="CCD1" state="Ok">\n<oneBLOB name="CCD1" size="${size}" format=".bin">\n`,
      );
      for (const piece of pieces()) await h.conn.send(`${piece.toBase64()}\n`);
      await h.conn.send(`</oneBLOB>\n</setBLOBVector>\n`);
      assertEquals((await landed).bytes, size);
    } finally {
      clearInterval(sampler);
    }
    assert(peak < size / 4, `memory grew by ${(peak / 1048576).toFixed(1)} MB while a 48 MB BLOB streamed`);
    const file = await Deno.open(`${dir}/big.bin`);
    try {
      const read = new Uint8Array(48 * 1024);
      for (const piece of pieces()) {
        let filled = 0;
        while (filled < read.length) filled += (await file.read(read.subarray(filled)))!;
        assertEquals(read, piece);
      }
      assertEquals(await file.read(read), null);
    } finally {
      file.close();
    }
  } finally {
    await h.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a BLOB whose payload is shorter than declared fails and leaves no file", async () => {
  const h = await harness();
  const dir = await tempDir();
  try {
    await h.conn.send(defBlob(CCD, "CCD1", "CCD1"));
    await h.client.enableBlob(CCD, "Also");
    await h.client.waitForProperty(CCD, "CCD1");
    const landed = h.client.expectBlob(CCD, { path: `${dir}/short.fits` });
    const payload = randomBytes(300);
    await h.conn.send(blobXml(CCD, "CCD1", "CCD1", payload).replace(`size="300"`, `size="301"`));
    await assertRejects(
      () => landed,
      IndiError,
      `BLOB "Camera.CCD1.CCD1" decoded to 300 bytes but the driver declared 301`,
    );
    assertEquals(await listDir(dir), []);
  } finally {
    await h.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("delProperty removes one property or all of a device's, failing waits on them", async () => {
  const h = await harness();
  try {
    await h.conn.send(
      defNumber(MOUNT, "A", { X: 1 }) + defNumber(MOUNT, "B", { X: 2 }) + defNumber(CCD, "C", { X: 3 }),
    );
    await h.client.waitForProperty(CCD, "C");
    const a = h.client.getVector(MOUNT, "A")!;
    const waitOnA = h.client.waitForOk(MOUNT, "A");
    const deletions: string[] = [];
    h.client.on("delete", (event) => deletions.push(`${event.device}/${event.property ?? "*"}`));

    await h.conn.send(`<delProperty device="Mount" name="A" timestamp="2026-11-30T14:00:00"/>\n`);
    await assertRejects(() => waitOnA, IndiError, `"Mount.A" was deleted by the driver`);
    assertEquals(a.defined, false);
    assertEquals(h.client.getVector(MOUNT, "A"), undefined);
    assertEquals(h.client.properties(MOUNT).map((v) => v.name), ["B"]);

    await h.conn.send(`<delProperty device="Mount"/>\n`);
    await waitFor(() => deletions.length === 2);
    assertEquals(deletions, ["Mount/A", "Mount/*"]);
    assertEquals(h.client.devices(), [CCD]);
    assertEquals(h.client.properties(MOUNT), []);

    // Defined again: the same object comes back to life.
    await h.conn.send(defNumber(MOUNT, "A", { X: 9 }));
    const back = await h.client.waitForProperty(MOUNT, "A");
    assert(back === a && a.defined);
    assertEquals(h.client.getNumber(MOUNT, "A", "X"), 9);
  } finally {
    await h.close();
  }
});

Deno.test("a dropped connection fails pending waits, reconnects, re-sends getProperties and BLOB modes, and rebuilds the cache", async () => {
  const h = await harness({ watch: [{ device: MOUNT }, { device: CCD }] });
  try {
    const events: string[] = [];
    h.client.on("connected", () => events.push("connected"));
    h.client.on(
      "disconnected",
      (e) => events.push(`disconnected ${e.reconnecting ? "reconnecting" : "final"}`),
    );
    await h.conn.send(defNumber(MOUNT, "COORD", { RA: 1 }) + defBlob(CCD, "CCD1", "CCD1"));
    await h.client.waitForProperty(CCD, "CCD1");
    await h.client.enableBlob(CCD, "Also");
    const coord = h.client.getVector(MOUNT, "COORD")!;
    const waitOk = h.client.waitForOk(MOUNT, "COORD");
    const blob = h.client.expectBlob(CCD, { path: "/nonexistent/never.fits" });
    const later = h.client.waitForProperty(MOUNT, "LATER", { timeoutMs: 5000 });

    await h.conn.close();
    await assertRejects(() => waitOk, IndiConnectionError, `lost while waiting for "Mount.COORD"`);
    await assertRejects(() => blob, IndiConnectionError, `lost while waiting for "Camera"`);
    await waitFor(() => h.client.connection.state !== "connected");
    assertEquals(coord.defined, false, "the cache is emptied while the connection is down");
    assertEquals(h.client.devices(), []);
    await assertRejects(
      () => h.client.setNumber(MOUNT, "COORD", { RA: 2 }),
      IndiConnectionError,
      "Not connected",
    );

    const conn2 = await h.server.accept();
    await conn2.next(`<getProperties version="1.7" device="Mount"/>`);
    await conn2.next(`<getProperties version="1.7" device="Camera"/>`);
    await conn2.next(`<enableBLOB device="Camera">Also</enableBLOB>`);
    await conn2.send(defNumber(MOUNT, "COORD", { RA: 7 }) + defNumber(MOUNT, "LATER", { X: 1 }));
    await later;
    assert(h.client.getVector(MOUNT, "COORD") === coord, "the same object, defined again");
    assertEquals(coord.defined, true);
    assertEquals(h.client.getNumber(MOUNT, "COORD", "RA"), 7);
    assertEquals(h.client.connection.state, "connected");
    assertEquals(events, ["disconnected reconnecting", "connected"]);
    assertMatch(h.client.connection.lastError ?? "", /closed the connection/);
  } finally {
    await h.close();
  }
});

Deno.test("timeouts name device, property and seconds", async () => {
  const h = await harness();
  try {
    await h.conn.send(defNumber(MOUNT, "TELESCOPE_PARK", { X: 1 }, { state: "Busy" }));
    await h.client.waitForProperty(MOUNT, "TELESCOPE_PARK");
    await assertRejects(
      () => h.client.waitForOk(MOUNT, "TELESCOPE_PARK", { timeoutMs: 200 }),
      IndiTimeoutError,
      `Timed out after 0.2 s waiting for "Mount.TELESCOPE_PARK" to become Ok (state Busy)`,
    );
    await assertRejects(
      () => h.client.setNumber(MOUNT, "TELESCOPE_PARK", { X: 2 }, { timeoutMs: 500 }),
      IndiTimeoutError,
      `Timed out after 0.5 s waiting for "Mount.TELESCOPE_PARK" to answer the command (state Busy)`,
    );
    await assertRejects(
      () => h.client.waitForProperty("Dome", "DOME_SHUTTER", { timeoutMs: 100 }),
      IndiTimeoutError,
      `Timed out after 0.1 s waiting for "Dome.DOME_SHUTTER" to be defined (not defined)`,
    );
    await h.client.enableBlob(CCD, "Also");
    await assertRejects(
      () => h.client.expectBlob(CCD, { path: "/tmp/x.fits", timeoutMs: 300 }),
      IndiTimeoutError,
      `Timed out after 0.3 s waiting for "Camera" to send a BLOB`,
    );
  } finally {
    await h.close();
  }
});

Deno.test("connectDevice turns CONNECT On and waits for Ok; a refused connection is an error", async () => {
  const h = await harness();
  try {
    await h.conn.send(defSwitch("Dome", "CONNECTION", { CONNECT: "Off", DISCONNECT: "On" }));
    const connecting = h.client.connectDevice("Dome");
    const sent = await h.conn.next(/<newSwitchVector[\s\S]*?<\/newSwitchVector>/);
    assertMatch(
      sent[0],
      /device="Dome" name="CONNECTION">\s*<oneSwitch name="CONNECT">On<\/oneSwitch>\s*<\/newSwitchVector>/,
    );
    await h.conn.send(set("Switch", "Dome", "CONNECTION", "Ok", { CONNECT: "On", DISCONNECT: "Off" }));
    await connecting;
    await h.client.connectDevice("Dome"); // already connected: nothing sent
    assertEquals(h.client.getSwitch("Dome", "CONNECTION", "CONNECT"), true);

    await h.conn.send(defSwitch("Focuser", "CONNECTION", { CONNECT: "Off", DISCONNECT: "On" }));
    const refused = h.client.connectDevice("Focuser");
    await h.conn.next(`device="Focuser" name="CONNECTION"`);
    await h.conn.send(message("Focuser", "[ERROR] Failed to connect to port /dev/ttyUSB0."));
    await h.conn.send(set("Switch", "Focuser", "CONNECTION", "Alert", { CONNECT: "Off", DISCONNECT: "On" }));
    await assertRejects(
      () => refused,
      IndiAlertError,
      `"Focuser.CONNECTION" is Alert: Failed to connect to port /dev/ttyUSB0.`,
    );
    assert(!h.conn.received.slice(h.conn.received.indexOf("Focuser")).includes(`"Dome"`));
  } finally {
    await h.close();
  }
});

Deno.test("messages become events with their level, and bad input is refused before sending", async () => {
  const h = await harness();
  try {
    const messages: IndiMessage[] = [];
    h.client.on("message", (m) => messages.push(m));
    await h.conn.send(message(MOUNT, "[INFO] Mount is unparked."));
    await h.conn.send(`<message message="server says hi"/>\n`);
    await h.conn.send(
      defNumber(MOUNT, "FOCUS", { POS: 10 }, {}, { min: 0, max: 100 }) +
        defText(MOUNT, "INFO", { NAME: "x" }),
    );
    await h.conn.send(set("Number", MOUNT, "FOCUS", "Ok", { POS: 11 }, "[WARNING] Focuser near its limit"));
    await h.client.waitUntil(MOUNT, "FOCUS", (v) => v.state === "Ok");
    assertEquals(
      messages.map((m) => [m.device, m.property, m.level, m.text]),
      [
        [MOUNT, undefined, "info", "Mount is unparked."],
        [undefined, undefined, "info", "server says hi"],
        [MOUNT, "FOCUS", "warning", "Focuser near its limit"],
      ],
    );
    await assertRejects(
      () => h.client.setNumber(MOUNT, "FOCUS", { POS: 101 }),
      IndiError,
      `Value 101 for "Mount.FOCUS.POS" is out of range (expected 0 to 100)`,
    );
    await assertRejects(
      () => h.client.setNumber(MOUNT, "FOCUS", { POSITION: 1 }),
      IndiError,
      `"Mount.FOCUS" has no member "POSITION" (members: POS)`,
    );
    await assertRejects(
      () => h.client.setText(MOUNT, "FOCUS", { POS: "1" }),
      IndiError,
      `"Mount.FOCUS" is a number vector, not a text vector`,
    );
    await assertRejects(
      () => h.client.setNumber("Nowhere", "FOCUS", { POS: 1 }),
      IndiError,
      `"Nowhere.FOCUS" is not defined (no device "Nowhere" is known)`,
    );
    await h.conn.send(`<pingRequest uid="ping-7"/>\n`);
    await h.conn.next(`<pingReply uid="ping-7"/>`);
    const text = h.client.setText(MOUNT, "INFO", { NAME: `<a & "b">` });
    const sent = await h.conn.next(/<newTextVector[\s\S]*?<\/newTextVector>/);
    assertStringIncludes(sent[0], `<oneText name="NAME">&#60;a &#38; &#34;b&#34;&#62;</oneText>`);
    await h.conn.send(set("Text", MOUNT, "INFO", "Ok", { NAME: "&lt;a &amp; &quot;b&quot;&gt;" }));
    assertEquals((await text).members.get("NAME")?.value, `<a & "b">`);
  } finally {
    await h.close();
  }
});

Deno.test("a server that is not there is named in the error; close() fails what is pending", async () => {
  const port = (() => {
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const p = (listener.addr as Deno.NetAddr).port;
    listener.close();
    return p;
  })();
  const lonely = new IndiClient({ port });
  await assertRejects(
    () => lonely.connect(),
    IndiConnectionError,
    `Cannot connect to INDI server 127.0.0.1:${port}`,
  );
  assertEquals(lonely.connection.state, "disconnected");
  await lonely.close();
  assertEquals(lonely.connection.state, "closed");

  const h = await harness();
  const pending = h.client.waitForProperty(MOUNT, "NEVER", { timeoutMs: Infinity });
  const rejected = assertRejects(
    () => pending,
    IndiConnectionError,
    `The INDI client was closed while waiting for "Mount.NEVER"`,
  );
  await h.close();
  await rejected;
  assertEquals(h.client.connection.state, "closed");
});

Deno.test("close() during a retrying first connection ends it with a clear error", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  const client = new IndiClient({ port, reconnect: { initialDelayMs: 50 } });
  const connecting = client.connect({ retry: true, timeoutMs: 10_000 });
  const failed = assertRejects(
    () => connecting,
    IndiConnectionError,
    "The INDI client was closed before it connected",
  );
  await waitFor(() => client.connection.failedAttempts >= 2);
  assertStringIncludes(client.connection.lastError ?? "", `Cannot connect to INDI server 127.0.0.1:${port}`);
  assertEquals(client.connection.state, "connecting");
  await client.close();
  await failed;
});

Deno.test("a client that cannot reconnect gives up after maxAttempts and says so", async () => {
  const h = await harness({ reconnect: { initialDelayMs: 10, maxDelayMs: 20, maxAttempts: 3 } });
  try {
    const final = new Promise<string>((resolve) =>
      h.client.on("disconnected", (e) => {
        if (!e.reconnecting) resolve(e.error?.message ?? "");
      })
    );
    await h.server.close(); // the listener goes too, so every attempt is refused
    assertMatch(await final, /Cannot connect to INDI server 127\.0\.0\.1:\d+/);
    assertEquals(h.client.connection.state, "disconnected");
    assertEquals(h.client.connection.failedAttempts, 3);
  } finally {
    await h.client.close();
  }
});

// ------------------------------------------------------------------ helpers

async function waitFor(condition: () => boolean, timeoutMs = 2000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error("Condition not met in time");
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

async function listDir(dir: string): Promise<string[]> {
  const names: string[] = [];
  for await (const entry of Deno.readDir(dir)) names.push(entry.name);
  return names.sort();
}
