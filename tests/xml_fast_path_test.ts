/**
 * The plain-document fast path against the general decoder on saxes: whatever
 * the fast reader accepts, the general decoder reads to the very same values;
 * whatever does not fit (comments, CDATA, attributes, DOCTYPE, broken or
 * unusual documents) the fast reader declines and leaves to saxes. Checked on
 * real requests (ours and Python's xmlrpc.client's) and on thousands of
 * mutations of them.
 */
import { assert, assertEquals } from "./_assert.ts";
import { decodePlainDocument } from "../lib/xmlrpc/_plain_decode.ts";
import { type DecodedDocument, decodeWithSaxes } from "../lib/xmlrpc/_saxes_decode.ts";
import {
  encodeMethodCall,
  encodeMethodResponse,
  encodeValueXml,
  parseMethodCall,
  parseMethodResponse,
  XmlRpcFault,
} from "../lib/xmlrpc/mod.ts";
import { XmlRpcDouble, type XmlRpcValue } from "../lib/xmlrpc/values.ts";
import { decodeScalar } from "../lib/xmlrpc/_scalars.ts";

/** A document as text that shows key order and types too (deep equality ignores order). */
function show(doc: DecodedDocument): string {
  return JSON.stringify([
    doc.root,
    doc.methodName,
    doc.params === null ? null : encodeValueXml(doc.params),
    doc.fault === undefined ? "no fault" : encodeValueXml(doc.fault),
  ]);
}

/** The general decoder's document, or null when it refuses the text. */
function general(xml: string): DecodedDocument | null {
  try {
    return decodeWithSaxes(xml, {});
  } catch (error) {
    if (error instanceof XmlRpcFault) return null;
    throw error;
  }
}

/** Asserts that the fast path, when it accepts, agrees with the general decoder; returns whether it accepted. */
function agrees(xml: string): boolean {
  const fast = decodePlainDocument(xml, 100);
  if (fast === null) return false;
  const reference = general(xml);
  assert(reference !== null, `fast path accepted what the general decoder refuses: ${JSON.stringify(xml)}`);
  assertEquals(fast, reference, JSON.stringify(xml));
  assertEquals(show(fast), show(reference), JSON.stringify(xml));
  return true;
}

/** What Python's xmlrpc.client sends (xmlrpc.client.dumps with allow_none), and a fault as it answers one. */
const PYTHON_CALL =
  "<?xml version='1.0'?>\n<methodCall>\n<methodName>front_desk</methodName>\n<params>\n<param>\n<value><struct>\n<member>\n<name>ID</name>\n<value><string>1</string></value>\n</member>\n<member>\n<name>RA</name>\n<value><double>23.1</double></value>\n</member>\n<member>\n<name>N</name>\n<value><int>3</int></value>\n</member>\n<member>\n<name>Flag</name>\n<value><boolean>1</boolean></value>\n</member>\n<member>\n<name>None</name>\n<value><nil/></value></member>\n<member>\n<name>When</name>\n<value><dateTime.iso8601>20190305T14:34:54</dateTime.iso8601></value>\n</member>\n<member>\n<name>Blob</name>\n<value><base64>\nAAH6\n</base64></value>\n</member>\n<member>\n<name>List</name>\n<value><array><data>\n<value><int>1</int></value>\n<value><string>a&lt;b</string></value>\n<value><array><data>\n</data></array></value>\n</data></array></value>\n</member>\n<member>\n<name>Empty</name>\n<value><string></string></value>\n</member>\n</struct></value>\n</param>\n</params>\n</methodCall>\n";
const PYTHON_FAULT =
  "<?xml version='1.0'?>\n<methodResponse>\n<fault>\n<value><struct>\n<member>\n<name>faultCode</name>\n<value><int>1</int></value>\n</member>\n<member>\n<name>faultString</name>\n<value><string>no &amp; never</string></value>\n</member>\n</struct></value>\n</fault>\n</methodResponse>\n";

/** The first entries are documents the fast path takes; from `<nil />` on it declines them. */
const CORPUS: string[] = [
  PYTHON_CALL,
  PYTHON_FAULT,
  encodeMethodCall("front_desk", [{
    ID: "1",
    WOType: "Observation",
    RA: 23.1,
    Priority: null,
    Flag: true,
    When: new Date("2019-03-05T14:34:54Z"),
    Blob: new Uint8Array([0, 1, 2, 250]),
    Many: [1, new XmlRpcDouble(3), "a < b & c > d", [], {}],
    Big: 2n ** 40n,
  }]),
  encodeMethodResponse({ Status: "queued", Message: "Work order received.", Job: 7 }),
  `<?xml version='1.0' encoding="UTF-8"?>\n<methodCall>\n  <methodName>job_status</methodName>\n  <params>\n    <param><value><int>3</int></value></param>\n  </params>\n</methodCall>\n`,
  `<methodCall><methodName>x</methodName><params><param><value>untyped &#65;&#x42; &quot;q&quot; &apos;</value></param></params></methodCall>`,
  `<?xml version="1.0" standalone="yes"?><methodCall><methodName>é ü 漢字</methodName></methodCall>`,
  `<methodCall><methodName>x</methodName><params><param><value><struct><member><name>__proto__</name><value><struct><member><name>WOType</name><value>Calibration</value></member></struct></value></member></struct></value></param></params></methodCall>`,
  // Members in every shape the one-match member reader takes, and some it leaves to the element reader.
  `<methodCall><methodName>x</methodName><params><param><value><struct>` +
  `<member> <name> spaced name </name> <value> <string> s </string> </value> </member>` +
  `<member><name>untyped space</name><value>  </value></member><member><name>untyped empty</name><value></value></member>` +
  `<member><name>nil</name><value> <nil/> </value></member><member><name>empty</name><value><string/></value></member>` +
  `<member><name>b</name><value><boolean>0</boolean></value></member><member><name>i</name><value><i4> -7 </i4></value></member>` +
  `<member><name>d</name><value><double>-1.5e3</double></value></member><member><name>n</name><value><int>+3</int></value></member>` +
  `<member><name>entity</name><value><string>a&amp;b</string></value></member><member><name>gt</name><value>a > b</value></member>` +
  `<member><name>nested</name><value><struct><member><name>k</name><value><int>1</int></value></member></struct></value></member>` +
  `<member><name>dup</name><value>1</value></member><member><name>dup</name><value><int>2</int></value></member>` +
  `</struct></value></param></params></methodCall>`,
  // Declined, and read by saxes: unusual but valid, wrong, or not plain.
  `<methodCall><methodName>x</methodName><params><param><value><struct><member><name>a</name><value><int>1</i4></value></member></struct></value></param></params></methodCall>`,
  `<methodCall><methodName>x</methodName><params><param><value><struct><member><name>a</name><value><int>99999999999</int></value></member></struct></value></param></params></methodCall>`,
  `<methodCall><methodName>x</methodName><params><param><value><nil/></value></param><param><value><ex:nil /></value></param></params></methodCall>`,
  `<methodCall ><methodName >x</methodName ><params/></methodCall >`,
  `<methodCall><methodName>x</methodName><params><param><value><int>12x</int></value></param></params></methodCall>`,
  `<methodCall><methodName>x</methodName><params><param><value>text<int>1</int></value></param></params></methodCall>`,
  // Left to saxes: comment, CDATA, attribute, DOCTYPE, processing instruction, CR, BOM, malformed.
  `<methodCall><!-- c --><methodName>x</methodName></methodCall>`,
  `<methodCall><methodName><![CDATA[x]]></methodName></methodCall>`,
  `<methodCall a="1"><methodName>x</methodName></methodCall>`,
  `<!DOCTYPE m [<!ENTITY a "b">]><methodCall><methodName>&a;</methodName></methodCall>`,
  `<?pi x?><methodCall><methodName>x</methodName></methodCall>`,
  `<methodCall>\r\n<methodName>x</methodName></methodCall>`,
  `\uFEFF<methodCall><methodName>x</methodName></methodCall>`,
  `<methodCall><methodName>x</methodName>`,
  `<methodCall><methodName>x</methodCall></methodName>`,
  `<methodCall><methodName>a ]]> b</methodName></methodCall>`,
  `<methodCall><methodName>&bogus;</methodName></methodCall>`,
  `<methodCall><methodName>&#0;</methodName></methodCall>`,
  `<methodCall></methodCall><methodCall></methodCall>`,
  `text<methodCall/>`,
  ``,
];

/** A repeatable random integer below `n` (a linear congruential generator), so a failure can be replayed. */
function seededRandom(seed: number): (n: number) => number {
  let state = seed;
  return (n) => (state = (state * 1103515245 + 12345) % 2147483648) % n;
}

/** How many of the corpus's first entries the fast path takes. */
const PLAIN = 9;

Deno.test("the fast path takes the requests clients send, and agrees with saxes on every document it takes", () => {
  CORPUS.forEach((xml, i) => {
    assertEquals(
      agrees(xml),
      i < PLAIN,
      `entry ${i} ${i < PLAIN ? "declined" : "accepted"}: ${JSON.stringify(xml)}`,
    );
  });
});

Deno.test("thousands of mutated requests: the fast path never reads a document differently from saxes", () => {
  const random = seededRandom(12345);
  const alphabet = [
    "<",
    ">",
    "/",
    "&",
    ";",
    "#",
    "x",
    "a",
    " ",
    "\r",
    "\n",
    "]",
    "'",
    '"',
    "=",
    "!",
    "?",
    "é",
    "\0",
    "1",
    ".",
  ];
  let agreed = 0;
  for (let round = 0; round < 6000; round++) {
    let xml = CORPUS[random(PLAIN)];
    for (let edits = 1 + random(3); edits > 0; edits--) {
      const at = random(xml.length + 1);
      const kind = random(3);
      if (kind === 0) xml = xml.slice(0, at) + alphabet[random(alphabet.length)] + xml.slice(at);
      else if (kind === 1) xml = xml.slice(0, at) + xml.slice(at + 1 + random(4));
      else xml = xml.slice(0, at) + xml.slice(at, at + random(12)) + xml.slice(at);
    }
    if (agrees(xml)) agreed++;
  }
  assert(agreed > 500, `only ${agreed} mutations took the fast path`);
});

Deno.test("nesting past the limit is declined by the fast path and refused by saxes", () => {
  const deep = (n: number) =>
    `<methodCall><methodName>x</methodName><params><param>${"<value><array><data>".repeat(n)}` +
    `${"</data></array></value>".repeat(n)}</param></params></methodCall>`;
  assert(decodePlainDocument(deep(10), 100) !== null);
  assertEquals(decodePlainDocument(deep(40), 100), null);
  assert(general(deep(40)) === null, "saxes path refuses 40 nested arrays at depth 100");
  assertEquals(parseMethodCall(deep(10), { maxDepth: 100 }).params.length, 1);
});

Deno.test("struct members at the nesting limit: the fast path takes exactly what saxes takes", () => {
  const member = (value: string) =>
    `<methodCall><methodName>x</methodName><params><param><value><struct><member><name>a</name><value>${value}` +
    `</value></member></struct></value></param></params></methodCall>`;
  for (const value of ["<int>1</int>", "<string>s</string>", "<nil/>", "untyped", ""]) {
    for (let maxDepth = 4; maxDepth <= 10; maxDepth++) {
      const xml = member(value);
      let saxes = true;
      try {
        decodeWithSaxes(xml, { maxDepth });
      } catch {
        saxes = false;
      }
      assertEquals(decodePlainDocument(xml, maxDepth) !== null, saxes, `${value} at depth limit ${maxDepth}`);
    }
  }
});

Deno.test("values and faults are the same on the fast path as through saxes", () => {
  const order = parseMethodCall(CORPUS[2]);
  assertEquals(order.methodName, "front_desk");
  const struct = order.params[0] as Record<string, unknown>;
  assertEquals(struct.Many, [1, 3, "a < b & c > d", [], {}]);
  assertEquals(struct.Blob, new Uint8Array([0, 1, 2, 250]));
  // The same document with a comment inside goes through saxes: same values.
  const commented = CORPUS[2].replace("<methodName>", "<!-- via saxes --><methodName>");
  assertEquals(decodePlainDocument(commented, 100), null);
  assertEquals(parseMethodCall(commented), order);
  const python = parseMethodCall(PYTHON_CALL).params[0] as Record<string, XmlRpcValue>;
  assertEquals(python.When, new Date("2019-03-05T14:34:54Z"));
  assertEquals(python.None, null);
  assertEquals(python.Empty, "");
  try {
    parseMethodResponse(PYTHON_FAULT);
    throw new Error("a fault response must throw");
  } catch (error) {
    assert(error instanceof XmlRpcFault);
    assertEquals([error.code, error.message], [1, "no & never"]);
  }
});

Deno.test("a member named __proto__ is an ordinary key on both paths: it cannot give a struct keys it was not sent", () => {
  const xml = CORPUS[7];
  assert(xml.includes("__proto__"));
  for (
    const doc of [
      decodePlainDocument(xml, 100)!,
      decodeWithSaxes(xml.replace("<params>", "<!--s--><params>"), {}),
    ]
  ) {
    const struct = doc.params![0] as Record<string, XmlRpcValue>;
    assertEquals(Object.getPrototypeOf(struct), Object.prototype);
    assertEquals(struct.WOType, undefined);
    assertEquals(Object.keys(struct), ["__proto__"]);
    assertEquals(
      (Object.getOwnPropertyDescriptor(struct, "__proto__")?.value as Record<string, XmlRpcValue>).WOType,
      "Calibration",
    );
  }
});

/** The grammar of XML-RPC numbers as regular expressions: the reference the hand-written readers must match. */
function referenceNumber(name: string, text: string): unknown {
  const trimmed = text.trim();
  if (name === "double") {
    if (!/^[+-]?(\d+\.?\d*([eE][+-]?\d+)?|\.\d+([eE][+-]?\d+)?|nan|inf|infinity)$/i.test(trimmed)) {
      return "invalid";
    }
    return Number(trimmed.replace(/^([+-]?)inf(inity)?$/i, "$1Infinity").replace(/^[+-]?nan$/i, "NaN"));
  }
  if (!/^[+-]?\d+$/.test(trimmed)) return "invalid";
  if (name === "i8") return Number(BigInt(trimmed));
  const n = Number(trimmed);
  return n < -2147483648 || n > 2147483647 ? "invalid" : n;
}

Deno.test("numbers are read exactly as the grammar's regular expressions read them", () => {
  const random = seededRandom(4242);
  const pieces = [
    "0",
    "1",
    "7",
    "9",
    "+",
    "-",
    ".",
    "e",
    "E",
    " ",
    "\n",
    "\u00a0",
    "x",
    "nan",
    "inf",
    "inity",
    "٣",
  ];
  let valid = 0;
  for (let round = 0; round < 20000; round++) {
    let text = "";
    for (let k = random(9); k > 0; k--) text += pieces[random(pieces.length)];
    for (const name of ["double", "int", "i8"]) {
      let actual: unknown;
      try {
        actual = decodeScalar(name, text);
      } catch (error) {
        assert(error instanceof XmlRpcFault, `${name} ${JSON.stringify(text)} threw ${error}`);
        actual = "invalid";
      }
      const expected = referenceNumber(name, text);
      assert(
        Object.is(actual, expected),
        `${name} ${JSON.stringify(text)}: ${String(actual)}, expected ${String(expected)}`,
      );
      if (expected !== "invalid") valid++;
    }
  }
  assert(valid > 2000, `only ${valid} of the random texts were numbers`);
});
