/**
 * Stage: every light calibrated with its shape's masters, as ccdproc's
 * `subtract_bias`, `subtract_dark(scale=True)` and `flat_correct(min_value)`:
 *
 *   light' = (light − bias − dark·t_l/t_d) ÷ flat × mean(flat)
 *
 * With `Output: Format: mef` each product has its bad-pixel mask (the bad-pixel
 * map's bits, saturation, no usable value) and its uncertainty, made by
 * `create_deviation` from `GAIN` and `RDNOISE` (or `Reduction: Gain`, `Read
 * Noise`) and carried through the masters' own (see `lib/ccd/deviation.ts`);
 * saturated pixels keep their values and are flagged. With `single`, saturated
 * pixels are set to NaN. A dark of another temperature is used only with a
 * warning and a quality-control verdict.
 *
 * Lights go in batches that share each master band read, and each batch's
 * products reach the disk while the next batch is computed.
 *
 * @module
 */
import { basename } from "node:path";
import { addSums, type Header } from "../../../lib/fits/mod.ts";
import { type BandTask, history } from "../../../lib/ccd/mod.ts";
import type { ProductRecord } from "../../../lib/store/mod.ts";
import type { RawFrame } from "../ingest.ts";
import { rowsPerBand, sweepBands, SweepInput } from "../band_sweep.ts";
import type { Master } from "../master_library.ts";
import { calibratedName, stampProduct } from "../products.ts";
import { describeReadout } from "../frame_source.ts";
import { type ErrorNotes, ProductFile } from "../product_file.ts";
import type { Judgement, Stage, StageContext } from "./stage.ts";
import { deviationOf, openMasters, readBands, storedBits, termsOf, withMasters } from "./_sweep.ts";
import { keptProduct } from "./_products.ts";
import { temperatureVerdict } from "./_quality.ts";

/**
 * Most lights calibrated together: each master band (and its uncertainty) is read,
 * decoded and prepared once per batch, not once per light, and the bands shrink
 * to keep the batch's buffers within the sweep's budget. Products are written
 * behind (see `StagedFile`), so a batch's commits cost little even for the last.
 */
const LIGHT_BATCH = 24;

/**
 * Most pixels of a batch: eight 4096² frames. A stop (SIGTERM, a cancelled job)
 * lets the batch under way finish, so this bounds how long it waits.
 */
const LIGHT_BATCH_PIXELS = 8 * 4096 * 4096;

/** `count` items in batches of at most `most`, as even as can be: 30 in 15 and 15, not 24 and 6. */
export function evenBatches(count: number, most: number): number[] {
  const batches = Math.ceil(count / most);
  return Array.from(
    { length: batches },
    (_, i) => Math.floor((count * (i + 1)) / batches) - Math.floor((count * i) / batches),
  );
}

/** Calibrates the lights of each shape. */
export const calibratedLights: Stage = {
  name: "calibrated_lights",
  reads: ["light"],
  uses: ["master_bias", "master_dark", "master_flat", "bad_pixel_map"],
  writes: ["calibrated_light"],
  groupBy: ["shape"],
  settings: ["flatFloor", "saturation", "overscan", "output", "gain", "readNoise", "temperatureTolerance"],
  products: (group) => group.frames.length,
  async run(group, context) {
    const plans: LightPlan[] = [];
    for (const frame of group.frames) plans.push(await planLight(context, frame));
    for (const plan of plans.filter((p) => p.kept)) produced(context, plan, plan.kept!.warnings);
    const todo = plans.filter((p) => !p.kept);
    let finishing: Promise<void> = Promise.resolve();
    try {
      let first = 0;
      const { width, height } = group.frames[0];
      const most = Math.max(1, Math.min(LIGHT_BATCH, Math.floor(LIGHT_BATCH_PIXELS / (width * height))));
      for (const size of evenBatches(todo.length, most)) {
        context.checkAbort();
        const { finished } = await calibrateBatch(context, todo.slice(first, first + size));
        first += size;
        const previous = finishing;
        finishing = finished;
        await previous;
      }
    } finally {
      await finishing;
    }
  },
};

/** What calibrating one light takes. */
interface LightPlan {
  frame: RawFrame;
  path: string;
  bias: Master | null;
  dark: Master | null;
  darkScale: number;
  flat: Master | null;
  /** The bad-pixel map (for `mef`). */
  badPixels: Master | null;
  masters: Master[];
  warnings: string[];
  saturation: number | null;
  /** Gain (e⁻/ADU) and read noise (e⁻) for ERR, and where each came from. */
  noise: { gain: number; readNoise: number; gainFrom: string; readNoiseFrom: string };
  /** The dark's and the frame's temperatures, when beyond the tolerance. */
  darkTemperature: { frame: number; master: number } | null;
  kept: ProductRecord | null;
}

async function planLight(context: StageContext, frame: RawFrame): Promise<LightPlan> {
  const warnings = [...frame.warnings];
  const { master: bias, note: biasNote } = await context.masters.bias(frame);
  if (!bias) warnings.push("no master bias: bias not subtracted");
  else if (biasNote) warnings.push(biasNote);
  const { master: dark, note: darkNote, temperature } = await context.masters.dark(frame, frame.exposureTime);
  if (darkNote) warnings.push(darkNote);
  const { master: flat, note: flatNote } = await context.masters.flat(frame);
  if (flatNote) warnings.push(flatNote);
  const mef = context.reduction.output.format === "mef";
  const badPixels = mef ? await context.masters.badPixels(frame) : null;
  const masters = [bias, dark, flat, badPixels].filter((m): m is Master => !!m);
  const path = `${context.outDir}/${calibratedName(frame.fileName)}`;
  return {
    frame,
    path,
    bias,
    dark,
    darkScale: dark ? frame.exposureTime / dark.exposureTime : 0,
    flat,
    badPixels,
    masters,
    warnings,
    saturation: frame.saturate ?? context.reduction.saturation,
    noise: {
      gain: frame.gain ?? context.reduction.gain,
      readNoise: frame.readNoise ?? context.reduction.readNoise,
      gainFrom: frame.gain !== null ? "the frame's GAIN" : "Reduction: Gain (the frame has no GAIN card)",
      readNoiseFrom: frame.readNoise !== null
        ? "the frame's RDNOISE"
        : "Reduction: Read Noise (the frame has no RDNOISE card)",
    },
    darkTemperature: dark ? temperature ?? null : null,
    kept: await keptProduct(context, path, [frame], masters),
  };
}

/** The `ERR` header's words for a light: the formula, and the gain and read noise used. */
function lightErrorNotes(plan: LightPlan): ErrorNotes {
  const { gain, readNoise, gainFrom, readNoiseFrom } = plan.noise;
  return {
    formula: [
      "ERR^2 = max(GAIN*(x - B), 0)/GAIN^2 + (RDNOISE/GAIN)^2 + ERR_B^2 + (s*ERR_D)^2, then through",
      "the flat: ERR'^2 = (ERR/f)^2 + (v*ERR_F/mean/f^2)^2 (x raw after overscan, B, D, F the",
      "masters and ERR_* their ERR, s = t_light/t_dark, f = max(F, floor)/mean, v = x - B - s*D):",
      "ccdproc's create_deviation of the signal above the bias, then its arithmetic.",
    ],
    cards: [
      { key: "GAIN", value: gain, comment: `[e-/ADU] for ERR: ${gainFrom}`.slice(0, 60) },
      { key: "RDNOISE", value: readNoise, comment: `[e-] for ERR: ${readNoiseFrom}`.slice(0, 60) },
    ],
  };
}

function lightHeader(context: StageContext, plan: LightPlan): Header {
  const header = plan.frame.header.clone();
  stampProduct(header, "calibrated_light", context.fingerprint);
  const { bias, dark, flat } = plan;
  header.set(
    "CALSTAT",
    [bias && "B", dark && "D", flat && "F"].filter(Boolean).join(""),
    "calibrations applied",
  );
  describeReadout(header, plan.frame, context.reduction.overscan);
  if (bias) {
    header.set("MBIAS", basename(bias.path), "master bias used");
    header.addHistory(history("subtract_bias", basename(bias.path)));
  }
  if (dark) {
    header.set("MDARK", basename(dark.path), "master dark used");
    header.addHistory(
      history("subtract_dark", `${basename(dark.path)} scaled by ${plan.darkScale.toPrecision(6)}`),
    );
  }
  if (flat) {
    header.set("MFLAT", basename(flat.path), "master flat used");
    header.addHistory(history("flat_correct", `${basename(flat.path)}, mean ${flat.mean.toPrecision(8)}`));
  }
  if (plan.badPixels) {
    header.set("MBPM", basename(plan.badPixels.path), "bad-pixel map used");
    header.addHistory(history("bad_pixel_mask", `${basename(plan.badPixels.path)} ORed into BPM`));
  }
  if (plan.saturation !== null) {
    const mef = context.reduction.output.format === "mef";
    header.addHistory(
      history("saturation", `raw >= ${plan.saturation} ADU ${mef ? "flagged in BPM (bit 2)" : "set to NaN"}`),
    );
  }
  for (const warning of plan.warnings) header.addComment(`WARNING: ${warning}`);
  return header;
}

function produced(context: StageContext, plan: LightPlan, warnings: string[]): void {
  context.produced({
    kind: "calibrated_light",
    path: plan.path,
    inputs: [plan.frame.fileName],
    uses: plan.masters.map((m) => basename(m.path)),
    warnings,
    reused: !!plan.kept,
  });
}

function failLight(context: StageContext, plan: LightPlan, error: unknown): void {
  context.fail(plan.frame, error instanceof Error ? error.message : String(error));
}

interface OpenLight {
  plan: LightPlan;
  input: SweepInput;
  file: ProductFile;
  /** Encoded output bands, one per slot, and their word sums. */
  encoded: [Uint8Array, Uint8Array];
  sums: [number, number];
  /** For `mef`: the mask bands, the uncertainty bands, encoded, and their word sums. */
  planes: {
    mask: [Uint8Array, Uint8Array];
    deviation: [Float32Array, Float32Array];
    encoded: [Uint8Array, Uint8Array];
    sums: [number, number];
    maskSums: [number, number];
  } | null;
  saturated: number;
  failed: boolean;
}

/**
 * Calibrates a batch of lights band by band. Resolves once every band is written,
 * with the batch's finishing (fsync, rename, catalog) still running, so the next
 * batch's pixels are computed while this one's reach the disk.
 */
async function calibrateBatch(
  context: StageContext,
  plans: LightPlan[],
): Promise<{ finished: Promise<void> }> {
  const { width, height } = plans[0].frame;
  const { arena, pool } = context;
  const mef = context.reduction.output.format === "mef";
  // A light of a mef product also has its mask and uncertainty bands: half as many buffers again as
  // `rowsPerBand` counts for an input (whose raw bytes it takes at 8 a pixel, twice a uint16 frame's).
  const rows = rowsPerBand(context.reduction.bandRows, Math.ceil((mef ? 1.5 : 1) * plans.length) + 3, width);
  await context.confine();
  const masters = await openMasters(
    arena,
    plans.flatMap((plan) => [plan.bias, plan.dark, plan.flat, plan.badPixels]),
    rows,
    { errors: mef },
  );
  const open: OpenLight[] = [];
  const fail = async (light: OpenLight, error: unknown) => {
    if (light.failed) return;
    light.failed = true;
    await light.file.abort();
    failLight(context, light.plan, error);
  };
  try {
    for (const plan of plans) {
      let input: SweepInput | null = null;
      try {
        input = await SweepInput.open(
          { ...plan.frame, overscanMethod: context.reduction.overscan },
          rows,
          arena,
          {
            saturation: plan.saturation,
            hash: context.catalog.claimHash(plan.frame.fileName),
            digest: pool.sha256,
          },
        );
        const file = await ProductFile.create(plan.path, lightHeader(context, plan), {
          width,
          height,
          format: context.reduction.output.format,
          error: lightErrorNotes(plan),
        });
        open.push({
          plan,
          input,
          file,
          encoded: [arena.bytes(rows * width * 4), arena.bytes(rows * width * 4)],
          sums: [0, 0],
          planes: mef
            ? {
              mask: [arena.bytes(rows * width), arena.bytes(rows * width)],
              deviation: [arena.float32(rows * width), arena.float32(rows * width)],
              encoded: [arena.bytes(rows * width * 4), arena.bytes(rows * width * 4)],
              sums: [0, 0],
              maskSums: [0, 0],
            }
            : null,
          saturated: 0,
          failed: false,
        });
      } catch (error) {
        input?.close();
        failLight(context, plan, error);
      }
    }
    try {
      await sweepBands(height, rows, {
        read: async (y0, n, slot) => {
          await readBands(masters.values(), y0, n, slot);
          for (const light of open) {
            if (!light.failed) await light.input.read(y0, n, slot).catch((error) => fail(light, error));
          }
        },
        compute: async (y0, n, slot) => {
          const lights = open.filter((light) => !light.failed);
          const task: BandTask = {
            inputs: withMasters(
              masters,
              slot,
              lights.map((light) => {
                const input = light.input.input(slot, {
                  terms: termsOf(light.plan, masters, slot, context.reduction.flatFloor),
                  encoded: light.encoded[slot],
                });
                const planes = light.planes;
                if (!planes) return input;
                const badPixels = light.plan.badPixels;
                return {
                  ...input,
                  keepSaturated: true,
                  // Only the bytes written are wanted: a camera's light may go through in one pass.
                  encodedOnly: true,
                  mask: {
                    out: planes.mask[slot],
                    badPixels: badPixels ? mapBand(masters.get(badPixels.path)!, slot) : null,
                    position: y0 * width,
                  },
                  deviation: {
                    out: planes.deviation[slot],
                    encoded: planes.encoded[slot],
                    terms: deviationOf(light.plan, masters, slot, light.plan.noise),
                  },
                };
              }),
            ),
            combine: null,
          };
          const slices = await pool.run(task, n * width);
          lights.forEach((light, j) => {
            let sum = 0;
            let deviationSum = 0;
            let maskSum = 0;
            for (const slice of slices) {
              sum = addSums(sum, slice.sums[masters.size + j]);
              deviationSum = addSums(deviationSum, slice.deviationSums[masters.size + j]);
              maskSum = addSums(maskSum, slice.maskSums[masters.size + j]);
              light.saturated += slice.saturated[masters.size + j];
            }
            light.sums[slot] = sum;
            if (light.planes) {
              light.planes.sums[slot] = deviationSum;
              light.planes.maskSums[slot] = maskSum;
            }
          });
        },
        write: async (y0, n, slot) => {
          for (const light of open) {
            if (light.failed) continue;
            try {
              light.file.writeScience(light.encoded[slot].subarray(0, n * width * 4), light.sums[slot]);
              const planes = light.planes;
              if (planes) {
                light.file.writeMask(planes.mask[slot].subarray(0, n * width), planes.maskSums[slot]);
                light.file.writeError(planes.encoded[slot].subarray(0, n * width * 4), planes.sums[slot]);
              }
            } catch (error) {
              await fail(light, error);
            }
          }
          context.underWay(open.length * ((y0 + n) / height));
        },
      }, context.gate);
    } catch (error) {
      // A master band could not be read: no light of the batch can be finished.
      for (const light of open) await fail(light, error);
    }
  } finally {
    for (const light of open) {
      light.input.close();
      arena.release(...light.encoded);
      if (light.planes) {
        arena.release(...light.planes.mask, ...light.planes.deviation, ...light.planes.encoded);
      }
    }
    for (const master of masters.values()) master.close();
  }
  return { finished: finishLights(context, open, width, height) };
}

/** Closes the batch's products (they appear, renamed into place, only once complete) and records them. */
async function finishLights(
  context: StageContext,
  open: OpenLight[],
  width: number,
  height: number,
): Promise<void> {
  // The fsyncs run side by side.
  const closing = performance.now();
  const closed = await Promise.allSettled(open.map((light) => light.failed ? null : light.file.close()));
  context.addFsync((performance.now() - closing) / 1000);
  for (let i = 0; i < open.length; i++) {
    const light = open[i];
    const result = closed[i];
    if (light.failed) continue;
    if (result.status === "rejected") {
      failLight(context, light.plan, result.reason);
      continue;
    }
    const warnings = [...light.plan.warnings];
    if (light.saturated > 0) {
      warnings.push(`${light.saturated} saturated pixels ${light.planes ? "flagged in BPM" : "set to NaN"}`);
    }
    await context.catalog.recordProduct({
      kind: "calibrated_light",
      path: light.plan.path,
      filter: light.plan.frame.filter,
      exposureTime: light.plan.frame.exposureTime,
      width,
      height,
      binning: light.plan.frame.binning,
      nCombined: 1,
      checksum: result.value!.checksum,
      dateObs: light.plan.frame.dateObs,
      warnings,
      inputs: [light.plan.frame.fileName],
      usedProductIds: light.plan.masters.map((m) => m.id),
      temperature: light.plan.frame.temperature,
    });
    context.log.info(`Wrote ${basename(light.plan.path)}`);
    produced(context, light.plan, warnings);
  }
  // A dark of another temperature is never used silently: a verdict on each light it calibrated.
  const judged: Judgement[] = open.filter((light) => !light.failed && light.plan.darkTemperature).map((
    light,
  ) =>
    temperatureVerdict(light.plan.path, light.plan.darkTemperature!, light.plan.dark!.path, context.reduction)
  );
  context.judge(open.filter((light) => !light.failed).map((light) => light.plan.path), judged);
}

/** The bad-pixel map's band of a slot: its stored bytes when they are the bits (BITPIX 8), else its values. */
function mapBand(map: SweepInput, slot: number): Uint8Array | Float32Array {
  const input = map.input(slot);
  return storedBits(input) ?? input.band;
}
