/**
 * One Dome work order, carried out: its actions in order (blinks first, as
 * the order validation puts them), each a step of the job's story and one
 * INDI command whose verdict is awaited and checked. `Open Shutter` and
 * `Unpark` (which opens the shutter on these domes) are refused while the
 * weather is not safe, or while a dome the weather closed waits to reopen.
 * A job that is stopped (cancelled, interrupted, the daemon stopping) aborts
 * the dome's motion at once.
 *
 * @module
 */
import { type JobContext, JobDeferred } from "../../lib/daemon/mod.ts";
import { DOME_ACTION_KEYS, type DomeAction, type DomeOrder } from "../../lib/work_order.ts";
import { type DomeStation, isServerTrouble, type ShutterState } from "./station.ts";
import type { WeatherWatch } from "./weather_watch.ts";

/** What a finished Dome job records. */
export interface DomeOrderResult {
  /** Each action as the order named it, with what was done (`Blink01: no warning light`). */
  Done: string[];
  /** Where the shutter ended. */
  Shutter: ShutterState;
  /** Whether the dome ended parked. */
  Parked: boolean;
  /** Whether the dome ended slaved to the mount. */
  Slaved: boolean;
}

/** What a Dome job needs. */
export interface DomeOrderDeps {
  /** The daemon's INDI station. */
  station: DomeStation;
  /** The weather watch, which says whether the dome may open. */
  watch: WeatherWatch;
}

/** The key an order names an action by (`Open Shutter`, `Blink03`). */
export function actionKey(action: DomeAction): string {
  if (action.action === "blink") return `Blink${String(action.times).padStart(2, "0")}`;
  return Object.entries(DOME_ACTION_KEYS).find(([, name]) => name === action.action)?.[0] ?? action.action;
}

/** What each action does, for its step (`Open Shutter: opening the shutter`). */
const DOING: Record<Exclude<DomeAction["action"], "blink">, string> = {
  open: "opening the shutter",
  close: "closing the shutter",
  park: "parking the dome",
  unpark: "unparking the dome",
  slave: "slaving the dome to the mount",
  unslave: "freeing the dome from the mount",
  abort: "stopping the dome's motion",
};

/** Carries out a Dome order; see the module documentation. */
export async function runDomeOrder(
  order: DomeOrder,
  deps: DomeOrderDeps,
  context: JobContext,
): Promise<DomeOrderResult> {
  const { station, watch } = deps;
  const { signal, log } = context;
  const total = order.actions.length;
  const done: string[] = [];
  try {
    context.progress({ done: 0, total, step: "connecting" });
    await station.ready(signal);
    for (const [index, action] of order.actions.entries()) {
      const key = actionKey(action);
      const step = (text: string) => context.progress({ done: index, total, step: `${key}: ${text}` });
      if (action.action === "blink") {
        const light = station.config.warningLight;
        if (!light) {
          step("no warning light configured (Dome: Warning Light), nothing to blink");
          done.push(`${key}: no warning light`);
          continue;
        }
        step(`blinking ${light.device}.${light.property}.${light.member} ${action.times} times`);
        await station.blink(action.times, { signal });
        done.push(key);
        continue;
      }
      if (action.action === "open" || action.action === "unpark") {
        await station.awaitWeather(signal);
        const refusal = watch.openRefusal();
        if (refusal) throw new Error(`${key} refused: ${refusal}`);
      }
      step(DOING[action.action]);
      switch (action.action) {
        case "open":
          await station.openShutter({ signal });
          break;
        case "close":
          await station.closeShutter({ signal });
          watch.orderClosed("Shutter closed");
          break;
        case "park":
          await station.park({ signal });
          watch.orderClosed("Dome parked");
          break;
        case "unpark":
          await station.unpark({ signal });
          break;
        case "slave":
          await station.slave(true, { signal });
          break;
        case "unslave":
          await station.slave(false, { signal });
          break;
        case "abort":
          await station.abortMotion({ wait: true });
          break;
      }
      log.info(`Dome order ${order.id}: ${key} done`);
      done.push(key);
    }
  } catch (error) {
    if (signal.aborted) {
      // Cancelled, interrupted or stopping: the dome must not keep moving on this order's behalf.
      await station.abortMotion();
      throw error;
    }
    if (isServerTrouble(error)) {
      const retrySeconds = station.config.retrySeconds;
      throw new JobDeferred(
        `${error instanceof Error ? error.message : error}; trying again in ${retrySeconds} s`,
        retrySeconds * 1000,
      );
    }
    throw error;
  }
  return { Done: done, Shutter: station.shutter(), Parked: station.parked(), Slaved: station.slaved() };
}
