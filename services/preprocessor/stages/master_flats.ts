/**
 * Stage: a master flat per shape and filter, the median of the flats after the
 * master bias and the scaled master dark are subtracted, each divided by its own
 * median first (found exactly, streamed).
 *
 *   master flat = median((flat_i − bias − dark·t_f/t_d) / median_i)
 *
 * @module
 */
import type { Stage } from "./stage.ts";
import { buildMaster, type CombineInput, inputMedians } from "./_combine.ts";
import { safeName } from "../products.ts";

/** Makes one master flat per shape and filter. */
export const masterFlats: Stage = {
  name: "master_flats",
  reads: ["flat"],
  uses: ["master_bias", "master_dark"],
  writes: ["master_flat"],
  groupBy: ["shape", "filter"],
  settings: ["combine", "sigmaClip", "minMaxClip", "overscan"],
  products: () => 1,
  async run(group, context) {
    const sample = group.frames[0];
    const filter = sample.filter ?? "";
    const warnings = new Set<string>();
    const { master: bias, note: biasNote } = await context.masters.bias(sample);
    if (!bias) warnings.add("no master bias: flats not bias-subtracted");
    else if (biasNote) warnings.add(biasNote);
    const inputs: CombineInput[] = [];
    for (const frame of group.frames) {
      const { master: dark, note } = await context.masters.dark(frame, frame.exposureTime);
      if (note) warnings.add(note);
      inputs.push({
        frame,
        bias,
        dark,
        darkScale: dark ? frame.exposureTime / dark.exposureTime : 0,
        scale: 1,
      });
    }
    const label = filter === "" ? "nofilter" : safeName(filter);
    const master = await buildMaster(
      context,
      "master_flat",
      `master_flat_${label}${group.suffix}.fits`,
      inputs,
      [...warnings],
      `flat frames in ${filter || "no filter"}, bias and dark subtracted, each divided by its median`,
      async () => {
        const medians = await inputMedians(context, inputs);
        medians.forEach((median, i) => (inputs[i].scale = 1 / median));
        context.checkAbort();
      },
    );
    context.masters.add(master, sample, { filter: sample.filter });
  },
};
