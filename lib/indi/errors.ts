/**
 * Errors of the INDI client. Every one names the device and property it is
 * about (when there is one), so a service can log `error.message` as is.
 *
 * @module
 */
import type { PropertyState } from "./types.ts";

/** How the client names a property in messages: `"Telescope Simulator.TELESCOPE_PARK"`. */
export function propertyLabel(device: string, property?: string, member?: string): string {
  return `"${[device, property, member].filter((part) => part !== undefined).join(".")}"`;
}

/** The base class: something about an INDI device or property went wrong. */
export class IndiError extends Error {
  /** The device concerned, if any. */
  readonly device: string | undefined;
  /** The property concerned, if any. */
  readonly property: string | undefined;

  /** Creates the error. */
  constructor(message: string, device?: string, property?: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "IndiError";
    this.device = device;
    this.property = property;
  }
}

/**
 * A command came back Idle: the driver refused it without trying (a slew while
 * the mount is parked), or something stopped it (an aborted exposure).
 */
export class IndiRejectedError extends IndiError {
  /** The driver's explanation (the vector's message or the device's last message), "" if none. */
  readonly deviceMessage: string;

  /** Creates the error. */
  constructor(device: string, property: string, deviceMessage: string, stopped: boolean) {
    const what = stopped ? "stopped before completing (state Idle)" : "rejected the command (state Idle)";
    super(
      `${propertyLabel(device, property)} ${what}${deviceMessage ? `: ${deviceMessage}` : ", no message"}`,
      device,
      property,
    );
    this.name = "IndiRejectedError";
    this.deviceMessage = deviceMessage;
  }
}

/** A property went to Alert; the driver's message is the error text. */
export class IndiAlertError extends IndiError {
  /** The driver's explanation, "" if it gave none. */
  readonly deviceMessage: string;

  /** Creates the error. */
  constructor(device: string, property: string, deviceMessage: string) {
    super(
      `${propertyLabel(device, property)} is Alert: ${deviceMessage || "the driver gave no message"}`,
      device,
      property,
    );
    this.name = "IndiAlertError";
    this.deviceMessage = deviceMessage;
  }
}

/** A wait ran out of time. */
export class IndiTimeoutError extends IndiError {
  /** How long the wait lasted, in seconds. */
  readonly seconds: number;
  /** The property's state when the time ran out (undefined if it was not defined). */
  readonly lastState: PropertyState | undefined;

  /** Creates the error: `Timed out after 5 s waiting for "Dev.PROP" to …`. */
  constructor(
    device: string,
    property: string | undefined,
    seconds: number,
    waitingFor: string,
    lastState: PropertyState | undefined,
  ) {
    const state = property === undefined
      ? ""
      : lastState === undefined
      ? " (not defined)"
      : ` (state ${lastState})`;
    super(
      `Timed out after ${formatSeconds(seconds)} s waiting for ${
        propertyLabel(device, property)
      } ${waitingFor}${state}`,
      device,
      property,
    );
    this.name = "IndiTimeoutError";
    this.seconds = seconds;
    this.lastState = lastState;
  }
}

/**
 * The connection to the INDI server is down, was lost during a wait, or the
 * client was closed.
 */
export class IndiConnectionError extends IndiError {
  /** Creates the error. */
  constructor(message: string, device?: string, property?: string, options?: ErrorOptions) {
    super(message, device, property, options);
    this.name = "IndiConnectionError";
  }
}

function formatSeconds(seconds: number): string {
  return String(Number(seconds.toFixed(3)));
}
