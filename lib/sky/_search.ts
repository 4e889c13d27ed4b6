/**
 * Finding when a smooth function of time is non-negative: coarse samples, then
 * bisection of every sign change and a golden-section look at every sampled peak
 * that stays negative (so a short excursion between two samples is not lost).
 *
 * @module
 */

/** Times in milliseconds; f(t) ≥ 0 means "inside". */
export type Margin = (ms: number) => number;

const GOLDEN = (Math.sqrt(5) - 1) / 2;

/** The time in `[low, high]` where `f` is largest, to within `tolerance` ms (golden-section search). */
export function maximize(
  f: Margin,
  low: number,
  high: number,
  tolerance: number,
): { time: number; value: number } {
  let a = low;
  let b = high;
  let c = b - GOLDEN * (b - a);
  let d = a + GOLDEN * (b - a);
  let fc = f(c);
  let fd = f(d);
  while (b - a > tolerance) {
    if (fc > fd) {
      b = d;
      d = c;
      fd = fc;
      c = b - GOLDEN * (b - a);
      fc = f(c);
    } else {
      a = c;
      c = d;
      fc = fd;
      d = a + GOLDEN * (b - a);
      fd = f(d);
    }
  }
  const candidates: [number, number][] = [[low, f(low)], [high, f(high)], [c, fc], [d, fd]];
  let best = candidates[0];
  for (const candidate of candidates) if (candidate[1] > best[1]) best = candidate;
  return { time: best[0], value: best[1] };
}

/** The boundary between `inside` (f ≥ 0) and `outside`, to `tolerance` ms; returns the inside end. */
function boundary(f: Margin, inside: number, outside: number, tolerance: number): number {
  while (Math.abs(outside - inside) > tolerance) {
    const mid = (inside + outside) / 2;
    if (f(mid) >= 0) inside = mid;
    else outside = mid;
  }
  return inside;
}

/** Sample times from `start` to `end` inclusive, `step` apart (the last step may be shorter). */
export function sampleTimes(start: number, end: number, step: number): number[] {
  const times: number[] = [];
  for (let t = start; t < end; t += step) times.push(t);
  times.push(end);
  return times;
}

/**
 * The intervals of `[start, end]` where f ≥ 0, boundaries within `tolerance` ms.
 * Sampled every `step` ms; an interval shorter than a step is found when it sits on a
 * sampled local maximum of f (a peak of altitude, a dip of the Sun), not otherwise.
 */
export function findIntervals(
  f: Margin,
  start: number,
  end: number,
  step: number,
  tolerance: number,
): [number, number][] {
  const times = sampleTimes(start, end, step);
  const values = times.map(f);
  const n = times.length;
  const intervals: [number, number][] = [];
  let open: number | null = values[0] >= 0 ? start : null;
  for (let i = 1; i < n; i++) {
    const wasInside = values[i - 1] >= 0;
    const isInside = values[i] >= 0;
    if (wasInside && !isInside) {
      intervals.push([open!, boundary(f, times[i - 1], times[i], tolerance)]);
      open = null;
    } else if (!wasInside && isInside) {
      open = boundary(f, times[i], times[i - 1], tolerance);
    }
  }
  if (open !== null) intervals.push([open, end]);

  for (let i = 0; i < n; i++) {
    if (values[i] >= 0) continue;
    const left = i > 0 ? values[i - 1] : -Infinity;
    const right = i < n - 1 ? values[i + 1] : -Infinity;
    if (values[i] < left || values[i] < right) continue;
    const low = times[Math.max(0, i - 1)];
    const high = times[Math.min(n - 1, i + 1)];
    const peak = maximize(f, low, high, Math.min(tolerance * 10, step / 4));
    if (peak.value < 0) continue;
    intervals.push([boundary(f, peak.time, low, tolerance), boundary(f, peak.time, high, tolerance)]);
  }
  intervals.sort((a, b) => a[0] - b[0]);
  const merged: [number, number][] = [];
  for (const interval of intervals) {
    const last = merged[merged.length - 1];
    if (last && interval[0] <= last[1]) last[1] = Math.max(last[1], interval[1]);
    else merged.push([interval[0], interval[1]]);
  }
  return merged;
}
