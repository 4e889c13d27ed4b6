/**
 * `toros serve NAME`: runs one declared daemon in the foreground, as its
 * systemd unit (or launchd job) does, until SIGTERM or SIGINT, then stops
 * gracefully and exits 0.
 *
 * @module
 */
import { type GlobalOptions, parseCommandArgs, UsageError } from "../cli.ts";
import { loadConfigOrThrow } from "../config.ts";
import { configureLogging, getLogger, shutdownLogging } from "../log.ts";
import { startDaemon } from "./daemon.ts";
import type { DaemonSpec } from "./spec.ts";

/** The daemons `toros serve` knows, by name, each loaded only when it is the one started. */
export type DaemonRegistry = Record<string, () => Promise<DaemonSpec>>;

/**
 * Runs `toros serve NAME [--config PATH]` for one of `daemons`; resolves with
 * the exit code. `--at TIME` rehearses: the daemon's clock starts at that
 * instant and runs at real speed. `toros serve --list` prints the daemons'
 * names, one a line (the installer writes a unit for each).
 */
export async function serveCommand(
  args: string[],
  options: GlobalOptions,
  daemons: DaemonRegistry,
): Promise<number> {
  const { values, positionals } = parseCommandArgs(args, {
    list: { type: "boolean" },
    at: { type: "string" },
  });
  if (values.list) {
    if (positionals.length > 0) throw new UsageError("--list takes no service name");
    for (const name of Object.keys(daemons)) console.log(name);
    return 0;
  }
  const [name, ...extra] = positionals;
  const names = Object.keys(daemons).join(", ");
  if (name === undefined) throw new UsageError(`Missing service name (${names})`);
  const load = Object.hasOwn(daemons, name) ? daemons[name] : undefined;
  if (!load) throw new UsageError(`Unknown service '${name}' (expected ${names})`);
  if (extra.length > 0) throw new UsageError(`Unexpected argument '${extra[0]}'`);
  let at: Date | undefined;
  if (typeof values.at === "string") {
    at = new Date(values.at);
    if (
      !/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/.test(values.at) ||
      isNaN(at.getTime())
    ) {
      throw new UsageError(
        `--at ${values.at} is not an ISO 8601 time with its zone (e.g. 2026-12-01T03:00:00Z)`,
      );
    }
  }
  const config = await loadConfigOrThrow(options.configPath);
  await configureLogging(config.logging);
  const log = getLogger(name);
  let daemon;
  try {
    daemon = await startDaemon(await load(), config, { at });
  } catch (error) {
    log.error(error instanceof Error ? error.message : String(error));
    await shutdownLogging();
    return 1;
  }
  await new Promise<void>((resolve) => {
    const onSignal = () => {
      daemon.stop().then(resolve, resolve);
    };
    Deno.addSignalListener("SIGTERM", onSignal);
    Deno.addSignalListener("SIGINT", onSignal);
  });
  await shutdownLogging();
  return 0;
}
