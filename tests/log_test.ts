import { assert, assertEquals, assertMatch } from "./_assert.ts";
import { configureLogging, DailyRotatingFile, formatTime, getLogger, shutdownLogging } from "../lib/log.ts";

Deno.test("records use the original's format [time] [LEVEL] [module]: message", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const file = `${dir}/toros.log`;
    await configureLogging({ file, level: "DEBUG" }, { stderr: false });
    const log = getLogger("preprocessor.ingest");
    log.debug("scanning {night}");
    log.info("found 53 frames");
    log.warning("no darks");
    log.error("frame 7 unreadable");
    await shutdownLogging();
    const lines = (await Deno.readTextFile(file)).trimEnd().split("\n");
    assertEquals(lines.length, 4);
    const pattern =
      /^\[\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2},\d{3}\] \[(DEBUG|INFO|WARNING|ERROR)\] \[preprocessor\.ingest\]: /;
    for (const line of lines) assertMatch(line, pattern);
    assertEquals(lines.map((line) => line.split("] [")[1]), ["DEBUG", "INFO", "WARNING", "ERROR"]);
    assert(lines[0].endsWith("scanning {night}"));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the configured level filters lower records", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const file = `${dir}/toros.log`;
    await configureLogging({ file, level: "WARNING" }, { stderr: false });
    const log = getLogger("x");
    log.debug("d");
    log.info("i");
    log.warning("w");
    log.error("e");
    await shutdownLogging();
    const text = await Deno.readTextFile(file);
    assertEquals(text.trimEnd().split("\n").map((line) => line.slice(line.lastIndexOf(" ") + 1)), ["w", "e"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("time is formatted like Python's asctime in UTC", () => {
  assertEquals(formatTime(Date.UTC(2026, 10, 24, 3, 4, 5, 6)), "2026-11-24 03:04:05,006");
});

Deno.test("the log file rolls at midnight and keeps the newest 30", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/toros.log`;
    let now = new Date(Date.UTC(2026, 0, 1, 12));
    const file = new DailyRotatingFile(path, { now: () => now });
    for (let day = 0; day < 40; day++) {
      now = new Date(Date.UTC(2026, 0, 1 + day, 12));
      file.write(`day ${day}\n`);
      file.write(`day ${day} again\n`);
      await file.flush();
    }
    await file.close();
    const names = [...Deno.readDirSync(dir)].map((entry) => entry.name).sort();
    const rotated = names.filter((name) => name !== "toros.log");
    assertEquals(rotated.length, 30, "30 rotated files kept");
    assertEquals(rotated[0], "toros.log.2026-01-10");
    assertEquals(rotated[29], "toros.log.2026-02-08");
    assertEquals(await Deno.readTextFile(path), "day 39\nday 39 again\n");
    assertEquals(await Deno.readTextFile(`${dir}/toros.log.2026-02-08`), "day 38\nday 38 again\n");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("an existing log file from an earlier day is rotated on first write", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/toros.log`;
    await Deno.writeTextFile(path, "old\n");
    await Deno.utime(path, new Date(Date.UTC(2026, 2, 3, 10)), new Date(Date.UTC(2026, 2, 3, 10)));
    const file = new DailyRotatingFile(path, { now: () => new Date(Date.UTC(2026, 2, 5, 1)) });
    file.write("new\n");
    await file.close();
    assertEquals(await Deno.readTextFile(`${path}.2026-03-03`), "old\n");
    assertEquals(await Deno.readTextFile(path), "new\n");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("logging returns before the write reaches the disk", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/toros.log`;
    const file = new DailyRotatingFile(path);
    for (let i = 0; i < 1000; i++) file.write(`record ${i}\n`);
    // Nothing awaited yet: the records are queued, not written synchronously.
    let sizeBefore = 0;
    try {
      sizeBefore = (await Deno.stat(path)).size;
    } catch { /* not created yet */ }
    await file.close();
    const lines = (await Deno.readTextFile(path)).trimEnd().split("\n");
    assertEquals(lines.length, 1000);
    assertEquals(lines[999], "record 999");
    assert(sizeBefore < (await Deno.stat(path)).size);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
