/**
 * `toros reduce NIGHT [--out DIR] [--json] [--force]`: reduces a night on this
 * host, with a progress bar on a terminal (plain log lines otherwise) and a
 * summary at the end. Exit 0 when all is well, 3 when frames were skipped, 1 on failure.
 *
 * @module
 */
import { basename } from "node:path";
import { verdictLine } from "../../lib/store/verdict_line.ts";
import { type GlobalOptions, parseCommandArgs, UsageError } from "../../lib/cli.ts";
import { loadConfigOrThrow } from "../../lib/config.ts";
import { configureLogging, getLogger, shutdownLogging } from "../../lib/log.ts";
import { openStore } from "../../lib/store/mod.ts";
import { reduceNight, type ReductionProgress, type ReductionReport } from "./pipeline.ts";

/** Exit code: some frames were skipped but the night was reduced. */
export const EXIT_SKIPPED = 3;

function progressBar(progress: ReductionProgress): string {
  const width = 30;
  const fraction = progress.total > 0 ? progress.done / progress.total : 1;
  const filled = Math.round(fraction * width);
  const step = basename(progress.step);
  return `\r[${"#".repeat(filled)}${".".repeat(width - filled)}] ${
    Math.floor(progress.done)
  }/${progress.total} ${step}`
    .padEnd(90);
}

function plural(n: number, what: string): string {
  return `${n} ${what}${n === 1 ? "" : "s"}`;
}

/**
 * The end-of-run summary: frames, each stage's products and time, then every
 * skip, failure, quality-control verdict that is not a pass (the passes
 * counted; `--json` has them all) and warning.
 */
export function renderSummary(report: ReductionReport): string {
  const lines = [
    `Night      ${report.nightDir}`,
    `Products   ${report.outDir}`,
    `Frames     ${report.framesUsed} used, ${report.skipped.length} skipped, ${report.failed.length} failed`,
    ...report.stages.map((stage) => {
      const counts = [
        stage.products > 0 ? plural(stage.products, "product") : "",
        stage.rejected > 0 ? `${stage.rejected} rejected` : "",
        stage.failed > 0 ? `${stage.failed} failed` : "",
      ].filter(Boolean).join(", ");
      const fsync = stage.fsyncSeconds >= 0.005 ? ` (${stage.fsyncSeconds.toFixed(2)} s fsync)` : "";
      return `  ${stage.name.padEnd(18)} ${counts.padEnd(24)} ${stage.seconds.toFixed(2)} s${fsync}`;
    }),
    `Reused     ${report.products.filter((p) => p.reused).length} up-to-date products kept`,
    `Time       ${report.seconds.toFixed(1)} s`,
  ];
  for (const skip of report.skipped) lines.push(`skipped    ${skip.fileName}: ${skip.reason}`);
  for (const fail of report.failed) lines.push(`failed     ${fail.fileName}: ${fail.reason}`);
  const qc = report.qc ?? [];
  if (qc.length > 0) {
    const passed = qc.filter((verdict) => verdict.verdict === "pass").length;
    lines.push(`Quality    ${plural(qc.length, "verdict")}: ${passed} passed, ${qc.length - passed} not`);
    for (const verdict of qc.filter((v) => v.verdict !== "pass")) lines.push(verdictLine(verdict));
  }
  for (const { warning, products } of report.warningCounts) {
    lines.push(`warning    ${warning}${products > 0 ? ` (${plural(products, "product")})` : ""}`);
  }
  return lines.join("\n");
}

/** Runs `toros reduce`. */
export async function reduceCommand(args: string[], options: GlobalOptions): Promise<number> {
  const { values, positionals } = parseCommandArgs(args, {
    out: { type: "string" },
    json: { type: "boolean" },
    force: { type: "boolean" },
  });
  if (positionals.length !== 1) throw new UsageError("reduce takes one NIGHT directory");
  const config = await loadConfigOrThrow(options.configPath);
  const tty = Deno.stderr.isTerminal() && !values.json;
  await configureLogging(config.logging, { stderr: !tty });
  const log = getLogger("preprocessor.reduce");
  const store = await openStore(config.database);
  const encoder = new TextEncoder();
  try {
    const report = await reduceNight(positionals[0], {
      store,
      reduction: config.reduction,
      outDir: typeof values.out === "string" ? values.out : undefined,
      force: values.force === true,
      log,
      onProgress: tty
        ? (progress) => Deno.stderr.writeSync(encoder.encode(progressBar(progress)))
        : undefined,
    });
    if (tty) Deno.stderr.writeSync(encoder.encode("\n"));
    console.log(values.json ? JSON.stringify(report, null, 2) : renderSummary(report));
    return report.skipped.length + report.failed.length > 0 ? EXIT_SKIPPED : 0;
  } catch (error) {
    if (tty) Deno.stderr.writeSync(encoder.encode("\n"));
    const message = error instanceof Error ? error.message : String(error);
    log.error(`Reduction failed: ${message}`);
    console.error(`toros: reduction failed: ${message}`);
    return 1;
  } finally {
    await store.close();
    await shutdownLogging();
  }
}
