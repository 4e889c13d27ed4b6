/**
 * The client side of every daemon: `toros submit` sends a work order,
 * `toros jobs` lists jobs or shows one with its story. The URL comes from
 * `--url`, else the configured address of `--service` (default the
 * preprocessor; `--service scheduler` sees every order the scheduler took,
 * wherever it runs).
 *
 * @module
 */
import { parse as parseYaml } from "yaml";
import { type GlobalOptions, parseCommandArgs, UsageError } from "../cli.ts";
import { loadConfigOrThrow, type TorosConfig } from "../config.ts";
import { callXmlRpc, XmlRpcFault, type XmlRpcValue } from "../xmlrpc/mod.ts";

/** The daemons a client can name with `--service`, and their address sections. */
const SERVICES: Record<string, (config: TorosConfig) => { http: string }> = {
  preprocessor: (config) => config.preprocessorAddress,
  telescope: (config) => config.telescopeAddress,
  scheduler: (config) => config.schedulerAddress,
  dome: (config) => config.domeAddress,
};

async function serviceUrl(
  flags: { url?: unknown; service?: unknown },
  options: GlobalOptions,
): Promise<string> {
  if (typeof flags.url === "string" && flags.url !== "") return flags.url;
  const name = typeof flags.service === "string" ? flags.service : "preprocessor";
  const address = SERVICES[name];
  if (!address) {
    throw new UsageError(`--service ${name} is not a TOROS service (${Object.keys(SERVICES).join(", ")})`);
  }
  return address(await loadConfigOrThrow(options.configPath)).http;
}

function fail(error: unknown): number {
  if (error instanceof XmlRpcFault) {
    console.error(`toros: the service refused: ${error.message} (fault ${error.code})`);
  } else console.error(`toros: ${error instanceof Error ? error.message : String(error)}`);
  return 1;
}

/** One entry of a list in a job's status: a string as it is, a named struct (a task) as `Name: Key value, …`. */
function entryLine(entry: XmlRpcValue): string {
  if (typeof entry === "string") return entry;
  if (entry !== null && typeof entry === "object" && !Array.isArray(entry) && !(entry instanceof Date)) {
    const { Name, ...rest } = entry as Record<string, XmlRpcValue>;
    if (typeof Name === "string") {
      const fields = Object.entries(rest).filter(([, v]) => v !== "" && v !== null).map(([k, v]) =>
        `${k} ${v}`
      );
      return `${Name}: ${fields.join(", ")}`;
    }
  }
  return JSON.stringify(entry);
}

/** Which hosts ran a job's tasks, and how many each (a night several hosts shared): `obs1 ×5, obs2 ×4`. */
function hostsOf(tasks: XmlRpcValue | undefined): string {
  if (!Array.isArray(tasks)) return "";
  const counts = new Map<string, number>();
  for (const task of tasks as Record<string, XmlRpcValue>[]) {
    const host = typeof task?.Host === "string" ? task.Host : "";
    if (host) counts.set(host, (counts.get(host) ?? 0) + 1);
  }
  return [...counts].map(([host, n]) => `${host} ×${n}`).join(", ");
}

function show(value: XmlRpcValue, json: boolean): void {
  if (json) {
    console.log(JSON.stringify(value, (_k, v) => (typeof v === "bigint" ? v.toString() : v), 2));
    return;
  }
  const record = value as Record<string, XmlRpcValue>;
  for (const [key, item] of Object.entries(record)) {
    if (Array.isArray(item)) {
      console.log(`${key}:`);
      for (const entry of item) console.log(`  ${entryLine(entry)}`);
    } else {
      console.log(`${key}: ${item instanceof Date ? item.toISOString() : item}`);
    }
  }
}

/** Runs `toros submit [--url URL] calibrate NIGHT [--priority P] | ORDER.yaml|json`. */
export async function submitCommand(args: string[], options: GlobalOptions): Promise<number> {
  const { values, positionals } = parseCommandArgs(args, {
    url: { type: "string" },
    service: { type: "string" },
    priority: { type: "string" },
    id: { type: "string" },
    json: { type: "boolean" },
  });
  let order: Record<string, XmlRpcValue>;
  if (positionals[0] === "calibrate") {
    if (positionals.length !== 2) throw new UsageError("submit calibrate takes one NIGHT directory");
    let night = positionals[1];
    try {
      night = await Deno.realPath(night);
    } catch { /* the service may see paths this host does not: send it as given */ }
    if (!night.startsWith("/")) {
      throw new UsageError(`NIGHT ${positionals[1]} must be an absolute path on the service host`);
    }
    order = {
      ID: typeof values.id === "string" ? values.id : `calibrate-${night.replaceAll("/", "_")}-${Date.now()}`,
      WOType: "Calibration",
      "File Location": night,
      Datetime: new Date().toISOString().slice(0, 23),
      User: Deno.env.get("USER") ?? "toros",
    };
    if (values.priority !== undefined) {
      const priority = Number(values.priority);
      if (!Number.isFinite(priority) || priority < 0 || priority > 10) {
        throw new UsageError(`--priority ${values.priority} is not a number from 0 to 10`);
      }
      order.Priority = priority;
    }
  } else if (positionals.length === 1) {
    const file = positionals[0];
    let text: string;
    try {
      text = await Deno.readTextFile(file);
    } catch (error) {
      console.error(`toros: cannot read ${file}: ${error instanceof Error ? error.message : error}`);
      return 1;
    }
    try {
      const parsed = file.endsWith(".json") ? JSON.parse(text) : parseYaml(text);
      if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
        console.error(`toros: ${file} does not hold a work order (a mapping of keys)`);
        return 1;
      }
      order = parsed;
    } catch (error) {
      console.error(
        `toros: ${file} is not valid ${file.endsWith(".json") ? "JSON" : "YAML"}: ${
          error instanceof Error ? error.message.split("\n")[0] : error
        }`,
      );
      return 1;
    }
  } else {
    throw new UsageError("submit takes 'calibrate NIGHT' or one ORDER.yaml|json file");
  }
  try {
    const url = await serviceUrl(values, options);
    show(await callXmlRpc(url, "front_desk", [order]), values.json === true);
    return 0;
  } catch (error) {
    return fail(error);
  }
}

/** Runs `toros jobs [--url URL] [JOB] [--watch] [--json]`. */
export async function jobsCommand(args: string[], options: GlobalOptions): Promise<number> {
  const { values, positionals } = parseCommandArgs(args, {
    url: { type: "string" },
    service: { type: "string" },
    watch: { type: "boolean" },
    json: { type: "boolean" },
  });
  if (positionals.length > 1) throw new UsageError(`Unexpected argument '${positionals[1]}'`);
  const json = values.json === true;
  try {
    const url = await serviceUrl(values, options);
    if (positionals.length === 0) {
      const jobs = await callXmlRpc(url, "list_jobs", []) as Record<string, XmlRpcValue>[];
      if (json) return show(jobs, true), 0;
      if (jobs.length === 0) console.log("No jobs.");
      for (const job of jobs) {
        // The scheduler's jobs say where each order runs and what it waits for; the others name their night.
        const where = job.Service ? `${job.Service} job ${job.ServiceJob}  ` : "";
        const state = job.State ? `${job.State}${job.Reason ? ` (${job.Reason})` : ""}` : job.Night ?? "";
        // A night several hosts shared names the hosts that ran its tasks.
        const hosts = hostsOf(job.Tasks);
        console.log(
          `${String(job.Job).padStart(5)}  ${String(job.Status).padEnd(9)} ${
            String(Math.round(Number(job.Progress) * 100)).padStart(3)
          }%  ${job.ID}  ${where}${state}${hosts ? `  (tasks on ${hosts})` : ""}`,
        );
      }
      return 0;
    }
    const jobId = /^\d+$/.test(positionals[0]) ? Number(positionals[0]) : positionals[0];
    for (;;) {
      const job = await callXmlRpc(url, "job_status", [jobId]) as Record<string, XmlRpcValue>;
      const finished = ["done", "failed", "cancelled"].includes(String(job.Status));
      if (!values.watch || finished) {
        show(job, json);
        return job.Status === "failed" ? 1 : 0;
      }
      if (!json) console.error(`job ${job.Job}: ${job.Status} ${Math.round(Number(job.Progress) * 100)}%`);
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  } catch (error) {
    return fail(error);
  }
}
