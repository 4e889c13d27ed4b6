/**
 * Stage: the night's frames. Every file that looks like a frame is read for its
 * headers and classified; the night and every file are recorded in the catalog,
 * unusable ones with their reason. Raw files are only read. The content hashes
 * (SHA-256) are needed only for the catalog's exposure rows, so nothing waits
 * for them here: each frame is hashed as a later stage reads it (see
 * `NightCatalog.claimHash`), and the rest at the end.
 *
 * @module
 */
import { type InspectedFile, inspectFrame, listFrameFiles, nightFields } from "../ingest.ts";
import type { Stage } from "./stage.ts";

/** Finds, reads and records the night's frames. */
export const ingest: Stage = {
  name: "ingest",
  reads: [],
  uses: [],
  writes: [],
  groupBy: [],
  settings: [],
  products: () => 0,
  async run(_group, context) {
    const names = await listFrameFiles(context.nightDir);
    const files: InspectedFile[] = [];
    for (const name of names) files.push(await inspectFrame(context.nightDir, name));
    await context.catalog.openNight(context.nightDir, nightFields(context.nightDir, files));
    context.catalog.recordExposures(context.nightDir, files);
    context.addFrames(
      files.flatMap((file) => file.frame ? [file.frame] : []),
      files.filter((file) => !file.frame),
    );
  },
};
