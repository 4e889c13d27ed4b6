/**
 * The plain-XML fast path against saxes, the parser it stands in for: whatever
 * the scanner accepts, saxes accepts too with the very same events; whatever
 * does not fit (comments, CDATA, attributes, DOCTYPE, broken documents) the
 * scanner leaves to saxes. Checked on real requests and on thousands of
 * mutations of them.
 */
import { assert, assertEquals } from "./_assert.ts";
import { SaxesParser } from "saxes";
import { scanPlainXml } from "../lib/xmlrpc/_fast_scan.ts";
import { encodeMethodCall, encodeMethodResponse, parseMethodCall } from "../lib/xmlrpc/mod.ts";
import { XmlRpcDouble } from "../lib/xmlrpc/values.ts";

function scanEvents(xml: string): string[] | null {
  const events: string[] = [];
  const accepted = scanPlainXml(xml, {
    open: (name) => events.push(`<${name}>`),
    text: (text) => events.push(`t:${text}`),
    close: () => events.push("</>"),
  });
  return accepted ? merge(events) : null;
}

/** saxes' events, or null when saxes finds the document malformed. */
function saxesEvents(xml: string): string[] | null {
  const events: string[] = [];
  const parser = new SaxesParser({ xmlns: false, position: false });
  let failed = false;
  parser.on("opentag", (tag) => events.push(`<${tag.name}>`));
  parser.on("text", (text) => events.push(`t:${text}`));
  parser.on("cdata", (text) => events.push(`t:${text}`));
  parser.on("closetag", () => events.push("</>"));
  parser.on("error", () => (failed = true));
  parser.on("doctype", () => events.push("doctype"));
  try {
    parser.write(xml).close();
  } catch {
    failed = true;
  }
  return failed ? null : merge(events);
}

/** Adjacent text events joined, and whitespace-only text outside the root dropped (neither decoder sees it). */
function merge(events: string[]): string[] {
  const out: string[] = [];
  let depth = 0;
  for (const event of events) {
    if (event.startsWith("t:")) {
      if (depth === 0) continue;
      if (out.length > 0 && out[out.length - 1].startsWith("t:")) out[out.length - 1] += event.slice(2);
      else out.push(event);
    } else {
      depth += event === "</>" ? -1 : event === "doctype" ? 0 : 1;
      out.push(event);
    }
  }
  return out;
}

const CORPUS: string[] = [
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
  `<methodCall><methodName>x</methodName><params><param><value><nil/></value></param><param><value><ex:nil /></value></param></params></methodCall>`,
  `<methodCall ><methodName >x</methodName ><params/></methodCall >`,
  `<?xml version="1.0" standalone="yes"?><methodCall><methodName>é ü 漢字</methodName></methodCall>`,
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

Deno.test("what the scanner accepts, saxes accepts with the same events", () => {
  let accepted = 0;
  for (const xml of CORPUS) {
    const fast = scanEvents(xml);
    const reference = saxesEvents(xml);
    if (fast === null) continue;
    accepted++;
    assert(reference !== null, `scanner accepted what saxes refuses: ${JSON.stringify(xml)}`);
    assertEquals(fast, reference, JSON.stringify(xml));
  }
  assertEquals(accepted, 7, "the requests clients really send take the fast path");
});

Deno.test("thousands of mutated requests: the scanner never accepts what saxes would read differently", () => {
  let state = 12345;
  const random = (n: number) => ((state = (state * 1103515245 + 12345) % 2147483648) % n);
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
  ];
  let agreed = 0;
  for (let round = 0; round < 6000; round++) {
    let xml = CORPUS[random(7)];
    for (let edits = 1 + random(3); edits > 0; edits--) {
      const at = random(xml.length + 1);
      const kind = random(3);
      if (kind === 0) xml = xml.slice(0, at) + alphabet[random(alphabet.length)] + xml.slice(at);
      else if (kind === 1) xml = xml.slice(0, at) + xml.slice(at + 1 + random(4));
      else xml = xml.slice(0, at) + xml.slice(at, at + random(12)) + xml.slice(at);
    }
    const fast = scanEvents(xml);
    if (fast === null) continue;
    const reference = saxesEvents(xml);
    assert(reference !== null, `scanner accepted what saxes refuses: ${JSON.stringify(xml)}`);
    assertEquals(fast, reference, JSON.stringify(xml));
    agreed++;
  }
  assert(agreed > 500, `only ${agreed} mutations took the fast path`);
});

Deno.test("decoding gives the same values and faults on the fast path as through saxes", () => {
  const order = parseMethodCall(CORPUS[0]);
  assertEquals(order.methodName, "front_desk");
  const struct = order.params[0] as Record<string, unknown>;
  assertEquals(struct.Many, [1, 3, "a < b & c > d", [], {}]);
  assertEquals(struct.Blob, new Uint8Array([0, 1, 2, 250]));
  // The same document with a comment inside goes through saxes: same values.
  const commented = CORPUS[0].replace("<methodName>", "<!-- via saxes --><methodName>");
  assertEquals(parseMethodCall(commented), order);
});
