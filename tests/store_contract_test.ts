/**
 * One contract suite for both catalog backends: SQLite always, PostgreSQL when
 * TOROS_TEST_DATABASE_URL is set (CI sets it and makes a skip a failure).
 */
import { assert, assertEquals, assertRejects } from "./_assert.ts";
import { dropSchema, postgresTest, uniqueSchema } from "./_peers.ts";
import { openStore, type ProductInput, type Store, StoreError } from "../lib/store/mod.ts";

type Backend = { name: string; open: () => Promise<{ store: Store; cleanup: () => Promise<void> }> };

function exposure(
  nightId: number,
  fileName: string,
  extra: Partial<Parameters<Store["upsertExposure"]>[0]> = {},
) {
  return {
    nightId,
    fileName,
    contentHash: `hash-${fileName}`,
    size: 1000,
    imageType: "bias" as const,
    filter: null,
    exposureTime: 0,
    width: 64,
    height: 32,
    binning: "1x1",
    dateObs: "2026-11-24T01:00:00",
    status: "ok" as const,
    error: null,
    ...extra,
  };
}

function product(nightId: number, path: string, extra: Partial<ProductInput> = {}): ProductInput {
  return {
    nightId,
    kind: "master_bias",
    path,
    filter: null,
    exposureTime: null,
    width: 64,
    height: 32,
    binning: "1x1",
    nCombined: 3,
    checksum: "abc",
    dateObs: "2026-11-24T01:00:00",
    warnings: [],
    inputExposureIds: [],
    usedProductIds: [],
    ...extra,
  };
}

const CONTRACT: [string, (store: Store) => Promise<void>][] = [
  ["nights are keyed by directory and updated in place", async (store) => {
    const a = await store.upsertNight("/data/n1", { date: "2026-11-24" });
    const b = await store.upsertNight("/data/n1", { telescope: "TOROS" });
    assertEquals(a.id, b.id);
    assertEquals([b.date, b.telescope], ["2026-11-24", "TOROS"]);
    assertEquals((await store.getNight("/data/n1"))?.id, a.id);
    assertEquals(await store.getNight("/nope"), null);
  }],
  ["re-ingesting an exposure updates it; a changed file is a new row", async (store) => {
    const night = await store.upsertNight("/data/n2");
    const first = await store.upsertExposure(exposure(night.id, "b1.fits"));
    const again = await store.upsertExposure(
      exposure(night.id, "b1.fits", { status: "skipped", error: "bad" }),
    );
    assertEquals(first.id, again.id);
    assertEquals([again.status, again.error], ["skipped", "bad"]);
    await store.upsertExposure(exposure(night.id, "b1.fits", { contentHash: "other" }));
    const list = await store.listExposures(night.id);
    assertEquals(list.length, 2);
    assertEquals(list[0].width, 64);
  }],
  ["products are replaced by path with their provenance, never duplicated", async (store) => {
    const night = await store.upsertNight("/data/n3");
    const e1 = await store.upsertExposure(exposure(night.id, "b1.fits"));
    const e2 = await store.upsertExposure(exposure(night.id, "b2.fits"));
    const bias = await store.replaceProduct(product(night.id, "/data/n3/products/master_bias.fits", {
      inputExposureIds: [e1.id, e2.id],
    }));
    const light = await store.replaceProduct(product(night.id, "/data/n3/products/calib_l1.fits", {
      kind: "calibrated_light",
      nCombined: 1,
      usedProductIds: [bias.id],
      warnings: ["no flat"],
    }));
    const rebias = await store.replaceProduct(product(night.id, "/data/n3/products/master_bias.fits", {
      inputExposureIds: [e2.id],
      nCombined: 1,
    }));
    assertEquals(rebias.id, bias.id, "replacing keeps the id so uses stay valid");
    const products = await store.listProducts({ nightId: night.id });
    assertEquals(products.length, 2);
    const byPath = Object.fromEntries(products.map((p) => [p.path, p]));
    assertEquals(byPath["/data/n3/products/master_bias.fits"].inputs.map((i) => i.fileName), ["b2.fits"]);
    assertEquals(byPath["/data/n3/products/calib_l1.fits"].uses, [
      { productId: bias.id, kind: "master_bias", path: "/data/n3/products/master_bias.fits" },
    ]);
    assertEquals(light.warnings, ["no flat"]);
    const nights = await store.listNights();
    const summary = nights.find((n) => n.id === night.id)!;
    assertEquals([summary.exposures, summary.products], [2, 2]);
  }],
  ["findMaster picks the matching master closest in time from other nights", async (store) => {
    const n1 = await store.upsertNight("/data/m1");
    const n2 = await store.upsertNight("/data/m2");
    const n3 = await store.upsertNight("/data/m3");
    await store.replaceProduct(
      product(n1.id, "/m1/flat_V.fits", { kind: "master_flat", filter: "V", dateObs: "2026-11-01T00:00:00" }),
    );
    await store.replaceProduct(
      product(n2.id, "/m2/flat_V.fits", { kind: "master_flat", filter: "V", dateObs: "2026-11-20T00:00:00" }),
    );
    await store.replaceProduct(
      product(n2.id, "/m2/flat_R.fits", { kind: "master_flat", filter: "R", dateObs: "2026-11-23T00:00:00" }),
    );
    await store.replaceProduct(
      product(n2.id, "/m2/flat_V_2x2.fits", { kind: "master_flat", filter: "V", binning: "2x2" }),
    );
    const query = {
      kind: "master_flat" as const,
      width: 64,
      height: 32,
      binning: "1x1",
      filter: "V",
      near: "2026-11-24T00:00:00",
      excludeNightId: n3.id,
    };
    assertEquals((await store.findMaster(query))?.path, "/m2/flat_V.fits");
    assertEquals(
      (await store.findMaster({ ...query, near: "2026-11-02T00:00:00" }))?.path,
      "/m1/flat_V.fits",
    );
    assertEquals(await store.findMaster({ ...query, filter: "B" }), null);
    assertEquals((await store.findMaster({ ...query, excludeNightId: n2.id }))?.path, "/m1/flat_V.fits");
    await store.replaceProduct(product(n1.id, "/m1/dark_30.fits", { kind: "master_dark", exposureTime: 30 }));
    await store.replaceProduct(product(n2.id, "/m2/dark_60.fits", { kind: "master_dark", exposureTime: 60 }));
    const dark = await store.findMaster({
      kind: "master_dark",
      width: 64,
      height: 32,
      binning: "1x1",
      exposureTime: 50,
      near: null,
    });
    assertEquals(dark?.path, "/m2/dark_60.fits");
  }],
  ["jobs: enqueue deduplicates by work-order ID and by active night", async (store) => {
    const a = await store.enqueueJob({
      workOrderId: "WO-1",
      night: "/data/j1",
      workOrder: { ID: "WO-1" },
      priority: 5,
    });
    assert(a.created);
    const sameId = await store.enqueueJob({
      workOrderId: "WO-1",
      night: "/data/other",
      workOrder: {},
      priority: 1,
    });
    assertEquals([sameId.created, sameId.job.id], [false, a.job.id]);
    const sameNight = await store.enqueueJob({
      workOrderId: "WO-2",
      night: "/data/j1",
      workOrder: {},
      priority: 1,
    });
    assertEquals([sameNight.created, sameNight.job.id], [false, a.job.id]);
    assertEquals(a.job.workOrder, { ID: "WO-1" });
  }],
  ["jobs: claimed by priority then age, with a lease, heartbeat, complete and fail", async (store) => {
    const low = await store.enqueueJob({ workOrderId: "L", night: null, workOrder: {}, priority: 1 });
    const high = await store.enqueueJob({ workOrderId: "H", night: null, workOrder: {}, priority: 9 });
    const mid = await store.enqueueJob({ workOrderId: "M", night: null, workOrder: {}, priority: 5 });
    const first = await store.claimJob("w1", 60_000);
    assertEquals(first?.id, high.job.id);
    assertEquals([first?.status, first?.workerId, first?.attempts], ["running", "w1", 1]);
    assert(Date.parse(first!.leaseExpiresAt!) > Date.now());
    assert(await store.heartbeat(first!.id, "w1", 60_000, 0.5));
    assertEquals(await store.heartbeat(first!.id, "intruder", 60_000), false);
    await store.completeJob(first!.id, "w1", { products: 3 });
    const done = await store.getJob(first!.id);
    assertEquals([done?.status, done?.progress, done?.result], ["done", 1, { products: 3 }]);
    const second = await store.claimJob("w2", 60_000);
    assertEquals(second?.id, mid.job.id);
    await store.failJob(second!.id, "w2", "disk full");
    assertEquals((await store.getJob(second!.id))?.error, "disk full");
    const third = await store.claimJob("w1", 60_000);
    assertEquals(third?.id, low.job.id);
    await store.releaseJob(third!.id, "w1");
    assertEquals((await store.getJob(third!.id))?.status, "queued");
    assertEquals((await store.claimJob("w3", 60_000))?.id, low.job.id);
    assertEquals(await store.claimJob("w3", 60_000), null);
    const counts = await store.countJobs();
    assertEquals([counts.done, counts.failed, counts.running], [1, 1, 1]);
  }],
  ["jobs: an expired lease is re-queued; cancel stops a job", async (store) => {
    const job = await store.enqueueJob({ workOrderId: "E", night: "/data/e", workOrder: {}, priority: 5 });
    const claimed = await store.claimJob("dead-worker", 1);
    assertEquals(claimed?.id, job.job.id);
    await new Promise((resolve) => setTimeout(resolve, 20));
    assertEquals(await store.requeueExpired(), 1);
    const again = await store.claimJob("w2", 60_000);
    assertEquals([again?.id, again?.attempts], [job.job.id, 2]);
    const cancelled = await store.cancelJob(job.job.id);
    assertEquals(cancelled?.status, "cancelled");
    assertEquals(
      await store.heartbeat(job.job.id, "w2", 60_000),
      false,
      "a cancelled job's worker learns it",
    );
    assertEquals(await store.cancelJob(99999), null);
    assertEquals((await store.listJobs({ status: "cancelled" })).map((j) => j.id), [job.job.id]);
  }],
  [
    "jobs: one catalog holds every service's jobs, each claimed, counted and found by its own service",
    async (store) => {
      const calibration = await store.enqueueJob({
        workOrderId: "17",
        night: "/data/n",
        workOrder: {},
        priority: 1,
      });
      const observation = await store.enqueueJob({
        service: "telescope",
        workOrderId: "17",
        night: "/data/n",
        workOrder: { WOType: "Observation" },
        priority: 9,
      });
      assert(observation.created, "the same work-order ID and night in another service is another job");
      assertEquals([calibration.job.service, observation.job.service], ["preprocessor", "telescope"]);
      assertEquals((await store.getJobByWorkOrderId("17", "telescope"))?.id, observation.job.id);
      assertEquals((await store.getJobByWorkOrderId("17"))?.id, calibration.job.id);
      const claimed = await store.claimJob("pre", 60_000, "preprocessor");
      assertEquals(claimed?.id, calibration.job.id, "a service claims its own jobs, whatever the priorities");
      assertEquals(await store.claimJob("pre", 60_000, "preprocessor"), null);
      assertEquals((await store.countJobs("telescope")).queued, 1);
      assertEquals((await store.countJobs()).queued + (await store.countJobs()).running, 2);
      assertEquals((await store.listJobs({ service: "telescope" })).map((j) => j.id), [observation.job.id]);
      assertEquals((await store.claimJob("tel", 1, "telescope"))?.id, observation.job.id);
      await new Promise((resolve) => setTimeout(resolve, 20));
      assertEquals(
        await store.requeueExpired("preprocessor"),
        0,
        "another service's lapsed lease is not ours",
      );
      assertEquals(await store.requeueExpired("telescope"), 1);
    },
  ],
  ["jobs: a deferred job waits with its reason and is claimed once its time has come", async (store) => {
    const { job } = await store.enqueueJob({ workOrderId: "D", night: null, workOrder: {}, priority: 5 });
    await store.claimJob("w", 60_000);
    await store.deferJob(job.id, "w", "INDI server not running", new Date(Date.now() + 150));
    const waiting = await store.getJob(job.id);
    assertEquals([waiting?.status, waiting?.error, waiting?.workerId], [
      "queued",
      "INDI server not running",
      null,
    ]);
    assert(waiting?.notBefore);
    assertEquals(await store.claimJob("w", 60_000), null, "not before its time");
    await new Promise((resolve) => setTimeout(resolve, 200));
    const again = await store.claimJob("w", 60_000);
    assertEquals([again?.id, again?.notBefore, again?.attempts], [job.id, null, 2]);
  }],
  ["jobs: a job followed through another service is updated in place and keeps its story", async (store) => {
    const { job } = await store.enqueueJob({
      service: "scheduler",
      workOrderId: "S",
      night: null,
      workOrder: {},
      priority: 5,
    });
    const dispatched = await store.updateJob(job.id, {
      status: "running",
      detail: { service: "telescope", job: 7 },
    });
    assertEquals([dispatched?.status, dispatched?.detail], ["running", { service: "telescope", job: 7 }]);
    assert(dispatched?.startedAt);
    const back = await store.updateJob(job.id, { status: "queued", error: "weather alert" });
    assertEquals([back?.status, back?.error, back?.detail], ["queued", "weather alert", {
      service: "telescope",
      job: 7,
    }]);
    const done = await store.updateJob(job.id, {
      status: "done",
      error: null,
      progress: 1,
      result: { frames: 3 },
    });
    assertEquals([done?.status, done?.error, done?.progress, done?.result], ["done", null, 1, { frames: 3 }]);
    assert(done?.finishedAt);
    assertEquals(await store.updateJob(99999, { status: "done" }), null);
    await store.addJobEvent(job.id, "received", new Date("2026-01-01T03:00:00Z"));
    await store.addJobEvent(job.id, "dispatched to telescope job 7");
    await store.addJobEvent(job.id, "merged from the service: started", new Date("2026-01-01T03:00:01Z"));
    const story = await store.listJobEvents(job.id);
    assertEquals(
      story.map((e) => e.event),
      ["received", "merged from the service: started", "dispatched to telescope job 7"],
      "in time order, whenever each line was recorded",
    );
    assertEquals(story[0].at, "2026-01-01T03:00:00.000Z");
  }],
  [
    "pages: nights and products a page at a time, with totals; one product, exposure, night by id",
    async (store) => {
      const older = await store.upsertNight("/data/p1", { date: "2026-11-20" });
      const newer = await store.upsertNight("/data/p2", { date: "2026-11-21" });
      const raw = await store.upsertExposure(exposure(newer.id, "l1.fits", { imageType: "light" }));
      const bias = await store.replaceProduct(product(newer.id, "/data/p2/products/master_bias.fits"));
      for (const name of ["b", "a", "c"]) {
        await store.replaceProduct(product(newer.id, `/data/p2/products/calib_${name}.fits`, {
          kind: "calibrated_light",
          nCombined: 1,
          inputExposureIds: name === "a" ? [raw.id] : [],
          usedProductIds: [bias.id],
        }));
      }
      await store.replaceProduct(product(older.id, "/data/p1/products/master_bias.fits"));
      const nights = await store.listNightsPage({ limit: 1 });
      assertEquals([nights.total, nights.items.map((n) => n.directory)], [2, ["/data/p2"]]);
      assertEquals((await store.listNightsPage({ limit: 1, offset: 1 })).items[0].products, 1);
      assertEquals((await store.getNightById(newer.id))?.products, 4);
      assertEquals(await store.getNightById(99999), null);
      // A night's products: masters first, then the calibrated lights by path.
      const first = await store.listProductsPage({ nightId: newer.id, limit: 2 });
      assertEquals(first.total, 4);
      assertEquals(first.items.map((p) => p.path.slice(p.path.lastIndexOf("/") + 1)), [
        "master_bias.fits",
        "calib_a.fits",
      ]);
      const rest = await store.listProductsPage({ nightId: newer.id, limit: 2, offset: 2 });
      assertEquals(rest.items.map((p) => p.path.slice(p.path.lastIndexOf("/") + 1)), [
        "calib_b.fits",
        "calib_c.fits",
      ]);
      assertEquals(rest.items[0].uses.map((u) => u.productId), [bias.id], "provenance comes with each page");
      const all = await store.listProductsPage({ limit: 1 });
      assertEquals([all.total, all.items[0].path], [5, "/data/p1/products/master_bias.fits"], "newest first");
      assertEquals((await store.listProductsPage({ kind: "master_bias" })).total, 2);
      const madeFrom = await store.listProductsPage({ inputExposureId: raw.id });
      assertEquals(madeFrom.items.map((p) => p.path), ["/data/p2/products/calib_a.fits"]);
      assertEquals((await store.listProductsPage({ masterId: bias.id })).total, 3);
      assertEquals(
        (await store.listProductsPage({ limit: 100_000 })).items.length,
        5,
        "a limit is capped, not refused",
      );
      const one = await store.getProduct(madeFrom.items[0].id);
      assertEquals([one?.inputs, one?.uses.map((u) => u.kind)], [[{
        exposureId: raw.id,
        fileName: "l1.fits",
      }], [
        "master_bias",
      ]]);
      assertEquals(await store.getProduct(99999), null);
      assertEquals((await store.getExposure(raw.id))?.fileName, "l1.fits");
      assertEquals(await store.getExposure(99999), null);
    },
  ],
  ["jobs: listed in the order the runner claims them, for a queue", async (store) => {
    for (const [id, priority] of [["low", 1], ["high", 9], ["mid", 5], ["high2", 9]] as const) {
      await store.enqueueJob({ service: "toy", workOrderId: id, night: null, workOrder: {}, priority });
    }
    const queue = await store.listJobs({ service: "toy", status: "queued", order: "queue" });
    assertEquals(queue.map((job) => job.workOrderId), ["high", "high2", "mid", "low"]);
    const newest = await store.listJobs({ service: "toy", limit: 2 });
    assertEquals(newest.map((job) => job.workOrderId), ["high2", "mid"]);
  }],
];

function registerContract(backend: Backend): void {
  for (const [name, fn] of CONTRACT) {
    Deno.test(`[${backend.name}] ${name}`, async () => {
      const { store, cleanup } = await backend.open();
      try {
        await fn(store);
      } finally {
        await store.close();
        await cleanup();
      }
    });
  }
}

registerContract({
  name: "sqlite",
  open: async () => {
    const dir = await Deno.makeTempDir({ prefix: "toros-store-" });
    const store = await openStore({ file: `${dir}/state/toros.sqlite3` });
    return { store, cleanup: () => Deno.remove(dir, { recursive: true }) };
  },
});

for (const [name, fn] of CONTRACT) {
  postgresTest(`[postgres] ${name}`, async (url) => {
    const schema = uniqueSchema();
    const store = await openStore({ url }, { schema });
    try {
      await fn(store);
    } finally {
      await store.close();
      await dropSchema(url, schema);
    }
  });
}

Deno.test("[sqlite] the database directory is created on first use and WAL is on", async () => {
  const dir = await Deno.makeTempDir({ prefix: "toros-store-" });
  try {
    const store = await openStore({ url: `sqlite:${dir}/deep/er/toros.sqlite3` });
    await store.upsertNight("/x");
    await store.close();
    const names = [...Deno.readDirSync(`${dir}/deep/er`)].map((e) => e.name);
    assert(names.includes("toros.sqlite3"));
    const { DatabaseSync } = await import("node:sqlite");
    const db = new DatabaseSync(`${dir}/deep/er/toros.sqlite3`);
    assertEquals((db.prepare("PRAGMA journal_mode").get() as { journal_mode: string }).journal_mode, "wal");
    db.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("an unreachable PostgreSQL is reported within seconds, naming host and port, not the password", async () => {
  const started = Date.now();
  const error = await assertRejects(
    () => openStore({ url: "postgres://toros:hunter2@127.0.0.1:1/toros" }, { connectTimeout: 3 }),
    StoreError,
  );
  assert(Date.now() - started < 10_000);
  assert(error.message.includes("127.0.0.1:1"), error.message);
  assert(!error.message.includes("hunter2"), "password must not appear");
});
