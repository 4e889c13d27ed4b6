/**
 * The preprocessor's window in a real browser (Debian's chromium, driven by
 * playwright-core): a night submitted from the form is followed to 100 %
 * without reloading, a product's preview loads, the provenance links lead to
 * the masters and raw frames, a phone never scrolls sideways; another site's
 * forged form and scripts are refused; with a token the browser asks for it,
 * and the page falls back to polling when it has no EventSource. Screenshots
 * are kept in tests/artifacts/web/ (git-ignored) and their paths printed.
 */
/// <reference lib="dom" />
import { chromium } from "playwright-core";
import type { BrowserContext, Page } from "playwright-core";
import { assert, assertEquals, assertStringIncludes } from "./_assert.ts";
import { CHROMIUM, peerTest } from "./_peers.ts";
import { defaultConfig, type TorosConfig } from "../lib/config.ts";
import { simulateNight } from "../services/preprocessor/simulate.ts";
import { startPreprocessor } from "../services/preprocessor/serve_command.ts";
import { callXmlRpc, type XmlRpcValue } from "../lib/xmlrpc/mod.ts";

type Struct = Record<string, XmlRpcValue>;

const ARTIFACTS = new URL("./artifacts/web/", import.meta.url).pathname;

/** A fresh chromium with a profile of its own (removed by `close`). */
async function launch(
  options: { httpCredentials?: { username: string; password: string } } = {},
): Promise<{ context: BrowserContext; close: () => Promise<void> }> {
  const profile = await Deno.makeTempDir({ prefix: "toros-chromium-" });
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
    viewport: { width: 1280, height: 900 },
    httpCredentials: options.httpCredentials,
  });
  return {
    context,
    close: async () => {
      await context.close();
      await Deno.remove(profile, { recursive: true });
    },
  };
}

async function screenshot(page: Page, name: string): Promise<void> {
  await Deno.mkdir(ARTIFACTS, { recursive: true });
  const path = `${ARTIFACTS}${name}.png`;
  await page.screenshot({ path, fullPage: true });
  console.log(`screenshot: ${path}`);
}

async function setup(token: string | null = null) {
  const root = await Deno.realPath(await Deno.makeTempDir({ prefix: "toros-browser-" }));
  const config: TorosConfig = defaultConfig(`${root}/state`);
  config.preprocessorAddress = { http: "http://127.0.0.1:0/", ip: "127.0.0.1", port: 0 };
  config.data.roots = [`${root}/data`];
  config.logging.file = "";
  config.security.token = token;
  await Deno.mkdir(`${root}/data`);
  return { root, config };
}

/** Whether the page is wider than the window (it would scroll sideways). */
function scrollsSideways(page: Page): Promise<boolean> {
  return page.evaluate(() => document.documentElement.scrollWidth > globalThis.innerWidth);
}

await peerTest(
  "in a browser: a night from the form reaches 100 % live, its product's preview loads, provenance links lead on",
  ["chromium"],
  async () => {
    const { root, config } = await setup();
    const night = `${config.data.roots[0]}/2026-11-24`;
    await simulateNight(night, { size: 256, bias: 5, darks: 5, flatsPerFilter: 5, lights: 8 });
    const service = await startPreprocessor(config);
    const url = `http://127.0.0.1:${service.port}`;
    const browser = await launch();
    try {
      const page = await browser.context.newPage();
      await page.goto(`${url}/`);
      // A mark that survives only as long as the page is not reloaded.
      await page.evaluate(() => Object.assign(globalThis, { notReloaded: true }));
      // Every percentage the page shows for job 1, as it changes.
      await page.evaluate(() => {
        const seen: string[] = [];
        Object.assign(globalThis, { seenProgress: seen });
        new MutationObserver(() => {
          for (const el of document.querySelectorAll('[data-percent="1"]')) {
            const text = el.textContent ?? "";
            if (seen[seen.length - 1] !== text) seen.push(text);
          }
        }).observe(document.body, { subtree: true, childList: true, characterData: true });
      });
      await page.fill('#calibrate input[name="File Location"]', night);
      await page.fill('#calibrate input[name="ID"]', "night-from-the-page");
      await page.click('#calibrate button[type="submit"]');
      await page.waitForFunction(() =>
        /Job 1: queued/.test(document.querySelector("#calibrate [data-result]")!.textContent ?? "")
      );
      await page.waitForFunction(
        () => {
          const row = [...document.querySelectorAll("#live-recent tr")].find((tr) =>
            tr.querySelector('a[href="/jobs/1"]')
          );
          return !!row && /100 %/.test(row.textContent ?? "") && /done/.test(row.textContent ?? "");
        },
        null,
        { timeout: 120_000 },
      );
      assertEquals(await page.evaluate(() => (globalThis as { notReloaded?: boolean }).notReloaded), true);
      const seen = await page.evaluate(() =>
        (globalThis as unknown as { seenProgress: string[] }).seenProgress
      );
      assert(seen.some((text) => text !== "0 %" && text !== "100 %"), `progress seen on the way: ${seen}`);
      assertEquals(await page.textContent("[data-live-state]"), "live");
      // The night and its thumbnails appear on the page as the job ends, still without reloading.
      await page.waitForSelector('#nights a[href="/nights/1"]');
      await page.locator("#nights img").first().scrollIntoViewIfNeeded();
      await page.waitForFunction(() =>
        (document.querySelector("#nights img") as HTMLImageElement | null)?.naturalWidth! > 0
      );
      assertEquals(await page.evaluate(() => (globalThis as { notReloaded?: boolean }).notReloaded), true);
      await screenshot(page, "1-status-page-done");

      // The job's page, then a calibrated light's page with its preview.
      await page.click('#live-recent a[href="/jobs/1"]');
      await page.waitForSelector("#products");
      assertStringIncludes(await page.textContent("#stages") ?? "", "calibrated_lights");
      await screenshot(page, "2-job-page");
      await page.click('#products a:has-text("calib_light_001.fits")');
      await page.waitForFunction(() => {
        const image = document.getElementById("preview") as HTMLImageElement | null;
        return !!image && image.complete && image.naturalWidth > 0;
      });
      const size = await page.evaluate(() => {
        const image = document.getElementById("preview") as HTMLImageElement;
        return [image.naturalWidth, image.naturalHeight];
      });
      assertEquals(size, [256, 256], "the large preview of a 256² product is the product's size");
      assertStringIncludes(await page.textContent("#header") ?? "", "SIMPLE  =");
      await screenshot(page, "3-product-page");

      // Provenance: the flat it was calibrated with, then one of the raw flats the master was made from.
      await page.click('#provenance a:has-text("master_flat_V.fits")');
      await page.waitForFunction(() => document.querySelector("h2")?.textContent === "master_flat_V.fits");
      await page.waitForFunction(() =>
        (document.getElementById("preview") as HTMLImageElement | null)?.naturalWidth! > 0
      );
      assertStringIncludes(await page.textContent("#used-by") ?? "", "calib_light_001.fits");
      await page.click('#provenance a:has-text("flat_V_001.fits")');
      await page.waitForFunction(() => /\(raw\)/.test(document.querySelector("h2")?.textContent ?? ""));
      assertStringIncludes(await page.textContent("#header") ?? "", "IMAGETYP");
      assertStringIncludes(await page.textContent("#products") ?? "", "master_flat_V.fits");
      await screenshot(page, "4-raw-exposure-page");

      // On a phone: nothing scrolls sideways, on the status page nor on a product's.
      const phone = await browser.context.newPage();
      await phone.setViewportSize({ width: 375, height: 740 });
      for (const [path, name] of [["/", "5-phone-status"], ["/products/4", "6-phone-product"]]) {
        await phone.goto(`${url}${path}`);
        assertEquals(await scrollsSideways(phone), false, `${path} scrolls sideways on a phone`);
        await screenshot(phone, name);
      }

      // Another site (another origin: another port) forges the form and tries its scripts.
      const forged = { ID: "forged", WOType: "Calibration", "File Location": night };
      const attacker = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, () =>
        new Response(
          `<!DOCTYPE html><html><body><form id="f" method="post" action="${url}/actions/work-order">
${Object.entries(forged).map(([name, value]) => `<input name="${name}" value="${value}">`).join("")}</form>
<script>
const order = ${JSON.stringify(JSON.stringify({ ...forged, ID: "forged-script" }))};
fetch("${url}/api/work-orders", { method: "POST", mode: "no-cors", headers: { "content-type": "text/plain" }, body: order })
  .catch(() => {})
  .then(() => fetch("${url}/api/work-orders", { method: "POST", headers: { "content-type": "application/json" }, body: order }))
  .catch(() => {})
  .finally(() => document.getElementById("f").submit());
</script></body></html>`,
          { headers: { "content-type": "text/html" } },
        ));
      try {
        const evil = await browser.context.newPage();
        await evil.goto(`http://127.0.0.1:${attacker.addr.port}/`);
        await evil.waitForURL(`${url}/actions/work-order`);
        assertStringIncludes(await evil.textContent("main") ?? "", "cross-site request");
        await screenshot(evil, "7-forged-form-refused");
      } finally {
        await attacker.shutdown();
      }
      const jobs = await callXmlRpc(`${url}/`, "list_jobs", []) as Struct[];
      assertEquals(jobs.map((job) => job.ID), ["night-from-the-page"], "nothing forged was queued");
    } finally {
      await browser.close();
      await service.stop();
      await Deno.remove(root, { recursive: true });
    }
  },
);

await peerTest(
  "in a browser with a token: asked for, then the form and a cancel work, by polling without EventSource",
  ["chromium"],
  async () => {
    const token = "browser-s3cret";
    const { root, config } = await setup(token);
    const night = `${config.data.roots[0]}/2026-11-25`;
    await Deno.mkdir(night);
    // Jobs stay queued (no runner), so one can be cancelled from the page.
    const service = await startPreprocessor(config, { runJobs: false });
    const url = `http://127.0.0.1:${service.port}`;
    const stranger = await launch();
    const operator = await launch({ httpCredentials: { username: "toros", password: token } });
    try {
      // A browser without the token is asked for it (headless chromium gives up on the question).
      const refused = await (await stranger.context.newPage()).goto(`${url}/`).then(
        (response) => `HTTP ${response?.status()}`,
        (error) => /ERR_INVALID_AUTH_CREDENTIALS/.test(String(error)) ? "HTTP 401" : String(error),
      );
      assertEquals(refused, "HTTP 401");

      const page = await operator.context.newPage();
      await page.addInitScript(() => Object.assign(globalThis, { EventSource: undefined }));
      page.on("dialog", (dialog) => dialog.accept());
      await page.goto(`${url}/`);
      await page.fill('#calibrate input[name="File Location"]', night);
      await page.fill('#calibrate input[name="Priority"]', "7.5");
      await page.click('#calibrate button[type="submit"]');
      await page.waitForFunction(() =>
        /Job 1: queued/.test(document.querySelector("#calibrate [data-result]")!.textContent ?? "")
      );
      await page.waitForSelector('#live-queue a[href="/jobs/1"]');
      assertEquals(
        (await callXmlRpc(`${url.replace("http://", `http://toros:${token}@`)}/`, "job_status", [
          1,
        ]) as Struct).Priority,
        7.5,
      );
      await page.click('#live-queue button:has-text("Cancel")');
      await page.waitForFunction(() => {
        const row = [...document.querySelectorAll("#live-recent tr")].find((tr) =>
          tr.querySelector('a[href="/jobs/1"]')
        );
        return !!row && /cancelled/.test(row.textContent ?? "");
      });
      assertEquals(await page.textContent("[data-live-state]"), "updated every 2 s", "the page polled");
      await screenshot(page, "8-token-polling-cancelled");
    } finally {
      await stranger.close();
      await operator.close();
      await service.stop();
      await Deno.remove(root, { recursive: true });
    }
  },
);
