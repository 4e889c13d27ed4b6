/**
 * Claimers in parallel never take one job twice (separate processes on SQLite,
 * separate connections on PostgreSQL), and a claimer killed mid-job has its job
 * re-queued once the lease runs out.
 */
import { assert, assertEquals } from "./_assert.ts";
import { dropSchema, postgresTest, uniqueSchema } from "./_peers.ts";
import { MIGRATIONS, openStore, SCHEMA_VERSION } from "../lib/store/mod.ts";

const CLAIMER = new URL("./fixtures/store_claimer.ts", import.meta.url).pathname;

function claimer(url: string, workerId: string, mode: "drain" | "hang") {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", CLAIMER, url, workerId, mode],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
}

Deno.test("[sqlite] four claimer processes drain 60 jobs with no job claimed twice", async () => {
  const dir = await Deno.makeTempDir({ prefix: "toros-claim-" });
  try {
    const url = `sqlite:${dir}/toros.sqlite3`;
    const store = await openStore({ url });
    for (let i = 0; i < 60; i++) {
      await store.enqueueJob({ workOrderId: `WO-${i}`, night: null, workOrder: {}, priority: i % 10 });
    }
    const processes = ["a", "b", "c", "d"].map((id) => claimer(url, id, "drain"));
    const outputs = await Promise.all(processes.map((p) => p.output()));
    const claimed: number[] = [];
    for (const output of outputs) {
      assert(output.success, new TextDecoder().decode(output.stderr));
      claimed.push(...new TextDecoder().decode(output.stdout).trim().split("\n").filter(Boolean).map(Number));
    }
    assertEquals(claimed.length, 60, "every job claimed once");
    assertEquals(new Set(claimed).size, 60, "no job claimed twice");
    assertEquals((await store.countJobs()).done, 60);
    await store.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("[sqlite] a claimer killed mid-job has its job re-queued after the lease", async () => {
  const dir = await Deno.makeTempDir({ prefix: "toros-kill-" });
  try {
    const url = `sqlite:${dir}/toros.sqlite3`;
    const store = await openStore({ url });
    const { job } = await store.enqueueJob({
      workOrderId: "WO-kill",
      night: "/n",
      workOrder: {},
      priority: 5,
    });
    const child = claimer(url, "doomed", "hang");
    const reader = child.stdout.getReader();
    const { value } = await reader.read();
    assertEquals(Number(new TextDecoder().decode(value).trim()), job.id);
    child.kill("SIGKILL");
    await child.status;
    reader.releaseLock();
    await child.stderr.cancel();
    assertEquals((await store.getJob(job.id))?.status, "running");
    assertEquals(await store.requeueExpired(), 0, "not before the lease runs out");
    await new Promise((resolve) => setTimeout(resolve, 1100));
    assertEquals(await store.requeueExpired(), 1);
    const again = await store.claimJob("survivor", 60_000);
    assertEquals([again?.id, again?.attempts], [job.id, 2]);
    await store.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

postgresTest("[postgres] six connections claim 60 jobs with no job claimed twice", async (url) => {
  const schema = uniqueSchema();
  const stores = await Promise.all(Array.from({ length: 6 }, () => openStore({ url }, { schema })));
  try {
    for (let i = 0; i < 60; i++) {
      await stores[0].enqueueJob({ workOrderId: `WO-${i}`, night: null, workOrder: {}, priority: i % 10 });
    }
    const claimed: number[] = [];
    await Promise.all(stores.map(async (store, index) => {
      for (;;) {
        const job = await store.claimJob(`w${index}`, 60_000);
        if (!job) return;
        claimed.push(job.id);
        await store.completeJob(job.id, `w${index}`, null);
      }
    }));
    assertEquals(claimed.length, 60);
    assertEquals(new Set(claimed).size, 60);
  } finally {
    await Promise.all(stores.map((store) => store.close()));
    await dropSchema(url, schema);
  }
});

postgresTest(
  "[postgres] a claimer process killed mid-job has its job re-queued after the lease",
  async (url) => {
    const schema = uniqueSchema();
    const store = await openStore({ url }, { schema });
    try {
      const { job } = await store.enqueueJob({
        workOrderId: "WO-kill",
        night: "/n",
        workOrder: {},
        priority: 5,
      });
      const schemaUrl = new URL(url);
      schemaUrl.searchParams.set("search_path", schema);
      const child = claimer(schemaUrl.toString(), "doomed", "hang");
      const reader = child.stdout.getReader();
      const { value } = await reader.read();
      assertEquals(Number(new TextDecoder().decode(value).trim()), job.id);
      child.kill("SIGKILL");
      await child.status;
      reader.releaseLock();
      await child.stderr.cancel();
      await new Promise((resolve) => setTimeout(resolve, 1100));
      assertEquals(await store.requeueExpired(), 1);
      assertEquals((await store.claimJob("survivor", 60_000))?.id, job.id);
    } finally {
      await store.close();
      await dropSchema(url, schema);
    }
  },
);

/** A job row as schema N-1 held it (today's code writes the columns of schema N). */
function oldJobSql(version: number): string {
  // Jobs name their service from schema 3 on; before that every job was the preprocessor's.
  const [column, value] = version >= 3 ? ["service, ", "'preprocessor', "] : ["", ""];
  return `INSERT INTO jobs (${column}work_order_id, night, work_order, priority, status, attempts, progress,
  created_at, updated_at) VALUES (${value}'OLD', '/data/old', '{"a":1}', 3, 'queued', 0, 0, '2026-01-01T00:00:00Z',
  '2026-01-01T00:00:00Z')`;
}

async function migrationCheck(
  open: (version?: number) => ReturnType<typeof openStore>,
  writeOld: (sql: string) => Promise<void>,
  from: number,
): Promise<void> {
  assertEquals(SCHEMA_VERSION, MIGRATIONS.length);
  const old = await open(from);
  const night = await old.upsertNight("/data/old", { date: "2026-01-01" });
  await old.close();
  await writeOld(oldJobSql(from));
  // Upgrading twice at once must be as safe as once.
  const [upgraded, twin] = await Promise.all([open(), open()]);
  await twin.close();
  assertEquals((await upgraded.getNight("/data/old"))?.id, night.id);
  assertEquals((await upgraded.getJobByWorkOrderId("OLD"))?.workOrder, { a: 1 });
  assertEquals(
    (await upgraded.getJobByWorkOrderId("OLD"))?.service,
    "preprocessor",
    "older jobs are the preprocessor's",
  );
  await upgraded.close();
}

const UPGRADES: [number, string][] = [
  [SCHEMA_VERSION - 1, "a database at schema N upgrades to N+1 with its data intact"],
  [2, "a catalog from before jobs named their service (schema 2) upgrades with its jobs the preprocessor's"],
];

for (const [from, name] of UPGRADES) {
  Deno.test(`[sqlite] ${name}`, async () => {
    const dir = await Deno.makeTempDir({ prefix: "toros-migrate-" });
    try {
      const file = `${dir}/toros.sqlite3`;
      const { DatabaseSync } = await import("node:sqlite");
      await migrationCheck((version) => openStore({ file }, { schemaVersion: version }), (sql) => {
        const raw = new DatabaseSync(file);
        raw.exec(sql);
        raw.close();
        return Promise.resolve();
      }, from);
      const db = new DatabaseSync(file);
      const versions = db.prepare("SELECT version FROM schema_version ORDER BY version").all().map((r) =>
        r.version
      );
      const index = db.prepare("SELECT name FROM sqlite_master WHERE name = 'jobs_queue'").all();
      db.close();
      assertEquals(versions, MIGRATIONS.map((m) => m.version));
      assertEquals(index.length, 1, "migration 2's index exists");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });

  postgresTest(`[postgres] ${name}`, async (url) => {
    const schema = uniqueSchema();
    try {
      await migrationCheck(
        (version) => openStore({ url }, { schema, schemaVersion: version }),
        async (sql) => {
          const { default: postgres } = await import("postgres");
          const raw = postgres(url, { max: 1, onnotice: () => {}, connection: { search_path: schema } });
          try {
            await raw.unsafe(sql);
          } finally {
            await raw.end({ timeout: 5 });
          }
        },
        from,
      );
    } finally {
      await dropSchema(url, schema);
    }
  });
}
