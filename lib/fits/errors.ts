/**
 * The one error type of `lib/fits`: it names the file, the HDU and the problem.
 *
 * @module
 */

/** A FITS file could not be read or written; the message names the file, HDU and problem. */
export class FitsError extends Error {
  /** The file concerned. */
  readonly file: string;
  /** Zero-based HDU index, or null when the problem is not in one HDU. */
  readonly hdu: number | null;
  /** The problem alone, without file and HDU. */
  readonly problem: string;

  /** Creates the error: `FILE: HDU n: problem`. */
  constructor(file: string, hdu: number | null, problem: string) {
    super(`${file}${hdu === null ? "" : `: HDU ${hdu}`}: ${problem}`);
    this.name = "FitsError";
    this.file = file;
    this.hdu = hdu;
    this.problem = problem;
  }
}
