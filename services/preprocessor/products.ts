/**
 * Product naming and provenance: the original's file names, and the cards that
 * let a product explain how it was made.
 *
 * @module
 */
import type { Header } from "../../lib/fits/mod.ts";
import type { ReductionConfig } from "../../lib/config.ts";
import { VERSION } from "../../lib/version.ts";

/** A filter name made safe for a file name. */
export function safeName(text: string): string {
  return text.replace(/[^A-Za-z0-9._+-]+/g, "_");
}

/** `60` → `60`, `0.5` → `0.5`: exposure times in file names. */
export function formatSeconds(seconds: number): string {
  return Number.isInteger(seconds) ? String(seconds) : String(Number(seconds.toFixed(3)));
}

/** The calibrated product name of a raw file: `calib_<name>`, always ending in `.fits`. */
export function calibratedName(rawName: string): string {
  return `calib_${rawName.replace(/\.(fits?|fts)$/i, "")}.fits`;
}

/**
 * A short fingerprint of what determines a product's pixels: the software
 * version and the `settings` its stage declares (never scheduling ones such as
 * Workers, Band Rows, Niceness or Share While Serving). A product whose
 * fingerprint differs is made again on resume.
 */
export async function reductionFingerprint(
  reduction: ReductionConfig,
  settings: readonly (keyof ReductionConfig)[],
): Promise<string> {
  const pixelSettings = Object.fromEntries([...settings].sort().map((key) => [key, reduction[key]]));
  const text = JSON.stringify({ version: VERSION, ...pixelSettings });
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text)));
  return [...digest.slice(0, 8)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** Cards every product carries: software, processing date, fingerprint. */
export function stampProduct(header: Header, kind: string, fingerprint: string): void {
  header.set("PRODUCT", kind, "TOROS product kind");
  header.set("TOROSVER", VERSION, "TOROS Manager version");
  header.set("DATE", new Date().toISOString().slice(0, 19), "UTC date this file was written");
  header.set("REDFPRNT", fingerprint, "fingerprint of the reduction settings");
}

/** The mean of ISO dates (for a master's DATE-OBS), or null. */
export function meanDate(dates: (string | null)[]): string | null {
  const times = dates.map((
    d,
  ) => (d ? Date.parse(d.endsWith("Z") || /[+-]\d\d:?\d\d$/.test(d) ? d : `${d}Z`) : NaN))
    .filter((t) => !Number.isNaN(t));
  if (times.length === 0) return null;
  return new Date(times.reduce((a, b) => a + b, 0) / times.length).toISOString().slice(0, 23);
}
