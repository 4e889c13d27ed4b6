/**
 * Test frames shared by the reduction's tests: a deterministic generator and raw
 * camera frames as a band task reads them.
 */

/** A small deterministic generator, so a failure can be reproduced. */
export function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state * 1664525 + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

/**
 * `count` raw uint16 frames of `pixels` as cameras write them (big-endian int16
 * with BZERO 32768), each on a SharedArrayBuffer; values uniform over 0-65534.
 */
export function rawUint16Frames(count: number, pixels: number, next: () => number): Uint8Array[] {
  return Array.from({ length: count }, () => {
    const raw = new Uint8Array(new SharedArrayBuffer(pixels * 2));
    const view = new DataView(raw.buffer);
    for (let p = 0; p < pixels; p++) view.setInt16(p * 2, Math.floor(next() * 65535) - 32768);
    return raw;
  });
}
