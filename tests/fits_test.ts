import { assert, assertAlmostEquals, assertEquals, assertMatch, assertRejects } from "./_assert.ts";
import {
  addSums,
  checksumOf,
  convertBigEndian,
  encodeChecksum,
  encodeFloat32BigEndian,
  FitsError,
  FitsImageReader,
  FitsImageWriter,
  formatCard,
  Header,
  parseValue,
  positionedSum,
  readHdus,
  readImage,
  verifyChecksums,
  writeImage,
} from "../lib/fits/mod.ts";
import { fitsCommand, imageStats } from "../lib/fits/cli.ts";

async function withTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "toros-fits-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("card values: strings with quotes, logicals, integers, D exponents, complex, undefined", () => {
  assertEquals(parseValue("'O''Brien '           / who").value, "O'Brien");
  assertEquals(parseValue("'O''Brien '           / who").comment, "who");
  assertEquals(parseValue("'  lead'").value, "  lead");
  assertEquals(parseValue("                   T / yes").value, true);
  assertEquals(parseValue("                   F").value, false);
  assertEquals(parseValue("                  -42").value, -42);
  assertEquals(parseValue("  12345678901234567890").value, 12345678901234567890n);
  assertEquals(parseValue("              1.0E+05").value, 1e5);
  assertEquals(parseValue("            1.5D-03 / d").value, 1.5e-3);
  assertEquals(parseValue("            .5").value, 0.5);
  assertEquals(parseValue("     (1.5, -2.0) / z").value, { re: 1.5, im: -2 });
  assertEquals(parseValue("                     / nothing").value, null);
});

Deno.test("cards format in fixed format: numbers right-justified to column 30, strings padded", () => {
  assertEquals(formatCard({ key: "NAXIS1", value: 4096 })[0], `NAXIS1  = ${"4096".padStart(20)}`.padEnd(80));
  assertEquals(
    formatCard({ key: "OBJECT", value: "M42", comment: "t" })[0],
    "OBJECT  = 'M42     '           / t".padEnd(80),
  );
  assertEquals(formatCard({ key: "GAIN", value: 1.5 })[0].slice(10, 30), "1.5".padStart(20));
  assertEquals(formatCard({ key: "BIG", value: 1e21 })[0].slice(10, 30).trim(), "1.0E+21");
  assertEquals(
    formatCard({ key: "HISTORY", comment: "bias subtracted" })[0],
    "HISTORY bias subtracted".padEnd(80),
  );
});

Deno.test("long strings use CONTINUE and read back whole", () => {
  const header = new Header();
  const text = "a'b".repeat(60);
  header.set("NOTE", text, "long");
  const images = header.images();
  assert(images.length >= 3, "spans several cards");
  assertMatch(images[1], /^CONTINUE {2}'/);
  const parsed = Header.parse(header.toBytes());
  assertEquals(parsed.getString("NOTE"), text);
  assertEquals(parsed.getComment("NOTE"), "long");
});

Deno.test("HIERARCH keys and case-insensitive lookup", () => {
  const header = new Header();
  header.set("ESO DET CHIP NAME", "chip1");
  header.set("exptime", 30);
  const parsed = Header.parse(header.toBytes());
  assertEquals(parsed.get("eso det chip name"), "chip1");
  assertEquals(parsed.get("HIERARCH ESO DET CHIP NAME"), "chip1");
  assertEquals(parsed.getNumber("ExpTime"), 30);
  assertMatch(parsed.images()[0], /^HIERARCH ESO DET CHIP NAME = 'chip1/);
});

Deno.test("an unchanged header round-trips byte for byte", () => {
  const text = [
    "SIMPLE  =                    T",
    "BITPIX  =                   16 / odd   spacing kept",
    "NAXIS   =                    0",
    "DATE-OBS= '2026-11-24T03:04:05.123'",
    "FLOAT   =            1.500D+02 / D exponent stays D",
    "ODDSTR  = 'x'                                         / comment far away",
    "COMMENT   two leading spaces",
    "        blank-key commentary",
    "HIERARCH ESO TEL AIRM START = 1.234",
    "LONG    = 'first part &'",
    "CONTINUE  'second part'",
  ].map((line) => line.padEnd(80)).join("") + "END".padEnd(80);
  const bytes = new TextEncoder().encode(text.padEnd(2880));
  const header = Header.parse(bytes);
  assertEquals(header.toBytes(), bytes);
  assertEquals(header.getNumber("FLOAT"), 150);
  assertEquals(header.getString("LONG"), "first part second part");
});

Deno.test("setting a value re-renders only that card", () => {
  const header = new Header();
  header.set("A", 1);
  header.set("B", "two");
  const parsed = Header.parse(header.toBytes());
  parsed.set("B", "three");
  const images = parsed.images();
  assertEquals(images[0], header.images()[0]);
  assertMatch(images[1], /^B {7}= 'three {3}'/);
});

Deno.test("the FITS checksum encoding matches the standard's example", () => {
  // Appendix J of the FITS Standard: the complement of 868229149 encodes as "hcHjjc9ghcEghc9g".
  assertEquals(encodeChecksum(868229149), "hcHjjc9ghcEghc9g");
  assertEquals(checksumOf(new Uint8Array([0, 0, 0, 1, 0, 0, 0, 2])), 3);
  // Carries wrap around (ones' complement): 0xFFFFFFFF + 1 = 1.
  assertEquals(checksumOf(new Uint8Array([255, 255, 255, 255, 0, 0, 0, 1])), 1);
});

Deno.test("positionedSum: the sums of pieces of any length, each at its place in the data unit, add up to the whole's", () => {
  // A uint8 mask of odd width is written band by band, and the workers sum slices of bands: no piece need
  // start or end on a 4-byte word.
  const bytes = new Uint8Array(1001);
  let seed = 7;
  for (let i = 0; i < bytes.length; i++) bytes[i] = (seed = (seed * 1103515245 + 12345) % 2147483648) >> 23;
  const whole = checksumOf(bytes);
  assertEquals(positionedSum(bytes, 0, bytes.length, 0), whole);
  for (const cuts of [[1, 2, 3], [5, 333, 334, 998], [4, 8, 999], [500]]) {
    let sum = 0;
    const edges = [0, ...cuts, bytes.length];
    for (let k = 0; k + 1 < edges.length; k++) {
      sum = addSums(sum, positionedSum(bytes, edges[k], edges[k + 1], edges[k]));
    }
    assertEquals(sum, whole, `cut at ${cuts}`);
  }
  // A piece given alone (its own array) counts from its position, not from its index.
  const piece = bytes.slice(333, 700);
  assertEquals(
    addSums(
      addSums(positionedSum(bytes, 0, 333, 0), positionedSum(piece, 0, piece.length, 333)),
      positionedSum(bytes, 700, bytes.length, 700),
    ),
    whole,
  );
});

Deno.test("positionedSum over long runs (words summed many at a time): all-255 bytes, random ones, at every memory alignment", () => {
  let seed = 11;
  const random = new Uint8Array(100_003);
  for (let i = 0; i < random.length; i++) random[i] = (seed = (seed * 1103515245 + 12345) % 2147483648) >> 23;
  for (const source of [new Uint8Array(100_003).fill(255), random]) {
    for (let offset = 0; offset < 4; offset++) {
      // The same bytes at another place in memory: the word loop runs only where the memory is aligned.
      const memory = new Uint8Array(source.length + 4);
      memory.set(source, offset);
      const bytes = memory.subarray(offset, offset + source.length);
      const whole = checksumOf(bytes);
      assertEquals(positionedSum(bytes, 0, bytes.length, 0), whole, `offset ${offset}`);
      const cut = 40_001;
      assertEquals(
        addSums(positionedSum(bytes, 0, cut, 0), positionedSum(bytes, cut, bytes.length, cut)),
        whole,
        `offset ${offset}, cut at ${cut}`,
      );
    }
  }
});

Deno.test("encodeFloat32BigEndian: the bytes and checksum DataView and checksumOf give, for runs of any length and start (SIMD and JavaScript paths)", () => {
  const values = new Float32Array(200_003);
  let seed = 11;
  for (let i = 0; i < values.length; i++) {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    values[i] = (seed / 2147483648 - 0.3) * 1e5;
  }
  values[5] = NaN;
  values[6] = -Infinity;
  values[7] = -0;
  // Below the SIMD threshold, across it, across a 65,536-word chunk, not a multiple of 4, at an offset.
  for (
    const [start, end] of [[0, 7], [3, 300], [0, 65_536], [1, 65_541], [17, 200_003], [100_000, 100_257]]
  ) {
    const out = new Uint8Array(values.length * 4).fill(0xee);
    const sum = encodeFloat32BigEndian(values, out, start, end);
    const expected = new Uint8Array((end - start) * 4);
    const view = new DataView(expected.buffer);
    for (let i = start; i < end; i++) view.setFloat32((i - start) * 4, values[i]);
    assertEquals(out.subarray(start * 4, end * 4), expected, `bytes of [${start}, ${end})`);
    assertEquals(out[start * 4 - 1] ?? 0xee, 0xee, "nothing written before the run");
    assertEquals(out[end * 4] ?? 0xee, 0xee, "nothing written after the run");
    assertEquals(sum, checksumOf(expected), `sum of [${start}, ${end})`);
  }
});

Deno.test("convertBigEndian: int16 with an integer BZERO and float32, long runs (SIMD) equal to DataView's values", () => {
  const count = 70_001; // past one chunk of the SIMD path, not a multiple of 8
  const shorts = new Uint8Array(count * 2);
  const floats = new Uint8Array(count * 4);
  const shortView = new DataView(shorts.buffer);
  const floatView = new DataView(floats.buffer);
  let seed = 5;
  for (let i = 0; i < count; i++) {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    shortView.setInt16(i * 2, (seed >> 8) - 32768);
    floatView.setFloat32(i * 4, (seed / 2147483648 - 0.5) * 3e4);
  }
  floatView.setFloat32(4, NaN);
  floatView.setFloat32(8, -Infinity);
  shortView.setInt16(0, -32768);
  shortView.setInt16(2, 32767);
  for (const bzero of [32768, 0, -1000]) {
    const out = new Float32Array(count);
    convertBigEndian(shorts.slice(), 16, out, count, 1, bzero);
    for (let i = 0; i < count; i++) {
      if (out[i] !== shortView.getInt16(i * 2) + bzero) {
        throw new Error(`int16 pixel ${i} with BZERO ${bzero}: ${out[i]}`);
      }
    }
  }
  const out = new Float32Array(count);
  convertBigEndian(floats.slice(), -32, out, count);
  for (let i = 0; i < count; i++) {
    const expected = floatView.getFloat32(i * 4);
    if (!Object.is(out[i], expected)) throw new Error(`float32 pixel ${i}: ${out[i]} not ${expected}`);
  }
  // An unaligned run: the bytes copied, not viewed in place.
  const shifted = new Uint8Array(count * 2 + 1);
  shifted.set(shorts, 1);
  const fromShifted = new Float32Array(count);
  convertBigEndian(shifted.subarray(1), 16, fromShifted, count, 1, 32768);
  assertEquals(fromShifted[12345], shortView.getInt16(12345 * 2) + 32768);
});

for (const bitpix of [8, 16, 32, -32, -64] as const) {
  Deno.test(`write and read BITPIX ${bitpix} with checksums`, async () => {
    await withTempDir(async (dir) => {
      const width = 37;
      const height = 23;
      const data = new Float32Array(width * height);
      for (let i = 0; i < data.length; i++) data[i] = bitpix > 0 ? (i * 7) % 251 : (i - 300) * 0.25;
      const header = new Header();
      header.set("OBJECT", "test");
      const path = `${dir}/img.fits`;
      const written = await writeImage(path, header, data, { width, height, bitpix });
      const image = await readImage(path);
      assertEquals(image.width, width);
      assertEquals(image.height, height);
      assertEquals(image.data, data);
      assertEquals(image.header.getString("CHECKSUM"), written.checksum);
      const bytes = await Deno.readFile(path);
      assertEquals(bytes.length % 2880, 0);
      const [info] = await readHdus(path);
      const sums = verifyChecksums(
        bytes.subarray(0, info.dataOffset),
        bytes.subarray(info.dataOffset, info.dataOffset + Math.ceil(info.dataBytes / 2880) * 2880),
        info.header,
      );
      assertEquals(sums, { datasumOk: true, checksumOk: true });
    });
  });
}

Deno.test("unsigned 16-bit uses BZERO = 32768 and reads back as uint16 values", async () => {
  await withTempDir(async (dir) => {
    const data = new Float32Array([0, 1, 32767, 32768, 65535, 1000]);
    const path = `${dir}/u16.fits`;
    await writeImage(path, new Header(), data, { width: 3, height: 2, bitpix: 16, unsigned: true });
    const image = await readImage(path);
    assertEquals(image.header.getNumber("BZERO"), 32768);
    assertEquals(image.data, data);
  });
});

Deno.test("bands of rows read the same pixels as the whole image, 3-D planes included", async () => {
  await withTempDir(async (dir) => {
    const width = 11;
    const height = 7;
    const depth = 3;
    const data = new Float32Array(width * height * depth).map((_, i) => i);
    const path = `${dir}/cube.fits`;
    await writeImage(path, new Header(), data, { width, height, depth });
    const reader = await FitsImageReader.open(path);
    try {
      assertEquals([reader.width, reader.height, reader.depth], [11, 7, 3]);
      const band = new Float32Array(4 * width);
      await reader.readRows(9, 4, band);
      assertEquals(band, data.subarray(9 * width, 13 * width));
      await assertRejects(() => reader.readRows(19, 4, band), FitsError, "outside");
    } finally {
      reader.close();
    }
  });
});

Deno.test("the streaming writer checks row counts and leaves no file on abort", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/out.fits`;
    const writer = await FitsImageWriter.create(path, new Header(), { width: 4, height: 4 });
    await writer.writeRows(new Float32Array(8));
    await assertRejects(() => writer.close(), FitsError, "only 8 of 16 pixels");
    assertEquals([...Deno.readDirSync(dir)].length, 0, "temp file removed, no final file");
    const second = await FitsImageWriter.create(path, new Header(), { width: 4, height: 4 });
    await second.writeRows(new Float32Array(8));
    assertEquals(
      [...Deno.readDirSync(dir)].map((e) => e.name).filter((n) => n === "out.fits"),
      [],
      "not yet visible",
    );
    await second.writeRows(new Float32Array(8));
    await second.close();
    assertEquals([...Deno.readDirSync(dir)].map((e) => e.name), ["out.fits"]);
  });
});

Deno.test("BLANK integer pixels read as NaN and BSCALE applies", async () => {
  await withTempDir(async (dir) => {
    const cards = [
      "SIMPLE  =                    T",
      "BITPIX  =                   16",
      "NAXIS   =                    1",
      "NAXIS1  =                    3",
      "BSCALE  =                  0.5",
      "BZERO   =                   10",
      "BLANK   =                   -1",
      "END",
    ].map((c) => c.padEnd(80)).join("").padEnd(2880);
    const data = new Uint8Array(2880);
    data.set([0, 4, 0xff, 0xff, 0, 8]);
    const bytes = new Uint8Array(5760);
    bytes.set(new TextEncoder().encode(cards));
    bytes.set(data, 2880);
    await Deno.writeFile(`${dir}/b.fits`, bytes);
    const image = await readImage(`${dir}/b.fits`);
    assertEquals(image.height, 1);
    assertEquals(image.data[0], 12);
    assert(Number.isNaN(image.data[1]));
    assertEquals(image.data[2], 14);
  });
});

async function writeBytes(path: string, cards: string[], dataBytes = 0, cut = 0): Promise<void> {
  const header = cards.map((c) => c.padEnd(80)).join("");
  const headerSize = Math.ceil(header.length / 2880) * 2880;
  const bytes = new Uint8Array(headerSize + Math.ceil(dataBytes / 2880) * 2880 - cut);
  bytes.fill(0x20, 0, headerSize);
  bytes.set(new TextEncoder().encode(header));
  await Deno.writeFile(path, bytes);
}

Deno.test("bad files give a FitsError naming the file, HDU and problem", async () => {
  await withTempDir(async (dir) => {
    const base = [
      "SIMPLE  =                    T",
      "BITPIX  =                   16",
      "NAXIS   =                    2",
    ];
    const cases: [string, () => Promise<void>, RegExp][] = [
      ["empty.fits", () => Deno.writeFile(`${dir}/empty.fits`, new Uint8Array()), /empty\.fits: empty file$/],
      [
        "text.fits",
        () => Deno.writeTextFile(`${dir}/text.fits`, "hello\n".repeat(600)),
        /text\.fits: not a FITS file \(does not start with SIMPLE\)$/,
      ],
      [
        "bitpix.fits",
        () =>
          writeBytes(`${dir}/bitpix.fits`, [
            "SIMPLE  =                    T",
            "BITPIX  =                   12",
            "NAXIS   =  0",
            "END",
          ]),
        /bitpix\.fits: HDU 0: bad BITPIX 12 \(expected 8, 16, 32, 64, -32 or -64\)/,
      ],
      [
        "noend.fits",
        () =>
          writeBytes(`${dir}/noend.fits`, [
            ...base,
            "NAXIS1  =                    2",
            "NAXIS2  =                    2",
          ]),
        /noend\.fits: HDU 0: header has no END card/,
      ],
      [
        "short.fits",
        () =>
          writeBytes(
            `${dir}/short.fits`,
            [...base, "NAXIS1  =                 4096", "NAXIS2  =                 4096", "END"],
            4096 * 4096 * 2,
            4096 * 4096,
          ),
        /short\.fits: HDU 0: truncated data: BITPIX=16 NAXIS1=4096 NAXIS2=4096 needs 33554432 bytes but only \d+ remain/,
      ],
      [
        "naxis.fits",
        () =>
          writeBytes(`${dir}/naxis.fits`, [
            ...base,
            "NAXIS1  =                   -5",
            "NAXIS2  = 'x'",
            "END",
          ]),
        /naxis\.fits: HDU 0: NAXIS1 is -5 \(expected an integer >= 0\)/,
      ],
      [
        "tiny.fits",
        () => Deno.writeTextFile(`${dir}/tiny.fits`, "SIMPLE  =                    T"),
        /tiny\.fits: truncated/,
      ],
    ];
    for (const [name, make, pattern] of cases) {
      await make();
      const error = await assertRejects(() => readImage(`${dir}/${name}`), FitsError);
      assertMatch(error.message, pattern, name);
    }
    await assertRejects(() => readImage(`${dir}/missing.fits`), FitsError, "no such file");
  });
});

Deno.test("imageStats ignores NaN and takes numpy's median", () => {
  const stats = imageStats(new Float32Array([4, NaN, 1, 3, 2]));
  assertEquals([stats.min, stats.max, stats.mean, stats.median, stats.nan], [1, 4, 2.5, 2.5, 1]);
  assertAlmostEquals(stats.std, Math.sqrt(1.25), 1e-12);
});

Deno.test("toros fits info lists good files and reports bad ones with a non-zero exit", async () => {
  await withTempDir(async (dir) => {
    await writeImage(`${dir}/a.fits`, new Header(), new Float32Array(6), { width: 3, height: 2 });
    await Deno.writeTextFile(`${dir}/bad.fits`, "not fits");
    const lines: string[] = [];
    const errors: string[] = [];
    const log = console.log;
    const error = console.error;
    console.log = (line: string) => lines.push(line);
    console.error = (line: string) => errors.push(line);
    let code: number;
    try {
      code = await fitsCommand(["info", "--json", `${dir}/bad.fits`, `${dir}/a.fits`], {
        configPath: undefined,
      });
    } finally {
      console.log = log;
      console.error = error;
    }
    assertEquals(code, 1);
    const report = JSON.parse(lines.join("\n"));
    assertEquals(report[1].hdus[0].dimensions, [3, 2]);
    assertMatch(report[0].error, /bad\.fits: not a FITS file/);
    assertMatch(errors[0], /bad\.fits/);
  });
});
