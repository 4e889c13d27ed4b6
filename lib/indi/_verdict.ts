/**
 * How the client judges what a driver answers: the verdict on a command it
 * sent, and on a property watched until it is Ok. These are the protocol's
 * traps made into rules (see the client's module documentation):
 *
 * - a driver refuses a command by setting the vector back to Idle, not Alert;
 * - Alert's explanation is a message, on the update or in a `<message>` just before;
 * - INDI has no request ids, so an update sent before the driver read the
 *   command may arrive after it was sent, and must not decide it.
 *
 * @module
 */
import type { CachedVector } from "./_cache.ts";
import { publicVector } from "./_cache.ts";
import type { MessageLog } from "./_messages.ts";
import type { Waiter, WaitEvent, WaitVerdict } from "./_waiter.ts";
import { IndiAlertError, IndiError, IndiRejectedError, propertyLabel } from "./errors.ts";
import type { IndiVector, PropertyState } from "./types.ts";

/** A command's values by member (numbers, texts, switches On = true). */
export type AskedValues = Record<string, number | string | boolean>;

/** What the verdict on one command needs to know. */
export interface CommandContext {
  /** Device. */
  device: string;
  /** Property. */
  property: string;
  /** The vector's state when the command was sent. */
  before: PropertyState;
  /** The values the command asked for. */
  asked: AskedValues;
  /** How long after sending an update may still be one sent before the command was read, ms. */
  staleWindowMs: number;
  /** Device messages, to quote the driver's explanation. */
  messages: MessageLog;
  /** When the command was sent (`performance.now()`), Infinity until it is. */
  sentAt(): number;
}

/** The error for a property deleted while a wait was on it. */
export function deletedError(device: string, property: string): IndiError {
  return new IndiError(`${propertyLabel(device, property)} was deleted by the driver`, device, property);
}

/**
 * The judge of a command's answer: Ok resolves; Busy waits; Alert rejects with
 * the driver's message; Idle rejects as refused (or as stopped, after Busy).
 * An update that may predate the command is held until `staleWindowMs` after
 * sending, unless a later update replaces it.
 */
export function commandJudge(
  context: CommandContext,
): (event: WaitEvent, waiter: Waiter<IndiVector>) => WaitVerdict<IndiVector> {
  const { device, property, before, asked, staleWindowMs, messages } = context;
  // The driver's explanation is a message that came after the command (after the first
  // Busy, for a stop), unless the deciding update carries its own.
  let since = messages.serial;
  let busy = false;
  return (event, waiter) => {
    if (event.kind === "delete") return { error: deletedError(device, property) };
    if (event.kind === "initial") return undefined;
    const current = event.vector;
    if (!current?.defined) return undefined;
    // A redefinition (another client asked for the properties) is news only when it settles things.
    if (event.kind === "define" && current.state !== "Alert" && current.state !== "Ok") return undefined;
    if (event.kind !== "recheck") {
      waiter.cancelRecheck();
      const age = performance.now() - context.sentAt();
      // A device <message> is no proof of an answer: the previous operation's last words
      // ("slew is complete") can arrive after the command was sent. Only the update's own
      // message attribute, a changed state or the values asked for are.
      const stale = !busy && current.state === before && !event.message && age < staleWindowMs &&
        !showsAsked(current, asked);
      if (stale) {
        waiter.recheckAfter(staleWindowMs - age);
        return undefined;
      }
    }
    const message = event.message || messages.since(device, since);
    switch (current.state) {
      case "Ok":
        return { value: publicVector(current) };
      case "Busy":
        if (!busy) since = messages.serial;
        busy = true;
        return undefined;
      case "Alert":
        return { error: new IndiAlertError(device, property, message) };
      case "Idle":
        return { error: new IndiRejectedError(device, property, message, busy) };
    }
  };
}

/**
 * The judge of a watch until Ok: Ok resolves (at once if it already is);
 * Alert rejects with the driver's message; Idle after Busy rejects as stopped.
 */
export function okJudge(
  device: string,
  property: string,
  messages: MessageLog,
): (event: WaitEvent) => WaitVerdict<IndiVector> {
  let busy = false;
  let since = messages.serial;
  return (event) => {
    if (event.kind === "delete") return { error: deletedError(device, property) };
    const vector = event.vector;
    if (!vector?.defined) return undefined;
    switch (vector.state) {
      case "Ok":
        return { value: publicVector(vector) };
      case "Busy":
        if (!busy) since = messages.serial;
        busy = true;
        return undefined;
      case "Alert":
        return {
          error: new IndiAlertError(
            device,
            property,
            event.message || messages.since(device, since) || vector.message,
          ),
        };
      case "Idle":
        return busy
          ? {
            error: new IndiRejectedError(
              device,
              property,
              event.message || messages.since(device, since),
              true,
            ),
          }
          : undefined;
    }
  };
}

/** The judge of a watch until `predicate` holds (checked at once, then at each change). */
export function predicateJudge(
  device: string,
  property: string,
  predicate: (vector: IndiVector) => boolean,
): (event: WaitEvent) => WaitVerdict<IndiVector> {
  return (event) => {
    if (event.kind === "delete") return { error: deletedError(device, property) };
    const vector = event.vector;
    if (!vector?.defined) return undefined;
    return predicate(publicVector(vector)) ? { value: publicVector(vector) } : undefined;
  };
}

/** Whether the vector shows every value a command asked for (numbers to a relative 1e-6). */
export function showsAsked(vector: CachedVector, asked: AskedValues): boolean {
  for (const [name, value] of Object.entries(asked)) {
    const member = vector.members.get(name);
    if (!member || !("value" in member)) return false;
    const actual = member.value;
    if (typeof value === "number" && typeof actual === "number") {
      if (Math.abs(actual - value) > 1e-6 * Math.max(1, Math.abs(value))) return false;
    } else if (actual !== value) {
      return false;
    }
  }
  return true;
}
