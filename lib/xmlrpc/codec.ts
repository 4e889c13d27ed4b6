/**
 * XML-RPC encoding and decoding (the XML-RPC specification plus `<nil/>` and
 * `<i8>`, as Python's xmlrpc.client speaks them). Plain documents, nearly every
 * request, are read by a fast reader straight into values; anything else goes
 * to the general decoder on the maintained streaming parser saxes. A DOCTYPE is
 * refused outright (no entity expansion); element nesting is limited, and so
 * are element count and text length when the caller asks (the server does).
 *
 * @module
 */
import { decodePlainDocument } from "./_plain_decode.ts";
import {
  type DecodedDocument,
  type DecodeLimits,
  decodeWithSaxes,
  DEFAULT_MAX_DEPTH,
} from "./_saxes_decode.ts";
import { invalid } from "./_scalars.ts";
import { XmlRpcDouble, XmlRpcFault, type XmlRpcValue } from "./values.ts";

export type { DecodeLimits };

/** Decodes XML straight into values: the fast reader first, saxes for what it declines. */
function decodeDocument(xml: string, limits: DecodeLimits): DecodedDocument {
  return decodePlainDocument(xml, limits.maxDepth ?? DEFAULT_MAX_DEPTH, limits) ??
    decodeWithSaxes(xml, limits);
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
  if (!/[&<>]/.test(text)) return text;
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
  // The shape every fault has, written in one piece (a busy desk answers more refusals than anything
  // else); only a code that is not an int goes through the general encoder.
  const codeXml = Number.isInteger(code) && code >= -2147483648 && code <= 2147483647
    ? `<value><int>${code}</int></value>`
    : encodeValueXml(code);
  return '<?xml version="1.0"?>\n<methodResponse><fault><value><struct><member><name>faultCode</name>' +
    codeXml + "</member><member><name>faultString</name><value><string>" + escapeXml(message) +
    "</string></value></member></struct></value></fault></methodResponse>\n";
}
