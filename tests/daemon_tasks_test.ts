/**
 * The kit's task runner and its daemon without an address: workers sharing one
 * catalog run each task once, in the order its dependencies allow, record what
 * the tasks planned, fail a task that throws, put a task back when they stop,
 * and stop a task at once when its lease is lost (cancelled, or renewals not
 * answered: a host cut off from the catalog stops by itself).
 */
import { assert, assertEquals } from "./_assert.ts";
import { dropSchema, postgresTest, uniqueSchema } from "./_peers.ts";
import { defaultConfig } from "../lib/config.ts";
import { type DaemonSpec, startDaemon, type TaskHandler, TaskRunner } from "../lib/daemon/mod.ts";
import { getLogger } from "../lib/log.ts";
import { openStore, type Store, type TaskFence, type TaskRecord } from "../lib/store/mod.ts";

const log = getLogger("test.tasks");

async function until(what: string, check: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!await check()) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** A handler that records which worker ran what, plans two tasks after "plan", and fails "bad". */
function recordingHandler(ran: [string, string][], workerId: () => string): TaskHandler {
  return {
    async run(task, context) {
      ran.push([task.name, workerId()]);
      await new Promise((resolve) => setTimeout(resolve, 5));
      if (task.name === "bad") throw new Error("no such frame");
      context.progress({ done: 1, total: 1, step: task.name });
      return {
        result: { by: context.fence.workerId },
        add: task.name === "plan"
          ? [{ name: "a", kind: "k" }, { name: "b", kind: "k", dependsOn: ["a"] }, { name: "bad", kind: "k" }]
          : [],
      };
    },
  };
}

async function sharedQueue(open: () => Promise<Store>): Promise<void> {
  const store = await open();
  const stores = [await open(), await open()];
  const ran: [string, string][] = [];
  const runners = stores.map((s, i) => {
    const runner: TaskRunner = new TaskRunner({
      service: "preprocessor",
      store: s,
      log,
      handler: recordingHandler(ran, () => runner.workerId),
      workerId: `host${i + 1}:1`,
      pollMs: 50,
    });
    return runner;
  });
  try {
    const { job } = await store.enqueueJob({ workOrderId: "n", night: null, workOrder: {}, priority: 5 });
    for (const runner of runners) runner.start();
    await store.addTasks(job.id, [{ name: "plan", kind: "ingest" }]);
    await until("every task to end", async () => {
      const tasks = await store.listTasks(job.id);
      return tasks.length === 4 && tasks.every((task) => ["done", "failed"].includes(task.status));
    });
    const tasks = await store.listTasks(job.id);
    assertEquals(tasks.map((task) => [task.name, task.status]), [
      ["plan", "done"],
      ["a", "done"],
      ["b", "done"],
      ["bad", "failed"],
    ]);
    assertEquals(tasks[3].error, "no such frame");
    assertEquals(ran.map(([name]) => name).sort(), ["a", "b", "bad", "plan"], "each task ran once");
    assert(
      ran.findIndex(([name]) => name === "a") < ran.findIndex(([name]) => name === "b"),
      "b waited for a",
    );
    for (const task of tasks.slice(0, 3)) assertEquals(task.result, { by: task.workerId });
    const workers = await store.listWorkers();
    assertEquals(workers.map((worker) => worker.id).sort(), ["host1:1", "host2:1"]);
  } finally {
    for (const runner of runners) await runner.stop();
    assertEquals((await store.listWorkers()).length, 0, "stopped workers leave the list");
    for (const s of stores) await s.close();
    await store.close();
  }
}

Deno.test("[sqlite] two task runners share a job's tasks: each runs once, in dependency order", async () => {
  const dir = await Deno.makeTempDir({ prefix: "toros-task-runner-" });
  try {
    await sharedQueue(() => openStore({ file: `${dir}/toros.sqlite3` }));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

postgresTest(
  "[postgres] two task runners share a job's tasks: each runs once, in dependency order",
  async (url) => {
    const schema = uniqueSchema();
    try {
      await sharedQueue(() => openStore({ url }, { schema }));
    } finally {
      await dropSchema(url, schema);
    }
  },
);

/** A handler that runs until its signal aborts, then throws. */
function waitingHandler(started: PromiseWithResolvers<TaskFence>): TaskHandler {
  return {
    run(_task, context) {
      started.resolve(context.fence);
      return new Promise((_, reject) => {
        context.signal.addEventListener(
          "abort",
          () => reject(new Error(`stopped: ${context.signal.reason}`)),
        );
      });
    },
  };
}

async function oneTask(store: Store): Promise<number> {
  const { job } = await store.enqueueJob({ workOrderId: "one", night: null, workOrder: {}, priority: 5 });
  await store.addTasks(job.id, [{ name: "long", kind: "k" }]);
  return job.id;
}

Deno.test("[sqlite] a worker that stops puts its task back; a cancelled task stops at its next renewal", async () => {
  const dir = await Deno.makeTempDir({ prefix: "toros-task-runner-" });
  const store = await openStore({ file: `${dir}/toros.sqlite3` });
  try {
    const jobId = await oneTask(store);
    const started = Promise.withResolvers<TaskFence>();
    const runner = new TaskRunner({ service: "preprocessor", store, log, handler: waitingHandler(started) });
    runner.start();
    await started.promise;
    assertEquals(runner.current?.name, "long");
    await runner.stop();
    const [task] = await store.listTasks(jobId);
    assertEquals([task.status, task.workerId, task.attempts], ["queued", null, 1]);

    const again = Promise.withResolvers<TaskFence>();
    const second = new TaskRunner({
      service: "preprocessor",
      store,
      log,
      handler: waitingHandler(again),
      leaseMs: 600,
    });
    second.start();
    assertEquals((await again.promise).attempt, 2);
    await store.cancelTasks(jobId);
    await until("the cancelled task to stop", () => Promise.resolve(second.current === null));
    assertEquals((await store.listTasks(jobId))[0].status, "cancelled");
    await second.stop();
  } finally {
    await store.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("[sqlite] a worker whose lease renewals go unanswered stops its task before the lease runs out", async () => {
  const dir = await Deno.makeTempDir({ prefix: "toros-task-runner-" });
  const store = await openStore({ file: `${dir}/toros.sqlite3` });
  try {
    const jobId = await oneTask(store);
    // A catalog that stops answering renewals, as one cut off by the network would.
    const cutOff = new Proxy(store, {
      get(target, key) {
        if (key === "heartbeatTask") return () => new Promise(() => {});
        const value = Reflect.get(target, key);
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
    const started = Promise.withResolvers<TaskFence>();
    const runner = new TaskRunner({
      service: "preprocessor",
      store: cutOff,
      log,
      handler: waitingHandler(started),
      leaseMs: 900,
    });
    runner.start();
    const fence = await started.promise;
    await until("the task to stop", () => Promise.resolve(runner.current === null));
    assert(
      await store.holdsTask(fence, 0),
      "it stopped while the catalog still counted the lease as its own",
    );
    await runner.stop();
    const [task]: TaskRecord[] = await store.listTasks(jobId);
    assertEquals(task.status, "running", "nothing recorded: the lease runs out and another worker takes it");
  } finally {
    await store.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a daemon without an address runs its background work and stops on request", async () => {
  const dir = await Deno.makeTempDir({ prefix: "toros-headless-" });
  try {
    const events: string[] = [];
    const spec: DaemonSpec = {
      name: "headless",
      title: "A worker",
      description: "works",
      workOrders: [],
      frontDeskHelp: "",
      background: (context) => {
        events.push(`started with ${context.store.backend}`);
        return {
          stop: () => {
            events.push("stopped");
            return Promise.resolve();
          },
        };
      },
    };
    const daemon = await startDaemon(spec, defaultConfig(dir));
    assertEquals(daemon.port, 0);
    assertEquals(daemon.runner, null);
    await daemon.stop();
    await daemon.finished;
    assertEquals(events, ["started with sqlite", "stopped"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
