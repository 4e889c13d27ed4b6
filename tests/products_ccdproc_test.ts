/**
 * Multi-extension products against the references, on a simulated night with
 * hot, dead and saturated pixels and GAIN/RDNOISE cards: SCI equals ccdproc's
 * data within 1e-4 relative as before, ERR ccdproc's propagated uncertainty
 * within 1e-3 relative (`bench/ccdproc_reduce.py --uncertainty`); the lights'
 * BPM flags ≥ 99 % of the injected hot, dead and saturated pixels with < 0.1 %
 * false flags; fitsverify has nothing to say of any product; astropy's CCDData
 * reads SCI, BPM and ERR as data, mask and uncertainty.
 */
import { assert, assertEquals } from "./_assert.ts";
import { peerTest, PYTHON } from "./_peers.ts";
import { readHdus, readImage } from "../lib/fits/mod.ts";
import { defaultConfig } from "../lib/config.ts";
import { createPixelPool } from "../lib/ccd/mod.ts";
import { simulatedDefects, simulateNight, type SimulateOptions } from "../services/preprocessor/simulate.ts";
import { ccdprocReduce, torosReduce } from "./_ccdproc.ts";

const NIGHT: SimulateOptions = {
  size: 512,
  bias: 5,
  darks: 5,
  flatsPerFilter: 4,
  lights: 3,
  filters: ["V", "R"],
  seed: 3,
  deadPixels: 0.002,
  saturatedPixels: 0.001,
};

/**
 * Largest |ours − theirs| / max(|theirs|, floor) over pixels finite in both, the
 * pixels where the floor was the larger, and NaN pixels of one only.
 */
function relative(
  ours: Float32Array,
  theirs: Float32Array,
  floor: number,
): { worst: number; floored: number; nanMismatch: number } {
  let worst = 0;
  let floored = 0;
  let nanMismatch = 0;
  for (let p = 0; p < ours.length; p++) {
    const [a, b] = [ours[p], theirs[p]];
    if (Number.isNaN(a) || Number.isNaN(b)) {
      if (Number.isNaN(a) !== Number.isNaN(b)) nanMismatch++;
      continue;
    }
    if (Math.abs(b) < floor) floored++;
    const d = Math.abs(a - b) / Math.max(Math.abs(b), floor);
    if (d > worst) worst = d;
  }
  return { worst, floored, nanMismatch };
}

/** The median of the finite values. */
function medianOfFinite(values: Float32Array): number {
  const finite = Float64Array.from(values.filter((v) => Number.isFinite(v))).sort();
  return finite[finite.length >> 1];
}

await peerTest(
  "SCI and ERR equal ccdproc's, BPM flags the injected defects, fitsverify and CCDData accept every product",
  [
    "ccdproc",
    "fitsverify",
  ],
  async () => {
    const dir = await Deno.makeTempDir({ prefix: "toros-mef-" });
    const pool = createPixelPool(2);
    try {
      const night = `${dir}/2026-11-24`;
      await simulateNight(night, NIGHT);
      const reduction = defaultConfig(dir).reduction;
      await torosReduce(night, `${dir}/toros`, reduction, pool);
      await ccdprocReduce(night, `${dir}/ccdproc`, reduction.flatFloor, ["--uncertainty"]);

      // SCI as before and ERR as ccdproc propagates it, product by product.
      const names = [...Deno.readDirSync(`${dir}/ccdproc`)].map((e) => e.name).sort();
      assertEquals(names.length, 1 + 1 + 2 + 3);
      for (const name of names) {
        const hdus = await readHdus(`${dir}/toros/${name}`);
        assertEquals(hdus.map((hdu) => hdu.name), ["SCI", "BPM", "ERR"], name);
        const [sci, err] = [0, 2].map((hdu) => readImage(`${dir}/toros/${name}`, { hdu }));
        const [data, error] = [0, 1].map((hdu) => readImage(`${dir}/ccdproc/${name}`, { hdu }));
        // SCI relative to max(|value|, 1 ADU), as the reduction always was held (a dark's values lie near 0).
        // ERR relative to itself, but no finer than float32 values allow: a master's median absolute
        // deviation that happens to be near 0 is made of differences of float32 inputs, each rounded by
        // 2^-24 of its size, so ERR is held to 1e-3 of max(ERR, 1000 · 2^-24 · the product's median |SCI|).
        const reference = (await data).data;
        const science = relative((await sci).data, reference, 1);
        const theirs = (await error).data;
        const floor = 1000 * 2 ** -24 * medianOfFinite(reference.map(Math.abs));
        const uncertainty = relative((await err).data, theirs, floor);
        console.log(
          `${name}: SCI worst ${science.worst.toExponential(2)}, ERR worst ${
            uncertainty.worst.toExponential(2)
          } (${uncertainty.floored} pixels with ERR under ${floor.toPrecision(2)})`,
        );
        assertEquals([science.nanMismatch, uncertainty.nanMismatch], [0, 0], `${name}: NaN pixels differ`);
        assert(science.worst <= 1e-4, `${name}: SCI worst ${science.worst}`);
        assert(uncertainty.worst <= 1e-3, `${name}: ERR worst ${uncertainty.worst}`);
      }

      // The lights' masks against what the night was given.
      const { hot, dead } = simulatedDefects(NIGHT);
      const raws = [...Deno.readDirSync(night)].map((e) => e.name).filter((n) => n.startsWith("light_"))
        .sort();
      const found = { hot: 0, dead: 0, saturated: 0 };
      const injected = { hot: 0, dead: 0, saturated: 0 };
      let falseFlags = 0;
      let pixels = 0;
      for (const raw of raws) {
        const values = (await readImage(`${night}/${raw}`)).data;
        const mask = (await readImage(`${dir}/toros/calib_${raw}`, { hdu: 1 })).data;
        for (let p = 0; p < mask.length; p++) {
          const saturated = values[p] >= 65535;
          if (saturated) {
            injected.saturated++;
            if (mask[p] & 2) found.saturated++;
          }
          if (hot[p]) {
            injected.hot++;
            if (mask[p] & 1) found.hot++;
          }
          if (dead[p]) {
            injected.dead++;
            if (mask[p] & 1) found.dead++;
          }
          if (mask[p] !== 0 && !saturated && !hot[p] && !dead[p]) falseFlags++;
          pixels++;
        }
      }
      console.log(
        `flagged: hot ${found.hot}/${injected.hot}, dead ${found.dead}/${injected.dead}, saturated ${found.saturated}/${injected.saturated}; ` +
          `false flags ${falseFlags} of ${pixels} (${(100 * falseFlags / pixels).toFixed(4)} %)`,
      );
      for (const kind of ["hot", "dead", "saturated"] as const) {
        assert(injected[kind] > 100, `the night has ${kind} pixels`);
        assert(found[kind] >= 0.99 * injected[kind], `${kind}: ${found[kind]} of ${injected[kind]} flagged`);
      }
      assert(falseFlags < 0.001 * pixels, `false flags: ${falseFlags} of ${pixels}`);

      // fitsverify: not one warning on any product, the bad-pixel map included.
      for (
        const name of [...Deno.readDirSync(`${dir}/toros`)].map((e) => e.name).filter((n) =>
          n.endsWith(".fits")
        )
      ) {
        const out = await new Deno.Command("fitsverify", { args: [`${dir}/toros/${name}`], stdout: "piped" })
          .output();
        const text = new TextDecoder().decode(out.stdout);
        assert(/Verification found 0 warning\(s\) and 0 error\(s\)/.test(text), `${name}:\n${text}`);
      }

      // astropy: data, mask and uncertainty, for a light and a master.
      const script = `
import sys
import numpy as np
from astropy.io import fits
from astropy.nddata import CCDData
for path in sys.argv[1:]:
    c = CCDData.read(path, hdu="SCI", hdu_mask="BPM", hdu_uncertainty="ERR")
    with fits.open(path) as hdus:
        same = np.array_equal(c.uncertainty.array, hdus["ERR"].data, equal_nan=True)
        flagged = int((hdus["BPM"].data != 0).sum())
    print(c.unit, c.data.shape, type(c.uncertainty).__name__, same, int(c.mask.sum()) == flagged)
`;
      const out = await new Deno.Command(PYTHON, {
        args: ["-c", script, `${dir}/toros/calib_light_001.fits`, `${dir}/toros/master_flat_V.fits`],
        stdout: "piped",
        stderr: "piped",
      }).output();
      assert(out.success, new TextDecoder().decode(out.stderr));
      assertEquals(new TextDecoder().decode(out.stdout).trim().split("\n"), [
        "adu (512, 512) StdDevUncertainty True True",
        "adu (512, 512) StdDevUncertainty True True",
      ]);
    } finally {
      pool.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
);
