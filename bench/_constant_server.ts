/**
 * The floor of the RPC benchmark: a `Deno.serve` server that reads each request
 * body and answers a fixed document (the answer toros gave to the same
 * request), doing no XML-RPC work at all. What wrk measures against it is what
 * this machine, its scheduler and Deno's HTTP layer cost before any of ours.
 *
 * Usage: `deno run --allow-net --allow-read bench/_constant_server.ts PORT ANSWER_FILE`
 *
 * @module
 */
const [port, answerFile] = Deno.args;
const answer = await Deno.readTextFile(answerFile);
const headers = { "content-type": "text/xml; charset=utf-8" };
Deno.serve({ hostname: "127.0.0.1", port: Number(port), onListen() {} }, async (request) => {
  await request.arrayBuffer();
  return new Response(answer, { headers });
});
