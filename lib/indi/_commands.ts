/**
 * The XML the client sends: `getProperties`, `enableBLOB`, `new*Vector`,
 * `pingReply`. One element per line, as indiserver expects nothing else.
 *
 * @module
 */
import type { BlobMode } from "./types.ts";

/** The protocol version this client speaks. */
export const PROTOCOL_VERSION = "1.7";

/** Escapes text for an XML attribute or element content. */
export function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function attributes(pairs: Record<string, string | undefined>): string {
  return Object.entries(pairs)
    .filter(([, value]) => value !== undefined)
    .map(([name, value]) => ` ${name}="${escapeXml(value!)}"`)
    .join("");
}

/** `<getProperties version="1.7" device=… name=…/>` for everything, a device or one property. */
export function getPropertiesXml(device?: string, property?: string): string {
  return `<getProperties${attributes({ version: PROTOCOL_VERSION, device, name: property })}/>\n`;
}

/** `<enableBLOB device=… name=…>Also</enableBLOB>`. */
export function enableBlobXml(device: string, mode: BlobMode, property?: string): string {
  return `<enableBLOB${attributes({ device, name: property })}>${mode}</enableBLOB>\n`;
}

/** `<newNumberVector …><oneNumber name=…>value</oneNumber>…</newNumberVector>` (and Text, Switch). */
export function newVectorXml(
  type: "Number" | "Text" | "Switch",
  device: string,
  property: string,
  members: [name: string, value: string][],
): string {
  const body = members.map(([name, value]) =>
    `  <one${type}${attributes({ name })}>${escapeXml(value)}</one${type}>\n`
  ).join("");
  return `<new${type}Vector${attributes({ device, name: property })}>\n${body}</new${type}Vector>\n`;
}

/** `<pingReply uid=…/>`, the answer a server's `pingRequest` waits for. */
export function pingReplyXml(uid: string): string {
  return `<pingReply${attributes({ uid })}/>\n`;
}
