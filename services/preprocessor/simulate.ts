/**
 * A realistic synthetic night for demos, tests and benchmarks: bias with column
 * structure and read noise, dark current with hot pixels, vignetted flats per
 * filter, stars on sky in the lights, Poisson and read noise; written as uint16
 * (BZERO = 32768) like real cameras, band by band so memory stays bounded.
 * On request: an overscan strip beside or below the image (with `BIASSEC`,
 * `TRIMSEC` and `DATASEC`) and a bias level that drifts from frame to frame and
 * along the readout, cosmic rays, twilight flats that fade, flats at other
 * levels (one saturated, one far too faint), dead pixels and more hot ones
 * ({@link simulatedDefects} says which), saturated pixels in the lights, and
 * the detector's temperature (`SET-TEMP`, `CCD-TEMP`) by frame type.
 *
 * @module
 */
import { FitsImageWriter, Header } from "../../lib/fits/mod.ts";

/** What to simulate. */
export interface SimulateOptions {
  /** Frame width and height in pixels (default 1024). */
  size?: number;
  /** PRNG seed: the same seed writes the same night (default 1). */
  seed?: number;
  bias?: number;
  darks?: number;
  flatsPerFilter?: number;
  lights?: number;
  /** Filters of the flats and lights (lights cycle through them); default ["V"]. */
  filters?: string[];
  /** Exposure time of the darks (default 60 s). */
  darkExposure?: number;
  /** Exposure time of the lights (default 60 s). */
  lightExposure?: number;
  /** Exposure time of the flats (default 5 s). */
  flatExposure?: number;
  /** Night date (default 2026-11-24). */
  date?: string;
  /**
   * An overscan strip of `size` columns right of the image (`strip: "columns"`)
   * or rows above it (`"rows"`); the bias level then drifts along the readout
   * (row by row beside a column strip, column by column beside a row strip) and
   * from frame to frame, as the strip records. Default none.
   */
  overscan?: { strip: "columns" | "rows"; size: number } | null;
  /** Cosmic-ray hits per million pixels in every frame (1 to 3 pixels each, 300-6000 ADU); default 0. */
  cosmicRays?: number;
  /** Twilight flats: each filter's flats fade by this fraction from the first to the last (default 0). */
  flatFade?: number;
  /** Each filter's i-th flat's level multiplied by `flatScales[i]` (default 1): 0.01 for a flat at 1 %, 10 to saturate one. */
  flatScales?: number[];
  /** The bias level in ADU (default 1000). */
  biasLevel?: number;
  /** Fraction of pixels with a dark current of 5-50 e⁻/s, the same in every frame (default 0.001). */
  hotPixels?: number;
  /** Fraction of pixels that are dead: 0-10 % of the light of their neighbours (default 0). */
  deadPixels?: number;
  /** Fraction of each light's pixels hit at saturation (default 0: only stars' cores saturate). */
  saturatedPixels?: number;
  /** The detector's set point (°C) by frame type, written as `SET-TEMP` and `CCD-TEMP` (within 0.2 °C of it); default none. */
  setPoints?: Partial<Record<SimulatedFrame["imageType"], number>>;
}

/** Which pixels a simulated night made hot or dead, as masks of 0 and 1 (index y·size + x of the image). */
export interface SimulatedDefects {
  hot: Uint8Array;
  dead: Uint8Array;
}

/** The hot and dead pixels {@link simulateNight} gives a night of these options. */
export function simulatedDefects(options: SimulateOptions = {}): SimulatedDefects {
  const size = options.size ?? 1024;
  const seed = options.seed ?? 1;
  const hot = new Uint8Array(size * size);
  const dead = new Uint8Array(size * size);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      if (isHot(x, y, seed, options.hotPixels ?? 0.001)) hot[y * size + x] = 1;
      if (isDead(x, y, seed, options.deadPixels ?? 0)) dead[y * size + x] = 1;
    }
  }
  return { hot, dead };
}

function isHot(x: number, y: number, seed: number, fraction: number): boolean {
  return hash01(x, y, seed + 11) < fraction;
}

function isDead(x: number, y: number, seed: number, fraction: number): boolean {
  return fraction > 0 && hash01(x, y, seed + 29) < fraction;
}

/** One file written. */
export interface SimulatedFrame {
  path: string;
  imageType: "bias" | "dark" | "flat" | "light";
  filter: string | null;
  exposureTime: number;
}

const GAIN = 1.5; // e-/ADU
const READ_NOISE_E = 9; // e-
const BIAS_LEVEL = 1000; // ADU
const SATURATE = 65535;

/** mulberry32: small, fast, deterministic. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Standard normal deviates, two at a time (Box-Muller). */
function gaussian(random: () => number): () => number {
  let spare = NaN;
  return () => {
    if (spare === spare) {
      const value = spare;
      spare = NaN;
      return value;
    }
    const u = random() || 1e-12;
    const v = random();
    const r = Math.sqrt(-2 * Math.log(u));
    spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  };
}

/** A fixed per-pixel pattern in [0, 1): the same for every frame of the night. */
function hash01(x: number, y: number, seed: number): number {
  let h = Math.imul(x, 374761393) ^ Math.imul(y, 668265263) ^ Math.imul(seed, 1274126177);
  h = Math.imul(h ^ (h >>> 13), 1274126177);
  return ((h ^ (h >>> 16)) >>> 0) / 4294967296;
}

interface Star {
  x: number;
  y: number;
  flux: number; // e-/s
  sigma: number;
}

function starsNear(stars: Star[], y: number): Star[] {
  const near: Star[] = [];
  for (const star of stars) if (Math.abs(y - star.y) <= 5 * star.sigma) near.push(star);
  return near;
}

function makeStars(size: number, seed: number): Star[] {
  const random = prng(seed * 7919 + 17);
  const count = Math.round((size * size) / 20000);
  return Array.from({ length: count }, () => ({
    x: random() * size,
    y: random() * size,
    flux: 500 * Math.pow(10, random() * 2.5),
    sigma: 1.6 + random() * 0.6,
  }));
}

/** Adds a Poisson-like deviate of mean `lambda` electrons (Gaussian approximation above 30, exact below). */
function poisson(lambda: number, random: () => number, normal: () => number): number {
  if (lambda <= 0) return 0;
  if (lambda > 30) return lambda + Math.sqrt(lambda) * normal();
  const limit = Math.exp(-lambda);
  let k = 0;
  let p = random();
  while (p > limit) {
    k++;
    p *= random();
  }
  return k;
}

function dateAt(date: string, minutesAfterSixPm: number): string {
  const base = Date.parse(`${date}T18:00:00Z`);
  return new Date(base + minutesAfterSixPm * 60_000).toISOString().slice(0, 23);
}

/** Writes a night into `nightDir` (created if needed) and returns the frames written. */
export async function simulateNight(
  nightDir: string,
  options: SimulateOptions = {},
): Promise<SimulatedFrame[]> {
  const size = options.size ?? 1024;
  const seed = options.seed ?? 1;
  const filters = options.filters ?? ["V"];
  const date = options.date ?? "2026-11-24";
  const darkExposure = options.darkExposure ?? 60;
  const lightExposure = options.lightExposure ?? 60;
  const flatExposure = options.flatExposure ?? 5;
  await Deno.mkdir(nightDir, { recursive: true });
  const stars = makeStars(size, seed);
  const plan: {
    name: string;
    type: SimulatedFrame["imageType"];
    filter: string | null;
    t: number;
    label: string;
    /** The level of a flat against the filter's first (twilight fading). */
    level?: number;
  }[] = [];
  const flatCount = options.flatsPerFilter ?? 11;
  const fade = options.flatFade ?? 0;
  for (let i = 1; i <= (options.bias ?? 11); i++) {
    plan.push({ name: `bias_${pad(i)}.fits`, type: "bias", filter: null, t: 0, label: "Bias Frame" });
  }
  for (let i = 1; i <= (options.darks ?? 11); i++) {
    plan.push({
      name: `dark_${pad(i)}.fits`,
      type: "dark",
      filter: null,
      t: darkExposure,
      label: "Dark Frame",
    });
  }
  for (const filter of filters) {
    for (let i = 1; i <= flatCount; i++) {
      plan.push({
        name: `flat_${filter}_${pad(i)}.fits`,
        type: "flat",
        filter,
        t: flatExposure,
        label: "Flat Field",
        level: (1 - (flatCount > 1 ? (fade * (i - 1)) / (flatCount - 1) : 0)) *
          (options.flatScales?.[i - 1] ?? 1),
      });
    }
  }
  for (let i = 1; i <= (options.lights ?? 20); i++) {
    const filter = filters[(i - 1) % filters.length];
    plan.push({
      name: `light_${pad(i)}.fits`,
      type: "light",
      filter,
      t: lightExposure,
      label: "Light Frame",
    });
  }
  const frames: SimulatedFrame[] = [];
  let minute = 0;
  for (let index = 0; index < plan.length; index++) {
    const frame = plan[index];
    const header = new Header();
    header.set("IMAGETYP", frame.label, "type of image");
    header.set("EXPTIME", frame.t, "[s] exposure time");
    if (frame.filter) header.set("FILTER", frame.filter, "filter name");
    header.set("DATE-OBS", dateAt(date, minute), "UTC start of exposure");
    header.set("XBINNING", 1);
    header.set("YBINNING", 1);
    header.set("GAIN", GAIN, "[e-/ADU]");
    header.set("RDNOISE", READ_NOISE_E, "[e-] read noise");
    header.set("SATURATE", SATURATE, "[ADU] saturation level");
    const setPoint = options.setPoints?.[frame.type];
    if (setPoint !== undefined) {
      header.set("SET-TEMP", setPoint, "[C] detector set point");
      header.set(
        "CCD-TEMP",
        Number((setPoint + 0.4 * (hash01(index, 0, seed + 37) - 0.5)).toFixed(2)),
        "[C] detector",
      );
    }
    header.set("INSTRUME", "TOROS simulated CCD");
    header.set("TELESCOP", "TOROS");
    if (frame.type === "light") header.set("OBJECT", "SIM FIELD");
    const strip = options.overscan ?? null;
    if (strip) {
      const [rawWidth, rawHeight] = strip.strip === "columns"
        ? [size + strip.size, size]
        : [size, size + strip.size];
      header.set(
        "BIASSEC",
        strip.strip === "columns"
          ? `[${size + 1}:${rawWidth},1:${size}]`
          : `[1:${size},${size + 1}:${rawHeight}]`,
        "overscan section",
      );
      header.set("TRIMSEC", `[1:${size},1:${size}]`, "section kept");
      header.set("DATASEC", `[1:${size},1:${size}]`, "exposed pixels");
    }
    minute += frame.t / 60 + 0.5;
    const path = `${nightDir}/${frame.name}`;
    await writeFrame(path, header, size, seed, index, frame.type, frame.filter, frame.t, stars, {
      overscan: strip,
      cosmicRays: options.cosmicRays ?? 0,
      level: frame.level ?? 1,
      hotPixels: options.hotPixels ?? 0.001,
      biasLevel: options.biasLevel ?? BIAS_LEVEL,
      deadPixels: options.deadPixels ?? 0,
      saturatedPixels: frame.type === "light" ? options.saturatedPixels ?? 0 : 0,
    });
    frames.push({ path, imageType: frame.type, filter: frame.filter, exposureTime: frame.t });
  }
  return frames;
}

function pad(n: number): string {
  return String(n).padStart(3, "0");
}

/** What a frame has beyond the standard night. */
interface FrameExtras {
  overscan: { strip: "columns" | "rows"; size: number } | null;
  /** Hits per million pixels. */
  cosmicRays: number;
  /** A flat's level against its filter's first. */
  level: number;
  biasLevel: number;
  hotPixels: number;
  deadPixels: number;
  /** Fraction of pixels hit at saturation. */
  saturatedPixels: number;
}

/** Cosmic-ray hits of one frame: raw pixel index → ADU added. Their own PRNG, so the rest of the frame is unchanged. */
function cosmicRayHits(
  rate: number,
  width: number,
  height: number,
  seed: number,
  index: number,
): Map<number, number> {
  const hits = new Map<number, number>();
  if (rate <= 0) return hits;
  const random = prng(seed * 7000003 + index * 104729 + 5);
  const count = Math.round((rate * width * height) / 1e6 * (0.5 + random()));
  for (let k = 0; k < count; k++) {
    const x = Math.floor(random() * width);
    const y = Math.floor(random() * height);
    const adu = 300 + random() * 5700;
    const length = 1 + Math.floor(random() * 3);
    const horizontal = random() < 0.5;
    for (let j = 0; j < length; j++) {
      const [px, py] = horizontal ? [x + j, y] : [x, y + j];
      if (px < width && py < height) {
        hits.set(py * width + px, (hits.get(py * width + px) ?? 0) + adu / (j + 1));
      }
    }
  }
  return hits;
}

async function writeFrame(
  path: string,
  header: Header,
  size: number,
  seed: number,
  index: number,
  type: SimulatedFrame["imageType"],
  filter: string | null,
  exposure: number,
  stars: Star[],
  extras: FrameExtras,
): Promise<void> {
  const random = prng(seed * 1000003 + index * 7919 + 1);
  const normal = gaussian(random);
  const strip = extras.overscan;
  const rawWidth = strip?.strip === "columns" ? size + strip.size : size;
  const rawHeight = strip?.strip === "rows" ? size + strip.size : size;
  const writer = await FitsImageWriter.create(path, header, {
    width: rawWidth,
    height: rawHeight,
    bitpix: 16,
    unsigned: true,
  });
  const bandRows = Math.max(1, Math.floor(65536 / rawWidth));
  const band = new Float32Array(bandRows * rawWidth);
  const filterIndex = filter ? filter.charCodeAt(0) % 7 : 0;
  const flatLevel = (18000 + 3000 * filterIndex) * extras.level; // e- per pixel at the flat's exposure
  const skyRate = 40; // e-/s/pixel
  const center = size / 2;
  // The bias structure depends on the column only.
  const columnOffsets = Float64Array.from(
    { length: size },
    (_, x) => 4 * Math.sin(x / 37) + 6 * (hash01(x, 0, seed + 5) - 0.5),
  );
  // With an overscan strip, the bias level moves from frame to frame and along the readout: the strip records it.
  const drift = (line: number) =>
    strip ? 8 * (hash01(index, 0, seed + 23) - 0.5) + 5 * Math.sin(line / 23 + index) + 0.004 * line : 0;
  const hits = cosmicRayHits(extras.cosmicRays, rawWidth, rawHeight, seed, index);
  try {
    for (let y0 = 0; y0 < rawHeight; y0 += bandRows) {
      const rows = Math.min(bandRows, rawHeight - y0);
      for (let r = 0; r < rows; r++) {
        const y = y0 + r;
        // Only stars whose profile reaches this row matter (stars are sorted by y).
        const rowStars = type === "light" && y < size ? starsNear(stars, y) : [];
        const rowDrift = strip?.strip === "columns" ? drift(y) : 0;
        for (let x = 0; x < rawWidth; x++) {
          const level = extras.biasLevel + (strip?.strip === "rows" ? drift(x) : rowDrift);
          if (x >= size || y >= size) {
            // The overscan: the bias level and read noise, no charge.
            const adu = level + (READ_NOISE_E / GAIN) * normal() + (hits.get(y * rawWidth + x) ?? 0);
            band[r * rawWidth + x] = Math.min(SATURATE, Math.max(0, Math.round(adu)));
            continue;
          }
          const columnOffset = columnOffsets[x];
          let electrons = 0;
          if (type !== "bias") {
            const hot = isHot(x, y, seed, extras.hotPixels);
            const darkRate = hot ? 5 + 45 * hash01(x, y, seed + 13) : 0.02 + 0.02 * hash01(x, y, seed + 17);
            electrons += darkRate * exposure;
          }
          if (type === "flat" || type === "light") {
            const dx = (x - center) / size;
            const dy = (y - center) / size;
            const vignette = 1 - 1.2 * (dx * dx + dy * dy);
            const prnu = 1 + 0.02 * (hash01(x, y, seed + 19) - 0.5);
            let sky = type === "flat" ? flatLevel : skyRate * exposure;
            if (type === "light") {
              for (const star of rowStars) {
                const sx = x - star.x;
                const sy = y - star.y;
                if (Math.abs(sy) > 5 * star.sigma || Math.abs(sx) > 5 * star.sigma) continue;
                const s2 = 2 * star.sigma * star.sigma;
                sky += (star.flux * exposure / (Math.PI * s2)) * Math.exp(-(sx * sx + sy * sy) / s2);
              }
            }
            const response = isDead(x, y, seed, extras.deadPixels) ? 0.1 * hash01(x, y, seed + 31) : 1;
            electrons += sky * vignette * prnu * response;
          }
          const detected = poisson(electrons, random, normal);
          let adu = level + columnOffset + detected / GAIN + (READ_NOISE_E / GAIN) * normal();
          if (hits.size > 0) adu += hits.get(y * rawWidth + x) ?? 0;
          // Their own pattern per frame, so the rest of the frame is unchanged.
          if (extras.saturatedPixels > 0 && hash01(x + index * 7919, y, seed + 41) < extras.saturatedPixels) {
            adu = SATURATE;
          }
          band[r * rawWidth + x] = Math.min(SATURATE, Math.max(0, Math.round(adu)));
        }
      }
      await writer.writeRows(band.subarray(0, rows * rawWidth));
    }
    await writer.close();
  } catch (error) {
    await writer.abort();
    throw error;
  }
}
