/**
 * Client address checks against CIDR blocks (IPv4, IPv6, IPv4-mapped IPv6).
 * The parser lives in `lib/cidr.ts`, shared with the config's
 * `Security: Allowed Networks` check, so a block the config accepts is one the
 * server starts with.
 *
 * @module
 */
export { addressBytes, inNetworks, type Network, parseNetwork } from "../cidr.ts";
