/**
 * One Observation work order, carried out: connect the instruments, unpark,
 * slew to the target (J2000 precessed to the epoch of date), put the filter
 * in, take the exposures, add the calibration series the night needs, file
 * every frame into tonight's directory, and hand the night to the
 * preprocessor. Frames already filed for the order are counted, so a job that
 * was stopped or crashed resumes where it was and never takes a frame twice.
 *
 * @module
 */
import { basename } from "node:path";
import type { TorosConfig } from "../../lib/config.ts";
import { type JobContext, JobDeferred } from "../../lib/daemon/mod.ts";
import { nightDate, toEpochOfDate } from "../../lib/sky/mod.ts";
import type { ObservationOrder } from "../../lib/work_order.ts";
import { callXmlRpc, XmlRpcFault, type XmlRpcValue } from "../../lib/xmlrpc/mod.ts";
import { fileFrame, frameBaseName, type FrameKind, type FrameStamp } from "./frames.ts";
import { type IndiFrameType, type Instruments, isServerTrouble } from "./instruments.ts";

/** What a finished Observation job records. */
export interface ObservationResult {
  /** The night directory the frames are in. */
  Night: string;
  /** Every frame of the order, in the order taken. */
  Frames: string[];
  /** The filter the wheel reported in the beam. */
  Filter: string;
  /** `analysis` (handed to the preprocessor) or `raw`. */
  Output: string;
  /** The preprocessor's job for the night, when handed over. */
  PreprocessorJob: number | null;
}

const INDI_FRAME_TYPE: Record<FrameKind, IndiFrameType> = {
  light: "FRAME_LIGHT",
  bias: "FRAME_BIAS",
  dark: "FRAME_DARK",
  flat: "FRAME_FLAT",
};

/** How often the hand-over looks again at a preprocessor job that holds the night. */
const HANDOVER_POLL_MS = 2000;

/** Frames of a series already in the night directory (a resumed job does not take them again). */
async function filedFrames(nightDir: string, stamp: FrameStamp): Promise<string[]> {
  const prefix = `${frameBaseName(stamp)}_`;
  const found: string[] = [];
  try {
    for await (const entry of Deno.readDir(nightDir)) {
      if (entry.isFile && entry.name.startsWith(prefix) && /_\d{3,}\.fits$/.test(entry.name)) {
        found.push(`${nightDir}/${entry.name}`);
      }
    }
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  return found.sort();
}

/**
 * Removes what an earlier run killed mid-frame left in the night directory:
 * the camera's image under its temporary name (and the INDI client's `.part`
 * of it) and a frame that was being filed (`.NAME.xxxxxxxx.tmp`). Only one
 * Observation runs at a time, so nothing else is writing these.
 */
async function removeStaleTemporaries(nightDir: string): Promise<void> {
  try {
    for await (const entry of Deno.readDir(nightDir)) {
      if (entry.isFile && (/^\.camera-/.test(entry.name) || /^\..+\.[0-9a-f]{8}\.tmp$/.test(entry.name))) {
        await Deno.remove(`${nightDir}/${entry.name}`).catch(() => {});
      }
    }
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
}

/** Everything an Observation job needs. */
export interface ObservationDeps {
  config: TorosConfig;
  instruments: Instruments;
}

/** Carries out an Observation order; see the module doc. */
export async function runObservation(
  order: ObservationOrder,
  priority: number,
  deps: ObservationDeps,
  context: JobContext,
): Promise<ObservationResult> {
  const { config, instruments } = deps;
  const { signal, log } = context;
  const telescope = config.telescope;
  const frames: string[] = [];
  const step = (text: string, done = 0, total = 0) => context.progress({ done, total, step: text });
  try {
    step("connecting");
    await instruments.connect(signal);
    const nightDir = `${telescope.dataRoot}/${nightDate(new Date(), config.site.longitude)}`;
    await removeStaleTemporaries(nightDir);
    const base = {
      object: order.object ?? order.id,
      telescope: telescope.name,
      observer: order.user,
      workOrder: order.id,
    };
    const series: { stamp: FrameStamp; count: number }[] = [];
    step("unparking");
    await instruments.unpark(signal);
    step("slewing");
    const now = toEpochOfDate({ ra: order.ra, dec: order.dec }, new Date());
    await instruments.slew(now.ra, now.dec, signal);
    step(`filter ${order.filter}`);
    const filter = await instruments.selectFilter(order.filter, signal);
    const target = { ra: order.ra, dec: order.dec };
    series.push({
      stamp: { ...base, kind: "light", filter, target, exposureTime: order.exposureTime },
      count: order.exposures,
    });
    if (order.calibrationFrames) {
      const calibration = telescope.calibration;
      series.push(
        {
          stamp: {
            ...base,
            kind: "bias",
            filter: null,
            target: null,
            exposureTime: instruments.shortestExposure(),
          },
          count: calibration.bias,
        },
        {
          stamp: { ...base, kind: "dark", filter: null, target: null, exposureTime: order.exposureTime },
          count: calibration.dark,
        },
        {
          stamp: { ...base, kind: "flat", filter, target, exposureTime: calibration.flatExposure },
          count: calibration.flat,
        },
      );
    }
    const total = series.reduce((sum, s) => sum + s.count, 0);
    let done = 0;
    for (const { stamp, count } of series) {
      const already = await filedFrames(nightDir, stamp);
      frames.push(...already.slice(0, count));
      done += Math.min(already.length, count);
      for (let i = already.length; i < count; i++) {
        const label = stamp.kind === "light"
          ? `exposing ${i + 1}/${count}`
          : `calibration frames: ${stamp.kind} ${i + 1}/${count}`;
        step(label, done, total + 1);
        await Deno.mkdir(nightDir, { recursive: true });
        const temporary = `${nightDir}/.camera-${crypto.randomUUID().slice(0, 8)}.fits`;
        try {
          await instruments.expose(INDI_FRAME_TYPE[stamp.kind], stamp.exposureTime, temporary, signal);
          const path = await fileFrame(temporary, nightDir, stamp);
          frames.push(path);
          log.info(`Job for ${order.id}: ${basename(path)}`);
        } finally {
          await Deno.remove(temporary).catch(() => {});
        }
        done++;
      }
    }
    let preprocessorJob: number | null = null;
    if (order.output === "analysis") {
      step("handing over", done, total + 1);
      preprocessorJob = await handOver(order, priority, nightDir, config, signal);
      log.info(`Night ${nightDir} handed to the preprocessor as its job ${preprocessorJob}`);
    }
    return {
      Night: nightDir,
      Frames: frames,
      Filter: filter,
      Output: order.output,
      PreprocessorJob: preprocessorJob,
    };
  } catch (error) {
    if (signal.aborted) {
      // Cancelled or stopping: nothing may keep moving or exposing.
      await Promise.all([instruments.abortExposure(), instruments.abortMotion()]);
      throw error;
    }
    if (isServerTrouble(error)) {
      throw new JobDeferred(
        `${error instanceof Error ? error.message : error}; trying again in ${telescope.retrySeconds} s`,
        telescope.retrySeconds * 1000,
      );
    }
    throw error;
  }
}

/** The preprocessor's URL, with the site's token when one is set. */
function preprocessorUrl(config: TorosConfig): string {
  const url = new URL(config.preprocessorAddress.http);
  if (config.security.token) {
    url.username = "toros";
    url.password = config.security.token;
  }
  return url.href;
}

/**
 * Sends the preprocessor a calibration work order for the night and returns
 * its job. When the night is already being reduced by a job that started
 * before these frames were whole, waits for that job and sends the order
 * again, so the new frames are reduced too.
 */
async function handOver(
  order: ObservationOrder,
  priority: number,
  nightDir: string,
  config: TorosConfig,
  signal: AbortSignal,
): Promise<number> {
  const url = preprocessorUrl(config);
  const calibration = {
    ID: `${order.id}-calibration`,
    WOType: "Calibration",
    "File Location": nightDir,
    Priority: priority,
    User: order.user ?? "telescope",
  };
  for (;;) {
    let answer: Record<string, XmlRpcValue>;
    try {
      answer = await callXmlRpc(url, "front_desk", [calibration]) as Record<string, XmlRpcValue>;
    } catch (error) {
      if (error instanceof XmlRpcFault) {
        throw new Error(`The preprocessor refused the night ${nightDir}: ${error.message}`);
      }
      throw new JobDeferred(
        `the preprocessor at ${config.preprocessorAddress.http} is not answering (${
          error instanceof Error ? error.message : error
        }); the frames are kept and the night will be handed over in ${config.telescope.retrySeconds} s`,
        config.telescope.retrySeconds * 1000,
      );
    }
    const job = answer.Job as number;
    // The answer names the ID we sent; the job's own status says whose order it is.
    const held = await callXmlRpc(url, "job_status", [job]).catch(() => null) as
      | Record<string, XmlRpcValue>
      | null;
    if (!held || held.ID === calibration.ID || held.Status !== "running") return job;
    // Another order's reduction of this night is running; it may have listed the frames before ours.
    while (!signal.aborted) {
      await new Promise((resolve) => setTimeout(resolve, HANDOVER_POLL_MS));
      const now = await callXmlRpc(url, "job_status", [job]).catch(() => null) as
        | Record<string, XmlRpcValue>
        | null;
      if (!now || now.Status !== "running") break;
    }
    signal.throwIfAborted();
  }
}
