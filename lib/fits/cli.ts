/**
 * `toros fits info|header|stats`: operators' tools like astropy's `fitsinfo`,
 * `fitsheader` and `imstat`. A bad file is reported on stderr and the others
 * are still listed; the exit code is 1 when any file failed. A truncated file
 * is a failed one: its HDUs are still listed, and stderr (and `--json`'s
 * `truncated` and `error`) say which HDU lacks how many bytes and whether
 * pixels are missing.
 *
 * @module
 */
import { type GlobalOptions, parseCommandArgs, UsageError } from "../cli.ts";
import { FitsError } from "./errors.ts";
import { type HduInfo, readHdus, truncationProblem } from "./hdu.ts";
import { FitsImageReader } from "./reader.ts";
import type { CardValue } from "./card.ts";

/** Statistics of an image, NaN pixels ignored. */
export interface ImageStats {
  pixels: number;
  nan: number;
  min: number;
  max: number;
  mean: number;
  median: number;
  std: number;
}

/** Computes min, max, mean, median and standard deviation of the finite pixels. */
export function imageStats(data: Float32Array): ImageStats {
  const finite = new Float32Array(data.length);
  let n = 0;
  let sum = 0;
  let min = Infinity;
  let max = -Infinity;
  for (let i = 0; i < data.length; i++) {
    const v = data[i];
    if (Number.isNaN(v)) continue;
    finite[n++] = v;
    sum += v;
    if (v < min) min = v;
    if (v > max) max = v;
  }
  const mean = n > 0 ? sum / n : NaN;
  let squares = 0;
  for (let i = 0; i < n; i++) squares += (finite[i] - mean) ** 2;
  const values = finite.subarray(0, n).sort();
  const median = n === 0 ? NaN : n % 2 ? values[(n - 1) / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
  return {
    pixels: data.length,
    nan: data.length - n,
    min,
    max,
    mean,
    median,
    std: n > 0 ? Math.sqrt(squares / n) : NaN,
  };
}

function jsonValue(value: CardValue | undefined): unknown {
  return typeof value === "bigint" ? value.toString() : value;
}

function hduSummary(info: HduInfo) {
  return {
    index: info.index,
    name: info.name,
    type: info.type,
    bitpix: info.bitpix,
    dimensions: info.shape,
    cards: info.header.cards.length,
    truncated: info.truncated,
  };
}

/** The message for each truncated HDU (only the last can be), as `FILE: HDU n: truncated data: ...`. */
function truncationMessages(file: string, hdus: HduInfo[]): string[] {
  return hdus.flatMap((hdu) => {
    const problem = truncationProblem(hdu);
    return problem === null ? [] : [new FitsError(file, hdu.index, problem).message];
  });
}

function fail(error: unknown): string {
  if (error instanceof FitsError) return error.message;
  throw error;
}

async function info(files: string[], json: boolean): Promise<number> {
  if (files.length === 0) throw new UsageError("fits info needs at least one FILE");
  let failures = 0;
  const results: unknown[] = [];
  for (const file of files) {
    try {
      const hdus = await readHdus(file, { allowMissingPixels: true });
      const cuts = truncationMessages(file, hdus);
      if (json) {
        results.push({
          file,
          hdus: hdus.map(hduSummary),
          ...(cuts.length ? { error: cuts.join("; ") } : {}),
        });
      } else {
        console.log(`Filename: ${file}`);
        console.log("No.  Name         Type      Cards  BITPIX  Dimensions");
        for (const hdu of hdus) {
          const dims = hdu.shape.length ? `(${hdu.shape.join(", ")})` : "()";
          console.log(
            `${String(hdu.index).padEnd(4)} ${hdu.name.padEnd(12)} ${hdu.type.padEnd(9)} ${
              String(hdu.header.cards.length).padStart(5)
            }  ${String(hdu.bitpix).padStart(6)}  ${dims}`,
          );
          for (const warning of hdu.warnings) console.error(`warning: ${file}: HDU ${hdu.index}: ${warning}`);
        }
      }
      // A truncated file is listed, but it is a failed file all the same.
      if (cuts.length > 0) failures++;
      for (const message of cuts) console.error(`toros fits: ${message}`);
    } catch (error) {
      failures++;
      const message = fail(error);
      console.error(`toros fits: ${message}`);
      if (json) results.push({ file, error: message });
    }
  }
  if (json) console.log(JSON.stringify(results, null, 2));
  return failures > 0 ? 1 : 0;
}

function hduOption(value: unknown): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new UsageError(`--hdu ${value} is not an HDU index (0, 1, ...)`);
  return n;
}

async function header(files: string[], hdu: number | undefined, json: boolean): Promise<number> {
  if (files.length !== 1) throw new UsageError("fits header takes one FILE");
  const [file] = files;
  try {
    const hdus = await readHdus(file, { allowMissingPixels: true });
    const index = hdu ?? 0;
    const info = hdus[index];
    if (!info) throw new FitsError(file, index, `no such HDU (the file has ${hdus.length})`);
    if (json) {
      const cards = info.header.cards.map((card) => ({
        key: card.key,
        value: jsonValue(card.value),
        comment: card.comment,
      }));
      console.log(JSON.stringify({ file, hdu: index, cards }, null, 2));
    } else {
      for (const image of info.header.images()) console.log(image.trimEnd());
      console.log("END");
    }
    const cuts = truncationMessages(file, hdus);
    for (const message of cuts) console.error(`toros fits: ${message}`);
    return cuts.length > 0 ? 1 : 0;
  } catch (error) {
    console.error(`toros fits: ${fail(error)}`);
    return 1;
  }
}

async function stats(files: string[], hdu: number | undefined, json: boolean): Promise<number> {
  if (files.length !== 1) throw new UsageError("fits stats takes one FILE");
  const [file] = files;
  try {
    // The whole file is walked first so a truncated HDU other than the one measured is reported too.
    const cuts = truncationMessages(file, await readHdus(file, { allowMissingPixels: true }));
    for (const message of cuts) console.error(`toros fits: ${message}`);
    const reader = await FitsImageReader.open(file, { hdu });
    const { index, shape, truncated } = reader.hdu;
    const failed = cuts.length > 0 ? { error: cuts.join("; ") } : {};
    let result: ImageStats;
    try {
      if (reader.completeRows < reader.rows) {
        // No statistics of part of an image: they would pass for the whole one's.
        if (json) console.log(JSON.stringify({ file, hdu: index, shape, truncated, ...failed }, null, 2));
        return 1;
      }
      result = imageStats(await reader.readAll());
    } finally {
      reader.close();
    }
    if (json) {
      console.log(JSON.stringify({ file, hdu: index, shape, ...result, truncated, ...failed }, null, 2));
    } else {
      console.log(`${file} [HDU ${index}] ${shape.join(" x ")}, BITPIX ${reader.bitpix}`);
      for (const key of ["pixels", "nan", "min", "max", "mean", "median", "std"] as const) {
        console.log(`  ${key.padEnd(7)} ${result[key]}`);
      }
    }
    return cuts.length > 0 ? 1 : 0;
  } catch (error) {
    console.error(`toros fits: ${fail(error)}`);
    return 1;
  }
}

/** Runs `toros fits ACTION ...`. */
export async function fitsCommand(args: string[], _options: GlobalOptions): Promise<number> {
  const { values, positionals } = parseCommandArgs(args, {
    json: { type: "boolean" },
    hdu: { type: "string" },
  });
  const [action, ...files] = positionals;
  const json = values.json === true;
  const hdu = hduOption(values.hdu);
  switch (action) {
    case "info":
      if (hdu !== undefined) throw new UsageError("fits info takes no --hdu");
      return await info(files, json);
    case "header":
      return await header(files, hdu, json);
    case "stats":
      return await stats(files, hdu, json);
    default:
      throw new UsageError(
        action === undefined
          ? "Missing action (info, header, stats)"
          : `Unknown action '${action}' (info, header, stats)`,
      );
  }
}
