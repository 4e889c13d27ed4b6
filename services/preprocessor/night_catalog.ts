/**
 * A reduction's conversation with the catalog, in one place and in the order it
 * happens:
 *
 * 1. ingest records the night and reads the products it already has (one visit
 *    before the first stage);
 * 2. every raw file's exposure row is written once its content hash is known:
 *    a stage's sweep hashes a frame as it reads it the first time (no second
 *    read, nothing held up), and whatever no sweep read (unusable files, frames
 *    of kept products) is hashed here when its row is first needed or at the end;
 * 3. a master the night lacks is looked up once per kind and shape (through the
 *    master library);
 * 4. each product is recorded once it is on disk, after its inputs' exposure rows;
 * 5. a frame a stage rejects or fails on is marked skipped, with the reason.
 *
 * @module
 */
import type {
  ExposureRecord,
  MasterQuery,
  NightRecord,
  ProductInput,
  ProductRecord,
  QcVerdictInput,
  ReplaceProductOptions,
  Store,
} from "../../lib/store/mod.ts";
import { sha256FileSync } from "../../lib/file_hash.ts";
import type { YieldGate } from "../../lib/yield_gate.ts";
import type { InspectedFile } from "./ingest.ts";
import type { HashSink } from "./band_sweep.ts";
import type { SkippedFrame } from "./report.ts";

/** A product to record: its inputs are named by file, the catalog knows their rows. */
export type ProductRecordInput = Omit<ProductInput, "nightId" | "inputExposureIds"> & {
  /** File names of the raw frames it was made from. */
  inputs: string[];
};

/**
 * How a product written under a private name (a task's staging directory, when
 * several hosts share a night) reaches its place: renamed there only while the
 * task's lease holds, and recorded under the task's fence.
 */
export interface Publication {
  /** The final path of a product written at `path`. */
  finalPath(path: string): string;
  /** Checks the lease, then renames the product into place; resolves with its final path, or throws. */
  publish(path: string): Promise<string>;
  /** What the product's catalog row is recorded under (the task's fence and margin). */
  record: ReplaceProductOptions;
}

/** One raw file's content hash: who works it out, and when it is known. */
interface FileHash {
  path: string;
  /** Nobody yet; a sweep reading the file; this catalog (a file no sweep reads). */
  by: "nobody" | "sweep" | "catalog";
  known: PromiseWithResolvers<string>;
}

/** The catalog rows of one night's reduction. */
export class NightCatalog {
  readonly #store: Store;
  readonly #gate: YieldGate | undefined;
  readonly #publication: Publication | undefined;
  #night: NightRecord | null = null;
  #existing = new Map<string, ProductRecord>();
  readonly #hashes = new Map<string, FileHash>();
  readonly #exposures = new Map<string, Promise<ExposureRecord>>();
  /** Files this catalog hashes itself, one after the other. */
  #hashing: Promise<void> = Promise.resolve();
  #hashFailures: SkippedFrame[] = [];
  #hashSeconds = 0;

  /**
   * Wraps a store for one night; `gate` is passed while hashing here; with a `publication`, products
   * are written under private names and put in place as they are recorded.
   */
  constructor(store: Store, options: { gate?: YieldGate; publication?: Publication } = {}) {
    this.#store = store;
    this.#gate = options.gate;
    this.#publication = options.publication;
  }

  /** The night's row (after {@link openNight}). */
  get night(): NightRecord {
    if (!this.#night) throw new Error("The night is not in the catalog yet: ingest records it first");
    return this.#night;
  }

  /** Usable frames whose content could not be hashed (recorded as skipped). */
  get hashFailures(): SkippedFrame[] {
    return this.#hashFailures;
  }

  /** Seconds spent hashing raw files (in the sweeps' reads and here). */
  get hashSeconds(): number {
    return this.#hashSeconds;
  }

  /** Records the night and reads the products it already has. */
  async openNight(
    nightDir: string,
    fields: { date: string | null; telescope: string | null },
  ): Promise<NightRecord> {
    this.#night = await this.#store.upsertNight(nightDir, fields);
    const products = await this.#store.listProducts({ nightId: this.#night.id });
    this.#existing = new Map(products.map((product) => [product.path, product]));
    return this.#night;
  }

  /**
   * Joins a night ingest recorded already (a task of a night shared by several hosts): its row and
   * the products it has, leaving the row as it is.
   */
  async joinNight(nightDir: string): Promise<NightRecord> {
    const night = await this.#store.getNight(nightDir);
    if (!night) throw new Error(`Night ${nightDir} is not in the catalog: its ingest has not run`);
    this.#night = night;
    const products = await this.#store.listProducts({ nightId: night.id });
    this.#existing = new Map(products.map((product) => [product.path, product]));
    return night;
  }

  /** Every product the night had when it was opened or joined. */
  existingProducts(): ProductRecord[] {
    return [...this.#existing.values()];
  }

  /** The product already recorded at `path` (before this run), if any. */
  existing(path: string): ProductRecord | undefined {
    return this.#existing.get(this.#publication ? this.#publication.finalPath(path) : path);
  }

  /**
   * Takes the night's files: each one's exposure row is written once its content
   * hash is known (a file that cannot be hashed is recorded as skipped, with the reason).
   */
  recordExposures(nightDir: string, files: InspectedFile[]): void {
    const night = this.night;
    for (const file of files) {
      const hash: FileHash = {
        path: `${nightDir}/${file.fileName}`,
        by: "nobody",
        known: Promise.withResolvers(),
      };
      this.#hashes.set(file.fileName, hash);
      const info = file.frame ?? file.partial;
      const row = (contentHash: string, reason: string | null) =>
        this.#store.upsertExposure({
          nightId: night.id,
          fileName: file.fileName,
          contentHash,
          size: file.size,
          imageType: info?.imageType ?? null,
          filter: info?.filter ?? null,
          exposureTime: info?.exposureTime ?? null,
          width: info?.width ?? null,
          height: info?.height ?? null,
          binning: info?.binning ?? null,
          dateObs: info?.dateObs ?? null,
          status: reason === null ? "ok" : "skipped",
          error: reason,
        });
      const exposure = hash.known.promise.then(
        (contentHash) => row(contentHash, file.reason ?? null),
        (error) => {
          const reason = file.reason ?? `cannot be read: ${error instanceof Error ? error.message : error}`;
          if (file.frame) this.#hashFailures.push({ fileName: file.fileName, reason, stage: "ingest" });
          return row("", reason);
        },
      );
      // Handled here: a failed write rejects for whoever asks for the row, never as an uncaught promise.
      exposure.catch(() => {});
      this.#exposures.set(file.fileName, exposure);
    }
  }

  /**
   * For a sweep about to read a raw file from its start: where to send the file's
   * hash, or null when it is known or being worked out already. A sweep that
   * cannot finish hands the file back, and it is hashed here.
   */
  claimHash(fileName: string): HashSink | null {
    const hash = this.#hashes.get(fileName);
    if (!hash || hash.by !== "nobody") return null;
    hash.by = "sweep";
    return {
      done: (hex, seconds) => {
        this.#hashSeconds += seconds;
        hash.known.resolve(hex);
      },
      failed: () => {
        hash.by = "nobody";
        this.#hashHere([fileName]);
      },
    };
  }

  /** Hashes files no sweep is reading, here, one after the other. */
  #hashHere(fileNames: string[]): void {
    for (const fileName of fileNames) {
      const hash = this.#hashes.get(fileName);
      if (!hash || hash.by !== "nobody") continue;
      hash.by = "catalog";
      this.#hashing = this.#hashing.then(async () => {
        // A turn of the event loop between files: the pool's answers and a stop get through.
        await new Promise((resolve) => setTimeout(resolve, 0));
        const started = performance.now();
        try {
          hash.known.resolve(sha256FileSync(hash.path, this.#gate ? () => this.#gate!.pass() : undefined));
        } catch (error) {
          hash.known.reject(error);
        } finally {
          this.#hashSeconds += (performance.now() - started) / 1000;
        }
      });
    }
  }

  /** The exposure rows of raw files, hashing here those no sweep is reading. */
  exposures(fileNames: string[]): Promise<ExposureRecord[]> {
    this.#hashHere(fileNames);
    return Promise.all(fileNames.map((name) => {
      const exposure = this.#exposures.get(name);
      if (!exposure) throw new Error(`${name} was not ingested`);
      return exposure;
    }));
  }

  /** Hashes what no sweep read and writes every exposure row; rejects when the catalog refused one. */
  async recordRemaining(): Promise<void> {
    await this.exposures([...this.#hashes.keys()]);
  }

  /** Waits for the rows whose hashes are known or being worked out (after a stop: the rest wait for the next run). */
  async settle(): Promise<void> {
    const started = [...this.#hashes].filter(([, hash]) => hash.by !== "nobody").map(([name]) => name);
    await Promise.allSettled(started.map((name) => this.#exposures.get(name)));
  }

  /** The closest-in-time matching master from another night. */
  findMaster(query: Omit<MasterQuery, "excludeNightId">): Promise<ProductRecord | null> {
    return this.#store.findMaster({ ...query, excludeNightId: this.night.id });
  }

  /**
   * Records a product written to disk, with its inputs' exposure rows and the masters it used; a
   * product written under a private name is put in place first (see {@link Publication}).
   */
  async recordProduct(product: ProductRecordInput): Promise<ProductRecord> {
    const { inputs, ...fields } = product;
    const exposures = await this.exposures(inputs);
    const path = this.#publication ? await this.#publication.publish(fields.path) : fields.path;
    return await this.#store.replaceProduct({
      ...fields,
      path,
      nightId: this.night.id,
      inputExposureIds: exposures.map((exposure) => exposure.id),
    }, this.#publication?.record);
  }

  /** Marks a frame skipped, with the reason (a stage rejected it or failed on it). */
  async recordSkipped(fileName: string, reason: string): Promise<void> {
    const [exposure] = await this.exposures([fileName]);
    await this.#store.upsertExposure({ ...exposure, status: "skipped", error: reason });
  }

  /**
   * Records a stage's quality-control verdicts on the night, replacing what it said before of
   * `subjects`; a product is named by its final path (see {@link Publication}) and linked when recorded.
   */
  async recordVerdicts(stage: string, subjects: string[], verdicts: QcVerdictInput[]): Promise<void> {
    const place = (subject: string) => this.#publication ? this.#publication.finalPath(subject) : subject;
    const unlinked = verdicts.some((verdict) => verdict.productId == null && verdict.subject.includes("/"));
    const products = unlinked ? await this.#store.listProducts({ nightId: this.night.id }) : [];
    const ids = new Map(products.map((product) => [product.path, product.id]));
    await this.#store.replaceVerdicts(
      this.night.id,
      { stage, subjects: subjects.map(place) },
      verdicts.map((verdict) => {
        const subject = place(verdict.subject);
        return { ...verdict, subject, productId: verdict.productId ?? ids.get(subject) ?? null };
      }),
    );
  }
}
