/**
 * The daemons' window: the status page on `GET /` of every daemon (health,
 * the queue and running jobs with live progress, recent work orders, the
 * actions), job pages, the JSON API mirroring the XML-RPC job methods, and the
 * pieces a service writes its own sections and pages with (html.ts). A
 * service adds to it through {@link DaemonSpec.web}.
 *
 * @example
 * ```ts
 * import { escapeHtml, section, type DaemonWeb } from "./mod.ts";
 * const web: DaemonWeb = {
 *   sections: () => Promise.resolve(section("Devices", `<p>${escapeHtml("mount: parked")}</p>`)),
 * };
 * ```
 *
 * @module
 */
export type { DaemonSpec, DaemonWeb, WebRoute, WebView } from "../spec.ts";
export { createWebApp, type WebApp, type WebAppOptions } from "./app.ts";
export type { HealthReport } from "./_kit.ts";
export { crossSiteRefusal, formTokenMatches, isForm, isJson, newFormToken, trustedOrigin } from "./csrf.ts";
export { LiveFeed, type LiveFeedOptions, type LiveLook, type LiveProgress, type LiveUpdate } from "./live.ts";
export { type ApiDoc, KIT_API } from "./pages.ts";
export * from "./html.ts";
