/**
 * The TCP link to the INDI server: dialling, exponential back-off between
 * attempts, one read loop per connection, serialized writes, and the state a
 * service shows in `/health`. It knows bytes, not INDI: what to send on
 * connecting and what to do with what arrives is the client's (the handler's).
 *
 * @module
 */
import type { Logger } from "../log.ts";
import { IndiConnectionError } from "./errors.ts";
import type { ConnectionState, ConnectionStatus, ConnectOptions, ReconnectOptions } from "./types.ts";

/** What the link tells its owner. */
export interface LinkHandler {
  /** A connection is up (state `connected`): send the opening requests. */
  opened(): void;
  /** Bytes arrived; the next read waits for the returned promise (back-pressure for BLOB files). */
  received(bytes: Uint8Array): Promise<void>;
  /** The connection is gone (`cause` says why): clean up before the link reports it or reconnects. */
  lost(cause: IndiConnectionError): Promise<void>;
  /** A connection came up, or went down (and whether the link will try again). */
  changed(
    event: { connected: true } | { connected: false; error: IndiConnectionError; reconnecting: boolean },
  ): void;
}

/** How the link is set up. */
export interface LinkOptions {
  /** Server host. */
  host: string;
  /** Server port. */
  port: number;
  /** Back-off, or false for no reconnection. */
  reconnect: Required<ReconnectOptions> | false;
  /** Connection events go here too. */
  logger: Logger | undefined;
}

const READ_BUFFER_BYTES = 256 * 1024;

/** One server's link; see the module documentation. */
export class ServerLink {
  readonly #options: LinkOptions;
  readonly #handler: LinkHandler;
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
  readonly #connectWaiters = new Set<{ resolve(): void; reject(error: Error): void }>();

  /** Creates the link; nothing happens until {@link connect}. */
  constructor(options: LinkOptions, handler: LinkHandler) {
    this.#options = options;
    this.#handler = handler;
  }

  /** `host:port`. */
  get address(): string {
    return `${this.#options.host}:${this.#options.port}`;
  }

  /** Whether {@link close} was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Whether a connection is up. */
  get connected(): boolean {
    return this.#state === "connected";
  }

  /** The state for `/health`. */
  get status(): ConnectionStatus {
    return {
      state: this.#state,
      host: this.#options.host,
      port: this.#options.port,
      since: this.#since,
      lastError: this.#lastError,
      failedAttempts: this.#failedAttempts,
    };
  }

  /**
   * Starts the link and resolves once connected. Fails on the first refusal
   * unless `retry` (then on `timeoutMs`); a link already running is waited for.
   */
  async connect(options: ConnectOptions, defaultTimeoutMs: number): Promise<void> {
    if (this.#closed) throw new IndiConnectionError("The INDI client is closed");
    if (this.#state === "connected") return;
    const timeoutMs = options.timeoutMs ?? defaultTimeoutMs;
    const first = this.#whenConnected(this.#loop ? timeoutMs : Infinity);
    if (!this.#loop) {
      const deadline = options.retry ? performance.now() + timeoutMs : -Infinity;
      this.#loop = this.#run(deadline).finally(() => {
        this.#loop = null;
      });
    }
    await first;
  }

  /** Sends text; rejects with {@link IndiConnectionError} when not connected or the write fails. */
  send(xml: string): Promise<void> {
    const conn = this.#conn;
    if (!conn || this.#state !== "connected") return Promise.reject(this.notConnected());
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
        `Cannot send to INDI server ${this.address}: ${errorText(error)}`,
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

  /** The error for "not connected right now". */
  notConnected(device?: string, property?: string): IndiConnectionError {
    return new IndiConnectionError(
      `Not connected to INDI server ${this.address} (${this.#state})`,
      device,
      property,
    );
  }

  /** Closes the connection and stops reconnecting; resolves when the read loop has ended. */
  async close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      this.#wake();
      try {
        this.#conn?.close();
      } catch {
        // already closed
      }
    }
    await this.#loop;
    this.#setState("closed", undefined);
    for (const waiter of this.#connectWaiters) {
      waiter.reject(new IndiConnectionError("The INDI client was closed before it connected"));
    }
    this.#connectWaiters.clear();
  }

  async #run(firstDeadline: number): Promise<void> {
    const reconnect = this.#options.reconnect;
    let connectedOnce = false;
    let delay = reconnect ? reconnect.initialDelayMs : 0;
    this.#setState("connecting", undefined);
    while (!this.#closed) {
      let conn: Deno.TcpConn;
      try {
        conn = await Deno.connect({
          hostname: this.#options.host,
          port: this.#options.port,
          transport: "tcp",
        });
      } catch (error) {
        this.#failedAttempts++;
        const reason = new IndiConnectionError(
          `Cannot connect to INDI server ${this.address}: ${errorText(error)}`,
          undefined,
          undefined,
          { cause: error },
        );
        this.#lastError = reason.message;
        const giveUp = !reconnect || this.#closed || this.#failedAttempts >= reconnect.maxAttempts ||
          (!connectedOnce && performance.now() + delay > firstDeadline);
        if (giveUp) {
          this.#setState("disconnected", reason.message);
          this.#options.logger?.error(`${reason.message}; giving up`);
          this.#settleConnectWaiters(reason);
          if (connectedOnce) this.#handler.changed({ connected: false, error: reason, reconnecting: false });
          return;
        }
        await this.#sleep(delay);
        delay = Math.min(delay * reconnect.factor, reconnect.maxDelayMs);
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
      delay = reconnect ? reconnect.initialDelayMs : 0;
      const lost = await this.#session(conn);
      if (this.#closed) break;
      this.#setState(reconnect ? "reconnecting" : "disconnected", lost.message);
      this.#options.logger?.warning(`${lost.message}${reconnect ? `; reconnecting in ${delay} ms` : ""}`);
      this.#handler.changed({ connected: false, error: lost, reconnecting: reconnect !== false });
      if (!reconnect) return;
      await this.#sleep(delay);
    }
  }

  /** One connection's life; returns why it ended. */
  async #session(conn: Deno.TcpConn): Promise<IndiConnectionError> {
    this.#conn = conn;
    this.#writing = Promise.resolve();
    this.#setState("connected", undefined);
    this.#options.logger?.info(`Connected to INDI server ${this.address}`);
    let lost: IndiConnectionError;
    try {
      this.#handler.opened();
      this.#settleConnectWaiters(undefined);
      this.#handler.changed({ connected: true });
      const buffer = new Uint8Array(READ_BUFFER_BYTES);
      while (true) {
        const count = await conn.read(buffer);
        if (count === null) {
          lost = new IndiConnectionError(`INDI server ${this.address} closed the connection`);
          break;
        }
        await this.#handler.received(buffer.subarray(0, count));
      }
    } catch (error) {
      lost = new IndiConnectionError(
        `Lost connection to INDI server ${this.address}: ${errorText(error)}`,
        undefined,
        undefined,
        {
          cause: error,
        },
      );
    }
    this.#conn = null;
    try {
      conn.close();
    } catch {
      // already closed (by close() or a failed write)
    }
    const cause = this.#closed ? new IndiConnectionError("The INDI client was closed") : lost;
    await this.#handler.lost(cause);
    return cause;
  }

  /** Resolves when connected; rejects when the link gives up, is closed, or `timeoutMs` passes. */
  #whenConnected(timeoutMs: number): Promise<void> {
    const done = Promise.withResolvers<void>();
    const timer = Number.isFinite(timeoutMs)
      ? setTimeout(
        () =>
          settle(
            new IndiConnectionError(
              `Not connected to INDI server ${this.address} after ${timeoutMs / 1000} s`,
            ),
          ),
        timeoutMs,
      )
      : undefined;
    const waiter = {
      resolve: () => settle(undefined),
      reject: (error: Error) => settle(error),
    };
    const settle = (error: Error | undefined): void => {
      clearTimeout(timer);
      this.#connectWaiters.delete(waiter);
      if (error) done.reject(error);
      else done.resolve();
    };
    this.#connectWaiters.add(waiter);
    return done.promise;
  }

  #settleConnectWaiters(error: Error | undefined): void {
    for (const waiter of [...this.#connectWaiters]) {
      if (error) waiter.reject(error);
      else waiter.resolve();
    }
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
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
