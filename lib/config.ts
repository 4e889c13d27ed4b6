/**
 * `toros.conf.yaml`: the configuration of every TOROS daemon. The modules live
 * in `lib/config/` (the schema in `lib/config/toros_schema.ts`); this file keeps
 * the old import path working.
 *
 * @module
 */
export * from "./config/mod.ts";
