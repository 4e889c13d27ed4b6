/**
 * The software version, stamped from `deno.json` so products and the service report one number.
 *
 * @module
 */
import denoConfig from "../deno.json" with { type: "json" };

/** The TOROS Manager version (semver), e.g. `0.1.0`. */
export const VERSION: string = denoConfig.version;

/** The software name written into product headers and the service's answers. */
export const SOFTWARE: string = `TOROS Manager ${VERSION}`;
