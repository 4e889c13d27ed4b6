/**
 * One quality-control verdict as a line, the same in `toros reduce`'s summary
 * and `toros qc`: `qc rejected flat_V_003.fits: saturation 31.2 % (limit < 5 %): ...`.
 *
 * @module
 */
import type { QcVerdictInput } from "./types.ts";

/** A verdict on one line: outcome, subject (its file name), check, value in the limit's unit, limit, reason. */
export function verdictLine(verdict: Omit<QcVerdictInput, "productId">): string {
  // The value is in the limit's unit (a percent, ADU, frames, °C), when it has one.
  const unit = /(%|ADU|frames|°C)$/.exec(verdict.limit)?.[1];
  const measured = verdict.measured === null
    ? ""
    : ` ${Number(verdict.measured.toPrecision(4))}${unit ? ` ${unit}` : ""}`;
  const subject = verdict.subject.slice(verdict.subject.lastIndexOf("/") + 1);
  return `qc ${
    verdict.verdict.padEnd(8)
  } ${subject}: ${verdict.check}${measured} (limit ${verdict.limit}): ${verdict.reason}`;
}
