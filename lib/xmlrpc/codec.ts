/**
 * XML-RPC encoding and decoding (the XML-RPC specification plus `<nil/>` and
 * `<i8>`, as Python's xmlrpc.client speaks them). Decoding runs on the
 * maintained streaming parser saxes; a DOCTYPE is refused outright (no entity
 * expansion), and element nesting is limited.
 *
 * @module
 */
import { SaxesParser } from "saxes";
import { type ScanHandlers, scanPlainXml } from "./_fast_scan.ts";
import {
  FAULT_INVALID_REQUEST,
  FAULT_PARSE_ERROR,
  XmlRpcDouble,
  XmlRpcFault,
  type XmlRpcValue,
} from "./values.ts";

/** Limits applied while decoding. */
export interface DecodeLimits {
  /** Deepest element nesting accepted (default 100). */
  maxDepth?: number;
}

/** A value being built: what the open element expects next. */
interface Frame {
  /** Element name. */
  name: string;
  /** Collected text of this element. */
  text: string;
  /** Values of a <data>, members of a <struct>, params of <params>. */
  items?: XmlRpcValue[];
  struct?: Record<string, XmlRpcValue>;
  /** A <member>'s name. */
  memberName?: string;
  /** The value decoded inside a <value> / <member> / <param>. */
  value?: XmlRpcValue;
  hasValue?: boolean;
  /** Whether a <value> held a typed element. */
  typed?: boolean;
}

function invalid(message: string): XmlRpcFault {
  return new XmlRpcFault(FAULT_INVALID_REQUEST, `Invalid request: ${message}`);
}

const INTEGER = /^[+-]?\d+$/;

function decodeDate(text: string): Date {
  // Python sends 20261124T23:41:09; ISO 8601 with dashes (and an optional zone) is accepted too.
  const match = /^(\d{4})-?(\d{2})-?(\d{2})T(\d{2}):?(\d{2}):?(\d{2})(\.\d+)?(Z|[+-]\d{2}:?\d{2})?$/.exec(
    text.trim(),
  );
  if (!match) throw invalid(`'${text}' is not a dateTime.iso8601`);
  const [, y, mo, d, h, mi, sec, frac, zone] = match;
  const iso = `${y}-${mo}-${d}T${h}:${mi}:${sec}${frac ?? ""}${
    zone ? zone.replace(/^([+-]\d{2})(\d{2})$/, "$1:$2") : "Z"
  }`;
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) throw invalid(`'${text}' is not a valid date`);
  return date;
}

function decodeBase64(text: string): Uint8Array {
  try {
    const binary = atob(text.replace(/\s+/g, ""));
    const bytes = new Uint8Array(binary.length);
    for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
    return bytes;
  } catch {
    throw invalid("base64 value is not valid base64");
  }
}

/** Decodes the text of a scalar element. */
function decodeScalar(name: string, text: string): XmlRpcValue {
  switch (name) {
    case "int":
    case "i4": {
      const trimmed = text.trim();
      const n = Number(trimmed);
      if (!INTEGER.test(trimmed) || n < -2147483648 || n > 2147483647) {
        throw invalid(`'${text}' is not an ${name}`);
      }
      return n;
    }
    case "i8":
    case "ex:i8": {
      const trimmed = text.trim();
      if (!INTEGER.test(trimmed)) throw invalid(`'${text}' is not an i8`);
      const big = BigInt(trimmed);
      return big >= BigInt(Number.MIN_SAFE_INTEGER) && big <= BigInt(Number.MAX_SAFE_INTEGER)
        ? Number(big)
        : big;
    }
    case "boolean": {
      const trimmed = text.trim();
      if (trimmed !== "0" && trimmed !== "1") throw invalid(`'${text}' is not a boolean (0 or 1)`);
      return trimmed === "1";
    }
    case "string":
      return text;
    case "double": {
      const trimmed = text.trim();
      if (!/^[+-]?(\d+\.?\d*([eE][+-]?\d+)?|\.\d+([eE][+-]?\d+)?|nan|inf|infinity)$/i.test(trimmed)) {
        throw invalid(`'${text}' is not a double`);
      }
      return Number(trimmed.replace(/^([+-]?)inf(inity)?$/i, "$1Infinity").replace(/^nan$/i, "NaN"));
    }
    case "dateTime.iso8601":
      return decodeDate(text);
    case "base64":
      return decodeBase64(text);
    case "nil":
    case "ex:nil":
      return null;
    default:
      throw invalid(`unknown value type <${name}>`);
  }
}

/** Where each element may appear: its parent's name. */
const PARENTS: Record<string, string[]> = {
  methodName: ["methodCall"],
  params: ["methodCall", "methodResponse"],
  param: ["params"],
  fault: ["methodResponse"],
  value: ["param", "data", "member", "fault"],
  data: ["array"],
  member: ["struct"],
  name: ["member"],
};

const CONTAINERS = new Set(["array", "struct"]);

/** The decoded document: its root element name and what it held. */
interface Document {
  root: string;
  methodName: string | null;
  params: XmlRpcValue[] | null;
  fault: XmlRpcValue | undefined;
}

/** Builds values from parser events, checking the XML-RPC structure as it goes. */
interface DocumentBuilder extends ScanHandlers {
  /** Records a failure (the first one wins). */
  fail(error: Error): void;
  /** The document, or the first failure thrown. */
  finish(): Document;
}

function createBuilder(limits: DecodeLimits): DocumentBuilder {
  const maxDepth = limits.maxDepth ?? 100;
  const stack: Frame[] = [];
  const doc: Document = { root: "", methodName: null, params: null, fault: undefined };
  let failure: Error | null = null;
  const fail = (error: Error) => {
    failure ??= error;
  };
  return {
    fail,
    open(name: string): void {
      if (failure) return;
      if (stack.length >= maxDepth) {
        fail(invalid(`nesting deeper than ${maxDepth} elements`));
        return;
      }
      const parent = stack[stack.length - 1];
      if (!parent) {
        doc.root = name;
        if (name !== "methodCall" && name !== "methodResponse") {
          fail(invalid(`expected <methodCall> or <methodResponse>, found <${name}>`));
          return;
        }
      } else {
        const allowed = PARENTS[name];
        if (allowed ? !allowed.includes(parent.name) : parent.name !== "value") {
          fail(invalid(`<${name}> is not allowed inside <${parent.name}>`));
          return;
        }
        if (parent.name === "value") {
          if (parent.typed) {
            fail(invalid("<value> holds more than one element"));
            return;
          }
          parent.typed = true;
        }
      }
      // Every frame has every field from the start: one object shape keeps the property loads fast.
      stack.push({
        name,
        text: "",
        items: name === "params" || name === "data" ? [] : undefined,
        struct: name === "struct" ? {} : undefined,
        memberName: undefined,
        value: undefined,
        hasValue: false,
        typed: false,
      });
    },
    text(text: string): void {
      if (!failure && stack.length > 0) stack[stack.length - 1].text += text;
    },
    close(): void {
      if (failure) return;
      const frame = stack.pop()!;
      const parent = stack[stack.length - 1];
      try {
        let value: XmlRpcValue | undefined;
        switch (frame.name) {
          case "value":
            value = frame.hasValue ? frame.value! : frame.typed ? undefined : frame.text; // untyped value = string
            if (value === undefined) throw invalid("<value> holds no value");
            break;
          case "array": {
            if (!frame.hasValue) throw invalid("<array> without <data>");
            value = frame.value!;
            break;
          }
          case "data":
            value = frame.items!;
            break;
          case "struct":
            value = frame.struct!;
            break;
          case "member":
            if (frame.memberName === undefined || !frame.hasValue) {
              throw invalid("<member> needs a <name> and a <value>");
            }
            parent.struct![frame.memberName] = frame.value!;
            return;
          case "name":
            parent.memberName = frame.text;
            return;
          case "param":
            if (!frame.hasValue) throw invalid("<param> without <value>");
            parent.items!.push(frame.value!);
            return;
          case "params":
            doc.params = frame.items!;
            return;
          case "methodName":
            doc.methodName = frame.text.trim();
            return;
          case "fault":
            doc.fault = frame.value ?? null;
            return;
          case "methodCall":
          case "methodResponse":
            return;
          default:
            if (CONTAINERS.has(frame.name)) return;
            value = decodeScalar(frame.name, frame.text);
        }
        if (parent.name === "data") parent.items!.push(value);
        else {
          parent.value = value;
          parent.hasValue = true;
        }
      } catch (error) {
        fail(error as Error);
      }
    },
    finish(): Document {
      if (failure) throw failure;
      if (!doc.root) throw new XmlRpcFault(FAULT_PARSE_ERROR, "Parse error: no document element");
      return doc;
    },
  };
}

/**
 * Decodes XML straight into values, no DOM: plain documents (nearly every
 * request) through {@link scanPlainXml}, anything else through saxes, which
 * refuses a DOCTYPE (so no entity is ever expanded) and words the parse errors.
 * Nesting depth is limited either way.
 */
function decodeDocument(xml: string, limits: DecodeLimits): Document {
  const fast = createBuilder(limits);
  if (scanPlainXml(xml, fast)) return fast.finish();
  const builder = createBuilder(limits);
  // Line/column tracking is off: faults name the problem, and tracking costs a fifth of the parse.
  const parser = new SaxesParser({ xmlns: false, position: false });
  parser.on(
    "doctype",
    () =>
      builder.fail(new XmlRpcFault(FAULT_PARSE_ERROR, "Parse error: DOCTYPE declarations are not accepted")),
  );
  parser.on("opentag", (tag) => builder.open(tag.name));
  parser.on("text", (text) => builder.text(text));
  parser.on("cdata", (text) => builder.text(text));
  parser.on("closetag", () => builder.close());
  parser.on(
    "error",
    (error) =>
      builder.fail(new XmlRpcFault(FAULT_PARSE_ERROR, `Parse error: ${error.message.split("\n")[0]}`)),
  );
  try {
    parser.write(xml).close();
  } catch (error) {
    builder.fail(
      new XmlRpcFault(FAULT_PARSE_ERROR, `Parse error: ${error instanceof Error ? error.message : error}`),
    );
  }
  return builder.finish();
}

/** A decoded call. */
export interface MethodCall {
  methodName: string;
  params: XmlRpcValue[];
}

/** Decodes a `<methodCall>`; throws an {@link XmlRpcFault} (-32700 or -32600) for bad input. */
export function parseMethodCall(xml: string, limits: DecodeLimits = {}): MethodCall {
  const doc = decodeDocument(xml, limits);
  if (doc.root !== "methodCall") throw invalid(`expected <methodCall>, found <${doc.root}>`);
  if (!doc.methodName) throw invalid("<methodCall> has no <methodName>");
  return { methodName: doc.methodName, params: doc.params ?? [] };
}

/** Decodes a `<methodResponse>`; throws {@link XmlRpcFault} for a fault response. */
export function parseMethodResponse(xml: string, limits: DecodeLimits = {}): XmlRpcValue {
  const doc = decodeDocument(xml, limits);
  if (doc.root !== "methodResponse") throw invalid(`expected <methodResponse>, found <${doc.root}>`);
  if (doc.fault !== undefined) {
    const struct = (doc.fault ?? {}) as Record<string, XmlRpcValue>;
    throw new XmlRpcFault(Number(struct.faultCode ?? 0), String(struct.faultString ?? "fault"));
  }
  if (!doc.params || doc.params.length === 0) throw invalid("<methodResponse> without a value");
  return doc.params[0];
}

function escapeXml(text: string): string {
  return text.replace(/[&<>]/g, (c) => (c === "&" ? "&amp;" : c === "<" ? "&lt;" : "&gt;"));
}

function pad(n: number, width = 2): string {
  return String(n).padStart(width, "0");
}

function encodeBase64(bytes: Uint8Array): string {
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary);
}

function encodeDouble(value: number): string {
  if (Number.isNaN(value)) return "nan";
  if (!Number.isFinite(value)) return value > 0 ? "inf" : "-inf";
  const text = String(value);
  return /[.eE]/.test(text) ? text : `${text}.0`;
}

/** Appends the XML of one value (as `<value>...</value>`) to `out`. */
function encodeValue(value: XmlRpcValue | undefined, out: string[], depth = 0): void {
  if (depth > 100) throw new RangeError("value nested deeper than 100 levels");
  if (value === null || value === undefined) {
    out.push("<value><nil/></value>");
  } else if (typeof value === "string") {
    out.push("<value><string>", escapeXml(value), "</string></value>");
  } else if (typeof value === "number") {
    if (Number.isInteger(value) && value >= -2147483648 && value <= 2147483647) {
      out.push(`<value><int>${value}</int></value>`);
    } else if (Number.isSafeInteger(value)) out.push(`<value><i8>${value}</i8></value>`);
    else out.push(`<value><double>${encodeDouble(value)}</double></value>`);
  } else if (typeof value === "boolean") {
    out.push(`<value><boolean>${value ? 1 : 0}</boolean></value>`);
  } else if (typeof value === "bigint") {
    out.push(`<value><i8>${value}</i8></value>`);
  } else if (value instanceof XmlRpcDouble) {
    out.push(`<value><double>${encodeDouble(value.value)}</double></value>`);
  } else if (value instanceof Date) {
    // Python's format: no dashes, no zone (the value is UTC).
    const d = value;
    out.push(
      `<value><dateTime.iso8601>${d.getUTCFullYear()}${pad(d.getUTCMonth() + 1)}${pad(d.getUTCDate())}T${
        pad(d.getUTCHours())
      }:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}</dateTime.iso8601></value>`,
    );
  } else if (value instanceof Uint8Array) {
    out.push("<value><base64>", encodeBase64(value), "</base64></value>");
  } else if (Array.isArray(value)) {
    out.push("<value><array><data>");
    for (const item of value) encodeValue(item, out, depth + 1);
    out.push("</data></array></value>");
  } else {
    out.push("<value><struct>");
    for (const [key, item] of Object.entries(value)) {
      if (item === undefined) continue;
      out.push("<member><name>", escapeXml(key), "</name>");
      encodeValue(item, out, depth + 1);
      out.push("</member>");
    }
    out.push("</struct></value>");
  }
}

/** Encodes a value as a `<value>` element. */
export function encodeValueXml(value: XmlRpcValue): string {
  const out: string[] = [];
  encodeValue(value, out);
  return out.join("");
}

/** Encodes a call. */
export function encodeMethodCall(methodName: string, params: XmlRpcValue[]): string {
  const out = [
    '<?xml version="1.0"?>\n<methodCall><methodName>',
    escapeXml(methodName),
    "</methodName><params>",
  ];
  for (const param of params) {
    out.push("<param>");
    encodeValue(param, out);
    out.push("</param>");
  }
  out.push("</params></methodCall>\n");
  return out.join("");
}

/** Encodes a successful response. */
export function encodeMethodResponse(value: XmlRpcValue): string {
  const out = ['<?xml version="1.0"?>\n<methodResponse><params><param>'];
  encodeValue(value, out);
  out.push("</param></params></methodResponse>\n");
  return out.join("");
}

/** Encodes a fault response. */
export function encodeFault(code: number, message: string): string {
  const out = ['<?xml version="1.0"?>\n<methodResponse><fault>'];
  encodeValue({ faultCode: code, faultString: message }, out);
  out.push("</fault></methodResponse>\n");
  return out.join("");
}
