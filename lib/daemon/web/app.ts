/**
 * The daemon's window: every request that is not XML-RPC (`POST /`, `POST
 * /RPC2`) or `/health` comes here. It applies the same `Security:` rules as
 * XML-RPC (allowed networks, the token as Basic password or Bearer), refuses
 * cross-site actions (csrf.ts), and routes to the kit's pages, the JSON API,
 * the live feed, the XML-RPC documentation (`/rpc`) and the service's routes.
 *
 * @module
 */
import { FAULT_INVALID_REQUEST, type XmlRpcServer } from "../../xmlrpc/mod.ts";
import type { JobRunner } from "../job_runner.ts";
import type { FrontDesk } from "../front_desk.ts";
import type { DaemonContext, DaemonSpec, WebRoute } from "../spec.ts";
import { type HealthReport, internalError, jsonErrorResponse, type Kit, notFound, viewFor } from "./_kit.ts";
import * as api from "./api.ts";
import { crossSiteRefusal, newFormToken, trustedOrigin } from "./csrf.ts";
import { LiveFeed, type LiveUpdate } from "./live.ts";
import { jobPage, liveUpdate, refusedPage, serviceSectionsHtml, statusPage } from "./pages.ts";

/** What the window is made from. */
export interface WebAppOptions {
  /** The daemon's declaration (its `web` hook among it). */
  spec: DaemonSpec;
  /** What the daemon's parts share. */
  context: DaemonContext;
  /** The job runner, when this daemon runs jobs. */
  runner: JobRunner | null;
  /** The job methods, as XML-RPC answers them (the JSON API goes through them). */
  desk: FrontDesk;
  /** The XML-RPC server: its `Security:` rules and `/rpc`'s documentation. */
  server: XmlRpcServer;
  /** `/health`'s report, which the status page shows. */
  health(detailed: boolean): Promise<HealthReport>;
  /** Logs an unexpected error under its id. */
  onError(id: string, error: unknown): void;
  /** How often the live feed looks at the jobs while a page listens (default 500 ms). */
  liveIntervalMs?: number;
}

/** The window of one daemon. */
export interface WebApp {
  /** Answers a request (after the daemon's own routing of XML-RPC and `/health`). */
  handle(request: Request, info: Deno.ServeHandlerInfo): Promise<Response>;
  /** The live feed (how many pages listen). */
  readonly feed: LiveFeed;
  /** Ends the live streams, so the daemon can stop. */
  close(): void;
}

/** A route's path split into segments, `:name` segments matching anything. */
function match(pattern: string, path: string): Record<string, string> | null {
  const want = pattern.split("/");
  const have = path.split("/");
  if (want.length !== have.length) return null;
  const params: Record<string, string> = {};
  for (let i = 0; i < want.length; i++) {
    if (want[i].startsWith(":")) {
      if (have[i] === "") return null;
      try {
        params[want[i].slice(1)] = decodeURIComponent(have[i]);
      } catch {
        return null;
      }
    } else if (want[i] !== have[i]) return null;
  }
  return params;
}

/** Creates the window of a daemon. */
export function createWebApp(options: WebAppOptions): WebApp {
  const kit: Kit = {
    spec: options.spec,
    context: options.context,
    runner: options.runner,
    desk: options.desk,
    server: options.server,
    formToken: newFormToken(),
    corsOrigin: options.context.config.security.corsOrigin,
    maxBodyBytes: options.context.config.security.maxBodyBytes,
    health: options.health,
    onError: options.onError,
  };
  const trusted = trustedOrigin(kit.corsOrigin);
  // The service's sections (a night's thumbnails, tonight's plan) are drawn again only when the jobs change.
  const feedUrl = new URL("http://localhost/");
  const feedView = viewFor(kit, new Request(feedUrl), feedUrl);
  let serviceKey = "";
  let serviceHtml = "";
  const look = async (previousKey?: string): Promise<LiveUpdate> => {
    const update = await liveUpdate(kit, previousKey);
    if (!update.sections) return update;
    if (update.key !== serviceKey) {
      serviceHtml = await serviceSectionsHtml(kit, feedView);
      serviceKey = update.key;
    }
    if (serviceHtml !== "") update.sections["live-service"] = serviceHtml;
    return update;
  };
  // A catalog that stops answering is logged once, not twice a second while pages listen.
  let lastProblem = "";
  const feed = new LiveFeed(async (previousKey) => {
    const update = await look(previousKey);
    lastProblem = "";
    return update;
  }, {
    intervalMs: options.liveIntervalMs,
    onError: (error) => {
      const problem = error instanceof Error ? error.message : String(error);
      if (problem !== lastProblem) options.context.log.warning(`Live feed: ${problem}`);
      lastProblem = problem;
    },
  });
  const serviceRoutes: readonly WebRoute[] = options.spec.web?.routes ?? [];

  /**
   * A CORS preflight of the window's routes (XML-RPC answers its own): answered in full only for the
   * origin `Security: CORS Origin` names, so no other site's script may send JSON here.
   */
  function preflight(request: Request): Response {
    const origin = request.headers.get("origin");
    if (trusted === null || origin !== trusted) return new Response(null, { status: 204 });
    return new Response(null, {
      status: 204,
      headers: {
        "access-control-allow-origin": trusted,
        "access-control-allow-methods": "GET, POST, OPTIONS",
        "access-control-allow-headers": "content-type, authorization",
        "access-control-max-age": "600",
        vary: "origin",
      },
    });
  }

  async function get(request: Request, url: URL): Promise<Response> {
    const path = url.pathname;
    if (path === "/") return await statusPage(kit, request, url);
    if (path === "/rpc") {
      return new Response(await kit.server.documentationPage(), {
        headers: { "content-type": "text/html; charset=utf-8", "x-frame-options": "DENY" },
      });
    }
    if (path === "/events") {
      return new Response(feed.stream(), {
        headers: {
          "content-type": "text/event-stream; charset=utf-8",
          "cache-control": "no-store",
          "x-accel-buffering": "no",
        },
      });
    }
    if (path === "/live") {
      return new Response(JSON.stringify(await feed.current()), {
        headers: { "content-type": "application/json; charset=utf-8", "cache-control": "no-store" },
      });
    }
    if (path === "/api" || path === "/api/") {
      return Response.redirect(new URL("/#api", url), 302);
    }
    if (path === "/api/jobs") return await api.listJobs(kit, request, url);
    let params = match("/api/jobs/:id", path);
    if (params) return await api.jobStatus(kit, request, params.id);
    params = match("/api/work-orders/:id", path);
    if (params) return await api.workOrderStatus(kit, request, params.id);
    params = match("/jobs/:id", path);
    if (params) {
      const job = /^\d{1,15}$/.test(params.id) ? await kit.context.store.getJob(Number(params.id)) : null;
      if (!job || job.service !== kit.spec.name) return notFound(kit, request, url, `Job ${params.id}`);
      return await jobPage(kit, request, url, job);
    }
    for (const route of serviceRoutes) {
      params = match(route.path, path);
      if (params) return await route.handle(params, kit.context, viewFor(kit, request, url));
    }
    return notFound(kit, request, url, path);
  }

  async function post(request: Request, url: URL): Promise<Response> {
    const path = url.pathname;
    const refused = crossSiteRefusal(request, trusted);
    if (refused) {
      await request.body?.cancel();
      options.context.log.warning(`Refused ${request.method} ${path}: ${refused}`);
      return path.startsWith("/api/")
        ? jsonErrorResponse(kit, request, FAULT_INVALID_REQUEST, refused, 403)
        : refusedPage(kit, "Refused", refused, 403);
    }
    if (path === "/api/work-orders") return await api.submitWorkOrder(kit, request);
    let params = match("/api/jobs/:id/cancel", path);
    if (params) return await api.cancelJob(kit, request, params.id);
    if (path === "/actions/work-order") return await api.submitForm(kit, request);
    params = match("/actions/jobs/:id/cancel", path);
    if (params) return await api.cancelForm(kit, request, params.id);
    await request.body?.cancel();
    return notFound(kit, request, url, `POST ${path}`);
  }

  async function handle(request: Request, info: Deno.ServeHandlerInfo): Promise<Response> {
    const url = new URL(request.url);
    if (request.method === "OPTIONS") {
      const network = kit.server.refuseNetwork(info);
      return network ?? preflight(request);
    }
    const refused = kit.server.guard(request, info);
    if (refused) {
      await request.body?.cancel();
      if (!url.pathname.startsWith("/api/")) return refused;
      // The same refusal, in the API's words: its status and headers (WWW-Authenticate), a JSON error.
      const message = (await refused.text()).trim();
      const answer = jsonErrorResponse(kit, request, FAULT_INVALID_REQUEST, message, refused.status);
      refused.headers.forEach((value, name) => {
        if (name !== "content-type" && name !== "content-length") answer.headers.set(name, value);
      });
      return answer;
    }
    const started = performance.now();
    let response: Response;
    try {
      if (request.method === "GET" || request.method === "HEAD") response = await get(request, url);
      else if (request.method === "POST") response = await post(request, url);
      else {
        await request.body?.cancel();
        return new Response("Method not allowed\n", {
          status: 405,
          headers: { allow: "GET, POST, OPTIONS" },
        });
      }
    } catch (error) {
      response = internalError(kit, request, error, url.pathname.startsWith("/api/"));
    }
    // How long the answer took to make (a stream's, only to start): browsers' tools and the benchmark read it.
    try {
      response.headers.set("server-timing", `app;dur=${(performance.now() - started).toFixed(2)}`);
    } catch { /* a redirect's headers cannot be changed */ }
    return response;
  }

  return { handle, feed, close: () => feed.close() };
}
