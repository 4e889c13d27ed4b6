/**
 * The bytes of an XML-RPC body as text, in the encoding the document itself
 * names, as an XML parser reads it (XML 1.0, section 4.3.3 and appendix F) and
 * as Python's SimpleXMLRPCServer and xmlrpc.client (expat) do: a byte order
 * mark, or `<` written in two bytes, means UTF-16; otherwise the XML
 * declaration's `encoding`, and UTF-8 when it names none.
 *
 * Where the WHATWG encodings `TextDecoder` knows differ from XML's, XML's win:
 * ISO-8859-1 is Latin-1 itself, every byte the code point of the same number
 * (`TextDecoder` reads it as windows-1252), and US-ASCII refuses bytes past
 * 0x7F. A byte order mark that contradicts the declaration is refused, where
 * expat would read the UTF-8 mark's body in the declared encoding.
 *
 * @module
 */
import { FAULT_PARSE_ERROR, XmlRpcFault } from "./values.ts";

/** Strict UTF-8 (a decode without `stream` keeps no state, so one decoder serves every body). */
const UTF8 = new TextDecoder("utf-8", { fatal: true });

/** The labels that mean Latin-1 (XML and IANA), which `TextDecoder` would read as windows-1252. */
const LATIN1_LABELS = new Set([
  "iso-8859-1",
  "iso8859-1",
  "iso88591",
  "iso_8859-1",
  "iso_8859-1:1987",
  "iso-ir-100",
  "latin1",
  "latin-1",
  "l1",
  "cp819",
  "ibm819",
  "csisolatin1",
]);

/** The labels that mean US-ASCII, which `TextDecoder` would read as windows-1252 too. */
const ASCII_LABELS = new Set(["us-ascii", "ascii", "ansi_x3.4-1968", "iso646-us", "csascii", "us"]);

/** The furthest into a body an XML declaration's end is looked for (the declaration is short). */
const DECLARATION_SPAN = 256;

/** The `encoding` of an XML declaration at the start of `text`; null when there is none. */
const DECLARED_ENCODING = /^<\?xml[ \t\r\n][^>]*?encoding[ \t\r\n]*=[ \t\r\n]*(["'])([^"']*)\1/;

function parseError(message: string): XmlRpcFault {
  return new XmlRpcFault(FAULT_PARSE_ERROR, `Parse error: ${message}`);
}

/** Latin-1: every byte is the code point of the same number. */
function decodeLatin1(bytes: Uint8Array): string {
  let text = "";
  for (let at = 0; at < bytes.length; at += 0x8000) {
    text += String.fromCharCode(...bytes.subarray(at, at + 0x8000));
  }
  return text;
}

/** The declared encoding of a body in an ASCII-compatible encoding, read from its first bytes; null for none. */
function declaredInBytes(bytes: Uint8Array, start: number): string | null {
  // "<?xml" and then a space: anything else is no declaration (a processing instruction, or none at all).
  if (
    bytes[start] !== 0x3c || bytes[start + 1] !== 0x3f || bytes[start + 2] !== 0x78 ||
    bytes[start + 3] !== 0x6d || bytes[start + 4] !== 0x6c
  ) return null;
  const end = Math.min(bytes.length, start + DECLARATION_SPAN);
  let close = start + 5;
  let named = false;
  while (close < end && bytes[close] !== 0x3e) {
    // "enc": most declarations name no encoding (Python's client writes `<?xml version='1.0'?>`), and
    // those are told apart on the bytes, with no string built (this runs for every request).
    if (bytes[close] === 0x65 && bytes[close + 1] === 0x6e && bytes[close + 2] === 0x63) named = true;
    close++;
  }
  if (!named) return null;
  return DECLARED_ENCODING.exec(String.fromCharCode(...bytes.subarray(start, close + 1)))?.[2] ?? null;
}

/** A body that is UTF-16 by its byte order mark or its first `<`: its text, checked against any declaration. */
function decodeUtf16(bytes: Uint8Array, encoding: "utf-16le" | "utf-16be"): string {
  let text: string;
  try {
    // The decoder drops a byte order mark of its own byte order.
    text = new TextDecoder(encoding, { fatal: true }).decode(bytes);
  } catch {
    throw parseError(`body is not valid ${encoding.toUpperCase()}`);
  }
  const declared = DECLARED_ENCODING.exec(text)?.[2];
  if (declared !== undefined) {
    const label = declared.toLowerCase();
    // "UTF-16" names either byte order; a named one must be this one.
    if (label !== "utf-16" && label !== encoding) {
      throw parseError(
        `the body is ${encoding.toUpperCase()} (by its first bytes) but its XML declaration says '${declared}'`,
      );
    }
  }
  return text;
}

/** Decodes a body in the encoding its XML declaration names (not UTF-8, not UTF-16). */
function decodeDeclared(bytes: Uint8Array, declared: string): string {
  const label = declared.trim().toLowerCase();
  if (LATIN1_LABELS.has(label)) return decodeLatin1(bytes);
  if (ASCII_LABELS.has(label)) {
    if (bytes.some((byte) => byte > 0x7f)) {
      throw parseError(`body declared '${declared}' has bytes past 0x7F`);
    }
    return decodeLatin1(bytes);
  }
  let decoder: TextDecoder;
  try {
    decoder = new TextDecoder(label, { fatal: true });
  } catch {
    throw parseError(`unknown encoding '${declared}' in the XML declaration`);
  }
  // "replacement" stands for encodings the web refuses to decode (ISO-2022-KR and the like).
  if (decoder.encoding === "replacement") {
    throw parseError(`unknown encoding '${declared}' in the XML declaration`);
  }
  if (decoder.encoding.startsWith("utf-16")) {
    throw parseError(`the XML declaration says '${declared}' but the body is not UTF-16 (its first bytes)`);
  }
  try {
    return decoder.decode(bytes);
  } catch {
    throw parseError(`body is not valid ${declared}`);
  }
}

/**
 * The text of an XML document's bytes, in the encoding its byte order mark or
 * XML declaration names (UTF-8 when neither does). Throws an
 * {@link XmlRpcFault} (-32700) naming the problem: bytes that are not valid
 * in that encoding, an encoding `TextDecoder` does not know, or a byte order
 * mark the declaration contradicts.
 */
export function decodeXmlBytes(bytes: Uint8Array): string {
  const first = bytes[0];
  const second = bytes[1];
  if ((first === 0xff && second === 0xfe) || (first === 0x3c && second === 0x00)) {
    return decodeUtf16(bytes, "utf-16le");
  }
  if ((first === 0xfe && second === 0xff) || (first === 0x00 && second === 0x3c)) {
    return decodeUtf16(bytes, "utf-16be");
  }
  const bom = first === 0xef && second === 0xbb && bytes[2] === 0xbf;
  const declared = declaredInBytes(bytes, bom ? 3 : 0);
  if (declared === null || declared.toLowerCase() === "utf-8" || declared.toLowerCase() === "utf8") {
    try {
      // The decoder drops a UTF-8 byte order mark.
      return UTF8.decode(bytes);
    } catch {
      throw parseError("body is not valid UTF-8");
    }
  }
  if (bom) {
    throw parseError(
      `the body starts with a UTF-8 byte order mark but its XML declaration says '${declared}'`,
    );
  }
  return decodeDeclared(bytes, declared);
}
