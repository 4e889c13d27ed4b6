/**
 * Stage: a master dark per shape and exposure time, the median of the dark
 * frames after the master bias is subtracted.
 *
 *   master dark = median(dark_i − bias)
 *
 * @module
 */
import { formatSeconds } from "../products.ts";
import type { Stage } from "./stage.ts";
import { buildMaster } from "./_combine.ts";

/** Makes one master dark per shape and exposure time. */
export const masterDarks: Stage = {
  name: "master_darks",
  reads: ["dark"],
  uses: ["master_bias"],
  writes: ["master_dark"],
  groupBy: ["shape", "exposureTime"],
  settings: ["combine", "sigmaClip", "minMaxClip", "overscan"],
  products: () => 1,
  async run(group, context) {
    const sample = group.frames[0];
    const t = sample.exposureTime;
    const { master: bias, note } = await context.masters.bias(sample);
    const warnings = bias ? (note ? [note] : []) : ["no master bias: dark frames not bias-subtracted"];
    const master = await buildMaster(
      context,
      "master_dark",
      `master_dark_${formatSeconds(t)}s${group.suffix}.fits`,
      group.frames.map((frame) => ({ frame, bias, dark: null, darkScale: 1, scale: 1 })),
      warnings,
      `dark frames of ${t} s minus master bias`,
    );
    context.masters.add(master, sample, { exposureTime: t });
  },
};
