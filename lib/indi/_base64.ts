/**
 * An incremental base64 decoder over bytes: a BLOB's payload arrives in TCP
 * reads of any size, with line breaks anywhere, and is decoded piece by piece
 * without ever being held whole (as text or as bytes).
 *
 * @module
 */

const WHITESPACE = -1;
const PAD = -2;
const INVALID = -3;

const TABLE = (() => {
  const table = new Int8Array(256).fill(INVALID);
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  for (let i = 0; i < alphabet.length; i++) table[alphabet.charCodeAt(i)] = i;
  for (const c of " \t\r\n") table[c.charCodeAt(0)] = WHITESPACE;
  table["=".charCodeAt(0)] = PAD;
  return table;
})();

/** Decodes one base64 payload given in pieces; whitespace anywhere is skipped. */
export class Base64Decoder {
  #acc = 0;
  #bits = 0;
  #padded = false;
  #decoded = 0;
  #seen = 0;

  /** Bytes decoded so far. */
  get decoded(): number {
    return this.#decoded;
  }

  /** The most bytes {@link decode} can produce from `length` input bytes. */
  static maxOutput(length: number): number {
    return Math.ceil(length * 3 / 4) + 1;
  }

  /**
   * Decodes `input` into `output` (at least {@link Base64Decoder.maxOutput} bytes)
   * and returns how many bytes were written. Throws on a character that is not base64.
   */
  decode(input: Uint8Array, output: Uint8Array): number {
    let acc = this.#acc;
    let bits = this.#bits;
    let out = 0;
    for (let i = 0; i < input.length; i++) {
      const code = TABLE[input[i]];
      if (code >= 0) {
        if (this.#padded) throw this.#invalid("data after '=' padding", i);
        acc = ((acc & 0xff) << 6) | code;
        bits += 6;
        if (bits >= 8) {
          bits -= 8;
          output[out++] = acc >> bits;
        }
      } else if (code === PAD) {
        this.#padded = true;
      } else if (code !== WHITESPACE) {
        throw this.#invalid(`character 0x${input[i].toString(16).padStart(2, "0")}`, i);
      }
    }
    this.#seen += input.length;
    this.#acc = acc;
    this.#bits = bits;
    this.#decoded += out;
    return out;
  }

  /** Checks that the payload ended on a whole byte; throws when it was cut short. */
  finish(): void {
    // 6 leftover bits mean one character of a group of four: no whole byte can come of it.
    if (this.#bits === 6) throw new Error(`Invalid base64: the payload ends in the middle of a byte`);
  }

  #invalid(what: string, index: number): Error {
    return new Error(`Invalid base64: ${what} at payload byte ${this.#seen + index}`);
  }
}
