/**
 * The scalar values of XML-RPC: the text of `<int>`, `<double>`,
 * `<dateTime.iso8601>`, `<base64>`... decoded, and struct members set, for both
 * of the codec's decoders.
 *
 * @module
 */
import { FAULT_INVALID_REQUEST, XmlRpcFault, type XmlRpcValue } from "./values.ts";

/** An invalid-request fault (-32600) with the problem named. */
export function invalid(message: string): XmlRpcFault {
  return new XmlRpcFault(FAULT_INVALID_REQUEST, `Invalid request: ${message}`);
}

// Numbers are read by hand rather than by regular expression: on a busy front desk a request's
// few numbers cost more through the regex engine (cold between requests) than through a loop.

function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

/** The end of the digits starting at `i`. */
function skipDigits(text: string, i: number): number {
  while (i < text.length && isDigit(text.charCodeAt(i))) i++;
  return i;
}

/** Whether `text` has a sign (optional) at `i` and then digits only, at least one. */
function isInteger(text: string, i = 0): boolean {
  const c = text.charCodeAt(i);
  if (c === 0x2b || c === 0x2d) i++;
  return i < text.length && skipDigits(text, i) === text.length;
}

/** Whether `text` is a decimal number, `[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?`. */
export function isDecimal(text: string): boolean {
  let i = 0;
  const c = text.charCodeAt(0);
  if (c === 0x2b || c === 0x2d) i++;
  const whole = skipDigits(text, i);
  let end = whole;
  if (text.charCodeAt(end) === 0x2e) end = skipDigits(text, end + 1);
  // Digits before or after the point (".", "+." and "" are not numbers).
  if (whole === i && end <= i + 1) return false;
  if (end === text.length) return true;
  const e = text.charCodeAt(end);
  return (e === 0x65 || e === 0x45) && isInteger(text, end + 1);
}

/** `text.trim()`, without the call when no end of it can be whitespace (all but a few are ASCII). */
function withoutSpace(text: string): string {
  const first = text.charCodeAt(0);
  const last = text.charCodeAt(text.length - 1);
  return first <= 0x20 || first >= 0x80 || last <= 0x20 || last >= 0x80 ? text.trim() : text;
}

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

/** Decodes the text of a scalar element; throws an invalid-request fault naming the bad text. */
export function decodeScalar(name: string, text: string): XmlRpcValue {
  switch (name) {
    case "int":
    case "i4": {
      const digits = withoutSpace(text);
      const n = Number(digits);
      if (!isInteger(digits) || n < -2147483648 || n > 2147483647) {
        throw invalid(`'${text}' is not an ${name}`);
      }
      return n;
    }
    case "i8":
    case "ex:i8": {
      const digits = withoutSpace(text);
      if (!isInteger(digits)) throw invalid(`'${text}' is not an i8`);
      const big = BigInt(digits);
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
      const number = withoutSpace(text);
      // Plain decimals (nearly every double) go straight to Number; nan and inf are spelled out.
      if (isDecimal(number)) return Number(number);
      if (!/^[+-]?(nan|inf|infinity)$/i.test(number)) throw invalid(`'${text}' is not a double`);
      return Number(number.replace(/^([+-]?)inf(inity)?$/i, "$1Infinity").replace(/^[+-]?nan$/i, "NaN"));
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

/**
 * Sets a struct member as an own property. A member named `__proto__` would
 * otherwise replace the struct's prototype, letting a client make keys appear
 * that it never sent.
 */
export function setMember(struct: Record<string, XmlRpcValue>, name: string, value: XmlRpcValue): void {
  if (name === "__proto__") {
    Object.defineProperty(struct, name, { value, enumerable: true, writable: true, configurable: true });
  } else {
    struct[name] = value;
  }
}
