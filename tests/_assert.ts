/**
 * The few assertions the tests use, written here because `jsr:@std/assert` cannot
 * be reached from this project's registries.
 *
 * @module
 */

/** Thrown when an assertion fails. */
export class AssertionError extends Error {
  /** Creates the error. */
  constructor(message: string) {
    super(message);
    this.name = "AssertionError";
  }
}

function show(value: unknown): string {
  try {
    return Deno.inspect(value, { depth: 8, iterableLimit: 50, strAbbreviateSize: 400 });
  } catch {
    return String(value);
  }
}

function deepEqual(a: unknown, b: unknown): boolean {
  if (Object.is(a, b)) return true;
  if (typeof a !== typeof b || a === null || b === null || typeof a !== "object") return false;
  if (a instanceof Date && b instanceof Date) return a.getTime() === b.getTime();
  if (ArrayBuffer.isView(a) && ArrayBuffer.isView(b)) {
    if (a.constructor !== b.constructor) return false;
    const x = a as unknown as ArrayLike<unknown>;
    const y = b as unknown as ArrayLike<unknown>;
    if (x.length !== y.length) return false;
    for (let i = 0; i < x.length; i++) if (!Object.is(x[i], y[i])) return false;
    return true;
  }
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (a instanceof Map && b instanceof Map) {
    if (a.size !== b.size) return false;
    for (const [key, value] of a) if (!b.has(key) || !deepEqual(value, b.get(key))) return false;
    return true;
  }
  if (a instanceof Set && b instanceof Set) return a.size === b.size && [...a].every((v) => b.has(v));
  const keysA = Object.keys(a as object).filter((k) => (a as Record<string, unknown>)[k] !== undefined);
  const keysB = Object.keys(b as object).filter((k) => (b as Record<string, unknown>)[k] !== undefined);
  if (keysA.length !== keysB.length) return false;
  return keysA.every((key) =>
    deepEqual((a as Record<string, unknown>)[key], (b as Record<string, unknown>)[key])
  );
}

/** Asserts that `condition` is truthy. */
export function assert(condition: unknown, message = "Assertion failed"): asserts condition {
  if (!condition) throw new AssertionError(message);
}

/** Asserts deep equality (undefined-valued keys are ignored, as in std's assertEquals). */
export function assertEquals<T>(actual: T, expected: T, message?: string): void {
  if (!deepEqual(actual, expected)) {
    throw new AssertionError(
      `${message ? `${message}: ` : ""}values differ\n  actual:   ${show(actual)}\n  expected: ${
        show(expected)
      }`,
    );
  }
}

/** Asserts that two values are not deeply equal. */
export function assertNotEquals<T>(actual: T, expected: T, message?: string): void {
  if (deepEqual(actual, expected)) {
    throw new AssertionError(message ?? `expected a value other than ${show(expected)}`);
  }
}

/** Asserts that `actual` matches `pattern`. */
export function assertMatch(actual: string, pattern: RegExp, message?: string): void {
  if (!pattern.test(actual)) {
    throw new AssertionError(`${message ? `${message}: ` : ""}${show(actual)} does not match ${pattern}`);
  }
}

/** Asserts that `actual` contains `expected`. */
export function assertStringIncludes(actual: string, expected: string, message?: string): void {
  if (!actual.includes(expected)) {
    throw new AssertionError(
      `${message ? `${message}: ` : ""}${show(actual)} does not include ${show(expected)}`,
    );
  }
}

/** Asserts that |actual - expected| <= tolerance. */
export function assertAlmostEquals(
  actual: number,
  expected: number,
  tolerance = 1e-7,
  message?: string,
): void {
  if (!(Math.abs(actual - expected) <= tolerance)) {
    throw new AssertionError(
      `${message ? `${message}: ` : ""}${actual} is not within ${tolerance} of ${expected}`,
    );
  }
}

type ErrorClass = new (...args: never[]) => Error;

/** Asserts that `fn` throws (an instance of `errorClass`, with `includes` in its message). */
export function assertThrows(fn: () => unknown, errorClass?: ErrorClass, includes?: string): Error {
  try {
    fn();
  } catch (error) {
    checkError(error, errorClass, includes);
    return error as Error;
  }
  throw new AssertionError("Expected the function to throw");
}

/** Asserts that `fn` rejects (with an instance of `errorClass`, with `includes` in its message). */
export async function assertRejects(
  fn: () => Promise<unknown>,
  errorClass?: ErrorClass,
  includes?: string,
): Promise<Error> {
  try {
    await fn();
  } catch (error) {
    checkError(error, errorClass, includes);
    return error as Error;
  }
  throw new AssertionError("Expected the promise to reject");
}

function checkError(error: unknown, errorClass?: ErrorClass, includes?: string): void {
  if (errorClass && !(error instanceof errorClass)) {
    throw new AssertionError(`Expected ${errorClass.name}, got ${show(error)}`);
  }
  if (includes && !(error instanceof Error && error.message.includes(includes))) {
    throw new AssertionError(`Expected an error message including ${show(includes)}, got ${show(error)}`);
  }
}
