// Drives Debian's chromium with playwright-core for Atlante's browser tests.
// usage: node browser.mjs <scenario> <base-url> <out-dir>
// Prints one JSON object with what it measured; the Rust tests assert on it.
import { chromium } from "playwright-core";
import { readFileSync, writeFileSync } from "node:fs";

const [scenario, base, outDir] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--use-angle=swiftshader", "--enable-unsafe-swiftshader"],
});
const result = { scenario, dialogs: 0, pageErrors: [], consoleErrors: [] };
const page = await browser.newPage({ viewport: { width: 1100, height: 760 } });
page.on("dialog", async (d) => { result.dialogs += 1; await d.dismiss(); });
// XSS payloads call alert() (a dialog) or bump window.__xss: both are counted.
const xssCount = async () => page.evaluate(() => window.__xss || 0).catch(() => 0);
const TOKEN = process.env.ATLANTE_TOKEN || "";
const api = async (method, path, body) => {
  const headers = { Authorization: "Bearer " + TOKEN };
  if (body !== undefined && !(body instanceof FormData)) headers["Content-Type"] = "application/json";
  const r = await fetch(base + path, { method, headers, body: body === undefined || body instanceof FormData ? body : JSON.stringify(body) });
  const text = await r.text();
  if (!r.ok) throw new Error(method + " " + path + ": " + r.status + " " + text);
  return text ? JSON.parse(text) : {};
};
page.on("pageerror", (e) => result.pageErrors.push(String(e)));
// Every URL the page asked for (glyphs from where, nothing from elsewhere).
const requested = [];
page.on("request", (r) => requested.push(r.url()));
// Answers of 400 and more, but the favicon a plain file server has not.
result.failedRequests = [];
page.on("response", (r) => { if (r.status() >= 400 && !r.url().endsWith("/favicon.ico")) result.failedRequests.push(r.status() + " " + r.url()); });
const fromElsewhere = (origin) => requested.filter((u) => !u.startsWith(origin) && !u.startsWith("data:") && !u.startsWith("blob:"));
// The features each symbol (label) layer of the map has placed on screen, by layer id.
const renderedLabels = () => page.evaluate(() => {
  const m = window.atlanteMap;
  const out = {};
  for (const l of m.getStyle().layers.filter((x) => x.type === "symbol")) {
    out[l.id] = m.queryRenderedFeatures({ layers: [l.id] }).map((f) => Object.values(f.properties).join(" | "));
  }
  return out;
});
page.on("console", (m) => { if (m.type() === "error") result.consoleErrors.push(m.text()); });

// axe-core's serious and critical findings on the page (evaluated through DevTools, so the
// pages' Content-Security-Policy stays as it is).
const AXE = readFileSync(new URL("../node_modules/axe-core/axe.min.js", import.meta.url), "utf8");
async function axe(where) {
  await page.evaluate(AXE);
  const found = await page.evaluate(() => window.axe.run(document, { runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"] } })
    .then((r) => r.violations.filter((v) => v.impact === "serious" || v.impact === "critical")
      .map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.slice(0, 5).map((n) => n.target.join(" ")) }))));
  result.axe = result.axe || {};
  result.axe[where] = found;
}
// Clicks `button` and saves the file it downloads as `name` in the output folder.
async function downloaded(button, name) {
  const [d] = await Promise.all([page.waitForEvent("download", { timeout: 30000 }), page.click(button)]);
  await d.saveAs(`${outDir}/${name}`);
  return `${outDir}/${name}`;
}

// The attribute table: a condition from the builder (stops of line 1), applied to the
// table and the map; the rows, and what the map draws in a view of the centre.
async function filterStops(shot) {
  await page.click("#atl-tab-table");
  await page.selectOption("#atl-pane-table .atl-table-layer", "015146_metro_fermate");
  await page.click("#atl-pane-table .atl-add");
  const cond = "#atl-pane-table .atl-cond";
  await page.selectOption(`${cond} select:nth-of-type(1)`, "linee");
  await page.selectOption(`${cond} select:nth-of-type(2)`, "=");
  await page.fill(`${cond} input`, "1");
  result.cql = await page.inputValue("#atl-pane-table .atl-cql");
  await page.click("#atl-pane-table .atl-primary");
  await page.waitForFunction((q) => document.querySelector("#atl-pane-table .atl-table").dataset.query === q, `015146_metro_fermate|${result.cql}`, { timeout: 20000 })
    .catch(async (e) => {
      result.tableDebug = await page.evaluate(() => ({ status: document.querySelector("#atl-pane-table .atl-status").textContent, query: document.querySelector("#atl-pane-table .atl-table").dataset.query }));
      throw e;
    });
  result.tableStatus = await page.textContent("#atl-pane-table .atl-status");
  result.tableFids = await page.$$eval("#atl-pane-table tbody tr", (trs) => trs.map((t) => Number(t.dataset.fid)));
  await page.screenshot({ path: `${outDir}/${shot}` });
  await page.evaluate(() => window.atlanteMap.jumpTo({ center: [9.19, 45.467], zoom: 13 }));
  await mapIdle();
  Object.assign(result, await page.evaluate(() => {
    const m = window.atlanteMap;
    const ids = m.getStyle().layers.filter((x) => x.metadata && x.metadata["atlante:layer"] === "015146_metro_fermate" && x.type === "circle").map((x) => x.id);
    const b = m.getBounds();
    return { renderedFids: [...new Set(m.queryRenderedFeatures({ layers: ids }).map((f) => f.id))].sort((a, c) => a - c), viewBounds: [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()] };
  }));
}
// Opens the share tab's link in a new page: its view and filters.
async function openShared() {
  await page.click("#atl-tab-share");
  result.shareLink = await page.inputValue(".atl-share-link");
  result.shareEmbed = await page.inputValue(".atl-share-embed");
  const other = await browser.newPage({ viewport: { width: 1100, height: 760 } });
  await other.goto(result.shareLink);
  await other.waitForFunction(() => window.atlanteReady === true, null, { timeout: 30000 });
  await other.waitForTimeout(500);
  result.shared = await other.evaluate(() => ({ zoom: window.atlanteMap.getZoom(), center: window.atlanteMap.getCenter().toArray(), filters: [...window.atlanteTools.filters].map(([id, f]) => [id, f.text]),
    drawnFilter: window.atlanteMap.getStyle().layers.filter((x) => x.metadata && x.metadata["atlante:layer"] === "015146_metro_fermate").map((x) => !!x.filter) }));
  await other.close();
}

async function mapIdle() {
  await page.waitForFunction(() => window.atlanteReady === true, null, { timeout: 30000 });
  await page.waitForFunction(() => {
    const m = window.atlanteMap;
    return m && m.loaded() && m.areTilesLoaded() && !m.isMoving();
  }, null, { timeout: 30000, polling: 100 });
  await page.waitForTimeout(300);
}

// Non-background pixels in a screenshot region, counted in the page from the PNG.
async function paintedPixels(png, clip) {
  return page.evaluate(async ({ b64, clip }) => {
    const img = new Image();
    img.src = "data:image/png;base64," + b64;
    await img.decode();
    const c = document.createElement("canvas");
    c.width = clip.width; c.height = clip.height;
    const g = c.getContext("2d");
    g.drawImage(img, clip.x, clip.y, clip.width, clip.height, 0, 0, clip.width, clip.height);
    const d = g.getImageData(0, 0, clip.width, clip.height).data;
    let n = 0;
    for (let i = 0; i < d.length; i += 4) {
      const [r, gg, b] = [d[i], d[i + 1], d[i + 2]];
      const background = Math.abs(r - 0xee) < 6 && Math.abs(gg - 0xf1) < 6 && Math.abs(b - 0xf5) < 6;
      const white = r > 250 && gg > 250 && b > 250;
      if (!background && !white) n++;
    }
    return n;
  }, { b64: png.toString("base64"), clip });
}

try {
  if (scenario === "viewer") {
    const layers = "015146_metro_fermate,015146_metro_percorsi,015146_nil";
    await page.goto(`${base}/#map=14/45.4642/9.1900&layers=${layers}`);
    await mapIdle();
    const box = await page.locator("#map").boundingBox();
    const png = await page.screenshot({ path: `${outDir}/viewer.png` });
    result.painted = await paintedPixels(png, { x: Math.round(box.x), y: Math.round(box.y), width: Math.round(box.width), height: Math.round(box.height) });
    result.activeLayers = await page.$$eval("#active li", (lis) => lis.map((li) => li.dataset.layer));
    result.catalogZones = await page.$$eval("#catalog > details > summary", (s) => s.map((x) => x.textContent));
    // Identify: click the Duomo M1 stop.
    const pt = await page.evaluate(() => window.atlanteMap.project([9.189596064235388, 45.46462205639821]));
    await page.mouse.click(box.x + pt.x, box.y + pt.y);
    await page.waitForSelector(".maplibregl-popup", { timeout: 10000 });
    result.popup = await page.textContent(".maplibregl-popup");
    await page.screenshot({ path: `${outDir}/viewer-popup.png` });
    // The state is in the URL.
    result.hash = await page.evaluate(() => location.hash);
    // Comune search moves the map.
    await page.fill("#comune-search", "Rho");
    await page.press("#comune-search", "Enter");
    await page.waitForTimeout(500);
    result.centerAfterSearch = await page.evaluate(() => window.atlanteMap.getCenter().toArray());
    await page.evaluate(() => document.querySelectorAll(".maplibregl-popup").forEach((p) => p.remove()));
    await axe("viewer");
    // The tools on the active layers: the table's filter, and a link that brings it back.
    await filterStops("viewer-table.png");
    await page.evaluate(() => window.atlanteMap.jumpTo({ center: [9.18, 45.47], zoom: 14 }));
    await mapIdle();
    await openShared();
    await axe("viewer-tools");
  } else if (scenario === "fresh") {
    // A store with one uploaded layer: the viewer opens on the base map (comuni tinted by
    // zona, the zone's names), then Milan at z11 with the comuni's names; the layer's own
    // labels once its owner gives its style a label field.
    const layer = await api("GET", "/api/layers/015146_scuole");
    const field = layer.fields.find((f) => f.label === "DENOM_SEDE").name;
    await api("PUT", "/api/layers/015146_scuole/style", { symbology: { kind: "single", color: "#D55E00" }, label: { field } });
    await page.goto(`${base}/`);
    await mapIdle();
    const box = await page.locator("#map").boundingBox();
    const clip = { x: Math.round(box.x), y: Math.round(box.y), width: Math.round(box.width), height: Math.round(box.height) };
    let png = await page.screenshot({ path: `${outDir}/viewer-fresh.png` });
    result.paintedAtStart = await paintedPixels(png, clip);
    result.zoomAtStart = await page.evaluate(() => window.atlanteMap.getZoom());
    result.labelsAtStart = await renderedLabels();
    await page.goto(`${base}/#map=11/45.4642/9.1900`);
    await page.reload();
    await mapIdle();
    result.labelsZ11 = await renderedLabels();
    await page.goto(`${base}/#map=14/45.4700/9.1900&layers=015146_scuole`);
    await page.reload();
    await mapIdle();
    result.labelsZ15 = await renderedLabels();
    await page.screenshot({ path: `${outDir}/viewer-labels.png` });
    result.glyphRequests = requested.filter((u) => u.includes("/fonts/")).map((u) => decodeURIComponent(new URL(u).pathname));
    result.elsewhere = fromElsewhere(base);
    // In English, and by keyboard: the tools' tabs open with Enter, their controls take focus.
    await api("PATCH", "/api/layers/015146_scuole", { title_en: "Schools of Milan" });
    await page.goto(`${base}/#lang=en&layers=015146_scuole`);
    await page.reload();
    await mapIdle();
    result.english = {
      lang: await page.evaluate(() => document.documentElement.lang),
      headings: await page.$$eval("#panel h2", (hs) => hs.map((h) => h.textContent)),
      tabs: await page.$$eval(".atl-tabs [role=tab]", (ts) => ts.map((t) => t.textContent)),
      active: await page.$$eval("#active li .title", (ts) => ts.map((t) => t.textContent)),
    };
    await page.focus("#atl-tab-table");
    await page.keyboard.press("Enter");
    await page.keyboard.press("Tab");
    result.keyboard = {
      tableOpen: await page.evaluate(() => !document.getElementById("atl-pane-table").hidden),
      focused: await page.evaluate(() => document.activeElement && document.activeElement.className),
    };
    await page.waitForFunction(() => document.querySelectorAll("#atl-pane-table tbody tr").length > 0, null, { timeout: 20000 });
    await page.focus("#atl-pane-table tbody tr:first-child");
    const before = await page.evaluate(() => window.atlanteMap.getCenter().toArray());
    await page.keyboard.press("Enter");
    result.keyboard.rowMoved = await page.evaluate((b) => { const c = window.atlanteMap.getCenter().toArray(); return Math.abs(c[0] - b[0]) + Math.abs(c[1] - b[1]) > 1e-6; }, before);
    await axe("viewer-en");
  } else if (scenario === "background") {
    // The operator's vector background (an archive of OpenStreetMap streets and amenities)
    // chosen by the link, read by range from the server, under the comuni's names.
    await page.goto(`${base}/#map=14/45.4642/9.1900&bg=osm`);
    await mapIdle();
    await page.waitForFunction(() => {
      const m = window.atlanteMap;
      const ids = m.getStyle().layers.filter((x) => x.metadata && x.metadata["atlante:background"]).map((x) => x.id);
      return ids.length && m.queryRenderedFeatures({ layers: ids }).length > 0;
    }, null, { timeout: 30000, polling: 200 });
    result.backgroundFeatures = await page.evaluate(() => {
      const m = window.atlanteMap;
      const ids = m.getStyle().layers.filter((x) => x.metadata && x.metadata["atlante:background"]).map((x) => x.id);
      return m.queryRenderedFeatures({ layers: ids }).length;
    });
    result.picked = await page.inputValue(".atl-background");
    result.comuniFill = await page.evaluate(() => window.atlanteMap.getLayoutProperty("basemap:fill", "visibility"));
    result.archiveRequests = requested.filter((u) => u.includes("/backgrounds/osm.pmtiles")).length;
    await page.screenshot({ path: `${outDir}/viewer-background.png` });
    await axe("viewer-background");
    result.elsewhere = fromElsewhere(base);
  } else if (scenario === "tiles") {
    // MapLibre draws Atlante's tiles: the z12 view of Milan.
    await page.goto(`${base}/#map=12/45.4642/9.1900&layers=015146_nil,015146_aree_pedonali_ztl`);
    await mapIdle();
    const box = await page.locator("#map").boundingBox();
    const png = await page.screenshot({ path: `${outDir}/tiles.png` });
    const half = { x: Math.round(box.x + box.width / 4), y: Math.round(box.y + box.height / 4), width: Math.round(box.width / 2), height: Math.round(box.height / 2) };
    result.painted = await paintedPixels(png, half);
    result.total = half.width * half.height;
  } else if (scenario === "console") {
    // Sign in, drop a file on the upload zone, see the new layer; compose and publish an app.
    await page.goto(`${base}/console`);
    await page.fill("#token", TOKEN);
    await page.click("#signin-form button");
    await page.waitForFunction(() => window.atlanteConsoleReady === true, null, { timeout: 20000 });
    const file = process.env.UPLOAD_FILE;
    const b64 = readFileSync(file).toString("base64");
    await page.fill("#slug", "scuole");
    await page.fill("#upload-title", "Scuole");
    await page.evaluate(({ b64, name }) => {
      const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
      const dt = new DataTransfer();
      dt.items.add(new File([bytes], name, { type: "application/geo+json" }));
      document.getElementById("drop").dispatchEvent(new DragEvent("drop", { dataTransfer: dt, bubbles: true, cancelable: true }));
    }, { b64, name: file.split("/").pop() });
    await page.waitForSelector('#layers li[data-layer="015146_scuole"]', { timeout: 60000 });
    result.uploadStatus = await page.textContent("#upload-status");
    result.uploadSummary = await page.textContent("#upload-summary");
    result.uploadedAs = await page.textContent('#layers li[data-layer="015146_scuole"]');
    // A draft is invisible to the public until the comune publishes it.
    result.anonymousBeforePublish = (await fetch(`${base}/api/layers/015146_scuole`)).status;
    // Style the new layer (single colour), publish it and save.
    await page.click('#layers li[data-layer="015146_scuole"] button');
    await page.waitForSelector("#layer-card:not([hidden])");
    await page.selectOption("#l-visibility", "public");
    await page.fill("#s-color", "#d62728");
    await page.click("#l-save");
    await page.waitForFunction(() => document.getElementById("l-status").textContent === "Salvato", null, { timeout: 20000 });
    // Categorized by a field: the server proposes the categories and colours from the data.
    const field = await page.$eval("#s-field", (s) => [...s.options].map((o) => o.value).find((v) => v));
    await page.selectOption("#s-kind", "categorized");
    await page.selectOption("#s-field", field);
    await page.evaluate(() => { document.getElementById("l-status").textContent = ""; });
    await page.click("#l-save");
    await page.waitForFunction(() => document.getElementById("l-status").textContent === "Salvato", null, { timeout: 20000 });
    const saved = await api("GET", "/api/layers/015146_scuole/style");
    result.categorized = { kind: saved.symbology.kind, field: saved.symbology.field, categories: saved.symbology.categories.length };
    // Compose: two layers, popup fields, a title; publish.
    await page.fill("#a-slug", "mobilita");
    await page.fill("#a-title", "Mobilità e scuole");
    await page.selectOption("#a-add", "015146_metro_fermate");
    await page.selectOption("#a-add", "015146_scuole");
    await page.selectOption("#a-search", "015146_metro_fermate|nome");
    // The stops are labelled with their names.
    await page.selectOption('#a-layers li[data-layer="015146_metro_fermate"] select.label-field', "nome");
    await page.waitForFunction(() => window.atlanteMap === undefined || true);
    await page.waitForTimeout(1500);
    await page.click("#a-publish");
    await page.waitForFunction(() => document.getElementById("a-status").textContent.startsWith("Pubblicata"), null, { timeout: 20000 });
    result.appStatus = await page.textContent("#a-status");
    await page.waitForFunction(() => /pubblicata/.test((document.querySelector('#apps li[data-app="mobilita"]') || {}).textContent || ""), null, { timeout: 20000 });
    result.apps = await page.$$eval("#apps li", (lis) => lis.map((li) => li.dataset.app + " " + li.textContent));
    await page.waitForTimeout(1000);
    await page.screenshot({ path: `${outDir}/console.png`, fullPage: true });
  } else if (scenario === "opendata") {
    // A comune fills in a layer's open-data description in the console and sees what its
    // record lacks; the dataset page draws its small map; the dashboard shows its charts.
    await page.goto(`${base}/console`);
    await page.fill("#token", TOKEN);
    await page.click("#signin-form button");
    await page.waitForFunction(() => window.atlanteConsoleReady === true, null, { timeout: 20000 });
    await page.click('#layers li[data-layer="015146_nil"] button');
    await page.waitForSelector("#layer-card:not([hidden])");
    await page.waitForFunction(() => document.getElementById("m-licence").options.length > 1, null, { timeout: 20000 });
    result.missingBefore = await page.textContent("#m-missing");
    await page.fill("#l-description", "I Nuclei di Identità Locale (NIL) del PGT 2030 del Comune di Milano.");
    await page.selectOption("#m-licence", "IODL-2.0");
    await page.selectOption("#m-frequency", "ANNUAL");
    await page.selectOption("#m-themes", ["REGI", "SOCI"]);
    await page.fill("#m-keywords", "quartieri, PGT, NIL");
    await page.fill("#m-email", "sit@comune.milano.it");
    await page.fill("#m-lineage", "Perimetri digitalizzati dal Comune di Milano per il PGT 2030.");
    await page.click("#l-save");
    await page.waitForFunction(() => document.getElementById("l-status").textContent === "Salvato", null, { timeout: 20000 });
    result.missingAfter = await page.textContent("#m-missing");
    await page.locator("#layer-card").screenshot({ path: `${outDir}/console-metadata.png` });
    // The dataset page, with its small map drawn.
    await page.goto(`${base}/datasets/015146_nil`);
    await page.waitForFunction(() => {
      const m = window.atlanteDatasetMap;
      return m && m.loaded() && m.areTilesLoaded() && !m.isMoving();
    }, null, { timeout: 30000, polling: 100 });
    await page.waitForTimeout(300);
    const box = await page.locator("#dataset-map").boundingBox();
    const png = await page.screenshot({ path: `${outDir}/dataset-page.png`, fullPage: true });
    result.datasetPainted = await paintedPixels(png, { x: Math.round(box.x), y: Math.round(box.y), width: Math.round(box.width), height: Math.round(box.height) });
    result.datasetText = await page.textContent("main");
    // The dashboard.
    await page.goto(`${base}/stats`);
    result.statsBars = await page.$$eval("svg.chart rect", (r) => r.length);
    result.statsText = await page.textContent("main");
    await page.screenshot({ path: `${outDir}/stats.png`, fullPage: true });
    // The viewer links each public layer to its page.
    await page.goto(`${base}/`);
    await page.waitForFunction(() => window.atlanteReady === true, null, { timeout: 30000 });
    result.viewerDatasetLinks = await page.$$eval("a.dataset-link", (a) => a.map((x) => x.getAttribute("href")));
  } else if (scenario === "app") {
    // A generated app (online from Atlante, or static from a plain file server): it draws its
    // map, the legend, and a popup for the Duomo M1 stop; the time to the first drawn map.
    const url = process.env.APP_URL;
    const t0 = Date.now();
    await page.goto(url);
    await mapIdle();
    result.firstMapMs = Date.now() - t0;
    result.labelsAtStart = await renderedLabels();
    const box = await page.locator("#map").boundingBox();
    const png = await page.screenshot({ path: `${outDir}/app-${process.env.APP_MODE || "online"}.png` });
    result.painted = await paintedPixels(png, { x: Math.round(box.x), y: Math.round(box.y), width: Math.round(box.width), height: Math.round(box.height) });
    result.legend = await page.textContent("#legend");
    result.title = await page.textContent("#title");
    await page.evaluate(() => window.atlanteMap.jumpTo({ center: [9.189596064235388, 45.46462205639821], zoom: 15 }));
    await mapIdle();
    const pt = await page.evaluate(() => window.atlanteMap.project([9.189596064235388, 45.46462205639821]));
    result.labelsZ15 = await renderedLabels();
    await page.mouse.click(box.x + pt.x, box.y + pt.y);
    await page.waitForSelector(".maplibregl-popup", { timeout: 10000 });
    result.popup = await page.textContent(".maplibregl-popup");
    await page.screenshot({ path: `${outDir}/app-${process.env.APP_MODE || "online"}-popup.png` });
    result.glyphRequests = requested.filter((u) => u.includes("/fonts/")).map((u) => decodeURIComponent(new URL(u).pathname));
    result.elsewhere = fromElsewhere(new URL(url).origin);
    const mode = process.env.APP_MODE || "online";
    await page.keyboard.press("Escape");
    await page.evaluate(() => document.querySelectorAll(".maplibregl-popup").forEach((p) => p.remove()));
    await axe("app");

    await filterStops(`app-${mode}-table.png`);
    const csvPath = await downloaded("#atl-pane-table .atl-export-csv", `app-${mode}.csv`);
    result.csvLines = readFileSync(csvPath, "utf8").trim().split("\r\n").length;
    // Click a row: the map goes to that stop.
    await page.click("#atl-pane-table tbody tr:first-child");
    result.afterRowClick = await page.evaluate(() => ({ zoom: window.atlanteMap.getZoom(), center: window.atlanteMap.getCenter().toArray() }));

    // Share: the link restores the view and the filter in a new page.
    await page.evaluate(() => window.atlanteMap.jumpTo({ center: [9.18, 45.47], zoom: 14 }));
    await mapIdle();
    await openShared();

    // Measure: two clicks on the map, from the Duomo to the Castello Sforzesco.
    await page.evaluate(() => window.atlanteMap.jumpTo({ center: [9.185, 45.467], zoom: 14 }));
    await mapIdle();
    await page.click("#atl-tab-measure");
    for (const p of [[9.19187, 45.46416], [9.17905, 45.47046]]) {
      const px = await page.evaluate((p) => window.atlanteMap.project(p), p);
      await page.mouse.click(box.x + px.x, box.y + px.y);
    }
    result.measured = await page.evaluate(() => window.atlanteTools.measured);
    result.measureText = await page.textContent(".atl-measure");
    await page.click("#atl-tab-measure");

    // Print: an A4 landscape PDF.
    await page.click("#atl-tab-print");
    result.pdf = await downloaded("#atl-pane-print .atl-primary", `app-${mode}.pdf`);
    await axe("app-tools");
    // On a phone: the map full width on top, the panel below it.
    await page.setViewportSize({ width: 390, height: 844 });
    await page.waitForTimeout(500);
    result.phone = await page.evaluate(() => {
      const m = document.getElementById("map").getBoundingClientRect();
      const p = document.getElementById("side").getBoundingClientRect();
      return { mapWidth: m.width, mapBottom: m.bottom, sideTop: p.top, sideWidth: p.width, canvasWidth: window.atlanteMap.getCanvas().clientWidth };
    });
    await page.screenshot({ path: `${outDir}/app-${mode}-phone.png`, fullPage: true });
    result.xss = await xssCount();
  } else if (scenario === "xss") {
    // Hostile strings in layer titles, attribute names and values and app titles: the viewer,
    // the console and a generated app show them as text; no script runs.
    const payloads = JSON.parse(readFileSync(process.env.PAYLOADS, "utf8"));
    result.payloads = payloads.length;
    // An upload whose attribute names and values are the payloads.
    const features = payloads.map((p, i) => ({ type: "Feature", geometry: { type: "Point", coordinates: [9.18 + i * 0.0004, 45.465] },
      properties: Object.fromEntries([["nome", p], ["f" + i, p], [p.slice(0, 60), "v" + i]]) }));
    const form = new FormData();
    form.append("file", new Blob([JSON.stringify({ type: "FeatureCollection", features })], { type: "application/geo+json" }), "xss.geojson");
    const up = await api("POST", "/api/orgs/015146/layers/xss", form);
    const layerId = up.layer.id;
    // One comune's attribution with a phishing link in it: it must reach every map as text.
    const phishing = 'ISTAT <a href="http://example.invalid/login">Accedi con SPID</a>';
    await api("PATCH", `/api/layers/${layerId}`, { title: payloads[0], description: payloads[1], attribution: phishing, visibility: "public" });
    await api("PATCH", "/api/layers/015146_metro_fermate", { title: payloads[2] });
    for (let i = 0; i < 6; i++) {
      await api("PUT", `/api/orgs/015146/apps/xss-${i}`, { title: payloads[i], description: payloads[i + 1], layers: [{ id: layerId, popup_template: payloads[i + 2], label_field: "nome" }] });
      await api("POST", `/api/orgs/015146/apps/xss-${i}/publish`);
    }
    // The viewer: catalog, active list, identify on a hostile feature.
    await page.goto(`${base}/#map=17/45.465/9.1804&layers=${layerId}`);
    await mapIdle();
    let box = await page.locator("#map").boundingBox();
    for (let i = 0; i < 4; i++) {
      const pt = await page.evaluate((i) => window.atlanteMap.project([9.18 + i * 0.0004, 45.465]), i);
      await page.mouse.click(box.x + pt.x, box.y + pt.y);
      await page.waitForTimeout(300);
    }
    result.viewerPopup = (await page.textContent(".maplibregl-popup").catch(() => "")) || "";
    const phishingLinks = () => page.evaluate(() => document.querySelectorAll('a[href*="example.invalid"]').length);
    result.viewerAttribution = await page.evaluate(() => (document.querySelector(".maplibregl-ctrl-attrib-inner") || {}).textContent || "");
    result.viewerPhishingLinks = await phishingLinks();
    await page.fill("#layer-filter", "script");
    await page.waitForTimeout(300);
    result.viewerXss = await xssCount();
    // The console: sign in, the layer list, the layer editor (field labels), the app list.
    await page.goto(`${base}/console`);
    await page.fill("#token", TOKEN);
    await page.click("#signin-form button");
    await page.waitForFunction(() => window.atlanteConsoleReady === true, null, { timeout: 20000 });
    await page.click(`#layers li[data-layer="${layerId}"] button`);
    await page.waitForTimeout(1500);
    result.consoleXss = await xssCount();
    // The generated apps: title, legend, popups with the template and hostile values.
    result.appXss = 0;
    for (let i = 0; i < 6; i++) {
      await page.goto(`${base}/apps/015146/xss-${i}/`);
      await mapIdle();
      await page.evaluate(() => window.atlanteMap.jumpTo({ center: [9.1806, 45.465], zoom: 17 }));
      await mapIdle();
      box = await page.locator("#map").boundingBox();
      for (let k = 0; k < 4; k++) {
        const pt = await page.evaluate((k) => window.atlanteMap.project([9.18 + k * 0.0004, 45.465]), k);
        await page.mouse.click(box.x + pt.x, box.y + pt.y);
        await page.waitForTimeout(200);
      }
      if (i === 0) {
        result.appPopup = (await page.textContent(".maplibregl-popup").catch(() => "")) || "";
        result.appPhishingLinks = await phishingLinks();
        result.appAttribution = await page.evaluate(() => (document.querySelector(".maplibregl-ctrl-attrib-inner") || {}).textContent || "");
      }
      result.appXss += await xssCount();
    }
  } else {
    throw new Error("unknown scenario " + scenario);
  }
} catch (e) {
  result.error = String(e && e.stack || e);
  // What the page's status lines said when it failed (a console step that timed out).
  result.statusAtError = await Promise.all(browser.contexts().flatMap((c) => c.pages()).map((p) =>
    p.$$eval("[id$='-status']", (els) => els.map((el) => el.id + ": " + el.textContent)).catch(() => []))).catch(() => []);
}
await browser.close();
writeFileSync(`${outDir}/${scenario}.json`, JSON.stringify(result, null, 2));
console.log(JSON.stringify(result));
