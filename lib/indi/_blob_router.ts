/**
 * Where BLOBs go: the BLOB modes asked of the server (re-sent after a
 * reconnection), the queue of "the next BLOB of device X goes to path P"
 * expectations, and the client's fallback destination. Each BLOB that starts
 * arriving gets a sink: a file for the first expectation it matches (or the
 * fallback path), else a counter that drops the bytes.
 *
 * @module
 */
import { type BlobOutcome, countingSink, fileSink } from "./_blob_file.ts";
import type { Attributes, BlobSink } from "./_stream.ts";
import { Waiter } from "./_waiter.ts";
import type { CachedVector } from "./_cache.ts";
import { IndiError, propertyLabel } from "./errors.ts";
import type { BlobFile, BlobHeader, BlobMode } from "./types.ts";

/** Which BLOB to claim and where to write it. */
export interface BlobClaim {
  /** Device. */
  device: string;
  /** Only a BLOB of this vector; any when undefined. */
  property: string | undefined;
  /** Only a BLOB of this member; any when undefined. */
  member: string | undefined;
  /** A path, or a function of the BLOB (to pick the extension from its format). */
  path: string | ((blob: BlobHeader) => string);
  /** Time limit until the BLOB starts arriving, ms (Infinity for none). */
  timeoutMs: number;
  /** Cancels the claim while the BLOB has not started arriving. */
  signal: AbortSignal | undefined;
}

/** How the router reports. */
export interface BlobRouterOptions {
  /** Destination of a BLOB no claim matches; undefined (or none) drops it. */
  fallbackPath: ((blob: BlobHeader) => string | undefined) | undefined;
  /** The cache's vector, for timeout messages. */
  vector(device: string, property: string): CachedVector | undefined;
  /** A BLOB was received whole (written, or counted and dropped). */
  received(file: BlobFile): void;
  /** A BLOB no claim awaited could not be received. */
  failed(error: IndiError): void;
}

interface Expectation {
  claim: BlobClaim;
  waiter: Waiter<BlobFile>;
}

/** The BLOB modes and destinations of one client. */
export class BlobRouter {
  readonly #options: BlobRouterOptions;
  readonly #modes = new Map<string, { device: string; property: string | undefined; mode: BlobMode }>();
  readonly #expectations: Expectation[] = [];

  /** Creates the router. */
  constructor(options: BlobRouterOptions) {
    this.#options = options;
  }

  /** Records a device's (or one property's) BLOB mode. */
  setMode(device: string, mode: BlobMode, property: string | undefined): void {
    this.#modes.set(`${device}\u0000${property ?? ""}`, { device, property, mode });
  }

  /** Every mode recorded, to send again after a reconnection. */
  modes(): { device: string; property: string | undefined; mode: BlobMode }[] {
    return [...this.#modes.values()];
  }

  /** Whether the server was asked to send this device's (or property's) BLOBs. */
  enabled(device: string, property: string | undefined): boolean {
    const deviceMode = this.#modes.get(`${device}\u0000`)?.mode;
    if (property !== undefined) {
      return (this.#modes.get(`${device}\u0000${property}`)?.mode ?? deviceMode ?? "Never") !== "Never";
    }
    return this.modes().some((m) => m.device === device && m.mode !== "Never");
  }

  /** Queues a claim on the next matching BLOB; the promise is marked handled. */
  expect(claim: BlobClaim): Promise<BlobFile> {
    const { device, property } = claim;
    if (!this.enabled(device, property)) {
      const rejected = Promise.reject(
        new IndiError(
          `BLOBs of ${
            propertyLabel(device, property)
          } are not enabled (call enableBlob(device, "Also") first)`,
          device,
          property,
        ),
      );
      rejected.catch(() => {});
      return rejected;
    }
    const waiter: Waiter<BlobFile> = new Waiter<BlobFile>({
      device,
      property,
      survivesReconnect: false,
      describe: "to send a BLOB",
      timeoutMs: claim.timeoutMs,
      signal: claim.signal,
      judge: () => undefined,
      current: () => property === undefined ? undefined : this.#options.vector(device, property),
      onSettled: () => {
        const index = this.#expectations.findIndex((expectation) => expectation.waiter === waiter);
        if (index >= 0) this.#expectations.splice(index, 1);
      },
    });
    this.#expectations.push({ claim, waiter });
    waiter.promise.catch(() => {});
    return waiter.promise;
  }

  /**
   * Fails the queued claims a deletion makes hopeless: every claim on the
   * device when all its properties went, else the claims naming that property.
   */
  failDeleted(device: string, property: string | undefined): void {
    for (const expectation of [...this.#expectations]) {
      const { claim } = expectation;
      if (claim.device !== device || (property !== undefined && claim.property !== property)) continue;
      const what = propertyLabel(device, property ?? claim.property);
      expectation.waiter.fail(
        new IndiError(
          `${what} was deleted by the driver while a BLOB was awaited`,
          device,
          property ?? claim.property,
        ),
      );
    }
  }

  /** Fails every queued claim (lost connection, closed client). */
  failAll(error: (device: string, property: string | undefined) => Error): void {
    for (const { claim, waiter } of this.#expectations.splice(0)) {
      waiter.fail(error(claim.device, claim.property));
    }
  }

  /** The sink for a `<oneBLOB>` starting inside a `vectorTag` element, or null to drop it. */
  route(vectorTag: string, vector: Attributes, member: Attributes): BlobSink | null {
    if (vectorTag !== "setBLOBVector") return null;
    const header: BlobHeader = {
      device: vector.device ?? "",
      property: vector.name ?? "",
      member: member.name ?? "",
      format: member.format ?? "",
      size: member.size === undefined ? NaN : Number(member.size),
    };
    const index = this.#expectations.findIndex(({ claim }) =>
      claim.device === header.device &&
      (claim.property === undefined || claim.property === header.property) &&
      (claim.member === undefined || claim.member === header.member)
    );
    const expectation = index >= 0 ? this.#expectations.splice(index, 1)[0] : undefined;
    // Arriving: the claim's time limit is over; the BLOB's end settles it.
    expectation?.waiter.claim();
    const done = (outcome: BlobOutcome): void => {
      if (outcome.error) {
        const error = outcome.error instanceof IndiError
          ? outcome.error
          : new IndiError(outcome.error.message, header.device, header.property, { cause: outcome.error });
        if (expectation) expectation.waiter.fail(error);
        else this.#options.failed(error);
        return;
      }
      this.#options.received(outcome.file);
      expectation?.waiter.succeed(outcome.file);
    };
    let path: string | undefined;
    try {
      const wanted = expectation?.claim.path;
      path = wanted === undefined
        ? this.#options.fallbackPath?.(header)
        : typeof wanted === "function"
        ? wanted(header)
        : wanted;
    } catch (error) {
      done({ error: error as Error });
      return countingSink(header, () => {});
    }
    return path === undefined ? countingSink(header, done) : fileSink(header, path, done);
  }
}
