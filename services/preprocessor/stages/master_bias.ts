/**
 * Stage: a master bias per shape, the median (or the configured combine)
 * of its bias frames. Quality control keeps out a frame saturated over `Max
 * Saturated` percent and holds the count to `Min Frames` (see `_combine.ts`).
 *
 *   master bias = median(bias_i)
 *
 * @module
 */
import type { Stage } from "./stage.ts";
import { buildMaster } from "./_combine.ts";

/** Makes one master bias per shape. */
export const masterBias: Stage = {
  name: "master_bias",
  reads: ["bias"],
  uses: [],
  writes: ["master_bias"],
  groupBy: ["shape"],
  settings: ["combine", "sigmaClip", "minMaxClip", "overscan", "saturation", "output", "qualityControl"],
  products: () => 1,
  async run(group, context) {
    const master = await buildMaster(context, {
      kind: "master_bias",
      fileName: `master_bias${group.suffix}.fits`,
      inputs: group.frames.map((frame) => ({ frame, bias: null, dark: null, darkScale: 1, scale: 1 })),
      warnings: [],
      describe: "bias frames",
    });
    if (master) context.masters.add(master, group.frames[0]);
  },
};
