/**
 * Work orders, in the formats of the original TOROS Manager documentation:
 * the common keys (ID, WOType, Priority, Datetime, User), the telescope's
 * Observation and the dome's orders, and the preprocessor's own calibration
 * request, both in the original's form
 * `{"ID": 1, "Request": "Exposure Calibration", "File Location": "/path"}` and as
 * `WOType: "Calibration"`. Every error names the key and what was expected.
 *
 * @module
 */

/** A work order that is not valid; `key` is the key at fault. */
export class WorkOrderError extends Error {
  /** The key at fault ("" for the order as a whole). */
  readonly key: string;
  /** Creates the error: `Work order key "KEY": problem`. */
  constructor(key: string, problem: string) {
    super(key ? `Work order key "${key}": ${problem}` : `Work order: ${problem}`);
    this.name = "WorkOrderError";
    this.key = key;
  }
}

/** A work order meant for another TOROS service. */
export class WrongServiceError extends Error {
  /** The service that handles this kind of order. */
  readonly service: string;
  /** Creates the error; `receiver` is the service that was sent the order. */
  constructor(woType: string, service: string, receiver: string = "preprocessor") {
    super(wrongServiceMessage(woType, service, receiver));
    this.name = "WrongServiceError";
    this.service = service;
  }
}

function wrongServiceMessage(woType: string, service: string, receiver: string): string {
  return `Work orders of type "${woType}" are handled by the ${service} service, not the ${receiver}`;
}

/** The kinds of work order the original documents define. */
export type WorkOrderKind = "calibration" | "observation" | "dome";

/** The service that carries out each kind of work order. */
export const SERVICE_FOR: Readonly<Record<WorkOrderKind, string>> = {
  calibration: "preprocessor",
  observation: "telescope",
  dome: "dome",
};

/** What {@link validateWorkOrder} accepts, and who is asking. */
export interface ValidateOptions {
  /** The kinds the receiving service carries out (default `["calibration"]`). */
  accepts?: readonly WorkOrderKind[];
  /** The receiving service's name, for the message refusing another's order (default `preprocessor`). */
  service?: string;
}

/**
 * A problem found while validating. Not an Error on purpose: a refused order is
 * ordinary input, and building an Error costs more than the whole validation.
 */
class Invalid {
  readonly key: string;
  readonly problem: string;
  constructor(key: string, problem: string) {
    this.key = key;
    this.problem = problem;
  }
}

/** Keys every work order may carry. */
export interface CommonFields {
  /** `ID`, as a string. */
  id: string;
  /** `Priority`, 0-10 (higher runs first); null when absent or nil. */
  priority: number | null;
  /** `Datetime`, when given. */
  datetime: Date | null;
  /** `User`, when given. */
  user: string | null;
}

/** The preprocessor's request: calibrate the night at `location`. */
export interface CalibrationOrder extends CommonFields {
  kind: "calibration";
  /** `File Location` as a filesystem path (a `file://` URL is turned into its path). */
  location: string;
}

/** What an Observation order asks the telescope service for (the original documents' keys). */
export interface ObservationOrder extends CommonFields {
  kind: "observation";
  /** `Telescope Name`: the telescope that must take it. */
  telescope: string;
  /** `RA`, J2000, in hours (0 ≤ RA < 24); a number or `"hh:mm:ss.s"`. */
  ra: number;
  /** `Dec`, J2000, in degrees (−90 to 90); a number or `"±dd:mm:ss"`. */
  dec: number;
  /** `Filter`, by name. */
  filter: string;
  /** `Exposure Time`, seconds (> 0). */
  exposureTime: number;
  /** `Number of Exposures` (1 or more). */
  exposures: number;
  /** `Type of job` (e.g. "Research"), when given. */
  jobType: string | null;
  /** `Type of object` (e.g. "Galaxy"), when given. */
  objectType: string | null;
  /** `Object`: the target's name, when given (written as OBJECT; else the order's ID is). */
  object: string | null;
  /** `Calibration Frames: Yes` adds the bias, dark and flat series the night needs. */
  calibrationFrames: boolean;
  /** `Output`: `analysis` hands the night to the preprocessor (default), `raw` stops at the frames. */
  output: "analysis" | "raw";
}

/** What a Dome order can ask the dome service to do. */
export type DomeAction =
  | { action: "open" }
  | { action: "close" }
  | { action: "park" }
  | { action: "unpark" }
  | { action: "slave" }
  | { action: "unslave" }
  | { action: "abort" }
  /** `BlinkNN: true`: flash the dome's warning light NN times (people inside: it is about to move). */
  | { action: "blink"; times: number };

/** A Dome order: device actions, each a key set to true (`{"WOType": "Dome", "Open Shutter": true}`). */
export interface DomeOrder extends CommonFields {
  kind: "dome";
  /** In the order they are carried out: blinks first (a warning), then the rest as listed. */
  actions: DomeAction[];
}

/** What a valid work order is. */
export type WorkOrder = CalibrationOrder | ObservationOrder | DomeOrder;

/** The Dome order's action keys (besides `BlinkNN`), as written in orders. */
export const DOME_ACTION_KEYS: Readonly<Record<string, DomeAction["action"]>> = {
  "Open Shutter": "open",
  "Close Shutter": "close",
  Park: "park",
  Unpark: "unpark",
  Slave: "slave",
  Unslave: "unslave",
  Abort: "abort",
};

/** Longest single exposure an order may ask for, in seconds (a day: anything longer is a typo). */
export const MAX_EXPOSURE_SECONDS = 86_400;
/** Most exposures one order may ask for. */
export const MAX_EXPOSURES = 10_000;

type Struct = Record<string, unknown>;

function requireString(order: Struct, key: string, optional = false): string | null {
  const value = order[key];
  if (value === undefined || value === null) {
    if (optional) return null;
    throw new Invalid(key, "is missing (expected a string)");
  }
  if (typeof value !== "string" || value.trim() === "") {
    throw new Invalid(key, `${describe(value)} is not a non-empty string`);
  }
  return value.trim();
}

function describe(value: unknown): string {
  if (value === null) return "nil";
  if (value instanceof Date) return "a date";
  if (value instanceof Uint8Array) return "binary data";
  if (Array.isArray(value)) return "an array";
  if (typeof value === "object") return "a struct";
  if (typeof value === "string") return JSON.stringify(value);
  return String(value);
}

function parseCommon(order: Struct): CommonFields {
  const rawId = order.ID;
  let id: string;
  if (typeof rawId === "string" && rawId.trim() !== "") id = rawId.trim();
  else if (typeof rawId === "number" && Number.isInteger(rawId)) id = String(rawId);
  // An <i8> beyond ±2^53 (xmlrpc-c and Java clients send them) keeps every digit as text.
  else if (typeof rawId === "bigint") id = String(rawId);
  else if (rawId === undefined) {
    throw new Invalid("ID", "is missing (expected a string or an integer)");
  } else throw new Invalid("ID", `${describe(rawId)} is not a string or an integer`);
  if (id.length > 200) throw new Invalid("ID", "is longer than 200 characters");

  const rawPriority = order.Priority;
  let priority: number | null = null;
  if (rawPriority !== undefined && rawPriority !== null) {
    const value = typeof rawPriority === "object" && rawPriority !== null && "value" in rawPriority
      ? (rawPriority as { value: unknown }).value
      : rawPriority;
    if (typeof value !== "number" || !Number.isFinite(value) || value < 0 || value > 10) {
      throw new Invalid("Priority", `${describe(value)} is not a number from 0 to 10 (or nil)`);
    }
    priority = value;
  }

  const rawDatetime = order.Datetime;
  let datetime: Date | null = null;
  if (rawDatetime instanceof Date) {
    datetime = rawDatetime;
  } else if (typeof rawDatetime === "string") {
    const text = rawDatetime.trim();
    const parsed = /^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?(Z|[+-]\d{2}:?\d{2})?$/.test(text)
      ? new Date(/[Zz]|[+-]\d{2}:?\d{2}$/.test(text) || text.length === 10 ? text : `${text}Z`)
      : null;
    if (!parsed || Number.isNaN(parsed.getTime())) {
      throw new Invalid(
        "Datetime",
        `${describe(rawDatetime)} is not an ISO 8601 date (e.g. 2019-03-05T14:34:54.234)`,
      );
    }
    datetime = parsed;
  } else if (rawDatetime !== undefined && rawDatetime !== null) {
    throw new Invalid(
      "Datetime",
      `${describe(rawDatetime)} is not an ISO 8601 date string or dateTime`,
    );
  }
  const user = requireString(order, "User", true);
  return { id, priority, datetime, user };
}

/** Turns `File Location` (a path or a `file://` URL) into an absolute path. */
function parseLocation(order: Struct): string {
  const text = requireString(order, "File Location")!;
  let path = text;
  if (/^[a-z][a-z0-9+.-]*:/i.test(text)) {
    let url: URL;
    try {
      url = new URL(text);
    } catch {
      throw new Invalid("File Location", `${JSON.stringify(text)} is not a path or a file:// URL`);
    }
    if (url.protocol !== "file:") {
      throw new Invalid(
        "File Location",
        `${JSON.stringify(text)} is a ${url.protocol} URL (expected a path or file://)`,
      );
    }
    if (url.host !== "" && url.host !== "localhost") {
      throw new Invalid(
        "File Location",
        `${JSON.stringify(text)} names host ${url.host} (expected a local path)`,
      );
    }
    path = decodeURIComponent(url.pathname);
  }
  if (!path.startsWith("/")) {
    throw new Invalid("File Location", `${JSON.stringify(text)} is not an absolute path`);
  }
  if (path.includes("\0")) throw new Invalid("File Location", "contains a NUL character");
  return path;
}

/** What validation found: the order, a problem with a key, or another service's order. */
export type WorkOrderCheck =
  | { ok: true; order: WorkOrder }
  | { ok: false; key: string; message: string; service?: undefined }
  | { ok: false; woType: string; service: string; message: string; key?: undefined };

/**
 * Validates a work order for a service without throwing: the result says what
 * is wrong (naming the key) or which service handles the order.
 */
export function validateWorkOrder(value: unknown, options: ValidateOptions = {}): WorkOrderCheck {
  try {
    return checkOrder(value, options.accepts ?? ["calibration"], options.service ?? "preprocessor");
  } catch (error) {
    if (!(error instanceof Invalid)) throw error;
    const message = error.key
      ? `Work order key "${error.key}": ${error.problem}`
      : `Work order: ${error.problem}`;
    return { ok: false, key: error.key, message };
  }
}

/**
 * Validates a work order for a service (by default the preprocessor, which
 * takes calibration orders). Throws {@link WorkOrderError} naming the key at
 * fault, or {@link WrongServiceError} for another service's order.
 */
export function parseWorkOrder(value: unknown): CalibrationOrder;
/** Validates a work order for the service `options` names, which takes the kinds it accepts. */
export function parseWorkOrder(value: unknown, options: ValidateOptions): WorkOrder;
export function parseWorkOrder(value: unknown, options: ValidateOptions = {}): WorkOrder {
  const check = validateWorkOrder(value, options);
  if (check.ok) return check.order;
  if (check.service !== undefined) {
    throw new WrongServiceError(check.woType, check.service, options.service ?? "preprocessor");
  }
  throw new WorkOrderError(check.key, check.message.slice(check.message.indexOf(": ") + 2));
}

/** The kind a work order declares (`WOType`, or the original's `Request: "Exposure Calibration"`). */
function kindOf(order: Struct): { kind: WorkOrderKind; label: string } {
  const woType = order.WOType;
  const request = order.Request;
  if (woType !== undefined && woType !== null && typeof woType !== "string") {
    throw new Invalid("WOType", `${describe(woType)} is not a string`);
  }
  if (request !== undefined && request !== null && typeof request !== "string") {
    throw new Invalid("Request", `${describe(request)} is not a string`);
  }
  const type = typeof woType === "string" ? woType.trim() : "";
  const kind = type.toLowerCase();
  if (kind === "observation" || kind === "dome" || kind === "calibration") {
    return { kind, label: type };
  }
  if (typeof request === "string" && request.trim().toLowerCase() === "exposure calibration") {
    return { kind: "calibration", label: "Calibration" };
  }
  if (type) {
    throw new Invalid(
      "WOType",
      `"${type}" is not a work order type (expected Calibration, Observation or Dome)`,
    );
  }
  if (typeof request === "string") {
    throw new Invalid(
      "Request",
      `"${request}" is not a request the preprocessor knows (expected "Exposure Calibration")`,
    );
  }
  throw new Invalid("WOType", 'is missing (expected "Calibration", or Request: "Exposure Calibration")');
}

function checkOrder(value: unknown, accepts: readonly WorkOrderKind[], receiver: string): WorkOrderCheck {
  if (typeof value !== "object" || value === null || Array.isArray(value) || value instanceof Date) {
    throw new Invalid(
      "",
      `${describe(value)} is not a struct (expected keys such as ID, WOType, File Location)`,
    );
  }
  const order = value as Struct;
  const { kind, label } = kindOf(order);
  if (!accepts.includes(kind)) {
    const service = SERVICE_FOR[kind];
    return { ok: false, woType: label, service, message: wrongServiceMessage(label, service, receiver) };
  }
  const common = parseCommon(order);
  switch (kind) {
    case "calibration":
      return { ok: true, order: { kind: "calibration", ...common, location: parseLocation(order) } };
    case "observation":
      return { ok: true, order: parseObservation(order, common) };
    case "dome":
      return { ok: true, order: parseDome(order, common) };
    default:
      throw new Invalid("WOType", `"${label}" orders are not taken by the ${receiver}`);
  }
}

/** A sexagesimal `"hh:mm:ss.s"` / `"±dd mm ss"` as a number, or null when the text is not one. */
function parseSexagesimal(text: string): number | null {
  const match = /^\s*([+-])?(\d{1,3})(?:[:\s]+(\d{1,2}(?:\.\d+)?))?(?:[:\s]+(\d{1,2}(?:\.\d+)?))?\s*$/.exec(
    text,
  );
  if (!match) return null;
  const [, sign, whole, minutes = "0", seconds = "0"] = match;
  if (Number(minutes) >= 60 || Number(seconds) >= 60) return null;
  const value = Number(whole) + Number(minutes) / 60 + Number(seconds) / 3600;
  return sign === "-" ? -value : value;
}

function requireAngle(order: Struct, key: string, min: number, max: number, unit: string): number {
  const raw = order[key];
  if (raw === undefined || raw === null) throw new Invalid(key, `is missing (expected ${unit})`);
  const value = typeof raw === "number" ? raw : typeof raw === "string" ? parseSexagesimal(raw) : null;
  if (value === null || !Number.isFinite(value) || value < min || value > max) {
    throw new Invalid(key, `${describe(raw)} is not ${unit}`);
  }
  return value;
}

function requireNumber(order: Struct, key: string, check: (n: number) => boolean, expected: string): number {
  const raw = order[key];
  if (raw === undefined || raw === null) throw new Invalid(key, `is missing (expected ${expected})`);
  if (typeof raw !== "number" || !Number.isFinite(raw) || !check(raw)) {
    throw new Invalid(key, `${describe(raw)} is not ${expected}`);
  }
  return raw;
}

function parseYesNo(order: Struct, key: string): boolean {
  const raw = order[key];
  if (raw === undefined || raw === null) return false;
  if (typeof raw === "boolean") return raw;
  const text = typeof raw === "string" ? raw.trim().toLowerCase() : "";
  if (["yes", "y", "true"].includes(text)) return true;
  if (["no", "n", "false", ""].includes(text)) return false;
  throw new Invalid(key, `${describe(raw)} is not Yes or No`);
}

/** Keys every order may carry besides its kind's own. */
const COMMON_KEYS = new Set(["ID", "WOType", "Request", "Priority", "Datetime", "User"]);

function parseDome(order: Struct, common: CommonFields): DomeOrder {
  const blinks: DomeAction[] = [];
  const actions: DomeAction[] = [];
  for (const [key, value] of Object.entries(order)) {
    if (COMMON_KEYS.has(key)) continue;
    const blink = /^Blink(\d{1,2})$/.exec(key);
    const action = DOME_ACTION_KEYS[key];
    if (!blink && !action) {
      throw new Invalid(
        key,
        `is not a dome action (expected ${
          Object.keys(DOME_ACTION_KEYS).join(", ")
        } or Blink01-Blink99, set to true)`,
      );
    }
    if (value !== true && value !== false && value !== "Yes" && value !== "No") {
      throw new Invalid(key, `${describe(value)} is not true or false`);
    }
    if (value !== true && value !== "Yes") continue;
    if (blink) {
      if (Number(blink[1]) < 1) throw new Invalid(key, "blinks at least once (Blink01 to Blink99)");
      blinks.push({ action: "blink", times: Number(blink[1]) });
    } else actions.push({ action } as DomeAction);
  }
  if (blinks.length + actions.length === 0) {
    throw new Invalid(
      "",
      `a Dome order names no action set to true (${Object.keys(DOME_ACTION_KEYS).join(", ")}, BlinkNN)`,
    );
  }
  const opens = actions.some((a) => a.action === "open");
  if (opens && actions.some((a) => a.action === "close")) {
    throw new Invalid("Close Shutter", "cannot be asked together with Open Shutter");
  }
  return { kind: "dome", ...common, actions: [...blinks, ...actions] };
}

function parseObservation(order: Struct, common: CommonFields): ObservationOrder {
  const rawOutput = requireString(order, "Output", true);
  const output = (rawOutput ?? "analysis").toLowerCase();
  if (output !== "analysis" && output !== "raw") {
    throw new Invalid("Output", `${describe(rawOutput)} is not Analysis or Raw`);
  }
  return {
    kind: "observation",
    ...common,
    telescope: requireString(order, "Telescope Name")!,
    ra: requireAngle(order, "RA", 0, 24, "a right ascension in hours (0 to 24, J2000)") % 24,
    dec: requireAngle(order, "Dec", -90, 90, "a declination in degrees (-90 to 90, J2000)"),
    filter: requireString(order, "Filter")!,
    exposureTime: requireNumber(
      order,
      "Exposure Time",
      (t) => t > 0 && t <= MAX_EXPOSURE_SECONDS,
      `an exposure time in seconds (more than 0, at most ${MAX_EXPOSURE_SECONDS})`,
    ),
    exposures: requireNumber(
      order,
      "Number of Exposures",
      (n) => Number.isInteger(n) && n >= 1 && n <= MAX_EXPOSURES,
      `a whole number of exposures (1 to ${MAX_EXPOSURES})`,
    ),
    jobType: requireString(order, "Type of job", true),
    objectType: requireString(order, "Type of object", true),
    object: requireString(order, "Object", true),
    calibrationFrames: parseYesNo(order, "Calibration Frames"),
    output,
  };
}

/** A JSON value: what the catalog stores of a work order. */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/**
 * A work order as JSON, faithfully: an integer too large for a double (an `<i8>`
 * beyond ±2^53) is kept as its decimal text and a smaller one as a number, a
 * date as ISO 8601, binary data as base64, a forced double as its number.
 */
export function toJsonValue(value: unknown): JsonValue {
  if (value === null || value === undefined) return null;
  switch (typeof value) {
    case "string":
    case "boolean":
      return value;
    case "number":
      return Number.isFinite(value) ? value : String(value);
    case "bigint":
      return value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER)
        ? Number(value)
        : value.toString();
  }
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? null : value.toISOString();
  if (value instanceof Uint8Array) {
    return btoa(Array.from(value, (byte) => String.fromCharCode(byte)).join(""));
  }
  if (Array.isArray(value)) return value.map(toJsonValue);
  if (typeof value === "object") {
    const record = value as Record<string, unknown>;
    // A wrapper class such as XmlRpcDouble carries its number as `value` (structs are plain or null-prototype).
    const prototype = Object.getPrototypeOf(record);
    if (prototype !== null && prototype !== Object.prototype && typeof record.value === "number") {
      return toJsonValue(record.value);
    }
    const out: { [key: string]: JsonValue } = {};
    for (const [key, item] of Object.entries(record)) out[key] = toJsonValue(item);
    return out;
  }
  return String(value);
}
