/**
 * The HTML page served on GET /, in the manner of Python's DocXMLRPCServer:
 * the service's title and description, and every method with its signature and help.
 *
 * @module
 */

/** Escapes text for HTML. */
export function escapeHtml(text: string): string {
  return text.replace(
    /[&<>"']/g,
    (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!,
  );
}

/** One method as documented. */
export interface DocumentedMethod {
  name: string;
  signatures: string[][];
  help: string;
}

/** Renders the documentation page. */
export function renderDocPage(
  title: string,
  description: string,
  methods: DocumentedMethod[],
  extraHtml: string,
): string {
  const items = methods.map((method) => {
    const signatures = method.signatures.length
      ? method.signatures.map((s) =>
        `<code>${escapeHtml(s[0])} ${escapeHtml(method.name)}(${escapeHtml(s.slice(1).join(", "))})</code>`
      )
        .join("<br>")
      : `<code>${escapeHtml(method.name)}(...)</code>`;
    return `<dt id="${escapeHtml(method.name)}">${signatures}</dt>\n<dd><pre>${
      escapeHtml(method.help)
    }</pre></dd>`;
  });
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title>
<style>body{font-family:sans-serif;max-width:60em;margin:2em auto;padding:0 1em}dt{margin-top:1em;font-weight:bold}
pre{white-space:pre-wrap;margin:.3em 0 0 1em}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.2em .5em}</style>
</head><body>
<h1>${escapeHtml(title)}</h1>
<p>${escapeHtml(description)}</p>
<h2>Methods</h2>
<dl>
${items.join("\n")}
</dl>
${extraHtml}
</body></html>
`;
}
