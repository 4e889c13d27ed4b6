/**
 * Device messages: the severity a driver's text carries (`[WARNING] …`), and
 * the last message of each device, numbered, so a command's verdict can quote
 * the message that came after the command was sent.
 *
 * @module
 */
import type { MessageLevel } from "./types.ts";

const LEVELS: Record<string, MessageLevel> = {
  DEBUG: "debug",
  INFO: "info",
  WARNING: "warning",
  WARN: "warning",
  ERROR: "error",
};

/** Splits `[ERROR] text` into its level and text; `info` when there is no prefix. */
export function parseMessageText(raw: string): { level: MessageLevel; text: string } {
  const match = /^\s*\[(DEBUG|INFO|WARNING|WARN|ERROR)\]\s*/.exec(raw);
  return match ? { level: LEVELS[match[1]], text: raw.slice(match[0].length) } : { level: "info", text: raw };
}

/** The last message of each device, with a running number across all devices. */
export class MessageLog {
  #serial = 0;
  readonly #last = new Map<string, { serial: number; text: string }>();

  /** The number of the latest message (0 before any). */
  get serial(): number {
    return this.#serial;
  }

  /** Records a device's message. */
  record(device: string, text: string): void {
    this.#last.set(device, { serial: ++this.#serial, text });
  }

  /** The device's last message if it came after message number `serial`, else "". */
  since(device: string, serial: number): string {
    const last = this.#last.get(device);
    return last && last.serial > serial ? last.text : "";
  }
}
