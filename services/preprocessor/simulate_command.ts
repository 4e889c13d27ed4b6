/**
 * `toros simulate NIGHT_DIR [--size N] [--seed S] ...`: writes a synthetic night.
 *
 * @module
 */
import { type GlobalOptions, parseCommandArgs, UsageError } from "../../lib/cli.ts";
import { simulateNight } from "./simulate.ts";

function positiveInteger(value: unknown, flag: string, fallback: number, min = 1): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) throw new UsageError(`--${flag} ${value} is not an integer >= ${min}`);
  return n;
}

/** Runs `toros simulate`. */
export async function simulateCommand(args: string[], _options: GlobalOptions): Promise<number> {
  const { values, positionals } = parseCommandArgs(args, {
    size: { type: "string" },
    seed: { type: "string" },
    bias: { type: "string" },
    darks: { type: "string" },
    flats: { type: "string" },
    lights: { type: "string" },
    filters: { type: "string" },
  });
  if (positionals.length !== 1) throw new UsageError("simulate takes one NIGHT_DIR");
  const size = positiveInteger(values.size, "size", 1024, 8);
  const filters = typeof values.filters === "string"
    ? values.filters.split(",").map((f) => f.trim()).filter(Boolean)
    : ["V"];
  if (filters.length === 0) throw new UsageError("--filters needs at least one filter name");
  const started = performance.now();
  const frames = await simulateNight(positionals[0], {
    size,
    seed: positiveInteger(values.seed, "seed", 1, 0),
    bias: positiveInteger(values.bias, "bias", 11, 0),
    darks: positiveInteger(values.darks, "darks", 11, 0),
    flatsPerFilter: positiveInteger(values.flats, "flats", 11, 0),
    lights: positiveInteger(values.lights, "lights", 20, 0),
    filters,
  });
  const counts = frames.reduce(
    (acc, f) => ({ ...acc, [f.imageType]: (acc[f.imageType] ?? 0) + 1 }),
    {} as Record<
      string,
      number
    >,
  );
  console.log(
    `Wrote ${frames.length} frames (${size}x${size}: ${counts.bias ?? 0} bias, ${counts.dark ?? 0} dark, ${
      counts.flat ?? 0
    } flat, ${counts.light ?? 0} light) to ${positionals[0]} in ${
      ((performance.now() - started) / 1000).toFixed(1)
    } s`,
  );
  return 0;
}
