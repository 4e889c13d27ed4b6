/**
 * The INDI stream reader alone: elements and BLOB payloads come out the same
 * however the bytes are cut into reads, and the base64 decoder agrees with the
 * platform's.
 */
import { assert, assertEquals, assertMatch, assertThrows } from "./_assert.ts";
import { Base64Decoder } from "../lib/indi/_base64.ts";
import { type Attributes, type BlobSink, IndiStreamParser, type ParsedElement } from "../lib/indi/_stream.ts";

interface Collected {
  elements: ParsedElement[];
  blobs: {
    vector: Attributes;
    member: Attributes;
    bytes: Uint8Array;
    error: string | undefined;
    decoded: number;
  }[];
  errors: string[];
}

function collector(): { parser: IndiStreamParser; out: Collected } {
  const out: Collected = { elements: [], blobs: [], errors: [] };
  const parser = new IndiStreamParser({
    element: (element) => out.elements.push(element),
    blobStart(_tag, vector, member): BlobSink {
      const parts: Uint8Array[] = [];
      return {
        write(bytes) {
          parts.push(bytes.slice()); // the parser reuses its buffer
          return Promise.resolve();
        },
        end(error, decoded) {
          const bytes = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
          let offset = 0;
          for (const part of parts) {
            bytes.set(part, offset);
            offset += part.length;
          }
          out.blobs.push({ vector, member, bytes, error: error?.message, decoded });
          return Promise.resolve();
        },
      };
    },
    error: (error) => out.errors.push(error.message),
  });
  return { parser, out };
}

async function parseInPieces(bytes: Uint8Array, cuts: number[]): Promise<Collected> {
  const { parser, out } = collector();
  let from = 0;
  for (const cut of [...cuts, bytes.length]) {
    await parser.feed(bytes.subarray(from, cut));
    from = cut;
  }
  return out;
}

function randomBytes(length: number, seed: number): Uint8Array {
  const bytes = new Uint8Array(length);
  let state = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    bytes[i] = state & 0xff;
  }
  return bytes;
}

/** Base64 with a line break every `width` characters, as some drivers send it. */
function wrappedBase64(bytes: Uint8Array, width = 72): string {
  const text = bytes.toBase64();
  const lines: string[] = [];
  for (let i = 0; i < text.length; i += width) lines.push(text.slice(i, i + width));
  return lines.join("\n");
}

const encoder = new TextEncoder();

const DOCUMENT =
  `<defNumberVector device="Telescope Simulator" name="EQUATORIAL_EOD_COORD" label="Eq. Coordinates" ` +
  `group="Main Control" state="Idle" perm="rw" timeout="60" timestamp="2026-11-30T14:00:57">
    <defNumber name="RA" label="RA (hh:mm:ss)" format="%010.6m" min="0" max="24" step="0">
12.5
    </defNumber>
    <defNumber name="DEC" label="DEC (dd:mm:ss)" format="%010.6m" min="-90" max="90" step="0">
-30:30:00
    </defNumber>
</defNumberVector>
<message device="Dôme" timestamp="2026-11-30T14:00:58" message="[INFO] Température &amp; vent: ok"/>
<setTextVector device="Dôme" name="NOTE" state="Ok">
    <oneText name="TEXT">ümlaut &lt;b&gt; ☃</oneText>
</setTextVector>
`;

Deno.test("elements come out the same wherever the stream is cut in two", async () => {
  const bytes = encoder.encode(DOCUMENT);
  const whole = await parseInPieces(bytes, []);
  assertEquals(whole.errors, []);
  assertEquals(whole.elements.map((e) => e.tag), ["defNumberVector", "message", "setTextVector"]);
  assertEquals(whole.elements[0].members.map((m) => [m.attributes.name, m.text]), [
    ["RA", "12.5"],
    ["DEC", "-30:30:00"],
  ]);
  assertEquals(whole.elements[1].attributes.message, "[INFO] Température & vent: ok");
  assertEquals(whole.elements[2].members[0].text, "ümlaut <b> ☃");
  for (let cut = 1; cut < bytes.length; cut++) {
    const split = await parseInPieces(bytes, [cut]);
    assertEquals(split, whole, `cut at byte ${cut}`);
  }
});

function blobDocument(payload: string, extra = ""): string {
  return `<setNumberVector device="CCD Simulator" name="CCD_EXPOSURE" state="Busy"><oneNumber name="CCD_EXPOSURE_VALUE">0</oneNumber></setNumberVector>
<setBLOBVector device="CCD Simulator" name="CCD1" state="Ok" timeout="60" timestamp="2026-11-30T14:00:58">
    <oneBLOB name="CCD1" size="${
    Math.floor(payload.replace(/\s/g, "").length * 3 / 4)
  }" format=".fits"${extra}>
${payload}
    </oneBLOB>
</setBLOBVector>
<setNumberVector device="CCD Simulator" name="CCD_EXPOSURE" state="Ok"><oneNumber name="CCD_EXPOSURE_VALUE">0</oneNumber></setNumberVector>
`;
}

Deno.test("a BLOB payload is decoded the same wherever the stream is cut", async () => {
  const image = randomBytes(301, 7);
  const bytes = encoder.encode(blobDocument(wrappedBase64(image, 40)));
  for (let cut = 1; cut < bytes.length; cut++) {
    const out = await parseInPieces(bytes, [cut]);
    assertEquals(out.errors, [], `cut at byte ${cut}`);
    assertEquals(out.blobs.length, 1, `cut at byte ${cut}`);
    assertEquals(out.blobs[0].bytes, image, `cut at byte ${cut}`);
    assertEquals(out.blobs[0].member.format, ".fits");
    assertEquals(out.blobs[0].vector.name, "CCD1");
    assertEquals(out.elements.map((e) => e.tag), ["setNumberVector", "setBLOBVector", "setNumberVector"]);
    assertEquals(out.elements[1].members[0].text, "", "the payload never reaches the element");
  }
});

Deno.test("a BLOB fed one byte at a time is whole", async () => {
  const image = randomBytes(4099, 11);
  const bytes = encoder.encode(blobDocument(wrappedBase64(image)));
  const out = await parseInPieces(bytes, Array.from({ length: bytes.length - 1 }, (_, i) => i + 1));
  assertEquals(out.blobs[0].bytes, image);
  assertEquals(out.blobs[0].decoded, image.length);
});

Deno.test("an attribute holding '>' does not end the oneBLOB start tag early", async () => {
  const image = randomBytes(30, 3);
  const bytes = encoder.encode(blobDocument(image.toBase64(), ` label="a > b"`));
  const out = await parseInPieces(bytes, [bytes.indexOf(0x3e, bytes.indexOf(0x61, /* a */ 200))]);
  assertEquals(out.blobs[0].bytes, image);
  assertEquals(out.blobs[0].member.label, "a > b");
});

Deno.test("an empty self-closing oneBLOB makes an empty BLOB and the element", async () => {
  const xml =
    `<setBLOBVector device="D" name="B" state="Ok"><oneBLOB name="B1" size="0" format=".fits"/></setBLOBVector>`;
  const out = await parseInPieces(encoder.encode(xml), [20]);
  assertEquals(out.blobs.length, 1);
  assertEquals(out.blobs[0].bytes.length, 0);
  assertEquals(out.blobs[0].error, undefined);
  assertEquals(out.elements[0].members.map((m) => m.attributes.name), ["B1"]);
});

Deno.test("invalid base64 ends the BLOB with an error and the stream goes on", async () => {
  const xml = blobDocument("QUJD*RA==");
  const out = await parseInPieces(encoder.encode(xml), []);
  assertEquals(out.blobs.length, 1);
  assertMatch(out.blobs[0].error ?? "", /Invalid base64: character 0x2a at payload byte \d+/);
  assertEquals(out.elements.map((e) => e.tag), ["setNumberVector", "setBLOBVector", "setNumberVector"]);
});

Deno.test("a tag named like oneBLOB but longer is plain XML", async () => {
  const xml = `<setTextVector device="D" name="T" state="Ok"><oneText name="X">a</oneText></setTextVector>` +
    `<oneBLOBs/>`;
  const out = await parseInPieces(encoder.encode(xml), [50, 101]);
  assertEquals(out.blobs.length, 0);
  assertEquals(out.elements.map((e) => e.tag), ["setTextVector", "oneBLOBs"]);
});

Deno.test("base64 decoding matches the platform decoder for every length and cut", () => {
  for (let length = 0; length < 40; length++) {
    const bytes = randomBytes(length, length + 1);
    const text = encoder.encode(wrappedBase64(bytes, 5));
    for (let cut = 0; cut <= text.length; cut++) {
      const decoder = new Base64Decoder();
      const out = new Uint8Array(Base64Decoder.maxOutput(text.length) + 2);
      const first = decoder.decode(text.subarray(0, cut), out);
      const second = decoder.decode(text.subarray(cut), out.subarray(first));
      decoder.finish();
      assertEquals(out.subarray(0, first + second), bytes, `length ${length}, cut ${cut}`);
    }
  }
});

Deno.test("a base64 payload cut in the middle of a byte is refused", () => {
  const decoder = new Base64Decoder();
  decoder.decode(encoder.encode("QUJDR"), new Uint8Array(8));
  assertThrows(() => decoder.finish(), Error, "ends in the middle of a byte");
  assert(decoder.decoded === 3);
});
