/**
 * Network blocks in CIDR form (IPv4, IPv6, IPv4-mapped IPv6) and the check of a
 * client address against them. The one parser both the config
 * (`Security: Allowed Networks`) and the XML-RPC server use, so a block the
 * config accepts is a block the server starts with.
 *
 * @example
 * ```ts
 * import { inNetworks, parseNetwork } from "./cidr.ts";
 * const lan = parseNetwork("10.0.0.0/8")!;
 * inNetworks("10.1.2.3", [lan]); // true
 * parseNetwork("1:2"); // null: not an address
 * ```
 *
 * @module
 */

function ipv4ToBytes(text: string): number[] | null {
  const parts = text.split(".");
  if (parts.length !== 4 || parts.some((p) => !/^\d{1,3}$/.test(p) || Number(p) > 255)) return null;
  return parts.map(Number);
}

function ipv6ToBytes(text: string): number[] | null {
  let address = text.replace(/^\[|\]$/g, "").split("%")[0];
  let tail: number[] = [];
  const lastColon = address.lastIndexOf(":");
  if (address.includes(".")) {
    const v4 = ipv4ToBytes(address.slice(lastColon + 1));
    if (!v4) return null;
    tail = v4;
    address = address.slice(0, lastColon) + ":0:0";
  }
  const halves = address.split("::");
  if (halves.length > 2) return null;
  const head = halves[0] ? halves[0].split(":") : [];
  const rest = halves.length === 2 && halves[1] ? halves[1].split(":") : [];
  const fill = halves.length === 2 ? 8 - head.length - rest.length : 0;
  if (halves.length === 2 && fill < 1) return null;
  const groups = [...head, ...Array(Math.max(0, fill)).fill("0"), ...rest];
  if (groups.length !== 8 || groups.some((g) => !/^[0-9a-fA-F]{1,4}$/.test(g))) return null;
  const bytes = groups.flatMap((g) => [parseInt(g, 16) >> 8, parseInt(g, 16) & 0xff]);
  if (tail.length) bytes.splice(12, 4, ...tail);
  return bytes;
}

/** An address as 16 bytes (IPv4 mapped into ::ffff:0:0/96), or null when unparsable. */
export function addressBytes(text: string): number[] | null {
  const v4 = ipv4ToBytes(text);
  if (v4) return [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, ...v4];
  return ipv6ToBytes(text);
}

/** A parsed CIDR block: the address as 16 bytes and the prefix length over those 128 bits. */
export interface Network {
  /** The block's address, IPv4 mapped into ::ffff:0:0/96. */
  bytes: number[];
  /** Leading bits that must match (an IPv4 /8 is 104 here). */
  prefix: number;
}

/**
 * Parses `10.0.0.0/8`, `::1/128`, `127.0.0.1` (a single host); null when the
 * text is not a block. The prefix must be decimal digits in range: `10.0.0.0/`
 * is refused, not read as `/0` (everyone).
 */
export function parseNetwork(text: string): Network | null {
  const [address, prefixText, ...extra] = text.trim().split("/");
  if (extra.length > 0) return null;
  const isV4 = ipv4ToBytes(address) !== null;
  const bytes = addressBytes(address);
  if (!bytes) return null;
  const max = isV4 ? 32 : 128;
  if (prefixText !== undefined && !/^\d{1,3}$/.test(prefixText)) return null;
  const prefix = prefixText === undefined ? max : Number(prefixText);
  if (prefix > max) return null;
  return { bytes, prefix: isV4 ? prefix + 96 : prefix };
}

/** Whether `address` lies in any of `networks`. */
export function inNetworks(address: string, networks: Network[]): boolean {
  const bytes = addressBytes(address);
  if (!bytes) return false;
  return networks.some((network) => {
    let bits = network.prefix;
    for (let i = 0; i < 16 && bits > 0; i++, bits -= 8) {
      const mask = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff;
      if ((bytes[i] & mask) !== (network.bytes[i] & mask)) return false;
    }
    return true;
  });
}
