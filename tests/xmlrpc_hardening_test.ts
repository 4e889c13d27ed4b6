/**
 * The XML-RPC layer against a hostile probe: bodies built to cost the server
 * seconds, bodies in other encodings than UTF-8 (compared with what Python's
 * SimpleXMLRPCServer makes of the same bytes), HTTP authentication schemes in
 * any case, and bodies that trickle in. What each costs in time is measured by
 * the RPC benchmark (`bench/rpc_bench.ts --body-check`), not here.
 */
import { assert, assertEquals, assertStringIncludes, assertThrows } from "./_assert.ts";
import { peerTest, PYTHON, runPython } from "./_peers.ts";
import { decodePlainDocument } from "../lib/xmlrpc/_plain_decode.ts";
import { type DecodeLimits, decodeWithSaxes } from "../lib/xmlrpc/_saxes_decode.ts";
import {
  callXmlRpc,
  encodeMethodCall,
  FAULT_INVALID_REQUEST,
  FAULT_PARSE_ERROR,
  parseMethodCall,
  parseMethodResponse,
  XmlRpcFault,
  XmlRpcServer,
  type XmlRpcServerOptions,
  type XmlRpcValue,
} from "../lib/xmlrpc/mod.ts";

/** The hostile probe's body: a `<value>` holding 349,000 unclosed `<a>` (just under 1 MiB). */
const UNCLOSED_TAGS = "<?xml version='1.0'?><methodCall><methodName>x</methodName><params><param><value>" +
  "<a>".repeat(349_000);

function startServer(options: Partial<XmlRpcServerOptions> = {}) {
  const server = new XmlRpcServer({ title: "Hardening", ...options });
  server.register("echo", {
    handler: (...params) => params,
    signatures: [],
    help: "Returns its parameters.",
  });
  const http = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    (r, i) => server.handle(r, i),
  );
  return { url: `http://127.0.0.1:${http.addr.port}/`, port: http.addr.port, http };
}

/** The fault a call body decodes to (parseMethodCall must refuse it). */
function faultOf(xml: string, limits: DecodeLimits = {}): XmlRpcFault {
  return assertThrows(() => parseMethodCall(xml, limits), XmlRpcFault) as XmlRpcFault;
}

/** Whether the general decoder accepts `xml` under `limits`. */
function saxesAccepts(xml: string, limits: DecodeLimits): boolean {
  try {
    decodeWithSaxes(xml, limits);
    return true;
  } catch (error) {
    if (error instanceof XmlRpcFault) return false;
    throw error;
  }
}

// --- 1. Bodies that cost: the first error ends the parse; elements and text are limited. ---

Deno.test("a body of unclosed tags is refused at the first one, an unknown value type", () => {
  const fault = faultOf(UNCLOSED_TAGS);
  assertEquals([fault.code, fault.message], [
    FAULT_INVALID_REQUEST,
    "Invalid request: unknown value type <a>",
  ]);
  // Other bodies saxes would report once per character or tag: one fault, for the first problem.
  const head = "<methodCall><methodName>x</methodName>";
  for (
    const [body, message] of [
      [head + "</a>".repeat(100_000), "Parse error: unexpected close tag."],
      [
        `${head}<params><param><value><string>${"\u0001".repeat(100_000)}`,
        "Parse error: disallowed character.",
      ],
    ]
  ) {
    const refused = faultOf(body);
    assertEquals([refused.code, refused.message], [FAULT_PARSE_ERROR, message]);
  }
});

Deno.test("more elements than the limit are refused on both decoding paths, naming the limit", () => {
  const call = (n: number) => encodeMethodCall("echo", [Array.from({ length: n }, (_, i) => i)]);
  // methodCall, methodName, params, param, value, array, data + two per item.
  const elements = (n: number) => 7 + 2 * n;
  for (const xml of [call(20), call(20).replace("<params>", "<!-- via saxes --><params>")]) {
    const fault = faultOf(xml, { maxElements: elements(20) - 1 });
    assertEquals(fault.code, FAULT_INVALID_REQUEST);
    assertEquals(
      fault.message,
      `Invalid request: more than ${elements(20) - 1} elements in one document (the limit)`,
    );
  }
  assertEquals(parseMethodCall(call(20), { maxElements: elements(20) }).params[0], [...Array(20).keys()]);
  // Attributes and comments count: each costs the parser about as much as an element.
  const attributes = `<methodCall ${Array.from({ length: 50 }, (_, i) => `a${i}="1"`).join(" ")}>` +
    "<methodName>x</methodName></methodCall>";
  assertStringIncludes(faultOf(attributes, { maxElements: 40 }).message, "more than 40 elements");
});

Deno.test("text longer than the limit is refused on both paths: method names, member names, values", () => {
  const long = "x".repeat(101);
  const documents = [
    encodeMethodCall(long, []),
    encodeMethodCall("echo", [{ [long]: 1 }]),
    encodeMethodCall("echo", [long]),
    encodeMethodCall("echo", [{ a: long }]),
    `<methodCall><methodName>echo</methodName><params><param><value>${long}</value></param></params></methodCall>`,
    `<methodCall><methodName>echo</methodName><params><param><value><base64>${"A".repeat(104)}</base64>` +
    "</value></param></params></methodCall>",
  ];
  for (const xml of documents) {
    for (const body of [xml, xml.replace("<methodName>", "<!-- via saxes --><methodName>")]) {
      const fault = faultOf(body, { maxTextLength: 100 });
      assertEquals(fault.code, FAULT_INVALID_REQUEST, body);
      assertStringIncludes(fault.message, "longer than 100 characters (the limit)");
    }
    assert(parseMethodCall(xml, { maxTextLength: 104 }).methodName.length > 0);
  }
  // Whitespace between elements is not text: a pretty-printed call is not refused for it.
  const spaced = encodeMethodCall("echo", [[1, 2]]).replaceAll("<value>", `\n${" ".repeat(200)}<value>`);
  assertEquals(parseMethodCall(spaced, { maxTextLength: 10 }).params, [[1, 2]]);
});

Deno.test("at the element and text limits the fast path takes exactly what saxes takes", () => {
  const documents = [
    encodeMethodCall("front_desk", [{
      ID: "1",
      WOType: "Observation",
      RA: 23.1,
      Priority: null,
      Flag: true,
      Empty: "",
      When: new Date("2019-03-05T14:34:54Z"),
      Many: [1, "a < b", [], {}],
    }]),
    "<?xml version='1.0'?>\n<methodCall>\n<methodName>job_status</methodName>\n<params>\n<param>\n" +
    "<value><struct>\n<member>\n<name>Status</name>\n<value><string>done</string></value>\n</member>\n" +
    "<member>\n<name>Limit</name>\n<value><int>20</int></value>\n</member>\n<member>\n<name>Untyped</name>\n" +
    "<value>plain</value>\n</member>\n<member><name>Nil</name><value><nil/></value></member>\n</struct></value>\n" +
    "</param>\n</params>\n</methodCall>\n",
  ];
  let refused = 0;
  for (const xml of documents) {
    assert(decodePlainDocument(xml, 100) !== null, "a plain document");
    const limitsToTry: DecodeLimits[] = [
      ...Array.from({ length: 81 }, (_, maxElements) => ({ maxElements })),
      ...Array.from({ length: 26 }, (_, maxTextLength) => ({ maxTextLength })),
    ];
    for (const limits of limitsToTry) {
      const saxes = saxesAccepts(xml, limits);
      assertEquals(decodePlainDocument(xml, 100, limits) !== null, saxes, JSON.stringify(limits));
      if (!saxes) refused++;
    }
  }
  assert(refused > 50, `only ${refused} of the limits refused a document`);
});

await peerTest(
  "Python's client gets a fault for the unclosed-tag body and for a call past the element limit",
  [
    "python",
  ],
  async () => {
    const { port, url, http } = startServer();
    try {
      const script = `
import sys, json, http.client, xmlrpc.client
port, url = int(sys.argv[1]), sys.argv[2]
body = b"<?xml version='1.0'?><methodCall><methodName>x</methodName><params><param><value>" + b"<a>" * 349000
connection = http.client.HTTPConnection("127.0.0.1", port)
connection.request("POST", "/RPC2", body, {"Content-Type": "text/xml"})
response = connection.getresponse()
out = {"status": response.status}
try:
    xmlrpc.client.loads(response.read())
except xmlrpc.client.Fault as fault:
    out["unclosed"] = [fault.faultCode, fault.faultString]
try:
    xmlrpc.client.ServerProxy(url).echo(list(range(6000)))
except xmlrpc.client.Fault as fault:
    out["elements"] = [fault.faultCode, fault.faultString]
out["small"] = xmlrpc.client.ServerProxy(url).echo(list(range(100)))[0][-1]
print(json.dumps(out))
`;
      const out = JSON.parse(await runPython(script, [String(port), url]));
      assertEquals(out.status, 200);
      assertEquals(out.unclosed, [FAULT_INVALID_REQUEST, "Invalid request: unknown value type <a>"]);
      assertEquals(out.elements, [
        FAULT_INVALID_REQUEST,
        "Invalid request: more than 10000 elements in one document (the limit)",
      ]);
      assertEquals(out.small, 99, "the server still answers");
    } finally {
      await http.shutdown();
    }
  },
);

// --- 2. Declared encodings: the XML declaration and the byte order mark, as Python reads them. ---

/** Bytes of text in a one-byte encoding, given as code points that are the bytes. */
function bytesOf(text: string): number[] {
  return [...text].map((c) => {
    const code = c.charCodeAt(0);
    assert(code < 256, `${c} is not one byte`);
    return code;
  });
}

function utf16(text: string, order: "le" | "be"): number[] {
  const out: number[] = [];
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    out.push(...(order === "le" ? [unit & 0xff, unit >> 8] : [unit >> 8, unit & 0xff]));
  }
  return out;
}

/** A call of echo with one untyped value: the declaration, then the value's bytes as given. */
function echoCall(declaration: string, value: number[]): Uint8Array<ArrayBuffer> {
  const head =
    `<?xml version='1.0'${declaration}?><methodCall><methodName>echo</methodName><params><param><value>`;
  return new Uint8Array([
    ...bytesOf(head),
    ...value,
    ...bytesOf("</value></param></params></methodCall>"),
  ]);
}

/** A call of echo in UTF-16; a null declaration writes none. */
function utf16Call(
  declaration: string | null,
  value: string,
  order: "le" | "be",
  bom: boolean,
): Uint8Array<ArrayBuffer> {
  const text = `${declaration === null ? "" : `<?xml version='1.0'${declaration}?>`}<methodCall>` +
    `<methodName>echo</methodName><params><param><value>${value}</value></param></params></methodCall>`;
  const mark = bom ? (order === "le" ? [0xff, 0xfe] : [0xfe, 0xff]) : [];
  return new Uint8Array([...mark, ...utf16(text, order)]);
}

const UTF8 = (text: string) => [...new TextEncoder().encode(text)];

/**
 * Bodies in other encodings, what Python's SimpleXMLRPCServer reads in them (a string, or a fault), and
 * where ours differs on purpose.
 */
const ENCODED_BODIES: {
  name: string;
  body: Uint8Array<ArrayBuffer>;
  expected: string | "fault";
  python?: string;
}[] = [
  { name: "ISO-8859-1", body: echoCall(" encoding='ISO-8859-1'", [0xe9, 0x20, 0xff]), expected: "é ÿ" },
  { name: "ISO-8859-1, a C1 byte", body: echoCall(" encoding='iso-8859-1'", [0x80]), expected: "\u0080" },
  { name: "latin1 label", body: echoCall(' encoding="latin1"', [0xe9]), expected: "é" },
  // UTF-8 bytes under an ISO-8859-1 declaration are two Latin-1 characters, as the declaration says.
  {
    name: "UTF-8 bytes declared ISO-8859-1",
    body: echoCall(" encoding='ISO-8859-1'", UTF8("é")),
    expected: "Ã©",
  },
  { name: "windows-1252", body: echoCall(" encoding='windows-1252'", [0x80]), expected: "€" },
  { name: "ISO-8859-15", body: echoCall(" encoding='ISO-8859-15'", [0xa4]), expected: "€" },
  { name: "KOI8-R", body: echoCall(" encoding='KOI8-R'", [0xf6]), expected: "Ж" },
  {
    name: "US-ASCII with a byte past 0x7F",
    body: echoCall(" encoding='US-ASCII'", [0xe9]),
    expected: "fault",
  },
  { name: "UTF-8 declared", body: echoCall(" encoding='utf-8'", UTF8("é 漢")), expected: "é 漢" },
  {
    name: "UTF-8 with a byte order mark",
    body: new Uint8Array([0xef, 0xbb, 0xbf, ...echoCall("", UTF8("é"))]),
    expected: "é",
  },
  { name: "invalid UTF-8", body: echoCall("", [0xff]), expected: "fault" },
  { name: "unknown encoding", body: echoCall(" encoding='x-klingon'", [0x41]), expected: "fault" },
  {
    name: "UTF-16, mark, little-endian",
    body: utf16Call(" encoding='UTF-16'", "é漢", "le", true),
    expected: "é漢",
  },
  {
    name: "UTF-16, mark, big-endian",
    body: utf16Call(" encoding='UTF-16'", "é漢", "be", true),
    expected: "é漢",
  },
  {
    name: "UTF-16, no mark, little-endian",
    body: utf16Call(" encoding='UTF-16'", "é漢", "le", false),
    expected: "é漢",
  },
  {
    name: "UTF-16, no mark, big-endian",
    body: utf16Call(" encoding='UTF-16'", "é漢", "be", false),
    expected: "é漢",
  },
  {
    name: "UTF-16LE declared, no mark",
    body: utf16Call(" encoding='UTF-16LE'", "é", "le", false),
    expected: "é",
  },
  { name: "UTF-16 with a mark and no declaration", body: utf16Call(null, "é", "be", true), expected: "é" },
  {
    name: "UTF-16 body declared UTF-8",
    body: utf16Call(" encoding='UTF-8'", "é", "le", true),
    expected: "fault",
  },
  { name: "one-byte body declared UTF-16", body: echoCall(" encoding='UTF-16'", [0x41]), expected: "fault" },
  // Where ours differs: expat reads on past a UTF-8 mark in the declared encoding; a mark that contradicts
  // the declaration is refused here. And expat cannot read multi-byte encodings; TextDecoder can.
  {
    name: "UTF-8 mark declared ISO-8859-1",
    body: new Uint8Array([0xef, 0xbb, 0xbf, ...echoCall(" encoding='ISO-8859-1'", UTF8("é"))]),
    expected: "fault",
    python: "Ã©",
  },
  {
    name: "Shift_JIS",
    body: echoCall(" encoding='Shift_JIS'", [0x8a, 0xbf]),
    expected: "漢",
    python: "fault",
  },
];

/** What a server answered to a raw body: the echoed string, or "fault" (with the fault kept for messages). */
async function echoed(
  url: string,
  body: Uint8Array<ArrayBuffer>,
): Promise<{ value: string; message: string }> {
  const response = await fetch(url, { method: "POST", body, headers: { "content-type": "text/xml" } });
  assertEquals(response.status, 200);
  try {
    const value = parseMethodResponse(await response.text()) as XmlRpcValue[];
    return { value: value[0] as string, message: "" };
  } catch (error) {
    if (!(error instanceof XmlRpcFault)) throw error;
    return { value: "fault", message: error.message };
  }
}

/** Starts Python's SimpleXMLRPCServer with an echo method (answering in `encoding`); its URL and a stop. */
async function startPythonServer(encoding = "utf-8") {
  const script = `
import sys
from xmlrpc.server import SimpleXMLRPCServer
server = SimpleXMLRPCServer(("127.0.0.1", 0), allow_none=True, logRequests=False, encoding=sys.argv[1])
server.register_function(lambda *a: list(a), "echo")
print(server.server_address[1], flush=True)
server.serve_forever()
`;
  const child = new Deno.Command(PYTHON, { args: ["-c", script, encoding], stdout: "piped", stderr: "null" })
    .spawn();
  const reader = child.stdout.getReader();
  const port = Number(new TextDecoder().decode((await reader.read()).value).trim());
  reader.releaseLock();
  return {
    url: `http://127.0.0.1:${port}/`,
    async stop() {
      child.kill("SIGTERM");
      await child.status;
      await child.stdout.cancel().catch(() => {});
    },
  };
}

await peerTest("bodies in other encodings read as Python's SimpleXMLRPCServer reads the same bytes", [
  "python",
], async () => {
  const ours = startServer();
  const python = await startPythonServer();
  try {
    for (const { name, body, expected, python: pythonExpected } of ENCODED_BODIES) {
      const answer = await echoed(ours.url, body);
      assertEquals(answer.value, expected, `${name}: ${answer.message}`);
      if (answer.value === "fault") assertStringIncludes(answer.message, "Parse error: ", name);
      assertEquals((await echoed(python.url, body)).value, pythonExpected ?? expected, `${name} (Python)`);
    }
  } finally {
    await python.stop();
    await ours.http.shutdown();
  }
});

Deno.test("encoding faults name the problem", async () => {
  const { url, http } = startServer();
  try {
    const cases: [Uint8Array<ArrayBuffer>, string][] = [
      [
        echoCall(" encoding='x-klingon'", [0x41]),
        "Parse error: unknown encoding 'x-klingon' in the XML declaration",
      ],
      [echoCall("", [0xff]), "Parse error: body is not valid UTF-8"],
      [echoCall(" encoding='US-ASCII'", [0xe9]), "Parse error: body declared 'US-ASCII' has bytes past 0x7F"],
      [
        utf16Call(" encoding='UTF-8'", "é", "le", true),
        "Parse error: the body is UTF-16LE (by its first bytes) but its XML declaration says 'UTF-8'",
      ],
    ];
    for (const [body, message] of cases) assertEquals((await echoed(url, body)).message, message);
  } finally {
    await http.shutdown();
  }
});

await peerTest("Python's ServerProxy sending ISO-8859-1 or UTF-16 is understood", ["python"], async () => {
  const { url, http } = startServer();
  try {
    const script = `
import sys, json, xmlrpc.client
print(json.dumps([xmlrpc.client.ServerProxy(sys.argv[1], encoding=e).echo("é ü 漢 ÿ")[0]
                  for e in ("iso-8859-1", "utf-16", "utf-8")]))
`;
    assertEquals(JSON.parse(await runPython(script, [url])), ["é ü 漢 ÿ", "é ü 漢 ÿ", "é ü 漢 ÿ"]);
  } finally {
    await http.shutdown();
  }
});

await peerTest(
  "our client reads an answer in the encoding Python's server declares",
  ["python"],
  async () => {
    for (const encoding of ["iso-8859-1", "utf-16"]) {
      const python = await startPythonServer(encoding);
      try {
        assertEquals(await callXmlRpc(python.url, "echo", ["é ü ÿ"]), ["é ü ÿ"], encoding);
      } finally {
        await python.stop();
      }
    }
  },
);

// --- 3. Authentication schemes are case-insensitive (RFC 7235). ---

Deno.test("the Bearer and Basic schemes are accepted in any case, and a wrong token of any length is not", async () => {
  const { url, http } = startServer({ token: "s3cret-token" });
  const call = encodeMethodCall("echo", [1]);
  const status = async (authorization: string) => {
    const response = await fetch(url, { method: "POST", body: call, headers: { authorization } });
    await response.body?.cancel();
    return response.status;
  };
  try {
    const basic = btoa("toros:s3cret-token");
    for (const scheme of ["Bearer", "bearer", "BEARER", "bEaReR"]) {
      assertEquals(await status(`${scheme} s3cret-token`), 200, scheme);
    }
    for (const scheme of ["Basic", "basic", "BASIC"]) {
      assertEquals(await status(`${scheme} ${basic}`), 200, scheme);
    }
    for (
      const wrong of [
        "Bearer s3cret-tokeN",
        "Bearer s3cret",
        "Bearer s3cret-token-and-more",
        "Bearer",
        "s3cret-token",
      ]
    ) {
      assertEquals(await status(wrong), 401, wrong);
    }
    assertEquals(await status(`Digest ${basic}`), 401, "an unknown scheme");
    assertEquals(await status(`Basic ${btoa("toros:wrong")}`), 401);
  } finally {
    await http.shutdown();
  }
});

// --- 4. Bodies that trickle in: answered 408 after the request timeout; others unaffected. ---

/** Reads from `conn` until the text holds `until` or the connection ends; gives up (and fails) after `guardMs`. */
async function readUntil(conn: Deno.Conn, until: string, guardMs: number): Promise<string> {
  let text = "";
  const buffer = new Uint8Array(4096);
  const deadline = Date.now() + guardMs;
  while (!text.includes(until)) {
    const left = deadline - Date.now();
    if (left <= 0) throw new Error(`no "${until}" within ${guardMs} ms; got ${JSON.stringify(text)}`);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const n = await Promise.race([
      conn.read(buffer),
      new Promise<"guard">((resolve) => (timer = setTimeout(() => resolve("guard"), left))),
    ]);
    clearTimeout(timer);
    if (n === "guard") continue;
    if (n === null) break;
    text += new TextDecoder().decode(buffer.subarray(0, n));
  }
  return text;
}

/** Opens a raw connection, sends `head` and then one body byte every 100 ms until told to stop. */
async function trickle(port: number, head: string, byte: string) {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  await conn.write(new TextEncoder().encode(head));
  let stopped = false;
  const writing = (async () => {
    while (!stopped) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      if (stopped) break;
      try {
        await conn.write(new TextEncoder().encode(byte));
      } catch {
        break;
      }
    }
  })();
  return {
    conn,
    async stop() {
      stopped = true;
      await writing;
      conn.close();
    },
  };
}

Deno.test("a body that trickles in is answered 408 after the request timeout, while other calls are answered", async () => {
  const { url, port, http } = startServer({ requestTimeoutMs: 500 });
  const call = encodeMethodCall("echo", ["x"]);
  const declared = await trickle(
    port,
    `POST /RPC2 HTTP/1.1\r\nHost: x\r\nContent-Type: text/xml\r\nContent-Length: ${call.length}\r\n\r\n<?xml`,
    " ",
  );
  const chunked = await trickle(
    port,
    "POST /RPC2 HTTP/1.1\r\nHost: x\r\nContent-Type: text/xml\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n<?xml\r\n",
    "1\r\n \r\n",
  );
  try {
    // A call sent whole, on its own connection, is answered while the two trickle.
    assertEquals(await callXmlRpc(url, "echo", ["while trickling"]), ["while trickling"]);
    for (const slow of [declared, chunked]) {
      const answer = await readUntil(slow.conn, "within 500 ms", 10_000);
      assertStringIncludes(answer, "HTTP/1.1 408 Request Timeout");
      assertStringIncludes(answer.toLowerCase(), "connection: close");
      assertStringIncludes(answer, "Request body not received within 500 ms");
    }
    assertEquals(await callXmlRpc(url, "echo", ["after"]), ["after"]);
  } finally {
    await declared.stop();
    await chunked.stop();
    await http.shutdown();
  }
});
