/**
 * Several image HDUs streamed into one file in any interleaving of bands: each
 * HDU readable by index and name with its own DATASUM and CHECKSUM, fitsverify
 * clean, and opened by astropy's CCDData as data, mask and uncertainty.
 */
import { assert, assertEquals, assertRejects } from "./_assert.ts";
import { peerTest, PYTHON } from "./_peers.ts";
import { FitsMultiImageWriter, Header, readHdus, readImage, verifyChecksums } from "../lib/fits/mod.ts";

async function mefFile(path: string, width: number, height: number): Promise<void> {
  const sci = new Header();
  sci.set("EXTNAME", "SCI", "extension name");
  sci.set("BUNIT", "adu");
  const bpm = new Header();
  bpm.set("EXTNAME", "BPM", "extension name");
  const err = new Header();
  err.set("EXTNAME", "ERR", "extension name");
  err.set("UTYPE", "StdDevUncertainty");
  const writer = await FitsMultiImageWriter.create(path, [
    { header: sci, width, height },
    { header: bpm, width, height, bitpix: 8 },
    { header: err, width, height },
  ]);
  // Bands of 3 rows, the HDUs in turn (the last band shorter), as the reduction writes them.
  for (let y0 = 0; y0 < height; y0 += 3) {
    const rows = Math.min(3, height - y0);
    const pixels = (f: (p: number) => number) =>
      Float32Array.from({ length: rows * width }, (_, i) => f(y0 * width + i));
    writer.writeRowsSync(2, pixels((p) => Math.sqrt(p)));
    writer.writeRowsSync(0, pixels((p) => p * 0.5));
    writer.writeRowsSync(1, pixels((p) => p % 3));
  }
  await writer.close();
}

Deno.test("a file of SCI, BPM and ERR written band by band reads back by HDU with valid checksums", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/product.fits`;
    await mefFile(path, 7, 10);
    const hdus = await readHdus(path);
    assertEquals(hdus.map((hdu) => hdu.name), ["SCI", "BPM", "ERR"]);
    assertEquals(hdus.map((hdu) => hdu.bitpix), [-32, 8, -32]);
    const bytes = await Deno.readFile(path);
    for (const hdu of hdus) {
      const header = bytes.subarray(hdu.headerOffset, hdu.dataOffset);
      const data = bytes.subarray(hdu.dataOffset, hdu.dataOffset + Math.ceil(hdu.dataBytes / 2880) * 2880);
      assertEquals(
        verifyChecksums(header, data, hdu.header),
        { datasumOk: true, checksumOk: true },
        hdu.name,
      );
    }
    assertEquals([...(await readImage(path, { hdu: 1 })).data].slice(0, 5), [0, 1, 2, 0, 1]);
    assertEquals((await readImage(path, { hdu: 0 })).data[9], 4.5);
    assertEquals(bytes.length % 2880, 0);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a multi-HDU write refuses too many rows and an unfinished HDU, leaving no file", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/product.fits`;
    const writer = await FitsMultiImageWriter.create(path, [
      { header: new Header(), width: 2, height: 2 },
      { header: new Header(), width: 2, height: 2, bitpix: 8 },
    ]);
    writer.writeRowsSync(0, new Float32Array(4));
    let refused = false;
    try {
      writer.writeRowsSync(0, new Float32Array(2));
    } catch {
      refused = true;
    }
    assert(refused, "a row beyond the image is refused");
    await assertRejects(() => writer.close());
    assertEquals([...Deno.readDirSync(dir)].length, 0);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

await peerTest(
  "fitsverify finds nothing to say of a SCI/BPM/ERR file, and CCDData reads it as data, mask, uncertainty",
  [
    "fitsverify",
    "astropy",
  ],
  async () => {
    const dir = await Deno.makeTempDir();
    try {
      const path = `${dir}/product.fits`;
      await mefFile(path, 9, 8);
      const verify = await new Deno.Command("fitsverify", { args: ["-q", path], stdout: "piped" }).output();
      const text = new TextDecoder().decode(verify.stdout).trim();
      assert(text.startsWith("verification OK"), text);
      const script = `
import sys
from astropy.nddata import CCDData
c = CCDData.read(sys.argv[1], hdu="SCI", hdu_mask="BPM", hdu_uncertainty="ERR")
print(c.unit, int(c.mask.sum()), type(c.uncertainty).__name__, float(c.uncertainty.array[1, 0]), float(c.data[1, 1]))
`;
      const out = await new Deno.Command(PYTHON, {
        args: ["-c", script, path],
        stdout: "piped",
        stderr: "piped",
      })
        .output();
      assert(out.success, new TextDecoder().decode(out.stderr));
      assertEquals(new TextDecoder().decode(out.stdout).trim(), "adu 48 StdDevUncertainty 3.0 5.0");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);
