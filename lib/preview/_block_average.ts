/**
 * Downsampling by block averaging, fed row bands in order: only one row of
 * blocks is being summed at a time, beside the finished small image.
 *
 * @module
 */

/** The block edge that brings a `width` × `height` image within `maxSize` pixels on each side. */
export function blockFactor(width: number, height: number, maxSize: number): number {
  return Math.max(1, Math.ceil(Math.max(width, height) / maxSize));
}

/**
 * Averages `factor` × `factor` blocks of a `width` × `height` image into a
 * `ceil(width / factor)` × `ceil(height / factor)` one (row 0 still FITS row 1).
 * Blocks at the right and top edges average the pixels they have. NaN and
 * ±Infinity pixels are left out of their block's mean; a block without a finite
 * pixel is NaN.
 */
export class BlockAverager {
  /** Edge of a block, in image pixels. */
  readonly factor: number;
  /** Width of the averaged image. */
  readonly width: number;
  /** Height of the averaged image. */
  readonly height: number;
  /** The averaged image, complete after {@link finish}. */
  readonly image: Float32Array;
  readonly #sourceWidth: number;
  readonly #sums: Float64Array;
  readonly #counts: Float64Array;
  #rowsInBlock = 0;
  #blockRow = 0;

  constructor(sourceWidth: number, sourceHeight: number, factor: number) {
    this.factor = factor;
    this.#sourceWidth = sourceWidth;
    this.width = Math.ceil(sourceWidth / factor);
    this.height = Math.ceil(sourceHeight / factor);
    this.image = new Float32Array(this.width * this.height);
    this.#sums = new Float64Array(this.width);
    this.#counts = new Float64Array(this.width);
  }

  /** Adds `rows` rows (the next ones in order) from the start of `band`. */
  addRows(band: Float32Array, rows: number): void {
    const factor = this.factor;
    const sourceWidth = this.#sourceWidth;
    const sums = this.#sums;
    const counts = this.#counts;
    for (let r = 0; r < rows; r++) {
      const rowStart = r * sourceWidth;
      for (let bx = 0, x0 = 0; bx < this.width; bx++, x0 += factor) {
        const x1 = Math.min(x0 + factor, sourceWidth);
        let sum = 0;
        let count = 0;
        for (let i = rowStart + x0, end = rowStart + x1; i < end; i++) {
          const v = band[i];
          if (v - v === 0) { // finite
            sum += v;
            count++;
          }
        }
        sums[bx] += sum;
        counts[bx] += count;
      }
      if (++this.#rowsInBlock === factor) this.#emitBlockRow();
    }
  }

  /** Completes the last, partial row of blocks; returns {@link image}. */
  finish(): Float32Array {
    if (this.#rowsInBlock > 0) this.#emitBlockRow();
    if (this.#blockRow !== this.height) {
      throw new RangeError(`block averager made ${this.#blockRow} of ${this.height} rows`);
    }
    return this.image;
  }

  #emitBlockRow(): void {
    const out = this.image.subarray(this.#blockRow * this.width, (this.#blockRow + 1) * this.width);
    for (let bx = 0; bx < this.width; bx++) {
      out[bx] = this.#counts[bx] > 0 ? this.#sums[bx] / this.#counts[bx] : NaN;
    }
    this.#sums.fill(0);
    this.#counts.fill(0);
    this.#rowsInBlock = 0;
    this.#blockRow++;
  }
}
