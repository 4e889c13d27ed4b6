/**
 * The task queue's contract, on both catalog backends (PostgreSQL when
 * TOROS_TEST_DATABASE_URL is set): a job's tasks wait for what they depend on,
 * are claimed by priority then the job's age then the order planned, with a
 * lease by the catalog's clock; every write under a lease is fenced by the
 * attempt, so a worker that lost its task can neither finish it nor record a
 * product; expired leases are queued again with a line in the job's story; the
 * workers' heartbeats are listed; PostgreSQL tells listeners at once.
 */
import { assert, assertEquals, assertRejects } from "./_assert.ts";
import { dropSchema, postgresTest, uniqueSchema } from "./_peers.ts";
import {
  LeaseLostError,
  MAX_TASK_ATTEMPTS,
  openStore,
  type ProductInput,
  type Store,
  type TaskChange,
  type TaskFence,
  type TaskRecord,
} from "../lib/store/mod.ts";

function fenceOf(task: TaskRecord): TaskFence {
  return { taskId: task.id, workerId: task.workerId!, attempt: task.attempts };
}

async function job(store: Store, id: string, priority = 5): Promise<number> {
  return (await store.enqueueJob({ workOrderId: id, night: null, workOrder: {}, priority })).job.id;
}

function product(nightId: number, path: string): ProductInput {
  return {
    nightId,
    kind: "calibrated_light",
    path,
    filter: "V",
    exposureTime: 60,
    width: 8,
    height: 8,
    binning: "1x1",
    nCombined: 1,
    checksum: "c",
    dateObs: null,
    warnings: [],
    inputExposureIds: [],
    usedProductIds: [],
  };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const CONTRACT: [string, (store: Store) => Promise<void>][] = [
  ["tasks wait for what they depend on and are claimed once each", async (store) => {
    const jobId = await job(store, "night-1");
    const tasks = await store.addTasks(jobId, [
      { name: "bias", kind: "master_bias", spec: { frames: ["b1"] }, weight: 1 },
      { name: "dark", kind: "master_darks", dependsOn: ["bias"] },
      { name: "lights 1/2", kind: "calibrated_lights", dependsOn: ["bias", "dark"], weight: 8 },
      { name: "lights 2/2", kind: "calibrated_lights", dependsOn: ["bias", "dark"], weight: 4 },
    ]);
    assertEquals(tasks.map((task) => [task.name, task.status, task.dependsOn.length]), [
      ["bias", "queued", 0],
      ["dark", "queued", 1],
      ["lights 1/2", "queued", 2],
      ["lights 2/2", "queued", 2],
    ]);
    assertEquals(tasks[0].spec, { frames: ["b1"] });
    assertEquals(tasks[2].weight, 8);
    // Adding the same names again keeps the tasks as they are.
    assertEquals((await store.addTasks(jobId, [{ name: "bias", kind: "other" }])).length, 4);

    const bias = (await store.claimTask("a:1", 60_000))!;
    assertEquals([bias.name, bias.status, bias.attempts, bias.workerId], ["bias", "running", 1, "a:1"]);
    assert(bias.leaseExpiresAt && bias.leaseExpiresAt > new Date().toISOString());
    assertEquals(await store.claimTask("b:2", 60_000), null, "the dark waits for the bias");
    assert(await store.completeTask(fenceOf(bias), { masters: [1] }));
    const dark = (await store.claimTask("b:2", 60_000))!;
    assertEquals(dark.name, "dark");
    assertEquals(await store.claimTask("a:1", 60_000), null, "the lights wait for the dark too");
    assert(await store.completeTask(fenceOf(dark), null));
    const first = (await store.claimTask("a:1", 60_000))!;
    const second = (await store.claimTask("b:2", 60_000))!;
    assertEquals([first.name, second.name], ["lights 1/2", "lights 2/2"]);
    assertEquals(await store.claimTask("c:3", 60_000), null);
    assert(await store.completeTask(fenceOf(first), null));
    assert(await store.failTask(fenceOf(second), "disk full"));
    const done = await store.listTasks(jobId);
    assertEquals(done.map((task) => [task.status, task.workerId]), [
      ["done", "a:1"],
      ["done", "b:2"],
      ["done", "a:1"],
      ["failed", "b:2"],
    ]);
    assertEquals(done[0].result, { masters: [1] });
    assertEquals(done[3].error, "disk full");
    assert(done.every((task) => task.finishedAt !== null));
  }],

  ["tasks are claimed by priority, then the job's age, then the order planned", async (store) => {
    const old = await job(store, "old", 5);
    const urgent = await job(store, "urgent", 8);
    const young = await job(store, "young", 5);
    await store.addTasks(young, [{ name: "y1", kind: "k" }]);
    await store.addTasks(old, [{ name: "o1", kind: "k" }, { name: "o2", kind: "k" }]);
    await store.addTasks(urgent, [{ name: "u1", kind: "k" }]);
    const order: string[] = [];
    for (let task; (task = await store.claimTask("w:1", 60_000));) order.push(task.name);
    assertEquals(order, ["u1", "o1", "o2", "y1"]);
  }],

  [
    "a finished task adds the tasks it planned in the same step, and only while it holds its lease",
    async (store) => {
      const jobId = await job(store, "plan");
      await store.addTasks(jobId, [{ name: "ingest", kind: "ingest" }]);
      const ingest = (await store.claimTask("a:1", 60_000))!;
      const plan = [{ name: "bias", kind: "master_bias" }, { name: "light", kind: "l", dependsOn: ["bias"] }];
      assert(!await store.completeTask({ ...fenceOf(ingest), attempt: 2 }, null, plan), "another attempt's");
      assertEquals((await store.listTasks(jobId)).length, 1, "nothing planned by a stale attempt");
      assert(
        await store.completeTask(fenceOf(ingest), { frames: 2 }, [...plan, { name: "ingest", kind: "x" }]),
      );
      const tasks = await store.listTasks(jobId);
      assertEquals(tasks.map((task) => task.name), ["ingest", "bias", "light"]);
      assertEquals(tasks[2].dependsOn, [tasks[1].id]);
      assertEquals(tasks[0].kind, "ingest", "a name the job has is kept");
    },
  ],

  [
    "a lost lease: the task is queued again with its story, and the old holder can write nothing",
    async (store) => {
      const jobId = await job(store, "lease");
      const night = await store.upsertNight("/data/n");
      await store.addTasks(jobId, [{ name: "lights 1/1", kind: "calibrated_lights" }]);
      const first = (await store.claimTask("host1:10", 200))!;
      const stale = fenceOf(first);
      assert(await store.holdsTask(stale, 0));
      assert(!await store.holdsTask(stale, 60_000), "a margin longer than the lease is refused");
      assertEquals(await store.requeueExpiredTasks(), 0, "not expired yet");
      await sleep(300);
      assert(!await store.holdsTask(stale, 0), "expired");
      await assertRejects(
        () => store.replaceProduct(product(night.id, "/data/n/products/calib_1.fits"), { fence: stale }),
        LeaseLostError,
      );
      assertEquals(await store.requeueExpiredTasks(), 1);
      const second = (await store.claimTask("host2:20", 60_000))!;
      assertEquals([second.id, second.attempts, second.workerId], [first.id, 2, "host2:20"]);
      // The first holder comes back: its heartbeat, writes and outcome are all refused.
      assert(!await store.heartbeatTask(stale, 60_000));
      assert(!await store.completeTask(stale, null));
      assert(!await store.failTask(stale, "late"));
      assert(!await store.releaseTask(stale));
      await assertRejects(
        () => store.replaceProduct(product(night.id, "/data/n/products/calib_1.fits"), { fence: stale }),
        LeaseLostError,
      );
      assertEquals((await store.listProducts({ nightId: night.id })).length, 0);
      // The holder of the new attempt writes, with a margin, and finishes.
      assert(await store.heartbeatTask(fenceOf(second), 60_000));
      const recorded = await store.replaceProduct(product(night.id, "/data/n/products/calib_1.fits"), {
        fence: fenceOf(second),
        marginMs: 5_000,
      });
      assertEquals(recorded.path, "/data/n/products/calib_1.fits");
      assert(await store.completeTask(fenceOf(second), null));
      const [task] = await store.listTasks(jobId);
      assertEquals([task.status, task.workerId, task.attempts], ["done", "host2:20", 2]);
      const story = (await store.listJobEvents(jobId)).map((event) => event.event);
      assertEquals(story, ["task lights 1/1: host1:10 lost its lease (attempt 1); queued again"]);
    },
  ],

  [`a task whose workers keep losing it fails after ${MAX_TASK_ATTEMPTS} attempts`, async (store) => {
    const jobId = await job(store, "doomed");
    await store.addTasks(jobId, [{ name: "t", kind: "k" }]);
    for (let attempt = 1; attempt <= MAX_TASK_ATTEMPTS; attempt++) {
      assertEquals((await store.claimTask(`w:${attempt}`, 1))?.attempts, attempt);
      await sleep(20);
      assertEquals(await store.requeueExpiredTasks(), 1);
    }
    const [task] = await store.listTasks(jobId);
    assertEquals(task.status, "failed");
    assert(task.error?.startsWith(`gave up after ${MAX_TASK_ATTEMPTS} attempts`), task.error ?? "");
    assertEquals(await store.claimTask("w:9", 60_000), null);
  }],

  [
    "a released task runs again; cancelling a job's tasks stops its running one at the next heartbeat",
    async (store) => {
      const jobId = await job(store, "stop");
      await store.addTasks(jobId, [{ name: "a", kind: "k" }, { name: "b", kind: "k" }]);
      const a = (await store.claimTask("w:1", 60_000))!;
      assert(await store.releaseTask(fenceOf(a)));
      const again = (await store.claimTask("w:2", 60_000))!;
      assertEquals([again.name, again.attempts], ["a", 2]);
      assertEquals(await store.cancelTasks(jobId), 2);
      assert(!await store.heartbeatTask(fenceOf(again), 60_000));
      assertEquals((await store.listTasks(jobId)).map((task) => task.status), ["cancelled", "cancelled"]);
      assertEquals(await store.claimTask("w:3", 60_000), null);
    },
  ],

  ["workers are listed with their last heartbeat and the task they run", async (store) => {
    const jobId = await job(store, "w");
    const [task] = await store.addTasks(jobId, [{ name: "bias", kind: "master_bias" }]);
    await store.recordWorker({
      id: "obs2:7",
      host: "obs2",
      pid: 7,
      service: "preprocessor",
      taskId: null,
      tasksDone: 0,
    });
    await sleep(20);
    await store.recordWorker({
      id: "obs3:8",
      host: "obs3",
      pid: 8,
      service: "preprocessor",
      taskId: task.id,
      tasksDone: 3,
    });
    const workers = await store.listWorkers();
    assertEquals(workers.map((worker) => [worker.id, worker.taskName, worker.jobId, worker.tasksDone]), [
      ["obs3:8", "bias", jobId, 3],
      ["obs2:7", null, null, 0],
    ]);
    assert(
      workers.every((worker) => worker.ageSeconds >= 0 && worker.ageSeconds < 60),
      JSON.stringify(workers),
    );
    await store.removeWorker("obs2:7");
    assertEquals((await store.listWorkers()).map((worker) => worker.id), ["obs3:8"]);
  }],
];

function register(name: string, open: () => Promise<{ store: Store; cleanup: () => Promise<void> }>): void {
  for (const [title, fn] of CONTRACT) {
    Deno.test(`[${name}] ${title}`, async () => {
      const { store, cleanup } = await open();
      try {
        await fn(store);
      } finally {
        await store.close();
        await cleanup();
      }
    });
  }
}

register("sqlite", async () => {
  const dir = await Deno.makeTempDir({ prefix: "toros-tasks-" });
  const store = await openStore({ file: `${dir}/toros.sqlite3` });
  return { store, cleanup: () => Deno.remove(dir, { recursive: true }) };
});

for (const [title, fn] of CONTRACT) {
  postgresTest(`[postgres] ${title}`, async (url) => {
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

Deno.test("[sqlite] the task queue has no notifications: listeners are told to look every so often", async () => {
  const dir = await Deno.makeTempDir({ prefix: "toros-tasks-" });
  const store = await openStore({ file: `${dir}/toros.sqlite3` });
  try {
    assertEquals(await store.listenTasks(() => {}), null);
  } finally {
    await store.close();
    await Deno.remove(dir, { recursive: true });
  }
});

postgresTest(
  "[postgres] a listener on another connection hears tasks added, claimed and done",
  async (url) => {
    const schema = uniqueSchema();
    const store = await openStore({ url }, { schema });
    const other = await openStore({ url }, { schema });
    const heard: TaskChange[] = [];
    let hear = () => {};
    const listener = await other.listenTasks((change) => {
      heard.push(change);
      hear();
    });
    const next = () => new Promise<void>((resolve) => (hear = resolve));
    try {
      assert(listener);
      const jobId = await job(store, "n");
      let heardNow = next();
      await store.addTasks(jobId, [{ name: "t", kind: "k" }]);
      await heardNow;
      heardNow = next();
      const task = (await store.claimTask("w:1", 60_000))!;
      await heardNow;
      heardNow = next();
      await store.completeTask(fenceOf(task), null);
      await heardNow;
      assertEquals(heard, ["ready", "changed", "ready"]);
    } finally {
      await listener?.close();
      await other.close();
      await store.close();
      await dropSchema(url, schema);
    }
  },
);
