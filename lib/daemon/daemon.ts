/**
 * Starts a declared daemon: opens the catalog, binds its configured address
 * with the XML-RPC front desk, the window (status page, job pages, JSON API,
 * the XML-RPC documentation on `/rpc`; see web/) and `/health`, and runs its
 * jobs in the background; `stop()` (SIGTERM) stops accepting, lets the
 * running job reach a safe point and puts it back in the queue.
 *
 * @module
 */
import type { TorosConfig } from "../config.ts";
import { getLogger } from "../log.ts";
import { openStore, type Store } from "../store/mod.ts";
import { escapeHtml, pathOf, XmlRpcServer } from "../xmlrpc/mod.ts";
import { VERSION } from "../version.ts";
import { YieldGate } from "../yield_gate.ts";
import { registerJobMethods } from "./front_desk.ts";
import { JobRunner } from "./job_runner.ts";
import type { Background, DaemonContext, DaemonSpec } from "./spec.ts";
import { createWebApp, type HealthReport } from "./web/mod.ts";

/** A running daemon. */
export interface RunningDaemon {
  /** The port bound (useful with Port 0); 0 for a daemon without an address. */
  readonly port: number;
  /** Resolves when the daemon has stopped. */
  finished: Promise<void>;
  /** Stops gracefully: no new requests, the running job goes back to the queue. */
  stop(): Promise<void>;
  store: Store;
  /** The job runner, when this daemon runs jobs. */
  runner: JobRunner | null;
}

/** Options of {@link startDaemon}. */
export interface StartDaemonOptions {
  /** Run queued jobs (default true); false only queues them. */
  runJobs?: boolean;
  /** Called with the bound port. */
  onListen?: (port: number) => void;
  /** Lease length of the job runner (default 15 s). */
  leaseMs?: number;
  /** Rehearsal: the daemon's clock starts at this instant and runs at real speed. */
  at?: Date;
  /** How often the status page's live feed looks at the jobs while a page listens (default 500 ms). */
  liveIntervalMs?: number;
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** The recent jobs table of the XML-RPC documentation page. */
async function recentJobsHtml(spec: DaemonSpec, store: Store): Promise<string> {
  const jobs = await store.listJobs({ service: spec.name, limit: 20 });
  const rows = jobs.map((job) =>
    `<tr><td>${job.id}</td><td>${escapeHtml(job.workOrderId)}</td><td>${job.status}</td><td>${
      Math.round(job.progress * 100)
    }%</td><td>${escapeHtml(job.night ?? "")}</td><td>${job.createdAt}</td></tr>`
  );
  return `<h2>Recent jobs</h2>\n<table><tr><th>Job</th><th>ID</th><th>Status</th><th>Progress</th><th>Night</th>` +
    `<th>Received</th></tr>\n${rows.join("\n") || '<tr><td colspan="6">No jobs yet.</td></tr>'}</table>`;
}

/**
 * Starts a daemon without an address: its background work (and its jobs, if it has a handler) with
 * the catalog, no port; `stop()` stops the background work, then the runner, then closes the catalog.
 */
function startHeadless(
  spec: DaemonSpec,
  context: DaemonContext,
  runner: JobRunner | null,
): RunningDaemon {
  const { log, store } = context;
  runner?.start();
  const background: Background | null = spec.background?.(context) ?? null;
  log.info(`${spec.title} running (no address: it serves no requests)`);
  const { promise: finished, resolve } = Promise.withResolvers<void>();
  let stopping: Promise<void> | null = null;
  const stop = () =>
    stopping ??= (async () => {
      log.info("Stopping: the running work stops at a safe point and goes back to the queue");
      try {
        await background?.stop();
        await runner?.stop();
      } finally {
        await store.close();
        log.info("Stopped");
        resolve();
      }
    })();
  return { port: 0, finished, stop, store, runner };
}

/** Starts `spec` with a loaded config. Throws when the catalog cannot be opened or the address bound. */
export async function startDaemon(
  spec: DaemonSpec,
  config: TorosConfig,
  options: StartDaemonOptions = {},
): Promise<RunningDaemon> {
  const log = getLogger(spec.name);
  const store = await openStore(config.database);
  const gate = new YieldGate(spec.yieldShare?.(config) ?? 100);
  const offset = options.at ? options.at.getTime() - Date.now() : 0;
  const clock = () => new Date(Date.now() + offset);
  const context: DaemonContext = {
    config,
    store,
    log,
    gate,
    clock,
    interrupt: async (why) => (await runner?.interrupt(why)) ?? null,
  };
  const runner: JobRunner | null = options.runJobs === false || !spec.createHandler ? null : new JobRunner({
    service: spec.name,
    store,
    handler: spec.createHandler(context),
    log: getLogger(`${spec.name}.jobs`),
    leaseMs: options.leaseMs,
    stepsInHistory: spec.stepsInHistory,
    clock,
  });
  if (!spec.address) {
    try {
      return startHeadless(spec, context, runner);
    } catch (error) {
      // Its background work could not start (a catalog it cannot work with): nothing keeps running.
      await runner?.stop();
      await store.close();
      throw error;
    }
  }
  const started = Date.now();
  const server = new XmlRpcServer({
    title: spec.title,
    description: spec.description,
    maxBodyBytes: config.security.maxBodyBytes,
    corsOrigin: config.security.corsOrigin,
    token: config.security.token,
    allowedNetworks: config.security.allowedNetworks,
    requestTimeoutMs: config.security.requestTimeoutSeconds * 1000,
    onError: (id, error) =>
      log.error(
        `Internal error ${id}: ${error instanceof Error ? `${error.message}\n${error.stack}` : error}`,
      ),
    docExtraHtml: async () => (await recentJobsHtml(spec, store)) + (await spec.pageHtml?.(context) ?? ""),
  });
  const desk = registerJobMethods(server, spec, context, runner);
  for (const [name, method] of Object.entries(spec.methods?.(context) ?? {})) server.register(name, method);

  /** `/health`: status, version, uptime and queue depth for anyone allowed in; the details need the token. */
  const healthReport = async (detailed: boolean): Promise<HealthReport> => {
    let database = "ok";
    let queue: Record<string, number> = {};
    try {
      await store.ping();
      queue = await store.countJobs(spec.name);
    } catch (error) {
      database = message(error);
    }
    const body: Record<string, unknown> = {
      status: database === "ok" ? "ok" : "degraded",
      service: spec.name,
      version: VERSION,
      uptimeSeconds: Math.round((Date.now() - started) / 1000),
      queueDepth: queue.queued ?? 0,
    };
    if (detailed) {
      Object.assign(body, {
        jobs: queue,
        running: runner?.current ?? null,
        ...(await spec.healthDetails?.(context)),
        database,
        databaseBackend: store.description,
      });
    }
    return { ok: database === "ok", body };
  };
  const health = async (detailed: boolean): Promise<Response> => {
    const report = await healthReport(detailed);
    return new Response(JSON.stringify(report.body, null, 2) + "\n", {
      status: report.ok ? 200 : 503,
      headers: { "content-type": "application/json" },
    });
  };
  const web = createWebApp({
    spec,
    context,
    runner,
    desk,
    server,
    health: healthReport,
    onError: (id, error) =>
      log.error(
        `Internal error ${id}: ${error instanceof Error ? `${error.message}\n${error.stack}` : error}`,
      ),
    liveIntervalMs: options.liveIntervalMs,
  });

  const handle = (request: Request, info: Deno.ServeHandlerInfo): Promise<Response> => {
    // Every request makes the daemon's batch threads give way for a moment (see YieldGate).
    gate.touch();
    const method = request.method;
    const path = pathOf(request.url);
    // XML-RPC first, exactly as before (the front desk's hot path): POST / and /RPC2, and their preflights.
    if ((method === "POST" || method === "OPTIONS") && (path === "/" || path === "/RPC2")) {
      return server.handle(request, info);
    }
    if (method === "GET" && path === "/health") {
      // Monitoring needs no token, but the network restriction still applies; without the token
      // (when one is set) the answer leaves out the catalog's location and the running job.
      const refused = server.refuseNetwork(info);
      if (refused) return Promise.resolve(refused);
      return health(server.guard(request, info) === null);
    }
    // Everything else is the window: the status page, job pages, the JSON API, /rpc, the live feed.
    return web.handle(request, info);
  };

  const address = spec.address(config);
  const controller = new AbortController();
  let boundPort = address.port;
  let httpServer: Deno.HttpServer;
  try {
    httpServer = Deno.serve({
      hostname: address.ip,
      port: address.port,
      signal: controller.signal,
      onListen: (addr) => {
        boundPort = addr.port;
        log.info(`${spec.title} ${address.http} listening on ${addr.hostname}:${addr.port}`);
        options.onListen?.(addr.port);
      },
      onError: (error) => {
        const id = crypto.randomUUID().slice(0, 8);
        log.error(`Request failed (error id ${id}): ${message(error)}`);
        return new Response(`Internal error (error id ${id})\n`, { status: 500 });
      },
    }, handle);
  } catch (error) {
    await runner?.stop();
    await store.close();
    const reason = error instanceof Deno.errors.AddrInUse ? "the address is already in use" : message(error);
    throw new Error(`Cannot listen on ${address.ip}:${address.port}: ${reason}`);
  }
  runner?.start();
  if (options.at) log.info(`Rehearsal: the clock starts at ${options.at.toISOString()}`);
  const background = spec.background?.(context) ?? null;
  let stopping: Promise<void> | null = null;
  const stop = () =>
    stopping ??= (async () => {
      log.info("Stopping: no new requests; the running job stops at a safe point and goes back to the queue");
      // Open pages' live streams would keep the server from finishing: they end first.
      web.close();
      controller.abort();
      await background?.stop();
      await runner?.stop();
      await httpServer.finished;
      await store.close();
      log.info("Stopped");
    })();
  return {
    get port() {
      return boundPort;
    },
    finished: httpServer.finished.then(() => stopping ?? undefined),
    stop,
    store,
    runner,
  };
}
