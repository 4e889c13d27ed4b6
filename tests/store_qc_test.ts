/**
 * The catalog's quality control, on SQLite and on PostgreSQL: a stage's verdicts
 * on a night replaced as a whole for the frames it judged again, listed by night
 * and by product; a bad-pixel map recorded as a product; masters looked up by
 * detector temperature and, when asked, only among those no verdict found fault with.
 */
import { assertEquals } from "./_assert.ts";
import { dropSchema, postgresTest, uniqueSchema } from "./_peers.ts";
import { openStore, type ProductInput, type Store } from "../lib/store/mod.ts";

async function contract(store: Store): Promise<void> {
  const night = await store.upsertNight("/data/2026-11-24", { date: "2026-11-24" });
  const other = await store.upsertNight("/data/2026-11-20", { date: "2026-11-20" });
  const product = (fields: Partial<ProductInput> & Pick<ProductInput, "kind" | "path">): ProductInput => ({
    nightId: other.id,
    filter: null,
    exposureTime: null,
    width: 64,
    height: 64,
    binning: "1x1",
    nCombined: 5,
    checksum: null,
    dateObs: "2026-11-20T20:00:00",
    warnings: [],
    inputExposureIds: [],
    usedProductIds: [],
    ...fields,
  });
  const cold = await store.replaceProduct(
    product({ kind: "master_dark", path: "/p/dark_cold.fits", exposureTime: 60, temperature: -20.1 }),
  );
  const warm = await store.replaceProduct(
    product({
      kind: "master_dark",
      path: "/p/dark_warm.fits",
      exposureTime: 60,
      temperature: -5,
      dateObs: null,
    }),
  );
  assertEquals([cold.temperature, warm.temperature], [-20.1, -5]);
  const query = {
    kind: "master_dark" as const,
    width: 64,
    height: 64,
    binning: "1x1",
    near: "2026-11-24T20:00:00",
  };
  assertEquals(
    (await store.findMaster({ ...query, exposureTime: 60 }))?.path,
    "/p/dark_cold.fits",
    "closest in time",
  );
  assertEquals(
    (await store.findMaster({ ...query, exposureTime: 60, temperature: -5.5, temperatureTolerance: 2 }))
      ?.path,
    "/p/dark_warm.fits",
    "within the tolerance before closer in time",
  );
  const map = await store.replaceProduct(
    product({ kind: "bad_pixel_map", path: "/p/bpm.fits", nCombined: 2 }),
  );
  assertEquals((await store.findMaster({ ...query, kind: "bad_pixel_map" }))?.id, map.id);

  await store.replaceVerdicts(night.id, { stage: "master_flats", subjects: ["flat_1.fits", "flat_2.fits"] }, [
    {
      subject: "flat_1.fits",
      stage: "master_flats",
      check: "saturation",
      verdict: "rejected",
      measured: 31.5,
      limit: "< 5 %",
      reason: "31.5 % of its pixels saturated",
    },
    {
      subject: "flat_2.fits",
      stage: "master_flats",
      check: "flat level",
      verdict: "rejected",
      measured: 120,
      limit: "1000-50000 ADU",
      reason: "median 120 ADU",
    },
  ]);
  await store.replaceVerdicts(other.id, { stage: "master_qc", subjects: [cold.path] }, [{
    subject: cold.path,
    productId: cold.id,
    stage: "master_qc",
    check: "median ratio",
    verdict: "flagged",
    measured: 1.4,
    limit: "0.9-1.1",
    reason: "median 40 % above the previous master's",
  }]);
  assertEquals(
    (await store.listVerdicts({ nightId: night.id })).map((v) => [v.subject, v.check, v.verdict, v.measured]),
    [["flat_1.fits", "saturation", "rejected", 31.5], ["flat_2.fits", "flat level", "rejected", 120]],
  );
  // Judged again: flat_1 passes now (no verdict), flat_2 still fails; another stage's verdicts stay.
  await store.replaceVerdicts(night.id, { stage: "master_flats", subjects: ["flat_1.fits", "flat_2.fits"] }, [
    {
      subject: "flat_2.fits",
      stage: "master_flats",
      check: "flat level",
      verdict: "rejected",
      measured: 110,
      limit: "1000-50000 ADU",
      reason: "median 110 ADU",
    },
  ]);
  const [again] = await store.listVerdicts({ nightId: night.id });
  assertEquals([again.subject, again.measured, again.limit, again.productId], [
    "flat_2.fits",
    110,
    "1000-50000 ADU",
    null,
  ]);
  assertEquals((await store.listVerdicts({ productId: cold.id })).map((v) => v.reason), [
    "median 40 % above the previous master's",
  ]);
  assertEquals(
    (await store.findMaster({ ...query, exposureTime: 60, goodOnly: true }))?.path,
    "/p/dark_warm.fits",
    "the flagged master is passed over",
  );
}

Deno.test("[sqlite] quality-control verdicts, a bad-pixel map, masters by temperature and good ones only", async () => {
  const dir = await Deno.makeTempDir({ prefix: "toros-qc-store-" });
  const store = await openStore({ file: `${dir}/toros.sqlite3` });
  try {
    await contract(store);
  } finally {
    await store.close();
    await Deno.remove(dir, { recursive: true });
  }
});

postgresTest(
  "[postgres] quality-control verdicts, a bad-pixel map, masters by temperature and good ones only",
  async (url) => {
    const schema = uniqueSchema();
    const store = await openStore({ url }, { schema });
    try {
      await contract(store);
    } finally {
      await store.close();
      await dropSchema(url, schema);
    }
  },
);
