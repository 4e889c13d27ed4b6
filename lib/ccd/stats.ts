/**
 * Whole-array statistics used by the reduction: the median (each flat's scale,
 * guessed from a sample of rows), matching numpy.
 *
 * @module
 */

/** k-th smallest of `a[0..n)` (reorders `a`). */
export function selectKth(a: Float32Array | Float64Array, n: number, k: number): number {
  let left = 0;
  let right = n - 1;
  while (right > left) {
    // Median-of-three pivot keeps sorted and constant inputs fast.
    const mid = (left + right) >>> 1;
    if (a[mid] < a[left]) swap(a, mid, left);
    if (a[right] < a[left]) swap(a, right, left);
    if (a[right] < a[mid]) swap(a, right, mid);
    const pivot = a[mid];
    let i = left;
    let j = right;
    while (i <= j) {
      while (a[i] < pivot) i++;
      while (a[j] > pivot) j--;
      if (i <= j) {
        swap(a, i, j);
        i++;
        j--;
      }
    }
    if (k <= j) right = j;
    else if (k >= i) left = i;
    else return a[k];
  }
  return a[k];
}

function swap(a: Float32Array | Float64Array, i: number, j: number): void {
  const t = a[i];
  a[i] = a[j];
  a[j] = t;
}

/**
 * Median of the finite values as numpy computes it (the mean of the two middle
 * values for an even count). The input is not reordered; NaN is ignored.
 */
export function medianOf(values: ArrayLike<number>): number {
  const copy = new Float64Array(values.length);
  let n = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (v === v) copy[n++] = v;
  }
  if (n === 0) return NaN;
  const upper = selectKth(copy, n, n >> 1);
  if (n % 2 === 1) return upper;
  // After selection everything below n/2 is <= upper: the lower middle is their maximum.
  let lower = -Infinity;
  for (let i = 0; i < n >> 1; i++) if (copy[i] > lower) lower = copy[i];
  return (lower + upper) / 2;
}
