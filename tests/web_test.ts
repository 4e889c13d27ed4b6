/**
 * The daemons' window, over HTTP: the status page and job pages of a toy
 * daemon, the JSON API with the front desk's validation and faults, the live
 * feed, the cross-site request forgery rules and the token; the preprocessor's
 * catalog API a page at a time. (The browser tests are in web_browser_test.ts.)
 */
import { assert, assertEquals, assertStringIncludes } from "./_assert.ts";
import { defaultConfig, type TorosConfig } from "../lib/config.ts";
import { type RunningDaemon, startDaemon } from "../lib/daemon/mod.ts";
import { callXmlRpc, type XmlRpcValue } from "../lib/xmlrpc/mod.ts";
import { toyDaemon } from "./fixtures/toy_daemon.ts";
import { startPreprocessor } from "../services/preprocessor/serve_command.ts";
import { openStore } from "../lib/store/mod.ts";
import { schedulerDaemon } from "../services/scheduler/daemon.ts";
import { telescopeDaemon } from "../services/telescope/daemon.ts";

type Struct = Record<string, XmlRpcValue>;

async function tempRoot(): Promise<string> {
  return await Deno.realPath(await Deno.makeTempDir({ prefix: "toros-web-" }));
}

function configFor(root: string, security: Partial<TorosConfig["security"]> = {}): TorosConfig {
  const config = defaultConfig(`${root}/state`);
  config.preprocessorAddress = { http: "http://127.0.0.1:0/", ip: "127.0.0.1", port: 0 };
  config.data.roots = [root];
  config.logging.file = "";
  Object.assign(config.security, security);
  return config;
}

function base(daemon: RunningDaemon): string {
  return `http://127.0.0.1:${daemon.port}`;
}

async function postJson(url: string, body: unknown, headers: Record<string, string> = {}) {
  const response = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
  return { status: response.status, json: await response.json(), headers: response.headers };
}

async function getText(url: string, headers: Record<string, string> = {}) {
  const response = await fetch(url, { headers });
  return { status: response.status, text: await response.text(), headers: response.headers };
}

function order(id: string, extra: Struct = {}): Struct {
  return { ID: id, WOType: "Calibration", "File Location": "/anywhere", ...extra };
}

/** The page's form token (a hidden field of its forms). */
function formTokenOf(page: string): string {
  const match = /name="csrf" value="([^"]+)"/.exec(page);
  assert(match, "the page's forms carry a form token");
  return match[1];
}

async function withToy(
  fn: (daemon: RunningDaemon, root: string) => Promise<void>,
  options: { runJobs?: boolean; security?: Partial<TorosConfig["security"]> } = {},
): Promise<void> {
  const root = await tempRoot();
  const daemon = await startDaemon(toyDaemon, configFor(root, options.security), {
    runJobs: options.runJobs,
    liveIntervalMs: 50,
  });
  try {
    await fn(daemon, root);
  } finally {
    await daemon.stop();
    await Deno.remove(root, { recursive: true });
  }
}

Deno.test("GET / is the status page: health, queue, recent work orders escaped, actions, API, methods", async () => {
  await withToy(async (daemon) => {
    const url = base(daemon);
    await callXmlRpc(`${url}/`, "front_desk", [order("<script>alert(1)</script>", { Steps: 1 })]);
    await callXmlRpc(`${url}/`, "front_desk", [order("second", { User: "urgent" })]);
    const page = await getText(`${url}/`);
    assertEquals(page.status, 200);
    assertStringIncludes(page.text, '<h1><a href="/">Toy Service</a></h1>');
    for (
      const heading of [
        "Health",
        "Running now",
        "Queue",
        "Recent work orders",
        "Actions",
        "JSON API",
        "XML-RPC",
      ]
    ) {
      assertStringIncludes(page.text, `<h2>${heading}</h2>`);
    }
    assert(!page.text.includes("<script>alert(1)</script>"), "a work order's ID is escaped");
    assertStringIncludes(page.text, "&lt;script&gt;alert(1)&lt;/script&gt;");
    assertStringIncludes(page.text, '2 <span class="badge queued">queued</span>');
    // The queue in the order the runner takes it: the urgent order (priority 9) first.
    const queue = page.text.slice(
      page.text.indexOf('id="live-queue"'),
      page.text.indexOf('id="live-recent"'),
    );
    assert(queue.indexOf("second") < queue.indexOf("&lt;script&gt;"), "priority 9 before priority 2");
    assertStringIncludes(page.text, 'action="/actions/work-order"');
    assertStringIncludes(page.text, "<code>/api/work-orders</code>");
    for (const method of ["front_desk", "job_status", "list_jobs", "cancel_job", "system.multicall"]) {
      assertStringIncludes(page.text, `<a href="/rpc#${method}">${method}</a>`);
    }
    // Nothing from elsewhere, no framing, no CORS on pages.
    const csp = page.headers.get("content-security-policy") ?? "";
    assertStringIncludes(csp, "default-src 'none'");
    assertStringIncludes(csp, "frame-ancestors 'none'");
    assert(!/https?:\/\//.test(page.text.replace(/http:\/\/127\.0\.0\.1:\d+/g, "")), "no external URL");
    assertEquals(page.headers.get("access-control-allow-origin"), null);
    // The XML-RPC documentation moved to /rpc; POST / is XML-RPC as before.
    const rpc = await getText(`${url}/rpc`);
    assertStringIncludes(rpc.text, "<h2>Methods</h2>");
    assertStringIncludes(rpc.text, "Takes calibration orders and counts to Steps.");
    assertEquals((await callXmlRpc(`${url}/RPC2`, "list_jobs", []) as Struct[]).length, 2);
  }, { runJobs: false });
});

Deno.test("the JSON API answers as the XML-RPC methods do, with their faults as JSON errors", async () => {
  await withToy(async (daemon) => {
    const url = base(daemon);
    const created = await postJson(`${url}/api/work-orders`, order("api-1", { Steps: 1 }));
    assertEquals(created.status, 200);
    assertEquals(created.json, { ID: "api-1", Job: 1, Status: "queued", Message: "Work order received." });
    const again = await postJson(`${url}/api/work-orders`, order("api-1"));
    assertStringIncludes(again.json.Message, "already received as job 1");
    const bad = await postJson(`${url}/api/work-orders`, order("api-2", { Priority: 11 }));
    assertEquals(bad.status, 400);
    assertEquals(bad.json, {
      error: { code: -32602, message: 'Work order key "Priority": 11 is not a number from 0 to 10 (or nil)' },
    });
    const other = await postJson(`${url}/api/work-orders`, { ID: "o", WOType: "Observation" });
    assertEquals([other.status, other.json.error.code], [400, 1]);
    assertStringIncludes(other.json.error.message, "handled by the telescope service, not the toy");
    const notStruct = await postJson(`${url}/api/work-orders`, [1, 2]);
    assertEquals(notStruct.json.error.code, -32602);
    const notJson = await postJson(`${url}/api/work-orders`, "{nope");
    assertEquals([notJson.status, notJson.json.error.code], [400, -32700]);
    const plain = await fetch(`${url}/api/work-orders`, {
      method: "POST",
      body: JSON.stringify(order("api-3")),
    });
    assertEquals(plain.status, 415, "a body not declared as JSON is refused");
    assertEquals((await plain.json()).error.code, -32600);
    const tooBig = await postJson(`${url}/api/work-orders`, { ID: "x".repeat(2 * 1024 * 1024) });
    assertEquals(tooBig.status, 413);

    const listed = await (await fetch(`${url}/api/jobs?status=queued&limit=5`)).json();
    assertEquals(listed.jobs.map((job: Struct) => job.ID), ["api-1"]);
    const badStatus = await fetch(`${url}/api/jobs?status=sleeping`);
    assertEquals([badStatus.status, (await badStatus.json()).error.code], [400, -32602]);
    const badLimit = await fetch(`${url}/api/jobs?limit=0`);
    assertEquals([badLimit.status, (await badLimit.json()).error.message], [
      400,
      "Invalid params: Limit must be a positive integer",
    ]);
    const status = await (await fetch(`${url}/api/jobs/1`)).json();
    assertEquals([status.Job, status.ID, status.Status], [1, "api-1", "queued"]);
    assertEquals(status.History.length, 1);
    assertEquals((await (await fetch(`${url}/api/work-orders/api-1`)).json()).Job, 1);
    const missing = await fetch(`${url}/api/jobs/99`);
    assertEquals([missing.status, await missing.json()], [404, { error: { code: 3, message: "No job 99" } }]);
    assertEquals((await fetch(`${url}/api/work-orders/nope`).then((r) => r.json())).error.code, 3);
    const unknown = await fetch(`${url}/api/nothing`);
    assertEquals([unknown.status, (await unknown.json()).error.code], [404, -32601]);

    const cancelled = await postJson(`${url}/api/jobs/1/cancel`, {});
    assertEquals([cancelled.status, cancelled.json.Status], [200, "cancelled"]);
    assertEquals((await callXmlRpc(`${url}/`, "job_status", [1]) as Struct).Status, "cancelled");
    assertEquals((await postJson(`${url}/api/jobs/77/cancel`, {})).status, 404);
  }, { runJobs: false });
});

Deno.test("a job's page shows its summary, errors, story with timings and the work order, escaped", async () => {
  await withToy(async (daemon) => {
    const url = base(daemon);
    const { Job: job } = await callXmlRpc(`${url}/`, "front_desk", [
      order("story-<b>1</b>", { Steps: 2, Note: "<img src=x onerror=alert(1)>" }),
    ]) as Struct;
    for (let i = 0; i < 400; i++) {
      if ((await callXmlRpc(`${url}/`, "job_status", [job]) as Struct).Status === "done") break;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    const page = await getText(`${url}/jobs/${job}`);
    assertEquals(page.status, 200);
    assertStringIncludes(page.text, "Job 1 · work order story-&lt;b&gt;1&lt;/b&gt;");
    assertStringIncludes(page.text, '<span class="badge done">done</span>');
    assertStringIncludes(page.text, "<h2>Story</h2>");
    for (const line of ["received (priority 2)", "started", "done"]) assertStringIncludes(page.text, line);
    assertStringIncludes(page.text, "Since received");
    assertStringIncludes(page.text, "&lt;img src=x onerror=alert(1)&gt;");
    assert(!page.text.includes("<img src=x"), "the work order is escaped");
    assertStringIncludes(page.text, "<dt>Counted</dt><dd>2</dd>", "the service's own fields");
    assertEquals((await getText(`${url}/jobs/999`)).status, 404);
    assertEquals((await getText(`${url}/jobs/abc`)).status, 404);
  });
});

/** Reads Server-Sent Events from `url` until `until` accepts one; returns it. */
async function readEvents(
  url: string,
  until: (data: Record<string, unknown>) => boolean,
  onOpen?: () => Promise<void>,
): Promise<Record<string, unknown>> {
  const response = await fetch(url);
  assertEquals(response.headers.get("content-type"), "text/event-stream; charset=utf-8");
  const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  let opened = false;
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) throw new Error("the stream ended");
      buffer += value;
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const message = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const data = message.split("\n").find((line) => line.startsWith("data: "));
        if (!data) continue;
        const parsed = JSON.parse(data.slice(6));
        if (!opened) {
          opened = true;
          await onOpen?.();
        }
        if (until(parsed)) return parsed;
      }
    }
  } finally {
    await reader.cancel();
  }
}

Deno.test("the live feed sends the sections, then each job's progress, then the sections again when it ends", async () => {
  await withToy(async (daemon) => {
    const url = base(daemon);
    const seen: number[] = [];
    let jobNumber = 0;
    const last = await readEvents(`${url}/events`, (data) => {
      const progress = data.progress as Record<string, { value: number }>;
      if (progress?.[jobNumber]) seen.push(progress[jobNumber].value);
      const sections = data.sections as Record<string, string> | undefined;
      return seen.length > 0 && !!sections?.["live-recent"]?.includes('<span class="badge done">done</span>');
    }, async () => {
      const answer = await callXmlRpc(`${url}/`, "front_desk", [order("live-1", { Steps: 12 })]) as Struct;
      jobNumber = answer.Job as number;
    });
    assert(seen.length >= 2, `progress came in steps: ${seen}`);
    assert(seen.every((value, i) => i === 0 || value >= seen[i - 1]), `progress only grows: ${seen}`);
    const sections = last.sections as Record<string, string>;
    assertStringIncludes(sections["live-recent"], "live-1");
    assertStringIncludes(sections["live-recent"], "100 %");
    assertStringIncludes(sections["live-running"], "No job is running.");
    // The poll a page falls back to gives the same update.
    const polled = await (await fetch(`${url}/live`)).json();
    assertEquals(polled.key, last.key);
    assertEquals(daemon.runner !== null, true);
  });
});

Deno.test("a daemon with a page streaming stops at once", async () => {
  const root = await tempRoot();
  const daemon = await startDaemon(toyDaemon, configFor(root), { liveIntervalMs: 50 });
  try {
    const response = await fetch(`${base(daemon)}/events`);
    const reader = response.body!.getReader();
    await reader.read();
    // The stream ends with the daemon rather than holding it open (stop would not resolve otherwise).
    await daemon.stop();
    const end = await reader.read().then((r) => r.done, () => "reset");
    assert(end === true || end === "reset", `the stream ended: ${end}`);
  } finally {
    await daemon.stop();
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("cross-site requests cannot act: Origin, Sec-Fetch-Site, forms without the page's token, preflights", async () => {
  await withToy(async (daemon) => {
    const url = base(daemon);
    const evil = { origin: "http://evil.example" };
    const forged = await postJson(`${url}/api/work-orders`, order("forged-1"), evil);
    assertEquals(forged.status, 403);
    assertStringIncludes(forged.json.error.message, "cross-site request");
    const fetched = await postJson(`${url}/api/work-orders`, order("forged-2"), {
      "sec-fetch-site": "cross-site",
    });
    assertEquals(fetched.status, 403);
    const nullOrigin = await postJson(`${url}/api/work-orders`, order("forged-3"), { origin: "null" });
    assertEquals(nullOrigin.status, 403);
    // A plain form another site posts: no token, and text/plain JSON is not JSON here.
    const form = (fields: Record<string, string>, headers: Record<string, string> = {}) =>
      fetch(`${url}/actions/work-order`, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded", ...headers },
        body: new URLSearchParams(fields),
        redirect: "manual",
      });
    const noToken = await form({ ID: "forged-4", WOType: "Calibration", "File Location": "/anywhere" });
    assertEquals(noToken.status, 403);
    assertStringIncludes(await noToken.text(), "form token is missing or old");
    const textPlain = await fetch(`${url}/api/work-orders`, {
      method: "POST",
      headers: { "content-type": "text/plain" },
      body: JSON.stringify(order("forged-5")),
    });
    assertEquals(textPlain.status, 415);
    await textPlain.body?.cancel();
    const token = formTokenOf((await getText(`${url}/`)).text);
    const crossWithToken = await form(
      { csrf: token, ID: "forged-6", WOType: "Calibration", "File Location": "/anywhere" },
      evil,
    );
    assertEquals(crossWithToken.status, 403, "even with the token, another origin cannot post the form");
    await crossWithToken.body?.cancel();
    assertEquals((await callXmlRpc(`${url}/`, "list_jobs", []) as Struct[]).length, 0, "nothing was queued");

    // The page's own form: same origin, with its token; answered by going to the job's page.
    const own = await form(
      { csrf: token, ID: "own-1", WOType: "Calibration", "File Location": "/anywhere", Priority: "7" },
      { origin: url, "sec-fetch-site": "same-origin" },
    );
    assertEquals([own.status, own.headers.get("location")], [303, "/jobs/1"]);
    await own.body?.cancel();
    assertEquals((await callXmlRpc(`${url}/`, "job_status", [1]) as Struct).Priority, 7);
    const refusedForm = await form({ csrf: token, ID: "own-2", WOType: "Calibration", Priority: "12" });
    assertEquals(refusedForm.status, 400);
    assertStringIncludes(
      await refusedForm.text(),
      "Work order key &quot;Priority&quot;: 12 is not a number from 0 to 10 (or nil) (fault -32602)",
    );
    const cancel = await fetch(`${url}/actions/jobs/1/cancel`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ csrf: token }),
      redirect: "manual",
    });
    assertEquals(cancel.status, 303);
    assertEquals((await callXmlRpc(`${url}/`, "job_status", [1]) as Struct).Status, "cancelled");

    // A script on another site needs a preflight to send JSON, and gets no leave to.
    const preflight = await fetch(`${url}/api/work-orders`, {
      method: "OPTIONS",
      headers: {
        ...evil,
        "access-control-request-method": "POST",
        "access-control-request-headers": "content-type",
      },
    });
    await preflight.body?.cancel();
    assertEquals(preflight.headers.get("access-control-allow-origin"), null);
    const formPreflight = await fetch(`${url}/actions/work-order`, {
      method: "OPTIONS",
      headers: { ...evil, "access-control-request-method": "POST" },
    });
    await formPreflight.body?.cancel();
    assertEquals(formPreflight.headers.get("access-control-allow-origin"), null);
    // XML-RPC's own preflight is as it was (Security: CORS Origin, "*" by default).
    const rpcPreflight = await fetch(`${url}/RPC2`, {
      method: "OPTIONS",
      headers: { ...evil, "access-control-request-method": "POST" },
    });
    await rpcPreflight.body?.cancel();
    assertEquals(rpcPreflight.headers.get("access-control-allow-origin"), "*");
    // Reading the JSON API from another site is what Security: CORS Origin allows, as for XML-RPC.
    const read = await fetch(`${url}/api/jobs`, { headers: evil });
    assertEquals(read.headers.get("access-control-allow-origin"), "*");
    await read.body?.cancel();
    // Clients that are not browsers send no Origin and act as they do over XML-RPC.
    assertEquals((await postJson(`${url}/api/work-orders`, order("script-1"))).status, 200);
  }, { runJobs: false });
});

Deno.test("the origin Security: CORS Origin names may act through the JSON API (after its preflight)", async () => {
  const trusted = "https://ops.example";
  await withToy(async (daemon) => {
    const url = base(daemon);
    const preflight = await fetch(`${url}/api/work-orders`, {
      method: "OPTIONS",
      headers: { origin: trusted, "access-control-request-method": "POST" },
    });
    await preflight.body?.cancel();
    assertEquals(preflight.headers.get("access-control-allow-origin"), trusted);
    assertEquals(preflight.headers.get("access-control-allow-headers"), "content-type, authorization");
    const sent = await postJson(`${url}/api/work-orders`, order("ops-1"), {
      origin: trusted,
      "sec-fetch-site": "cross-site",
    });
    assertEquals([sent.status, sent.json.Job], [200, 1]);
    assertEquals(sent.headers.get("access-control-allow-origin"), trusted);
    assertEquals(
      (await postJson(`${url}/api/work-orders`, order("x"), { origin: "https://other.example" })).status,
      403,
    );
  }, { runJobs: false, security: { corsOrigin: trusted } });
});

Deno.test("with a token the window asks for it as XML-RPC does; /health stays open", async () => {
  const token = "s3cret-token";
  await withToy(async (daemon) => {
    const url = base(daemon);
    const anonymous = await getText(`${url}/`);
    assertEquals(anonymous.status, 401);
    assertStringIncludes(anonymous.headers.get("www-authenticate") ?? "", "Basic");
    for (const path of ["/rpc", "/events", "/live", "/api/jobs", "/jobs/1"]) {
      const response = await fetch(`${url}${path}`);
      await response.body?.cancel();
      assertEquals(response.status, 401, path);
    }
    const refused = await postJson(`${url}/api/work-orders`, order("t-1"));
    assertEquals(refused.status, 401, "an action without the token");
    const basic = { authorization: `Basic ${btoa(`toros:${token}`)}` };
    const page = await getText(`${url}/`, basic);
    assertEquals(page.status, 200);
    assertStringIncludes(page.text, "Actions need the daemon's token");
    const bearer = { authorization: `Bearer ${token}` };
    assertEquals((await postJson(`${url}/api/work-orders`, order("t-1"), bearer)).status, 200);
    assertEquals(
      (await postJson(`${url}/api/work-orders`, order("t-2"), { authorization: "Bearer nope" })).status,
      401,
    );
    // A forged request carrying the browser's remembered credentials is still cross-site.
    assertEquals(
      (await postJson(`${url}/api/work-orders`, order("t-3"), { ...basic, origin: "http://evil.example" }))
        .status,
      403,
    );
    const health = await fetch(`${url}/health`);
    assertEquals([health.status, (await health.json()).status], [200, "ok"]);
  }, { runJobs: false, security: { token } });
});

Deno.test("the preprocessor's catalog API gives products a page at a time, and refuses a bad page", async () => {
  const root = await tempRoot();
  const config = configFor(root);
  const store = await openStore(config.database);
  const night = await store.upsertNight(`${root}/2026-11-24`, { date: "2026-11-24" });
  for (let i = 0; i < 25; i++) {
    await store.replaceProduct({
      nightId: night.id,
      kind: "calibrated_light",
      path: `${root}/2026-11-24/products/calib_${String(i).padStart(3, "0")}.fits`,
      filter: "V",
      exposureTime: 60,
      width: 16,
      height: 16,
      binning: "1x1",
      nCombined: 1,
      checksum: null,
      dateObs: null,
      warnings: [],
      inputExposureIds: [],
      usedProductIds: [],
    });
  }
  await store.close();
  const service = await startPreprocessor(config, { runJobs: false });
  try {
    const url = `http://127.0.0.1:${service.port}`;
    const first = await (await fetch(`${url}/api/products?limit=10`)).json();
    assertEquals([first.products.length, first.total, first.next], [
      10,
      25,
      "/api/products?limit=10&offset=10",
    ]);
    const last = await (await fetch(`${url}${first.next.replace("offset=10", "offset=20")}`)).json();
    assertEquals([last.products.length, last.next], [5, null]);
    assertEquals(
      (await (await fetch(`${url}/api/products`)).json()).products.length,
      25,
      "100 a page by default",
    );
    const ofNight = await (await fetch(`${url}/api/products?night=${night.id}&kind=calibrated_light&limit=1`))
      .json();
    assertEquals(ofNight.products[0].path.endsWith("calib_000.fits"), true);
    for (const query of ["limit=0", "limit=100000", "offset=-1", "kind=flat", "night=x"]) {
      const response = await fetch(`${url}/api/products?${query}`);
      assertEquals([response.status, (await response.json()).error.code], [400, -32602], query);
    }
    const nights = await (await fetch(`${url}/api/nights`)).json();
    assertEquals([nights.total, nights.nights[0].products], [1, 25]);
    const one = await (await fetch(`${url}/api/products/${first.products[0].id}`)).json();
    assertEquals([one.previewState, one.preview], ["missing", null]);
    assertStringIncludes(one.header.error, "calib_024.fits");
    const page = await getText(`${url}/products/${first.products[0].id}`);
    assertStringIncludes(page.text, "No preview yet: previews are made on the reduction thread");
    const nightPage = await getText(`${url}/nights/${night.id}`);
    assertStringIncludes(nightPage.text, "no preview yet");
    assertEquals((await getText(`${url}/products/999`)).status, 404);
    assertEquals(
      await fetch(`${url}/previews/1/large.png`).then(async (r) => (await r.body?.cancel(), r.status)),
      404,
    );
  } finally {
    await service.stop();
    await Deno.remove(root, { recursive: true });
  }
});

/** Every service address of `config` on a port nothing listens on (the scheduler finds nobody there). */
function nobodyThere(config: TorosConfig): void {
  for (const address of ["preprocessorAddress", "telescopeAddress", "domeAddress"] as const) {
    config[address] = { http: "http://127.0.0.1:9/", ip: "127.0.0.1", port: 9 };
  }
}

Deno.test("the scheduler's page shows tonight's plan: each order's state, why it waits, when it can be observed", async () => {
  const root = await tempRoot();
  const config = configFor(root);
  config.schedulerAddress = { http: "http://127.0.0.1:0/", ip: "127.0.0.1", port: 0 };
  nobodyThere(config);
  // A dark hour at the default site (25.99 N, 97.57 W): 22:00 local on 2026-11-30.
  const daemon = await startDaemon(schedulerDaemon, config, { at: new Date("2026-12-01T04:00:00Z") });
  try {
    const url = base(daemon);
    const observation = (id: string, ra: number, dec: number) => ({
      ID: id,
      WOType: "Observation",
      "Telescope Name": "CTMO",
      RA: ra,
      Dec: dec,
      Filter: "V",
      "Exposure Time": 10,
      "Number of Exposures": 2,
      "Type of job": "Research",
    });
    await postJson(`${url}/api/work-orders`, observation("orion", 5.59, -5.39));
    await postJson(`${url}/api/work-orders`, observation("never-up", 12, -80));
    // The dispatcher looks at new orders at once; wait until it has judged both.
    for (let i = 0; i < 500; i++) {
      const jobs = (await (await fetch(`${url}/api/jobs`)).json()).jobs as Struct[];
      if (jobs.every((job) => job.State !== "received")) break;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const page = await getText(`${url}/`);
    const plan = page.text.slice(page.text.indexOf('<section id="plan">'));
    assertStringIncludes(plan, "<h2>Tonight&#39;s plan</h2>");
    assertStringIncludes(plan, "Tonight (2026-11-30) is dark");
    assertStringIncludes(plan, "Waiting (2), in the order they would go");
    assertStringIncludes(plan, "unobservable tonight");
    assertStringIncludes(plan, "not tonight:");
    assert(/orion[\s\S]*\d\d:\d\d–\d\d:\d\d UTC/.test(plan), "when Orion can be observed tonight");
    assertStringIncludes(plan, "Type of job Research: 5", "how its priority was made");
    const job = await getText(`${url}/jobs/2`);
    assertStringIncludes(job.text, "<dt>State</dt><dd>unobservable tonight</dd>");
  } finally {
    await daemon.stop();
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("the telescope's page shows its devices (none seen before an order) and takes Observation orders as JSON", async () => {
  const root = await tempRoot();
  const config = configFor(root);
  config.telescopeAddress = { http: "http://127.0.0.1:0/", ip: "127.0.0.1", port: 0 };
  const daemon = await startDaemon(telescopeDaemon, config, { runJobs: false });
  try {
    const page = await getText(`${base(daemon)}/`);
    const telescope = page.text.slice(page.text.indexOf('<section id="telescope">'));
    assertStringIncludes(telescope, "<h2>Telescope</h2>");
    assertStringIncludes(telescope, "not connected yet (no job has run)");
    assertStringIncludes(telescope, "No order is being carried out.");
    assert(!page.text.includes('id="calibrate"'), "no calibration form on a daemon that takes none");
    assertStringIncludes(page.text, 'data-json-field="order"');
    assertStringIncludes(page.text, "Any work order, as JSON (observation)");
  } finally {
    await daemon.stop();
    await Deno.remove(root, { recursive: true });
  }
});
