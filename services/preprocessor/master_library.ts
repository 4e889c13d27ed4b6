/**
 * The masters a night calibrates with, through one lookup: the master made
 * tonight for the frame's shape (and filter, or the nearest exposure time), else
 * the closest in time from another night in the catalog, else none, each answer
 * with the warning its products carry. Borrowed masters are looked up once per
 * kind, shape and filter or exposure time.
 *
 * @module
 */
import { basename } from "node:path";
import type { RawFrame } from "./ingest.ts";
import type { NightCatalog } from "./night_catalog.ts";
import { FrameSource } from "./frame_source.ts";
import { formatSeconds } from "./products.ts";
import { shapeOf, shapeSuffix } from "./stages/stage.ts";

/** The kinds of master (the bad-pixel map is looked up as one). */
export type MasterKind = "master_bias" | "master_dark" | "master_flat" | "bad_pixel_map";

/** A master available to calibrate with: made tonight or borrowed from another night. */
export interface Master {
  id: number;
  kind: MasterKind;
  path: string;
  exposureTime: number;
  /** Mean of the floored flat, for flats. */
  mean: number;
  /** Set when borrowed: a sentence saying from where. */
  borrowed: string | null;
  /** Made in this run (not kept): what was made with an older copy is out of date. */
  remade: boolean;
  /** The detector's temperature (°C) of its frames, when known (darks are matched by it). */
  temperature?: number | null;
}

/** A lookup's answer: the master to use (none: skip the step) and the warning its products carry. */
export interface MasterChoice {
  master: Master | null;
  /** Borrowed from where, or a stand-in (a dark of another exposure time), or why there is none. */
  note: string | null;
  /** A dark whose temperature is beyond the tolerance from the frame's (said in `note` too). */
  temperature?: { frame: number; master: number } | null;
}

/** What a master of tonight is for: its frames' shape and filter or exposure time. */
export interface MasterKey {
  filter?: string | null;
  exposureTime?: number;
  /** A dark's set point (`SET-TEMP`), when its frames had one. */
  setPoint?: number | null;
}

/** A master made (or kept) tonight, with what it is for: handed to the tasks that use it on other hosts. */
export interface TonightMaster {
  master: Master;
  /** Its frames' shape (`2048x2048@1x1`). */
  shape: string;
  key: MasterKey;
}

/** Tonight's masters and the borrowed ones, for the stages to look up. */
export class MasterLibrary {
  readonly #catalog: NightCatalog;
  readonly #flatFloor: number;
  readonly #bandRows: number;
  readonly #temperatureTolerance: number;
  readonly #warn: (warning: string) => void;
  /** The first frame of each shape: the time borrowed masters are closest to. */
  readonly #samples = new Map<string, RawFrame>();
  readonly #tonight = new Map<string, Master>();
  readonly #made: TonightMaster[] = [];
  readonly #borrowed = new Map<string, Promise<Master | null>>();

  /** A library over the catalog; `warn` receives warnings about the whole night. */
  constructor(
    catalog: NightCatalog,
    options: {
      flatFloor: number;
      bandRows: number;
      temperatureTolerance?: number;
      warn: (warning: string) => void;
    },
  ) {
    this.#catalog = catalog;
    this.#flatFloor = options.flatFloor;
    this.#bandRows = options.bandRows;
    this.#temperatureTolerance = options.temperatureTolerance ?? Infinity;
    this.#warn = options.warn;
  }

  /** Registers the night's frames: the first of each shape dates the masters borrowed for it. */
  addFrames(frames: RawFrame[]): void {
    for (const frame of frames) {
      if (!this.#samples.has(shapeOf(frame))) this.#samples.set(shapeOf(frame), frame);
    }
  }

  /** Adds a master made (or kept) tonight for frames like `frame`. */
  add(master: Master, frame: RawFrame, key: MasterKey = {}): void {
    this.adopt({ master, shape: shapeOf(frame), key });
  }

  /** Adds a master of tonight made elsewhere (by another task of the night, perhaps on another host). */
  adopt(made: TonightMaster): void {
    this.#tonight.set(tonightKey(made.master.kind, made.shape, made.key), made.master);
    this.#made.push(made);
  }

  /** Tonight's masters added so far, in the order they came. */
  tonight(): TonightMaster[] {
    return [...this.#made];
  }

  /**
   * The master bias for `frame`: tonight's, else borrowed. The first time a shape
   * has no bias of tonight, the night is warned (borrowed from where, or none).
   */
  async bias(frame: RawFrame): Promise<MasterChoice> {
    const own = this.#tonight.get(tonightKey("master_bias", shapeOf(frame)));
    if (own) return { master: own, note: own.borrowed };
    const first = !this.#borrowed.has(borrowKey("master_bias", shapeOf(frame)));
    const borrowed = await this.#borrow("master_bias", frame);
    if (first) {
      const shapes = new Set([...this.#samples.keys()]).size;
      const where = shapes > 1 ? ` for ${shapeSuffix(shapeOf(frame)).slice(1)}` : "";
      this.#warn(borrowed ? borrowed.borrowed! : `no bias frames${where}: bias not subtracted`);
    }
    return { master: borrowed, note: borrowed?.borrowed ?? null };
  }

  /**
   * The master dark for a frame of `exposureTime` s: tonight's of that time, else
   * tonight's nearest (scaled), else one of that time borrowed. None for 0 s. A
   * frame with a temperature gets a dark within the tolerance of it when there
   * is one (tonight's, else borrowed); a dark beyond it is used only with a note saying so.
   */
  async dark(frame: RawFrame, exposureTime: number): Promise<MasterChoice> {
    if (exposureTime <= 0) return { master: null, note: null };
    const outside = (master: Master) => this.#beyondTolerance(frame, master) ? 1 : 0;
    let nearest: Master | null = null;
    const shapeDarks = `master_dark|${shapeOf(frame)}|`;
    for (const [key, master] of this.#tonight) {
      if (!key.startsWith(shapeDarks)) continue;
      if (
        !nearest || outside(master) < outside(nearest) ||
        (outside(master) === outside(nearest) &&
          Math.abs(master.exposureTime - exposureTime) < Math.abs(nearest.exposureTime - exposureTime))
      ) {
        nearest = master;
      }
    }
    if (nearest && outside(nearest) === 1) {
      // Tonight's darks were taken at another temperature: another night's at this one, if there is one.
      const matching = await this.#borrow("master_dark", frame, {
        exposureTime,
        temperature: frame.temperature,
      });
      if (matching && !this.#beyondTolerance(frame, matching)) {
        return { master: usableDark(matching), note: matching.borrowed };
      }
    }
    if (nearest) {
      const notes = nearest.exposureTime === exposureTime
        ? []
        : [`no ${formatSeconds(exposureTime)} s dark: ${basename(nearest.path)} scaled by exposure time`];
      return this.#withTemperature(frame, usableDark(nearest), notes, nearest.borrowed);
    }
    const borrowed = await this.#borrow("master_dark", frame, {
      exposureTime,
      temperature: frame.temperature,
    });
    return borrowed
      ? this.#withTemperature(frame, usableDark(borrowed), [], borrowed.borrowed)
      : { master: null, note: "no master dark: dark not subtracted" };
  }

  /** Whether a dark's temperature is known to be beyond the tolerance from the frame's. */
  #beyondTolerance(frame: RawFrame, master: Master): boolean {
    const [t, m] = [frame.temperature, master.temperature ?? null];
    return t !== null && m !== null && Math.abs(t - m) > this.#temperatureTolerance;
  }

  /** A dark's choice, with the note of a temperature beyond the tolerance when it is. */
  #withTemperature(
    frame: RawFrame,
    master: Master | null,
    notes: string[],
    borrowed: string | null,
  ): MasterChoice {
    const all = borrowed ? [borrowed, ...notes] : notes;
    if (master && this.#beyondTolerance(frame, master)) {
      const [t, m] = [frame.temperature!, master.temperature!];
      all.push(
        `${basename(master.path)} taken at ${m.toFixed(1)} °C, the frame at ${t.toFixed(1)} °C ` +
          `(beyond the ${this.#temperatureTolerance} °C tolerance): no dark at this temperature`,
      );
      return { master, note: all.join("; "), temperature: { frame: t, master: m } };
    }
    return { master, note: all.length > 0 ? all.join("; ") : null };
  }

  /** The bad-pixel map for `frame`'s shape: tonight's, else the closest in time of another night, else none. */
  async badPixels(frame: RawFrame): Promise<Master | null> {
    return this.#tonight.get(tonightKey("bad_pixel_map", shapeOf(frame))) ??
      await this.#borrow("bad_pixel_map", frame);
  }

  /**
   * The closest good master of another night for frames like `frame` (one no
   * quality-control verdict found fault with), or null: what a master of too few
   * frames is replaced by when `Quality Control: Few Frames` is `borrow`.
   */
  async goodElsewhere(kind: MasterKind, frame: RawFrame, key: MasterKey = {}): Promise<Master | null> {
    return await this.#findElsewhere(kind, this.#samples.get(shapeOf(frame)) ?? frame, key, true);
  }

  /** The master flat for `frame`'s filter: tonight's, else borrowed. */
  async flat(frame: RawFrame): Promise<MasterChoice> {
    const own = this.#tonight.get(tonightKey("master_flat", shapeOf(frame), { filter: frame.filter }));
    if (own) return { master: own, note: own.borrowed };
    const borrowed = await this.#borrow("master_flat", frame, { filter: frame.filter });
    return {
      master: borrowed,
      note: borrowed ? borrowed.borrowed : `no flat for filter ${frame.filter ?? "(none)"}: not flat-fielded`,
    };
  }

  /** The one lookup of other nights' masters, once per kind, shape and filter or exposure time (and temperature). */
  #borrow(
    kind: MasterKind,
    frame: RawFrame,
    key: MasterKey & { temperature?: number | null } = {},
  ): Promise<Master | null> {
    const cacheKey = borrowKey(kind, shapeOf(frame), key);
    let found = this.#borrowed.get(cacheKey);
    if (!found) {
      found = this.#findElsewhere(kind, this.#samples.get(shapeOf(frame)) ?? frame, key);
      this.#borrowed.set(cacheKey, found);
    }
    return found;
  }

  async #findElsewhere(
    kind: MasterKind,
    sample: RawFrame,
    key: MasterKey & { temperature?: number | null },
    goodOnly = false,
  ): Promise<Master | null> {
    const record = await this.#catalog.findMaster({
      kind,
      width: sample.width,
      height: sample.height,
      binning: sample.binning,
      filter: key.filter,
      exposureTime: key.exposureTime,
      near: sample.dateObs,
      temperature: key.temperature,
      temperatureTolerance: this.#temperatureTolerance,
      goodOnly,
    });
    if (!record) return null;
    try {
      await Deno.stat(record.path);
    } catch {
      return null;
    }
    return {
      id: record.id,
      kind,
      path: record.path,
      exposureTime: record.exposureTime ?? 0,
      mean: kind === "master_flat" ? await flooredMean(record.path, this.#flatFloor, this.#bandRows) : NaN,
      borrowed: `${kind.replaceAll("_", " ")} borrowed from ${record.path} (${
        record.dateObs ?? "date unknown"
      })`,
      remade: false,
      temperature: record.temperature,
    };
  }
}

function tonightKey(kind: MasterKind, shape: string, key: MasterKey = {}): string {
  if (kind === "master_flat") return `${kind}|${shape}|${key.filter ?? ""}`;
  if (kind === "master_dark") return `${kind}|${shape}|${key.exposureTime}|${key.setPoint ?? ""}`;
  return `${kind}|${shape}`;
}

function borrowKey(
  kind: MasterKind,
  shape: string,
  key: MasterKey & { temperature?: number | null } = {},
): string {
  return `${kind}|${shape}|${key.filter ?? ""}|${key.exposureTime ?? ""}|${key.temperature ?? ""}`;
}

/** A dark calibrates only when it has an exposure time to scale by. */
function usableDark(dark: Master): Master | null {
  return dark.exposureTime > 0 ? dark : null;
}

/** Mean of max(value, floor) of a product file, streamed (for a kept or borrowed flat). */
export async function flooredMean(path: string, floor: number, bandRows: number): Promise<number> {
  const source = await FrameSource.open({ path });
  try {
    const band = new Float32Array(bandRows * source.width);
    let sum = 0;
    let count = 0;
    for (let y0 = 0; y0 < source.height; y0 += bandRows) {
      const rows = Math.min(bandRows, source.height - y0);
      await source.readBand(y0, rows, band);
      for (let i = 0; i < rows * source.width; i++) {
        const v = band[i];
        if (v === v) {
          sum += v < floor ? floor : v;
          count++;
        }
      }
    }
    return count > 0 ? sum / count : NaN;
  } finally {
    source.close();
  }
}
