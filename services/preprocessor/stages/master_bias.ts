/**
 * Stage: the master bias of each shape, the median (or the configured combine)
 * of its bias frames.
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
  settings: ["combine", "sigmaClip", "minMaxClip", "overscan"],
  products: () => 1,
  async run(group, context) {
    const master = await buildMaster(
      context,
      "master_bias",
      `master_bias${group.suffix}.fits`,
      group.frames.map((frame) => ({ frame, bias: null, dark: null, darkScale: 1, scale: 1 })),
      [],
      "bias frames",
    );
    context.masters.add(master, group.frames[0]);
  },
};
