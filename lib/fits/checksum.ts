/**
 * The FITS checksum convention (Seaman, Pence & Rots; FITS Standard 4.0 appendix J):
 * a 32-bit ones' complement sum of big-endian words, DATASUM as its decimal value,
 * and CHECKSUM as the complement encoded in 16 ASCII characters.
 *
 * @module
 */

/** A running ones' complement sum over a byte stream of any chunking. */
export class OnesComplementSum {
  // Separate 16-bit halves summed in doubles: exact for up to 2^37 words, folded at the end.
  #hi = 0;
  #lo = 0;
  #carry = new Uint8Array(4);
  #carryLength = 0;

  /** Adds bytes (continuing the word alignment of earlier calls). */
  update(bytes: Uint8Array): void {
    let start = 0;
    if (this.#carryLength > 0) {
      while (this.#carryLength < 4 && start < bytes.length) this.#carry[this.#carryLength++] = bytes[start++];
      if (this.#carryLength < 4) return;
      this.#addWords(this.#carry, 0, 4);
      this.#carryLength = 0;
    }
    const whole = start + ((bytes.length - start) & ~3);
    this.#addWords(bytes, start, whole);
    for (let i = whole; i < bytes.length; i++) this.#carry[this.#carryLength++] = bytes[i];
  }

  #addWords(bytes: Uint8Array, start: number, end: number): void {
    let hi = this.#hi;
    let lo = this.#lo;
    for (let i = start; i < end; i += 4) {
      hi += (bytes[i] << 8) | bytes[i + 1];
      lo += (bytes[i + 2] << 8) | bytes[i + 3];
    }
    this.#hi = hi;
    this.#lo = lo;
  }

  /** Adds the sum of whole words that continue the stream (when no partial word is pending). */
  addWordSum(sum: number): void {
    if (this.#carryLength !== 0) throw new RangeError("a partial word is pending");
    this.#hi += Math.floor(sum / 65536);
    this.#lo += sum % 65536;
  }

  /** The 32-bit sum so far (an incomplete final word is padded with zeros, as FITS padding is). */
  value(): number {
    let hi = this.#hi;
    let lo = this.#lo;
    if (this.#carryLength > 0) {
      const word = new Uint8Array(4);
      word.set(this.#carry.subarray(0, this.#carryLength));
      hi += (word[0] << 8) | word[1];
      lo += (word[2] << 8) | word[3];
    }
    return foldSum(hi, lo);
  }
}

/** Folds separately summed high and low 16-bit halves into a 32-bit ones' complement sum. */
export function foldSum(hi: number, lo: number): number {
  let hiCarry = Math.floor(hi / 65536);
  let loCarry = Math.floor(lo / 65536);
  while (hiCarry !== 0 || loCarry !== 0) {
    hi = (hi % 65536) + loCarry;
    lo = (lo % 65536) + hiCarry;
    hiCarry = Math.floor(hi / 65536);
    loCarry = Math.floor(lo / 65536);
  }
  return hi * 65536 + lo;
}

/** The ones' complement sum of a whole buffer. */
export function checksumOf(bytes: Uint8Array): number {
  const sum = new OnesComplementSum();
  sum.update(bytes);
  return sum.value();
}

/** Adds two 32-bit ones' complement sums. */
export function addSums(a: number, b: number): number {
  return foldSum(Math.floor(a / 65536) + Math.floor(b / 65536), (a % 65536) + (b % 65536));
}

const EXCLUDED = new Set([0x3a, 0x3b, 0x3c, 0x3d, 0x3e, 0x3f, 0x40, 0x5b, 0x5c, 0x5d, 0x5e, 0x5f, 0x60]);

/**
 * Encodes a sum as the 16-character CHECKSUM string; with `complement` (the
 * convention for CHECKSUM) the complement of the sum is encoded, so the HDU then sums to -0.
 */
export function encodeChecksum(sum: number, complement = true): string {
  const value = complement ? 0xffffffff - sum : sum;
  const ascii = new Array<number>(16);
  for (let i = 0; i < 4; i++) {
    const byte = Math.floor(value / 2 ** (24 - 8 * i)) & 0xff;
    const quotient = Math.floor(byte / 4) + 0x30;
    const remainder = byte % 4;
    const ch = [quotient + remainder, quotient, quotient, quotient];
    // Shift pairs away from punctuation so the string stays alphanumeric.
    for (let changed = true; changed;) {
      changed = false;
      for (let j = 0; j < 4; j += 2) {
        while (EXCLUDED.has(ch[j]) || EXCLUDED.has(ch[j + 1])) {
          ch[j]++;
          ch[j + 1]--;
          changed = true;
        }
      }
    }
    for (let j = 0; j < 4; j++) ascii[4 * j + i] = ch[j];
  }
  // The encoded bytes are rotated one place right so they line up with word boundaries in the card.
  return String.fromCharCode(...ascii.map((_, i) => ascii[(i + 15) % 16]));
}

const HOST_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/**
 * The high and low 16-bit halves' sums of big-endian words read as host (little-endian)
 * words: a word's bytes b0 b1 b2 b3 are `b0 | b1 << 8 | b2 << 16 | b3 << 24`, so
 * masking the even and the odd bytes adds two bytes a lane at once, and runs of
 * 256 words (each lane at most 255 · 256) never carry into the next lane.
 */
function wordSums(words: Uint32Array): [number, number] {
  let hi = 0;
  let lo = 0;
  for (let k = 0; k < words.length;) {
    const stop = Math.min(words.length, k + 256);
    let even = 0; // b0 + b2 · 65536
    let odd = 0; // b1 + b3 · 65536
    for (; k < stop; k++) {
      const w = words[k];
      even += w & 0x00ff00ff;
      odd += (w >>> 8) & 0x00ff00ff;
    }
    hi += (even & 0xffff) * 256 + (odd & 0xffff);
    lo += (even >>> 16) * 256 + (odd >>> 16);
  }
  return [hi, lo];
}

/**
 * The ones' complement sum of `bytes[start, end)` as they lie in a data unit,
 * `bytes[start]` at byte `position` of it: each byte counted in its place in
 * the data unit's 32-bit words, so the sums of consecutive pieces of any length
 * (a uint8 image's bands, slices of them) add up with {@link addSums} to the
 * sum of the whole.
 */
export function positionedSum(bytes: Uint8Array, start: number, end: number, position: number): number {
  let hi = 0;
  let lo = 0;
  let i = start;
  // Up to the next word boundary, byte by byte; then whole words.
  for (; i < end && (position + i - start) % 4 !== 0; i++) {
    const lane = (position + i - start) % 4;
    if (lane === 1) hi += bytes[i];
    else if (lane === 2) lo += bytes[i] << 8;
    else lo += bytes[i];
  }
  if (HOST_LITTLE_ENDIAN && ((bytes.byteOffset + i) & 3) === 0) {
    const count = (end - i) >> 2;
    const [wordsHi, wordsLo] = wordSums(new Uint32Array(bytes.buffer, bytes.byteOffset + i, count));
    hi += wordsHi;
    lo += wordsLo;
    i += count * 4;
  }
  for (; i + 4 <= end; i += 4) {
    hi += (bytes[i] << 8) | bytes[i + 1];
    lo += (bytes[i + 2] << 8) | bytes[i + 3];
  }
  for (let lane = 0; i < end; i++, lane++) {
    if (lane === 0) hi += bytes[i] << 8;
    else if (lane === 1) hi += bytes[i];
    else lo += bytes[i] << 8;
  }
  return foldSum(hi, lo);
}
