/**
 * What the stages' band sweeps share: the masters open beside the frames, their
 * bands read first into each slot, and each frame's calibration against them.
 *
 * @module
 */
import type { BandInput, CalibrationTerms, DeviationTerms } from "../../../lib/ccd/mod.ts";
import { readHdus } from "../../../lib/fits/mod.ts";
import { type SharedArena, SweepInput } from "../band_sweep.ts";
import type { Master } from "../master_library.ts";

/** The masters a frame is calibrated with: a combine input's bias and dark, a light's flat too. */
export interface Calibration {
  bias: Master | null;
  dark: Master | null;
  darkScale: number;
  flat?: Master | null;
}

/** The key of a master's uncertainty among the open masters. */
function errorKey(master: Master): string {
  return `${master.path}[ERR]`;
}

/** The index of a product's `ERR` HDU, or null (a product of `Output: Format: single`, or an older one). */
export async function errorHduOf(path: string): Promise<number | null> {
  const index = (await readHdus(path)).findIndex((hdu) => hdu.name === "ERR");
  return index < 0 ? null : index;
}

/**
 * Opens each distinct master once, for bands of `rows` rows; with `errors`, each
 * master's `ERR` HDU too when it has one (read beside it, under its own key).
 */
export async function openMasters(
  arena: SharedArena,
  masters: (Master | null)[],
  rows: number,
  options: { errors?: boolean } = {},
): Promise<Map<string, SweepInput>> {
  const opened = new Map<string, SweepInput>();
  try {
    for (const master of masters) {
      if (master && !opened.has(master.path)) {
        opened.set(master.path, await SweepInput.open(master, rows, arena));
        const hdu = options.errors && master.kind !== "bad_pixel_map" ? await errorHduOf(master.path) : null;
        if (hdu !== null) {
          opened.set(errorKey(master), await SweepInput.open({ ...master, hdu }, rows, arena));
        }
      }
    }
  } catch (error) {
    for (const input of opened.values()) input.close();
    throw error;
  }
  return opened;
}

/**
 * A slot's band task inputs: every master first (decoded for the frames after it
 * to use), then the frames. A master stored as one byte a pixel (a bad-pixel
 * map's bits, see {@link storedBits}) is used as its stored bytes: not decoded.
 */
export function withMasters(
  masters: Map<string, SweepInput>,
  slot: number,
  frames: BandInput[],
): BandInput[] {
  const decoded = [...masters.values()].map((master) => {
    const input = master.input(slot);
    return storedBits(input) ? { ...input, raw: null, encoding: null } : input;
  });
  return [...decoded, ...frames];
}

/** A master's band as its stored bytes when they are the bits themselves (BITPIX 8, no overscan or trim), else null. */
export function storedBits(input: BandInput): Uint8Array | null {
  return input.encoding?.bitpix === 8 && !input.layout && input.raw ? input.raw : null;
}

/** Reads a band of every input (masters first) into a slot. */
export async function readBands(
  inputs: Iterable<SweepInput>,
  y0: number,
  rows: number,
  slot: number,
): Promise<void> {
  for (const input of inputs) await input.read(y0, rows, slot);
}

/**
 * A frame's uncertainty terms with its masters' uncertainty bands of a slot (none
 * for a master without `ERR`): what `calibrateWithDeviation` carries through.
 */
export function deviationOf(
  calibration: Calibration,
  masters: Map<string, SweepInput>,
  slot: number,
  noise: { gain: number; readNoise: number },
): DeviationTerms {
  const band = (master: Master | null | undefined) =>
    master ? masters.get(errorKey(master))?.band(slot) ?? null : null;
  return {
    gain: noise.gain,
    readNoise: noise.readNoise,
    biasError: band(calibration.bias),
    darkError: band(calibration.dark),
    flatError: band(calibration.flat),
  };
}

/** A frame's calibration with its masters' bands of a slot; null when it has no master. */
export function termsOf(
  calibration: Calibration,
  masters: Map<string, SweepInput>,
  slot: number,
  flatFloor?: number,
): CalibrationTerms | null {
  const { bias, dark, flat = null } = calibration;
  if (!bias && !dark && !flat) return null;
  const band = (master: Master | null) => master ? masters.get(master.path)!.band(slot) : null;
  return {
    bias: band(bias),
    dark: band(dark),
    darkScale: calibration.darkScale,
    flat: band(flat),
    flatMean: flat?.mean ?? 1,
    flatFloor,
  };
}
