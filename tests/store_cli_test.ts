import { assert, assertEquals, assertStringIncludes } from "./_assert.ts";
import { openStore } from "../lib/store/mod.ts";

const MAIN = new URL("../main.ts", import.meta.url).pathname;

async function toros(args: string[]) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", MAIN, ...args],
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  return {
    code: out.code,
    stdout: new TextDecoder().decode(out.stdout),
    stderr: new TextDecoder().decode(out.stderr),
  };
}

Deno.test("toros products and nights show the catalog with provenance", async () => {
  const dir = await Deno.makeTempDir({ prefix: "toros-cli-store-" });
  try {
    const nightDir = `${dir}/2026-11-24`;
    await Deno.mkdir(nightDir);
    const config = `${dir}/toros.conf.yaml`;
    await Deno.writeTextFile(
      config,
      `Database: {File: ${dir}/toros.sqlite3}\nLogging: {File: ${dir}/toros.log}\n`,
    );
    const store = await openStore({ file: `${dir}/toros.sqlite3` });
    const night = await store.upsertNight(nightDir, { date: "2026-11-24" });
    const bias = await store.upsertExposure({
      nightId: night.id,
      fileName: "bias_001.fits",
      contentHash: "h",
      size: 1,
      imageType: "bias",
      filter: null,
      exposureTime: 0,
      width: 8,
      height: 8,
      binning: "1x1",
      dateObs: null,
      status: "ok",
      error: null,
    });
    const master = await store.replaceProduct({
      nightId: night.id,
      kind: "master_bias",
      path: `${nightDir}/products/master_bias.fits`,
      filter: null,
      exposureTime: null,
      width: 8,
      height: 8,
      binning: "1x1",
      nCombined: 1,
      checksum: null,
      dateObs: null,
      warnings: [],
      inputExposureIds: [bias.id],
      usedProductIds: [],
    });
    await store.replaceProduct({
      nightId: night.id,
      kind: "calibrated_light",
      path: `${nightDir}/products/calib_m42.fits`,
      filter: "V",
      exposureTime: 30,
      width: 8,
      height: 8,
      binning: "1x1",
      nCombined: 1,
      checksum: null,
      dateObs: null,
      warnings: ["no flat for filter V"],
      inputExposureIds: [],
      usedProductIds: [master.id],
    });
    await store.close();

    const text = await toros(["products", nightDir, "--config", config]);
    assertEquals(text.code, 0, text.stderr);
    assertStringIncludes(text.stdout, "master_bias");
    assertStringIncludes(text.stdout, "from: bias_001.fits");
    assertStringIncludes(text.stdout, "used: master_bias.fits");
    assertStringIncludes(text.stdout, "warning: no flat for filter V");
    const json = JSON.parse((await toros(["products", "--json", "--config", config])).stdout);
    assertEquals(json.length, 2);
    const nights = await toros(["nights", "--config", config]);
    assertEquals(nights.code, 0);
    assert(/2026-11-24\s+1\s+2\s+/.test(nights.stdout), nights.stdout);
    const unknown = await toros(["products", `${dir}/nowhere`, "--config", config]);
    assertEquals(unknown.code, 1);
    assertStringIncludes(unknown.stderr, "no night");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("toros nights reports an unreachable database with a clean message and exit 1", async () => {
  const dir = await Deno.makeTempDir({ prefix: "toros-cli-store-" });
  try {
    const config = `${dir}/toros.conf.yaml`;
    await Deno.writeTextFile(config, `Database: {URL: "postgres://toros:secret@127.0.0.1:1/toros"}\n`);
    const result = await toros(["nights", "--config", config]);
    assertEquals(result.code, 1);
    assertStringIncludes(result.stderr, "127.0.0.1:1");
    assert(!result.stderr.includes("secret"));
    assert(!result.stderr.includes("    at "), "no stack trace");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
