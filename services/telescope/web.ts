/**
 * The telescope's part of its window: the INDI devices (mount, camera, filter
 * wheel) as the service last saw them and the step of the running order on
 * the status page; on an Observation job's page, its frames and the
 * preprocessor's job for its night (linked to the preprocessor's page).
 *
 * @module
 */
import type { TorosConfig } from "../../lib/config.ts";
import {
  definitionList,
  escapeHtml,
  link,
  pathTo,
  progressBar,
  type RunningJob,
  section,
  table,
  textList,
} from "../../lib/daemon/mod.ts";
import type { JobRecord } from "../../lib/store/mod.ts";
import type { DeviceStatus } from "./instruments.ts";
import type { ObservationResult } from "./observation.ts";

/** What the status page shows of the instruments (`Instruments.status()`, or why there is none yet). */
export interface InstrumentsView {
  /** The INDI server, `host:port`. */
  server: string;
  /** The connection to it, in words. */
  connection: string;
  /** Mount, camera and filter wheel as last seen. */
  devices: DeviceStatus[];
}

/** The devices and the current step, for the status page. */
export function instrumentsSection(instruments: InstrumentsView, running: RunningJob | null): string {
  const rows = instruments.devices.map((device) => [
    escapeHtml(device.device),
    device.connected ? "connected" : '<span class="error">not connected</span>',
    escapeHtml(device.state),
  ]);
  const now = running
    ? `<p>Job ${link(pathTo("jobs", running.jobId), String(running.jobId))}: ${escapeHtml(running.step)} ${
      progressBar(running.total > 0 ? running.done / running.total : 0, running.jobId)
    }</p>`
    : '<p class="empty">No order is being carried out.</p>';
  return section(
    "Telescope",
    `${now}${
      definitionList([
        ["INDI server", escapeHtml(instruments.server)],
        ["Connection", escapeHtml(instruments.connection)],
      ])
    }${table(["Device", "Connection", "State"], rows, { empty: "No device seen yet (no order has run)." })}`,
    "telescope",
  );
}

/** The preprocessor's page for one of its jobs (its address from the config; never the token). */
function preprocessorJobUrl(config: TorosConfig, job: number): string {
  const url = new URL(config.preprocessorAddress.http);
  url.username = "";
  url.password = "";
  url.pathname = `/jobs/${job}`;
  return url.href;
}

/** An Observation job's frames and the preprocessor's job for its night. */
export function observationSections(job: JobRecord, config: TorosConfig): string {
  const result = job.result as ObservationResult | null;
  if (!result) return "";
  const handedOver = result.PreprocessorJob !== null
    ? `<p>Calibrated by ${
      link(preprocessorJobUrl(config, result.PreprocessorJob), `preprocessor job ${result.PreprocessorJob}`)
    }.</p>`
    : `<p>Output ${escapeHtml(result.Output)}: not handed to the preprocessor.</p>`;
  return section(
    `Frames (${result.Frames.length})`,
    `${
      definitionList([["Night", escapeHtml(result.Night)], ["Filter", escapeHtml(result.Filter)]])
    }${handedOver}${
      textList(result.Frames.map((frame) => frame.slice(frame.lastIndexOf("/") + 1)), "No frames.")
    }`,
    "frames",
  );
}
