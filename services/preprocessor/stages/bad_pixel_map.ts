/**
 * Stage: the bad-pixel map of each shape, made from tonight's master darks and
 * flats (see `lib/ccd/bad_pixels.ts`): bit 1 for a pixel hot in a dark (more
 * than `Bad Pixels: Hot Sigma` robust σ above its 32×32 block's median) or dead
 * in a flat (below `Dead Response` of its block's median) or with no value,
 * bit 4 for a low flat-field response (below `Low Response`). Every flat's
 * filter and every dark's exposure time count. The map is a product of its own
 * (uint8, one HDU), recorded with the masters it came from; the calibrated
 * lights OR it into their BPM with their saturation, and a night without
 * darks or flats uses the closest in time of another night's maps.
 * Made for `Output: Format: mef` only.
 *
 * @module
 */
import { basename } from "node:path";
import { FitsImageReader, FitsImageWriter, Header, positionedSum } from "../../../lib/fits/mod.ts";
import {
  BLOCK,
  blockMedians,
  countFlagged,
  flagHot,
  flagLowResponse,
  history,
  MAD_TO_SIGMA,
  sampleDeviations,
  sampleMedian,
} from "../../../lib/ccd/mod.ts";
import { FrameSource } from "../frame_source.ts";
import type { Master, TonightMaster } from "../master_library.ts";
import { meanDate, stampProduct } from "../products.ts";
import { MASK_BITS } from "../product_file.ts";
import { shapeSuffix, type Stage, type StageContext } from "./stage.ts";
import { keptProduct } from "./_products.ts";

/** Bands of a dark (of `BLOCK` rows, spread over it) whose pixels give its robust σ. */
const SAMPLE_BANDS = 8;

/** Makes one bad-pixel map per shape of tonight's masters. */
export const badPixelMap: Stage = {
  name: "bad_pixel_map",
  reads: [],
  uses: ["master_dark", "master_flat"],
  writes: ["bad_pixel_map"],
  groupBy: [],
  settings: ["badPixels"],
  products: () => 1,
  async run(_group, context) {
    if (context.reduction.output.format !== "mef") return;
    const made = context.masters.tonight().filter(({ master }) =>
      master.borrowed === null &&
      (master.kind === "master_flat" || (master.kind === "master_dark" && master.exposureTime > 0))
    );
    const shapes = Map.groupBy(made, (made) => made.shape);
    for (const [shape, masters] of shapes) {
      context.checkAbort();
      await mapOfShape(context, shape, masters, shapes.size > 1 ? shapeSuffix(shape) : "");
    }
  },
};

/** What a master gives the map, read band by band. */
interface MapSource {
  master: Master;
  source: FrameSource;
  /** A dark's hot limit above its blocks' medians (ADU); NaN for a flat. */
  hotLimit: number;
}

async function mapOfShape(
  context: StageContext,
  shape: string,
  tonight: TonightMaster[],
  suffix: string,
): Promise<void> {
  const fileName = `bad_pixel_map${suffix}.fits`;
  const path = `${context.outDir}/${fileName}`;
  const masters = tonight.map((made) => made.master);
  const kept = await keptProduct(context, path, [], masters);
  let id: number;
  if (kept) {
    id = kept.id;
    context.log.info(`Kept up-to-date ${fileName}`);
  } else {
    id = await makeMap(context, shape, masters, path);
  }
  context.masters.adopt({
    master: { id, kind: "bad_pixel_map", path, exposureTime: 0, mean: NaN, borrowed: null, remade: !kept },
    shape,
    key: {},
  });
  context.produced({
    kind: "bad_pixel_map",
    path,
    inputs: [],
    uses: masters.map((master) => basename(master.path)),
    warnings: [],
    reused: !!kept,
  });
}

async function makeMap(
  context: StageContext,
  shape: string,
  masters: Master[],
  path: string,
): Promise<number> {
  const { hotSigma, deadResponse, lowResponse } = context.reduction.badPixels;
  const dates: (string | null)[] = [];
  for (const master of masters) {
    const reader = await FitsImageReader.open(master.path);
    dates.push(reader.header.getString("DATE-OBS") ?? null);
    reader.close();
  }
  const sources: MapSource[] = [];
  try {
    for (const master of masters) {
      sources.push({ master, source: await FrameSource.open({ path: master.path }), hotLimit: NaN });
    }
    const { width, height } = sources[0].source;
    if (sources.some(({ source }) => source.width !== width || source.height !== height)) {
      throw new Error(`The masters of ${shape} differ in size: no bad-pixel map`);
    }
    const band = new Float32Array(BLOCK * width);
    const levels = new Float32Array(Math.ceil(width / BLOCK));
    const scratch = new Float32Array(BLOCK * BLOCK);
    // A dark's σ: the robust spread of its pixels about their blocks' medians, in bands spread over it.
    const bands = Math.ceil(height / BLOCK);
    const count = Math.min(SAMPLE_BANDS, bands);
    const sampled = [
      ...new Set(Array.from({ length: count }, (_, i) => Math.floor(((i + 0.5) * bands) / count))),
    ];
    for (const dark of sources.filter(({ master }) => master.kind === "master_dark")) {
      const sample = new Float32Array(sampled.length * BLOCK * width);
      let n = 0;
      for (const b of sampled) {
        const rows = Math.min(BLOCK, height - b * BLOCK);
        await dark.source.readBand(b * BLOCK, rows, band);
        blockMedians(band, width, rows, levels, scratch);
        n = sampleDeviations(band, width, rows, levels, 1, sample, n);
      }
      dark.hotLimit = hotSigma * MAD_TO_SIGMA * sampleMedian(sample, n);
    }
    context.checkAbort();
    const header = mapHeader(context, masters, sources, meanDate(dates));
    await context.confine();
    const writer = await FitsImageWriter.create(path, header, { width, height, bitpix: 8 });
    const counts = { hot: 0, dead: 0, low: 0, flagged: 0 };
    // Each master's next band is read while this one is judged (two buffers a master).
    const buffers = sources.map(() => [new Float32Array(BLOCK * width), new Float32Array(BLOCK * width)]);
    const readBands = (y0: number, slot: number) =>
      Promise.all(
        sources.map(({ source }, s) => source.readBand(y0, Math.min(BLOCK, height - y0), buffers[s][slot])),
      );
    let pending: Promise<unknown> = readBands(0, 0);
    try {
      const mask = new Uint8Array(BLOCK * width);
      const bits = new Float32Array(BLOCK * width);
      for (let y0 = 0, k = 0; y0 < height; y0 += BLOCK, k++) {
        const rows = Math.min(BLOCK, height - y0);
        const slot = k % 2;
        await pending;
        pending = y0 + BLOCK < height ? readBands(y0 + BLOCK, 1 - slot) : Promise.resolve();
        mask.fill(0);
        sources.forEach(({ master, hotLimit }, s) => {
          const band = buffers[s][slot];
          blockMedians(band, width, rows, levels, scratch);
          if (master.kind === "master_dark") counts.hot += flagHot(band, width, rows, levels, hotLimit, mask);
          else {
            const limits = { dead: deadResponse, low: lowResponse };
            const found = flagLowResponse(band, width, rows, levels, limits, mask);
            counts.dead += found.dead;
            counts.low += found.low;
          }
        });
        const pixels = rows * width;
        counts.flagged += countFlagged(mask, pixels);
        if (pixels % 4 === 0 && (y0 * width) % 4 === 0) {
          // The mask's bytes are the BITPIX 8 data as they stand (bands of whole words: their plain word sum).
          await writer.writeEncoded(mask.subarray(0, pixels), positionedSum(mask, 0, pixels, 0));
        } else {
          bits.set(mask.subarray(0, pixels));
          await writer.writeRows(bits.subarray(0, pixels));
        }
      }
      const closing = performance.now();
      const written = await writer.close();
      context.addFsync((performance.now() - closing) / 1000);
      const percent = (100 * counts.flagged) / (width * height);
      context.log.info(
        `Wrote ${basename(path)}: ${counts.flagged} pixels flagged (${
          percent.toFixed(3)
        } %): ${counts.hot} hot, ` +
          `${counts.dead} dead, ${counts.low} low flat response`,
      );
      const [, binning] = shape.split("@");
      const record = await context.catalog.recordProduct({
        kind: "bad_pixel_map",
        path,
        filter: null,
        exposureTime: null,
        width,
        height,
        binning: binning === "?" ? null : binning,
        nCombined: masters.length,
        checksum: written.checksum,
        dateObs: meanDate(dates),
        warnings: [],
        inputs: [],
        usedProductIds: masters.map((master) => master.id),
      });
      return record.id;
    } catch (error) {
      // No read is left running into closed files.
      await pending.catch(() => {});
      await writer.abort();
      throw error;
    }
  } finally {
    for (const { source } of sources) source.close();
  }
}

/** The map's header: what it is, its bits, how each master was judged. */
function mapHeader(
  context: StageContext,
  masters: Master[],
  sources: MapSource[],
  dateObs: string | null,
): Header {
  const { hotSigma, deadResponse, lowResponse } = context.reduction.badPixels;
  const header = new Header();
  header.set("EXTNAME", "BPM", "bad-pixel map");
  stampProduct(header, "bad_pixel_map", context.fingerprint);
  header.set("DATE-OBS", dateObs, "mean of the masters'");
  for (const { bit, meaning } of MASK_BITS.filter(({ bit }) => bit === 1 || bit === 4)) {
    header.set(`BPMBIT${bit}`, meaning);
  }
  for (const { master, hotLimit } of sources) {
    header.addHistory(history("input", basename(master.path)));
    header.addHistory(
      history(
        "bad_pixel_map",
        master.kind === "master_dark"
          ? `${basename(master.path)}: hot above ${hotSigma} robust sigma (${
            (hotLimit / hotSigma).toPrecision(4)
          } ADU) over the median of its ${BLOCK}x${BLOCK} block`
          : `${
            basename(master.path)
          }: dead below ${deadResponse}, low below ${lowResponse} of the median of its ` +
            `${BLOCK}x${BLOCK} block`,
      ),
    );
  }
  header.addComment(`Made of ${masters.length} masters; 0 is a good pixel.`);
  return header;
}
