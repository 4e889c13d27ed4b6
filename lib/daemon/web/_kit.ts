/**
 * What the window's parts share: the daemon's declaration, context, runner and
 * front desk, and the per-request {@link WebView} (layout, headers, JSON).
 *
 * @module
 */
import type { XmlRpcServer, XmlRpcValue } from "../../xmlrpc/mod.ts";
import type { JobRecord } from "../../store/mod.ts";
import { FAULT_INTERNAL, FAULT_METHOD_NOT_FOUND, XmlRpcDouble } from "../../xmlrpc/mod.ts";
import type { FrontDesk } from "../front_desk.ts";
import { jobStatusOf } from "../front_desk.ts";
import type { JobRunner } from "../job_runner.ts";
import type { DaemonContext, DaemonSpec, WebView } from "../spec.ts";
import { SCRIPT, STYLE } from "./_assets.ts";
import { escapeHtml, link } from "./html.ts";

/** What `/health` reports, and whether the daemon is well (HTTP 200) or not (503). */
export interface HealthReport {
  /** Whether the catalog answers. */
  ok: boolean;
  /** What `/health` answers as JSON. */
  body: Record<string, unknown>;
}

/** The daemon's parts, as the window sees them. */
export interface Kit {
  /** The daemon's declaration. */
  spec: DaemonSpec;
  /** What the daemon's parts share (config, catalog, log, clock). */
  context: DaemonContext;
  /** The job runner, when this daemon runs jobs. */
  runner: JobRunner | null;
  /** The job methods, as XML-RPC answers them. */
  desk: FrontDesk;
  /** The XML-RPC server: its `Security:` rules and its method documentation. */
  server: XmlRpcServer;
  /** The token the page's HTML forms carry (see csrf.ts). */
  formToken: string;
  /** `Security: CORS Origin` as configured. */
  corsOrigin: string;
  /** `Security: Max Body Bytes`: the largest body an action may send. */
  maxBodyBytes: number;
  /** `/health`'s report; `detailed` with the service's details. */
  health(detailed: boolean): Promise<HealthReport>;
  /** Logs an unexpected error under `id`. */
  onError(id: string, error: unknown): void;
}

/** How a page is laid out: its `<body>` attributes (the script reads them) and navigation. */
export interface LayoutOptions {
  /** HTTP status (default 200). */
  status?: number;
  /** `data-*` attributes of `<body>`, by name without `data-` (values are escaped). */
  data?: Record<string, string>;
}

/** A nonce for one page's inline style and script (Content-Security-Policy). */
function nonce(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return btoa(String.fromCharCode(...bytes));
}

/** Renders a whole page in the daemon's layout as a Response with the kit's headers. */
export function pageResponse(
  kit: Kit,
  title: string,
  bodyHtml: string,
  options: LayoutOptions = {},
): Response {
  const token = nonce();
  const data = Object.entries(options.data ?? {}).map(([name, value]) =>
    ` data-${escapeHtml(name)}="${escapeHtml(value)}"`
  ).join("");
  const spec = kit.spec;
  const html = `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)} · ${escapeHtml(spec.title)}</title>
<style nonce="${token}">${STYLE}</style>
</head><body${data}>
<header class="top"><h1>${link("/", spec.title)}</h1>
<nav>${link("/", "Status")} ${link("/#api", "JSON API")} ${link("/rpc", "XML-RPC methods")} ${
    link("/health", "/health")
  }</nav></header>
<main>
${bodyHtml}
</main>
<footer>TOROS ${
    escapeHtml(spec.name)
  } · served by this daemon; nothing on this page comes from elsewhere.</footer>
<script nonce="${token}">${SCRIPT}</script>
</body></html>
`;
  return new Response(html, {
    status: options.status ?? 200,
    headers: {
      "content-type": "text/html; charset=utf-8",
      // Nothing from elsewhere: no fonts, scripts or styles but the page's own; no framing (clickjacking).
      "content-security-policy": `default-src 'none'; img-src 'self'; style-src 'nonce-${token}'; ` +
        `script-src 'nonce-${token}'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; ` +
        "base-uri 'none'",
      "x-frame-options": "DENY",
      "x-content-type-options": "nosniff",
      "referrer-policy": "same-origin",
      "cache-control": "no-store",
    },
  });
}

/** The CORS answer for a JSON API response to a browser (`Origin` sent), as XML-RPC gives it. */
export function corsHeaders(kit: Kit, request: Request): Record<string, string> {
  if (!kit.corsOrigin || !request.headers.has("origin")) return {};
  return { "access-control-allow-origin": kit.corsOrigin, vary: "origin" };
}

/** A JSON answer. */
export function jsonResponse(kit: Kit, request: Request, value: unknown, status = 200): Response {
  return new Response(JSON.stringify(value, jsonReplacer, 2) + "\n", {
    status,
    headers: {
      "content-type": "application/json; charset=utf-8",
      "cache-control": "no-store",
      "x-content-type-options": "nosniff",
      ...corsHeaders(kit, request),
    },
  });
}

/** XML-RPC values as JSON: dates as ISO 8601, forced doubles as numbers, big integers as text, bytes as base64. */
function jsonReplacer(_key: string, value: unknown): unknown {
  if (typeof value === "bigint") {
    return value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER)
      ? Number(value)
      : value.toString();
  }
  if (value instanceof Uint8Array) return btoa(String.fromCharCode(...value));
  if (value instanceof XmlRpcDouble) return value.value;
  return value;
}

/** A JSON error answer. */
export function jsonErrorResponse(
  kit: Kit,
  request: Request,
  code: number,
  message: string,
  status: number,
): Response {
  return jsonResponse(kit, request, { error: { code, message } }, status);
}

/** An unexpected error: logged with an id, answered with the id only (never a stack trace). */
export function internalError(kit: Kit, request: Request, error: unknown, json: boolean): Response {
  const id = crypto.randomUUID().slice(0, 8);
  kit.onError(id, error);
  const message = `Internal error (error id ${id}; see the server log)`;
  if (json) return jsonErrorResponse(kit, request, FAULT_INTERNAL, message, 500);
  return pageResponse(kit, "Error", `<h2>Internal error</h2><p class="error">${escapeHtml(message)}</p>`, {
    status: 500,
  });
}

/** The view of one request for a service's sections and routes. */
export function viewFor(kit: Kit, request: Request, url: URL): WebView {
  return {
    request,
    url,
    running: () => kit.runner?.current ?? null,
    jobStatus: (job: JobRecord): Record<string, XmlRpcValue> => jobStatusOf(job, kit.spec, kit.runner),
    page: (title, bodyHtml, options) => pageResponse(kit, title, bodyHtml, options),
    json: (value, options) => jsonResponse(kit, request, value, options?.status),
    jsonError: (code, message, status) => jsonErrorResponse(kit, request, code, message, status),
    notFound: (what) => notFound(kit, request, url, what),
  };
}

/** The "not found" answer: JSON under `/api/`, a page elsewhere. */
export function notFound(kit: Kit, request: Request, url: URL, what: string): Response {
  if (url.pathname.startsWith("/api/") || url.pathname === "/api") {
    return jsonErrorResponse(kit, request, FAULT_METHOD_NOT_FOUND, `Not found: ${what}`, 404);
  }
  return pageResponse(
    kit,
    "Not found",
    `<h2>Not found</h2><p>${escapeHtml(what)} is not here.</p><p>${link("/", "Back to the status page")}</p>`,
    { status: 404 },
  );
}
