/**
 * The preprocessor's part of its window: recent nights with their products'
 * thumbnails on the status page; pages for a night, a product (its FITS
 * header, its provenance both ways, linked, and a larger preview) and a raw
 * exposure; the previews themselves (made on the reduction thread, only read
 * here); a calibration job's products, stage timings and quality control; and
 * the catalog's JSON API (`/api/nights`, `/api/products`, a page at a time).
 *
 * @module
 */
import {
  type DaemonContext,
  type DaemonWeb,
  definitionList,
  escapeHtml,
  formatDuration,
  formatTime,
  link,
  notice,
  pathTo,
  section,
  table,
  textList,
  type WebView,
} from "../../lib/daemon/mod.ts";
import { readHdus } from "../../lib/fits/mod.ts";
import type { JobRecord, NightSummary, ProductKind, ProductRecord } from "../../lib/store/mod.ts";
import { FAULT_INVALID_PARAMS } from "../../lib/xmlrpc/mod.ts";
import { previewPaths, type PreviewSize, previewState } from "./previews.ts";
import type { JobResult } from "./reduction_handler.ts";

/** Nights on the status page, and thumbnails shown of each. */
const STATUS_NIGHTS = 5;
const STATUS_THUMBNAILS = 12;
/** Products on one page of a night, and in one answer of `/api/products` unless asked. */
const NIGHT_PAGE = 60;
const API_PAGE = 100;
/** The most an API answer holds. */
const API_MAX = 1000;

const KINDS: readonly ProductKind[] = ["master_bias", "master_dark", "master_flat", "calibrated_light"];

function baseName(path: string): string {
  return path.slice(path.lastIndexOf("/") + 1);
}

function nightName(night: { date: string | null; directory: string }): string {
  return night.date ?? baseName(night.directory);
}

function kindText(product: ProductRecord): string {
  const words = product.kind.replace("_", " ");
  const detail = [
    product.filter ? `filter ${product.filter}` : "",
    product.kind === "master_dark" && product.exposureTime !== null ? `${product.exposureTime} s` : "",
  ].filter(Boolean).join(", ");
  return detail ? `${words} (${detail})` : words;
}

/** A product's thumbnail, linked to its page, or a note that its preview is not made yet. */
async function thumbnail(product: ProductRecord): Promise<string> {
  const state = await previewState(product.path);
  const picture = state === "ready"
    ? `<img src="${pathTo("previews", product.id, "thumbnail.png")}" alt="${
      escapeHtml(baseName(product.path))
    }" loading="lazy" width="256" height="256">`
    : `<span class="none">${state === "stale" ? "preview being remade" : "no preview yet"}</span>`;
  return `<figure><a href="${pathTo("products", product.id)}">${picture}</a><figcaption>${
    link(pathTo("products", product.id), baseName(product.path))
  }<br>${escapeHtml(kindText(product))}</figcaption></figure>`;
}

async function thumbnails(products: ProductRecord[]): Promise<string> {
  if (products.length === 0) return '<p class="empty">No products.</p>';
  return `<div class="thumbs">${(await Promise.all(products.map(thumbnail))).join("")}</div>`;
}

function nightLine(night: NightSummary): string {
  return `${link(pathTo("nights", night.id), nightName(night))} · ${
    escapeHtml(night.directory)
  } · ${night.exposures} exposures · ${night.products} products`;
}

/** Status page: the recent nights, each with its first products' thumbnails. */
async function nightsSection(context: DaemonContext): Promise<string> {
  const { store } = context;
  const page = await store.listNightsPage({ limit: STATUS_NIGHTS });
  const parts: string[] = [];
  for (const night of page.items) {
    const products = await store.listProductsPage({ nightId: night.id, limit: STATUS_THUMBNAILS });
    const more = products.total > products.items.length
      ? `<p>${link(pathTo("nights", night.id), `All ${products.total} products of ${nightName(night)}`)}</p>`
      : "";
    parts.push(`<h3>${nightLine(night)}</h3>\n${await thumbnails(products.items)}${more}`);
  }
  if (parts.length === 0) parts.push('<p class="empty">No night has been reduced yet.</p>');
  if (page.total > page.items.length) parts.push(`<p>${link("/nights", `All ${page.total} nights`)}</p>`);
  return section("Recent nights", parts.join("\n"), "nights");
}

/** `?page=N` (1-based) of a listing. */
function pageNumber(url: URL): number {
  const page = Number(url.searchParams.get("page") ?? "1");
  return Number.isInteger(page) && page >= 1 ? page : 1;
}

function pager(path: string, page: number, perPage: number, total: number): string {
  const pages = Math.max(1, Math.ceil(total / perPage));
  if (pages === 1) return "";
  const links = [
    page > 1 ? link(`${path}?page=${page - 1}`, "← newer") : "",
    `page ${page} of ${pages}`,
    page < pages ? link(`${path}?page=${page + 1}`, "older →") : "",
  ].filter(Boolean);
  return `<p>${links.join(" · ")}</p>`;
}

/** `/nights`: every night, a page at a time. */
async function nightsPage(context: DaemonContext, view: WebView): Promise<Response> {
  const page = pageNumber(view.url);
  const perPage = 50;
  const nights = await context.store.listNightsPage({ limit: perPage, offset: (page - 1) * perPage });
  const rows = nights.items.map((night) => [
    link(pathTo("nights", night.id), nightName(night)),
    escapeHtml(night.directory),
    String(night.exposures),
    String(night.products),
  ]);
  const body = `<h2>Nights</h2>${
    table(
      ["Night", "Directory", { heading: "Exposures", className: "num" }, {
        heading: "Products",
        className: "num",
      }],
      rows,
      { empty: "No nights yet." },
    )
  }${pager("/nights", page, perPage, nights.total)}`;
  return view.page("Nights", body);
}

function idOf(text: string): number | null {
  return /^\d{1,15}$/.test(text) ? Number(text) : null;
}

/** `/nights/{id}`: a night's products (thumbnails, a page at a time) and its raw exposures. */
async function nightPage(id: string, context: DaemonContext, view: WebView): Promise<Response> {
  const nightId = idOf(id);
  const night = nightId === null ? null : await context.store.getNightById(nightId);
  if (!night) return view.notFound(`Night ${id}`);
  const page = pageNumber(view.url);
  const products = await context.store.listProductsPage({
    nightId: night.id,
    limit: NIGHT_PAGE,
    offset: (page - 1) * NIGHT_PAGE,
  });
  const exposures = await context.store.listExposures(night.id);
  const exposureRows = exposures.map((exposure) => [
    link(pathTo("exposures", exposure.id), exposure.fileName),
    escapeHtml(exposure.imageType ?? ""),
    escapeHtml(exposure.filter ?? ""),
    escapeHtml(exposure.exposureTime === null ? "" : `${exposure.exposureTime} s`),
    exposure.status === "ok"
      ? "used"
      : `<span class="error">skipped: ${escapeHtml(exposure.error ?? "")}</span>`,
  ]);
  const body = `<h2>Night ${escapeHtml(nightName(night))}</h2>
${
    definitionList([
      ["Directory", escapeHtml(night.directory)],
      ["Telescope", escapeHtml(night.telescope ?? "")],
      ["Exposures", String(night.exposures)],
      ["Products", String(night.products)],
      ["Recorded", formatTime(night.createdAt)],
      ["Updated", formatTime(night.updatedAt)],
    ])
  }
${
    section(
      "Products",
      (await thumbnails(products.items)) +
        pager(pathTo("nights", night.id), page, NIGHT_PAGE, products.total),
      "products",
    )
  }
${
    section(
      "Raw exposures",
      table(["File", "Type", "Filter", "Exposure", "Used or skipped"], exposureRows, {
        empty: "None recorded.",
      }),
      "exposures",
    )
  }`;
  return view.page(`Night ${nightName(night)}`, body);
}

/** A FITS file's primary header as written (card images), or why it cannot be read. */
async function headerText(path: string): Promise<{ cards: string[] } | { error: string }> {
  try {
    const [primary] = await readHdus(path, { allowMissingPixels: true });
    return { cards: primary.header.images().map((image) => image.trimEnd()) };
  } catch (error) {
    return { error: error instanceof Error ? error.message : String(error) };
  }
}

function headerHtml(header: { cards: string[] } | { error: string }): string {
  return "cards" in header
    ? `<pre class="header">${escapeHtml(header.cards.join("\n"))}</pre>`
    : notice(`The header cannot be read: ${header.error}`);
}

const PREVIEW_NOTES = {
  missing: "No preview yet: previews are made on the reduction thread once the night's reduction ends.",
  stale: "The preview is older than this product (it was made again): a new one is made after the " +
    "night's next reduction.",
};

/** `/products/{id}`: a product's facts, larger preview, provenance (linked both ways) and FITS header. */
async function productPage(id: string, context: DaemonContext, view: WebView): Promise<Response> {
  const productId = idOf(id);
  const product = productId === null ? null : await context.store.getProduct(productId);
  if (!product) return view.notFound(`Product ${id}`);
  const { store } = context;
  const night = await store.getNightById(product.nightId);
  const state = await previewState(product.path);
  const preview = state === "ready"
    ? `<a href="${pathTo("previews", product.id, "large.png")}"><img class="large" src="${
      pathTo("previews", product.id, "large.png")
    }" alt="${escapeHtml(`zscale preview of ${baseName(product.path)}`)}" id="preview"></a>` +
      '<p class="empty">zscale (as ds9 and astropy\'s ZScaleInterval), FITS row 1 at the bottom.</p>'
    : notice(PREVIEW_NOTES[state]);
  const exposures = await Promise.all(product.inputs.map((input) => store.getExposure(input.exposureId)));
  const inputRows = exposures.map((exposure, i) => [
    link(pathTo("exposures", product.inputs[i].exposureId), product.inputs[i].fileName),
    escapeHtml(exposure?.imageType ?? ""),
    escapeHtml(exposure?.filter ?? ""),
    escapeHtml(exposure?.exposureTime == null ? "" : `${exposure.exposureTime} s`),
    escapeHtml(exposure?.dateObs ?? ""),
  ]);
  const masterRows = product.uses.map((use) => [
    link(pathTo("products", use.productId), baseName(use.path)),
    escapeHtml(use.kind.replace("_", " ")),
    escapeHtml(use.path),
  ]);
  const usedBy = product.kind === "calibrated_light"
    ? null
    : await store.listProductsPage({ masterId: product.id, limit: 50 });
  const usedByHtml = usedBy === null ? "" : section(
    "Used by",
    (usedBy.items.length === 0
      ? '<p class="empty">No product used this master.</p>'
      : `<ul>${
        usedBy.items.map((user) => `<li>${link(pathTo("products", user.id), baseName(user.path))}</li>`).join(
          "",
        )
      }</ul>`) +
      (usedBy.total > usedBy.items.length ? `<p>and ${usedBy.total - usedBy.items.length} more.</p>` : ""),
    "used-by",
  );
  const body = `<h2>${escapeHtml(baseName(product.path))}</h2>
${
    definitionList([
      ["Kind", escapeHtml(kindText(product))],
      ["Night", night ? link(pathTo("nights", night.id), nightName(night)) : ""],
      [
        "Size",
        escapeHtml(
          `${product.width} × ${product.height}${product.binning ? `, binning ${product.binning}` : ""}`,
        ),
      ],
      ["Frames combined", String(product.nCombined)],
      ["Observed (mean DATE-OBS)", escapeHtml(product.dateObs ?? "")],
      ["Recorded", formatTime(product.createdAt)],
      ["CHECKSUM", escapeHtml(product.checksum ?? "")],
      ["Path", escapeHtml(product.path)],
    ])
  }
${product.warnings.length > 0 ? section("Warnings", textList(product.warnings), "warnings") : ""}
${section("Preview", preview, "preview-section")}
${
    section(
      "Provenance",
      `<h3>Made from ${product.inputs.length} raw exposure${product.inputs.length === 1 ? "" : "s"}</h3>${
        table(["File", "Type", "Filter", "Exposure", "DATE-OBS"], inputRows, {
          empty: "No raw inputs recorded.",
        })
      }<h3>Calibrated with</h3>${
        table(["Master", "Kind", "Path"], masterRows, { empty: "No master was used." })
      }`,
      "provenance",
    )
  }
${usedByHtml}
${section("FITS header", headerHtml(await headerText(product.path)), "header")}`;
  return view.page(baseName(product.path), body);
}

/** `/exposures/{id}`: a raw exposure, its header, and the products made from it. */
async function exposurePage(id: string, context: DaemonContext, view: WebView): Promise<Response> {
  const exposureId = idOf(id);
  const exposure = exposureId === null ? null : await context.store.getExposure(exposureId);
  if (!exposure) return view.notFound(`Exposure ${id}`);
  const night = await context.store.getNightById(exposure.nightId);
  const products = await context.store.listProductsPage({ inputExposureId: exposure.id, limit: 50 });
  const body = `<h2>${escapeHtml(exposure.fileName)} (raw)</h2>
${
    definitionList([
      ["Night", night ? link(pathTo("nights", night.id), nightName(night)) : ""],
      ["Type", escapeHtml(exposure.imageType ?? "unknown")],
      ["Filter", escapeHtml(exposure.filter ?? "")],
      ["Exposure", escapeHtml(exposure.exposureTime === null ? "" : `${exposure.exposureTime} s`)],
      ["Size", escapeHtml(exposure.width === null ? "" : `${exposure.width} × ${exposure.height}`)],
      ["Binning", escapeHtml(exposure.binning ?? "")],
      ["DATE-OBS", escapeHtml(exposure.dateObs ?? "")],
      [
        "Used",
        exposure.status === "ok"
          ? "yes"
          : `<span class="error">skipped: ${escapeHtml(exposure.error ?? "")}</span>`,
      ],
      ["SHA-256", escapeHtml(exposure.contentHash)],
      ["Bytes", String(exposure.size)],
    ])
  }
${
    section(
      "Products made from it",
      products.items.length === 0
        ? '<p class="empty">None.</p>'
        : `<ul>${
          products.items.map((product) =>
            `<li>${link(pathTo("products", product.id), baseName(product.path))} (${
              escapeHtml(kindText(product))
            })</li>`
          ).join("")
        }</ul>`,
      "products",
    )
  }
${
    night
      ? section(
        "FITS header",
        headerHtml(await headerText(`${night.directory}/${exposure.fileName}`)),
        "header",
      )
      : ""
  }`;
  return view.page(exposure.fileName, body);
}

/** `/previews/{id}/{thumbnail|large}.png`: a product's preview from disk (404 until it is made). */
async function previewImage(
  params: Record<string, string>,
  context: DaemonContext,
  view: WebView,
): Promise<Response> {
  const size =
    ({ "thumbnail.png": "thumbnail", "large.png": "large" } as Record<string, PreviewSize>)[params.size];
  const productId = idOf(params.id);
  const product = productId === null || !size ? null : await context.store.getProduct(productId);
  if (!product || !size) return new Response("No such preview\n", { status: 404 });
  const path = previewPaths(product.path)[size];
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path, { read: true });
  } catch {
    return new Response("No preview yet\n", { status: 404 });
  }
  const info = await file.stat();
  const etag = `"${info.mtime?.getTime() ?? 0}-${info.size}"`;
  const headers = {
    "content-type": "image/png",
    etag,
    "cache-control": "no-cache",
    "x-content-type-options": "nosniff",
  };
  if (view.request.headers.get("if-none-match") === etag) {
    file.close();
    return new Response(null, { status: 304, headers });
  }
  return new Response(file.readable, { headers: { ...headers, "content-length": String(info.size) } });
}

/** A query parameter as a whole number in a range, or the default; an error message when it is not one. */
function integerParam(url: URL, name: string, min: number, max: number, fallback?: number): number | string {
  const text = url.searchParams.get(name);
  if (text === null || text === "") return fallback ?? NaN;
  const value = Number(text);
  if (!/^\d{1,15}$/.test(text) || value < min || value > max) {
    return `Invalid params: ${name} ${JSON.stringify(text)} is not a whole number from ${min} to ${max}`;
  }
  return value;
}

/** `/api/nights?limit=&offset=`. */
function apiNights(context: DaemonContext, view: WebView): Promise<Response> {
  const limit = integerParam(view.url, "limit", 1, API_MAX, API_PAGE);
  const offset = integerParam(view.url, "offset", 0, Number.MAX_SAFE_INTEGER, 0);
  for (const value of [limit, offset]) {
    if (typeof value === "string") return Promise.resolve(view.jsonError(FAULT_INVALID_PARAMS, value, 400));
  }
  return context.store.listNightsPage({ limit: limit as number, offset: offset as number }).then((page) =>
    view.json({ nights: page.items, total: page.total, limit, offset })
  );
}

/** `/api/products?night=&kind=&limit=&offset=`: products with provenance, a page at a time. */
async function apiProducts(context: DaemonContext, view: WebView): Promise<Response> {
  const url = view.url;
  const limit = integerParam(url, "limit", 1, API_MAX, API_PAGE);
  const offset = integerParam(url, "offset", 0, Number.MAX_SAFE_INTEGER, 0);
  const night = integerParam(url, "night", 1, Number.MAX_SAFE_INTEGER);
  for (const value of [limit, offset, night]) {
    if (typeof value === "string") return view.jsonError(FAULT_INVALID_PARAMS, value, 400);
  }
  const kind = url.searchParams.get("kind");
  if (kind !== null && !KINDS.includes(kind as ProductKind)) {
    return view.jsonError(
      FAULT_INVALID_PARAMS,
      `Invalid params: kind ${JSON.stringify(kind)} is not one of ${KINDS.join(", ")}`,
      400,
    );
  }
  const page = await context.store.listProductsPage({
    nightId: Number.isNaN(night) ? undefined : night as number,
    kind: (kind ?? undefined) as ProductKind | undefined,
    limit: limit as number,
    offset: offset as number,
  });
  let next: string | null = null;
  if ((offset as number) + page.items.length < page.total) {
    const nextUrl = new URL(url.pathname + url.search, "http://x");
    nextUrl.searchParams.set("offset", String((offset as number) + page.items.length));
    nextUrl.searchParams.set("limit", String(limit));
    next = nextUrl.pathname + nextUrl.search;
  }
  return view.json({
    products: page.items.map((product) => ({
      ...product,
      page: pathTo("products", product.id),
      preview: pathTo("previews", product.id, "large.png"),
      thumbnail: pathTo("previews", product.id, "thumbnail.png"),
    })),
    total: page.total,
    limit,
    offset,
    next,
  });
}

/** `/api/products/{id}`: one product, its preview's state and its FITS header. */
async function apiProduct(id: string, context: DaemonContext, view: WebView): Promise<Response> {
  const productId = idOf(id);
  const product = productId === null ? null : await context.store.getProduct(productId);
  if (!product) return view.jsonError(FAULT_INVALID_PARAMS, `No product ${JSON.stringify(id)}`, 404);
  const state = await previewState(product.path);
  return view.json({
    ...product,
    page: pathTo("products", product.id),
    previewState: state,
    preview: state === "ready" ? pathTo("previews", product.id, "large.png") : null,
    thumbnail: state === "ready" ? pathTo("previews", product.id, "thumbnail.png") : null,
    header: await headerText(product.path),
  });
}

/** A calibration job's page: its products (linked), the stages' timings, and quality control. */
async function jobSections(job: JobRecord, context: DaemonContext): Promise<string> {
  const result = (job.result ?? null) as JobResult | null;
  const parts: string[] = [];
  const night = job.night ? await context.store.getNight(job.night) : null;
  if (result && result.Products.length > 0) {
    const recorded = night
      ? await context.store.listProductsPage({ nightId: night.id, limit: API_MAX })
      : null;
    const byPath = new Map((recorded?.items ?? []).map((product) => [product.path, product]));
    const items = result.Products.map((path) => {
      const product = byPath.get(path);
      return `<li>${
        product ? link(pathTo("products", product.id), baseName(path)) : escapeHtml(baseName(path))
      }</li>`;
    });
    parts.push(section(
      `Products (${result.Products.length})`,
      (night ? `<p>${link(pathTo("nights", night.id), "The night's page, with thumbnails")}</p>` : "") +
        `<ul>${items.join("")}</ul>`,
      "products",
    ));
  }
  if (result?.Stages && result.Stages.length > 0) {
    const rows = result.Stages.map((stage) => [
      escapeHtml(stage.Name),
      String(stage.Frames),
      String(stage.Products),
      String(stage.Reused),
      String(stage.Rejected),
      String(stage.Failed),
      escapeHtml(formatDuration(stage.Seconds)),
    ]);
    const num = (heading: string) => ({ heading, className: "num" });
    parts.push(section(
      "Stages",
      table([
        "Stage",
        num("Frames"),
        num("Products"),
        num("Kept"),
        num("Rejected"),
        num("Failed"),
        num("Time"),
      ], rows) +
        `<p>The whole night: ${escapeHtml(formatDuration(result.Seconds))}.${
          result.Previews
            ? ` Previews: ${result.Previews.Made} made, ${result.Previews.UpToDate} already up to date${
              result.Previews.Failed.length > 0 ? `, ${result.Previews.Failed.length} could not be made` : ""
            }.`
            : ""
        }</p>`,
      "stages",
    ));
  }
  // Quality control's verdicts: every master's, and every frame's that failed a check.
  const qc = result?.QC ?? [];
  parts.push(section(
    "Quality control",
    qc.length > 0
      ? table(
        ["Frame or product", "Check", "Verdict", { heading: "Measured", className: "num" }, "Limit", "Why"],
        qc.map((verdict) => [
          escapeHtml(baseName(verdict.Product ?? "")),
          escapeHtml(verdict.Check ?? ""),
          escapeHtml(verdict.Verdict ?? ""),
          escapeHtml(
            verdict.Measured === null || verdict.Measured === undefined ? "" : String(verdict.Measured),
          ),
          escapeHtml(verdict.Limit ?? ""),
          escapeHtml(verdict.Reason ?? ""),
        ]),
      )
      : '<p class="empty">No verdicts: no master was made in this job, and no frame failed a check.</p>',
    "qc",
  ));
  return parts.join("\n");
}

/** The preprocessor's window (see the module doc). */
export const preprocessorWeb: DaemonWeb = {
  sections: (context) => nightsSection(context),
  jobSections: (job, context) => jobSections(job, context),
  routes: [
    { path: "/nights", handle: (_params, context, view) => nightsPage(context, view) },
    { path: "/nights/:id", handle: (params, context, view) => nightPage(params.id, context, view) },
    { path: "/products/:id", handle: (params, context, view) => productPage(params.id, context, view) },
    { path: "/exposures/:id", handle: (params, context, view) => exposurePage(params.id, context, view) },
    { path: "/previews/:id/:size", handle: previewImage },
    {
      path: "/api/nights",
      api:
        'Nights with their counts, newest first: ?limit=1-1000 (default 100)&offset= → {"nights", "total"}',
      handle: (_params, context, view) => apiNights(context, view),
    },
    {
      path: "/api/products",
      api: "Products with provenance, a page at a time: ?night=ID&kind=master_bias|master_dark|master_flat|" +
        'calibrated_light&limit=1-1000 (default 100)&offset= → {"products", "total", "next"}',
      handle: (_params, context, view) => apiProducts(context, view),
    },
    {
      path: "/api/products/:id",
      api: "One product with provenance, its preview (when made) and its FITS header",
      handle: (params, context, view) => apiProduct(params.id, context, view),
    },
  ],
};
