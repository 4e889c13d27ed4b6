/**
 * FITS header cards (FITS Standard 4.0, section 4): parsing one 80-character
 * card image into key, value and comment, and formatting cards back, including
 * long strings (`CONTINUE`), `HIERARCH` keys and commentary cards.
 *
 * @module
 */

/** A header value: string, number, integer too large for a number (bigint), logical, complex, or undefined (null). */
export type CardValue = string | number | bigint | boolean | { re: number; im: number } | null;

/** One logical header card (a long string spans several card images). */
export interface Card {
  /** Keyword, upper case; for HIERARCH cards the words after `HIERARCH` (`ESO DET CHIP`). */
  key: string;
  /** Value; absent for commentary cards (COMMENT, HISTORY, blank); null for an undefined value. */
  value?: CardValue;
  /** Comment after `/`, or the text of a commentary card. */
  comment?: string;
  /** The original card images, kept so an unchanged header is written back byte for byte. */
  images?: string[];
  /** True for a HIERARCH card. */
  hierarch?: boolean;
}

/** Keywords whose cards carry text, not a value. */
export const COMMENTARY_KEYS: ReadonlySet<string> = new Set(["COMMENT", "HISTORY", ""]);

/** Thrown by {@link parseValue} for a value field that is not FITS. */
export class CardSyntaxError extends Error {
  /** Creates the error. */
  constructor(message: string) {
    super(message);
    this.name = "CardSyntaxError";
  }
}

const INTEGER = /^[+-]?\d+$/;
const FLOAT = /^[+-]?(\d+\.?\d*|\.\d+)([EeDd][+-]?\d+)?$/;

function parseNumber(text: string): number | bigint | null {
  if (INTEGER.test(text)) {
    const n = Number(text);
    return Number.isSafeInteger(n) ? n : BigInt(text);
  }
  if (FLOAT.test(text)) return Number(text.replace(/[Dd]/, "E"));
  return null;
}

/**
 * Parses a value field (columns 11-80, or after `=` of a HIERARCH card):
 * returns the value, the comment, and for strings whether it ends in `&` (CONTINUE follows).
 */
export function parseValue(field: string): { value: CardValue; comment?: string; continues: boolean } {
  const text = field.trimStart();
  if (text.startsWith("'")) {
    let value = "";
    let i = 1;
    for (;;) {
      const quote = text.indexOf("'", i);
      if (quote < 0) throw new CardSyntaxError(`unterminated string ${field.trim()}`);
      value += text.slice(i, quote);
      if (text[quote + 1] === "'") {
        value += "'";
        i = quote + 2;
      } else {
        i = quote + 1;
        break;
      }
    }
    const rest = text.slice(i).trim();
    if (rest !== "" && !rest.startsWith("/")) {
      throw new CardSyntaxError(`unexpected text after string: ${rest}`);
    }
    const comment = rest.startsWith("/") ? rest.slice(1).trim() : undefined;
    // Trailing spaces in a string value are not significant (Standard 4.2.1.1); leading ones are.
    const trimmed = value.replace(/ +$/, "");
    return { value: trimmed, comment, continues: trimmed.endsWith("&") };
  }
  const slash = text.indexOf("/");
  const raw = (slash >= 0 ? text.slice(0, slash) : text).trim();
  const comment = slash >= 0 ? text.slice(slash + 1).trim() : undefined;
  if (raw === "") return { value: null, comment, continues: false };
  if (raw === "T" || raw === "F") return { value: raw === "T", comment, continues: false };
  if (raw.startsWith("(")) {
    const match = /^\(\s*([^,\s]+)\s*,\s*([^)\s]+)\s*\)$/.exec(raw);
    const re = match ? parseNumber(match[1]) : null;
    const im = match ? parseNumber(match[2]) : null;
    if (re === null || im === null) throw new CardSyntaxError(`malformed complex value ${raw}`);
    return { value: { re: Number(re), im: Number(im) }, comment, continues: false };
  }
  const number = parseNumber(raw);
  if (number === null) throw new CardSyntaxError(`unparsable value ${raw}`);
  return { value: number, comment, continues: false };
}

/** Formats a number for a header: integers as such, floats always with a `.` or exponent, exponent upper case. */
export function formatNumber(value: number | bigint): string {
  if (typeof value === "bigint") return value.toString();
  if (!Number.isFinite(value)) throw new RangeError(`${value} cannot be written in a FITS header`);
  if (Number.isInteger(value) && Math.abs(value) < 1e16) return value.toFixed(0);
  let text = String(value).toUpperCase();
  if (!text.includes(".") && text.includes("E")) text = text.replace("E", ".0E");
  if (!text.includes(".") && !text.includes("E")) text += ".0";
  return text.length <= 20 ? text : value.toPrecision(15).toUpperCase();
}

/** Formats a float so it reads back as a float (`3` becomes `3.0`). */
export function formatFloat(value: number): string {
  const text = formatNumber(value);
  return /[.E]/.test(text) ? text : `${text}.0`;
}

function formatScalar(value: Exclude<CardValue, string>): string {
  if (value === null) return "";
  if (typeof value === "boolean") return value ? "T" : "F";
  if (typeof value === "object") return `(${formatFloat(value.re)}, ${formatFloat(value.im)})`;
  return formatNumber(value);
}

function quote(text: string): string {
  return `'${text.replaceAll("'", "''").padEnd(8)}'`;
}

function pad80(text: string): string {
  return text.length >= 80 ? text.slice(0, 80) : text.padEnd(80);
}

function keyField(key: string): string {
  return key.padEnd(8);
}

/** Splits text into pieces whose quoted form (with `''` escapes and an `&`) fits `room` characters. */
function splitForContinue(text: string, room: number): string[] {
  const pieces: string[] = [];
  let current = "";
  let length = 0;
  for (const ch of text) {
    const width = ch === "'" ? 2 : 1;
    if (length + width > room) {
      pieces.push(current);
      current = "";
      length = 0;
    }
    current += ch;
    length += width;
  }
  pieces.push(current);
  return pieces;
}

/** Formats one logical card into its card images (several for long strings and long commentary). */
export function formatCard(card: Card): string[] {
  const key = card.key.toUpperCase() === card.key || card.hierarch ? card.key : card.key.toUpperCase();
  if (card.value === undefined) {
    const text = card.comment ?? "";
    const images: string[] = [];
    for (let i = 0; i === 0 || i < text.length; i += 72) {
      images.push(pad80(`${keyField(key)}${text.slice(i, i + 72)}`));
    }
    return images;
  }
  const prefix = card.hierarch ? `HIERARCH ${key} = ` : `${keyField(key)}= `;
  const comment = card.comment ? ` / ${card.comment}` : "";
  if (typeof card.value === "string") {
    // Short strings fill the fixed-format value field (columns 11-30) as astropy and cfitsio write them;
    // astropy re-renders cards this way when it verifies CHECKSUM, so the bytes must agree.
    const quoted = card.hierarch ? quote(card.value) : quote(card.value).padEnd(20);
    if (prefix.length + quoted.length + comment.length <= 80) return [pad80(prefix + quoted + comment)];
    if (prefix.length + quoted.trimEnd().length <= 80) return [pad80(prefix + quoted)];
    // Long string convention: each piece ends in '&' and the rest follows in CONTINUE cards.
    const firstRoom = 80 - prefix.length - 3;
    const pieces = splitForContinue(card.value, Math.min(firstRoom, 67));
    const images = pieces.map((piece, index) => {
      const head = index === 0 ? prefix : "CONTINUE  ";
      const last = index === pieces.length - 1;
      return { head, piece, amp: !last };
    });
    const last = images[images.length - 1];
    const lastLength = last.head.length + last.piece.replaceAll("'", "''").length + 2;
    const commentFits = lastLength + comment.length <= 80;
    if (comment && !commentFits) {
      // The comment does not fit beside the last piece: an empty CONTINUE card carries it.
      last.amp = true;
      images.push({ head: "CONTINUE  ", piece: "", amp: false });
    }
    return images.map(({ head, piece, amp }, index) =>
      pad80(
        `${head}'${piece.replaceAll("'", "''")}${amp ? "&" : ""}'${
          index === images.length - 1 ? comment : ""
        }`,
      )
    );
  }
  const scalar = formatScalar(card.value);
  const field = card.hierarch ? scalar : scalar.padStart(20);
  return [pad80(prefix + field + comment)];
}

/** The value of a card image's keyword field (columns 1-8), trimmed. */
export function keywordOf(image: string): string {
  return image.slice(0, 8).trimEnd();
}
