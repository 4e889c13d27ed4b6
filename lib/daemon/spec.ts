/**
 * How a TOROS daemon is declared to the kit: its name, its address section,
 * how its front desk admits a work order, and the handler that runs its jobs.
 * Everything else (XML-RPC methods, documentation page, `/health`, security,
 * durable queue, runner with leases, SIGTERM, `toros serve NAME`) comes from
 * the kit.
 *
 * @module
 */
import type { AddressConfig, TorosConfig } from "../config.ts";
import type { Logger } from "../log.ts";
import type { JobRecord, Store } from "../store/mod.ts";
import type { MethodSpec, XmlRpcValue } from "../xmlrpc/mod.ts";
import type { JsonValue, WorkOrder, WorkOrderKind } from "../work_order.ts";
import type { YieldGate } from "../yield_gate.ts";
import type { RunningJob } from "./job_runner.ts";

/**
 * What a service adds to a valid work order before it is queued. The kit
 * takes the `ID`, the `Priority` (default 5) and the order as received.
 */
export interface AdmittedOrder {
  /** The night directory the job works on, when it has one (one active job per night). */
  night?: string | null;
  /** A priority the service assigns when the order carried none. */
  priority?: number;
  /** What to store as the work order, when not the order as received. */
  workOrder?: JsonValue;
  /** What the service keeps of the job from the start (its `detail`). */
  detail?: JsonValue;
}

/** What the daemon's parts share. */
export interface DaemonContext {
  config: TorosConfig;
  store: Store;
  log: Logger;
  /** Passed by the daemon's batch threads between pieces of work; the front desk touches it per request. */
  gate: YieldGate;
  /**
   * The daemon's clock: real time, or a rehearsal's (`toros serve NAME --at
   * TIME` runs it from that instant at real speed). What plans by the sky reads
   * the time here.
   */
  clock: () => Date;
  /**
   * Stops the running job at once and fails it as `interrupted: <why>`;
   * resolves once it has stopped, with its number, or null when none runs (or
   * the daemon runs no jobs).
   */
  interrupt(why: string): Promise<number | null>;
}

/** Something a daemon keeps doing in the background (a dispatch loop, a weather watch). */
export interface Background {
  /** Stops it; resolves when it has stopped. */
  stop(): Promise<void>;
}

/** Progress of the job running now. */
export interface JobProgress {
  done: number;
  total: number;
  /** What it is doing, in words (`exposing 3/10`, a product's path). */
  step: string;
}

/** What a handler is given for one job. */
export interface JobContext {
  /**
   * Aborted when the job must stop: the daemon is stopping (the job goes back
   * to the queue) or the job was cancelled. A handler stops at its next safe
   * point and throws (any error); the runner knows which it was.
   */
  signal: AbortSignal;
  /** Reports progress (shown by `job_status`, `/health` and the heartbeat). */
  progress(update: JobProgress): void;
  log: Logger;
}

/** How the error of a job stopped by `DaemonContext.interrupt` begins (`interrupted: rain`). */
export const INTERRUPTED = "interrupted:";

/**
 * Thrown by a handler when its job cannot run yet (an INDI server or another
 * service that is not there): the job goes back to the queue with the reason,
 * shown by `job_status`, and is tried again after `retryMs`.
 */
export class JobDeferred extends Error {
  /** Milliseconds before the job may be claimed again. */
  readonly retryMs: number;
  /** Creates the deferral: why the job waits, and for how long. */
  constructor(reason: string, retryMs: number) {
    super(reason);
    this.name = "JobDeferred";
    this.retryMs = retryMs;
  }
}

/** Runs a daemon's jobs, one at a time. */
export interface JobHandler {
  /** Runs one job; resolves with its result (stored as JSON), throws to fail it with the message. */
  run(job: JobRecord, context: JobContext): Promise<JsonValue>;
  /** Releases what the handler holds (threads, connections) when the daemon stops. */
  close?(): Promise<void>;
}

/**
 * What the kit hands a service's part of the window for one request: the
 * running job, job statuses as `job_status` gives them, and answers in the
 * kit's manner (its layout, headers and JSON errors).
 */
export interface WebView {
  /** The request being answered. */
  readonly request: Request;
  /** Its URL, parsed (query parameters in `url.searchParams`). */
  readonly url: URL;
  /** The job running now in this daemon, with its progress, or null. */
  running(): RunningJob | null;
  /** A job's status as `job_status` answers it (the kit's fields, then the service's). */
  jobStatus(job: JobRecord): Record<string, XmlRpcValue>;
  /**
   * A whole HTML page in the kit's layout, with its headers (a Content-Security-Policy that allows
   * nothing from elsewhere, no framing); `bodyHtml` must be escaped already (lib/daemon/web/html.ts).
   */
  page(title: string, bodyHtml: string, options?: { status?: number }): Response;
  /** A JSON answer, with the CORS answer `Security: CORS Origin` gives browsers. */
  json(value: unknown, options?: { status?: number }): Response;
  /** A JSON error, `{"error": {"code": code, "message": message}}`, with its HTTP status. */
  jsonError(code: number, message: string, status: number): Response;
  /** The HTML "not found" page (or JSON error under `/api/`), naming what was asked for. */
  notFound(what: string): Response;
}

/** A read-only route a service adds to its daemon's port (actions go through the kit's front desk). */
export interface WebRoute {
  /** Path with `:name` segments, e.g. `/products/:id`; matched on GET (and HEAD). */
  path: string;
  /** One line for the JSON API list on the page, for a JSON route (absent: not listed). */
  api?: string;
  /** Answers the request; `params` holds the `:name` segments, decoded. */
  handle(params: Record<string, string>, context: DaemonContext, view: WebView): Promise<Response>;
}

/**
 * What a daemon adds to the kit's window (the page on `GET /`, the job pages,
 * the JSON API). The kit shows health, the queue and running jobs live,
 * recent work orders, the actions and the API list on every daemon; a service
 * adds sections and routes of its own here.
 */
export interface DaemonWeb {
  /** HTML sections of the status page, after the kit's (escaped by the service; see web/html.ts). */
  sections?(context: DaemonContext, view: WebView): Promise<string>;
  /** HTML sections of a job's page, after the kit's summary (products, skipped frames, timings). */
  jobSections?(job: JobRecord, context: DaemonContext, view: WebView): Promise<string>;
  /** Pages and JSON routes of the service (GET only). */
  routes?: readonly WebRoute[];
}

/** A daemon, as declared to the kit. */
export interface DaemonSpec {
  /** `toros serve NAME`, the owner of its jobs in the catalog, its unit's name. */
  name: string;
  /** Page title, e.g. "TOROS Preprocessor Service". */
  title: string;
  /** One paragraph for the documentation page. */
  description: string;
  /**
   * The config's address section this daemon binds (e.g. `Preprocessor Address`). A daemon without
   * one (a reduction worker) opens no port: no front desk, window or `/health`; it runs its
   * {@link background} work and stops on SIGTERM like the others.
   */
  address?(config: TorosConfig): AddressConfig;
  /** The kinds of work order this daemon carries out; the kit validates them (lib/work_order.ts). */
  workOrders: readonly WorkOrderKind[];
  /** `front_desk`'s help text: the orders it takes, with examples. */
  frontDeskHelp: string;
  /**
   * Checks what validation cannot (a night's directory, a telescope's name)
   * and says what to queue; throws an XmlRpcFault to refuse the order.
   */
  admit?(order: WorkOrder, workOrder: XmlRpcValue, context: DaemonContext): Promise<AdmittedOrder>;
  /** The job handler; a daemon without one only queues (another host runs its jobs). */
  createHandler?(context: DaemonContext): JobHandler;
  /** Fields a job's status adds or overrides for this service (e.g. `Night`, `Products`). */
  jobFields?(job: JobRecord, base: Record<string, XmlRpcValue>): Record<string, XmlRpcValue>;
  /** Details `/health` shows to a caller with the token (e.g. devices, the reduction's yielding). */
  healthDetails?(context: DaemonContext): Record<string, unknown> | Promise<Record<string, unknown>>;
  /** More HTML for the XML-RPC documentation page (`/rpc`) after the recent jobs. */
  pageHtml?(context: DaemonContext): Promise<string>;
  /** What the service adds to the daemon's window: status page sections, job page sections, routes. */
  web?: DaemonWeb;
  /** More XML-RPC methods of this service. */
  methods?(context: DaemonContext): Record<string, MethodSpec>;
  /** Percent of the time batch threads keep while the desk is busy (1-100, default 100: never nap). */
  yieldShare?(config: TorosConfig): number;
  /** Called after the front desk has queued a new job (e.g. to look at it at once). */
  received?(job: JobRecord, context: DaemonContext): void;
  /** Starts what the daemon does besides running jobs; stopped first when the daemon stops. */
  background?(context: DaemonContext): Background;
  /** Whether each new step of a running job goes into its story (`exposing 3/10`); default false. */
  stepsInHistory?: boolean;
}
