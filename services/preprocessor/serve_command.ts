/**
 * Starting the preprocessor in this process (the demo, the tests, the
 * benchmarks); `toros serve preprocessor` goes through the daemon kit's
 * serve command with {@link preprocessorDaemon}.
 *
 * @module
 */
import type { TorosConfig } from "../../lib/config.ts";
import { type RunningDaemon, startDaemon, type StartDaemonOptions } from "../../lib/daemon/mod.ts";
import { preprocessorDaemon } from "./daemon.ts";

/** A running preprocessor. */
export type RunningService = RunningDaemon;

/** Starts the preprocessor with a loaded config. */
export function startPreprocessor(
  config: TorosConfig,
  options: StartDaemonOptions = {},
): Promise<RunningService> {
  return startDaemon(preprocessorDaemon, config, options);
}
