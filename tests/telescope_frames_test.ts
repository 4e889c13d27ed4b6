/**
 * Filing the camera's frames: stamped headers (filter from the wheel, target,
 * order), data copied byte for byte, a fresh checksum, names that are never
 * reused, nothing half-written; astropy and fitsverify read the result.
 */
import { assert, assertEquals } from "./_assert.ts";
import { peerTest, runPython } from "./_peers.ts";
import { Header, readHdus, verifyChecksums, writeImage } from "../lib/fits/mod.ts";
import { fileFrame, type FrameStamp } from "../services/telescope/frames.ts";

const STAMP: FrameStamp = {
  kind: "light",
  filter: "V",
  object: "NGC 1068",
  telescope: "CTMO",
  observer: "Main Module",
  workOrder: "obs/17",
  target: { ra: 2.7113, dec: -0.0133 },
  exposureTime: 30,
};

/** A camera image as the INDI CCD simulator sends one: uint16, a FILTER it guessed, a checksum. */
async function cameraImage(path: string, seed: number): Promise<Float32Array> {
  const header = new Header();
  header.set("IMAGETYP", "Light Frame");
  header.set("FILTER", "R", "the camera's guess");
  header.set("EXPTIME", 30);
  const data = new Float32Array(40 * 30).map((_, i) => (i * 7 + seed) % 60000);
  await writeImage(path, header, data, { width: 40, height: 30, bitpix: 16, unsigned: true });
  return data;
}

async function dataBytes(path: string): Promise<Uint8Array> {
  const [hdu] = await readHdus(path);
  const bytes = await Deno.readFile(path);
  return bytes.subarray(hdu.dataOffset);
}

Deno.test("a camera frame is filed stamped, its data untouched, under a name never reused", async () => {
  const root = await Deno.makeTempDir({ prefix: "toros-frames-" });
  try {
    const night = `${root}/2026-11-30`;
    await cameraImage(`${root}/blob1.fits`, 1);
    const originalData = await dataBytes(`${root}/blob1.fits`);
    const first = await fileFrame(`${root}/blob1.fits`, night, STAMP);
    assertEquals(first, `${night}/light_obs-17_V_001.fits`);
    await cameraImage(`${root}/blob2.fits`, 2);
    // A frame already there (an earlier run of the same order) keeps its name and bytes.
    const earlier = await Deno.readFile(first);
    const second = await fileFrame(`${root}/blob2.fits`, night, STAMP);
    assertEquals(second, `${night}/light_obs-17_V_002.fits`);
    assertEquals(await Deno.readFile(first), earlier);
    assertEquals([...Deno.readDirSync(night)].map((e) => e.name).sort(), [
      "light_obs-17_V_001.fits",
      "light_obs-17_V_002.fits",
    ], "no temporary file is left");
    assertEquals(
      [...Deno.readDirSync(root)].map((e) => e.name),
      ["2026-11-30"],
      "the camera's files are gone",
    );
    const [hdu] = await readHdus(first);
    const h = hdu.header;
    assertEquals(
      [
        h.get("IMAGETYP"),
        h.get("FILTER"),
        h.get("OBJECT"),
        h.get("TELESCOP"),
        h.get("OBSERVER"),
        h.get("WORKORD"),
      ],
      ["Light Frame", "V", "NGC 1068", "CTMO", "Main Module", "obs/17"],
    );
    assertEquals([h.get("OBJCTRA"), h.get("OBJCTDEC"), h.get("EQUINOX")], [
      "02:42:40.68",
      "-00:00:47.9",
      2000,
    ]);
    assertEquals(h.get("RA"), 40.6695);
    assertEquals(await dataBytes(first), originalData, "the pixels are copied byte for byte");
    const bytes = await Deno.readFile(first);
    assertEquals(
      verifyChecksums(bytes.subarray(0, hdu.dataOffset), bytes.subarray(hdu.dataOffset), h),
      { datasumOk: true, checksumOk: true },
      "the checksum is made again for the stamped header",
    );
    const dark = await fileFrame(
      (await cameraImage(`${root}/blob3.fits`, 3), `${root}/blob3.fits`),
      night,
      { ...STAMP, kind: "dark", filter: null, target: null },
    );
    assertEquals(dark, `${night}/dark_obs-17_30s_001.fits`);
    const [darkHdu] = await readHdus(dark);
    assertEquals([darkHdu.header.get("IMAGETYP"), darkHdu.header.has("FILTER")], ["Dark Frame", false]);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("an image that is not FITS is refused with the reason and nothing is filed", async () => {
  const root = await Deno.makeTempDir({ prefix: "toros-frames-" });
  try {
    await Deno.writeTextFile(`${root}/blob.fits`, "not a FITS file at all");
    const error = await fileFrame(`${root}/blob.fits`, `${root}/night`, STAMP).catch((e) => e);
    assert(error instanceof Error && error.message.startsWith("The camera's image is not a FITS file"));
    assertEquals(await Deno.stat(`${root}/night`).then(() => true, () => false), false);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

await peerTest("astropy and fitsverify read a filed frame: checksums valid, cards as stamped", [
  "astropy",
  "fitsverify",
], async () => {
  const root = await Deno.makeTempDir({ prefix: "toros-frames-" });
  try {
    const data = await cameraImage(`${root}/blob.fits`, 5);
    const path = await fileFrame(`${root}/blob.fits`, `${root}/night`, STAMP);
    const out = JSON.parse(
      await runPython(
        `import sys, json, warnings
from astropy.io import fits
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    with fits.open(sys.argv[1], checksum=True) as f:
        h = f[0].header
        print(json.dumps({"filter": h["FILTER"], "workord": h["WORKORD"], "sum": float(f[0].data.astype("float64").sum()),
                          "warnings": [str(w.message) for w in caught]}))`,
        [path],
      ),
    );
    assertEquals([out.filter, out.workord, out.warnings], ["V", "obs/17", []]);
    assertEquals(out.sum, data.reduce((a, b) => a + b, 0));
    const verify = await new Deno.Command("fitsverify", { args: ["-q", path], stdout: "piped" }).output();
    const text = new TextDecoder().decode(verify.stdout);
    assert(verify.success && text.startsWith("verification OK"), text);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
