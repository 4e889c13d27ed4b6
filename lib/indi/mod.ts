/**
 * An INDI (protocol 1.7) client: connects to an INDI server such as
 * `indiserver`, caches every device's property vectors, sends typed commands
 * and waits for the driver's verdict (turning Idle rejections, Alerts and
 * timeouts into errors), streams BLOBs (camera images) straight to files, and
 * reconnects by itself. Knows the protocol, not observations.
 *
 * @example
 * ```ts
 * import { IndiClient } from "./mod.ts";
 * const client = new IndiClient({ port: 7624 });
 * await client.connect();
 * await client.connectDevice("CCD Simulator");
 * await client.enableBlob("CCD Simulator", "Also");
 * const image = client.expectBlob("CCD Simulator", { path: "/data/raw/light_001.fits", timeoutMs: 120_000 });
 * await client.setNumber("CCD Simulator", "CCD_EXPOSURE", { CCD_EXPOSURE_VALUE: 60 }, { timeoutMs: 120_000 });
 * console.log(await image); // { path, bytes, format: ".fits", … }
 * await client.close();
 * ```
 *
 * @module
 */
export {
  type CommandOptions,
  type ExpectBlobOptions,
  IndiClient,
  type IndiClientEvents,
  type IndiClientOptions,
  type IndiListener,
  type WaitOptions,
  type WatchSpec,
} from "./client.ts";
export {
  IndiAlertError,
  IndiConnectionError,
  IndiError,
  IndiRejectedError,
  IndiTimeoutError,
  propertyLabel,
} from "./errors.ts";
export type { Logger } from "../log.ts";
export type {
  BlobFile,
  BlobHeader,
  BlobMember,
  BlobMode,
  BlobVector,
  ConnectionState,
  ConnectionStatus,
  ConnectOptions,
  IndiMessage,
  IndiVector,
  LightMember,
  LightVector,
  MessageLevel,
  NumberMember,
  NumberVector,
  PropertyPerm,
  PropertyState,
  ReconnectOptions,
  SwitchMember,
  SwitchRule,
  SwitchVector,
  TextMember,
  TextVector,
  VectorBase,
  VectorOfType,
  VectorType,
} from "./types.ts";
