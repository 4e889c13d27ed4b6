/**
 * Interoperability with the reference implementations: astropy writes, we read;
 * we write, astropy reads (checksums verified) and fitsverify finds nothing to say.
 */
import { assert, assertEquals } from "./_assert.ts";
import { peerTest, runPython } from "./_peers.ts";
import { Header, readHdus, readImage, writeImage } from "../lib/fits/mod.ts";

const ASTROPY_WRITER = `
import sys, json, warnings
import numpy as np
from astropy.io import fits
out = sys.argv[1]
rng = np.random.default_rng(7)
expected = {}
def save(name, hdul, data):
    hdul.writeto(f"{out}/{name}", overwrite=True, checksum=True)
    expected[name] = {"data": [float(v) for v in np.asarray(data, dtype=np.float64).ravel()]}
for dtype, bitpix in [(np.uint8, 8), (np.int16, 16), (np.int32, 32), (np.int64, 64), (np.float32, -32), (np.float64, -64)]:
    data = (rng.normal(0, 1000, (5, 7))).astype(dtype) if bitpix != 8 else rng.integers(0, 255, (5, 7)).astype(dtype)
    hdu = fits.PrimaryHDU(data)
    hdu.header["OBJECT"] = ("NGC 1068", "target name")
    hdu.header["EXPTIME"] = (12.5, "[s]")
    save(f"bitpix{bitpix}.fits", fits.HDUList([hdu]), data)
u16 = rng.integers(0, 65535, (6, 4)).astype(np.uint16)
save("uint16.fits", fits.HDUList([fits.PrimaryHDU(u16)]), u16)
cube = np.arange(2 * 3 * 4, dtype=np.float32).reshape(2, 3, 4)
save("cube.fits", fits.HDUList([fits.PrimaryHDU(cube)]), cube)
hdr = fits.Header()
hdr["LONGSTR"] = ("The quick brown fox jumps over the lazy dog; " * 4).strip()
hdr["HIERARCH ESO DET CHIP NAME"] = "CCD-42"
hdr["ANGLE"] = (1.5e-7, "tiny")
hdr["FLAG"] = False
hdr["NOTHING"] = None
hdr["ZVALUE"] = complex(1.5, -2.0)
hdr.add_history("processed by astropy")
hdr.add_comment("a comment")
image = fits.ImageHDU(rng.normal(0, 1, (3, 3)).astype(np.float32), name="SCI")
table = fits.BinTableHDU.from_columns([fits.Column(name="flux", format="E", array=np.array([1.0, 2.0]))], name="CAT")
mef = fits.HDUList([fits.PrimaryHDU(header=hdr), table, image])
save("mef.fits", mef, image.data)
print(json.dumps(expected))
`;

const ASTROPY_READER = `
import sys, json, warnings
import numpy as np
from astropy.io import fits
warnings.simplefilter("error")
result = {}
for path in sys.argv[1:]:
    with fits.open(path, checksum=True) as hdul:
        hdu = hdul[0]
        cards = [[c.keyword, c.value if not isinstance(c.value, bool) else ("T" if c.value else "F")] for c in hdu.header.cards
                 if c.keyword not in ("CHECKSUM", "DATASUM")]
        result[path] = {"dtype": str(hdu.data.dtype), "shape": list(hdu.data.shape),
                        "data": [None if np.isnan(v) else float(v) for v in hdu.data.astype(np.float64).ravel()],
                        "cards": [[k, str(v)] for k, v in cards]}
print(json.dumps(result))
`;

async function tempDir(): Promise<string> {
  return await Deno.makeTempDir({ prefix: "toros-fits-interop-" });
}

await peerTest(
  "we read astropy's files in every BITPIX, uint16, cube and MEF with the same values and cards",
  [
    "astropy",
  ],
  async () => {
    const dir = await tempDir();
    try {
      const expected = JSON.parse(await runPython(ASTROPY_WRITER, [dir])) as Record<
        string,
        { data: number[] }
      >;
      for (const [name, { data }] of Object.entries(expected)) {
        const image = await readImage(`${dir}/${name}`);
        assertEquals(image.data.length, data.length, name);
        for (let i = 0; i < data.length; i++) {
          const want = Math.fround(data[i]);
          assert(image.data[i] === want, `${name}[${i}]: ${image.data[i]} != ${want}`);
        }
      }
      const hdus = await readHdus(`${dir}/mef.fits`);
      assertEquals(hdus.map((h) => [h.type, h.name]), [["PRIMARY", "PRIMARY"], ["BINTABLE", "CAT"], [
        "IMAGE",
        "SCI",
      ]]);
      const primary = hdus[0].header;
      assertEquals(
        primary.getString("LONGSTR"),
        ("The quick brown fox jumps over the lazy dog; ".repeat(4)).trim(),
      );
      assertEquals(primary.get("ESO DET CHIP NAME"), "CCD-42");
      assertEquals(primary.getNumber("ANGLE"), 1.5e-7);
      assertEquals(primary.get("FLAG"), false);
      assertEquals(primary.get("NOTHING"), null);
      assertEquals(primary.get("ZVALUE"), { re: 1.5, im: -2 });
      assertEquals(primary.history(), ["processed by astropy"]);
      const cube = await readImage(`${dir}/cube.fits`);
      assertEquals(cube.shape, [4, 3, 2]);
      const u16 = await readHdus(`${dir}/uint16.fits`);
      assertEquals(u16[0].header.getNumber("BZERO"), 32768);
      // A header we did not change is written back byte for byte.
      const bytes = await Deno.readFile(`${dir}/mef.fits`);
      assertEquals(primary.toBytes(), bytes.subarray(0, hdus[0].dataOffset));
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);

async function fitsverify(path: string): Promise<{ warnings: number; errors: number; text: string }> {
  const out = await new Deno.Command("fitsverify", { args: [path], stdout: "piped", stderr: "piped" })
    .output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  const match = /Verification found (\d+) warning\(s\) and (\d+) error\(s\)/.exec(text);
  if (!match) throw new Error(`unexpected fitsverify output:\n${text}`);
  return { warnings: Number(match[1]), errors: Number(match[2]), text };
}

await peerTest("astropy reads our files with identical pixels and cards; fitsverify reports nothing", [
  "astropy",
  "fitsverify",
], async () => {
  const dir = await tempDir();
  try {
    const width = 9;
    const height = 4;
    const data = new Float32Array(width * height).map((_, i) => (i * 37) % 200);
    data[5] = NaN;
    const header = new Header();
    header.set("OBJECT", "M 31", "target");
    header.set("EXPTIME", 30.5, "[s]");
    header.set("IMAGETYP", "Light Frame");
    header.set("DATE-OBS", "2026-11-24T03:04:05.123");
    header.set(
      "NOTE",
      "It's a long note that goes on and on, well past the sixty-eight characters a card holds.",
    );
    header.set("ESO DET CHIP NAME", "CCD-42");
    header.addHistory("Bias subtracted with master_bias.fits");
    header.addComment("written by the TOROS test suite");
    const files: Record<string, { bitpix: -32 | -64 | 16 | 8 | 32; unsigned?: boolean; dtype: string }> = {
      "f32.fits": { bitpix: -32, dtype: ">f4" },
      "f64.fits": { bitpix: -64, dtype: ">f8" },
      "u16.fits": { bitpix: 16, unsigned: true, dtype: "uint16" },
      "i32.fits": { bitpix: 32, dtype: ">i4" },
      "u8.fits": { bitpix: 8, dtype: "uint8" },
    };
    for (const [name, options] of Object.entries(files)) {
      await writeImage(`${dir}/${name}`, header, data, { width, height, ...options });
    }
    const paths = Object.keys(files).map((name) => `${dir}/${name}`);
    const result = JSON.parse(await runPython(ASTROPY_READER, paths));
    for (const [name, options] of Object.entries(files)) {
      const read = result[`${dir}/${name}`];
      assertEquals(read.dtype, options.dtype, name);
      assertEquals(read.shape, [height, width], name);
      const expected = [...data].map((v) => (options.bitpix > 0 ? (Number.isNaN(v) ? 0 : Math.round(v)) : v));
      assertEquals(read.data, expected.map((v) => (Number.isNaN(v) ? null : v)), name);
      const cards = Object.fromEntries(
        read.cards.filter(([k]: string[]) => k !== "HISTORY" && k !== "COMMENT"),
      );
      assertEquals(cards.OBJECT, "M 31");
      assertEquals(cards.EXPTIME, "30.5");
      assertEquals(cards.NOTE, header.getString("NOTE"));
      assertEquals(cards["ESO DET CHIP NAME"], "CCD-42");
      assertEquals(
        read.cards.filter(([k]: string[]) => k === "HISTORY").map(([, v]: string[]) => v),
        ["Bias subtracted with master_bias.fits"],
      );
      const verdict = await fitsverify(`${dir}/${name}`);
      assertEquals([verdict.warnings, verdict.errors], [0, 0], `${name}:\n${verdict.text}`);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
