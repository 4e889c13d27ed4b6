/**
 * Stage: every light calibrated with its shape's masters, saturated pixels set
 * to NaN, as ccdproc's `subtract_bias`, `subtract_dark(scale=True)` and
 * `flat_correct(min_value)`:
 *
 *   light' = (light − bias − dark·t_l/t_d) ÷ flat × mean(flat)
 *
 * Lights go in batches that share each master band read, and each batch's
 * products reach the disk while the next batch is computed.
 *
 * @module
 */
import { basename } from "node:path";
import { addSums, FitsImageWriter, type Header } from "../../../lib/fits/mod.ts";
import { type BandTask, history } from "../../../lib/ccd/mod.ts";
import type { ProductRecord } from "../../../lib/store/mod.ts";
import type { RawFrame } from "../ingest.ts";
import { rowsPerBand, sweepBands, SweepInput } from "../band_sweep.ts";
import type { Master } from "../master_library.ts";
import { calibratedName, stampProduct } from "../products.ts";
import { describeReadout } from "../frame_source.ts";
import type { Stage, StageContext } from "./stage.ts";
import { openMasters, readBands, termsOf, withMasters } from "./_sweep.ts";
import { keptProduct } from "./_products.ts";

/** Lights calibrated together: each master band is read once per batch, not once per light. */
const LIGHT_BATCH = 8;

/** Calibrates the lights of each shape. */
export const calibratedLights: Stage = {
  name: "calibrated_lights",
  reads: ["light"],
  uses: ["master_bias", "master_dark", "master_flat"],
  writes: ["calibrated_light"],
  groupBy: ["shape"],
  settings: ["flatFloor", "saturation", "overscan"],
  products: (group) => group.frames.length,
  async run(group, context) {
    const plans: LightPlan[] = [];
    for (const frame of group.frames) plans.push(await planLight(context, frame));
    for (const plan of plans.filter((p) => p.kept)) produced(context, plan, plan.kept!.warnings);
    const todo = plans.filter((p) => !p.kept);
    let finishing: Promise<void> = Promise.resolve();
    try {
      for (let i = 0; i < todo.length; i += LIGHT_BATCH) {
        context.checkAbort();
        const { finished } = await calibrateBatch(context, todo.slice(i, i + LIGHT_BATCH));
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
  masters: Master[];
  warnings: string[];
  saturation: number | null;
  kept: ProductRecord | null;
}

async function planLight(context: StageContext, frame: RawFrame): Promise<LightPlan> {
  const warnings = [...frame.warnings];
  const { master: bias, note: biasNote } = await context.masters.bias(frame);
  if (!bias) warnings.push("no master bias: bias not subtracted");
  else if (biasNote) warnings.push(biasNote);
  const { master: dark, note: darkNote } = await context.masters.dark(frame, frame.exposureTime);
  if (darkNote) warnings.push(darkNote);
  const { master: flat, note: flatNote } = await context.masters.flat(frame);
  if (flatNote) warnings.push(flatNote);
  const masters = [bias, dark, flat].filter((m): m is Master => !!m);
  const path = `${context.outDir}/${calibratedName(frame.fileName)}`;
  return {
    frame,
    path,
    bias,
    dark,
    darkScale: dark ? frame.exposureTime / dark.exposureTime : 0,
    flat,
    masters,
    warnings,
    saturation: frame.saturate ?? context.reduction.saturation,
    kept: await keptProduct(context, path, [frame], masters),
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
  if (plan.saturation !== null) {
    header.addHistory(history("saturation", `raw >= ${plan.saturation} ADU set to NaN`));
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
  writer: FitsImageWriter;
  /** Encoded output bands, one per slot, and their word sums. */
  encoded: [Uint8Array, Uint8Array];
  sums: [number, number];
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
  const rows = rowsPerBand(context.reduction.bandRows, plans.length + 3, width);
  await context.confine();
  const masters = await openMasters(arena, plans.flatMap((plan) => [plan.bias, plan.dark, plan.flat]), rows);
  const open: OpenLight[] = [];
  const fail = async (light: OpenLight, error: unknown) => {
    if (light.failed) return;
    light.failed = true;
    await light.writer.abort();
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
        const writer = await FitsImageWriter.create(plan.path, lightHeader(context, plan), { width, height });
        open.push({
          plan,
          input,
          writer,
          encoded: [arena.bytes(rows * width * 4), arena.bytes(rows * width * 4)],
          sums: [0, 0],
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
        compute: async (_y0, n, slot) => {
          const lights = open.filter((light) => !light.failed);
          const task: BandTask = {
            inputs: withMasters(
              masters,
              slot,
              lights.map((light) =>
                light.input.input(slot, {
                  terms: termsOf(light.plan, masters, slot, context.reduction.flatFloor),
                  encoded: light.encoded[slot],
                })
              ),
            ),
            combine: null,
          };
          const slices = await pool.run(task, n * width);
          lights.forEach((light, j) => {
            let sum = 0;
            for (const slice of slices) {
              sum = addSums(sum, slice.sums[masters.size + j]);
              light.saturated += slice.saturated[masters.size + j];
            }
            light.sums[slot] = sum;
          });
        },
        write: async (_y0, n, slot) => {
          for (const light of open) {
            if (light.failed) continue;
            try {
              light.writer.writeEncodedSync(light.encoded[slot].subarray(0, n * width * 4), light.sums[slot]);
            } catch (error) {
              await fail(light, error);
            }
          }
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
  const closed = await Promise.allSettled(open.map((light) => light.failed ? null : light.writer.close()));
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
    if (light.saturated > 0) warnings.push(`${light.saturated} saturated pixels set to NaN`);
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
    });
    context.log.info(`Wrote ${basename(light.plan.path)}`);
    produced(context, light.plan, warnings);
  }
}
