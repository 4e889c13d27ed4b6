/**
 * The JSON API, mirroring the XML-RPC job methods through the same front desk
 * (the same validation, the same faults, as `{"error": {"code", "message"}}`),
 * and the page's HTML form actions, which take the same path.
 *
 * @module
 */
import {
  FAULT_INTERNAL,
  FAULT_INVALID_PARAMS,
  FAULT_INVALID_REQUEST,
  FAULT_PARSE_ERROR,
  FaultAnswer,
  XmlRpcFault,
  type XmlRpcValue,
} from "../../xmlrpc/mod.ts";
import { FAULT_NO_SUCH_JOB } from "../front_desk.ts";
import { internalError, jsonErrorResponse, jsonResponse, type Kit } from "./_kit.ts";
import { formTokenMatches, isForm, isJson } from "./csrf.ts";
import { refusedPage } from "./pages.ts";

/** The HTTP status of a fault: 404 for an unknown job, 500 for the server's own, 400 for the rest. */
export function httpStatusOf(code: number): number {
  if (code === FAULT_NO_SUCH_JOB) return 404;
  if (code === FAULT_INTERNAL) return 500;
  return 400;
}

/** A body refused before it was read or parsed: its HTTP status, fault code and message. */
class BodyRefused {
  readonly status: number;
  readonly code: number;
  readonly message: string;
  constructor(status: number, code: number, message: string) {
    this.status = status;
    this.code = code;
    this.message = message;
  }
}

/** Reads a body of at most `maxBytes` (413 past it, whatever Content-Length says) as text. */
async function readText(request: Request, maxBytes: number): Promise<string> {
  const declared = Number(request.headers.get("content-length") ?? NaN);
  if (declared > maxBytes) {
    await request.body?.cancel();
    throw new BodyRefused(413, FAULT_INVALID_REQUEST, `Request body larger than ${maxBytes} bytes`);
  }
  if (!request.body) return "";
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = request.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.length;
    if (size > maxBytes) {
      await reader.cancel();
      throw new BodyRefused(413, FAULT_INVALID_REQUEST, `Request body larger than ${maxBytes} bytes`);
    }
    chunks.push(value);
  }
  const bytes = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.length;
  }
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw new BodyRefused(400, FAULT_PARSE_ERROR, "Parse error: the body is not UTF-8");
  }
}

/** The JSON body of an API action (`Content-Type: application/json` is required: see csrf.ts). */
async function readJson(kit: Kit, request: Request): Promise<XmlRpcValue> {
  if (!isJson(request)) {
    await request.body?.cancel();
    throw new BodyRefused(
      415,
      FAULT_INVALID_REQUEST,
      "Invalid request: the body must be JSON, sent with Content-Type: application/json",
    );
  }
  const text = await readText(request, kit.maxBodyBytes);
  if (text.trim() === "") return null;
  try {
    // JSON's values are XML-RPC values too (numbers, strings, booleans, null, arrays, structs).
    return JSON.parse(text) as XmlRpcValue;
  } catch (error) {
    throw new BodyRefused(
      400,
      FAULT_PARSE_ERROR,
      `Parse error: the body is not JSON (${error instanceof Error ? error.message : error})`,
    );
  }
}

/** Answers what the front desk answered: the value as JSON, or its fault as a JSON error. */
async function answer(
  kit: Kit,
  request: Request,
  call: () => XmlRpcValue | FaultAnswer | Promise<XmlRpcValue | FaultAnswer>,
  wrap?: (value: XmlRpcValue) => unknown,
): Promise<Response> {
  try {
    const value = await call();
    if (value instanceof FaultAnswer) {
      return jsonErrorResponse(kit, request, value.code, value.message, httpStatusOf(value.code));
    }
    return jsonResponse(kit, request, wrap ? wrap(value) : value);
  } catch (error) {
    if (error instanceof BodyRefused) {
      return jsonErrorResponse(kit, request, error.code, error.message, error.status);
    }
    if (error instanceof XmlRpcFault || error instanceof FaultAnswer) {
      return jsonErrorResponse(kit, request, error.code, error.message, httpStatusOf(error.code));
    }
    return internalError(kit, request, error, true);
  }
}

/** A job number from the path: digits only (a work order's ID goes to `/api/work-orders/{ID}`). */
function jobNumber(text: string): number | null {
  return /^\d{1,15}$/.test(text) ? Number(text) : null;
}

/** `GET /api/jobs?status=&limit=`: recent jobs, as list_jobs. */
export function listJobs(kit: Kit, request: Request, url: URL): Promise<Response> {
  const filter: Record<string, XmlRpcValue> = {};
  const status = url.searchParams.get("status");
  const limit = url.searchParams.get("limit");
  if (status !== null) filter.Status = status;
  if (limit !== null) filter.Limit = /^\d{1,9}$/.test(limit) ? Number(limit) : limit;
  return answer(kit, request, () => kit.desk.list(filter), (jobs) => ({ jobs }));
}

/** `GET /api/jobs/{job}`: a job's status, as job_status. */
export function jobStatus(kit: Kit, request: Request, id: string): Promise<Response> {
  const number = jobNumber(id);
  if (number === null) {
    return Promise.resolve(jsonErrorResponse(
      kit,
      request,
      FAULT_INVALID_PARAMS,
      `Invalid params: ${JSON.stringify(id)} is not a job number (a work order's ID: /api/work-orders/{ID})`,
      400,
    ));
  }
  return answer(kit, request, () => kit.desk.status(number));
}

/** `GET /api/work-orders/{ID}`: the job of a work order. */
export async function workOrderStatus(kit: Kit, request: Request, id: string): Promise<Response> {
  const job = await kit.context.store.getJobByWorkOrderId(id, kit.spec.name);
  if (!job) {
    return jsonErrorResponse(kit, request, FAULT_NO_SUCH_JOB, `No work order ${JSON.stringify(id)}`, 404);
  }
  return answer(kit, request, () => kit.desk.status(job.id));
}

/** `POST /api/work-orders`: a work order, as front_desk takes it. */
export function submitWorkOrder(kit: Kit, request: Request): Promise<Response> {
  return answer(kit, request, async () => kit.desk.submit(await readJson(kit, request)));
}

/** `POST /api/jobs/{job}/cancel`: cancels a job, as cancel_job. */
export function cancelJob(kit: Kit, request: Request, id: string): Promise<Response> {
  return answer(kit, request, async () => {
    await readJson(kit, request);
    const number = jobNumber(id);
    if (number === null) {
      throw new XmlRpcFault(
        FAULT_INVALID_PARAMS,
        `Invalid params: ${JSON.stringify(id)} is not a job number`,
      );
    }
    return kit.desk.cancel(number);
  });
}

/** The fields of a posted HTML form, after checking its form token; a refusal page otherwise. */
async function readForm(kit: Kit, request: Request): Promise<URLSearchParams | Response> {
  if (!isForm(request)) {
    await request.body?.cancel();
    return refusedPage(kit, "Not a form", "Expected an HTML form (application/x-www-form-urlencoded)", 415);
  }
  let fields: URLSearchParams;
  try {
    fields = new URLSearchParams(await readText(request, kit.maxBodyBytes));
  } catch (error) {
    if (error instanceof BodyRefused) return refusedPage(kit, "Refused", error.message, error.status);
    throw error;
  }
  if (!formTokenMatches(fields.get("csrf"), kit.formToken)) {
    return refusedPage(
      kit,
      "Refused",
      "Forbidden: this form did not come from this daemon's page (its form token is missing or old; " +
        "reload the page and send it again)",
      403,
    );
  }
  return fields;
}

/** What a refused front-desk call says, as a page; null when it was not refused. */
function refusal(kit: Kit, what: string, error: unknown): Response | null {
  if (error instanceof XmlRpcFault || error instanceof FaultAnswer) {
    return refusedPage(kit, what, `${error.message} (fault ${error.code})`, httpStatusOf(error.code));
  }
  return null;
}

/** A form's fields as a work order: the `order` field's JSON, or the fields themselves. */
function orderOfForm(fields: URLSearchParams): XmlRpcValue {
  const json = fields.get("order");
  if (json !== null) {
    try {
      return JSON.parse(json) as XmlRpcValue;
    } catch (error) {
      throw new XmlRpcFault(
        FAULT_PARSE_ERROR,
        `Parse error: the work order is not JSON (${error instanceof Error ? error.message : error})`,
      );
    }
  }
  const order: Record<string, XmlRpcValue> = {};
  for (const [name, value] of fields) {
    if (name === "csrf" || value.trim() === "") continue;
    // A number the form's Priority field sends as text is a number, as the page's script sends it.
    order[name] = name === "Priority" && /^\s*-?\d+(\.\d+)?\s*$/.test(value) ? Number(value) : value;
  }
  return order;
}

/** `POST /actions/work-order`: the page's form without its script; answered by going to the job's page. */
export async function submitForm(kit: Kit, request: Request): Promise<Response> {
  const fields = await readForm(kit, request);
  if (fields instanceof Response) return fields;
  try {
    const result = await kit.desk.submit(orderOfForm(fields));
    if (result instanceof FaultAnswer) throw result;
    const job = (result as Record<string, XmlRpcValue>).Job;
    return new Response(null, { status: 303, headers: { location: `/jobs/${job}` } });
  } catch (error) {
    const refused = refusal(kit, "Work order refused", error);
    if (refused) return refused;
    return internalError(kit, request, error, false);
  }
}

/** `POST /actions/jobs/{job}/cancel`: the page's cancel button without its script. */
export async function cancelForm(kit: Kit, request: Request, id: string): Promise<Response> {
  const fields = await readForm(kit, request);
  if (fields instanceof Response) return fields;
  const number = jobNumber(id);
  try {
    if (number === null) throw new XmlRpcFault(FAULT_NO_SUCH_JOB, `No job ${JSON.stringify(id)}`);
    await kit.desk.cancel(number);
    return new Response(null, { status: 303, headers: { location: `/jobs/${number}` } });
  } catch (error) {
    const refused = refusal(kit, "Not cancelled", error);
    if (refused) return refused;
    return internalError(kit, request, error, false);
  }
}
