/**
 * Stage: a master flat per shape and filter, the median of the flats after the
 * master bias and the scaled master dark are subtracted, each divided by its own
 * median first (found exactly, streamed). Quality control keeps out, from the
 * same pass that finds the medians, a flat saturated over `Max Saturated`
 * percent and one whose median lies outside `Flat Min`-`Flat Max`, and holds the
 * count to `Min Frames` (see `_combine.ts`).
 *
 *   master flat = median((flat_i − bias − dark·t_f/t_d) / median_i)
 *
 * @module
 */
import type { Stage } from "./stage.ts";
import { buildMaster, type CombineInput, inputMedians } from "./_combine.ts";
import { flatLevelVerdict, saturationVerdict } from "./_quality.ts";
import { safeName } from "../products.ts";

/** Makes one master flat per shape and filter. */
export const masterFlats: Stage = {
  name: "master_flats",
  reads: ["flat"],
  uses: ["master_bias", "master_dark"],
  writes: ["master_flat"],
  groupBy: ["shape", "filter"],
  settings: ["combine", "sigmaClip", "minMaxClip", "overscan", "saturation", "output", "qualityControl"],
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
    const master = await buildMaster(context, {
      kind: "master_flat",
      fileName: `master_flat_${label}${group.suffix}.fits`,
      inputs,
      warnings: [...warnings],
      describe: `flat frames in ${
        filter || "no filter"
      }, bias and dark subtracted, each divided by its median`,
      key: { filter: sample.filter },
      screen: async (candidates, path) => {
        const levels = await inputMedians(context, candidates);
        context.checkAbort();
        candidates.forEach((input, i) => (input.scale = 1 / levels[i].median));
        return candidates.flatMap((input, i) =>
          saturationVerdict(input.frame, levels[i].saturated, context.reduction, path) ??
            flatLevelVerdict(input.frame, levels[i].median, context.reduction, path) ?? []
        );
      },
    });
    if (master) context.masters.add(master, sample, { filter: sample.filter });
  },
};
