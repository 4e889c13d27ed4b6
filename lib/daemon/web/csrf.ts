/**
 * What keeps another web site from acting through an operator's browser
 * (cross-site request forgery). A browser that has the page open holds the
 * daemon's token as HTTP Basic credentials and sends them with every request
 * to the daemon, whichever site asks; so the token alone cannot tell the
 * page's own actions from a forged one, and every action (POST) on the
 * window's routes must also pass both of these:
 *
 * 1. **Not cross-site.** When the request carries `Origin`, its host must be
 *    the daemon's own (the `Host` the request was sent to), or the origin must
 *    be the one `Security: CORS Origin` names (never `*`); `Origin: null`
 *    (sandboxed frames, some redirects) is refused. When it carries
 *    `Sec-Fetch-Site`, that must be `same-origin` (or `none`, typed by the
 *    user), unless the origin is the one named. Clients that are not
 *    browsers send neither and pass.
 * 2. **Not a request any site can make.** The JSON API takes only
 *    `Content-Type: application/json`, which a browser sends to another
 *    origin only after a preflight (`OPTIONS`), and the API answers a
 *    preflight only for the origin `Security: CORS Origin` names; the page's
 *    plain HTML forms (used when its script does not run) carry a form token,
 *    random for each run of the daemon, that only a reader of the page knows:
 *    pages carry no CORS header, so another site cannot read them.
 *
 * Pages also forbid being framed (`frame-ancestors 'none'`), so another site
 * cannot trick a click on a button either. XML-RPC (`POST /` and `/RPC2`) is
 * untouched: its clients are programs, and its rules are `Security:`'s.
 *
 * @module
 */
import { createHash, timingSafeEqual } from "node:crypto";

/** The origin `Security: CORS Origin` names, or null when it is `*` or empty (no origin is trusted). */
export function trustedOrigin(corsOrigin: string | null | undefined): string | null {
  const origin = corsOrigin?.trim() ?? "";
  return origin === "" || origin === "*" ? null : origin.replace(/\/+$/, "");
}

/**
 * Why a state-changing request looks cross-site, or null when it does not
 * (rule 1 of the module's doc). `trusted` is {@link trustedOrigin}'s answer.
 */
export function crossSiteRefusal(request: Request, trusted: string | null): string | null {
  const origin = request.headers.get("origin");
  const site = request.headers.get("sec-fetch-site");
  if (origin !== null && trusted !== null && origin === trusted) return null;
  if (origin !== null) {
    let host: string;
    try {
      host = new URL(origin).host;
    } catch {
      return `Forbidden: a request from origin ${JSON.stringify(origin)} cannot act here`;
    }
    const ownHost = new URL(request.url).host;
    if (origin === "null" || host === "" || host !== ownHost) {
      return `Forbidden: a request from ${origin} cannot act on ${ownHost} (cross-site request)`;
    }
  }
  if (site !== null && site !== "same-origin" && site !== "none") {
    return `Forbidden: a ${site} request cannot act here (Sec-Fetch-Site)`;
  }
  return null;
}

/** A new form token: 32 random bytes, base64url. */
export function newFormToken(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  return btoa(String.fromCharCode(...bytes)).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

/** Whether `given` is the form token, compared in constant time. */
export function formTokenMatches(given: string | null, token: string): boolean {
  if (given === null) return false;
  const digest = (text: string) => createHash("sha256").update(text).digest();
  return timingSafeEqual(digest(given), digest(token));
}

/** Whether a request's body is declared as JSON (`application/json`, with or without parameters). */
export function isJson(request: Request): boolean {
  const type = request.headers.get("content-type") ?? "";
  return /^application\/json\s*(;|$)/i.test(type.trim());
}

/** Whether a request's body is a URL-encoded form (what an HTML form posts). */
export function isForm(request: Request): boolean {
  const type = request.headers.get("content-type") ?? "";
  return /^application\/x-www-form-urlencoded\s*(;|$)/i.test(type.trim());
}
