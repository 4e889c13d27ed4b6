/**
 * A reduction's conversation with the catalog, in one place and in the order it
 * happens:
 *
 * 1. ingest records the night and reads the products it already has (one visit
 *    before the first stage);
 * 2. every raw file's exposure row is written once its content hash is known,
 *    beside the stages (hashing does not hold the masters up);
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
  Store,
} from "../../lib/store/mod.ts";
import type { InspectedFile } from "./ingest.ts";
import type { SkippedFrame } from "./report.ts";

/** A product to record: its inputs are named by file, the catalog knows their rows. */
export type ProductRecordInput = Omit<ProductInput, "nightId" | "inputExposureIds"> & {
  /** File names of the raw frames it was made from. */
  inputs: string[];
};

/** The catalog rows of one night's reduction. */
export class NightCatalog {
  readonly #store: Store;
  #night: NightRecord | null = null;
  #existing = new Map<string, ProductRecord>();
  readonly #exposures = new Map<string, Promise<ExposureRecord>>();
  #recorded: Promise<void> = Promise.resolve();
  #hashFailures: SkippedFrame[] = [];
  #hashSeconds = 0;

  /** Wraps a store for one night. */
  constructor(store: Store) {
    this.#store = store;
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

  /** Seconds from {@link recordExposures} until every exposure row was written. */
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

  /** The product already recorded at `path` (before this run), if any. */
  existing(path: string): ProductRecord | undefined {
    return this.#existing.get(path);
  }

  /**
   * Writes each file's exposure row, in order, as its content hash arrives: in
   * the background, so the stages need not wait. A file that cannot be hashed is
   * recorded as skipped with the reason.
   */
  recordExposures(files: InspectedFile[], hashes: Promise<string>[]): void {
    const started = performance.now();
    const night = this.night;
    const settle = files.map(() => Promise.withResolvers<ExposureRecord>());
    for (const [i, file] of files.entries()) {
      // Marked handled: a failed write rejects for whoever asks for the row, never as an uncaught promise.
      settle[i].promise.catch(() => {});
      this.#exposures.set(file.fileName, settle[i].promise);
    }
    this.#recorded = (async () => {
      for (const [i, file] of files.entries()) {
        let hash = "";
        let reason = file.reason ?? null;
        try {
          hash = await hashes[i];
        } catch (error) {
          reason ??= `cannot be read: ${error instanceof Error ? error.message : error}`;
          if (file.frame) this.#hashFailures.push({ fileName: file.fileName, reason, stage: "ingest" });
        }
        const info = file.frame ?? file.partial;
        try {
          settle[i].resolve(
            await this.#store.upsertExposure({
              nightId: night.id,
              fileName: file.fileName,
              contentHash: hash,
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
            }),
          );
        } catch (error) {
          for (const rest of settle.slice(i)) rest.reject(error);
          throw error;
        }
      }
      this.#hashSeconds = (performance.now() - started) / 1000;
    })();
    // Rejects for exposuresRecorded(), not as an uncaught promise when the run stopped before.
    this.#recorded.catch(() => {});
  }

  /** The exposure rows of raw files (waiting for their hashes when still running). */
  exposures(fileNames: string[]): Promise<ExposureRecord[]> {
    return Promise.all(fileNames.map((name) => {
      const exposure = this.#exposures.get(name);
      if (!exposure) throw new Error(`${name} was not ingested`);
      return exposure;
    }));
  }

  /** Waits until every exposure row is written; rejects when the catalog refused one. */
  async exposuresRecorded(): Promise<void> {
    await this.#recorded;
  }

  /** The closest-in-time matching master from another night. */
  findMaster(query: Omit<MasterQuery, "excludeNightId">): Promise<ProductRecord | null> {
    return this.#store.findMaster({ ...query, excludeNightId: this.night.id });
  }

  /** Records a product written to disk, with its inputs' exposure rows and the masters it used. */
  async recordProduct(product: ProductRecordInput): Promise<ProductRecord> {
    const { inputs, ...fields } = product;
    const exposures = await this.exposures(inputs);
    return await this.#store.replaceProduct({
      ...fields,
      nightId: this.night.id,
      inputExposureIds: exposures.map((exposure) => exposure.id),
    });
  }

  /** Marks a frame skipped, with the reason (a stage rejected it or failed on it). */
  async recordSkipped(fileName: string, reason: string): Promise<void> {
    const [exposure] = await this.exposures([fileName]);
    await this.#store.upsertExposure({ ...exposure, status: "skipped", error: reason });
  }
}
