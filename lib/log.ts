/**
 * Logging for every TOROS daemon, in the original's format
 * `[time] [LEVEL] [module]: message`: stderr always (journald picks it up) and
 * the configured file, rotated at midnight with 30 old files kept (the original's
 * Python `TimedRotatingFileHandler` policy and naming: `toros.log.2026-11-24`).
 *
 * LogTape provides the logger facade and level filtering. Both sinks are ours and
 * buffered: a record is appended to memory and written by an async flush, so a log
 * call never waits for the disk (LogTape's plain file sink fsyncs every record).
 *
 * @module
 */
import {
  configureSync,
  getLogger as getLogTapeLogger,
  type LogRecord,
  resetSync,
  type Sink,
} from "@logtape/logtape";
import type { LoggingConfig, LogLevel } from "./config.ts";

/** A module's logger. Every method returns at once. */
export interface Logger {
  /** Detail for debugging. */
  debug(message: string): void;
  /** Normal operation. */
  info(message: string): void;
  /** Something unexpected that did not stop the work. */
  warning(message: string): void;
  /** Something failed. */
  error(message: string): void;
}

const LEVEL_NAMES: Record<LogRecord["level"], string> = {
  trace: "DEBUG",
  debug: "DEBUG",
  info: "INFO",
  warning: "WARNING",
  error: "ERROR",
  fatal: "CRITICAL",
};

const TO_LOGTAPE: Record<LogLevel, "debug" | "info" | "warning" | "error"> = {
  DEBUG: "debug",
  INFO: "info",
  WARNING: "warning",
  ERROR: "error",
};

function pad(value: number, width = 2): string {
  return String(value).padStart(width, "0");
}

/** Formats a timestamp like Python's `asctime` (`2026-11-24 23:41:09,123`), in UTC. */
export function formatTime(timestamp: number): string {
  const d = new Date(timestamp);
  return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ` +
    `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())},${
      pad(d.getUTCMilliseconds(), 3)
    }`;
}

/** Formats one record as `[time] [LEVEL] [module]: message`. */
export function formatRecord(record: LogRecord): string {
  const module = record.category.slice(1).join(".") || record.category[0] || "toros";
  const message = record.message.map((part) => typeof part === "string" ? part : String(part)).join("");
  return `[${formatTime(record.timestamp)}] [${LEVEL_NAMES[record.level]}] [${module}]: ${message}\n`;
}

const encoder = new TextEncoder();

/** Collects text and writes it in the background, in order; `flush()` waits for it. */
class BufferedWriter {
  #pending: string[] = [];
  #writing: Promise<void> | null = null;
  #write: (text: string) => Promise<void>;

  constructor(write: (text: string) => Promise<void>) {
    this.#write = write;
  }

  push(text: string): void {
    this.#pending.push(text);
    // A write already under way will pick the new text up when it finishes.
    if (!this.#writing) this.#writing = this.#drain();
  }

  async #drain(): Promise<void> {
    try {
      while (this.#pending.length > 0) {
        const text = this.#pending.join("");
        this.#pending = [];
        try {
          await this.#write(text);
        } catch (error) {
          // Logging must never take the daemon down; say so once on stderr.
          console.error(`toros: log write failed: ${error instanceof Error ? error.message : error}`);
        }
      }
    } finally {
      this.#writing = null;
    }
  }

  async flush(): Promise<void> {
    while (this.#writing) await this.#writing;
  }
}

/** Options of {@link DailyRotatingFile}. */
export interface DailyRotatingFileOptions {
  /** How many rotated files to keep (default 30, as the original). */
  backupCount?: number;
  /** Clock, injectable for tests. */
  now?: () => Date;
}

function dayOf(date: Date): string {
  return `${date.getUTCFullYear()}-${pad(date.getUTCMonth() + 1)}-${pad(date.getUTCDate())}`;
}

/**
 * A log file rotated at UTC midnight: the day's file keeps the configured name and,
 * when the day changes, is renamed `NAME.YYYY-MM-DD`; only the newest
 * `backupCount` rotated files are kept.
 */
export class DailyRotatingFile {
  readonly path: string;
  readonly #backupCount: number;
  readonly #now: () => Date;
  #file: Deno.FsFile | null = null;
  #day: string | null = null;
  readonly #writer: BufferedWriter;

  /** Creates the rotating file; nothing is opened until the first write. */
  constructor(path: string, options: DailyRotatingFileOptions = {}) {
    this.path = path;
    this.#backupCount = options.backupCount ?? 30;
    this.#now = options.now ?? (() => new Date());
    this.#writer = new BufferedWriter((text) => this.#append(text));
  }

  /** Queues a line; returns at once. */
  write(text: string): void {
    this.#writer.push(text);
  }

  /** Waits until everything queued is written. */
  flush(): Promise<void> {
    return this.#writer.flush();
  }

  /** Flushes and closes the file. */
  async close(): Promise<void> {
    await this.flush();
    this.#file?.close();
    this.#file = null;
  }

  async #append(text: string): Promise<void> {
    const today = dayOf(this.#now());
    if (this.#file === null) {
      const dir = this.path.slice(0, this.path.lastIndexOf("/")) || "/";
      await Deno.mkdir(dir, { recursive: true });
      try {
        // An existing file belongs to the day it was last written (as Python's handler does).
        const mtime = (await Deno.stat(this.path)).mtime;
        this.#day = mtime ? dayOf(mtime) : today;
      } catch {
        this.#day = today;
      }
    }
    if (this.#day !== today) await this.#rotate();
    this.#file ??= await Deno.open(this.path, { create: true, append: true });
    this.#day = today;
    const bytes = encoder.encode(text);
    let written = 0;
    while (written < bytes.length) written += await this.#file.write(bytes.subarray(written));
  }

  async #rotate(): Promise<void> {
    this.#file?.close();
    this.#file = null;
    try {
      await Deno.rename(this.path, `${this.path}.${this.#day}`);
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
    await this.#prune();
  }

  async #prune(): Promise<void> {
    const slash = this.path.lastIndexOf("/");
    const dir = this.path.slice(0, slash) || "/";
    const base = this.path.slice(slash + 1);
    const pattern = new RegExp(`^${base.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}\\.\\d{4}-\\d{2}-\\d{2}$`);
    const rotated: string[] = [];
    for await (const entry of Deno.readDir(dir)) {
      if (entry.isFile && pattern.test(entry.name)) rotated.push(entry.name);
    }
    rotated.sort();
    for (const name of rotated.slice(0, Math.max(0, rotated.length - this.#backupCount))) {
      await Deno.remove(`${dir}/${name}`);
    }
  }
}

let stderrWriter: BufferedWriter | null = null;
let logFile: DailyRotatingFile | null = null;

function stderrSink(): Sink {
  stderrWriter ??= new BufferedWriter(async (text) => {
    const bytes = encoder.encode(text);
    let written = 0;
    while (written < bytes.length) written += await Deno.stderr.write(bytes.subarray(written));
  });
  const writer = stderrWriter;
  return (record) => writer.push(formatRecord(record));
}

/** Options of {@link configureLogging}. */
export interface ConfigureLoggingOptions {
  /** Also write to stderr (default true). */
  stderr?: boolean;
  /** Clock for the file's rotation (tests). */
  now?: () => Date;
}

/** Configures logging from the config's `Logging:` section; replaces any earlier configuration. */
export async function configureLogging(
  config: LoggingConfig,
  options: ConfigureLoggingOptions = {},
): Promise<void> {
  await shutdownLogging();
  const sinks: Record<string, Sink> = {};
  if (options.stderr ?? true) sinks.stderr = stderrSink();
  if (config.file) {
    const file = new DailyRotatingFile(config.file, { now: options.now });
    logFile = file;
    sinks.file = (record) => file.write(formatRecord(record));
  }
  configureSync({
    reset: true,
    sinks,
    loggers: [
      { category: ["toros"], sinks: Object.keys(sinks), lowestLevel: TO_LOGTAPE[config.level] },
      { category: ["logtape", "meta"], sinks: [], lowestLevel: "warning" },
    ],
  });
  configured = true;
}

/** Flushes every sink and closes the log file. */
export async function shutdownLogging(): Promise<void> {
  await stderrWriter?.flush();
  await logFile?.close();
  logFile = null;
  if (configured) resetSync();
  configured = false;
}

let configured = false;

/** Before {@link configureLogging}, INFO and above go to stderr so nothing is lost. */
function ensureDefault(): void {
  if (configured) return;
  configured = true;
  configureSync({
    reset: true,
    sinks: { stderr: stderrSink() },
    loggers: [
      { category: ["toros"], sinks: ["stderr"], lowestLevel: "info" },
      { category: ["logtape", "meta"], sinks: [], lowestLevel: "warning" },
    ],
  });
}

/** The logger of one module, e.g. `getLogger("preprocessor")`. */
export function getLogger(module: string): Logger {
  const logger = getLogTapeLogger(["toros", ...module.split(".")]);
  return {
    debug: (message) => {
      ensureDefault();
      logger.debug(message.replaceAll("{", "{{").replaceAll("}", "}}"));
    },
    info: (message) => {
      ensureDefault();
      logger.info(message.replaceAll("{", "{{").replaceAll("}", "}}"));
    },
    warning: (message) => {
      ensureDefault();
      logger.warn(message.replaceAll("{", "{{").replaceAll("}", "}}"));
    },
    error: (message) => {
      ensureDefault();
      logger.error(message.replaceAll("{", "{{").replaceAll("}", "}}"));
    },
  };
}
