/**
 * A FITS header: an ordered list of cards with case-insensitive lookup, kept
 * byte for byte when unchanged.
 *
 * @module
 */
import {
  type Card,
  CardSyntaxError,
  type CardValue,
  COMMENTARY_KEYS,
  formatCard,
  parseValue,
} from "./card.ts";

/** Size of a FITS block: headers and data units are padded to multiples of it. */
export const BLOCK_SIZE = 2880;

/** Length of one card image. */
export const CARD_SIZE = 80;

const END_IMAGE = "END".padEnd(CARD_SIZE);

function normalizeKey(key: string): string {
  const upper = key.trim().toUpperCase();
  return upper.startsWith("HIERARCH ") ? upper.slice(9).trim() : upper;
}

/** Turns card images (without END) into logical cards, joining CONTINUE long strings. */
export function cardsFromImages(images: string[], onProblem?: (problem: string) => void): Card[] {
  const cards: Card[] = [];
  for (const image of images) {
    const keyword = image.slice(0, 8).trimEnd();
    const previous = cards[cards.length - 1];
    if (
      keyword === "CONTINUE" && previous && typeof previous.value === "string" && previous.value.endsWith("&")
    ) {
      try {
        const piece = parseValue(image.slice(10));
        if (typeof piece.value === "string") {
          previous.value = previous.value.slice(0, -1) + piece.value;
          if (piece.comment) {
            previous.comment = previous.comment ? `${previous.comment} ${piece.comment}` : piece.comment;
          }
          previous.images!.push(image);
          continue;
        }
      } catch { /* not a long-string continuation: keep it as its own card */ }
    }
    let card: Card;
    if (keyword === "HIERARCH" && image.includes("=")) {
      const eq = image.indexOf("=");
      card = { key: image.slice(9, eq).trim(), hierarch: true, images: [image] };
      Object.assign(card, parseOrKeep(image.slice(eq + 1), card.key, onProblem));
    } else if (image.slice(8, 10) === "= " && !COMMENTARY_KEYS.has(keyword)) {
      card = { key: keyword, images: [image] };
      Object.assign(card, parseOrKeep(image.slice(10), keyword, onProblem));
    } else {
      card = { key: keyword, comment: image.slice(8).trimEnd(), images: [image] };
    }
    cards.push(card);
  }
  return cards;
}

function parseOrKeep(
  field: string,
  key: string,
  onProblem?: (problem: string) => void,
): { value: CardValue; comment?: string } {
  try {
    const { value, comment } = parseValue(field);
    return comment === undefined ? { value } : { value, comment };
  } catch (error) {
    if (!(error instanceof CardSyntaxError)) throw error;
    // Like astropy, an unparsable card does not make the file unreadable: keep its text and say so.
    onProblem?.(`card ${key}: ${error.message}`);
    return { value: field.trim() };
  }
}

/** An ordered FITS header. */
export class Header {
  /** The cards in order (END excluded). */
  cards: Card[];

  /** Creates a header from cards (default: empty). */
  constructor(cards: Card[] = []) {
    this.cards = cards;
  }

  /**
   * Parses header bytes (a whole number of cards, up to and including END).
   * Throws a plain Error when there is no END card; `lib/fits` readers wrap it in a FitsError.
   */
  static parse(bytes: Uint8Array, _file?: string): Header {
    const images: string[] = [];
    const decoder = new TextDecoder("latin1");
    for (let offset = 0; offset + CARD_SIZE <= bytes.length; offset += CARD_SIZE) {
      const image = decoder.decode(bytes.subarray(offset, offset + CARD_SIZE));
      if (image.slice(0, 8) === "END     ") return new Header(cardsFromImages(images));
      images.push(image);
    }
    throw new Error("header has no END card");
  }

  #index(key: string): number {
    const wanted = normalizeKey(key);
    return this.cards.findIndex((card) => card.value !== undefined && normalizeKey(card.key) === wanted);
  }

  /** The value of the first card with this key (case-insensitive), or undefined. */
  get(key: string): CardValue | undefined {
    const index = this.#index(key);
    return index < 0 ? undefined : this.cards[index].value;
  }

  /** The value as a number (integers, floats and bigints), or undefined. */
  getNumber(key: string): number | undefined {
    const value = this.get(key);
    if (typeof value === "number") return value;
    if (typeof value === "bigint") return Number(value);
    return undefined;
  }

  /** The value as a string, or undefined when absent or not a string. */
  getString(key: string): string | undefined {
    const value = this.get(key);
    return typeof value === "string" ? value : undefined;
  }

  /** The comment of the card with this key. */
  getComment(key: string): string | undefined {
    const index = this.#index(key);
    return index < 0 ? undefined : this.cards[index].comment;
  }

  /** Whether a valued card with this key exists. */
  has(key: string): boolean {
    return this.#index(key) >= 0;
  }

  /**
   * Sets a value: replaces the first card with this key in place (keeping its
   * comment unless one is given), or appends a new card.
   */
  set(key: string, value: CardValue, comment?: string): void {
    const index = this.#index(key);
    const hierarch = normalizeKey(key).length > 8 || /[^A-Z0-9_-]/.test(normalizeKey(key));
    if (index >= 0) {
      const card = this.cards[index];
      this.cards[index] = { key: card.key, value, comment: comment ?? card.comment, hierarch: card.hierarch };
    } else {
      const card: Card = { key: hierarch ? normalizeKey(key) : key.toUpperCase(), value, hierarch };
      if (comment !== undefined) card.comment = comment;
      this.cards.push(card);
    }
  }

  /** Removes every valued card with this key. */
  delete(key: string): void {
    const wanted = normalizeKey(key);
    this.cards = this.cards.filter((card) => card.value === undefined || normalizeKey(card.key) !== wanted);
  }

  /** Appends a HISTORY card. */
  addHistory(text: string): void {
    this.cards.push({ key: "HISTORY", comment: text });
  }

  /** Appends a COMMENT card. */
  addComment(text: string): void {
    this.cards.push({ key: "COMMENT", comment: text });
  }

  /** The texts of the HISTORY cards. */
  history(): string[] {
    return this.cards.filter((card) => card.key === "HISTORY" && card.value === undefined).map((c) =>
      c.comment ?? ""
    );
  }

  /** A deep copy. */
  clone(): Header {
    return new Header(
      this.cards.map((card) => ({ ...card, images: card.images ? [...card.images] : undefined })),
    );
  }

  /** The card images, unchanged cards exactly as read. */
  images(): string[] {
    return this.cards.flatMap((card) => card.images ?? formatCard(card));
  }

  /** The header as bytes: card images, END, space padding to a whole block. */
  toBytes(): Uint8Array {
    const images = this.images();
    images.push(END_IMAGE);
    const size = Math.ceil((images.length * CARD_SIZE) / BLOCK_SIZE) * BLOCK_SIZE;
    const bytes = new Uint8Array(size).fill(0x20);
    let offset = 0;
    for (const image of images) {
      for (let i = 0; i < CARD_SIZE; i++) {
        const code = image.charCodeAt(i);
        // Header text is ASCII 32-126 (Standard 4.1.1); anything else is written as '?'.
        bytes[offset + i] = code >= 0x20 && code <= 0x7e ? code : 0x3f;
      }
      offset += CARD_SIZE;
    }
    return bytes;
  }

  /** A plain object view `{KEY: value}` of the valued cards (first occurrence wins). */
  toRecord(): Record<string, CardValue> {
    const record: Record<string, CardValue> = {};
    for (const card of this.cards) {
      if (card.value !== undefined && !(card.key in record)) record[card.key] = card.value;
    }
    return record;
  }
}
