/**
 * The scheduler's loop. Every `Cycle Seconds` it:
 *
 * 1. follows each order it has sent on, through the service that runs it (and,
 *    for an Observation, through the preprocessor's reduction of its night):
 *    done, failed, or interrupted by the weather (then queued again, to go
 *    once the sky and the dome allow);
 * 2. sends calibration orders to the preprocessor and Dome orders to the dome
 *    service at once;
 * 3. judges each waiting Observation against the sky at the site (`lib/sky`):
 *    observable now, later tonight, or not at all tonight (said so, with the
 *    reason), and sends the best observable one (highest priority with aging,
 *    then oldest) to the telescope when the telescope is free and the dome
 *    service says the dome is open and the weather safe (asking it to open
 *    when it is closed in safe weather, and to close at dawn).
 *
 * Everything it knows lives in the catalog (the job's status and detail), so a
 * scheduler killed at any moment picks up where it was: a re-sent order keeps
 * its ID, which the services answer with the job they already have.
 *
 * @module
 */
import type { TorosConfig } from "../../lib/config.ts";
import type { Background, DaemonContext } from "../../lib/daemon/mod.ts";
import { INTERRUPTED } from "../../lib/daemon/mod.ts";
import { darkWindow, nightDate } from "../../lib/sky/mod.ts";
import type { JobRecord } from "../../lib/store/mod.ts";
import {
  type ObservationOrder,
  parseWorkOrder,
  type WorkOrder,
  type WorkOrderKind,
} from "../../lib/work_order.ts";
import { callXmlRpc, XmlRpcFault, type XmlRpcValue } from "../../lib/xmlrpc/mod.ts";
import { effectivePriority } from "./policy.ts";
import { SkyCheck } from "./sky_check.ts";

type Struct = Record<string, XmlRpcValue>;

/** The services orders go to. */
export type ServiceName = "telescope" | "preprocessor" | "dome";

/** Where an order went. */
export interface Routed {
  service: ServiceName;
  /** The job there. */
  job: number;
}

/** What the scheduler keeps of each of its jobs (the job's `detail`). */
export interface SchedulerDetail {
  kind: WorkOrderKind;
  /** Where it is, in words: `waiting for the sky`, `unobservable tonight`, `sent to the telescope`, … */
  state: string;
  /** Why it waits or stopped, with the measured values and limits. */
  reason: string | null;
  /** How its priority was made. */
  priorityReason: string;
  routed: Routed | null;
  /** The job it runs as there, as last seen. */
  service: { status: string; step: string | null; progress: number } | null;
  /** For an Observation handed to the preprocessor: its job there. */
  preprocessorJob: number | null;
  /** The downstream story lines already merged into this job's story, per service job (`telescope:7`). */
  merged: Record<string, number>;
  /** Set once a cancel has been passed on to the service running it. */
  cancelForwarded?: boolean;
}

const SERVICE_OF: Record<WorkOrderKind, ServiceName> = {
  observation: "telescope",
  calibration: "preprocessor",
  dome: "dome",
};

/** Time limit of one call to another service. */
const CALL_TIMEOUT_MS = 10_000;

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** The URL of a service, with the site's token when one is set. */
export function serviceUrl(config: TorosConfig, service: ServiceName): string {
  const address = service === "telescope"
    ? config.telescopeAddress
    : service === "preprocessor"
    ? config.preprocessorAddress
    : config.domeAddress;
  const url = new URL(address.http);
  if (config.security.token) {
    url.username = "toros";
    url.password = config.security.token;
  }
  return url.href;
}

/** The scheduler's background loop; see the module doc. */
export class Dispatcher implements Background {
  readonly #context: DaemonContext;
  readonly #sky: SkyCheck;
  readonly #loop: Promise<void>;
  #stopping = false;
  #wake: (() => void) | null = null;

  /** Starts the loop. */
  constructor(context: DaemonContext) {
    this.#context = context;
    this.#sky = new SkyCheck(context.config);
    this.#loop = this.#run();
  }

  /** Looks again now (a new order came in). */
  wake(): void {
    this.#wake?.();
  }

  /** Stops after the current cycle. */
  async stop(): Promise<void> {
    this.#stopping = true;
    this.#wake?.();
    await this.#loop;
  }

  async #run(): Promise<void> {
    const period = this.#context.config.scheduler.cycleSeconds * 1000;
    while (!this.#stopping) {
      try {
        await this.cycle();
      } catch (error) {
        this.#context.log.error(`Scheduling cycle failed: ${message(error)}`);
      }
      if (this.#stopping) break;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, period);
        function done() {
          clearTimeout(timer);
          resolve();
        }
        this.#wake = done;
      });
      this.#wake = null;
    }
  }

  /** One pass over the scheduler's jobs (exposed for tests). */
  async cycle(): Promise<void> {
    const { store } = this.#context;
    const list = (status: "queued" | "running" | "cancelled") =>
      store.listJobs({ service: "scheduler", status, limit: 1000 });
    for (const job of await list("cancelled")) await this.#forwardCancel(job);
    for (const job of await list("running")) await this.#follow(job);
    const waiting = (await list("queued")).reverse(); // oldest first
    const observations: { job: JobRecord; order: ObservationOrder }[] = [];
    for (const job of waiting) {
      const order = await this.#orderOf(job);
      if (!order) continue;
      if (order.kind === "observation") observations.push({ job, order });
      else await this.#send(job, order);
    }
    await this.#schedule(observations);
  }

  /** The job's order, validated again; a job whose order no longer validates fails saying why. */
  async #orderOf(job: JobRecord): Promise<WorkOrder | null> {
    try {
      return parseWorkOrder(job.workOrder, {
        accepts: ["observation", "calibration", "dome"],
        service: "scheduler",
      });
    } catch (error) {
      await this.#finish(job, "failed", `the stored order is not valid: ${message(error)}`);
      return null;
    }
  }

  #detail(job: JobRecord): SchedulerDetail {
    const detail = (job.detail ?? {}) as Partial<SchedulerDetail>;
    return {
      kind: detail.kind ?? "observation",
      state: detail.state ?? "received",
      reason: detail.reason ?? null,
      priorityReason: detail.priorityReason ?? "",
      routed: detail.routed ?? null,
      service: detail.service ?? null,
      preprocessorJob: detail.preprocessorJob ?? null,
      merged: detail.merged ?? {},
      cancelForwarded: detail.cancelForwarded,
    };
  }

  /** Records a new state (and reason) when it changed, with a line in the story. */
  async #setState(
    job: JobRecord,
    detail: SchedulerDetail,
    state: string,
    reason: string | null,
  ): Promise<void> {
    if (detail.state === state && detail.reason === reason) return;
    detail.state = state;
    detail.reason = reason;
    await this.#context.store.updateJob(job.id, { detail });
    await this.#context.store.addJobEvent(
      job.id,
      reason ? `${state}: ${reason}` : state,
      this.#context.clock(),
    );
  }

  async #finish(
    job: JobRecord,
    status: "done" | "failed" | "cancelled",
    error: string | null,
    result?: unknown,
  ): Promise<void> {
    const { store, log } = this.#context;
    await store.updateJob(job.id, { status, error, result, progress: status === "done" ? 1 : undefined });
    await store.addJobEvent(job.id, error ? `${status}: ${error}` : status, this.#context.clock());
    this.#sky.forget(String(job.id));
    log.info(`Order ${job.workOrderId} (job ${job.id}) ${status}${error ? `: ${error}` : ""}`);
  }

  async #call(service: ServiceName, method: string, params: XmlRpcValue[]): Promise<XmlRpcValue> {
    return await callXmlRpc(serviceUrl(this.#context.config, service), method, params, {
      timeoutMs: CALL_TIMEOUT_MS,
    });
  }

  /** Sends a job's order on to the service that carries it out; the job then follows it there. */
  async #send(job: JobRecord, order: WorkOrder): Promise<void> {
    const detail = this.#detail(job);
    const service = SERVICE_OF[order.kind];
    const sent = { ...(job.workOrder as Struct), Priority: job.priority };
    let answer: Struct;
    try {
      answer = await this.#call(service, "front_desk", [sent]) as Struct;
    } catch (error) {
      if (error instanceof XmlRpcFault) {
        await this.#finish(job, "failed", `the ${service} service refused it: ${error.message}`);
      } else {
        await this.#setState(
          job,
          detail,
          `waiting for the ${service} service`,
          `not answering (${message(error)})`,
        );
      }
      return;
    }
    detail.routed = { service, job: answer.Job as number };
    detail.service = { status: String(answer.Status), step: null, progress: 0 };
    detail.state = `sent to the ${service}`;
    detail.reason = null;
    await this.#context.store.updateJob(job.id, { status: "running", error: null, detail });
    await this.#context.store.addJobEvent(
      job.id,
      `dispatched to the ${service} as its job ${answer.Job}`,
      this.#context.clock(),
    );
  }

  /** Follows a sent order through its service (and an Observation's night through the preprocessor). */
  async #follow(job: JobRecord): Promise<void> {
    const detail = this.#detail(job);
    const routed = detail.routed;
    if (!routed) {
      // Marked running with nowhere to follow it (cannot happen unless the catalog was edited): queue it again.
      await this.#context.store.updateJob(job.id, { status: "queued" });
      return;
    }
    const following = detail.preprocessorJob !== null
      ? { service: "preprocessor" as const, job: detail.preprocessorJob }
      : routed;
    let status: Struct;
    try {
      status = await this.#call(following.service, "job_status", [following.job]) as Struct;
    } catch (error) {
      await this.#setState(
        job,
        detail,
        `following ${following.service} job ${following.job}`,
        `not answering (${message(error)})`,
      );
      return;
    }
    const state = String(status.Status);
    const step = typeof status.Step === "string" ? status.Step : null;
    detail.service = { status: state, step, progress: Number(status.Progress ?? 0) };
    if (state === "queued" || state === "running") {
      await this.#context.store.updateJob(job.id, { detail, progress: detail.service.progress * 0.99 });
      return;
    }
    await this.#mergeStory(job, detail, following, status);
    const errors = (status.Errors as string[] | undefined) ?? [];
    if (state === "done") {
      if (following.service === "telescope" && typeof status.PreprocessorJob === "number") {
        detail.preprocessorJob = status.PreprocessorJob;
        detail.state = "calibrating";
        await this.#context.store.updateJob(job.id, { detail });
        await this.#context.store.addJobEvent(
          job.id,
          `observed: ${(status.Frames as string[] | undefined)?.length ?? 0} frames in ${status.Night}; ` +
            `calibrating as preprocessor job ${status.PreprocessorJob}`,
          this.#context.clock(),
        );
        return;
      }
      detail.state = following.service === "preprocessor" && routed.service === "telescope"
        ? "calibrated"
        : "done";
      await this.#context.store.updateJob(job.id, { detail });
      if (detail.state === "calibrated") {
        await this.#context.store.addJobEvent(
          job.id,
          `calibrated: ${(status.Products as string[] | undefined)?.length ?? 0} products`,
          this.#context.clock(),
        );
      }
      await this.#finish(job, "done", null, {
        Service: routed.service,
        ServiceJob: routed.job,
        PreprocessorJob: detail.preprocessorJob,
      });
    } else if (state === "failed" && errors.some((error) => error.startsWith(INTERRUPTED))) {
      // Stopped by the weather: it goes again (same ID, so the telescope resumes the same job) when allowed.
      const why = errors.find((error) => error.startsWith(INTERRUPTED))!;
      detail.state = "queued again";
      detail.reason = why;
      await this.#context.store.updateJob(job.id, { status: "queued", detail });
      await this.#context.store.addJobEvent(
        job.id,
        `${routed.service} job ${routed.job} ${why}; queued again`,
        this.#context.clock(),
      );
    } else if (state === "failed") {
      await this.#finish(
        job,
        "failed",
        `${following.service} job ${following.job} failed: ${errors.join("; ")}`,
      );
    } else {
      await this.#finish(job, "cancelled", `${following.service} job ${following.job} was cancelled there`);
    }
  }

  /** Adds the service job's story lines not merged yet (with their own times) to this job's story. */
  async #mergeStory(
    job: JobRecord,
    detail: SchedulerDetail,
    following: Routed,
    status: Struct,
  ): Promise<void> {
    const key = `${following.service}:${following.job}`;
    const lines = (status.History as string[] | undefined) ?? [];
    const from = detail.merged[key] ?? 0;
    // The service's lines are in real time; this story is in the daemon's (a rehearsal's) time.
    const offset = this.#context.clock().getTime() - Date.now();
    for (const line of lines.slice(from)) {
      const space = line.indexOf(" ");
      const at = new Date(Date.parse(line.slice(0, space)) + offset);
      const event = `${following.service} job ${following.job}: ${line.slice(space + 1)}`;
      await this.#context.store.addJobEvent(job.id, event, Number.isNaN(at.getTime()) ? undefined : at);
    }
    detail.merged[key] = lines.length;
  }

  /** A cancelled job whose order runs elsewhere: the cancel is passed on, once. */
  async #forwardCancel(job: JobRecord): Promise<void> {
    const detail = this.#detail(job);
    if (!detail.routed || detail.cancelForwarded) return;
    const target = detail.preprocessorJob !== null
      ? { service: "preprocessor" as const, job: detail.preprocessorJob }
      : detail.routed;
    try {
      await this.#call(target.service, "cancel_job", [target.job]);
    } catch (error) {
      this.#context.log.warning(`Could not pass the cancel of job ${job.id} on: ${message(error)}`);
      return;
    }
    detail.cancelForwarded = true;
    await this.#context.store.updateJob(job.id, { detail });
    await this.#context.store.addJobEvent(job.id, `cancel passed on to ${target.service} job ${target.job}`);
  }

  /** Judges the waiting Observations and sends the best one when the telescope and the dome allow. */
  async #schedule(waiting: { job: JobRecord; order: ObservationOrder }[]): Promise<void> {
    const now = this.#context.clock();
    const policy = this.#context.config.scheduler.priorityPolicy;
    const eligible: { job: JobRecord; order: ObservationOrder; priority: number }[] = [];
    for (const { job, order } of waiting) {
      const verdict = this.#sky.judge(String(job.id), order, now);
      const detail = this.#detail(job);
      if (verdict.observable) {
        // Real time waited (a rehearsal's clock runs at real speed from another instant).
        const waited = Date.now() - Date.parse(job.createdAt);
        eligible.push({ job, order, priority: effectivePriority(job.priority, waited, policy) });
      } else if (verdict.tonight) {
        await this.#setState(job, detail, "waiting for the sky", verdict.reason);
      } else {
        await this.#setState(job, detail, "unobservable tonight", verdict.reason);
      }
    }
    await this.#tendDome(eligible.length > 0, now);
    if (eligible.length === 0) return;
    eligible.sort((a, b) =>
      b.priority - a.priority || a.job.createdAt.localeCompare(b.job.createdAt) || a.job.id - b.job.id
    );
    const blocker = await this.#blocker();
    for (const [index, { job, order, priority }] of eligible.entries()) {
      const detail = this.#detail(job);
      if (index > 0 || blocker) {
        await this.#setState(
          job,
          detail,
          index === 0 ? blocker!.state : "waiting its turn",
          index === 0
            ? blocker!.reason
            : `priority ${priority} behind ${eligible[0].job.workOrderId} (${eligible[0].priority})`,
        );
        continue;
      }
      await this.#send(job, order);
    }
  }

  /** What keeps an observation from going now: the dome (when used) or a busy telescope; null when nothing. */
  async #blocker(): Promise<{ state: string; reason: string } | null> {
    if (this.#context.config.scheduler.useDome) {
      const dome = await this.#domeStatus();
      if (!dome) return { state: "waiting for the dome service", reason: "not answering" };
      if (!dome.Safe) return { state: "waiting for the weather", reason: String(dome.Reason ?? "unsafe") };
      if (!dome.Open) return { state: "waiting for the dome to open", reason: `shutter ${dome.Shutter}` };
    }
    try {
      for (const status of ["running", "queued"]) {
        const jobs = await this.#call("telescope", "list_jobs", [{ Status: status, Limit: 1 }]) as Struct[];
        if (jobs.length > 0) {
          return {
            state: "waiting for the telescope",
            reason: `busy with its job ${jobs[0].Job} (${status})`,
          };
        }
      }
    } catch (error) {
      return { state: "waiting for the telescope service", reason: `not answering (${message(error)})` };
    }
    return null;
  }

  async #domeStatus(): Promise<Struct | null> {
    try {
      return await this.#call("dome", "dome_status", []) as Struct;
    } catch {
      return null;
    }
  }

  /**
   * Opens the dome when observations are waiting for it in safe weather, and
   * closes and parks it when the night's dark hours are over; through Dome
   * orders to the dome service, whose IDs name the night (one a night) or the
   * ten minutes (at most one request to open in each).
   */
  async #tendDome(wanted: boolean, now: Date): Promise<void> {
    const config = this.#context.config;
    if (!config.scheduler.useDome) return;
    const dark = darkWindow(config.site, now, { twilight: config.scheduler.twilight });
    const night = nightDate(now, config.site.longitude);
    const over = dark.kind === "never dark" || now.getTime() > dark.end.getTime();
    if (!wanted && !over) return;
    const dome = await this.#domeStatus();
    if (!dome) return;
    let order: Struct | null = null;
    if (wanted && dome.Safe && !dome.Open && !dome.ReopenAt && dome.Shutter !== "moving") {
      order = {
        ID: `scheduler-open-${now.toISOString().slice(0, 15)}`,
        WOType: "Dome",
        // Unparked, open and following the mount (a parked dome may open its shutter but would not turn).
        Unpark: true,
        "Open Shutter": true,
        Slave: true,
      };
    } else if (over && (dome.Open || !dome.Parked)) {
      order = { ID: `scheduler-close-${night}`, WOType: "Dome", "Close Shutter": true, Park: true };
    }
    if (!order) return;
    try {
      const answer = await this.#call("dome", "front_desk", [{
        ...order,
        User: "scheduler",
        Priority: 10,
      }]) as Struct;
      if (String(answer.Message).startsWith("Work order received.")) {
        this.#context.log.info(
          `Asked the dome service to ${order.Park ? "close and park" : "open"} (job ${answer.Job})`,
        );
      }
    } catch (error) {
      this.#context.log.warning(`Could not ask the dome service: ${message(error)}`);
    }
  }
}
