/**
 * An XML-RPC server for `Deno.serve`: POST on `/` and `/RPC2`, the
 * introspection methods and `system.multicall`, a documentation page on GET /,
 * optional token authentication (HTTP Basic password or Bearer), allowed client
 * networks, CORS, limits on a request's size, shape and reading time, and
 * bodies in the encoding their XML declaration names. A handler's own error
 * never reaches the client as a stack trace: it is logged with an id and the
 * fault carries the id.
 *
 * What `Deno.serve` (Deno 2.9) does not bound, no handler can: it never times
 * out a connection whose request headers trickle in, nor an idle one, and it
 * keeps a connection whose body is unfinished open for as long as the client
 * does. A late body is answered 408 here; the connections themselves need a
 * bound in front of the process (a reverse proxy's header and body timeouts,
 * or a firewall's per-client connection limit).
 *
 * @module
 */
import { createHash, timingSafeEqual } from "node:crypto";
import { type DecodeLimits, encodeFault, encodeMethodResponse, parseMethodCall } from "./codec.ts";
import {
  FAULT_INTERNAL,
  FAULT_INVALID_PARAMS,
  FAULT_INVALID_REQUEST,
  FAULT_METHOD_NOT_FOUND,
  FaultAnswer,
  XmlRpcFault,
  type XmlRpcValue,
} from "./values.ts";
import { BodyReader } from "./_body_reader.ts";
import { decodeXmlBytes } from "./_charset.ts";
import { inNetworks, type Network, parseNetwork } from "./_cidr.ts";
import { renderDocPage } from "./_doc_page.ts";

/** What a handler answers: a value, or a {@link FaultAnswer} to send as a fault. */
export type MethodResult = XmlRpcValue | FaultAnswer;

/** A method: its handler, its signatures (`[[return, param...]]`) and help text. */
export interface MethodSpec {
  handler: (...params: XmlRpcValue[]) => MethodResult | Promise<MethodResult>;
  signatures: string[][];
  help: string;
}

/** A registered method with its accepted parameter counts worked out once. */
interface Method extends MethodSpec {
  arities: Set<number>;
}

/** Server settings. */
export interface XmlRpcServerOptions {
  /** Page title, e.g. "TOROS Preprocessor Service". */
  title: string;
  description?: string;
  /** Largest request body in bytes (default 1 MiB); larger ones get 413. */
  maxBodyBytes?: number;
  /** Deepest XML nesting (default 100). */
  maxDepth?: number;
  /**
   * Most elements in one request (default {@link DEFAULT_MAX_REQUEST_ELEMENTS}); attributes, comments and
   * CDATA sections count too. More is refused with an invalid-request fault, as soon as the count passes.
   */
  maxElements?: number;
  /** Longest text of a name or value in a request, in characters (default {@link DEFAULT_MAX_TEXT_LENGTH}). */
  maxTextLength?: number;
  /**
   * Time allowed for a request's body to arrive once its headers have, in milliseconds (default
   * {@link DEFAULT_REQUEST_TIMEOUT_MS}); a later one gets 408 up to a quarter of it (at most 1 s) later.
   */
  requestTimeoutMs?: number;
  /**
   * Access-Control-Allow-Origin value, sent on preflights and to requests that carry `Origin` (browsers);
   * "" or undefined sends no CORS headers.
   */
  corsOrigin?: string;
  /** Shared secret: required as the HTTP Basic password or a Bearer token. */
  token?: string | null;
  /** CIDR blocks allowed to connect; empty = any. */
  allowedNetworks?: string[];
  /** More HTML for the documentation page (e.g. recent jobs). */
  docExtraHtml?: () => string | Promise<string>;
  /** Called with an error id when a handler fails unexpectedly. */
  onError?: (errorId: string, error: unknown) => void;
}

/**
 * The default of {@link XmlRpcServerOptions.maxElements}: far more than any call a client of ours sends (a
 * work order is about 60), and about 3 ms of the general decoder's time.
 */
export const DEFAULT_MAX_REQUEST_ELEMENTS = 10_000;

/** The default of {@link XmlRpcServerOptions.maxTextLength}: 1 Mi characters, the default body size. */
export const DEFAULT_MAX_TEXT_LENGTH = 1024 * 1024;

/** The default of {@link XmlRpcServerOptions.requestTimeoutMs}: 30 s. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;

const XML_HEADERS = { "content-type": "text/xml; charset=utf-8" };

/** A SHA-256 digest, so that secrets of any length are compared as 32 bytes each. */
function digest(text: string): Uint8Array {
  return createHash("sha256").update(text).digest();
}

/** The path of a request URL without building a URL object (hot path). */
export function pathOf(url: string): string {
  const start = url.indexOf("/", url.indexOf("//") + 2);
  if (start < 0) return "/";
  const end = url.search(/[?#]/);
  return end > start ? url.slice(start, end) : url.slice(start);
}

/** An XML-RPC server; `handle` is a `Deno.serve` handler. */
export class XmlRpcServer {
  readonly #options: XmlRpcServerOptions;
  readonly #methods = new Map<string, Method>();
  readonly #networks: Network[];
  readonly #maxBody: number;
  readonly #limits: DecodeLimits;
  readonly #bodies: BodyReader;
  readonly #requestTimeoutMs: number;
  /** The token's digest, compared with the digest of what a client sends; null without a token. */
  readonly #tokenDigest: Uint8Array | null;
  /** The headers of an XML answer to a client that sent no `Origin` (the Response copies them). */
  readonly #xmlHeaders: Record<string, string> = { ...XML_HEADERS };
  /** The same for a browser's cross-origin request, which carries `Origin`. */
  readonly #xmlHeadersCors: Record<string, string>;

  /** Creates the server with the introspection methods and multicall registered. */
  constructor(options: XmlRpcServerOptions) {
    this.#options = options;
    this.#maxBody = options.maxBodyBytes ?? 1024 * 1024;
    this.#limits = {
      maxDepth: options.maxDepth,
      maxElements: options.maxElements ?? DEFAULT_MAX_REQUEST_ELEMENTS,
      maxTextLength: options.maxTextLength ?? DEFAULT_MAX_TEXT_LENGTH,
    };
    this.#requestTimeoutMs = options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    this.#bodies = new BodyReader({ maxBytes: this.#maxBody, timeoutMs: this.#requestTimeoutMs });
    this.#tokenDigest = options.token ? digest(options.token) : null;
    this.#xmlHeadersCors = this.#cors({ ...XML_HEADERS });
    this.#networks = (options.allowedNetworks ?? []).map((text) => {
      const network = parseNetwork(text);
      if (!network) throw new Error(`Allowed network '${text}' is not in CIDR form`);
      return network;
    });
    this.register("system.listMethods", {
      handler: () => this.methodNames(),
      signatures: [["array"]],
      help: "Returns the names of the methods the server offers.",
    });
    this.register("system.methodHelp", {
      handler: (name) => this.#spec(name).help,
      signatures: [["string", "string"]],
      help: "Returns the help text of a method.",
    });
    this.register("system.methodSignature", {
      handler: (name) => this.#spec(name).signatures,
      signatures: [["array", "string"]],
      help: "Returns the signatures of a method: a list of [return type, parameter types...].",
    });
    this.register("system.multicall", {
      handler: (calls) => this.#multicall(calls),
      signatures: [["array", "array"]],
      help: "Runs several calls in one request: [{methodName, params}, ...]. Each result is wrapped in a " +
        "one-element array, each failure is a {faultCode, faultString} struct.",
    });
  }

  /** Registers (or replaces) a method. */
  register(name: string, spec: MethodSpec): void {
    this.#methods.set(name, { ...spec, arities: new Set(spec.signatures.map((s) => s.length - 1)) });
  }

  /** The registered method names, sorted. */
  methodNames(): string[] {
    return [...this.#methods.keys()].sort();
  }

  #spec(name: XmlRpcValue): MethodSpec {
    if (typeof name !== "string") {
      throw new XmlRpcFault(FAULT_INVALID_PARAMS, "Invalid params: method name must be a string");
    }
    const spec = this.#methods.get(name);
    if (!spec) throw new XmlRpcFault(FAULT_METHOD_NOT_FOUND, `Method not found: ${name}`);
    return spec;
  }

  async #multicall(calls: XmlRpcValue): Promise<XmlRpcValue> {
    if (!Array.isArray(calls)) {
      throw new XmlRpcFault(FAULT_INVALID_PARAMS, "Invalid params: multicall takes an array");
    }
    const results: XmlRpcValue[] = [];
    for (const call of calls) {
      try {
        const record = call as Record<string, XmlRpcValue>;
        if (typeof record !== "object" || record === null || typeof record.methodName !== "string") {
          throw new XmlRpcFault(FAULT_INVALID_PARAMS, "Invalid params: each call needs a methodName string");
        }
        if (record.methodName === "system.multicall") {
          throw new XmlRpcFault(FAULT_INVALID_REQUEST, "Invalid request: system.multicall cannot be nested");
        }
        const params = record.params ?? [];
        if (!Array.isArray(params)) {
          throw new XmlRpcFault(FAULT_INVALID_PARAMS, "Invalid params: params must be an array");
        }
        const result = await this.#invoke(record.methodName, params);
        results.push(
          result instanceof FaultAnswer ? { faultCode: result.code, faultString: result.message } : [result],
        );
      } catch (error) {
        const fault = this.#toFault(error);
        results.push({ faultCode: fault.code, faultString: fault.message });
      }
    }
    return results;
  }

  /** Runs a method; not async itself, so a handler's plain answer costs no extra promise. */
  #invoke(name: string, params: XmlRpcValue[]): MethodResult | Promise<MethodResult> {
    const method = this.#methods.get(name);
    if (!method) throw new XmlRpcFault(FAULT_METHOD_NOT_FOUND, `Method not found: ${name}`);
    if (method.arities.size > 0 && !method.arities.has(params.length)) {
      throw new XmlRpcFault(
        FAULT_INVALID_PARAMS,
        `Invalid params: ${name} takes ${
          [...method.arities].join(" or ")
        } parameter(s), got ${params.length}`,
      );
    }
    return method.handler(...params);
  }

  #toFault(error: unknown): XmlRpcFault | FaultAnswer {
    if (error instanceof XmlRpcFault || error instanceof FaultAnswer) return error;
    const errorId = crypto.randomUUID().slice(0, 8);
    this.#options.onError?.(errorId, error);
    return new XmlRpcFault(FAULT_INTERNAL, `Internal error (error id ${errorId}; see the server log)`);
  }

  /**
   * Adds the CORS answer for a request that carries `Origin` (only browsers send it, and only they act on
   * CORS headers). Other clients get none: besides being noise to them, three more headers push a small
   * answer past the size Deno writes to the socket in one call, and a second write costs a loopback
   * round of its own per request.
   */
  #cors(headers: Record<string, string>): Record<string, string> {
    if (this.#options.corsOrigin) {
      headers["access-control-allow-origin"] = this.#options.corsOrigin;
      // The answer depends on the request's Origin, so a shared cache must not hand it to another origin.
      headers["vary"] = "origin";
    }
    return headers;
  }

  #corsFor(request: Request, headers: Record<string, string>): Record<string, string> {
    return request.headers.has("origin") ? this.#cors(headers) : headers;
  }

  /** The answer to a CORS preflight (`OPTIONS`): what a browser may send, cached for ten minutes. */
  #preflight(): Response {
    const headers = this.#cors({});
    if (this.#options.corsOrigin) {
      headers["access-control-allow-methods"] = "POST, GET, OPTIONS";
      headers["access-control-allow-headers"] = "content-type, authorization";
      headers["access-control-max-age"] = "600";
    }
    return new Response(null, { status: 204, headers });
  }

  /** Whether the request carries the token: a Bearer token or the Basic password (schemes in any case, RFC 7235). */
  #authorized(request: Request): boolean {
    if (this.#tokenDigest === null) return true;
    const match = /^([A-Za-z]+)[ \t]+(.*)$/s.exec(request.headers.get("authorization") ?? "");
    if (match === null) return false;
    const scheme = match[1].toLowerCase();
    let secret: string;
    if (scheme === "bearer") {
      secret = match[2].trim();
    } else if (scheme === "basic") {
      try {
        const decoded = atob(match[2].trim());
        secret = decoded.slice(decoded.indexOf(":") + 1);
      } catch {
        return false;
      }
    } else {
      return false;
    }
    return timingSafeEqual(digest(secret), this.#tokenDigest);
  }

  /** Checks the client address against the allowed networks; a 403 Response when refused, else null. */
  refuseNetwork(info: Deno.ServeHandlerInfo): Response | null {
    if (this.#networks.length === 0) return null;
    const address = (info.remoteAddr as Deno.NetAddr).hostname ?? "";
    if (inNetworks(address, this.#networks)) return null;
    return new Response(`Forbidden: ${address} is not in the allowed networks\n`, { status: 403 });
  }

  /** Checks the client address and credentials; a Response when refused, else null. */
  guard(request: Request, info: Deno.ServeHandlerInfo): Response | null {
    const refused = this.refuseNetwork(info);
    if (refused) return refused;
    if (request.method !== "OPTIONS" && !this.#authorized(request)) {
      return new Response("Unauthorized: a valid token is required\n", {
        status: 401,
        headers: this.#corsFor(request, { "www-authenticate": 'Basic realm="toros", charset="UTF-8"' }),
      });
    }
    return null;
  }

  /** The documentation page (as on GET /): every method with its signatures and help, then the extra HTML. */
  async documentationPage(): Promise<string> {
    const extra = this.#options.docExtraHtml ? await this.#options.docExtraHtml() : "";
    const methods = this.methodNames().map((name) => ({ name, ...this.#methods.get(name)! }));
    return renderDocPage(this.#options.title, this.#options.description ?? "", methods, extra);
  }

  /** The registered methods with their signatures and help, sorted by name. */
  methodDocs(): { name: string; signatures: string[][]; help: string }[] {
    return this.methodNames().map((name) => {
      const { signatures, help } = this.#methods.get(name)!;
      return { name, signatures, help };
    });
  }

  /** Answers one XML-RPC call body (no HTTP): the response XML, at once when the method answers at once. */
  call(xml: string): string | Promise<string> {
    let result: MethodResult | Promise<MethodResult>;
    try {
      const { methodName, params } = parseMethodCall(xml, this.#limits);
      result = this.#invoke(methodName, params);
    } catch (error) {
      return this.#encodeFailure(error);
    }
    // A handler that answered at once is encoded at once: no promise, no microtask.
    if (!(result instanceof Promise)) return this.#encodeResult(result);
    return result.then((value) => this.#encodeResult(value), (error) => this.#encodeFailure(error));
  }

  #encodeResult(result: MethodResult): string {
    try {
      return result instanceof FaultAnswer
        ? encodeFault(result.code, result.message)
        : encodeMethodResponse(result);
    } catch (error) {
      return this.#encodeFailure(error); // a value that cannot be sent (nested too deep) is the server's fault
    }
  }

  #encodeFailure(error: unknown): string {
    const fault = this.#toFault(error);
    return encodeFault(fault.code, fault.message);
  }

  /** The `Deno.serve` handler. */
  async handle(request: Request, info: Deno.ServeHandlerInfo): Promise<Response> {
    const refused = this.guard(request, info);
    if (refused) return refused;
    const path = pathOf(request.url);
    const method = request.method;
    if (method === "OPTIONS") return this.#preflight();
    if (method === "GET" && path === "/") {
      return new Response(await this.documentationPage(), {
        headers: this.#corsFor(request, { "content-type": "text/html; charset=utf-8" }),
      });
    }
    if (path !== "/" && path !== "/RPC2") return new Response("Not found\n", { status: 404 });
    if (method !== "POST") {
      return new Response("Method not allowed\n", { status: 405, headers: { allow: "GET, POST, OPTIONS" } });
    }
    const body = await this.#bodies.read(request);
    if (body === "too large") {
      return new Response(`Request body larger than ${this.#maxBody} bytes\n`, { status: 413 });
    }
    if (body === "too slow") {
      // A well-behaved client closes on this; Deno.serve cannot close the connection itself.
      return new Response(`Request body not received within ${this.#requestTimeoutMs} ms\n`, {
        status: 408,
        headers: { connection: "close" },
      });
    }
    const headers = request.headers.has("origin") ? this.#xmlHeadersCors : this.#xmlHeaders;
    let text: string;
    try {
      text = decodeXmlBytes(body);
    } catch (error) {
      return new Response(this.#encodeFailure(error), { headers });
    }
    const answer = this.call(text);
    return new Response(typeof answer === "string" ? answer : await answer, { headers });
  }
}
