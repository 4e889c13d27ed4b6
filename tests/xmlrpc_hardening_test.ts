/**
 * The XML-RPC layer against a hostile probe: bodies built to cost the server
 * seconds. What each costs in time is measured by the RPC benchmark
 * (`bench/rpc_bench.ts --body-check`), not here.
 */
import { assert, assertEquals, assertStringIncludes, assertThrows } from "./_assert.ts";
import { peerTest, runPython } from "./_peers.ts";
import { decodePlainDocument } from "../lib/xmlrpc/_plain_decode.ts";
import { type DecodeLimits, decodeWithSaxes } from "../lib/xmlrpc/_saxes_decode.ts";
import {
  encodeMethodCall,
  FAULT_INVALID_REQUEST,
  FAULT_PARSE_ERROR,
  parseMethodCall,
  XmlRpcFault,
  XmlRpcServer,
  type XmlRpcServerOptions,
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
