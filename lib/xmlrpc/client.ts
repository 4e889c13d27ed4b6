/**
 * A small XML-RPC client over fetch: `user:token@` in the URL becomes HTTP Basic
 * authentication, as Python's ServerProxy does; an answer is read in the
 * encoding its XML declaration names, as xmlrpc.client reads it.
 *
 * @module
 */
import { encodeMethodCall, parseMethodResponse } from "./codec.ts";
import { decodeXmlBytes } from "./_charset.ts";
import type { XmlRpcValue } from "./values.ts";

/** Client options. */
export interface CallOptions {
  /** Give up after this many milliseconds (default 30 s). */
  timeoutMs?: number;
}

/** Calls `method` at `url`; throws XmlRpcFault for a fault, Error for HTTP or network failures. */
export async function callXmlRpc(
  url: string,
  method: string,
  params: XmlRpcValue[],
  options: CallOptions = {},
): Promise<XmlRpcValue> {
  const target = new URL(url);
  const headers: Record<string, string> = { "content-type": "text/xml" };
  if (target.username || target.password) {
    headers.authorization = `Basic ${
      btoa(`${decodeURIComponent(target.username)}:${decodeURIComponent(target.password)}`)
    }`;
    target.username = "";
    target.password = "";
  }
  let response: Response;
  try {
    response = await fetch(target, {
      method: "POST",
      headers,
      body: encodeMethodCall(method, params),
      signal: AbortSignal.timeout(options.timeoutMs ?? 30_000),
    });
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new Error(`Cannot reach ${target.origin}: ${reason}`);
  }
  if (!response.ok) {
    const text = await response.text();
    throw new Error(`${target.origin} answered HTTP ${response.status}: ${text.trim().slice(0, 200)}`);
  }
  // The answer's own encoding (its XML declaration or byte order mark), as for requests on the server.
  return parseMethodResponse(decodeXmlBytes(new Uint8Array(await response.arrayBuffer())));
}
