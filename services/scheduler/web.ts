/**
 * The scheduler's part of its window: tonight's plan. Tonight's dark hours at
 * the site; the orders sent on (where each runs, linked to that service's
 * page); the orders waiting, in the order the dispatcher would send them
 * (priority with aging, then age), each with its State and the Reason it
 * waits, and, for an Observation, when tonight its target can be observed.
 *
 * @module
 */
import type { TorosConfig } from "../../lib/config.ts";
import {
  type DaemonContext,
  type DaemonWeb,
  escapeHtml,
  formatTime,
  link,
  pathTo,
  progressBar,
  section,
  table,
} from "../../lib/daemon/mod.ts";
import { darkWindow, observableWindows } from "../../lib/sky/mod.ts";
import type { JobRecord } from "../../lib/store/mod.ts";
import { type ObservationOrder, parseWorkOrder } from "../../lib/work_order.ts";
import type { SchedulerDetail, ServiceName } from "./dispatcher.ts";
import { effectivePriority } from "./policy.ts";
import { limitsOf } from "./sky_check.ts";

/** Orders the plan shows of each kind (sent on, waiting). */
const PLAN_ROWS = 50;
/** How long an order's observable windows tonight are kept before they are worked out again. */
const WINDOWS_RECHECK_MS = 15 * 60_000;

/** Tonight's observable windows of each waiting Observation, by job and night. */
const windowsCache = new Map<string, { at: number; text: string }>();

function hhmm(date: Date): string {
  return `${date.toISOString().slice(11, 16)}`;
}

/** A service's page for one of its jobs (its address from the config; never the token). */
function serviceJobUrl(config: TorosConfig, service: ServiceName, job: number): string {
  const address = service === "telescope"
    ? config.telescopeAddress
    : service === "preprocessor"
    ? config.preprocessorAddress
    : config.domeAddress;
  const url = new URL(address.http);
  url.username = "";
  url.password = "";
  url.pathname = `/jobs/${job}`;
  return url.href;
}

/** When tonight (from now to the end of the dark hours) the order's target is observable, in words. */
function observableTonight(
  context: DaemonContext,
  job: JobRecord,
  order: ObservationOrder,
  now: Date,
): string {
  const config = context.config;
  const dark = darkWindow(config.site, now, { twilight: config.scheduler.twilight });
  if (dark.kind === "never dark") return dark.reason;
  const key = `${job.id}:${dark.night}`;
  const cached = windowsCache.get(key);
  if (cached && now.getTime() - cached.at < WINDOWS_RECHECK_MS) return cached.text;
  const start = dark.start.getTime() > now.getTime() ? dark.start : now;
  let text: string;
  if (start.getTime() >= dark.end.getTime()) text = "tonight's dark hours are over";
  else {
    const found = observableWindows(config.site, { ra: order.ra, dec: order.dec }, {
      start,
      end: dark.end,
    }, limitsOf(config));
    text = found.windows.length > 0
      ? found.windows.map((window) => `${hhmm(window.start)}–${hhmm(window.end)} UTC`).join(", ")
      : `not tonight: ${found.reason ?? "never within the limits"}`;
  }
  // Keep tonight's answers only: one entry per waiting order.
  for (const old of windowsCache.keys()) if (old.startsWith(`${job.id}:`)) windowsCache.delete(old);
  windowsCache.set(key, { at: now.getTime(), text });
  return text;
}

function detailOf(job: JobRecord): Partial<SchedulerDetail> {
  return (job.detail ?? {}) as Partial<SchedulerDetail>;
}

function orderOf(job: JobRecord): ObservationOrder | null {
  try {
    const order = parseWorkOrder(job.workOrder, {
      accepts: ["observation", "calibration", "dome"],
      service: "scheduler",
    });
    return order.kind === "observation" ? order : null;
  } catch {
    return null;
  }
}

/** Tonight's plan for the status page. */
async function planSection(context: DaemonContext): Promise<string> {
  const { store, config } = context;
  const now = context.clock();
  const dark = darkWindow(config.site, now, { twilight: config.scheduler.twilight });
  const darkText = dark.kind === "never dark"
    ? `No dark hours tonight (${dark.night}): ${dark.reason}.`
    : `Tonight (${dark.night}) is dark, the Sun below ${config.scheduler.twilight}°, from ${
      formatTime(dark.start.toISOString())
    } to ${formatTime(dark.end.toISOString())}; it is now ${formatTime(now.toISOString())}.`;

  const sent = await store.listJobs({ service: "scheduler", status: "running", limit: PLAN_ROWS });
  const sentRows = sent.map((job) => {
    const detail = detailOf(job);
    const routed = detail.routed;
    const following = detail.preprocessorJob != null
      ? { service: "preprocessor" as const, job: detail.preprocessorJob }
      : routed;
    return [
      link(pathTo("jobs", job.id), String(job.id)),
      escapeHtml(job.workOrderId),
      escapeHtml(detail.kind ?? ""),
      escapeHtml(detail.state ?? ""),
      following
        ? link(
          serviceJobUrl(config, following.service, following.job),
          `${following.service} job ${following.job}`,
        )
        : "",
      escapeHtml(detail.service?.step ?? detail.reason ?? ""),
      progressBar(job.progress),
    ];
  });

  const waiting = await store.listJobs({ service: "scheduler", status: "queued", limit: 1000 });
  const policy = config.scheduler.priorityPolicy;
  const ranked = waiting.map((job) => ({
    job,
    effective: effectivePriority(job.priority, Date.now() - Date.parse(job.createdAt), policy),
  })).sort((a, b) =>
    b.effective - a.effective || a.job.createdAt.localeCompare(b.job.createdAt) || a.job.id - b.job.id
  );
  const waitingRows = ranked.slice(0, PLAN_ROWS).map(({ job, effective }, index) => {
    const detail = detailOf(job);
    const order = orderOf(job);
    return [
      String(index + 1),
      link(pathTo("jobs", job.id), String(job.id)),
      escapeHtml(job.workOrderId),
      escapeHtml(detail.kind ?? ""),
      `${escapeHtml(String(effective))}${
        effective !== job.priority
          ? ` <span class="empty">(${escapeHtml(String(job.priority))} + waiting)</span>`
          : ""
      }${detail.priorityReason ? `<br><span class="empty">${escapeHtml(detail.priorityReason)}</span>` : ""}`,
      escapeHtml(detail.state ?? "received"),
      escapeHtml(detail.reason ?? ""),
      escapeHtml(order ? observableTonight(context, job, order, now) : "at once (not an observation)"),
    ];
  });
  const more = ranked.length > PLAN_ROWS ? `<p>and ${ranked.length - PLAN_ROWS} more waiting.</p>` : "";
  const num = (heading: string) => ({ heading, className: "num" });
  return section(
    "Tonight's plan",
    `<p>${darkText}</p>
<h3>Sent on (${sent.length})</h3>
${
      table([num("Job"), "Work order", "Kind", "State", "Runs as", "Step or reason", "Progress"], sentRows, {
        empty: "Nothing is out at a service now.",
      })
    }
<h3>Waiting (${waiting.length}), in the order they would go</h3>
${
      table(
        [
          num("#"),
          num("Job"),
          "Work order",
          "Kind",
          "Priority",
          "State",
          "Why it waits",
          "Observable tonight",
        ],
        waitingRows,
        { empty: "Nothing is waiting." },
      )
    }${more}
<p>An Observation goes to the telescope when its target is above ${config.scheduler.altitudeLimit}° and under airmass ${config.scheduler.airmassLimit}, at least ${config.scheduler.moonSeparation}° from the Moon, the Sun below ${config.scheduler.twilight}°, ${
      config.scheduler.useDome ? "the dome open in safe weather, " : ""
    }and the telescope free; calibrations and dome orders go at once. Priorities grow by ${policy.agingPerHour} an hour of waiting.</p>`,
    "plan",
  );
}

/** A scheduler job's page: where its order runs, linked to that service's page. */
function whereItRuns(job: JobRecord, context: DaemonContext): Promise<string> {
  const detail = detailOf(job);
  const links: string[] = [];
  if (detail.routed) {
    const { service, job: number } = detail.routed;
    links.push(link(serviceJobUrl(context.config, service, number), `${service} job ${number}`));
  }
  if (detail.preprocessorJob != null) {
    links.push(
      link(
        serviceJobUrl(context.config, "preprocessor", detail.preprocessorJob),
        `preprocessor job ${detail.preprocessorJob} (its night's calibration)`,
      ),
    );
  }
  if (links.length === 0) return Promise.resolve("");
  return Promise.resolve(section("Where it runs", `<p>${links.join(" · ")}</p>`, "where"));
}

/** The scheduler's window (see the module doc). */
export const schedulerWeb: DaemonWeb = {
  sections: (context) => planSection(context),
  jobSections: (job, context) => whereItRuns(job, context),
};
