/**
 * FITS/IRAF image sections (`[x1:x2,y1:y2]`, 1-based and inclusive, as in
 * BIASSEC, TRIMSEC and DATASEC) turned into 0-based half-open ranges.
 *
 * @module
 */

/** A rectangle: columns `[x0, x1)`, rows `[y0, y1)`, 0-based. */
export interface Section {
  x0: number;
  x1: number;
  y0: number;
  y1: number;
}

/** Thrown for a section string that is not `[x1:x2,y1:y2]` within the image. */
export class SectionError extends Error {
  /** Creates the error. */
  constructor(message: string) {
    super(message);
    this.name = "SectionError";
  }
}

/**
 * Parses `[x1:x2,y1:y2]` (1-based, inclusive; `*` for a whole axis; reversed
 * ranges are accepted). With `width`/`height`, checks the section lies inside.
 */
export function parseSection(text: string, width?: number, height?: number): Section {
  const match = /^\s*\[\s*(\*|\d+\s*:\s*\d+)\s*,\s*(\*|\d+\s*:\s*\d+)\s*\]\s*$/.exec(text);
  if (!match) throw new SectionError(`'${text}' is not an image section like [1:2048,1:4096]`);
  const axis = (part: string, size: number | undefined, name: string): [number, number] => {
    if (part === "*") {
      if (size === undefined) throw new SectionError(`'${text}': '*' needs the image size`);
      return [0, size];
    }
    const [a, b] = part.split(":").map((s) => Number(s.trim()));
    const lo = Math.min(a, b);
    const hi = Math.max(a, b);
    if (lo < 1) throw new SectionError(`'${text}': ${name} starts at ${lo} (sections are 1-based)`);
    if (size !== undefined && hi > size) {
      throw new SectionError(`'${text}': ${name} ends at ${hi}, beyond ${size}`);
    }
    return [lo - 1, hi];
  };
  const [x0, x1] = axis(match[1], width, "x");
  const [y0, y1] = axis(match[2], height, "y");
  return { x0, x1, y0, y1 };
}

/** Formats a section as FITS writes it (`[1:2048,1:4096]`, 1-based and inclusive). */
export function formatSection(section: Section): string {
  return `[${section.x0 + 1}:${section.x1},${section.y0 + 1}:${section.y1}]`;
}
