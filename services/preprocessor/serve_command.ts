/**
 * `toros serve preprocessor`: the daemon `systemctl start preprocessor` runs.
 * Binds the configured IP:Port, answers XML-RPC, runs queued jobs in the
 * background; on SIGTERM or SIGINT stops accepting, lets the current frame
 * finish, puts the job back in the queue and exits 0.
 *
 * @module
 */
import { type GlobalOptions, parseCommandArgs, UsageError } from "../../lib/cli.ts";
import { loadConfigOrThrow, type TorosConfig } from "../../lib/config.ts";
import { configureLogging, getLogger, shutdownLogging } from "../../lib/log.ts";
import { openStore, type Store } from "../../lib/store/mod.ts";
import { JobRunner } from "./job_runner.ts";
import { createPreprocessorService } from "./service.ts";

/** A running service, for tests and the demo. */
export interface RunningService {
  /** The port bound (useful with Port 0). */
  port: number;
  /** Resolves when the service has stopped. */
  finished: Promise<void>;
  /** Stops gracefully. */
  stop(): Promise<void>;
  store: Store;
}

/** Starts the preprocessor service with a loaded config. */
export async function startPreprocessor(
  config: TorosConfig,
  options: { runJobs?: boolean; onListen?: (port: number) => void } = {},
): Promise<RunningService> {
  const log = getLogger("preprocessor");
  const store = await openStore(config.database);
  const runner = options.runJobs === false ? null : new JobRunner({
    store,
    database: config.database,
    reduction: config.reduction,
    roots: config.data.roots,
    log: getLogger("preprocessor.jobs"),
  });
  const service = createPreprocessorService({ config, store, runner, log });
  const controller = new AbortController();
  const { ip, port } = config.preprocessorAddress;
  let boundPort = port;
  let server: Deno.HttpServer;
  try {
    server = Deno.serve({
      hostname: ip,
      port,
      signal: controller.signal,
      onListen: (addr) => {
        boundPort = addr.port;
        log.info(
          `Preprocessor ${config.preprocessorAddress.http} listening on ${addr.hostname}:${addr.port}`,
        );
        options.onListen?.(addr.port);
      },
      onError: (error) => {
        const id = crypto.randomUUID().slice(0, 8);
        log.error(`Request failed (error id ${id}): ${error instanceof Error ? error.message : error}`);
        return new Response(`Internal error (error id ${id})\n`, { status: 500 });
      },
    }, (request, info) => {
      // Every request makes the reduction's threads give way for a moment (see YieldGate).
      runner?.gate.touch();
      return service.handle(request, info);
    });
  } catch (error) {
    await store.close();
    const reason = error instanceof Deno.errors.AddrInUse
      ? "the address is already in use"
      : error instanceof Error
      ? error.message
      : String(error);
    throw new Error(`Cannot listen on ${ip}:${port}: ${reason}`);
  }
  runner?.start();
  let stopping: Promise<void> | null = null;
  const stop = () =>
    stopping ??= (async () => {
      log.info("Stopping: no new requests; the current frame finishes and its job goes back to the queue");
      controller.abort();
      await runner?.stop();
      await server.finished;
      await store.close();
      log.info("Stopped");
    })();
  return {
    get port() {
      return boundPort;
    },
    finished: server.finished.then(() => stopping ?? undefined),
    stop,
    store,
  };
}

/** Runs `toros serve preprocessor` until SIGTERM/SIGINT. */
export async function serveCommand(args: string[], options: GlobalOptions): Promise<number> {
  const { positionals } = parseCommandArgs(args, {});
  const [name, ...extra] = positionals;
  if (name !== "preprocessor") {
    throw new UsageError(
      name === undefined ? "Missing service name (preprocessor)" : `Unknown service '${name}'`,
    );
  }
  if (extra.length > 0) throw new UsageError(`Unexpected argument '${extra[0]}'`);
  const config = await loadConfigOrThrow(options.configPath);
  await configureLogging(config.logging);
  const log = getLogger("preprocessor");
  let service: RunningService;
  try {
    service = await startPreprocessor(config);
  } catch (error) {
    log.error(error instanceof Error ? error.message : String(error));
    await shutdownLogging();
    return 1;
  }
  const done = new Promise<void>((resolve) => {
    const onSignal = () => {
      service.stop().then(resolve, resolve);
    };
    Deno.addSignalListener("SIGTERM", onSignal);
    Deno.addSignalListener("SIGINT", onSignal);
  });
  await done;
  await shutdownLogging();
  return 0;
}
