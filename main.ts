/**
 * `toros`: the TOROS Manager command line. This file only parses the command
 * and hands over to the module that owns it.
 *
 * @module
 */
import { extractConfigFlag, type GlobalOptions, resolveConfigPath, UsageError } from "./lib/cli.ts";
import { VERSION } from "./lib/version.ts";
import type { DaemonRegistry } from "./lib/daemon/serve_command.ts";

/** A sub-command: receives its own arguments, returns the process exit code. */
type CommandRunner = (args: string[], options: GlobalOptions) => Promise<number>;

interface CommandEntry {
  summary: string;
  usage: string;
  load: () => Promise<CommandRunner>;
}

/** The daemons `toros serve NAME` runs, each loaded only when it is the one started. */
const DAEMONS: DaemonRegistry = {
  preprocessor: async () => (await import("./services/preprocessor/daemon.ts")).preprocessorDaemon,
  telescope: async () => (await import("./services/telescope/daemon.ts")).telescopeDaemon,
  dome: async () => (await import("./services/dome/daemon.ts")).domeDaemon,
  scheduler: async () => (await import("./services/scheduler/daemon.ts")).schedulerDaemon,
  worker: async () => (await import("./services/preprocessor/worker_daemon.ts")).workerDaemon,
};

// Modules are imported lazily so `toros version` does not load the pipeline or a database driver.
const COMMANDS: Record<string, CommandEntry> = {
  help: {
    summary: "show this help, or the help of one command",
    usage: "toros help [COMMAND]",
    load: () => Promise.resolve(helpCommand),
  },
  version: {
    summary: "print the version",
    usage: "toros version",
    load: () => Promise.resolve(versionCommand),
  },
  config: {
    summary: "check a config file and print the effective configuration",
    usage: "toros config check [PATH] [--json]",
    load: async () => (await import("./lib/config_command.ts")).configCommand,
  },
  serve: {
    summary: "run a daemon in the foreground (as its systemd unit does)",
    usage: `toros serve ${Object.keys(DAEMONS).join("|")} [--at TIME] [--config PATH] | toros serve --list`,
    load: async () => {
      const { serveCommand } = await import("./lib/daemon/serve_command.ts");
      return (args, options) => serveCommand(args, options, DAEMONS);
    },
  },
  reduce: {
    summary: "reduce a night of raw frames into calibrated products",
    usage: "toros reduce NIGHT [--out DIR] [--json]",
    load: async () => (await import("./services/preprocessor/reduce_command.ts")).reduceCommand,
  },
  simulate: {
    summary: "write a realistic synthetic night of raw frames",
    usage: "toros simulate NIGHT_DIR [--size N] [--seed S]",
    load: async () => (await import("./services/preprocessor/simulate_command.ts")).simulateCommand,
  },
  submit: {
    summary: "send a work order to a running daemon (the preprocessor unless --service or --url)",
    usage: "toros submit [--service NAME | --url URL] calibrate NIGHT [--priority P] | " +
      "toros submit [--service NAME | --url URL] ORDER.yaml|json",
    load: async () => (await import("./lib/daemon/client_command.ts")).submitCommand,
  },
  jobs: {
    summary: "list jobs, or show one with its story, on a running daemon (--service scheduler: every order)",
    usage: "toros jobs [--service NAME | --url URL] [JOB] [--watch] [--json]",
    load: async () => (await import("./lib/daemon/client_command.ts")).jobsCommand,
  },
  workers: {
    summary: "list the reduction workers sharing the catalog, with their last heartbeat and task",
    usage: "toros workers [--all] [--json]",
    load: async () => (await import("./lib/daemon/workers_command.ts")).workersCommand,
  },
  products: {
    summary: "list products with the exposures and masters behind them",
    usage: "toros products [NIGHT] [--json]",
    load: async () => (await import("./lib/store/cli.ts")).productsCommand,
  },
  qc: {
    summary: "list quality control's verdicts on a night's frames and masters, from the catalog",
    usage: "toros qc [NIGHT] [--all] [--json]",
    load: async () => (await import("./lib/store/cli.ts")).qcCommand,
  },
  nights: {
    summary: "list the nights in the catalog",
    usage: "toros nights [--json]",
    load: async () => (await import("./lib/store/cli.ts")).nightsCommand,
  },
  fits: {
    summary: "inspect FITS files (info, header, stats)",
    usage: "toros fits info FILE... [--json] | toros fits header FILE [--hdu N] [--json] | " +
      "toros fits stats FILE [--hdu N] [--json]",
    load: async () => (await import("./lib/fits/cli.ts")).fitsCommand,
  },
  demo: {
    summary: "simulate a night and run it through the preprocessor end to end",
    usage: "toros demo [--keep DIR]",
    load: async () => (await import("./services/preprocessor/demo_command.ts")).demoCommand,
  },
};

/** The full usage text printed by `toros help` and on a usage error. */
export function usageText(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((name) => name.length));
  const lines = Object.entries(COMMANDS).map(([name, entry]) => `  ${name.padEnd(width)}  ${entry.summary}`);
  return [
    `toros ${VERSION}: TOROS Manager, the daemons that run a robotic observatory's night`,
    "",
    "Usage: toros COMMAND [ARGS] [--config PATH]",
    "",
    "Commands:",
    ...lines,
    "",
    "Every command takes --config PATH (or TOROS_CONFIG); the default is /etc/toros/toros.conf.yaml",
    "when it exists, else embedded defaults with state under $XDG_STATE_HOME/toros.",
    "Run 'toros help COMMAND' for one command's usage.",
  ].join("\n");
}

function helpCommand(args: string[]): Promise<number> {
  const [name] = args;
  if (name === undefined) {
    console.log(usageText());
    return Promise.resolve(0);
  }
  const entry = COMMANDS[name];
  if (!entry) throw new UsageError(`Unknown command '${name}'`);
  console.log(`${entry.usage}\n\n${entry.summary}`);
  return Promise.resolve(0);
}

function versionCommand(args: string[]): Promise<number> {
  if (args.length > 0) throw new UsageError(`'toros version' takes no arguments, got '${args[0]}'`);
  console.log(`toros ${VERSION}`);
  return Promise.resolve(0);
}

/** Runs `toros` with the given arguments and returns the exit code. */
export async function main(argv: string[]): Promise<number> {
  let commandName: string | undefined;
  try {
    const { rest, configFlag } = extractConfigFlag(argv);
    const [first, ...commandArgs] = rest;
    commandName = first ?? "help";
    if (commandName === "--help" || commandName === "-h") commandName = "help";
    if (commandName === "--version" || commandName === "-V") commandName = "version";
    const entry = COMMANDS[commandName];
    if (!entry) throw new UsageError(`Unknown command '${commandName}'`);
    if (commandArgs.includes("--help") || commandArgs.includes("-h")) {
      console.log(`${entry.usage}\n\n${entry.summary}`);
      return 0;
    }
    const run = await entry.load();
    return await run(commandArgs, { configPath: resolveConfigPath(configFlag) });
  } catch (error) {
    if (error instanceof UsageError) {
      const entry = commandName ? COMMANDS[commandName] : undefined;
      console.error(`toros: ${error.message}\n`);
      console.error(entry && commandName !== "help" ? `Usage: ${entry.usage}` : usageText());
      return 2;
    }
    console.error(`toros: ${error instanceof Error ? error.message : String(error)}`);
    return 1;
  }
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
