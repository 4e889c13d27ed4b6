/**
 * The reduction against the reference: on simulated nights our masters and
 * calibrated lights equal ccdproc's standard reduction within 1e-4 relative
 * (values under 1 ADU, such as a dark's, compared at 1e-4 ADU), and every product
 * passes fitsverify with no warning.
 */
import { assert, assertEquals } from "./_assert.ts";
import { peerTest, PYTHON } from "./_peers.ts";
import { readImage } from "../lib/fits/mod.ts";
import { defaultConfig } from "../lib/config.ts";
import { openStore } from "../lib/store/mod.ts";
import { simulateNight } from "../services/preprocessor/simulate.ts";
import { reduceNight } from "../services/preprocessor/pipeline.ts";
import { createPixelPool } from "../lib/ccd/mod.ts";

const SCRIPT = new URL("../bench/ccdproc_reduce.py", import.meta.url).pathname;

async function fitsverifyClean(path: string): Promise<string | null> {
  const out = await new Deno.Command("fitsverify", { args: ["-q", path], stdout: "piped", stderr: "piped" })
    .output();
  const text = new TextDecoder().decode(out.stdout).trim();
  return text.startsWith("verification OK") ? null : text;
}

await peerTest("masters and calibrated lights equal ccdproc's within 1e-4; products pass fitsverify", [
  "ccdproc",
  "fitsverify",
], async () => {
  const dir = await Deno.makeTempDir({ prefix: "toros-ccdproc-" });
  try {
    const night = `${dir}/2026-11-24`;
    await simulateNight(night, {
      size: 96,
      bias: 5,
      darks: 5,
      flatsPerFilter: 4,
      lights: 4,
      filters: ["V", "R"],
      seed: 3,
    });
    const store = await openStore({ file: `${dir}/toros.sqlite3` });
    const pool = createPixelPool(2);
    const config = defaultConfig(dir);
    try {
      const report = await reduceNight(night, { store, reduction: config.reduction, pool });
      assertEquals(report.failed, []);
      assertEquals(report.skipped, []);
    } finally {
      pool.close();
      await store.close();
    }
    const reference = `${dir}/reference`;
    const out = await new Deno.Command(PYTHON, {
      args: [SCRIPT, night, reference, String(config.reduction.flatFloor)],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert(out.success, new TextDecoder().decode(out.stderr));
    const names = [...Deno.readDirSync(reference)].map((e) => e.name).sort();
    assertEquals(names.length, 1 + 1 + 2 + 4, "bias, dark, two flats, four lights");
    for (const name of names) {
      const ours = await readImage(`${night}/products/${name}`);
      const theirs = await readImage(`${reference}/${name}`);
      assertEquals(ours.data.length, theirs.data.length, name);
      let worst = 0;
      let nan = 0;
      for (let i = 0; i < ours.data.length; i++) {
        if (Number.isNaN(ours.data[i])) {
          nan++;
          continue;
        }
        const diff = Math.abs(ours.data[i] - theirs.data[i]) / Math.max(Math.abs(theirs.data[i]), 1);
        if (diff > worst) worst = diff;
      }
      console.log(`${name}: worst relative difference ${worst.toExponential(2)}, ${nan} NaN`);
      assert(worst <= 1e-4, `${name}: worst relative difference ${worst}`);
      assert(nan <= ours.data.length * 0.01, `${name}: ${nan} NaN pixels (saturation only)`);
      const verdict = await fitsverifyClean(`${night}/products/${name}`);
      assertEquals(verdict, null, `${name} fitsverify`);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
