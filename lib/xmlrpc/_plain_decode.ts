/**
 * The fast path of XML-RPC decoding: a recursive-descent reader for the plain
 * documents that clients really send (Python's xmlrpc.client, ours, most
 * others): an optional XML declaration, the XML-RPC elements in their places
 * without attributes, whitespace between them, text with the five predefined
 * entities and character references. It goes straight from the text to values,
 * with no events and no element stack.
 *
 * It accepts only well-formed documents of that shape, and declines anything
 * else, wrong or merely unusual (comments, CDATA, DOCTYPE, attributes, carriage
 * returns, mixed content, bad scalars, nesting, element count or text past the
 * limits...), by returning null: the caller then hands the text to the general
 * decoder, which decides and words the error. A test holds the two decoders to
 * the same values on real requests and thousands of mutations of them, and to
 * the same verdict at every element and text limit.
 *
 * @module
 */
import type { DecodedDocument, DecodeLimits } from "./_saxes_decode.ts";
import { decodeScalar, setMember } from "./_scalars.ts";
import type { XmlRpcValue } from "./values.ts";

const GT = 0x3e;
const LETTER_S = 0x73;
const LETTER_A = 0x61;
const AMP = 0x26;

const DECLARATION =
  /^<\?xml[ \t\n]+version[ \t\n]*=[ \t\n]*(["'])1\.[0-9]+\1([ \t\n]+encoding[ \t\n]*=[ \t\n]*(["'])[A-Za-z][A-Za-z0-9._-]*\3)?([ \t\n]+standalone[ \t\n]*=[ \t\n]*(["'])(yes|no)\5)?[ \t\n]*\?>/;

const ENTITIES: Record<string, string> = { lt: "<", gt: ">", amp: "&", quot: '"', apos: "'" };

/** A scalar element (`<name>text</name>`): its tags and its name for {@link decodeScalar}. */
interface ScalarTag {
  /** The first letter of the name, checked before the whole tag. */
  letter: number;
  open: string;
  close: string;
  name: string;
}

/** The scalar elements, the commonest first. */
const SCALAR_TAGS: ScalarTag[] = [
  "string",
  "double",
  "int",
  "boolean",
  "dateTime.iso8601",
  "i4",
  "i8",
  "base64",
  "ex:i8",
].map((name) => ({ letter: name.charCodeAt(0), open: `<${name}>`, close: `</${name}>`, name }));

/** The empty elements taken, and their values. */
const EMPTY_ELEMENTS: [string, XmlRpcValue][] = [["<nil/>", null], ["<string/>", ""], ["<ex:nil/>", null]];

/**
 * Text that {@link SIMPLE_MEMBER} takes: the characters of {@link isPlainChar} but `&`, `<` and `>`
 * (entities, and text that must be checked for `]]>`, go element by element).
 */
const TEXT = "[\\t\\n\\x20-\\x25\\x27-\\x3b\\x3d\\x3f-\\ud7ff\\ue000-\\ufffd]*";
const SPACE = "[ \\t\\n]*";

/**
 * One struct member of the commonest shape, a name and a string, number, boolean, nil or untyped
 * value, in a single match: the regular expression engine's compiled scan takes about half the time
 * of stepping through the eight tags of its four elements. Anything else (entities, dates, nested
 * values, odd characters) does not match and is read element by element.
 */
const SIMPLE_MEMBER = new RegExp(
  `<member>${SPACE}<name>(${TEXT})</name>${SPACE}<value>(?:${SPACE}(?:<string>(${TEXT})</string>|` +
    `<(double|int|i4|boolean)>(${TEXT})</\\3>|<string/>|(<nil/>))${SPACE}|(${TEXT}))</value>${SPACE}</member>`,
  "y",
);

/** How much deeper than its struct a simple member reaches (member, value, scalar). */
const SIMPLE_MEMBER_DEPTH = 3;

/** The elements of a simple member with an untyped value (member, name, value); one more for a typed one. */
const SIMPLE_MEMBER_ELEMENTS = 3;

/** Thrown inside the reader to decline the document; never leaves this module. */
const DECLINE = Symbol("decline");

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0a;
}

/** A character XML allows in text, among those this reader takes (no CR, no surrogates). */
function isPlainChar(c: number): boolean {
  return c >= 0x20 ? c < 0xd800 || (c >= 0xe000 && c <= 0xfffd) : c === 0x09 || c === 0x0a;
}

/** A scalar's value; declines bad text, which the general decoder reads again to word the fault. */
function scalarOrDecline(name: string, text: string): XmlRpcValue {
  try {
    return decodeScalar(name, text);
  } catch {
    throw DECLINE;
  }
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

/** Reads one document; every method either advances past what it read or throws {@link DECLINE}. */
class PlainReader {
  readonly #xml: string;
  readonly #maxDepth: number;
  readonly #maxElements: number;
  readonly #maxText: number;
  #at = 0;
  #depth = 0;
  /** Elements read so far, counted as saxes counts them (an empty element is one). */
  #elements = 0;

  constructor(xml: string, maxDepth: number, limits: DecodeLimits) {
    this.#xml = xml;
    this.#maxDepth = maxDepth;
    this.#maxElements = limits.maxElements ?? Infinity;
    this.#maxText = limits.maxTextLength ?? Infinity;
  }

  document(): DecodedDocument {
    const xml = this.#xml;
    if (xml.startsWith("<?xml")) {
      const declaration = DECLARATION.exec(xml);
      if (!declaration) throw DECLINE;
      this.#at = declaration[0].length;
    }
    this.#space();
    const doc: DecodedDocument = { root: "", methodName: null, params: null, fault: undefined };
    if (this.#tryOpen("<methodCall>")) {
      doc.root = "methodCall";
      this.#open("<methodName>");
      doc.methodName = this.#limited(this.#text()).trim();
      this.#close("</methodName>");
      if (this.#tryOpen("<params>")) doc.params = this.#params();
      this.#close("</methodCall>");
    } else if (this.#tryOpen("<methodResponse>")) {
      doc.root = "methodResponse";
      if (this.#tryOpen("<params>")) doc.params = this.#params();
      else {
        this.#open("<fault>");
        doc.fault = this.#value();
        this.#close("</fault>");
      }
      this.#close("</methodResponse>");
    } else {
      throw DECLINE;
    }
    this.#space();
    if (this.#at !== xml.length) throw DECLINE;
    return doc;
  }

  /** After `<params>`: the params and `</params>`. */
  #params(): XmlRpcValue[] {
    const params: XmlRpcValue[] = [];
    while (this.#tryOpen("<param>")) {
      params.push(this.#value());
      this.#close("</param>");
    }
    this.#close("</params>");
    return params;
  }

  /** Whitespace, then one `<value>...</value>`. */
  #value(): XmlRpcValue {
    this.#open("<value>");
    const xml = this.#xml;
    const textStart = this.#at;
    const text = this.#text();
    if (xml.startsWith("</value>", this.#at)) {
      // An untyped value is a string.
      this.#close("</value>");
      return this.#limited(text);
    }
    for (let k = textStart; k < this.#at; k++) if (!isSpace(xml.charCodeAt(k))) throw DECLINE;
    let value: XmlRpcValue;
    // The letter after "<" rules out most tags before any whole tag is compared.
    const letter = xml.charCodeAt(this.#at + 1);
    if (letter === LETTER_S && this.#tryOpen("<struct>")) {
      const struct: Record<string, XmlRpcValue> = {};
      const simple = this.#depth + SIMPLE_MEMBER_DEPTH <= this.#maxDepth;
      for (;;) {
        this.#space();
        if (simple && this.#simpleMember(struct)) continue;
        if (!this.#tryOpen("<member>")) break;
        this.#open("<name>");
        const name = this.#limited(this.#text());
        this.#close("</name>");
        setMember(struct, name, this.#value());
        this.#close("</member>");
      }
      this.#close("</struct>");
      value = struct;
    } else if (letter === LETTER_A && this.#tryOpen("<array>")) {
      this.#open("<data>");
      const items: XmlRpcValue[] = [];
      this.#space();
      while (xml.startsWith("<value>", this.#at)) {
        items.push(this.#value());
        this.#space();
      }
      this.#close("</data>");
      this.#close("</array>");
      value = items;
    } else {
      value = this.#scalar();
    }
    this.#close("</value>");
    return value;
  }

  /** Reads a member of {@link SIMPLE_MEMBER}'s shape into `struct`; false (nothing read) for any other. */
  #simpleMember(struct: Record<string, XmlRpcValue>): boolean {
    SIMPLE_MEMBER.lastIndex = this.#at;
    const match = SIMPLE_MEMBER.exec(this.#xml);
    if (match === null) return false;
    const [, name, string, scalar, scalarText, nil, untyped] = match;
    this.#elements += untyped === undefined ? SIMPLE_MEMBER_ELEMENTS + 1 : SIMPLE_MEMBER_ELEMENTS;
    if (this.#elements > this.#maxElements) throw DECLINE;
    let value: XmlRpcValue;
    if (string !== undefined) value = this.#limited(string);
    else if (scalar !== undefined) value = scalarOrDecline(scalar, this.#limited(scalarText));
    else if (untyped !== undefined) value = this.#limited(untyped);
    else value = nil === undefined ? "" : null;
    setMember(struct, this.#limited(name), value);
    this.#at = SIMPLE_MEMBER.lastIndex;
    return true;
  }

  /** A scalar element: `<int>...</int>` and the like, `<nil/>`, `<string/>`. */
  #scalar(): XmlRpcValue {
    const xml = this.#xml;
    const at = this.#at;
    // Matching the tags in place allocates nothing; the commonest come first.
    let scalar: ScalarTag | undefined;
    const letter = xml.charCodeAt(at + 1);
    for (const tag of SCALAR_TAGS) {
      if (tag.letter === letter && xml.startsWith(tag.open, at)) {
        scalar = tag;
        break;
      }
    }
    if (scalar === undefined) {
      for (const [tag, value] of EMPTY_ELEMENTS) {
        if (xml.startsWith(tag, at)) {
          // An empty element opens and closes at once, but counts against the nesting limit.
          this.#enter();
          this.#depth--;
          this.#at = at + tag.length;
          return value;
        }
      }
      throw DECLINE;
    }
    this.#enter();
    this.#at = at + scalar.open.length;
    const text = this.#limited(this.#text());
    this.#close(scalar.close);
    return scalarOrDecline(scalar.name, text);
  }

  /** Opens an element (after optional whitespace) or declines. */
  #open(tag: string): void {
    if (!this.#tryOpen(tag)) throw DECLINE;
  }

  /** Opens an element when it is next (after optional whitespace). */
  #tryOpen(tag: string): boolean {
    this.#space();
    if (!this.#xml.startsWith(tag, this.#at)) return false;
    this.#enter();
    this.#at += tag.length;
    return true;
  }

  /** Counts an element in, declining past the nesting or element limit (the general decoder words that fault). */
  #enter(): void {
    if (this.#depth >= this.#maxDepth || ++this.#elements > this.#maxElements) throw DECLINE;
    this.#depth++;
  }

  /** The text of a name or value, declined past the text limit (the general decoder words that fault). */
  #limited(text: string): string {
    if (text.length > this.#maxText) throw DECLINE;
    return text;
  }

  /** Closes an element (after optional whitespace: text was read up to its `<` already) or declines. */
  #close(tag: string): void {
    this.#space();
    if (!this.#xml.startsWith(tag, this.#at)) throw DECLINE;
    this.#at += tag.length;
    this.#depth--;
  }

  #space(): void {
    const xml = this.#xml;
    let at = this.#at;
    while (at < xml.length && isSpace(xml.charCodeAt(at))) at++;
    this.#at = at;
  }

  /** Text up to the next `<`, entities decoded; declines what this reader leaves to the general decoder. */
  #text(): string {
    const xml = this.#xml;
    const start = this.#at;
    const end = xml.indexOf("<", start);
    if (end < 0) throw DECLINE;
    this.#at = end;
    let out = "";
    let from = start;
    for (let i = start; i < end; i++) {
      const c = xml.charCodeAt(i);
      if (c === AMP) {
        const semi = xml.indexOf(";", i);
        if (semi < 0 || semi >= end || semi - i > 12) throw DECLINE;
        const name = xml.slice(i + 1, semi);
        let decoded = ENTITIES[name];
        if (decoded === undefined) {
          if (name.charCodeAt(0) !== 0x23) throw DECLINE;
          const code = charRef(name);
          if (code < 0) throw DECLINE;
          decoded = String.fromCodePoint(code);
        }
        out += xml.slice(from, i) + decoded;
        i = semi;
        from = semi + 1;
      } else if (c === GT) {
        // "]]>" may not appear in text.
        if (i >= start + 2 && xml.charCodeAt(i - 1) === 0x5d && xml.charCodeAt(i - 2) === 0x5d) throw DECLINE;
      } else if (!isPlainChar(c)) {
        throw DECLINE;
      }
    }
    return from === start ? xml.slice(start, end) : out + xml.slice(from, end);
  }
}

/**
 * Decodes a plain XML-RPC document straight into values; null when it is not
 * one this reader takes, and the general decoder must read it. `maxDepth` is
 * given resolved (the caller knows the default); the other limits come from
 * `limits` and default to none, as in the general decoder.
 */
export function decodePlainDocument(
  xml: string,
  maxDepth: number,
  limits: DecodeLimits = {},
): DecodedDocument | null {
  try {
    return new PlainReader(xml, maxDepth, limits).document();
  } catch (error) {
    if (error === DECLINE) return null;
    throw error;
  }
}
