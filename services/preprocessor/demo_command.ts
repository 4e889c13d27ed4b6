/**
 * `toros demo` (`deno task demo`): the whole path on embedded defaults, with
 * nothing to set up: simulate a night in a temporary directory, start the
 * preprocessor on a free port, send the calibration work order over XML-RPC,
 * follow the job, list the products, stop.
 *
 * @module
 */
import { type GlobalOptions, parseCommandArgs } from "../../lib/cli.ts";
import { defaultConfig } from "../../lib/config.ts";
import { configureLogging, shutdownLogging } from "../../lib/log.ts";
import { callXmlRpc, type XmlRpcValue } from "../../lib/xmlrpc/mod.ts";
import { renderProducts } from "../../lib/store/cli.ts";
import { simulateNight } from "./simulate.ts";
import { startPreprocessor } from "./serve_command.ts";

/** Runs the demo; `--keep DIR` keeps the night, catalog and products in DIR. */
export async function demoCommand(args: string[], _options: GlobalOptions): Promise<number> {
  const { values } = parseCommandArgs(args, { keep: { type: "string" }, size: { type: "string" } });
  const root = typeof values.keep === "string"
    ? (await Deno.mkdir(values.keep, { recursive: true }), await Deno.realPath(values.keep))
    : await Deno.makeTempDir({ prefix: "toros-demo-" });
  const size = Number(values.size ?? 512);
  const config = defaultConfig(`${root}/state`);
  config.preprocessorAddress = { http: "http://127.0.0.1:0/", ip: "127.0.0.1", port: 0 };
  config.data.roots = [root];
  config.logging.file = `${root}/state/toros.log`;
  config.logging.level = "WARNING";
  await configureLogging(config.logging);
  const night = `${root}/2026-11-24`;
  try {
    console.log(`1. Simulating a ${size}x${size} night (11 bias, 11 dark, 11 flat, 20 lights) in ${night}`);
    await simulateNight(night, { size });
    const service = await startPreprocessor(config);
    const url = `http://127.0.0.1:${service.port}/`;
    console.log(`2. Preprocessor listening on ${url} (catalog ${config.database.file})`);
    try {
      const order = { ID: "demo-2026-11-24", Request: "Exposure Calibration", "File Location": night };
      console.log(`3. front_desk(${JSON.stringify(order)})`);
      const answer = await callXmlRpc(url, "front_desk", [order]) as Record<string, XmlRpcValue>;
      console.log(`   -> ${JSON.stringify(answer)}`);
      let status: Record<string, XmlRpcValue>;
      for (;;) {
        status = await callXmlRpc(url, "job_status", [answer.Job]) as Record<string, XmlRpcValue>;
        console.log(`4. job ${status.Job}: ${status.Status} ${Math.round(Number(status.Progress) * 100)}%`);
        if (["done", "failed", "cancelled"].includes(String(status.Status))) break;
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
      console.log(`5. Products and their provenance:`);
      console.log(renderProducts(await service.store.listProducts()));
      if (status.Status !== "done") {
        console.error(`Job ended ${status.Status}: ${JSON.stringify(status.Errors)}`);
        return 1;
      }
    } finally {
      await service.stop();
    }
    console.log(values.keep ? `Kept everything in ${root}` : "Done (temporary files removed).");
    return 0;
  } finally {
    await shutdownLogging();
    if (!values.keep) await Deno.remove(root, { recursive: true }).catch(() => {});
  }
}
