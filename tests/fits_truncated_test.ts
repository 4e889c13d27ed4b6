/**
 * Truncated FITS files are reported, never read without a word: a data unit cut
 * in its final block's padding, one cut inside the pixels, a header cut short,
 * a multi-HDU file cut in its last HDU; verdicts compared with astropy's and
 * fitsverify's, and `toros fits` exit statuses and messages.
 */
import { assert, assertEquals, assertMatch, assertRejects, assertStringIncludes } from "./_assert.ts";
import { peerTest, runPython } from "./_peers.ts";
import {
  BLOCK_SIZE,
  FitsError,
  FitsImageReader,
  Header,
  readHdus,
  readImage,
  truncationProblem,
  writeImage,
} from "../lib/fits/mod.ts";

const WIDTH = 100;
const HEIGHT = 50;
const MAIN = new URL("../main.ts", import.meta.url).pathname;

async function withTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "toros-fits-truncated-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

function framePixels(): Float32Array {
  return Float32Array.from({ length: WIDTH * HEIGHT }, (_, i) => i * 0.5 - 7);
}

/** A 100×50 float32 frame from our writer: one header block, 20000 data bytes in 7 blocks (20160). */
async function writeFrame(path: string): Promise<Uint8Array> {
  const header = new Header();
  header.set("IMAGETYP", "LIGHT");
  await writeImage(path, header, framePixels(), { width: WIDTH, height: HEIGHT });
  return await Deno.readFile(path);
}

function headerBlocks(cards: string[]): Uint8Array {
  const text = [...cards, "END"].map((card) => card.padEnd(80)).join("");
  const bytes = new Uint8Array(Math.ceil(text.length / BLOCK_SIZE) * BLOCK_SIZE).fill(0x20);
  bytes.set(new TextEncoder().encode(text));
  return bytes;
}

/**
 * An empty primary HDU and a 100×50 int16 image extension SCI (pixel i = i − 2500):
 * 2880 + 2880 + 11520 = 17280 bytes, the data unit 10000 bytes at 5760.
 */
function mefBytes(): Uint8Array {
  const primary = headerBlocks([
    "SIMPLE  =                    T",
    "BITPIX  =                    8",
    "NAXIS   =                    0",
    "EXTEND  =                    T",
  ]);
  const extension = headerBlocks([
    "XTENSION= 'IMAGE   '",
    "BITPIX  =                   16",
    "NAXIS   =                    2",
    `NAXIS1  = ${String(WIDTH).padStart(20)}`,
    `NAXIS2  = ${String(HEIGHT).padStart(20)}`,
    "PCOUNT  =                    0",
    "GCOUNT  =                    1",
    "EXTNAME = 'SCI     '",
  ]);
  const data = new Uint8Array(Math.ceil((WIDTH * HEIGHT * 2) / BLOCK_SIZE) * BLOCK_SIZE);
  const view = new DataView(data.buffer);
  for (let i = 0; i < WIDTH * HEIGHT; i++) view.setInt16(i * 2, i - 2500);
  const bytes = new Uint8Array(primary.length + extension.length + data.length);
  bytes.set(primary, 0);
  bytes.set(extension, primary.length);
  bytes.set(data, primary.length + extension.length);
  return bytes;
}

/** A primary header of two blocks (45 cards and END at 3600), then 100×50 int16 data. */
function longHeaderBytes(): Uint8Array {
  const cards = [
    "SIMPLE  =                    T",
    "BITPIX  =                   16",
    "NAXIS   =                    2",
    `NAXIS1  = ${String(WIDTH).padStart(20)}`,
    `NAXIS2  = ${String(HEIGHT).padStart(20)}`,
    ...Array.from({ length: 40 }, (_, i) => `COMMENT line ${i}`),
  ];
  const header = headerBlocks(cards);
  const bytes = new Uint8Array(header.length + 11520);
  bytes.set(header);
  return bytes;
}

/** The FitsError `read` rejects with. */
async function fitsError(read: () => Promise<unknown>): Promise<FitsError> {
  return await assertRejects(read, FitsError) as FitsError;
}

/** Writes `bytes` cut to `length` bytes. */
async function writeCut(path: string, bytes: Uint8Array, length: number): Promise<void> {
  await Deno.writeFile(path, bytes.subarray(0, length));
}

/** The truncated files every comparison uses, with what we expect of each. */
interface CutCase {
  name: string;
  make: (dir: string) => Promise<void>;
  /** Index of the truncated HDU. */
  hdu: number;
  missingBytes: number;
  pixelsComplete: boolean;
}

const DATA_CUTS: CutCase[] = [
  {
    name: "padding.fits",
    make: async (dir) =>
      writeCut(`${dir}/padding.fits`, await writeFrame(`${dir}/padding.fits`), 2880 + 20010),
    hdu: 0,
    missingBytes: 150,
    pixelsComplete: true,
  },
  {
    name: "pixels.fits",
    make: async (dir) => writeCut(`${dir}/pixels.fits`, await writeFrame(`${dir}/pixels.fits`), 2880 + 8100),
    hdu: 0,
    missingBytes: 20160 - 8100,
    pixelsComplete: false,
  },
  {
    name: "no_data.fits",
    make: async (dir) => writeCut(`${dir}/no_data.fits`, await writeFrame(`${dir}/no_data.fits`), 2880),
    hdu: 0,
    missingBytes: 20160,
    pixelsComplete: false,
  },
  {
    name: "mef_padding.fits",
    make: (dir) => writeCut(`${dir}/mef_padding.fits`, mefBytes(), 17280 - 1),
    hdu: 1,
    missingBytes: 1,
    pixelsComplete: true,
  },
  {
    name: "mef_pixels.fits",
    make: (dir) => writeCut(`${dir}/mef_pixels.fits`, mefBytes(), 5760 + 6001),
    hdu: 1,
    missingBytes: 11520 - 6001,
    pixelsComplete: false,
  },
];

Deno.test("a file cut in its final block's padding reads whole, with the truncation reported", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/padding.fits`;
    await writeCut(path, await writeFrame(path), 2880 + 20010);
    const [hdu] = await readHdus(path);
    assertEquals(hdu.truncated, { missingBytes: 150, pixelsComplete: true, presentBytes: 20000 });
    assertEquals(
      truncationProblem(hdu),
      "truncated data: 150 bytes missing, all pixels present (only the final block's padding is cut short)",
    );
    const image = await readImage(path);
    assertEquals(image.data, framePixels());
    assertEquals(image.truncated, hdu.truncated);
    const reader = await FitsImageReader.open(path);
    try {
      assertEquals(reader.completeRows, HEIGHT);
      const all = new Float32Array(WIDTH * HEIGHT);
      await reader.readRows(0, HEIGHT, all);
      assertEquals(all, framePixels());
    } finally {
      reader.close();
    }
  });
});

Deno.test("a whole file reports no truncation", async () => {
  await withTempDir(async (dir) => {
    await writeFrame(`${dir}/whole.fits`);
    const [hdu] = await readHdus(`${dir}/whole.fits`);
    assertEquals(hdu.truncated, null);
    assertEquals(truncationProblem(hdu), null);
    assertEquals((await readImage(`${dir}/whole.fits`)).truncated, null);
  });
});

Deno.test("a file cut inside the pixels: readHdus throws unless asked, readImage refuses, the reader reads the whole rows", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/pixels.fits`;
    // 8100 data bytes: rows 0..19 (400 bytes each) whole, row 20 a quarter there.
    await writeCut(path, await writeFrame(path), 2880 + 8100);
    const thrown = await fitsError(() => readHdus(path));
    assertEquals(thrown.file, path);
    assertEquals(thrown.hdu, 0);
    assertEquals(
      thrown.message,
      `${path}: HDU 0: truncated data: BITPIX=-32 NAXIS1=100 NAXIS2=50 needs 20000 bytes but only 8100 remain: ` +
        "12060 bytes missing, pixels among them; only the first 20 of 50 rows are whole",
    );
    const [hdu] = await readHdus(path, { allowMissingPixels: true });
    assertEquals(hdu.truncated, { missingBytes: 12060, pixelsComplete: false, presentBytes: 8100 });
    assertEquals(truncationProblem(hdu), thrown.problem);

    const refused = await assertRejects(() => readImage(path), FitsError);
    assertEquals(refused.message, thrown.message);

    const reader = await FitsImageReader.open(path);
    try {
      assertEquals([reader.rows, reader.completeRows], [HEIGHT, 20]);
      const band = new Float32Array(20 * WIDTH);
      await reader.readRows(0, 20, band);
      assertEquals(band, framePixels().subarray(0, 20 * WIDTH));
      const error = await assertRejects(() => reader.readRows(19, 2, band), FitsError);
      assertEquals(
        error.message,
        `${path}: HDU 0: rows 19..20 are not all in the file: truncated data, 12060 bytes missing and ` +
          "only rows 0..19 are whole of 50",
      );
      let syncError: unknown;
      try {
        reader.readRawRowsSync(40, 1, new Uint8Array(WIDTH * 4));
      } catch (e) {
        syncError = e;
      }
      assert(syncError instanceof FitsError);
      assertMatch(
        syncError.message,
        /HDU 0: rows 40\.\.40 are not all in the file: truncated data, 12060 bytes missing/,
      );
    } finally {
      reader.close();
    }
  });
});

Deno.test("a file that ends where its data should begin has no whole row", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/no_data.fits`;
    await writeCut(path, await writeFrame(path), 2880);
    const [hdu] = await readHdus(path, { allowMissingPixels: true });
    assertEquals(hdu.truncated, { missingBytes: 20160, pixelsComplete: false, presentBytes: 0 });
    assertStringIncludes(
      truncationProblem(hdu)!,
      "20160 bytes missing, pixels among them; none of the 50 rows is whole",
    );
    const reader = await FitsImageReader.open(path);
    try {
      assertEquals(reader.completeRows, 0);
      const error = await assertRejects(() => reader.readRows(0, 1, new Float32Array(WIDTH)), FitsError);
      assertStringIncludes(error.message, "no row is whole of 50");
    } finally {
      reader.close();
    }
  });
});

Deno.test("a multi-HDU file cut in its last HDU: the earlier HDUs are whole, the last one reports the cut", async () => {
  await withTempDir(async (dir) => {
    const whole = mefBytes();
    const expected = Float32Array.from({ length: WIDTH * HEIGHT }, (_, i) => i - 2500);

    await writeCut(`${dir}/mef_padding.fits`, whole, whole.length - 1);
    const hdus = await readHdus(`${dir}/mef_padding.fits`);
    assertEquals(hdus.map((h) => [h.index, h.name, h.truncated]), [
      [0, "PRIMARY", null],
      [1, "SCI", { missingBytes: 1, pixelsComplete: true, presentBytes: 10000 }],
    ]);
    const image = await readImage(`${dir}/mef_padding.fits`, { hdu: 1 });
    assertEquals(image.data, expected);

    await writeCut(`${dir}/mef_pixels.fits`, whole, 5760 + 6001);
    const error = await fitsError(() => readHdus(`${dir}/mef_pixels.fits`));
    assertEquals(error.hdu, 1);
    assertStringIncludes(
      error.problem,
      "5519 bytes missing, pixels among them; only the first 30 of 50 rows are whole",
    );
    const [primary, sci] = await readHdus(`${dir}/mef_pixels.fits`, { allowMissingPixels: true });
    assertEquals(primary.truncated, null);
    assertEquals(sci.truncated, { missingBytes: 5519, pixelsComplete: false, presentBytes: 6001 });
    const reader = await FitsImageReader.open(`${dir}/mef_pixels.fits`);
    try {
      assertEquals([reader.hdu.index, reader.completeRows], [1, 30]);
      const band = new Float32Array(30 * WIDTH);
      await reader.readRows(0, 30, band);
      assertEquals(band, expected.subarray(0, 30 * WIDTH));
      await assertRejects(() => reader.readRows(29, 2, band), FitsError, "5519 bytes missing");
    } finally {
      reader.close();
    }
  });
});

Deno.test("a header cut short is an error naming the file, the HDU and the bytes missing", async () => {
  await withTempDir(async (dir) => {
    const long = longHeaderBytes();
    const cases: [string, Uint8Array, number, number | null, string][] = [
      // END (at 3600..3680) is in the file; its block and all 11520 data bytes are not.
      [
        "end_in.fits",
        long,
        3700,
        0,
        "truncated header: 13580 bytes missing (2060 of the header's last 2880-byte block and all 11520 of the data unit)",
      ],
      [
        "no_end.fits",
        long,
        3380,
        0,
        "truncated header: at least 2380 bytes missing (the file ends before the END card)",
      ],
      [
        "no_end_block.fits",
        long,
        2880,
        0,
        "header has no END card before the file ends (truncated header: at least 2880 bytes missing)",
      ],
      [
        "mef_header.fits",
        mefBytes(),
        2880 + 1500,
        1,
        "truncated header: 12900 bytes missing (1380 of the header's last 2880-byte block and all 11520 of the data unit)",
      ],
      [
        "mef_xtension.fits",
        mefBytes(),
        2880 + 3,
        1,
        "truncated header: at least 2877 bytes missing (the file ends inside the XTENSION card)",
      ],
      // Shorter than one block: the file as a whole is named, with HDU 0 in the problem.
      [
        "tiny.fits",
        mefBytes(),
        2000,
        null,
        "truncated header of HDU 0 (the file is 2000 bytes, less than one 2880-byte block): " +
        "880 bytes missing from the header's last 2880-byte block",
      ],
    ];
    for (const [name, bytes, length, hdu, problem] of cases) {
      const path = `${dir}/${name}`;
      await writeCut(path, bytes, length);
      for (const read of [() => readHdus(path, { allowMissingPixels: true }), () => readImage(path)]) {
        const error = await fitsError(read);
        assertEquals([error.file, error.hdu, error.problem], [path, hdu, problem], name);
      }
    }
  });
});

// The verdicts of the reference implementations on the same files.

const ASTROPY_VERDICT = `
import sys, json, re, warnings
from astropy.io import fits
result = {}
for path in sys.argv[1:]:
    verdict = {"hdus": None, "dataReadable": [], "missingBytes": None, "openError": None}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            with fits.open(path) as hdul:
                verdict["hdus"] = len(hdul)
                for hdu in hdul:
                    try:
                        hdu.data
                        verdict["dataReadable"].append(True)
                    except Exception:
                        verdict["dataReadable"].append(False)
        except Exception as error:
            verdict["openError"] = str(error)
    for warning in caught:
        m = re.search(r"actual file length \\((\\d+)\\) is smaller than the expected size \\((\\d+)\\)", str(warning.message))
        if m:
            verdict["missingBytes"] = int(m.group(2)) - int(m.group(1))
    result[path.rsplit("/", 1)[-1]] = verdict
print(json.dumps(result))
`;

await peerTest(
  "astropy agrees on the bytes missing and on whether the pixels can be read",
  ["astropy"],
  async () => {
    await withTempDir(async (dir) => {
      for (const cut of DATA_CUTS) await cut.make(dir);
      const verdicts = JSON.parse(
        await runPython(ASTROPY_VERDICT, DATA_CUTS.map((cut) => `${dir}/${cut.name}`)),
      ) as Record<string, { hdus: number; dataReadable: boolean[]; missingBytes: number | null }>;
      for (const cut of DATA_CUTS) {
        const theirs = verdicts[cut.name];
        const ours = await readHdus(`${dir}/${cut.name}`, { allowMissingPixels: true });
        assertEquals(ours.length, theirs.hdus, cut.name);
        assertEquals(ours[cut.hdu].truncated?.missingBytes, cut.missingBytes, cut.name);
        // astropy's warning: "actual file length (N) is smaller than the expected size (M)".
        assertEquals(theirs.missingBytes, cut.missingBytes, cut.name);
        assertEquals(theirs.dataReadable[cut.hdu], cut.pixelsComplete, cut.name);
        assertEquals(ours[cut.hdu].truncated?.pixelsComplete, cut.pixelsComplete, cut.name);
      }
    });
  },
);

await peerTest("astropy does not give the HDU whose header is cut short either", ["astropy"], async () => {
  await withTempDir(async (dir) => {
    await writeCut(`${dir}/mef_header.fits`, mefBytes(), 2880 + 1500);
    await writeCut(`${dir}/tiny.fits`, mefBytes(), 2000);
    const verdicts = JSON.parse(
      await runPython(ASTROPY_VERDICT, [`${dir}/mef_header.fits`, `${dir}/tiny.fits`]),
    ) as Record<string, { hdus: number | null; openError: string | null }>;
    // astropy warns "Header size is not multiple of 2880" and drops HDU 1, or cannot open the file at all.
    assertEquals(verdicts["mef_header.fits"].hdus, 1);
    assert(verdicts["tiny.fits"].openError !== null);
    await assertRejects(() => readHdus(`${dir}/mef_header.fits`), FitsError, "HDU 1: truncated header");
    await assertRejects(() => readHdus(`${dir}/tiny.fits`), FitsError, "truncated header of HDU 0");
  });
});

/** fitsverify's exit status, its per-HDU error counts (0-based) and the file length it expected, if it says. */
async function fitsverify(
  path: string,
): Promise<{ code: number; errors: number[]; expectedLength: number | null }> {
  const output = await new Deno.Command("fitsverify", { args: [path], stdout: "piped", stderr: "piped" })
    .output();
  const text = new TextDecoder().decode(output.stdout) + new TextDecoder().decode(output.stderr);
  const errors: number[] = [];
  // Summary rows: " 2     SCI                  Image Array      0         1     " (HDU numbers from 1).
  for (const match of text.matchAll(/^ (\d+) .*?(\d+)\s+(\d+)\s*$/gm)) {
    errors[Number(match[1]) - 1] = Number(match[3]);
  }
  const last = /Error trying to read last byte of the file at byte (\d+)/.exec(text);
  return { code: output.code, errors, expectedLength: last ? Number(last[1]) : null };
}

await peerTest("fitsverify finds an error in the HDU we report truncated, and the same bytes missing", [
  "fitsverify",
], async () => {
  await withTempDir(async (dir) => {
    for (const cut of DATA_CUTS) {
      await cut.make(dir);
      const path = `${dir}/${cut.name}`;
      const theirs = await fitsverify(path);
      assert(theirs.code !== 0, `${cut.name}: fitsverify passed a truncated file`);
      const ours = await readHdus(path, { allowMissingPixels: true });
      assertEquals(theirs.errors.length, ours.length, cut.name);
      assertEquals(
        theirs.errors.map((count) => count > 0),
        ours.map((hdu) => hdu.truncated !== null),
        cut.name,
      );
      if (!cut.pixelsComplete) {
        // cfitsio names the last byte it expected; padding-only cuts are its "checking data fill" error.
        const size = (await Deno.stat(path)).size;
        assertEquals(theirs.expectedLength! - size, cut.missingBytes, cut.name);
      }
    }
    // The whole file, for contrast.
    await Deno.writeFile(`${dir}/whole.fits`, mefBytes());
    assertEquals((await fitsverify(`${dir}/whole.fits`)).code, 0);
  });
});

await peerTest("fitsverify rejects the files whose header is cut short", ["fitsverify"], async () => {
  await withTempDir(async (dir) => {
    await writeCut(`${dir}/mef_header.fits`, mefBytes(), 2880 + 1500);
    await writeCut(`${dir}/end_in.fits`, longHeaderBytes(), 3700);
    for (const name of ["mef_header.fits", "end_in.fits"]) {
      assert((await fitsverify(`${dir}/${name}`)).code !== 0, name);
      await assertRejects(() => readHdus(`${dir}/${name}`), FitsError, "truncated header");
    }
  });
});

// toros fits, run as the operator runs it.

async function toros(args: string[]) {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", MAIN, ...args],
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  return {
    code: output.code,
    stdout: new TextDecoder().decode(output.stdout),
    stderr: new TextDecoder().decode(output.stderr),
  };
}

Deno.test("toros fits info names the truncated file, HDU and bytes missing, lists every file and exits 1", async () => {
  await withTempDir(async (dir) => {
    await writeFrame(`${dir}/whole.fits`);
    for (const cut of DATA_CUTS) await cut.make(dir);
    await writeCut(`${dir}/mef_header.fits`, mefBytes(), 2880 + 1500);
    const files = ["whole.fits", "mef_pixels.fits", "padding.fits", "mef_header.fits"].map((n) =>
      `${dir}/${n}`
    );

    const text = await toros(["fits", "info", ...files]);
    assertEquals(text.code, 1);
    for (const name of ["whole.fits", "mef_pixels.fits", "padding.fits"]) {
      assertStringIncludes(text.stdout, `Filename: ${dir}/${name}`);
    }
    assertMatch(text.stdout, /^1 +SCI +IMAGE +8 +16 +\(100, 50\)$/m);
    assertStringIncludes(
      text.stderr,
      `toros fits: ${dir}/mef_pixels.fits: HDU 1: truncated data: BITPIX=16 NAXIS1=100 NAXIS2=50 needs 10000 ` +
        "bytes but only 6001 remain: 5519 bytes missing, pixels among them; only the first 30 of 50 rows are whole",
    );
    assertStringIncludes(
      text.stderr,
      `toros fits: ${dir}/padding.fits: HDU 0: truncated data: 150 bytes missing, all pixels present`,
    );
    assertStringIncludes(
      text.stderr,
      `toros fits: ${dir}/mef_header.fits: HDU 1: truncated header: 12900 bytes missing`,
    );
    assert(!text.stderr.includes("whole.fits"));

    const json = await toros(["fits", "info", "--json", ...files]);
    assertEquals(json.code, 1);
    const report = JSON.parse(json.stdout);
    assertEquals(report.map((entry: { file: string }) => entry.file), files);
    assertEquals(report[0].hdus[0].truncated, null);
    assertEquals(report[0].error, undefined);
    assertEquals(report[1].hdus[0].truncated, null);
    assertEquals(report[1].hdus[1].truncated, {
      missingBytes: 5519,
      pixelsComplete: false,
      presentBytes: 6001,
    });
    assertMatch(
      report[1].error,
      /mef_pixels\.fits: HDU 1: truncated data: .*5519 bytes missing, pixels among them/,
    );
    assertEquals(report[2].hdus[0].truncated, {
      missingBytes: 150,
      pixelsComplete: true,
      presentBytes: 20000,
    });
    assertMatch(
      report[2].error,
      /padding\.fits: HDU 0: truncated data: 150 bytes missing, all pixels present/,
    );
    assertEquals(report[3].hdus, undefined);
    assertMatch(report[3].error, /mef_header\.fits: HDU 1: truncated header: 12900 bytes missing/);

    const good = await toros(["fits", "info", `${dir}/whole.fits`]);
    assertEquals([good.code, good.stderr], [0, ""]);
  });
});

Deno.test("toros fits stats gives no statistics when pixels are missing, and exits 1 on any truncation", async () => {
  await withTempDir(async (dir) => {
    for (const cut of DATA_CUTS) await cut.make(dir);

    const missing = await toros(["fits", "stats", `${dir}/pixels.fits`]);
    assertEquals(missing.code, 1);
    assertEquals(missing.stdout, "");
    assertStringIncludes(
      missing.stderr,
      `toros fits: ${dir}/pixels.fits: HDU 0: truncated data: BITPIX=-32 NAXIS1=100 NAXIS2=50 needs 20000 bytes ` +
        "but only 8100 remain: 12060 bytes missing, pixels among them",
    );
    const missingJson = JSON.parse(
      (await toros(["fits", "stats", "--json", `${dir}/mef_pixels.fits`])).stdout,
    );
    assertEquals(missingJson.hdu, 1);
    assertEquals(missingJson.truncated, { missingBytes: 5519, pixelsComplete: false, presentBytes: 6001 });
    assertEquals(missingJson.mean, undefined);
    assertMatch(missingJson.error, /HDU 1: truncated data: .*5519 bytes missing, pixels among them/);

    const padding = await toros(["fits", "stats", `${dir}/padding.fits`]);
    assertEquals(padding.code, 1);
    assertMatch(padding.stdout, /^ {2}pixels +5000$/m);
    assertMatch(padding.stdout, /^ {2}min +-7$/m);
    assertStringIncludes(
      padding.stderr,
      `toros fits: ${dir}/padding.fits: HDU 0: truncated data: 150 bytes missing, all pixels present`,
    );
    const paddingJson = await toros(["fits", "stats", "--json", `${dir}/mef_padding.fits`]);
    assertEquals(paddingJson.code, 1);
    const stats = JSON.parse(paddingJson.stdout);
    assertEquals([stats.hdu, stats.pixels, stats.min, stats.max], [1, 5000, -2500, 2499]);
    assertEquals(stats.truncated, { missingBytes: 1, pixelsComplete: true, presentBytes: 10000 });
    assertMatch(stats.error, /mef_padding\.fits: HDU 1: truncated data: 1 byte missing, all pixels present/);
  });
});

Deno.test("toros fits header prints a whole header of a truncated file and still exits 1", async () => {
  await withTempDir(async (dir) => {
    await writeCut(`${dir}/mef_pixels.fits`, mefBytes(), 5760 + 6001);
    const result = await toros(["fits", "header", `${dir}/mef_pixels.fits`, "--hdu", "1"]);
    assertEquals(result.code, 1);
    assertMatch(result.stdout, /^EXTNAME = 'SCI {5}'$/m);
    assertStringIncludes(result.stderr, `${dir}/mef_pixels.fits: HDU 1: truncated data:`);
  });
});
