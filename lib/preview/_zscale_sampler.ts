/**
 * The zscale sample of an image read in bands, without holding the image: the
 * same pixels {@link zscale} would take from the whole array.
 *
 * The stride depends on the count of finite pixels, known only at the end. Bands
 * are sampled assuming every pixel is finite (the usual product); if NaN or
 * infinite pixels turn out to change the stride, {@link ZScaleSampler.finish}
 * reads the bands that hold the right pixels once more, found from the finite
 * count kept per row (in big sequential reads: the sampled rows are seldom far apart).
 *
 * @module
 */
import { sampleCount, sampleStride } from "./_sampling.ts";

/** Reads `rows` rows from row `y0` (0-based, FITS row y0 + 1) into `out`. */
export type RowReader = (y0: number, rows: number, out: Float32Array) => Promise<void>;

/** Collects the zscale sample of a `width` × `height` image fed row bands in order. */
export class ZScaleSampler {
  readonly #width: number;
  readonly #height: number;
  readonly #nSamples: number;
  readonly #assumedStride: number;
  readonly #sample: Float64Array;
  readonly #finitePerRow: Uint32Array;
  #taken = 0;
  #untilNext = 0;
  #finite = 0;
  #rowsSeen = 0;

  constructor(width: number, height: number, nSamples: number) {
    this.#width = width;
    this.#height = height;
    this.#nSamples = nSamples;
    this.#assumedStride = sampleStride(width * height, nSamples);
    this.#sample = new Float64Array(Math.min(nSamples, width * height));
    this.#finitePerRow = new Uint32Array(height);
  }

  /** Takes `rows` rows (the next ones in order) from the start of `band`. */
  addRows(band: Float32Array, rows: number): void {
    const width = this.#width;
    const stride = this.#assumedStride;
    const sample = this.#sample;
    let taken = this.#taken;
    let untilNext = this.#untilNext;
    for (let r = 0; r < rows; r++) {
      let finite = 0;
      for (let i = r * width, end = i + width; i < end; i++) {
        const v = band[i];
        if (v - v !== 0) continue; // NaN or ±Infinity
        finite++;
        if (untilNext === 0) {
          if (taken < sample.length) sample[taken++] = v;
          untilNext = stride;
        }
        untilNext--;
      }
      this.#finitePerRow[this.#rowsSeen++] = finite;
      this.#finite += finite;
    }
    this.#taken = taken;
    this.#untilNext = untilNext;
  }

  /**
   * The sample (unsorted, file order), or null when the image has no finite pixel.
   * Only when non-finite pixels changed the stride, rereads with `readRows` the
   * bands of `bandRows` rows (into `band`) that hold a sampled pixel.
   */
  async finish(readRows: RowReader, band: Float32Array, bandRows: number): Promise<Float64Array | null> {
    if (this.#rowsSeen !== this.#height) {
      throw new RangeError(`zscale sampler saw ${this.#rowsSeen} of ${this.#height} rows`);
    }
    const finite = this.#finite;
    if (finite === 0) return null;
    const stride = sampleStride(finite, this.#nSamples);
    const count = sampleCount(finite, this.#nSamples);
    if (stride === this.#assumedStride) return this.#sample.slice(0, count);

    const width = this.#width;
    const sample = new Float64Array(count);
    let taken = 0;
    let rowStart = 0; // finite index of the next row's first finite pixel
    for (let y0 = 0; y0 < this.#height && taken < count; y0 += bandRows) {
      const rows = Math.min(bandRows, this.#height - y0);
      let bandEnd = rowStart;
      for (let r = 0; r < rows; r++) bandEnd += this.#finitePerRow[y0 + r];
      if (taken * stride >= bandEnd) {
        rowStart = bandEnd;
        continue;
      }
      await readRows(y0, rows, band);
      for (let r = 0; r < rows && taken < count; r++) {
        const rowEnd = rowStart + this.#finitePerRow[y0 + r];
        if (taken * stride < rowEnd) {
          let index = rowStart;
          for (let i = r * width, end = i + width; i < end && taken < count; i++) {
            const v = band[i];
            if (v - v !== 0) continue;
            if (index === taken * stride) sample[taken++] = v;
            index++;
          }
        }
        rowStart = rowEnd;
      }
    }
    if (taken !== count) {
      throw new Error(`image changed while it was read (${taken} of ${count} zscale samples found again)`);
    }
    return sample;
  }
}
