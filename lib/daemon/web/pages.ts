/**
 * The kit's pages: the status page every daemon serves on `GET /` (health, the
 * running jobs and the queue with live progress, recent work orders, the
 * actions, the service's own sections, the JSON API) and a job's page (its
 * summary, errors and warnings, the service's sections, its story with
 * timings, the work order as received).
 *
 * @module
 */
import type { JobRecord, JobStatus } from "../../store/mod.ts";
import type { XmlRpcValue } from "../../xmlrpc/mod.ts";
import { jobStatusOf } from "../front_desk.ts";
import type { WorkOrderKind } from "../../work_order.ts";
import type { WebView } from "../spec.ts";
import { type Kit, pageResponse, viewFor } from "./_kit.ts";
import {
  type Column,
  definitionList,
  escapeHtml,
  formatDuration,
  formatTime,
  jsonBlock,
  link,
  pathTo,
  progressBar,
  secondsBetween,
  section,
  statusBadge,
  table,
  textList,
  valueHtml,
} from "./html.ts";
import type { LiveProgress, LiveUpdate } from "./live.ts";

/** Jobs shown in the queue and in the recent work orders. */
export const SHOWN_JOBS = 20;

/** A job as the live sections show it. */
interface JobLine {
  job: JobRecord;
  status: Record<string, XmlRpcValue>;
  progress: number;
  /** What it is doing (running) or where it is (a scheduler's State). */
  step: string;
  /** Why it waits (queued) or what went wrong. */
  why: string;
}

function text(value: XmlRpcValue | undefined): string | null {
  return typeof value === "string" && value !== "" ? value : null;
}

function lineOf(kit: Kit, job: JobRecord): JobLine {
  const status = jobStatusOf(job, kit.spec, kit.runner);
  const step = text(status.Step) ?? text(status.ServiceStep) ?? text(status.State) ?? "";
  const why = job.status === "queued"
    ? text(status.Reason) ?? (job.notBefore ? job.error : null) ?? text(status.State) ?? ""
    : job.error ?? text(status.Reason) ?? "";
  return { job, status, progress: Number(status.Progress ?? 0), step, why };
}

/** The jobs the live sections show, looked at now. */
interface JobsNow {
  counts: Record<JobStatus, number>;
  running: JobLine[];
  queue: JobLine[];
  recent: JobLine[];
}

async function jobsNow(kit: Kit): Promise<JobsNow> {
  const { store } = kit.context;
  const service = kit.spec.name;
  const counts = await store.countJobs(service);
  const running = await store.listJobs({ service, status: "running", limit: 10 });
  const queue = await store.listJobs({ service, status: "queued", order: "queue", limit: SHOWN_JOBS });
  const recent = await store.listJobs({ service, limit: SHOWN_JOBS });
  const line = (job: JobRecord) => lineOf(kit, job);
  return { counts, running: running.map(line), queue: queue.map(line), recent: recent.map(line) };
}

function cancelForm(kit: Kit, job: JobRecord): string {
  if (job.status !== "queued" && job.status !== "running") return "";
  return `<form class="inline" method="post" action="${pathTo("actions", "jobs", job.id, "cancel")}" ` +
    `data-json="${pathTo("api", "jobs", job.id, "cancel")}" data-confirm="Cancel job ${job.id}?">` +
    `<input type="hidden" name="csrf" value="${escapeHtml(kit.formToken)}">` +
    `<button class="quiet" type="submit">Cancel</button></form>`;
}

function jobLink(job: JobRecord): string {
  return link(pathTo("jobs", job.id), String(job.id));
}

function stepCell(line: JobLine): string {
  return line.job.status === "running"
    ? `<span data-step="${line.job.id}">${escapeHtml(line.step)}</span>`
    : escapeHtml(line.step);
}

function countsHtml(counts: Record<JobStatus, number>): string {
  const parts = (Object.entries(counts) as [JobStatus, number][]).map(([status, count]) =>
    `${count} ${statusBadge(status)}`
  );
  return `<p>${parts.join(" · ")}</p>`;
}

function runningHtml(kit: Kit, running: JobLine[]): string {
  if (running.length === 0) return '<p class="empty">No job is running.</p>';
  return running.map((line) =>
    `<div class="running-job">Job ${jobLink(line.job)} · work order ${escapeHtml(line.job.workOrderId)}${
      line.job.night ? ` · ${escapeHtml(line.job.night)}` : ""
    }<br>${progressBar(line.progress, line.job.id)} ${stepCell(line)} ${cancelForm(kit, line.job)}</div>`
  ).join("\n");
}

function queueHtml(kit: Kit, queue: JobLine[], queued: number): string {
  const columns: Column[] = [
    { heading: "Job", className: "num" },
    { heading: "Work order" },
    { heading: "Priority", className: "num" },
    { heading: "Waiting since" },
    { heading: "Why it waits" },
    { heading: "" },
  ];
  const rows = queue.map((line, index) => [
    jobLink(line.job),
    escapeHtml(line.job.workOrderId),
    escapeHtml(String(line.job.priority)),
    formatTime(line.job.createdAt),
    escapeHtml(line.why || (index === 0 && kit.runner ? "next" : "waiting its turn")),
    cancelForm(kit, line.job),
  ]);
  const more = queued > queue.length ? `<p>and ${queued - queue.length} more queued.</p>` : "";
  return table(columns, rows, { empty: "Nothing is queued." }) + more;
}

function recentHtml(kit: Kit, recent: JobLine[]): string {
  const columns: Column[] = [
    { heading: "Job", className: "num" },
    { heading: "Work order" },
    { heading: "Status" },
    { heading: "Progress" },
    { heading: "Step, state or error" },
    { heading: "Received" },
    { heading: "" },
  ];
  const rows = recent.map((line) => [
    jobLink(line.job),
    escapeHtml(line.job.workOrderId),
    statusBadge(line.job.status),
    progressBar(line.progress, line.job.status === "running" ? line.job.id : undefined),
    line.job.status === "failed" ? `<span class="error">${escapeHtml(line.why)}</span>` : stepCell(line),
    formatTime(line.job.createdAt),
    cancelForm(kit, line.job),
  ]);
  return table(columns, rows, { empty: "No work orders yet." });
}

function progressOf(line: JobLine): LiveProgress {
  return {
    value: Math.round(Math.max(0, Math.min(1, line.progress)) * 1000) / 10,
    percent: `${Math.floor(Math.max(0, Math.min(1, line.progress)) * 100)} %`,
    step: line.step,
  };
}

/**
 * The live sections of the status page now, with the key that says when they
 * changed; when the key is still `previousKey`, the sections are not drawn
 * again (the feed looks twice a second, and they rarely change).
 */
export async function liveUpdate(kit: Kit, previousKey?: string): Promise<LiveUpdate> {
  const now = await jobsNow(kit);
  const progress: Record<string, LiveProgress> = {};
  for (const line of [...now.running, ...now.recent]) {
    if (line.job.status === "running") progress[line.job.id] = progressOf(line);
  }
  // Progress and a running job's step travel on their own; anything else that changes redraws the sections.
  const shape = (line: JobLine) => [
    line.job.id,
    line.job.status,
    line.job.priority,
    line.why,
    line.job.status === "running" ? "" : line.step,
    line.job.status === "running" ? 0 : line.progress,
  ];
  const text = JSON.stringify([
    now.counts,
    now.running.map(shape),
    now.queue.map(shape),
    now.recent.map(shape),
  ]);
  // Two 32-bit string hashes (FNV-1a and a multiplicative one) stand for the text on the wire.
  let fnv = 0x811c9dc5;
  let mul = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    fnv = Math.imul(fnv ^ c, 0x01000193);
    mul = (Math.imul(mul, 31) + c) | 0;
  }
  const key = `${(fnv >>> 0).toString(36)}-${(mul >>> 0).toString(36)}-${text.length}`;
  if (key === previousKey) return { key, progress };
  return {
    key,
    sections: {
      "live-counts": countsHtml(now.counts),
      "live-running": runningHtml(kit, now.running),
      "live-queue": queueHtml(kit, now.queue, now.counts.queued),
      "live-recent": recentHtml(kit, now.recent),
    },
    progress,
  };
}

const EXAMPLES: Record<WorkOrderKind, Record<string, unknown>> = {
  calibration: { ID: "calib-2026-11-24", WOType: "Calibration", "File Location": "/data/toros/2026-11-24" },
  observation: {
    ID: "obs-17",
    WOType: "Observation",
    "Telescope Name": "CTMO",
    RA: 23.1,
    Dec: 13.2,
    Filter: "V",
    "Exposure Time": 30,
    "Number of Exposures": 10,
    "Type of job": "Research",
  },
  dome: { ID: "dome-1", WOType: "Dome", "Open Shutter": true },
};

function formToken(kit: Kit): string {
  return `<input type="hidden" name="csrf" value="${escapeHtml(kit.formToken)}">`;
}

function actionsHtml(kit: Kit): string {
  const spec = kit.spec;
  const parts: string[] = [];
  if (spec.workOrders.includes("calibration")) {
    const stamp = new Date().toISOString().slice(0, 19).replace(/[-:]/g, "").replace("T", "-");
    const root = kit.context.config.data.roots[0] ?? "/data/toros";
    parts.push(`<h3>Calibrate a night</h3>
<form class="order" id="calibrate" method="post" action="/actions/work-order" data-json="/api/work-orders">
${formToken(kit)}<input type="hidden" name="WOType" value="Calibration">
<label>Work order ID <input name="ID" required maxlength="200" value="calib-${escapeHtml(stamp)}"></label>
<label>Night directory (File Location) <input name="File Location" required placeholder="${
      escapeHtml(`${root}/2026-11-24`)
    }"></label>
<label>Priority, 0-10 (optional) <input name="Priority" type="number" min="0" max="10" step="any"></label>
<label>User (optional) <input name="User" maxlength="200"></label>
<button type="submit">Queue the calibration</button>
<p class="result" data-result role="status"></p>
</form>`);
  }
  if (spec.workOrders.length > 0) {
    const example = JSON.stringify(EXAMPLES[spec.workOrders[0]]);
    parts.push(
      `<details><summary>Any work order, as JSON (${escapeHtml(spec.workOrders.join(", "))})</summary>
<form class="order" method="post" action="/actions/work-order" data-json="/api/work-orders" data-json-field="order">
${formToken(kit)}
<label class="wide">Work order <textarea name="order" rows="6" required placeholder="${
        escapeHtml(example)
      }"></textarea></label>
<button type="submit">Send to the front desk</button>
<p class="result" data-result role="status"></p>
</form></details>`,
    );
  }
  parts.push(
    "<p>A queued or running job is cancelled with its <em>Cancel</em> button. " +
      (kit.context.config.security.token
        ? "Actions need the daemon's token, as XML-RPC does (your browser asks for it once)."
        : "No token is set (<code>Security: Token</code>): anyone who can reach this port can act, as over XML-RPC.") +
      "</p>",
  );
  return parts.join("\n");
}

/** One documented route of the JSON API. */
export interface ApiDoc {
  /** `GET` or `POST`. */
  method: string;
  /** The path, `{name}` standing for a part. */
  path: string;
  /** What it answers, in one line. */
  what: string;
}

/** The kit's JSON API, as the page documents it. */
export const KIT_API: readonly ApiDoc[] = [
  {
    method: "GET",
    path: "/api/jobs",
    what:
      "Recent jobs, newest first, as list_jobs: ?status=queued|running|done|failed|cancelled&limit=1-1000 " +
      '(default 50) → {"jobs": [...]}',
  },
  { method: "GET", path: "/api/jobs/{job}", what: "A job's status with its History, as job_status" },
  { method: "GET", path: "/api/work-orders/{ID}", what: "The job of a work order, by the order's ID" },
  {
    method: "POST",
    path: "/api/work-orders",
    what: "A work order (a JSON object, Content-Type: application/json), as front_desk takes it " +
      "→ {ID, Job, Status, Message}",
  },
  {
    method: "POST",
    path: "/api/jobs/{job}/cancel",
    what: "Cancels a queued job or stops a running one, as cancel_job (Content-Type: application/json)",
  },
  {
    method: "GET",
    path: "/events",
    what: "This page's live feed (Server-Sent Events); GET /live gives it once",
  },
  {
    method: "GET",
    path: "/health",
    what: "Status, version, uptime and queue depth (details with the token)",
  },
];

function apiHtml(kit: Kit): string {
  const docs: ApiDoc[] = [...KIT_API];
  for (const route of kit.spec.web?.routes ?? []) {
    if (route.api) docs.push({ method: "GET", path: route.path.replace(/:(\w+)/g, "{$1}"), what: route.api });
  }
  const rows = docs.map((
    doc,
  ) => [escapeHtml(doc.method), `<code>${escapeHtml(doc.path)}</code>`, escapeHtml(doc.what)]);
  return table(["Method", "Path", "What"], rows) +
    `<p>Errors are <code>{"error": {"code": CODE, "message": "..."}}</code> with the XML-RPC fault's code and ` +
    "message (-32602 a work order key that is wrong, 1 another service's order, 3 no such job, -32700 a body " +
    "that is not JSON) and an HTTP status (400, 404, 415; 401 without the token, 403 from another site or " +
    "network, 500 with an error id). Actions (POST) need <code>Content-Type: application/json</code> and are " +
    "refused from another web site's pages (<code>Origin</code>, <code>Sec-Fetch-Site</code>) unless " +
    "<code>Security: CORS Origin</code> names that site.</p>";
}

function methodsHtml(kit: Kit): string {
  const names = kit.server.methodNames().map((name) => link(`/rpc#${name}`, name));
  return `<p>On <code>POST /</code> and <code>POST /RPC2</code>: ${names.join(", ")}. ` +
    `${link("/rpc", "Their documentation")}.</p>`;
}

/** The service's sections of the status page (redrawn live when the jobs change). */
export async function serviceSectionsHtml(kit: Kit, view: WebView): Promise<string> {
  return kit.spec.web?.sections ? await kit.spec.web.sections(kit.context, view) : "";
}

/** The kit's own `/health` fields; the rest are the service's details. */
const HEALTH_FIELDS = new Set([
  "status",
  "service",
  "version",
  "uptimeSeconds",
  "queueDepth",
  "jobs",
  "running",
  "database",
  "databaseBackend",
]);

/** The status page on `GET /`. */
export async function statusPage(kit: Kit, request: Request, url: URL): Promise<Response> {
  const { spec } = kit;
  const health = await kit.health(true);
  const body = health.body;
  const update = await liveUpdate(kit);
  const sections = update.sections!;
  const view = viewFor(kit, request, url);
  const details = Object.entries(body).filter(([key]) => !HEALTH_FIELDS.has(key));
  const healthHtml = definitionList([
    ["Status", statusBadge(String(body.status))],
    ["Version", escapeHtml(String(body.version))],
    ["Up for", escapeHtml(formatDuration(Number(body.uptimeSeconds)))],
    ["Catalog", `${escapeHtml(String(body.databaseBackend ?? ""))} (${escapeHtml(String(body.database))})`],
  ]) + `<div id="live-counts">${sections["live-counts"]}</div>` +
    (details.length > 0
      ? `<details><summary>Service details</summary>${valueHtml(Object.fromEntries(details))}</details>`
      : "");
  const serviceSections = await serviceSectionsHtml(kit, view);
  const bodyHtml = `<p>${escapeHtml(spec.description)}</p>
<p class="live-state">Updates: <span data-live-state>as of loading</span></p>
${section("Health", healthHtml, "health")}
${section("Running now", `<div id="live-running">${sections["live-running"]}</div>`, "running")}
${section("Queue", `<div id="live-queue">${sections["live-queue"]}</div>`, "queue")}
${section("Recent work orders", `<div id="live-recent">${sections["live-recent"]}</div>`, "recent")}
${section("Actions", actionsHtml(kit), "actions")}
<div id="live-service">${serviceSections}</div>
${section("JSON API", apiHtml(kit), "api")}
${section("XML-RPC", methodsHtml(kit), "xmlrpc")}`;
  return pageResponse(kit, "Status", bodyHtml, {
    status: health.ok ? 200 : 503,
    data: { live: "/events", poll: "/live", key: update.key },
  });
}

/** The fields of a job's status the kit shows itself; others are the service's. */
const KIT_FIELDS = new Set([
  "Job",
  "ID",
  "Status",
  "Progress",
  "Priority",
  "Errors",
  "Warnings",
  "Attempts",
  "Created",
  "Started",
  "Finished",
  "Step",
  "RetryAt",
  "History",
]);

function extraFieldHtml(value: XmlRpcValue): string {
  // Long lists (a night's products) are the service's to show, in its own sections.
  if (Array.isArray(value) && value.length > 3) return escapeHtml(`${value.length} items`);
  return valueHtml(value);
}

/** A job's page (`GET /jobs/{job}`). */
export async function jobPage(kit: Kit, request: Request, url: URL, job: JobRecord): Promise<Response> {
  const { spec, context } = kit;
  const status = jobStatusOf(job, spec, kit.runner);
  const line = lineOf(kit, job);
  const events = await context.store.listJobEvents(job.id);
  const active = job.status === "queued" || job.status === "running";
  const summary = definitionList([
    ["Status", `<span data-status="${job.id}">${statusBadge(job.status)}</span>`],
    ["Progress", progressBar(line.progress, job.id)],
    ["Step", `<span data-step="${job.id}">${escapeHtml(line.step)}</span>`],
    ["Priority", escapeHtml(String(job.priority))],
    ["Attempts", escapeHtml(String(job.attempts))],
    ["Night", escapeHtml(job.night ?? "")],
    ["Received", formatTime(job.createdAt)],
    ["Started", formatTime(job.startedAt)],
    ["Finished", formatTime(job.finishedAt)],
    ["Waited", escapeHtml(formatDuration(secondsBetween(job.createdAt, job.startedAt)))],
    ["Ran", escapeHtml(formatDuration(secondsBetween(job.startedAt, job.finishedAt)))],
    ["Next try", formatTime(typeof status.RetryAt === "string" ? status.RetryAt : null)],
  ]) + (active ? `<p>${cancelForm(kit, job)}</p>` : "");
  const errors = (status.Errors as string[] | undefined) ?? [];
  const warnings = (status.Warnings as string[] | undefined) ?? [];
  const extra = Object.entries(status).filter(([key, value]) =>
    !KIT_FIELDS.has(key) && value !== null && !(Array.isArray(value) && value.length === 0) &&
    !(key === "Night" && value === job.night)
  );
  const received = events[0]?.at ?? job.createdAt;
  let previous = received;
  const story = events.map((event) => {
    const row = [
      formatTime(event.at),
      escapeHtml(formatDuration(secondsBetween(received, event.at))),
      escapeHtml(formatDuration(secondsBetween(previous, event.at))),
      escapeHtml(event.event),
    ];
    previous = event.at;
    return row;
  });
  const view = viewFor(kit, request, url);
  const serviceSections = spec.web?.jobSections ? await spec.web.jobSections(job, context, view) : "";
  const bodyHtml = `<h2>Job ${job.id} · work order ${escapeHtml(job.workOrderId)}</h2>
${summary}
${errors.length > 0 ? section("Errors", `<div class="error">${textList(errors)}</div>`, "errors") : ""}
${warnings.length > 0 ? section("Warnings", textList(warnings), "warnings") : ""}
${
    extra.length > 0
      ? section(
        `From the ${spec.name}`,
        definitionList(extra.map(([key, value]) => [key, extraFieldHtml(value)])),
        "fields",
      )
      : ""
  }
${serviceSections}
${
    section(
      "Story",
      table(
        ["Time", "Since received", "Since the line before", "What happened"].map((heading) => ({ heading })),
        story,
        { empty: "Nothing recorded yet." },
      ),
      "story",
    )
  }
${section("Work order, as received", jsonBlock(job.workOrder), "order")}
${
    job.result !== null
      ? `<details><summary>Result, as recorded</summary>${jsonBlock(job.result)}</details>`
      : ""
  }`;
  return pageResponse(kit, `Job ${job.id}`, bodyHtml, {
    data: { job: String(job.id), "job-active": active ? "1" : "0" },
  });
}

/** The page that answers a refused form (the page's script shows the same inline). */
export function refusedPage(kit: Kit, what: string, message: string, status: number): Response {
  return pageResponse(
    kit,
    "Refused",
    `<h2>${escapeHtml(what)}</h2><p class="error">${escapeHtml(message)}</p><p>${
      link("/", "Back to the status page")
    }</p>`,
    { status },
  );
}
