/**
 * The XML-RPC library: every type both ways, faults, hostile input, and
 * interoperability with Python's xmlrpc.client and SimpleXMLRPCServer.
 */
import {
  assert,
  assertEquals,
  assertMatch,
  assertRejects,
  assertStringIncludes,
  assertThrows,
} from "./_assert.ts";
import { peerTest, PYTHON, runPython } from "./_peers.ts";
import {
  callXmlRpc,
  encodeFault,
  encodeMethodCall,
  encodeMethodResponse,
  encodeValueXml,
  FAULT_INVALID_PARAMS,
  FAULT_INVALID_REQUEST,
  FAULT_METHOD_NOT_FOUND,
  FAULT_PARSE_ERROR,
  FaultAnswer,
  parseMethodCall,
  parseMethodResponse,
  XmlRpcDouble,
  XmlRpcFault,
  XmlRpcServer,
  type XmlRpcValue,
} from "../lib/xmlrpc/mod.ts";

Deno.test("every type round-trips through the codec", () => {
  const date = new Date(Date.UTC(2026, 10, 24, 23, 41, 9));
  const params: XmlRpcValue[] = [
    42,
    -7,
    3.25,
    new XmlRpcDouble(3),
    true,
    false,
    "a <b> & 'c'",
    date,
    new Uint8Array([0, 1, 254, 255]),
    null,
    9007199254740993n,
    [1, "two", [3]],
    { ID: "x", Nested: { Priority: 1.5, List: [] } },
  ];
  const xml = encodeMethodCall("echo", params);
  assertStringIncludes(xml, "<double>3.0</double>");
  assertStringIncludes(xml, "<dateTime.iso8601>20261124T23:41:09</dateTime.iso8601>");
  assertStringIncludes(xml, "<nil/>");
  assertStringIncludes(xml, "<i8>9007199254740993</i8>");
  const call = parseMethodCall(xml);
  assertEquals(call.methodName, "echo");
  const expected = [...params];
  expected[3] = 3;
  assertEquals(call.params, expected);
});

Deno.test("untyped values are strings; i4, ex:nil and dashed dates are understood", () => {
  const xml = `<?xml version="1.0"?><methodCall><methodName>m</methodName><params>
    <param><value>plain text</value></param>
    <param><value><i4>-5</i4></value></param>
    <param><value><ex:nil/></value></param>
    <param><value><dateTime.iso8601>2026-11-24T03:04:05Z</dateTime.iso8601></value></param>
    <param><value><base64>AAH+/w==</base64></value></param>
  </params></methodCall>`;
  const { params } = parseMethodCall(xml);
  assertEquals(params, [
    "plain text",
    -5,
    null,
    new Date(Date.UTC(2026, 10, 24, 3, 4, 5)),
    new Uint8Array([0, 1, 254, 255]),
  ]);
});

Deno.test("responses and faults decode", () => {
  assertEquals(parseMethodResponse(encodeMethodResponse({ a: [1, 2] })), { a: [1, 2] });
  const xml =
    `<methodResponse><fault><value><struct><member><name>faultCode</name><value><int>4</int></value></member>
    <member><name>faultString</name><value><string>Too many parameters.</string></value></member></struct></value></fault></methodResponse>`;
  const fault = assertThrows(() => parseMethodResponse(xml), XmlRpcFault) as XmlRpcFault;
  assertEquals([fault.code, fault.message], [4, "Too many parameters."]);
});

Deno.test("a fault is encoded as the general encoder would, whatever its code and message", () => {
  for (
    const [code, message] of [[1, "plain"], [-32700, "a < b & c > d"], [0, ""], [2 ** 40, "i8"], [1.5, "odd"]]
  ) {
    const general = `<?xml version="1.0"?>\n<methodResponse><fault>${
      encodeValueXml({ faultCode: code, faultString: message })
    }</fault></methodResponse>\n`;
    assertEquals(encodeFault(code as number, message as string), general);
    const fault = assertThrows(() => parseMethodResponse(general), XmlRpcFault) as XmlRpcFault;
    assertEquals(fault.message, message);
  }
});

Deno.test("malformed input gives parse-error or invalid-request faults", () => {
  const cases: [string, number][] = [
    ["", FAULT_PARSE_ERROR],
    ["not xml at all", FAULT_PARSE_ERROR],
    ["<methodCall><methodName>x</methodName>", FAULT_PARSE_ERROR],
    ["<methodCall><params/></methodCall>", FAULT_INVALID_REQUEST],
    ["<foo/>", FAULT_INVALID_REQUEST],
    [
      "<methodCall><methodName>x</methodName><params><param><value><int>1.5</int></value></param></params></methodCall>",
      FAULT_INVALID_REQUEST,
    ],
    [
      "<methodCall><methodName>x</methodName><params><param><value><int>99999999999</int></value></param></params></methodCall>",
      FAULT_INVALID_REQUEST,
    ],
    [
      "<methodCall><methodName>x</methodName><params><param><value><boolean>yes</boolean></value></param></params></methodCall>",
      FAULT_INVALID_REQUEST,
    ],
    [
      "<methodCall><methodName>x</methodName><params><param><value><blob/></value></param></params></methodCall>",
      FAULT_INVALID_REQUEST,
    ],
  ];
  for (const [xml, code] of cases) {
    const fault = assertThrows(() => parseMethodCall(xml), XmlRpcFault) as XmlRpcFault;
    assertEquals(fault.code, code, `${xml}: ${fault.message}`);
  }
});

Deno.test("DOCTYPE (entity expansion) and deep nesting are refused", () => {
  const bomb =
    `<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;">
    <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;">]><methodCall><methodName>&lol3;</methodName></methodCall>`;
  const fault = assertThrows(() => parseMethodCall(bomb), XmlRpcFault) as XmlRpcFault;
  assertEquals(fault.code, FAULT_PARSE_ERROR);
  assertStringIncludes(fault.message, "DOCTYPE");
  const deep = "<methodCall><methodName>x</methodName><params><param>" +
    "<value><array><data>".repeat(5000) + "</data></array></value>".repeat(5000) +
    "</param></params></methodCall>";
  const deepFault = assertThrows(() => parseMethodCall(deep), XmlRpcFault) as XmlRpcFault;
  assertEquals(deepFault.code, FAULT_INVALID_REQUEST);
  assertStringIncludes(deepFault.message, "nesting");
});

function startServer(options: Partial<ConstructorParameters<typeof XmlRpcServer>[0]> = {}) {
  const errors: string[] = [];
  const server = new XmlRpcServer({ title: "Test Service", onError: (id) => errors.push(id), ...options });
  server.register("echo", { handler: (...p) => p, signatures: [], help: "Returns its parameters." });
  server.register("add", {
    handler: (a, b) => (a as number) + (b as number),
    signatures: [["int", "int", "int"]],
    help: "Adds.",
  });
  server.register("boom", {
    handler: () => {
      throw new Error("secret internals at /etc/passwd");
    },
    signatures: [["int"]],
    help: "Fails.",
  });
  server.register("refuse", {
    handler: () => {
      throw new XmlRpcFault(FAULT_INVALID_PARAMS, "Invalid params: no");
    },
    signatures: [["int"]],
    help: "Refuses.",
  });
  server.register("decline", {
    handler: (later) =>
      later ? Promise.resolve(new FaultAnswer(7, "Declined later")) : new FaultAnswer(7, "Declined at once"),
    signatures: [["int", "boolean"]],
    help: "Answers with a fault as a value, at once or from a promise.",
  });
  server.register("too_deep", {
    handler: (later) => {
      let value: XmlRpcValue = [];
      for (let i = 0; i < 150; i++) value = [value];
      return later ? Promise.resolve(value) : value;
    },
    signatures: [["array", "boolean"]],
    help: "Answers a value nested too deep to send.",
  });
  server.register("slow_refuse", {
    handler: async () => {
      await new Promise((resolve) => setTimeout(resolve, 1));
      throw new XmlRpcFault(FAULT_INVALID_PARAMS, "Invalid params: not now");
    },
    signatures: [["int"]],
    help: "Refuses after a while.",
  });
  const http = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    (r, i) => server.handle(r, i),
  );
  return { url: `http://127.0.0.1:${http.addr.port}`, port: http.addr.port, http, errors, server };
}

async function post(url: string, body: BodyInit, headers: Record<string, string> = {}) {
  const response = await fetch(url, {
    method: "POST",
    body,
    headers: { "content-type": "text/xml", ...headers },
  });
  return { status: response.status, text: await response.text(), headers: response.headers };
}

Deno.test("the server answers calls, faults, documentation, limits and stays up", async () => {
  const { url, http, errors, server } = startServer({ maxBodyBytes: 64 * 1024 });
  try {
    assertEquals(await callXmlRpc(`${url}/RPC2`, "add", [2, 3]), 5);
    assertEquals(await callXmlRpc(url, "system.listMethods", []), [
      "add",
      "boom",
      "decline",
      "echo",
      "refuse",
      "slow_refuse",
      "system.listMethods",
      "system.methodHelp",
      "system.methodSignature",
      "system.multicall",
      "too_deep",
    ]);
    assertEquals(await callXmlRpc(url, "system.methodSignature", ["add"]), [["int", "int", "int"]]);
    const missing = await assertRejects(() => callXmlRpc(url, "nope", []), XmlRpcFault) as XmlRpcFault;
    assertEquals(missing.code, FAULT_METHOD_NOT_FOUND);
    const arity = await assertRejects(() => callXmlRpc(url, "add", [1]), XmlRpcFault) as XmlRpcFault;
    assertEquals(arity.code, FAULT_INVALID_PARAMS);
    const boom = await assertRejects(() => callXmlRpc(url, "boom", []), XmlRpcFault) as XmlRpcFault;
    assertEquals(boom.code, -32603);
    assert(!boom.message.includes("passwd"), "no internals in the fault");
    assertMatch(boom.message, /error id [0-9a-f]{8}/);
    assertEquals(errors.length, 1);
    assert(boom.message.includes(errors[0]));
    // A fault answered as a value (at once or later) and a fault thrown after an await are all faults.
    for (const [later, message] of [[false, "Declined at once"], [true, "Declined later"]] as const) {
      const declined = await assertRejects(
        () => callXmlRpc(url, "decline", [later]),
        XmlRpcFault,
      ) as XmlRpcFault;
      assertEquals([declined.code, declined.message], [7, message]);
    }
    const slow = await assertRejects(() => callXmlRpc(url, "slow_refuse", []), XmlRpcFault) as XmlRpcFault;
    assertEquals([slow.code, slow.message], [FAULT_INVALID_PARAMS, "Invalid params: not now"]);
    // An answer that cannot be encoded is an internal fault with an error id, whether it came at once or later.
    for (const later of [false, true]) {
      const deep = await assertRejects(
        () => callXmlRpc(url, "too_deep", [later]),
        XmlRpcFault,
      ) as XmlRpcFault;
      assertEquals(deep.code, -32603);
      assertMatch(deep.message, /error id [0-9a-f]{8}/);
    }
    assertEquals(errors.length, 3, "both logged");
    // A method that answers at once is encoded at once: a string, not a promise.
    assertEquals(server.call(encodeMethodCall("add", [1, 1])), encodeMethodResponse(2));
    const multi = await callXmlRpc(url, "system.multicall", [[
      { methodName: "add", params: [1, 2] },
      { methodName: "refuse", params: [] },
      { methodName: "decline", params: [true] },
      { methodName: "nope", params: [] },
    ]]);
    assertEquals(multi, [[3], { faultCode: FAULT_INVALID_PARAMS, faultString: "Invalid params: no" }, {
      faultCode: 7,
      faultString: "Declined later",
    }, {
      faultCode: FAULT_METHOD_NOT_FOUND,
      faultString: "Method not found: nope",
    }]);
    // Hostile bodies: each gets a fault or a 4xx, and the server keeps answering.
    for (
      const body of ["", "garbage", "<methodCall>", '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]><x/>']
    ) {
      const response = await post(url, body);
      assertEquals(response.status, 200);
      assertStringIncludes(response.text, "<fault>");
    }
    const huge = await post(url, new Uint8Array(64 * 1024 * 1024).fill(0x41));
    assertEquals(huge.status, 413);
    const stream = new ReadableStream({
      start(controller) {
        for (let i = 0; i < 100; i++) controller.enqueue(new Uint8Array(8192).fill(0x20));
        controller.close();
      },
    });
    const chunked = await post(url, stream);
    assertEquals(chunked.status, 413, "a body without Content-Length is cut off at the limit too");
    const page = await (await fetch(url)).text();
    assertStringIncludes(page, "<h1>Test Service</h1>");
    assertStringIncludes(page, "Adds.");
    assertEquals(await fetch(`${url}/elsewhere`).then(async (r) => (await r.body?.cancel(), r.status)), 404);
    assertEquals(await callXmlRpc(url, "add", [20, 22]), 42, "still up");
  } finally {
    await http.shutdown();
  }
});

Deno.test("token authentication (Basic password or Bearer), networks and CORS", async () => {
  const { url, http } = startServer({ token: "s3cret-token", corsOrigin: "https://ops.example" });
  const blocked = startServer({ allowedNetworks: ["10.0.0.0/8"] });
  try {
    const denied = await post(url, encodeMethodCall("add", [1, 1]));
    assertEquals(denied.status, 401);
    assertEquals(await callXmlRpc(url.replace("http://", "http://toros:s3cret-token@"), "add", [1, 1]), 2);
    const bearer = await post(url, encodeMethodCall("add", [1, 2]), { authorization: "Bearer s3cret-token" });
    assertStringIncludes(bearer.text, "<int>3</int>");
    const wrong = await post(url, encodeMethodCall("add", [1, 2]), { authorization: "Bearer nope" });
    assertEquals(wrong.status, 401);
    const preflight = await fetch(url, {
      method: "OPTIONS",
      headers: { origin: "https://ops.example", "access-control-request-method": "POST" },
    });
    await preflight.body?.cancel();
    assertEquals(preflight.status, 204);
    assertEquals(preflight.headers.get("access-control-allow-origin"), "https://ops.example");
    assertEquals(preflight.headers.get("access-control-allow-methods"), "POST, GET, OPTIONS");
    assertEquals(preflight.headers.get("access-control-allow-headers"), "content-type, authorization");
    assertEquals(preflight.headers.get("access-control-max-age"), "600");
    // A browser's call carries Origin and gets the CORS answer; so does its refusal, which it can then read.
    const browser = await post(url, encodeMethodCall("add", [2, 2]), {
      authorization: "Bearer s3cret-token",
      origin: "https://ops.example",
    });
    assertStringIncludes(browser.text, "<int>4</int>");
    assertEquals(browser.headers.get("access-control-allow-origin"), "https://ops.example");
    assertEquals(browser.headers.get("vary"), "origin");
    const refusedBrowser = await post(url, encodeMethodCall("add", [2, 2]), {
      origin: "https://ops.example",
    });
    assertEquals(refusedBrowser.status, 401);
    assertEquals(refusedBrowser.headers.get("access-control-allow-origin"), "https://ops.example");
    // Other clients send no Origin and get no CORS headers (nor the methods list, which belongs to preflights).
    assertEquals(bearer.headers.get("access-control-allow-origin"), null);
    assertEquals(bearer.headers.get("access-control-allow-methods"), null);
    assertEquals(bearer.headers.get("content-type"), "text/xml; charset=utf-8");
    const forbidden = await post(blocked.url, encodeMethodCall("add", [1, 1]));
    assertEquals(forbidden.status, 403);
  } finally {
    await http.shutdown();
    await blocked.http.shutdown();
  }
});

const PYTHON_CLIENT = `
import sys, json, datetime, xmlrpc.client
url = sys.argv[1]
s = xmlrpc.client.ServerProxy(url, allow_none=True, use_builtin_types=True)
out = {}
value = [1, -2, 3.5, True, False, "text <&>", None, b"\\x00\\x01\\xff",
         datetime.datetime(2026, 11, 24, 23, 41, 9), [1, [2]], {"ID": "x", "Nested": {"P": 1.5}}]
echoed = s.echo(*value)
out["echo_equal"] = echoed == value
out["echo_types"] = [type(v).__name__ for v in echoed]
out["add"] = s.add(2, 40)
try:
    s.nope()
except xmlrpc.client.Fault as f:
    out["fault"] = [f.faultCode, f.faultString]
m = xmlrpc.client.MultiCall(s)
m.add(1, 2)
m.refuse()
results = []
try:
    for r in m():
        results.append(r)
except xmlrpc.client.Fault as f:
    results.append([f.faultCode, f.faultString])
out["multicall"] = results
print(json.dumps(out))
`;

await peerTest("Python's xmlrpc.client talks to our server: every type, allow_none, multicall, faults", [
  "python",
], async () => {
  const { url, http } = startServer();
  try {
    const result = JSON.parse(await runPython(PYTHON_CLIENT, [`${url}/RPC2`]));
    assertEquals(result.echo_equal, true, JSON.stringify(result));
    assertEquals(result.echo_types, [
      "int",
      "int",
      "float",
      "bool",
      "bool",
      "str",
      "NoneType",
      "bytes",
      "datetime",
      "list",
      "dict",
    ]);
    assertEquals(result.add, 42);
    assertEquals(result.fault, [FAULT_METHOD_NOT_FOUND, "Method not found: nope"]);
    assertEquals(result.multicall, [3, [FAULT_INVALID_PARAMS, "Invalid params: no"]]);
  } finally {
    await http.shutdown();
  }
});

await peerTest("Python's ServerProxy authenticates with a user:token@ URL", ["python"], async () => {
  const { url, http } = startServer({ token: "s3cret-token" });
  try {
    const authed = url.replace("http://", "http://toros:s3cret-token@");
    const ok = await runPython(
      "import sys, xmlrpc.client; print(xmlrpc.client.ServerProxy(sys.argv[1]).add(1, 2))",
      [authed],
    );
    assertEquals(ok.trim(), "3");
    const refused = await runPython(
      "import sys, xmlrpc.client\ntry:\n  xmlrpc.client.ServerProxy(sys.argv[1]).add(1, 2)\nexcept xmlrpc.client.ProtocolError as e:\n  print(e.errcode)",
      [url],
    );
    assertEquals(refused.trim(), "401");
  } finally {
    await http.shutdown();
  }
});

await peerTest("our client talks to Python's SimpleXMLRPCServer", ["python"], async () => {
  const script = `
import sys, datetime
from xmlrpc.server import SimpleXMLRPCServer
server = SimpleXMLRPCServer(("127.0.0.1", 0), allow_none=True, logRequests=False, use_builtin_types=True)
server.register_function(lambda *a: list(a), "echo")
server.register_function(lambda: datetime.datetime(2026, 11, 24, 1, 2, 3), "when")
server.register_multicall_functions()
print(server.server_address[1], flush=True)
server.serve_forever()
`;
  const child = new Deno.Command(PYTHON, { args: ["-c", script], stdout: "piped", stderr: "null" }).spawn();
  try {
    const reader = child.stdout.getReader();
    const port = Number(new TextDecoder().decode((await reader.read()).value).trim());
    reader.releaseLock();
    const url = `http://127.0.0.1:${port}/`;
    const sent: XmlRpcValue[] = [
      1,
      2.5,
      "x&y",
      true,
      null,
      [1, 2],
      { a: "b" },
      new Uint8Array([1, 2, 3]),
    ];
    assertEquals(await callXmlRpc(url, "echo", sent), sent);
    assertEquals(await callXmlRpc(url, "when", []), new Date(Date.UTC(2026, 10, 24, 1, 2, 3)));
    const fault = await assertRejects(() => callXmlRpc(url, "missing", []), XmlRpcFault) as XmlRpcFault;
    assertStringIncludes(fault.message, "missing");
  } finally {
    child.kill("SIGTERM");
    await child.status;
    await child.stdout.cancel().catch(() => {});
  }
});
