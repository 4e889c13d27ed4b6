/**
 * The style sheet and the one small script of the daemons' pages, served
 * inline (no build step, nothing fetched from elsewhere: observatories are
 * often offline). The script only improves the pages: without it every form
 * still posts and every page still reads.
 *
 * @module
 */

/** The style sheet: readable on a phone at the telescope (no sideways scrolling), light or dark. */
export const STYLE = `
:root{color-scheme:light dark;--fg:#1b1f24;--bg:#fff;--muted:#5c6670;--line:#d5dbe1;--card:#f5f7f9;
--accent:#0b62a4;--ok:#1a7f37;--warn:#9a6700;--bad:#c4302b}
@media (prefers-color-scheme:dark){:root{--fg:#e6e9ec;--bg:#121417;--muted:#9aa4ad;--line:#333a41;
--card:#1b1f24;--accent:#6cb6ff;--ok:#57c26b;--warn:#d4a72c;--bad:#ff6b63}}
*{box-sizing:border-box}
html{-webkit-text-size-adjust:100%}
body{margin:0;font:16px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:var(--bg);
overflow-wrap:break-word}
td,dd,h2,h3,figcaption,.running-job,.result{overflow-wrap:anywhere}
header.top{background:var(--card);border-bottom:1px solid var(--line);padding:.6rem 1rem}
header.top h1{font-size:1.2rem;margin:0}
header.top nav{display:flex;flex-wrap:wrap;gap:.2rem 1rem;margin-top:.2rem}
main{max-width:72rem;margin:0 auto;padding:.5rem 1rem 3rem}
h2{font-size:1.1rem;margin:1.6rem 0 .5rem;border-bottom:1px solid var(--line);padding-bottom:.2rem}
h3{font-size:1rem;margin:1rem 0 .4rem}
a{color:var(--accent)}
table{border-collapse:collapse;width:100%;font-size:.95rem}
th,td{text-align:left;padding:.3rem .5rem;border-bottom:1px solid var(--line);vertical-align:top}
th{font-weight:600;color:var(--muted);white-space:nowrap}
td.num{text-align:right;font-variant-numeric:tabular-nums}
td.empty,p.empty,.empty{color:var(--muted)}
pre{background:var(--card);padding:.6rem;overflow-x:auto;font-size:.85rem;white-space:pre-wrap;word-break:break-all}
pre.header{white-space:pre;word-break:normal}
dl.facts{display:grid;grid-template-columns:repeat(auto-fill,minmax(13rem,1fr));gap:.3rem 1rem;margin:.4rem 0}
dl.facts div{min-width:0}
dl.facts dt{font-size:.8rem;color:var(--muted)}
dl.facts dd{margin:0}
dl.facts dl.facts{grid-template-columns:1fr;margin:0;padding-left:.6rem;border-left:2px solid var(--line)}
.badge{display:inline-block;padding:0 .45rem;border-radius:.7rem;font-size:.85rem;border:1px solid currentColor}
.badge.done{color:var(--ok)}.badge.failed{color:var(--bad)}.badge.running{color:var(--accent)}
.badge.queued,.badge.cancelled,.badge.other{color:var(--muted)}
.bar{display:inline-flex;align-items:center;gap:.4rem;white-space:nowrap}
progress{width:8rem;max-width:40vw;height:.9rem}
.running-job{background:var(--card);border:1px solid var(--line);border-radius:.4rem;padding:.5rem .8rem;margin:.4rem 0}
.running-job progress{width:16rem}
.notice{background:var(--card);border-left:4px solid var(--warn);padding:.5rem .8rem}
.error{color:var(--bad)}
form.inline{display:inline}
form.order{display:grid;grid-template-columns:repeat(auto-fill,minmax(14rem,1fr));gap:.6rem 1rem;align-items:end;
background:var(--card);padding:.8rem;border-radius:.4rem}
form.order label{display:flex;flex-direction:column;font-size:.85rem;color:var(--muted);gap:.2rem}
input,button,textarea{font:inherit;max-width:100%}
label.wide{grid-column:1/-1}
textarea{width:100%;font-family:ui-monospace,monospace;font-size:.85rem}
input,textarea{padding:.35rem .4rem;border:1px solid var(--line);border-radius:.3rem;background:var(--bg);color:var(--fg)}
button{padding:.35rem .8rem;border-radius:.3rem;border:1px solid var(--accent);background:var(--accent);color:#fff;
cursor:pointer}
button.quiet{background:transparent;color:var(--accent);padding:.1rem .5rem}
.result{grid-column:1/-1;min-height:1.2rem;margin:0}
.thumbs{display:grid;grid-template-columns:repeat(auto-fill,minmax(9rem,1fr));gap:.6rem;margin:.5rem 0}
.thumbs figure{margin:0;background:var(--card);border:1px solid var(--line);border-radius:.3rem;padding:.3rem}
.thumbs img{display:block;width:100%;height:auto;image-rendering:auto}
.thumbs figcaption{font-size:.78rem;color:var(--muted)}
.thumbs .none{display:flex;align-items:center;justify-content:center;aspect-ratio:1;font-size:.8rem;
color:var(--muted);text-align:center}
img.large{display:block;max-width:100%;height:auto;margin:.5rem 0;border:1px solid var(--line)}
.live-state{font-size:.8rem;color:var(--muted)}
footer{max-width:72rem;margin:0 auto;padding:1rem;color:var(--muted);font-size:.85rem}
code{font-size:.9em}
@media (max-width:40rem){
table.cards thead{display:none}
table.cards tr{display:block;border:1px solid var(--line);border-radius:.4rem;margin:.5rem 0;padding:.3rem .5rem}
table.cards td{display:flex;gap:.8rem;justify-content:space-between;border:0;padding:.15rem 0;text-align:right}
table.cards td::before{content:attr(data-label);color:var(--muted);text-align:left;flex:0 0 auto}
table.cards td.empty{display:block;text-align:left}
table.cards td.empty::before{content:none}
.running-job progress{width:10rem}
}
`;

/**
 * The pages' script: the status page follows the daemon over Server-Sent
 * Events (`data-live`), falling back to polling (`data-poll`) when the stream
 * cannot be kept; forms marked `data-json` post JSON to the API instead of
 * reloading the page; a job page follows its job (`data-job`).
 */
export const SCRIPT = `
(function () {
  "use strict";
  var body = document.body;
  function all(selector) { return Array.prototype.slice.call(document.querySelectorAll(selector)); }
  function setState(text) { all("[data-live-state]").forEach(function (el) { el.textContent = text; }); }
  var key = body.getAttribute("data-key") || "";
  function apply(update) {
    if (update.sections && update.key !== key) {
      Object.keys(update.sections).forEach(function (id) {
        var el = document.getElementById(id);
        // The server rendered and escaped these sections, as it did the page.
        if (el) el.innerHTML = update.sections[id];
      });
      key = update.key;
    }
    var progress = update.progress || {};
    Object.keys(progress).forEach(function (job) {
      var p = progress[job];
      all('[data-progress="' + job + '"]').forEach(function (el) { el.value = p.value; });
      all('[data-percent="' + job + '"]').forEach(function (el) { el.textContent = p.percent; });
      all('[data-step="' + job + '"]').forEach(function (el) { el.textContent = p.step || ""; });
    });
  }
  function poll(url) {
    function again() { setTimeout(function () { poll(url); }, 2000); }
    fetch(url, { headers: { accept: "application/json" }, cache: "no-store" })
      .then(function (r) { if (!r.ok) throw new Error("HTTP " + r.status); return r.json(); })
      .then(function (update) { apply(update); setState("updated every 2 s"); again(); })
      .catch(function () { setState("offline; trying again"); again(); });
  }
  var live = body.getAttribute("data-live");
  var pollUrl = body.getAttribute("data-poll");
  if (live && pollUrl) {
    if (window.EventSource) {
      var failures = 0;
      var source = new EventSource(live);
      source.onmessage = function (event) { failures = 0; setState("live"); apply(JSON.parse(event.data)); };
      source.onerror = function () {
        failures++;
        if (failures >= 3 || source.readyState === 2) { source.close(); setState("polling"); poll(pollUrl); }
        else setState("reconnecting");
      };
    } else {
      poll(pollUrl);
    }
  }
  var job = body.getAttribute("data-job");
  if (job && body.getAttribute("data-job-active") === "1") {
    var follow = function () {
      fetch("/api/jobs/" + job, { headers: { accept: "application/json" }, cache: "no-store" })
        .then(function (r) { return r.json(); })
        .then(function (status) {
          if (status.Status !== "queued" && status.Status !== "running") { location.reload(); return; }
          var p = {};
          p[job] = { value: Math.round(status.Progress * 1000) / 10,
            percent: Math.floor(status.Progress * 100) + " %", step: status.Step || status.State || "" };
          apply({ progress: p });
          setTimeout(follow, 2000);
        })
        .catch(function () { setTimeout(follow, 5000); });
    };
    setTimeout(follow, 2000);
  }
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var api = form.getAttribute && form.getAttribute("data-json");
    if (!api || !window.fetch) return;
    event.preventDefault();
    var question = form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) return;
    var result = form.querySelector("[data-result]");
    function say(text, href, error) {
      if (!result) { if (error) window.alert(text); return; }
      result.textContent = "";
      result.className = "result" + (error ? " error" : "");
      result.appendChild(document.createTextNode(text));
      if (href) {
        var a = document.createElement("a");
        a.href = href;
        a.textContent = " (open)";
        result.appendChild(a);
      }
    }
    var payload;
    var field = form.getAttribute("data-json-field");
    if (field) {
      payload = form.querySelector('[name="' + field + '"]').value;
      try { JSON.parse(payload); } catch (error) { say("Not JSON: " + error.message, null, true); return; }
    } else {
      var order = {};
      new FormData(form).forEach(function (value, name) {
        if (name === "csrf" || value === "") return;
        order[name] = form.querySelector('[name="' + name + '"][type="number"]') ? Number(value) : value;
      });
      payload = JSON.stringify(order);
    }
    say("Sending…");
    fetch(api, { method: "POST", headers: { "content-type": "application/json", accept: "application/json" },
      body: payload })
      .then(function (r) { return r.json().then(function (answer) { return { ok: r.ok, answer: answer }; }); })
      .then(function (reply) {
        var answer = reply.answer;
        if (!reply.ok) { say(answer.error ? answer.error.message : "Refused", null, true); return; }
        say("Job " + answer.Job + ": " + answer.Status + ". " + (answer.Message || ""), "/jobs/" + answer.Job);
        if (body.getAttribute("data-job")) location.reload();
      })
      .catch(function (error) { say("Not sent: " + error.message, null, true); });
  });
})();
`;
