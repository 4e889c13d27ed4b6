/**
 * The exact median of a frame too large to hold, read twice in bands: the first
 * pass histograms the top 16 bits of each value's order-preserving float32 key,
 * the second the low 16 bits inside the bucket(s) holding the middle rank(s).
 * Memory: two 65536-bin histograms, whatever the frame size.
 *
 * @module
 */

const keyView = new Float32Array(1);
const keyBits = new Uint32Array(keyView.buffer);

/** Maps a float32 to a uint32 that sorts in the same order. */
function sortableKey(value: number): number {
  keyView[0] = value;
  const bits = keyBits[0];
  return (bits & 0x80000000 ? ~bits : bits | 0x80000000) >>> 0;
}

function fromKey(key: number): number {
  keyBits[0] = key & 0x80000000 ? key & 0x7fffffff : ~key >>> 0;
  return keyView[0];
}

/** Two-pass exact median over bands: `addCoarse` every band, then `addFine` every band, then `median()`. */
export class StreamingMedian {
  #coarse = new Float64Array(65536);
  #count = 0;
  #targets: { rank: number; high: number; fine: Float64Array; below: number }[] = [];

  /** First pass: counts each finite value's top 16 key bits. */
  addCoarse(values: Float32Array): void {
    const coarse = this.#coarse;
    let count = 0;
    for (let i = 0; i < values.length; i++) {
      const v = values[i];
      if (v !== v) continue;
      coarse[sortableKey(v) >>> 16]++;
      count++;
    }
    this.#count += count;
  }

  /** Ends the first pass; returns false when there was no finite value (median NaN). */
  beginFine(): boolean {
    const n = this.#count;
    if (n === 0) return false;
    const ranks = n % 2 === 1 ? [(n - 1) / 2] : [n / 2 - 1, n / 2];
    for (const rank of ranks) {
      let seen = 0;
      for (let high = 0; high < 65536; high++) {
        const c = this.#coarse[high];
        if (seen + c > rank) {
          const existing = this.#targets.find((t) => t.high === high);
          this.#targets.push({ rank, high, fine: existing?.fine ?? new Float64Array(65536), below: seen });
          break;
        }
        seen += c;
      }
    }
    return true;
  }

  /**
   * First pass on a slice, for threads that share nothing but `bins`: counts the
   * top 16 key bits of finite `values[start, end)` into `bins[offset ..
   * offset+65536)`; returns how many values were finite. Merge with {@link mergeCoarse}.
   */
  static countCoarse(
    values: Float32Array,
    start: number,
    end: number,
    bins: Uint32Array,
    offset: number,
  ): number {
    return StreamingMedian.count(values, start, end, { bins, offset }, null);
  }

  /**
   * {@link countCoarse} and {@link countFine} in one pass over `values[start, end)`
   * (either may be null), each value's key worked out once from its bits; returns
   * how many values were finite.
   */
  static count(
    values: Float32Array,
    start: number,
    end: number,
    coarse: { bins: Uint32Array; offset: number } | null,
    fine: { buckets: number[]; bins: Uint32Array; offset: number } | null,
  ): number {
    const bits = new Uint32Array(values.buffer, values.byteOffset, values.length);
    const coarseBins = coarse?.bins ?? null;
    const coarseAt = coarse?.offset ?? 0;
    const fineBins = fine?.bins ?? null;
    const fineAt = fine?.offset ?? 0;
    const buckets = fine?.buckets ?? [];
    const b0 = buckets.length > 0 ? buckets[0] : -1;
    const b1 = buckets.length > 1 ? buckets[1] : -1;
    const b2 = buckets.length > 2 ? buckets[2] : -1;
    let count = 0;
    for (let i = start; i < end; i++) {
      const x = bits[i];
      if ((x & 0x7fffffff) > 0x7f800000) continue; // NaN
      // sortableKey without the round trip through a float: the same order-preserving key.
      const key = (x & 0x80000000 ? ~x : x | 0x80000000) >>> 0;
      const high = key >>> 16;
      count++;
      if (coarseBins) coarseBins[coarseAt + high]++;
      if (fineBins) {
        if (high === b0) fineBins[fineAt + (key & 0xffff)]++;
        else if (high === b1) fineBins[fineAt + 65536 + (key & 0xffff)]++;
        else if (high === b2) fineBins[fineAt + 131072 + (key & 0xffff)]++;
      }
    }
    return count;
  }

  /** Adds coarse counts from {@link countCoarse} (any number of 65536-bin blocks) and their finite count. */
  mergeCoarse(bins: Uint32Array, count: number): void {
    const coarse = this.#coarse;
    for (let i = 0; i < bins.length; i++) coarse[i & 0xffff] += bins[i];
    this.#count += count;
  }

  /** After {@link beginFine}: the top-16-bit bucket(s) the fine pass counts (one or two). */
  get fineBuckets(): number[] {
    return [...new Set(this.#targets.map((target) => target.high))];
  }

  /**
   * A first pass that trusts a guess of the median's buckets: counts the low 16
   * bits of finite `values[start, end)` in the consecutive `fine.buckets` (as
   * {@link countFine}) and how many finite values lie below them, with no coarse
   * histogram (a counter instead of 65536 bins). Merge with {@link mergeBracket}.
   */
  static countBracket(
    values: Float32Array,
    start: number,
    end: number,
    fine: { buckets: number[]; bins: Uint32Array; offset: number },
  ): { finite: number; below: number } {
    const bits = new Uint32Array(values.buffer, values.byteOffset, values.length);
    const { bins, offset } = fine;
    const first = fine.buckets[0];
    const last = fine.buckets[fine.buckets.length - 1];
    const span = last - first + 1;
    let finite = 0;
    let below = 0;
    for (let i = start; i < end; i++) {
      const x = bits[i];
      if ((x & 0x7fffffff) > 0x7f800000) continue; // NaN
      const key = (x & 0x80000000 ? ~x : x | 0x80000000) >>> 0;
      const high = key >>> 16;
      finite++;
      const at = high - first;
      // Branch-free: whether a value lies below the buckets is a coin toss around the median.
      below += at >>> 31;
      if ((at >>> 0) < span) bins[offset + at * 65536 + (key & 0xffff)]++;
    }
    return { finite, below };
  }

  /**
   * Ends a first pass of {@link countBracket}: `finite` values, `below` of them
   * below the consecutive `buckets`, whose fine counts (blocks of
   * `buckets.length`·65536 bins, one per thread) are `bins`. True when the
   * median lies in those buckets and is now known; false when the guess missed
   * (start again with a coarse pass).
   */
  mergeBracket(finite: number, below: number, bins: Uint32Array, buckets: number[]): boolean {
    const totals = buckets.map(() => 0);
    for (let i = 0; i < bins.length; i++) totals[Math.floor(i / 65536) % buckets.length] += bins[i];
    const first = buckets[0];
    const last = buckets[buckets.length - 1];
    const inside = totals.reduce((sum, n) => sum + n, 0);
    // Values outside the buckets stand in the coarse bins next to them: enough to place the middle ranks.
    if (below > 0) this.#coarse[first - 1] += below;
    totals.forEach((n, j) => (this.#coarse[buckets[j]] += n));
    if (finite - below - inside > 0) this.#coarse[last + 1] += finite - below - inside;
    this.#count += finite;
    if (!this.beginFine() || !this.coveredBy(buckets)) return false;
    this.mergeFine(bins, buckets);
    return true;
  }

  /**
   * Fine pass on a slice: counts the low 16 bits of values whose top 16 bits are
   * `buckets[j]` into `bins[offset + j·65536 ..+65536)` (one to three buckets).
   * Merge with {@link mergeFine}.
   */
  static countFine(
    values: Float32Array,
    start: number,
    end: number,
    buckets: number[],
    bins: Uint32Array,
    offset: number,
  ): void {
    StreamingMedian.count(values, start, end, null, { buckets, bins, offset });
  }

  /**
   * Whether fine counts of `buckets` cover this median's bucket(s), so a fine
   * pass can be skipped (counts gathered during the first pass for buckets guessed from a sample).
   */
  coveredBy(buckets: number[]): boolean {
    return this.fineBuckets.every((bucket) => buckets.includes(bucket));
  }

  /** Adds fine counts from {@link countFine}: blocks of `buckets.length`·65536 bins, one per thread. */
  mergeFine(bins: Uint32Array, buckets: number[] = this.fineBuckets): void {
    const block = buckets.length * 65536;
    for (const target of this.#targets) {
      if (this.#targets.find((t) => t.high === target.high) !== target) continue; // shared array
      const which = buckets.indexOf(target.high);
      if (which < 0) throw new RangeError(`no fine counts for bucket ${target.high}`);
      for (let base = which * 65536; base < bins.length; base += block) {
        for (let low = 0; low < 65536; low++) target.fine[low] += bins[base + low];
      }
    }
  }

  /** The top-16-bit bucket of a value (to guess the fine buckets from a sample's median). */
  static bucketOf(value: number): number {
    return sortableKey(value) >>> 16;
  }

  /** Second pass: counts the low 16 bits of values in the middle bucket(s). */
  addFine(values: Float32Array): void {
    const [first, second] = this.#targets;
    const same = !second || second.high === first.high;
    for (let i = 0; i < values.length; i++) {
      const v = values[i];
      if (v !== v) continue;
      const key = sortableKey(v);
      const high = key >>> 16;
      if (high === first.high) first.fine[key & 0xffff]++;
      else if (!same && high === second.high) second.fine[key & 0xffff]++;
    }
  }

  /** The median (numpy's: the mean of the two middle values for an even count). */
  median(): number {
    if (this.#targets.length === 0) return NaN;
    const values = this.#targets.map((target) => {
      let seen = target.below;
      for (let low = 0; low < 65536; low++) {
        seen += target.fine[low];
        if (seen > target.rank) return fromKey(((target.high << 16) | low) >>> 0);
      }
      return NaN;
    });
    return values.length === 1 ? values[0] : (values[0] + values[1]) / 2;
  }
}
