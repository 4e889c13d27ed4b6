/**
 * The INDI property model as the client caches it: vectors of numbers, texts,
 * switches, lights and BLOBs, each with its definition (label, group,
 * permission, rule, limits) and its latest values and state.
 *
 * Field names follow the INDI protocol 1.7 attribute names, so a reader who
 * knows the XML knows the objects.
 *
 * @module
 */

/** The state of a property vector: Idle, Ok, Busy or Alert (also the value of a light). */
export type PropertyState = "Idle" | "Ok" | "Busy" | "Alert";

/** Whether a client may read (`ro`), write (`wo`) or both (`rw`). */
export type PropertyPerm = "ro" | "wo" | "rw";

/** How many switches of a switch vector may be On at once. */
export type SwitchRule = "OneOfMany" | "AtMostOne" | "AnyOfMany";

/** The five kinds of INDI property vector. */
export type VectorType = "number" | "text" | "switch" | "light" | "blob";

/** What the server sends this client of a device's BLOBs (`enableBLOB`). */
export type BlobMode = "Never" | "Also" | "Only";

/** The severity a driver gave a message (`[ERROR] …` prefixes); `info` when it gave none. */
export type MessageLevel = "debug" | "info" | "warning" | "error";

/** A number member: its value and the definition's format and limits. */
export interface NumberMember {
  /** Member name (`RA`). */
  readonly name: string;
  /** Label for a person (`RA (hh:mm:ss)`). */
  readonly label: string;
  /** The printf-style format, including INDI's sexagesimal `%m` (`%010.6m`). */
  readonly format: string;
  /** Smallest value the driver accepts. */
  readonly min: number;
  /** Largest value the driver accepts; a `max` equal to `min` means no limit. */
  readonly max: number;
  /** Step between values, 0 for none. */
  readonly step: number;
  /** Current value (sexagesimal text on the wire is converted to decimal). */
  readonly value: number;
}

/** A text member. */
export interface TextMember {
  /** Member name. */
  readonly name: string;
  /** Label for a person. */
  readonly label: string;
  /** Current text. */
  readonly value: string;
}

/** A switch member; `value` is true for On. */
export interface SwitchMember {
  /** Member name (`CONNECT`). */
  readonly name: string;
  /** Label for a person. */
  readonly label: string;
  /** True when the switch is On. */
  readonly value: boolean;
}

/** A light member: a state shown to a person. */
export interface LightMember {
  /** Member name. */
  readonly name: string;
  /** Label for a person. */
  readonly label: string;
  /** Current light. */
  readonly value: PropertyState;
}

/** A BLOB member: what the last BLOB was, never its bytes (those go to files). */
export interface BlobMember {
  /** Member name (`CCD1`). */
  readonly name: string;
  /** Label for a person. */
  readonly label: string;
  /** Format of the last BLOB (`.fits`, `.fits.z`), empty before the first. */
  readonly format: string;
  /** Size the server declared for the last BLOB (uncompressed), 0 before the first. */
  readonly size: number;
  /** File the last BLOB was written to, undefined when it was not kept. */
  readonly path: string | undefined;
}

/** What every vector has, whatever its members. */
export interface VectorBase {
  /** Device name (`Telescope Simulator`). */
  readonly device: string;
  /** Property name (`EQUATORIAL_EOD_COORD`). */
  readonly name: string;
  /** Label for a person. */
  readonly label: string;
  /** GUI group (`Main Control`). */
  readonly group: string;
  /** Current state. */
  readonly state: PropertyState;
  /** Client permission; lights are always `ro`. */
  readonly perm: PropertyPerm;
  /** Worst-case seconds the driver expects a change to take (0 = unspecified). */
  readonly timeout: number;
  /** Driver timestamp of the latest definition or update (UTC, `2026-11-30T14:00:58`), "" if none. */
  readonly timestamp: string;
  /** The latest message attribute the driver sent with this vector, "" if none. */
  readonly message: string;
  /**
   * Whether the server defines the property now. False after `delProperty` and
   * while the connection is down; the object comes back to life (same object)
   * when the property is defined again.
   */
  readonly defined: boolean;
  /** How many definitions of this property the client has seen (1 after the first). */
  readonly definitions: number;
}

/** A number vector. */
export interface NumberVector extends VectorBase {
  /** Discriminant. */
  readonly type: "number";
  /** Members by name, in definition order. */
  readonly members: ReadonlyMap<string, NumberMember>;
}

/** A text vector. */
export interface TextVector extends VectorBase {
  /** Discriminant. */
  readonly type: "text";
  /** Members by name, in definition order. */
  readonly members: ReadonlyMap<string, TextMember>;
}

/** A switch vector. */
export interface SwitchVector extends VectorBase {
  /** Discriminant. */
  readonly type: "switch";
  /** How many switches may be On at once. */
  readonly rule: SwitchRule;
  /** Members by name, in definition order. */
  readonly members: ReadonlyMap<string, SwitchMember>;
}

/** A light vector (read-only by nature). */
export interface LightVector extends VectorBase {
  /** Discriminant. */
  readonly type: "light";
  /** Members by name, in definition order. */
  readonly members: ReadonlyMap<string, LightMember>;
}

/** A BLOB vector. */
export interface BlobVector extends VectorBase {
  /** Discriminant. */
  readonly type: "blob";
  /** Members by name, in definition order. */
  readonly members: ReadonlyMap<string, BlobMember>;
}

/** Any property vector; narrow on `type`. */
export type IndiVector = NumberVector | TextVector | SwitchVector | LightVector | BlobVector;

/** The vector type for each {@link VectorType}. */
export interface VectorOfType {
  /** Number vectors. */
  number: NumberVector;
  /** Text vectors. */
  text: TextVector;
  /** Switch vectors. */
  switch: SwitchVector;
  /** Light vectors. */
  light: LightVector;
  /** BLOB vectors. */
  blob: BlobVector;
}

/** A `<message>` from a device (or the server), or a vector's message attribute. */
export interface IndiMessage {
  /** Device that sent it; undefined for a server-wide message. */
  readonly device: string | undefined;
  /** Property whose update carried it, when it came as a vector's message attribute. */
  readonly property: string | undefined;
  /** Driver timestamp (UTC), "" if none. */
  readonly timestamp: string;
  /** Severity, from the driver's `[ERROR]`/`[WARNING]`/`[INFO]`/`[DEBUG]` prefix. */
  readonly level: MessageLevel;
  /** The text without the severity prefix. */
  readonly text: string;
}

/** What a BLOB is, from its vector and member attributes, as it starts arriving. */
export interface BlobHeader {
  /** Device. */
  readonly device: string;
  /** BLOB vector (`CCD1`). */
  readonly property: string;
  /** Member (`CCD1`). */
  readonly member: string;
  /** Declared format (`.fits`; a `.z` suffix means zlib-compressed). */
  readonly format: string;
  /** Declared (uncompressed) size, NaN when the driver gave none. */
  readonly size: number;
}

/** A BLOB that was received: where it was written (if anywhere) and how big it was. */
export interface BlobFile {
  /** Device that sent it. */
  readonly device: string;
  /** BLOB vector (`CCD1`). */
  readonly property: string;
  /** Member (`CCD1`). */
  readonly member: string;
  /** Format the driver declared (`.fits`; a `.z` suffix means zlib-compressed). */
  readonly format: string;
  /** Size the driver declared (the uncompressed size for a `.z` format). */
  readonly size: number;
  /** Bytes decoded from the base64 payload (and written, when `path` is set). */
  readonly bytes: number;
  /** The file it was written to, or undefined when nobody asked for it. */
  readonly path: string | undefined;
}

/** Exponential back-off between reconnection attempts. */
export interface ReconnectOptions {
  /** Delay before the first attempt after a loss, ms (default 500). */
  initialDelayMs?: number;
  /** Longest delay between attempts, ms (default 30 000). */
  maxDelayMs?: number;
  /** Factor applied to the delay after each failed attempt (default 2). */
  factor?: number;
  /** Failed attempts in a row before the client gives up (default Infinity). */
  maxAttempts?: number;
}

/** Options of a first connection. */
export interface ConnectOptions {
  /** Keep trying (with the reconnect back-off) instead of failing on the first refusal. */
  retry?: boolean;
  /** With `retry`, give up after this many ms (default the client's `timeoutMs`). */
  timeoutMs?: number;
}

/** Connection states; `closed` is final. */
export type ConnectionState = "disconnected" | "connecting" | "connected" | "reconnecting" | "closed";

/** The connection as a service's `/health` would show it. */
export interface ConnectionStatus {
  /** Current state. */
  readonly state: ConnectionState;
  /** Server host. */
  readonly host: string;
  /** Server port. */
  readonly port: number;
  /** When the state last changed. */
  readonly since: Date;
  /** Why the last connection or attempt failed, if one did. */
  readonly lastError: string | undefined;
  /** Failed attempts since the last successful connection. */
  readonly failedAttempts: number;
}
