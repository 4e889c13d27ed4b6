/**
 * What the daemon tests share: a free loopback port, a running daemon's URL,
 * and waiting for a job (over XML-RPC) to reach a state.
 *
 * @module
 */
import type { RunningDaemon } from "../lib/daemon/mod.ts";
import { callXmlRpc, type XmlRpcValue } from "../lib/xmlrpc/mod.ts";

/** A job's status as `job_status` answers it. */
export type JobStatus = Record<string, XmlRpcValue>;

/** A port nobody listens on right now (the system's choice). */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

/** The XML-RPC URL of a daemon started in the test. */
export function urlOf(daemon: RunningDaemon): string {
  return `http://127.0.0.1:${daemon.port}/`;
}

/** Whether a job has ended (done, failed or cancelled). */
export function ended(status: JobStatus): boolean {
  return ["done", "failed", "cancelled"].includes(status.Status as string);
}

/**
 * Polls `job_status(job)` at `url` until `done(status)` holds, and returns that
 * status. A daemon that does not answer yet (starting, restarting) is asked
 * again; after `timeoutMs` it fails naming the last answer.
 */
export async function waitForJob(
  url: string,
  job: XmlRpcValue,
  done: (status: JobStatus) => boolean,
  timeoutMs = 120_000,
): Promise<JobStatus> {
  const deadline = Date.now() + timeoutMs;
  let last: JobStatus | string = "no answer";
  for (;;) {
    last = await callXmlRpc(url, "job_status", [job]).then((s) => s as JobStatus, (e) => String(e));
    if (typeof last !== "string" && done(last)) return last;
    if (Date.now() > deadline) throw new Error(`job ${job} at ${url}: ${JSON.stringify(last)}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
