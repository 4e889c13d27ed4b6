/**
 * The INDI client: one TCP connection to an INDI server (indiserver), a cache
 * of every device's property vectors, typed commands that wait for the
 * driver's verdict, BLOBs streamed to files, and reconnection with back-off.
 *
 * ## Cache
 * Every (device, property) has one vector object for the client's lifetime
 * (see `_cache.ts`): definitions and redefinitions rewrite it in place,
 * `set*Vector` updates its values, state and message, `delProperty` and a lost
 * connection mark it `defined: false`, and a later definition brings the same
 * object back. References handed out therefore never go stale; lookups
 * (`getVector`, `getNumber`, …) only answer for defined properties.
 *
 * ## Commands and their verdict
 * `setNumber`/`setText`/`setSwitch` send a `new*Vector` and, unless told not
 * to wait, settle on the driver's answer:
 * - Ok: done (after any number of Busy updates);
 * - Alert: {@link IndiAlertError} whose text is the driver's message (the
 *   update's message attribute, else the device's last `<message>` since the
 *   command was sent);
 * - Idle: {@link IndiRejectedError} naming device, property and message — a
 *   driver refuses a command by answering Idle, not Alert (a slew while the
 *   mount is parked); Idle after Busy means it was stopped (an aborted exposure);
 * - deletion of the property: {@link IndiError}; no answer in time:
 *   {@link IndiTimeoutError}.
 *
 * INDI has no request ids, so an update the driver sent *before* it read the
 * command can arrive after the command was sent (the telescope simulator sends
 * its coordinates every 250 ms). An update that arrives within
 * `staleUpdateWindowMs` of sending, shows the state the vector had before, no
 * Busy in between, carries no message, and does not show the values asked for,
 * is therefore held back: a later update replaces it, or it is judged when the
 * window closes.
 *
 * ## Lost connection
 * The client reconnects with exponential back-off (`reconnect`), sends its
 * `getProperties` and BLOB modes again, and the cache fills again from the
 * server's definitions. Waits on a property's state or on a command, and BLOB
 * expectations, fail at once with {@link IndiConnectionError} (what happened to
 * a command during the outage cannot be known); waits for a definition
 * (`waitForProperty`, `waitForDevice`) go on, since the definitions come again.
 * Devices are not reconnected by the client: a service listens for `connected`
 * and calls {@link IndiClient.connectDevice} again (indiserver may have restarted).
 *
 * @example
 * ```ts
 * const client = new IndiClient({ host: "127.0.0.1", port: 7624 });
 * await client.connect();
 * await client.connectDevice("Telescope Simulator");
 * await client.setSwitch("Telescope Simulator", "ON_COORD_SET", { TRACK: true });
 * await client.setNumber("Telescope Simulator", "EQUATORIAL_EOD_COORD", { RA: 5.5, DEC: -5 });
 * await client.close();
 * ```
 *
 * @module
 */
import type { Logger } from "../log.ts";
import { enableBlobXml, getPropertiesXml, newVectorXml, pingReplyXml } from "./_commands.ts";
import { type CachedVector, PropertyCache, publicVector } from "./_cache.ts";
import { type BlobHeader, type BlobOutcome, countingSink, fileSink } from "./_blob_file.ts";
import { type Attributes, type BlobSink, IndiStreamParser, type ParsedElement } from "./_stream.ts";
import { Waiter, type WaitEvent, type WaitVerdict } from "./_waiter.ts";
import {
  IndiAlertError,
  IndiConnectionError,
  IndiError,
  IndiRejectedError,
  propertyLabel,
} from "./errors.ts";
import type {
  BlobFile,
  BlobMode,
  IndiMessage,
  IndiVector,
  MessageLevel,
  NumberMember,
  NumberVector,
  PropertyState,
  SwitchMember,
  SwitchVector,
  TextMember,
  TextVector,
  VectorOfType,
  VectorType,
} from "./types.ts";

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

/** A `getProperties` scope: a device, or one property of it. */
export interface WatchSpec {
  /** Device name. */
  device: string;
  /** Property name; all of the device's when absent. */
  property?: string;
}

/** Options of {@link IndiClient}. */
export interface IndiClientOptions {
  /** Server host (default `127.0.0.1`). */
  host?: string;
  /** Server port (default 7624). */
  port?: number;
  /** Default time limit of waits and commands, ms (default 60 000). */
  timeoutMs?: number;
  /** Reconnection back-off, or false to stay disconnected after a loss. */
  reconnect?: ReconnectOptions | false;
  /** What to ask the server for; everything when absent. */
  watch?: WatchSpec[];
  /**
   * Where to write a BLOB that no {@link IndiClient.expectBlob} claimed;
   * undefined (or no function) to drop it after counting its bytes.
   */
  blobPath?: (blob: BlobHeader) => string | undefined;
  /** Receives device messages at their level and connection events. */
  logger?: Logger;
  /** See "Commands and their verdict" in the module docs (default 250 ms). */
  staleUpdateWindowMs?: number;
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

/** The client's events and what their listeners receive. */
export interface IndiClientEvents {
  /** The connection is up (first time or again); getProperties was sent. */
  connected: { host: string; port: number };
  /** The connection went down; `reconnecting` says whether the client will try again. */
  disconnected: { error: Error | undefined; reconnecting: boolean };
  /** A property was defined (or redefined). */
  define: IndiVector;
  /** A property's values, state or message changed (`set*Vector`). */
  update: IndiVector;
  /** `delProperty`: one property, or all of a device's when `property` is undefined. */
  delete: { device: string; property: string | undefined };
  /** A `<message>` or a vector's message attribute. */
  message: IndiMessage;
  /** A BLOB was received (written to a file or counted and dropped). */
  blob: BlobFile;
  /** Something in the stream could not be used (bad XML, a BLOB that could not be written, …). */
  error: Error;
}

/** Options of a wait. */
export interface WaitOptions {
  /** Time limit, ms (default the client's `timeoutMs`; Infinity for none). */
  timeoutMs?: number;
  /** Cancels the wait. */
  signal?: AbortSignal;
}

/** Options of a command. */
export interface CommandOptions extends WaitOptions {
  /** Wait for the driver's verdict (default true); false resolves once sent. */
  wait?: boolean;
}

/** Options of {@link IndiClient.connect}. */
export interface ConnectOptions {
  /** Keep trying (with the reconnect back-off) instead of failing on the first refusal. */
  retry?: boolean;
  /** With `retry`, give up after this many ms (default the client's `timeoutMs`). */
  timeoutMs?: number;
}

/** Options of {@link IndiClient.expectBlob}. */
export interface ExpectBlobOptions extends WaitOptions {
  /** Where to write it: a path, or a function of the BLOB (to pick the extension from its format). */
  path: string | ((blob: BlobHeader) => string);
  /** Only a BLOB of this vector (`CCD1`); any of the device's when absent. */
  property?: string;
  /** Only a BLOB of this member; any when absent. */
  member?: string;
}

export type { BlobHeader };

type Listener<K extends keyof IndiClientEvents> = (event: IndiClientEvents[K]) => void;

interface BlobExpectation {
  device: string;
  property: string | undefined;
  member: string | undefined;
  path: string | ((blob: BlobHeader) => string);
  waiter: Waiter<BlobFile>;
}

const LEVELS: Record<string, MessageLevel> = {
  DEBUG: "debug",
  INFO: "info",
  WARNING: "warning",
  WARN: "warning",
  ERROR: "error",
};

const READ_BUFFER_BYTES = 256 * 1024;

/** A client of one INDI server; see the module documentation for its semantics. */
export class IndiClient {
  readonly #host: string;
  readonly #port: number;
  readonly #timeoutMs: number;
  readonly #reconnect: Required<ReconnectOptions> | false;
  readonly #watch: WatchSpec[] | undefined;
  readonly #blobPath: ((blob: BlobHeader) => string | undefined) | undefined;
  readonly #logger: Logger | undefined;
  readonly #staleWindowMs: number;

  readonly #cache = new PropertyCache();
  readonly #listeners = new Map<keyof IndiClientEvents, Set<(event: never) => void>>();
  readonly #waiters = new Set<Waiter<unknown>>();
  readonly #expectations: BlobExpectation[] = [];
  /** BLOB modes sent, by "device\0property" ("device\0" for the whole device), re-sent after a reconnect. */
  readonly #blobModes = new Map<string, { device: string; property: string | undefined; mode: BlobMode }>();
  /** Per device: the number of the last `<message>` and its text. */
  readonly #deviceMessages = new Map<string, { serial: number; text: string }>();
  #messageSerial = 0;

  #state: ConnectionState = "disconnected";
  #since = new Date();
  #lastError: string | undefined;
  #failedAttempts = 0;
  #conn: Deno.TcpConn | null = null;
  #writing: Promise<void> = Promise.resolve();
  #loop: Promise<void> | null = null;
  #closed = false;
  #sleepTimer: ReturnType<typeof setTimeout> | undefined;
  #wakeUp: (() => void) | undefined;

  /** Creates a client; nothing happens until {@link connect}. */
  constructor(options: IndiClientOptions = {}) {
    this.#host = options.host ?? "127.0.0.1";
    this.#port = options.port ?? 7624;
    if (!Number.isInteger(this.#port) || this.#port < 1 || this.#port > 65535) {
      throw new RangeError(`Invalid INDI port: ${options.port} (expected 1-65535)`);
    }
    this.#timeoutMs = options.timeoutMs ?? 60_000;
    this.#reconnect = options.reconnect === false ? false : {
      initialDelayMs: options.reconnect?.initialDelayMs ?? 500,
      maxDelayMs: options.reconnect?.maxDelayMs ?? 30_000,
      factor: options.reconnect?.factor ?? 2,
      maxAttempts: options.reconnect?.maxAttempts ?? Infinity,
    };
    this.#watch = options.watch?.map((spec) => ({ ...spec }));
    this.#blobPath = options.blobPath;
    this.#logger = options.logger;
    this.#staleWindowMs = options.staleUpdateWindowMs ?? 250;
  }

  // ---------------------------------------------------------------- connection

  /** The connection's state, for `/health`. */
  get connection(): ConnectionStatus {
    return {
      state: this.#state,
      host: this.#host,
      port: this.#port,
      since: this.#since,
      lastError: this.#lastError,
      failedAttempts: this.#failedAttempts,
    };
  }

  /**
   * Connects to the server and asks for its properties; resolves once
   * connected. Fails on the first refusal unless `retry`. Once connected, lost
   * connections are re-established by the client itself.
   */
  async connect(options: ConnectOptions = {}): Promise<void> {
    if (this.#closed) throw new IndiConnectionError("The INDI client is closed");
    if (this.#state === "connected") return;
    if (this.#loop) {
      await this.#whenConnected(options.timeoutMs ?? this.#timeoutMs);
      return;
    }
    const first = Promise.withResolvers<void>();
    const deadline = options.retry ? performance.now() + (options.timeoutMs ?? this.#timeoutMs) : -Infinity;
    this.#loop = this.#run(first, deadline).finally(() => {
      this.#loop = null;
    });
    await first.promise;
  }

  /** Stops everything: the connection, reconnection, waits and BLOB expectations (which fail). */
  async close(): Promise<void> {
    if (this.#closed) {
      await this.#loop;
      return;
    }
    this.#closed = true;
    this.#wake();
    try {
      this.#conn?.close();
    } catch {
      // already closed
    }
    await this.#loop;
    const error = new IndiConnectionError("The INDI client was closed");
    for (const waiter of [...this.#waiters]) waiter.fail(this.#waitError(error, waiter));
    for (const expectation of this.#expectations.splice(0)) expectation.waiter.fail(error);
    this.#setState("closed", undefined);
  }

  /** Calls `listener` for each event of `type`; returns the function that removes it. */
  on<K extends keyof IndiClientEvents>(type: K, listener: Listener<K>): () => void {
    let set = this.#listeners.get(type);
    if (!set) this.#listeners.set(type, set = new Set());
    set.add(listener as (event: never) => void);
    return () => set.delete(listener as (event: never) => void);
  }

  /**
   * Asks the server for a device's (or one property's) definitions and keeps
   * asking after reconnections. With no `watch` option the client already asks
   * for everything, and this only refreshes the definitions.
   */
  async watch(device: string, property?: string): Promise<void> {
    if (this.#watch && !this.#watch.some((spec) => spec.device === device && spec.property === property)) {
      this.#watch.push({ device, property });
    }
    if (this.#state === "connected") await this.#send(getPropertiesXml(device, property));
  }

  /**
   * Sets what the server sends of a device's BLOBs (`Never`, `Also` with the
   * other traffic, `Only` BLOBs on this connection), for the whole device or
   * one BLOB property. Remembered and sent again after a reconnection.
   */
  async enableBlob(device: string, mode: BlobMode, options: { property?: string } = {}): Promise<void> {
    if (mode !== "Never" && mode !== "Also" && mode !== "Only") {
      throw new IndiError(
        `Invalid BLOB mode "${mode}" for ${
          propertyLabel(device, options.property)
        } (expected Never, Also or Only)`,
        device,
        options.property,
      );
    }
    this.#blobModes.set(`${device}\u0000${options.property ?? ""}`, {
      device,
      property: options.property,
      mode,
    });
    if (this.#state === "connected") await this.#send(enableBlobXml(device, mode, options.property));
  }

  // ---------------------------------------------------------------- the cache

  /** Names of the devices the server defines properties for. */
  devices(): string[] {
    return this.#cache.devices();
  }

  /** A device's defined property vectors, in the order they were first defined. */
  properties(device: string): IndiVector[] {
    return this.#cache.properties(device).map(publicVector);
  }

  /**
   * The live vector of a defined property (undefined if not defined). With
   * `type`, throws when the property is of another type.
   */
  getVector(device: string, property: string): IndiVector | undefined;
  getVector<T extends VectorType>(device: string, property: string, type: T): VectorOfType[T] | undefined;
  getVector(device: string, property: string, type?: VectorType): IndiVector | undefined {
    const vector = this.#cache.get(device, property);
    if (vector && type && vector.type !== type) {
      throw new IndiError(
        `${propertyLabel(device, property)} is a ${vector.type} vector, not a ${type} vector`,
        device,
        property,
      );
    }
    return vector ? publicVector(vector) : undefined;
  }

  /** A number member's value; throws naming what is missing. */
  getNumber(device: string, property: string, member: string): number {
    return this.#member(device, property, member, "number").value as number;
  }

  /** A text member's value; throws naming what is missing. */
  getText(device: string, property: string, member: string): string {
    return this.#member(device, property, member, "text").value as string;
  }

  /** Whether a switch member is On; throws naming what is missing. */
  getSwitch(device: string, property: string, member: string): boolean {
    return this.#member(device, property, member, "switch").value as boolean;
  }

  /** A light member's state; throws naming what is missing. */
  getLight(device: string, property: string, member: string): PropertyState {
    return this.#member(device, property, member, "light").value as PropertyState;
  }

  // ---------------------------------------------------------------- commands

  /**
   * Sends `newNumberVector` with the given members (the others with their
   * cached values, as every INDI client does) and waits for the verdict.
   */
  async setNumber(
    device: string,
    property: string,
    values: Record<string, number>,
    options: CommandOptions = {},
  ): Promise<NumberVector> {
    const vector = this.#writable(device, property, "number", Object.keys(values));
    const members: [string, string][] = [];
    for (const member of vector.members.values()) {
      const asked = Object.hasOwn(values, member.name);
      const value = asked ? values[member.name] : (member as NumberMember).value;
      if (asked) checkNumber(device, property, member as NumberMember, value);
      members.push([member.name, String(value)]);
    }
    return await this.#command(
      vector,
      newVectorXml("Number", device, property, members),
      values,
      options,
    ) as NumberVector;
  }

  /** Sends `newTextVector` (unnamed members keep their cached text) and waits for the verdict. */
  async setText(
    device: string,
    property: string,
    values: Record<string, string>,
    options: CommandOptions = {},
  ): Promise<TextVector> {
    const vector = this.#writable(device, property, "text", Object.keys(values));
    const members: [string, string][] = [...vector.members.values()].map((member) => [
      member.name,
      Object.hasOwn(values, member.name) ? String(values[member.name]) : (member as TextMember).value,
    ]);
    return await this.#command(
      vector,
      newVectorXml("Text", device, property, members),
      values,
      options,
    ) as TextVector;
  }

  /**
   * Sends `newSwitchVector` with only the switches given (true = On) and waits
   * for the verdict. For a OneOfMany vector give the one to turn On: the
   * driver turns the others Off.
   */
  async setSwitch(
    device: string,
    property: string,
    values: Record<string, boolean>,
    options: CommandOptions = {},
  ): Promise<SwitchVector> {
    const vector = this.#writable(device, property, "switch", Object.keys(values));
    const on = Object.values(values).filter(Boolean).length;
    if (vector.rule !== "AnyOfMany" && on > 1) {
      throw new IndiError(
        `${
          propertyLabel(device, property)
        } is ${vector.rule}: ${on} switches asked On (expected at most one)`,
        device,
        property,
      );
    }
    const members: [string, string][] = Object.entries(values).map((
      [name, value],
    ) => [name, value ? "On" : "Off"]);
    return await this.#command(
      vector,
      newVectorXml("Switch", device, property, members),
      values,
      options,
    ) as SwitchVector;
  }

  /**
   * Connects a device (CONNECTION → CONNECT On) and waits until it is
   * connected; does nothing when it already is.
   */
  async connectDevice(device: string, options: WaitOptions = {}): Promise<void> {
    await this.#connection(device, true, options);
  }

  /** Disconnects a device (CONNECTION → DISCONNECT On) and waits for the driver's verdict. */
  async disconnectDevice(device: string, options: WaitOptions = {}): Promise<void> {
    await this.#connection(device, false, options);
  }

  // ---------------------------------------------------------------- waits

  /** Resolves once the server defines the property (at once if it does); survives reconnection. */
  waitForProperty(device: string, property: string, options: WaitOptions = {}): Promise<IndiVector> {
    return this.#wait<IndiVector>(
      device,
      property,
      options,
      "to be defined",
      true,
      (event) => event.vector?.defined ? { value: publicVector(event.vector) } : undefined,
    );
  }

  /** Resolves once the server defines any property of the device; survives reconnection. */
  waitForDevice(device: string, options: WaitOptions = {}): Promise<void> {
    return this.#wait<void>(
      device,
      undefined,
      options,
      "to define any property",
      true,
      () => this.#cache.devices().includes(device) ? { value: undefined } : undefined,
    );
  }

  /**
   * Resolves when the property is Ok (at once if it is). Rejects when it goes
   * to Alert (with the driver's message), goes Idle after having been Busy,
   * is deleted, the connection is lost, or time runs out. To wait for a
   * command you sent, use the command's own wait instead: the state before it
   * may already be Ok.
   */
  waitForOk(device: string, property: string, options: WaitOptions = {}): Promise<IndiVector> {
    let busy = false;
    let since = this.#messageSerial;
    return this.#wait<IndiVector>(device, property, options, "to become Ok", false, (event) => {
      if (event.kind === "delete") return { error: deletedError(device, property) };
      const vector = event.vector;
      if (!vector?.defined) return undefined;
      switch (vector.state) {
        case "Ok":
          return { value: publicVector(vector) };
        case "Busy":
          if (!busy) since = this.#messageSerial;
          busy = true;
          return undefined;
        case "Alert":
          return {
            error: new IndiAlertError(
              device,
              property,
              event.message || this.#deviceMessageSince(device, since) || vector.message,
            ),
          };
        case "Idle":
          return busy
            ? {
              error: new IndiRejectedError(
                device,
                property,
                event.message || this.#deviceMessageSince(device, since),
                true,
              ),
            }
            : undefined;
      }
    });
  }

  /**
   * Resolves with the vector once `predicate` holds for it (checked now, then
   * at each definition and update). Rejects if the property is deleted, the
   * connection is lost, or time runs out.
   */
  waitUntil(
    device: string,
    property: string,
    predicate: (vector: IndiVector) => boolean,
    options: WaitOptions & { describe?: string } = {},
  ): Promise<IndiVector> {
    return this.#wait<IndiVector>(
      device,
      property,
      options,
      options.describe ?? "to satisfy the condition",
      false,
      (event) => {
        if (event.kind === "delete") return { error: deletedError(device, property) };
        const vector = event.vector;
        if (!vector?.defined) return undefined;
        return predicate(publicVector(vector)) ? { value: publicVector(vector) } : undefined;
      },
    );
  }

  /**
   * Claims the next BLOB of `device` (optionally of one property and member)
   * and writes it to `path` as it streams in: to a temporary name in the same
   * directory, renamed when whole. Call it before triggering the BLOB (a CCD
   * sends the image before its exposure turns Ok); the device's BLOBs must be
   * enabled with {@link enableBlob}. The promise is marked handled, so one
   * left unawaited does not crash the process when it fails.
   */
  expectBlob(device: string, options: ExpectBlobOptions): Promise<BlobFile> {
    const { property, member } = options;
    if (!this.#blobsEnabled(device, property)) {
      const error = new IndiError(
        `BLOBs of ${propertyLabel(device, property)} are not enabled (call enableBlob(device, "Also") first)`,
        device,
        property,
      );
      const rejected = Promise.reject(error);
      rejected.catch(() => {});
      return rejected;
    }
    const waiter: Waiter<BlobFile> = new Waiter<BlobFile>({
      device,
      property,
      survivesReconnect: false,
      describe: "to send a BLOB",
      timeoutMs: options.timeoutMs ?? this.#timeoutMs,
      signal: options.signal,
      judge: () => undefined,
      current: () => property === undefined ? undefined : this.#cache.get(device, property),
      onSettled: () => {
        const index = this.#expectations.findIndex((expectation) => expectation.waiter === waiter);
        if (index >= 0) this.#expectations.splice(index, 1);
      },
    });
    this.#expectations.push({ device, property, member, path: options.path, waiter });
    waiter.promise.catch(() => {});
    return waiter.promise;
  }

  // ---------------------------------------------------------------- internals: connection

  async #run(first: PromiseWithResolvers<void>, firstDeadline: number): Promise<void> {
    let connectedOnce = false;
    let delay = this.#reconnect ? this.#reconnect.initialDelayMs : 0;
    this.#setState("connecting", undefined);
    while (!this.#closed) {
      let conn: Deno.TcpConn;
      try {
        conn = await Deno.connect({ hostname: this.#host, port: this.#port, transport: "tcp" });
      } catch (error) {
        this.#failedAttempts++;
        const reason = new IndiConnectionError(
          `Cannot connect to INDI server ${this.#address}: ${errorText(error)}`,
          undefined,
          undefined,
          { cause: error },
        );
        this.#lastError = reason.message;
        const giveUp = !this.#reconnect || this.#closed ||
          this.#failedAttempts >= this.#reconnect.maxAttempts ||
          (!connectedOnce && performance.now() + delay > firstDeadline);
        if (giveUp) {
          this.#setState(this.#closed ? "closed" : "disconnected", reason.message);
          if (!connectedOnce) first.reject(reason);
          else this.#emit("disconnected", { error: reason, reconnecting: false });
          this.#logger?.error(`${reason.message}; giving up`);
          return;
        }
        await this.#sleep(delay);
        delay = Math.min(
          delay * (this.#reconnect ? this.#reconnect.factor : 1),
          this.#reconnect ? this.#reconnect.maxDelayMs : 0,
        );
        continue;
      }
      if (this.#closed) {
        conn.close();
        break;
      }
      // Commands are small writes answered by small writes: Nagle's delay would add ~40 ms to each.
      conn.setNoDelay(true);
      connectedOnce = true;
      this.#failedAttempts = 0;
      delay = this.#reconnect ? this.#reconnect.initialDelayMs : 0;
      const lost = await this.#session(conn, first);
      if (this.#closed) break;
      const reconnecting = this.#reconnect !== false;
      this.#setState(reconnecting ? "reconnecting" : "disconnected", lost.message);
      this.#emit("disconnected", { error: lost, reconnecting });
      this.#logger?.warning(`${lost.message}${reconnecting ? `; reconnecting in ${delay} ms` : ""}`);
      if (!reconnecting) return;
      await this.#sleep(delay);
    }
    if (!connectedOnce) {
      first.reject(new IndiConnectionError("The INDI client was closed before it connected"));
    }
  }

  /** One connection's life; returns why it ended. */
  async #session(conn: Deno.TcpConn, first: PromiseWithResolvers<void>): Promise<Error> {
    this.#conn = conn;
    this.#writing = Promise.resolve();
    const parser = new IndiStreamParser({
      element: (element) => this.#onElement(element),
      blobStart: (tag, vector, member) => this.#onBlobStart(tag, vector, member),
      error: (error) => this.#emit("error", error),
    });
    this.#setState("connected", undefined);
    this.#logger?.info(`Connected to INDI server ${this.#address}`);
    let lost: Error;
    try {
      const requests = this.#watch && this.#watch.length > 0
        ? this.#watch.map((spec) => getPropertiesXml(spec.device, spec.property)).join("")
        : getPropertiesXml();
      const modes = [...this.#blobModes.values()].map((m) => enableBlobXml(m.device, m.mode, m.property))
        .join("");
      // Not awaited: a write that fails closes the connection, which ends the read loop below.
      this.#send(requests + modes).catch(() => {});
      first.resolve();
      this.#emit("connected", { host: this.#host, port: this.#port });
      const buffer = new Uint8Array(READ_BUFFER_BYTES);
      while (true) {
        const count = await conn.read(buffer);
        if (count === null) {
          lost = new IndiConnectionError(`INDI server ${this.#address} closed the connection`);
          break;
        }
        await parser.feed(buffer.subarray(0, count));
      }
    } catch (error) {
      lost = new IndiConnectionError(
        `Lost connection to INDI server ${this.#address}: ${errorText(error)}`,
        undefined,
        undefined,
        { cause: error },
      );
    }
    this.#conn = null;
    try {
      conn.close();
    } catch {
      // already closed (by close() or a failed write)
    }
    const cause = this.#closed ? new IndiConnectionError("The INDI client was closed") : lost;
    await parser.abort(cause);
    this.#cache.forgetAll();
    for (const waiter of [...this.#waiters]) {
      if (!waiter.survivesReconnect) waiter.fail(this.#waitError(cause, waiter));
    }
    for (const expectation of this.#expectations.splice(0)) {
      expectation.waiter.fail(this.#waitError(cause, expectation.waiter));
    }
    return cause;
  }

  async #whenConnected(timeoutMs: number): Promise<void> {
    if (this.#state === "connected") return;
    const done = Promise.withResolvers<void>();
    const offConnected = this.on("connected", () => done.resolve());
    const offDisconnected = this.on("disconnected", (event) => {
      if (!event.reconnecting) {
        done.reject(event.error ?? new IndiConnectionError("The INDI client was closed"));
      }
    });
    const timer = Number.isFinite(timeoutMs)
      ? setTimeout(
        () =>
          done.reject(
            new IndiConnectionError(
              `Not connected to INDI server ${this.#address} after ${timeoutMs / 1000} s`,
            ),
          ),
        timeoutMs,
      )
      : undefined;
    try {
      await done.promise;
    } finally {
      clearTimeout(timer);
      offConnected();
      offDisconnected();
    }
  }

  #send(xml: string): Promise<void> {
    const conn = this.#conn;
    if (!conn || this.#state !== "connected") {
      return Promise.reject(
        new IndiConnectionError(`Not connected to INDI server ${this.#address} (${this.#state})`),
      );
    }
    const bytes = new TextEncoder().encode(xml);
    const write = this.#writing.then(async () => {
      let written = 0;
      while (written < bytes.length) written += await conn.write(bytes.subarray(written));
    }).catch((error) => {
      try {
        conn.close(); // the read loop sees the loss and reconnects
      } catch {
        // already closed
      }
      throw new IndiConnectionError(
        `Cannot send to INDI server ${this.#address}: ${errorText(error)}`,
        undefined,
        undefined,
        {
          cause: error,
        },
      );
    });
    this.#writing = write.catch(() => {});
    return write;
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      if (this.#closed) return resolve();
      this.#wakeUp = resolve;
      this.#sleepTimer = setTimeout(() => this.#wake(), ms);
    });
  }

  #wake(): void {
    clearTimeout(this.#sleepTimer);
    this.#sleepTimer = undefined;
    const wakeUp = this.#wakeUp;
    this.#wakeUp = undefined;
    wakeUp?.();
  }

  #setState(state: ConnectionState, error: string | undefined): void {
    if (this.#state === "closed") return;
    this.#state = state;
    this.#since = new Date();
    if (error !== undefined) this.#lastError = error;
  }

  get #address(): string {
    return `${this.#host}:${this.#port}`;
  }

  // ---------------------------------------------------------------- internals: incoming

  #onElement(element: ParsedElement): void {
    const a = element.attributes;
    switch (element.tag) {
      case "message":
        this.#message(a.device, undefined, a.timestamp, a.message ?? "");
        return;
      case "pingRequest":
        if (a.uid !== undefined) this.#send(pingReplyXml(a.uid)).catch(() => {});
        return;
    }
    let change;
    try {
      change = this.#cache.apply(element);
    } catch (error) {
      this.#emit("error", new Error(`Ignored <${element.tag}>: ${errorText(error)}`));
      return;
    }
    if (!change) return;
    if (change.kind === "delete") {
      if (a.message) this.#message(change.device, change.property, a.timestamp, a.message);
      for (const vector of change.vectors) {
        this.#notify(vector.device, vector.name, { kind: "delete", vector: undefined, message: undefined });
      }
      this.#emit("delete", { device: change.device, property: change.property });
      return;
    }
    const vector = change.vector;
    const message = change.kind === "update" ? change.message : element.attributes.message;
    if (message) this.#message(vector.device, vector.name, vector.timestamp, message);
    if (change.kind === "update" && change.problem) this.#emit("error", new Error(change.problem));
    this.#notify(vector.device, vector.name, { kind: change.kind, vector, message: message || undefined });
    this.#emit(change.kind, publicVector(vector));
  }

  #message(
    device: string | undefined,
    property: string | undefined,
    timestamp: string | undefined,
    raw: string,
  ): void {
    const match = /^\s*\[(DEBUG|INFO|WARNING|WARN|ERROR)\]\s*/.exec(raw);
    const level = match ? LEVELS[match[1]] : "info";
    const text = match ? raw.slice(match[0].length) : raw;
    if (device !== undefined) this.#deviceMessages.set(device, { serial: ++this.#messageSerial, text });
    const logger = this.#logger;
    if (logger) {
      const line = `[${device ?? "indiserver"}${property ? ` ${property}` : ""}] ${text}`;
      if (level === "debug") logger.debug(line);
      else if (level === "warning") logger.warning(line);
      else if (level === "error") logger.error(line);
      else logger.info(line);
    }
    this.#emit("message", { device, property, timestamp: timestamp ?? "", level, text });
  }

  #onBlobStart(tag: string, vector: Attributes, member: Attributes): BlobSink | null {
    if (tag !== "setBLOBVector") return null;
    const header: BlobHeader = {
      device: vector.device ?? "",
      property: vector.name ?? "",
      member: member.name ?? "",
      format: member.format ?? "",
      size: member.size === undefined ? NaN : Number(member.size),
    };
    const index = this.#expectations.findIndex((e) =>
      e.device === header.device && (e.property === undefined || e.property === header.property) &&
      (e.member === undefined || e.member === header.member)
    );
    const expectation = index >= 0 ? this.#expectations.splice(index, 1)[0] : undefined;
    expectation?.waiter.claim();
    const done = (outcome: BlobOutcome): void => {
      if (outcome.error) {
        const error = outcome.error instanceof IndiError
          ? outcome.error
          : new IndiError(outcome.error.message, header.device, header.property, { cause: outcome.error });
        if (expectation) expectation.waiter.fail(error);
        else this.#emit("error", error);
        return;
      }
      const cached = this.#cache.get(header.device, header.property)?.members.get(header.member);
      if (cached && "path" in cached) cached.path = outcome.file.path;
      this.#emit("blob", outcome.file);
      expectation?.waiter.succeed(outcome.file);
    };
    let path: string | undefined;
    try {
      path = expectation
        ? (typeof expectation.path === "function" ? expectation.path(header) : expectation.path)
        : this.#blobPath?.(header);
    } catch (error) {
      done({ error: error as Error });
      return countingSink(header, () => {});
    }
    return path === undefined ? countingSink(header, done) : fileSink(header, path, done);
  }

  #notify(device: string, property: string, event: WaitEvent): void {
    for (const waiter of [...this.#waiters]) {
      if (waiter.device === device && (waiter.property === undefined || waiter.property === property)) {
        waiter.notify(waiter.property === undefined ? { ...event, vector: undefined } : event);
      }
    }
  }

  #emit<K extends keyof IndiClientEvents>(type: K, event: IndiClientEvents[K]): void {
    const set = this.#listeners.get(type);
    if (!set) return;
    for (const listener of [...set]) {
      try {
        (listener as Listener<K>)(event);
      } catch (error) {
        if (type !== "error") {
          this.#emit("error", new Error(`A "${type}" listener threw: ${errorText(error)}`));
        }
      }
    }
  }

  // ---------------------------------------------------------------- internals: commands and waits

  #wait<T>(
    device: string,
    property: string | undefined,
    options: WaitOptions,
    describe: string,
    survivesReconnect: boolean,
    judge: (event: WaitEvent, waiter: Waiter<T>) => WaitVerdict<T>,
  ): Promise<T> {
    const waiter = this.#startWaiter(device, property, options, describe, survivesReconnect, judge);
    waiter.notify({
      kind: "initial",
      vector: property === undefined ? undefined : this.#cache.get(device, property),
      message: undefined,
    });
    if (!survivesReconnect && !waiter.settled && this.#state !== "connected") {
      waiter.fail(
        new IndiConnectionError(
          `Not connected to INDI server ${this.#address} (${this.#state})`,
          device,
          property,
        ),
      );
    }
    return waiter.promise;
  }

  #startWaiter<T>(
    device: string,
    property: string | undefined,
    options: WaitOptions,
    describe: string,
    survivesReconnect: boolean,
    judge: (event: WaitEvent, waiter: Waiter<T>) => WaitVerdict<T>,
  ): Waiter<T> {
    if (this.#closed) {
      const waiter = new Waiter<T>({
        device,
        property,
        survivesReconnect,
        describe,
        timeoutMs: Infinity,
        signal: undefined,
        judge,
        current: () => undefined,
        onSettled: () => {},
      });
      waiter.fail(new IndiConnectionError("The INDI client is closed", device, property));
      return waiter;
    }
    const waiter: Waiter<T> = new Waiter<T>({
      device,
      property,
      survivesReconnect,
      describe,
      timeoutMs: options.timeoutMs ?? this.#timeoutMs,
      signal: options.signal,
      judge,
      current: () => property === undefined ? undefined : this.#cache.get(device, property),
      onSettled: () => this.#waiters.delete(waiter as Waiter<unknown>),
    });
    this.#waiters.add(waiter as Waiter<unknown>);
    return waiter;
  }

  async #command(
    vector: CachedVector,
    xml: string,
    asked: Record<string, number | string | boolean>,
    options: CommandOptions,
  ): Promise<IndiVector> {
    const { device, name: property } = vector;
    if (options.wait === false) {
      await this.#send(xml);
      return publicVector(vector);
    }
    const before = vector.state;
    let sentAt = Infinity;
    // Serial of the last device message before the command, then before the first Busy:
    // the driver's explanation is a message that came after the command (or after Busy, for
    // a stop), unless the deciding update carries its own.
    let since = this.#messageSerial;
    let busy = false;
    const waiter = this.#startWaiter<IndiVector>(
      device,
      property,
      options,
      "to answer the command",
      false,
      (event, self) => {
        if (event.kind === "delete") return { error: deletedError(device, property) };
        if (event.kind === "initial") return undefined;
        const current = event.vector;
        if (!current?.defined) return undefined;
        if (event.kind === "define" && current.state !== "Alert" && current.state !== "Ok") return undefined;
        if (event.kind !== "recheck") {
          self.cancelRecheck();
          const age = performance.now() - sentAt;
          // A device <message> is no proof of an answer: the previous operation's last words
          // ("slew is complete") can arrive after the command was sent. Only the update's own
          // message attribute, a changed state or the values asked for are.
          const stale = !busy && current.state === before && !event.message && age < this.#staleWindowMs &&
            !showsAsked(current, asked);
          if (stale) {
            self.recheckAfter(this.#staleWindowMs - age);
            return undefined;
          }
        }
        const message = event.message || this.#deviceMessageSince(device, since);
        switch (current.state) {
          case "Ok":
            return { value: publicVector(current) };
          case "Busy":
            if (!busy) since = this.#messageSerial;
            busy = true;
            return undefined;
          case "Alert":
            return { error: new IndiAlertError(device, property, message) };
          case "Idle":
            return { error: new IndiRejectedError(device, property, message, busy) };
        }
      },
    );
    try {
      sentAt = performance.now();
      await this.#send(xml);
    } catch (error) {
      waiter.fail(error as Error);
    }
    return await waiter.promise;
  }

  /** The device's last `<message>` if it came after message number `serial`, else "". */
  #deviceMessageSince(device: string, serial: number): string {
    const last = this.#deviceMessages.get(device);
    return last && last.serial > serial ? last.text : "";
  }

  async #connection(device: string, connect: boolean, options: WaitOptions): Promise<void> {
    const started = performance.now();
    await this.waitForProperty(device, "CONNECTION", options);
    const vector = this.#cache.get(device, "CONNECTION");
    const member = connect ? "CONNECT" : "DISCONNECT";
    if ((vector?.members.get(member) as SwitchMember | undefined)?.value === true && vector?.state === "Ok") {
      return;
    }
    const timeoutMs = options.timeoutMs ?? this.#timeoutMs;
    await this.setSwitch(device, "CONNECTION", { [member]: true }, {
      ...options,
      timeoutMs: Math.max(0, timeoutMs - (performance.now() - started)),
    });
  }

  #typed<T extends VectorType>(device: string, property: string, type: T): CachedVector {
    const vector = this.#cache.get(device, property);
    if (!vector) {
      const known = this.#cache.devices().includes(device);
      throw new IndiError(
        `${propertyLabel(device, property)} is not defined${
          known ? "" : ` (no device "${device}" is known)`
        }`,
        device,
        property,
      );
    }
    if (vector.type !== type) {
      throw new IndiError(
        `${propertyLabel(device, property)} is a ${vector.type} vector, not a ${type} vector`,
        device,
        property,
      );
    }
    return vector;
  }

  #member(device: string, property: string, member: string, type: VectorType): { value: unknown } {
    const vector = this.#typed(device, property, type);
    const found = vector.members.get(member);
    if (!found) {
      throw new IndiError(
        `${propertyLabel(device, property)} has no member "${member}" (members: ${
          [...vector.members.keys()].join(", ")
        })`,
        device,
        property,
      );
    }
    return found as { value: unknown };
  }

  #writable<T extends "number" | "text" | "switch">(
    device: string,
    property: string,
    type: T,
    names: string[],
  ): CachedVector {
    if (this.#state !== "connected") {
      throw new IndiConnectionError(
        `Not connected to INDI server ${this.#address} (${this.#state})`,
        device,
        property,
      );
    }
    const vector = this.#typed(device, property, type);
    if (vector.perm === "ro") {
      throw new IndiError(`${propertyLabel(device, property)} is read-only`, device, property);
    }
    if (names.length === 0) {
      throw new IndiError(`No members given for ${propertyLabel(device, property)}`, device, property);
    }
    const unknown = names.filter((name) => !vector.members.has(name));
    if (unknown.length > 0) {
      throw new IndiError(
        `${propertyLabel(device, property)} has no member ${
          unknown.map((n) => `"${n}"`).join(", ")
        } (members: ${[...vector.members.keys()].join(", ")})`,
        device,
        property,
      );
    }
    return vector;
  }

  #blobsEnabled(device: string, property: string | undefined): boolean {
    const deviceMode = this.#blobModes.get(`${device}\u0000`)?.mode;
    if (property !== undefined) {
      const propertyMode = this.#blobModes.get(`${device}\u0000${property}`)?.mode;
      return (propertyMode ?? deviceMode ?? "Never") !== "Never";
    }
    return [...this.#blobModes.values()].some((m) => m.device === device && m.mode !== "Never");
  }

  #waitError(cause: Error, waiter: { device: string; property: string | undefined }): Error {
    const closed = this.#closed;
    const what = propertyLabel(waiter.device, waiter.property);
    return new IndiConnectionError(
      closed
        ? `The INDI client was closed while waiting for ${what}`
        : `Connection to INDI server ${this.#address} lost while waiting for ${what}: ${cause.message}`,
      waiter.device,
      waiter.property,
      { cause },
    );
  }
}

function deletedError(device: string, property: string): IndiError {
  return new IndiError(`${propertyLabel(device, property)} was deleted by the driver`, device, property);
}

function checkNumber(
  device: string,
  property: string,
  member: { name: string; min: number; max: number },
  value: number,
): void {
  if (typeof value !== "number" || !Number.isFinite(value)) {
    throw new IndiError(
      `Invalid value ${value} for ${propertyLabel(device, property, member.name)} (expected a finite number)`,
      device,
      property,
    );
  }
  // INDI: max > min declares a range; equal limits declare none.
  if (member.max > member.min && (value < member.min || value > member.max)) {
    throw new IndiError(
      `Value ${value} for ${
        propertyLabel(device, property, member.name)
      } is out of range (expected ${member.min} to ${member.max})`,
      device,
      property,
    );
  }
}

/** Whether the vector shows every value a command asked for (numbers to a relative 1e-6). */
function showsAsked(vector: CachedVector, asked: Record<string, number | string | boolean>): boolean {
  for (const [name, value] of Object.entries(asked)) {
    const member = vector.members.get(name);
    if (!member || !("value" in member)) return false;
    const actual = member.value;
    if (typeof value === "number" && typeof actual === "number") {
      if (Math.abs(actual - value) > 1e-6 * Math.max(1, Math.abs(value))) return false;
    } else if (actual !== value) {
      return false;
    }
  }
  return true;
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
