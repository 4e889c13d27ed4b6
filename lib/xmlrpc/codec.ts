/**
 * XML-RPC encoding and decoding (the XML-RPC specification plus `<nil/>` and
 * `<i8>`, as Python's xmlrpc.client speaks them). Decoding runs on the
 * maintained streaming parser saxes; a DOCTYPE is refused outright (no entity
 * expansion), and element nesting is limited.
 *
 * @module
 */
import { SaxesParser } from "saxes";
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

interface Element {
  name: string;
  children: Element[];
  text: string;
}

/** Parses XML into a small element tree; DOCTYPE refused, depth limited. */
function parseTree(xml: string, limits: DecodeLimits): Element {
  const maxDepth = limits.maxDepth ?? 100;
  const parser = new SaxesParser({ xmlns: false });
  const root: Element = { name: "#root", children: [], text: "" };
  const stack: Element[] = [root];
  let failure: Error | null = null;
  parser.on("doctype", () => {
    failure ??= new XmlRpcFault(FAULT_PARSE_ERROR, "Parse error: DOCTYPE declarations are not accepted");
  });
  parser.on("opentag", (tag) => {
    if (failure) return;
    if (stack.length > maxDepth) {
      failure = new XmlRpcFault(
        FAULT_INVALID_REQUEST,
        `Invalid request: nesting deeper than ${maxDepth} elements`,
      );
      return;
    }
    const element: Element = { name: tag.name, children: [], text: "" };
    stack[stack.length - 1].children.push(element);
    stack.push(element);
  });
  parser.on("closetag", () => {
    if (!failure) stack.pop();
  });
  parser.on("text", (text) => {
    if (!failure && stack.length > 1) stack[stack.length - 1].text += text;
  });
  parser.on("cdata", (text) => {
    if (!failure && stack.length > 1) stack[stack.length - 1].text += text;
  });
  parser.on("error", (error) => {
    failure ??= new XmlRpcFault(FAULT_PARSE_ERROR, `Parse error: ${error.message.split("\n")[0]}`);
  });
  try {
    parser.write(xml).close();
  } catch (error) {
    failure ??= new XmlRpcFault(
      FAULT_PARSE_ERROR,
      `Parse error: ${error instanceof Error ? error.message : error}`,
    );
  }
  if (failure) throw failure;
  if (root.children.length !== 1) {
    throw new XmlRpcFault(FAULT_PARSE_ERROR, "Parse error: no document element");
  }
  return root.children[0];
}

function invalid(message: string): XmlRpcFault {
  return new XmlRpcFault(FAULT_INVALID_REQUEST, `Invalid request: ${message}`);
}

function elements(element: Element): Element[] {
  return element.children;
}

const INTEGER = /^[+-]?\d+$/;

function decodeDate(text: string): Date {
  // Python sends 20261124T23:41:09; ISO 8601 with dashes (and an optional zone) is accepted too.
  const match = /^(\d{4})-?(\d{2})-?(\d{2})T(\d{2}):?(\d{2}):?(\d{2})(\.\d+)?(Z|[+-]\d{2}:?\d{2})?$/.exec(
    text.trim(),
  );
  if (!match) throw invalid(`'${text}' is not a dateTime.iso8601`);
  const [, y, mo, d, h, mi, s, frac, zone] = match;
  const iso = `${y}-${mo}-${d}T${h}:${mi}:${s}${frac ?? ""}${
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

/** Decodes a `<value>` element. */
function decodeValue(value: Element): XmlRpcValue {
  if (value.name !== "value") throw invalid(`expected <value>, found <${value.name}>`);
  const [typed, extra] = elements(value);
  if (!typed) return value.text; // an untyped value is a string
  if (extra) throw invalid("<value> holds more than one element");
  const text = typed.text;
  switch (typed.name) {
    case "int":
    case "i4": {
      const trimmed = text.trim();
      const n = Number(trimmed);
      if (!INTEGER.test(trimmed) || n < -2147483648 || n > 2147483647) {
        throw invalid(`'${text}' is not an ${typed.name}`);
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
    case "array": {
      const [data] = elements(typed);
      if (!data || data.name !== "data") throw invalid("<array> without <data>");
      return elements(data).map(decodeValue);
    }
    case "struct": {
      const result: Record<string, XmlRpcValue> = {};
      for (const member of elements(typed)) {
        if (member.name !== "member") throw invalid(`<struct> holds <${member.name}>, expected <member>`);
        const name = member.children.find((c) => c.name === "name");
        const memberValue = member.children.find((c) => c.name === "value");
        if (!name || !memberValue) throw invalid("<member> needs a <name> and a <value>");
        result[name.text] = decodeValue(memberValue);
      }
      return result;
    }
    default:
      throw invalid(`unknown value type <${typed.name}>`);
  }
}

/** A decoded call. */
export interface MethodCall {
  methodName: string;
  params: XmlRpcValue[];
}

/** Decodes a `<methodCall>`; throws an {@link XmlRpcFault} (-32700 or -32600) for bad input. */
export function parseMethodCall(xml: string, limits: DecodeLimits = {}): MethodCall {
  const root = parseTree(xml, limits);
  if (root.name !== "methodCall") throw invalid(`expected <methodCall>, found <${root.name}>`);
  const name = root.children.find((c) => c.name === "methodName");
  if (!name || name.text.trim() === "") throw invalid("<methodCall> has no <methodName>");
  const paramsElement = root.children.find((c) => c.name === "params");
  const params = paramsElement
    ? elements(paramsElement).map((param) => {
      if (param.name !== "param") throw invalid(`<params> holds <${param.name}>, expected <param>`);
      const [value] = elements(param);
      if (!value) throw invalid("<param> without <value>");
      return decodeValue(value);
    })
    : [];
  return { methodName: name.text.trim(), params };
}

/** Decodes a `<methodResponse>`; throws {@link XmlRpcFault} for a fault response. */
export function parseMethodResponse(xml: string, limits: DecodeLimits = {}): XmlRpcValue {
  const root = parseTree(xml, limits);
  if (root.name !== "methodResponse") throw invalid(`expected <methodResponse>, found <${root.name}>`);
  const fault = root.children.find((c) => c.name === "fault");
  if (fault) {
    const [value] = elements(fault);
    const decoded = value ? decodeValue(value) : null;
    const struct = (decoded ?? {}) as Record<string, XmlRpcValue>;
    throw new XmlRpcFault(Number(struct.faultCode ?? 0), String(struct.faultString ?? "fault"));
  }
  const params = root.children.find((c) => c.name === "params");
  const param = params ? elements(params)[0] : undefined;
  const value = param ? elements(param)[0] : undefined;
  if (!value) throw invalid("<methodResponse> without a value");
  return decodeValue(value);
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
