/**
 * The reduction's stages, one file each, and the runner that runs them in a
 * declared order (see `REDUCTION_STAGES` in `../pipeline.ts`). Adding a step is
 * adding a stage file, its test, and its place in the list.
 *
 * @module
 */
export {
  type FrameAttribute,
  type FrameGroup,
  groupFrames,
  type Judgement,
  type Stage,
  type StageContext,
} from "./stage.ts";
export { NightRun, type NightRunOptions } from "./runner.ts";
export { ingest } from "./ingest.ts";
export { masterBias } from "./master_bias.ts";
export { masterDarks } from "./master_darks.ts";
export { masterFlats } from "./master_flats.ts";
export { masterQc } from "./master_qc.ts";
export { badPixelMap } from "./bad_pixel_map.ts";
export { calibratedLights } from "./calibrated_lights.ts";
