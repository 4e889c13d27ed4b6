/**
 * Whether an Observation order can be observed now at the site, and whether it
 * can be at all tonight: the Sun below the twilight angle, the target above
 * the altitude limit and under the airmass limit, the Moon far enough, from
 * `lib/sky`. The night's verdict is worked out once per order per night.
 *
 * @module
 */
import type { TorosConfig } from "../../lib/config.ts";
import { darkWindow, isObservable, observableWindows, type ObservingLimits } from "../../lib/sky/mod.ts";
import type { ObservationOrder } from "../../lib/work_order.ts";

/** How long a night's verdict on an order is kept before it is worked out again. */
const RECHECK_MS = 15 * 60_000;

/** The sky's verdict on an order. */
export type SkyVerdict =
  | { observable: true }
  /** Not now, but later tonight (or the night has not started): why it waits. */
  | { observable: false; tonight: true; reason: string }
  /** Not at any moment of tonight's dark hours: why. */
  | { observable: false; tonight: false; reason: string };

/** The scheduler's limits as lib/sky takes them. */
export function limitsOf(config: TorosConfig): Required<ObservingLimits> {
  const { altitudeLimit, airmassLimit, moonSeparation, twilight } = config.scheduler;
  return { altitudeLimit, airmassLimit, moonSeparation, twilight };
}

/** Judges orders against the sky, remembering each order's verdict for tonight. */
export class SkyCheck {
  readonly #config: TorosConfig;
  readonly #tonight = new Map<string, { night: string; at: number; reason: string | null }>();

  /** Creates the check for the site and limits of `config`. */
  constructor(config: TorosConfig) {
    this.#config = config;
  }

  /** The verdict on `order` (its key, e.g. the job number, keeps tonight's answer) at `now`. */
  judge(key: string, order: ObservationOrder, now: Date): SkyVerdict {
    const site = this.#config.site;
    const limits = limitsOf(this.#config);
    const target = { ra: order.ra, dec: order.dec };
    const dark = darkWindow(site, now, { twilight: limits.twilight });
    let remembered = this.#tonight.get(key);
    // Worked out again every quarter hour: a target that has set for the night is no longer "waiting".
    if (!remembered || remembered.night !== dark.night || now.getTime() - remembered.at > RECHECK_MS) {
      let reason: string | null = null;
      if (dark.kind === "never dark") reason = dark.reason;
      else {
        // What is left of tonight's dark hours (all of them, before they start).
        const start = dark.start.getTime() > now.getTime() ? dark.start : now;
        if (start.getTime() >= dark.end.getTime()) reason = "tonight's dark hours are over";
        else reason = observableWindows(site, target, { start, end: dark.end }, limits).reason ?? null;
      }
      remembered = { night: dark.night, at: now.getTime(), reason };
      this.#tonight.set(key, remembered);
    }
    if (remembered.reason !== null) return { observable: false, tonight: false, reason: remembered.reason };
    const check = isObservable(site, target, now, limits);
    return check.ok ? { observable: true } : { observable: false, tonight: true, reason: check.reason };
  }

  /** Forgets an order (it was dispatched, done or cancelled). */
  forget(key: string): void {
    this.#tonight.delete(key);
  }
}
