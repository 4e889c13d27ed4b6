/**
 * Stage: a master dark per shape, exposure time and set point (`SET-TEMP`),
 * the median of the dark frames after the master bias is subtracted. Quality
 * control keeps out a frame saturated over `Max Saturated` percent and holds the
 * count to `Min Frames` (see `_combine.ts`).
 *
 *   master dark = median(dark_i − bias)
 *
 * @module
 */
import { formatSeconds } from "../products.ts";
import type { Stage } from "./stage.ts";
import { buildMaster } from "./_combine.ts";

/** `_m20C`: a set point in a product name (none when the frames have no `SET-TEMP`). */
function setPointName(setPoint: number | null): string {
  if (setPoint === null) return "";
  return `_${setPoint < 0 ? "m" : ""}${formatSeconds(Math.abs(setPoint))}C`;
}

/** Makes one master dark per shape, exposure time and set point. */
export const masterDarks: Stage = {
  name: "master_darks",
  reads: ["dark"],
  uses: ["master_bias"],
  writes: ["master_dark"],
  groupBy: ["shape", "exposureTime", "setPoint"],
  settings: ["combine", "sigmaClip", "minMaxClip", "overscan", "saturation", "output", "qualityControl"],
  products: () => 1,
  async run(group, context) {
    const sample = group.frames[0];
    const t = sample.exposureTime;
    const { master: bias, note } = await context.masters.bias(sample);
    const warnings = bias ? (note ? [note] : []) : ["no master bias: dark frames not bias-subtracted"];
    const master = await buildMaster(context, {
      kind: "master_dark",
      fileName: `master_dark_${formatSeconds(t)}s${setPointName(sample.setPoint)}${group.suffix}.fits`,
      inputs: group.frames.map((frame) => ({ frame, bias, dark: null, darkScale: 1, scale: 1 })),
      warnings,
      describe: `dark frames of ${t} s minus master bias`,
      key: { exposureTime: t, setPoint: sample.setPoint },
    });
    if (master) context.masters.add(master, sample, { exposureTime: t, setPoint: sample.setPoint });
  },
};
