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
import { BlobRouter } from "./_blob_router.ts";
import { type CachedVector, PropertyCache, publicVector } from "./_cache.ts";
import { enableBlobXml, getPropertiesXml, newVectorXml, pingReplyXml } from "./_commands.ts";
import { ServerLink } from "./_link.ts";
import { MessageLog, parseMessageText } from "./_messages.ts";
import { IndiStreamParser, type ParsedElement } from "./_stream.ts";
import { type AskedValues, commandJudge, okJudge, predicateJudge } from "./_verdict.ts";
import { Waiter, type WaitEvent, type WaitVerdict } from "./_waiter.ts";
import { IndiConnectionError, IndiError, propertyLabel } from "./errors.ts";
import type {
  BlobFile,
  BlobHeader,
  BlobMode,
  ConnectionStatus,
  ConnectOptions,
  IndiMessage,
  IndiVector,
  NumberMember,
  NumberVector,
  PropertyState,
  ReconnectOptions,
  SwitchMember,
  SwitchVector,
  TextMember,
  TextVector,
  VectorOfType,
  VectorType,
} from "./types.ts";

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

/** Options of {@link IndiClient.expectBlob}. */
export interface ExpectBlobOptions extends WaitOptions {
  /** Where to write it: a path, or a function of the BLOB (to pick the extension from its format). */
  path: string | ((blob: BlobHeader) => string);
  /** Only a BLOB of this vector (`CCD1`); any of the device's when absent. */
  property?: string;
  /** Only a BLOB of this member; any when absent. */
  member?: string;
}

/** A listener of one of the client's events. */
export type IndiListener<K extends keyof IndiClientEvents> = (event: IndiClientEvents[K]) => void;

/** A client of one INDI server; see the module documentation for its semantics. */
export class IndiClient {
  readonly #timeoutMs: number;
  readonly #watch: WatchSpec[] | undefined;
  readonly #logger: Logger | undefined;
  readonly #staleWindowMs: number;
  readonly #link: ServerLink;
  readonly #cache = new PropertyCache();
  readonly #messages = new MessageLog();
  readonly #blobs: BlobRouter;
  readonly #listeners = new Map<keyof IndiClientEvents, Set<(event: never) => void>>();
  readonly #waiters = new Set<Waiter<unknown>>();
  #parser: IndiStreamParser | null = null;

  /** Creates a client; nothing happens until {@link connect}. */
  constructor(options: IndiClientOptions = {}) {
    const port = options.port ?? 7624;
    if (!Number.isInteger(port) || port < 1 || port > 65535) {
      throw new RangeError(`Invalid INDI port: ${options.port} (expected 1-65535)`);
    }
    this.#timeoutMs = options.timeoutMs ?? 60_000;
    this.#watch = options.watch?.map((spec) => ({ ...spec }));
    this.#logger = options.logger;
    this.#staleWindowMs = options.staleUpdateWindowMs ?? 250;
    const reconnect = options.reconnect === false ? false : {
      initialDelayMs: options.reconnect?.initialDelayMs ?? 500,
      maxDelayMs: options.reconnect?.maxDelayMs ?? 30_000,
      factor: options.reconnect?.factor ?? 2,
      maxAttempts: options.reconnect?.maxAttempts ?? Infinity,
    };
    this.#link = new ServerLink({
      host: options.host ?? "127.0.0.1",
      port,
      reconnect,
      logger: options.logger,
    }, {
      opened: () => this.#opened(),
      received: (bytes) => this.#parser!.feed(bytes),
      lost: (cause) => this.#lost(cause),
      changed: (event) => {
        if (event.connected) this.#emit("connected", { host: this.#link.status.host, port });
        else this.#emit("disconnected", { error: event.error, reconnecting: event.reconnecting });
      },
    });
    this.#blobs = new BlobRouter({
      fallbackPath: options.blobPath,
      vector: (device, property) => this.#cache.get(device, property),
      received: (file) => {
        const member = this.#cache.get(file.device, file.property)?.members.get(file.member);
        if (member && "path" in member) member.path = file.path;
        this.#emit("blob", file);
      },
      failed: (error) => this.#emit("error", error),
    });
  }

  // ---------------------------------------------------------------- connection

  /** The connection's state, for `/health`. */
  get connection(): ConnectionStatus {
    return this.#link.status;
  }

  /**
   * Connects to the server and asks for its properties; resolves once
   * connected. Fails on the first refusal unless `retry`. Once connected, lost
   * connections are re-established by the client itself.
   */
  async connect(options: ConnectOptions = {}): Promise<void> {
    await this.#link.connect(options, this.#timeoutMs);
  }

  /** Stops everything: the connection, reconnection, waits and BLOB expectations (which fail). */
  async close(): Promise<void> {
    await this.#link.close();
    for (const waiter of [...this.#waiters]) {
      waiter.fail(this.#waitError(undefined, waiter.device, waiter.property));
    }
    this.#blobs.failAll((device, property) => this.#waitError(undefined, device, property));
  }

  /** Calls `listener` for each event of `type`; returns the function that removes it. */
  on<K extends keyof IndiClientEvents>(type: K, listener: IndiListener<K>): () => void {
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
    if (this.#link.connected) await this.#link.send(getPropertiesXml(device, property));
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
    this.#blobs.setMode(device, mode, options.property);
    if (this.#link.connected) await this.#link.send(enableBlobXml(device, mode, options.property));
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

  /** The live vector of a defined property (undefined if not defined). */
  getVector(device: string, property: string): IndiVector | undefined;
  /** The live vector of a defined property of `type` (undefined if not defined); throws for another type. */
  getVector<T extends VectorType>(device: string, property: string, type: T): VectorOfType[T] | undefined;
  getVector(device: string, property: string, type?: VectorType): IndiVector | undefined {
    const vector = this.#cache.get(device, property);
    if (vector && type && vector.type !== type) throw wrongType(vector, type);
    return vector ? publicVector(vector) : undefined;
  }

  /** A number member's value; throws naming what is missing. */
  getNumber(device: string, property: string, member: string): number {
    return (this.#member(device, property, member, "number") as NumberMember).value;
  }

  /** A text member's value; throws naming what is missing. */
  getText(device: string, property: string, member: string): string {
    return (this.#member(device, property, member, "text") as TextMember).value;
  }

  /** Whether a switch member is On; throws naming what is missing. */
  getSwitch(device: string, property: string, member: string): boolean {
    return (this.#member(device, property, member, "switch") as SwitchMember).value;
  }

  /** A light member's state; throws naming what is missing. */
  getLight(device: string, property: string, member: string): PropertyState {
    return (this.#member(device, property, member, "light") as { value: PropertyState }).value;
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
    for (const member of vector.members.values() as Iterable<NumberMember>) {
      const asked = Object.hasOwn(values, member.name);
      const value = asked ? values[member.name] : member.value;
      if (asked) checkNumber(device, property, member, value);
      members.push([member.name, String(value)]);
    }
    const xml = newVectorXml("Number", device, property, members);
    return await this.#command(vector, xml, values, options) as NumberVector;
  }

  /** Sends `newTextVector` (unnamed members keep their cached text) and waits for the verdict. */
  async setText(
    device: string,
    property: string,
    values: Record<string, string>,
    options: CommandOptions = {},
  ): Promise<TextVector> {
    const vector = this.#writable(device, property, "text", Object.keys(values));
    const members: [string, string][] = [...vector.members.values() as Iterable<TextMember>].map((member) => [
      member.name,
      Object.hasOwn(values, member.name) ? String(values[member.name]) : member.value,
    ]);
    const xml = newVectorXml("Text", device, property, members);
    return await this.#command(vector, xml, values, options) as TextVector;
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
    const xml = newVectorXml("Switch", device, property, members);
    return await this.#command(vector, xml, values, options) as SwitchVector;
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
    return this.#wait(
      device,
      property,
      options,
      "to become Ok",
      false,
      okJudge(device, property, this.#messages),
    );
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
    const describe = options.describe ?? "to satisfy the condition";
    return this.#wait(
      device,
      property,
      options,
      describe,
      false,
      predicateJudge(device, property, predicate),
    );
  }

  /**
   * Claims the next BLOB of `device` (optionally of one property and member)
   * and writes it to `path` as it streams in: to a temporary name in the same
   * directory, renamed when whole. Call it before triggering the BLOB (a CCD
   * sends the image before its exposure turns Ok); the device's BLOBs must be
   * enabled with {@link enableBlob}. The time limit runs until the BLOB starts
   * arriving. The promise is marked handled, so one left unawaited does not
   * crash the process when it fails.
   */
  expectBlob(device: string, options: ExpectBlobOptions): Promise<BlobFile> {
    if (this.#link.closed) {
      const rejected = Promise.reject(new IndiConnectionError("The INDI client is closed", device));
      rejected.catch(() => {});
      return rejected;
    }
    return this.#blobs.expect({
      device,
      property: options.property,
      member: options.member,
      path: options.path,
      timeoutMs: options.timeoutMs ?? this.#timeoutMs,
      signal: options.signal,
    });
  }

  // ---------------------------------------------------------------- internals: the link

  #opened(): void {
    this.#parser = new IndiStreamParser({
      element: (element) => this.#onElement(element),
      blobStart: (tag, vector, member) => this.#blobs.route(tag, vector, member),
      error: (error) => this.#emit("error", error),
    });
    const requests = this.#watch && this.#watch.length > 0
      ? this.#watch.map((spec) => getPropertiesXml(spec.device, spec.property)).join("")
      : getPropertiesXml();
    const modes = this.#blobs.modes().map((m) => enableBlobXml(m.device, m.mode, m.property)).join("");
    // Not awaited: a write that fails closes the connection, which the link reports.
    this.#link.send(requests + modes).catch(() => {});
  }

  async #lost(cause: IndiConnectionError): Promise<void> {
    await this.#parser?.abort(cause);
    this.#parser = null;
    this.#cache.forgetAll();
    for (const waiter of [...this.#waiters]) {
      if (!waiter.survivesReconnect) waiter.fail(this.#waitError(cause, waiter.device, waiter.property));
    }
    this.#blobs.failAll((device, property) => this.#waitError(cause, device, property));
  }

  /** The error of a wait ended by a lost connection (`cause`) or by close() (no cause). */
  #waitError(cause: Error | undefined, device: string, property: string | undefined): IndiConnectionError {
    const what = propertyLabel(device, property);
    return this.#link.closed || !cause
      ? new IndiConnectionError(`The INDI client was closed while waiting for ${what}`, device, property, {
        cause,
      })
      : new IndiConnectionError(
        `Connection to INDI server ${this.#link.address} lost while waiting for ${what}: ${cause.message}`,
        device,
        property,
        { cause },
      );
  }

  // ---------------------------------------------------------------- internals: incoming

  #onElement(element: ParsedElement): void {
    const a = element.attributes;
    switch (element.tag) {
      case "message":
        this.#message(a.device, undefined, a.timestamp, a.message ?? "");
        return;
      case "pingRequest":
        if (a.uid !== undefined) this.#link.send(pingReplyXml(a.uid)).catch(() => {});
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
      this.#blobs.failDeleted(change.device, change.property);
      this.#emit("delete", { device: change.device, property: change.property });
      return;
    }
    const vector = change.vector;
    const message = a.message;
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
    const { level, text } = parseMessageText(raw);
    if (device !== undefined) this.#messages.record(device, text);
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
        (listener as IndiListener<K>)(event);
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
    if (!survivesReconnect && !waiter.settled && !this.#link.connected) {
      waiter.fail(this.#link.notConnected(device, property));
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
    const closed = this.#link.closed;
    const waiter: Waiter<T> = new Waiter<T>({
      device,
      property,
      survivesReconnect,
      describe,
      timeoutMs: closed ? Infinity : options.timeoutMs ?? this.#timeoutMs,
      signal: closed ? undefined : options.signal,
      judge,
      current: () => property === undefined ? undefined : this.#cache.get(device, property),
      onSettled: () => this.#waiters.delete(waiter as Waiter<unknown>),
    });
    if (closed) waiter.fail(new IndiConnectionError("The INDI client is closed", device, property));
    else this.#waiters.add(waiter as Waiter<unknown>);
    return waiter;
  }

  async #command(
    vector: CachedVector,
    xml: string,
    asked: AskedValues,
    options: CommandOptions,
  ): Promise<IndiVector> {
    if (options.wait === false) {
      await this.#link.send(xml);
      return publicVector(vector);
    }
    let sentAt = Infinity;
    const judge = commandJudge({
      device: vector.device,
      property: vector.name,
      before: vector.state,
      asked,
      staleWindowMs: this.#staleWindowMs,
      messages: this.#messages,
      sentAt: () => sentAt,
    });
    // Registered before sending, so that no answer can come before the waiter.
    const waiter = this.#startWaiter(
      vector.device,
      vector.name,
      options,
      "to answer the command",
      false,
      judge,
    );
    try {
      sentAt = performance.now();
      await this.#link.send(xml);
    } catch (error) {
      waiter.fail(error as Error);
    }
    return await waiter.promise;
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

  #typed(device: string, property: string, type: VectorType): CachedVector {
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
    if (vector.type !== type) throw wrongType(vector, type);
    return vector;
  }

  #member(device: string, property: string, member: string, type: VectorType): unknown {
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
    return found;
  }

  #writable(
    device: string,
    property: string,
    type: "number" | "text" | "switch",
    names: string[],
  ): CachedVector {
    if (!this.#link.connected) throw this.#link.notConnected(device, property);
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
}

function wrongType(vector: CachedVector, type: VectorType): IndiError {
  return new IndiError(
    `${propertyLabel(vector.device, vector.name)} is a ${vector.type} vector, not a ${type} vector`,
    vector.device,
    vector.name,
  );
}

function checkNumber(device: string, property: string, member: NumberMember, value: number): void {
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

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
