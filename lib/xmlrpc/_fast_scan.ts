/**
 * A scanner for the plain XML that XML-RPC clients send: an optional XML
 * declaration, elements without attributes, text with the five predefined
 * entities and character references. It accepts only documents that are
 * well-formed XML, and gives up on anything else (comments, CDATA, DOCTYPE,
 * attributes, carriage returns, characters outside ASCII names, mismatched
 * tags...), so the caller can hand those to the full parser (saxes), which then
 * decides and words any error. Requests that fit, nearly all of them, are read
 * several times faster than a general parser reads them.
 *
 * @module
 */

/** What the scanner reports, in document order (saxes' opentag, text and closetag). */
export interface ScanHandlers {
  open(name: string): void;
  text(text: string): void;
  close(): void;
}

const GT = 0x3e;
const SLASH = 0x2f;
const AMP = 0x26;

const DECLARATION =
  /^<\?xml[ \t\n]+version[ \t\n]*=[ \t\n]*(["'])1\.[0-9]+\1([ \t\n]+encoding[ \t\n]*=[ \t\n]*(["'])[A-Za-z][A-Za-z0-9._-]*\3)?([ \t\n]+standalone[ \t\n]*=[ \t\n]*(["'])(yes|no)\5)?[ \t\n]*\?>/;

const ENTITIES: Record<string, string> = { lt: "<", gt: ">", amp: "&", quot: '"', apos: "'" };

function isNameStart(c: number): boolean {
  return (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || c === 0x5f || c === 0x3a;
}

function isNameChar(c: number): boolean {
  return isNameStart(c) || (c >= 0x30 && c <= 0x39) || c === 0x2e || c === 0x2d;
}

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0a;
}

/** A character XML allows in text, among those this scanner takes (no CR, no surrogates). */
function isPlainChar(c: number): boolean {
  return c >= 0x20 ? c < 0xd800 || (c >= 0xe000 && c <= 0xfffd) : c === 0x09 || c === 0x0a;
}

/** Decodes a character reference's code point, or -1 when it is not one XML allows. */
function charRef(body: string): number {
  const hex = body.startsWith("#x");
  const digits = body.slice(hex ? 2 : 1);
  if (digits.length === 0 || digits.length > 8 || !(hex ? /^[0-9a-fA-F]+$/ : /^[0-9]+$/).test(digits)) {
    return -1;
  }
  const c = parseInt(digits, hex ? 16 : 10);
  const legal = c === 0x9 || c === 0xa || c === 0xd || (c >= 0x20 && c <= 0xd7ff) ||
    (c >= 0xe000 && c <= 0xfffd) || (c >= 0x10000 && c <= 0x10ffff);
  return legal ? c : -1;
}

/**
 * Text from `start` to `end` (no `<` inside), entities decoded; null when it
 * holds anything this scanner leaves to the full parser.
 */
function decodeText(xml: string, start: number, end: number): string | null {
  let out = "";
  let from = start;
  for (let i = start; i < end; i++) {
    const c = xml.charCodeAt(i);
    if (c === AMP) {
      const semi = xml.indexOf(";", i);
      if (semi < 0 || semi >= end || semi - i > 12) return null;
      const name = xml.slice(i + 1, semi);
      let decoded = ENTITIES[name];
      if (decoded === undefined) {
        if (name.charCodeAt(0) !== 0x23) return null;
        const code = charRef(name);
        if (code < 0) return null;
        decoded = String.fromCodePoint(code);
      }
      out += xml.slice(from, i) + decoded;
      i = semi;
      from = semi + 1;
    } else if (c === GT) {
      // "]]>" may not appear in text.
      if (i >= start + 2 && xml.charCodeAt(i - 1) === 0x5d && xml.charCodeAt(i - 2) === 0x5d) return null;
    } else if (!isPlainChar(c)) {
      return null;
    }
  }
  return from === start ? xml.slice(start, end) : out + xml.slice(from, end);
}

/**
 * Scans `xml`, reporting events to `handlers`; returns false, part way or not,
 * when the document needs the full parser (the events so far are then to be
 * discarded). Returns true only for a complete, well-formed document.
 */
export function scanPlainXml(xml: string, handlers: ScanHandlers): boolean {
  let i = 0;
  const n = xml.length;
  if (xml.startsWith("<?xml")) {
    const declaration = DECLARATION.exec(xml);
    if (!declaration) return false;
    i = declaration[0].length;
  }
  const stack: string[] = [];
  let rootClosed = false;
  while (i < n) {
    const lt = xml.indexOf("<", i);
    const textEnd = lt < 0 ? n : lt;
    if (textEnd > i) {
      if (stack.length === 0) {
        // Outside the root only whitespace.
        for (let k = i; k < textEnd; k++) if (!isSpace(xml.charCodeAt(k))) return false;
      } else {
        const text = decodeText(xml, i, textEnd);
        if (text === null) return false;
        handlers.text(text);
      }
    }
    if (lt < 0) break;
    i = lt + 1;
    const c = xml.charCodeAt(i);
    if (c === SLASH) {
      // </name  >
      const nameStart = i + 1;
      let k = nameStart;
      while (k < n && isNameChar(xml.charCodeAt(k))) k++;
      const name = xml.slice(nameStart, k);
      while (k < n && isSpace(xml.charCodeAt(k))) k++;
      if (xml.charCodeAt(k) !== GT || stack.length === 0 || stack[stack.length - 1] !== name) return false;
      stack.pop();
      handlers.close();
      if (stack.length === 0) rootClosed = true;
      i = k + 1;
      continue;
    }
    if (!isNameStart(c) || rootClosed) return false;
    let k = i + 1;
    while (k < n && isNameChar(xml.charCodeAt(k))) k++;
    const name = xml.slice(i, k);
    while (k < n && isSpace(xml.charCodeAt(k))) k++;
    const end = xml.charCodeAt(k);
    if (end === GT) {
      stack.push(name);
      handlers.open(name);
      i = k + 1;
    } else if (end === SLASH && xml.charCodeAt(k + 1) === GT) {
      handlers.open(name);
      handlers.close();
      if (stack.length === 0) rootClosed = true;
      i = k + 2;
    } else {
      return false; // attributes, or not a tag this scanner takes
    }
  }
  return rootClosed && stack.length === 0;
}
