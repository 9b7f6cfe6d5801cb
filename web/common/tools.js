// The tools of the viewer and of every generated app: layer switcher (on/off, opacity,
// order, legend per class), attribute table (sorting, a filter builder writing CQL2 that
// drives the table and the map, zoom to a row, export of the filtered rows), measure
// (geodesic distance and area), print (PNG; PDF at A4/A3 with title, legend, scale bar,
// north arrow, attribution and date), share (a link restoring the view, layers and filter,
// and an <iframe> snippet) and geolocation. Each is enabled per app.
//
// The host (viewer or app) says where its rows come from: online, `/items` of the server
// with the same CQL2 filter; static, the attributes embedded in the bundle, filtered by
// AtlanteCql2 (common/cql2.js) in the browser — never the tiles, which are clipped and
// thinned. Text reaches the page through textContent only (Atlante.el).
"use strict";

window.AtlanteTools = (function () {
  const WORDS = {
    it: {
      tools: "Strumenti", layers: "Layer", table: "Tabella", measure: "Misura", print: "Stampa", share: "Condividi",
      opacity: "Opacità", up: "Sposta su", down: "Sposta giù", show: "Mostra", layer: "Layer", field: "Campo", op: "Condizione",
      value: "Valore", add: "Aggiungi condizione", apply: "Applica", clear: "Azzera", filter: "Filtro (CQL2)", all: "tutte",
      any: "almeno una", rows: "righe", of: "di", shown: "mostrate", exportCsv: "Esporta CSV", exportGeojson: "Esporta GeoJSON",
      distance: "Distanza", area: "Area", finish: "Fine", restart: "Ricomincia", measureHelp: "Clicca sulla mappa per aggiungere punti.",
      format: "Formato", orientation: "Orientamento", portrait: "verticale", landscape: "orizzontale", png: "Immagine PNG", pdf: "PDF",
      link: "Link a questa mappa", embed: "Da incollare in una pagina", copy: "Copia", copied: "Copiato", legend: "Legenda",
      date: "Data", source: "Fonti", noData: "Dati non disponibili in questa app", close: "Chiudi", zoomTo: "Zoom su",
      sortBy: "Ordina per", removeCondition: "Togli condizione", filterError: "Filtro non valido", locate: "La mia posizione",
    },
    en: {
      tools: "Tools", layers: "Layers", table: "Table", measure: "Measure", print: "Print", share: "Share",
      opacity: "Opacity", up: "Move up", down: "Move down", show: "Show", layer: "Layer", field: "Field", op: "Condition",
      value: "Value", add: "Add condition", apply: "Apply", clear: "Clear", filter: "Filter (CQL2)", all: "all",
      any: "any", rows: "rows", of: "of", shown: "shown", exportCsv: "Export CSV", exportGeojson: "Export GeoJSON",
      distance: "Distance", area: "Area", finish: "Finish", restart: "Start again", measureHelp: "Click on the map to add points.",
      format: "Size", orientation: "Orientation", portrait: "portrait", landscape: "landscape", png: "PNG image", pdf: "PDF",
      link: "Link to this map", embed: "To paste in a page", copy: "Copy", copied: "Copied", legend: "Legend",
      date: "Date", source: "Sources", noData: "Data not available in this app", close: "Close", zoomTo: "Zoom to",
      sortBy: "Sort by", removeCondition: "Remove condition", filterError: "Invalid filter", locate: "My location",
    },
  };
  const { el } = Atlante;
  const C = window.AtlanteCql2;

  // ---- geodesy (WGS84) ----------------------------------------------------------------
  // Vincenty's inverse formula on the ellipsoid (sub-millimetre), metres.
  function geodesicDistance([lon1, lat1], [lon2, lat2]) {
    const a = 6378137, f = 1 / 298.257223563, b = a * (1 - f);
    const rad = Math.PI / 180;
    const L = (lon2 - lon1) * rad;
    const U1 = Math.atan((1 - f) * Math.tan(lat1 * rad)), U2 = Math.atan((1 - f) * Math.tan(lat2 * rad));
    const sinU1 = Math.sin(U1), cosU1 = Math.cos(U1), sinU2 = Math.sin(U2), cosU2 = Math.cos(U2);
    let lambda = L, prev, sinSigma, cosSigma, sigma, cos2Alpha, cos2SigmaM;
    for (let i = 0; i < 200; i++) {
      const sinL = Math.sin(lambda), cosL = Math.cos(lambda);
      sinSigma = Math.hypot(cosU2 * sinL, cosU1 * sinU2 - sinU1 * cosU2 * cosL);
      if (sinSigma === 0) return 0;
      cosSigma = sinU1 * sinU2 + cosU1 * cosU2 * cosL;
      sigma = Math.atan2(sinSigma, cosSigma);
      const sinAlpha = (cosU1 * cosU2 * sinL) / sinSigma;
      cos2Alpha = 1 - sinAlpha * sinAlpha;
      cos2SigmaM = cos2Alpha ? cosSigma - (2 * sinU1 * sinU2) / cos2Alpha : 0;
      const Cc = (f / 16) * cos2Alpha * (4 + f * (4 - 3 * cos2Alpha));
      prev = lambda;
      lambda = L + (1 - Cc) * f * sinAlpha * (sigma + Cc * sinSigma * (cos2SigmaM + Cc * cosSigma * (-1 + 2 * cos2SigmaM * cos2SigmaM)));
      if (Math.abs(lambda - prev) < 1e-12) break;
    }
    const u2 = (cos2Alpha * (a * a - b * b)) / (b * b);
    const A = 1 + (u2 / 16384) * (4096 + u2 * (-768 + u2 * (320 - 175 * u2)));
    const B = (u2 / 1024) * (256 + u2 * (-128 + u2 * (74 - 47 * u2)));
    const dSigma = B * sinSigma * (cos2SigmaM + (B / 4) * (cosSigma * (-1 + 2 * cos2SigmaM * cos2SigmaM) -
      (B / 6) * cos2SigmaM * (-3 + 4 * sinSigma * sinSigma) * (-3 + 4 * cos2SigmaM * cos2SigmaM)));
    return b * A * (sigma - dSigma);
  }
  const lineLength = (pts) => pts.slice(1).reduce((s, p, i) => s + geodesicDistance(pts[i], p), 0);
  // Area of a ring on the sphere of the ellipsoid's mean radius (m²); within a few parts in
  // a thousand of the ellipsoidal area at the scale of a comune.
  function ringArea(pts) {
    const R = 6371008.8, rad = Math.PI / 180;
    let s = 0;
    for (let i = 0; i < pts.length; i++) {
      const [l1, p1] = pts[i], [l2, p2] = pts[(i + 1) % pts.length];
      s += (l2 - l1) * rad * (2 + Math.sin(p1 * rad) + Math.sin(p2 * rad));
    }
    return Math.abs((s * R * R) / 2);
  }
  const fmtLength = (m, lang) => (m >= 1000 ? (m / 1000).toLocaleString(lang, { maximumFractionDigits: 3 }) + " km" : m.toLocaleString(lang, { maximumFractionDigits: 1 }) + " m");
  const fmtArea = (m2, lang) => (m2 >= 1e6 ? (m2 / 1e6).toLocaleString(lang, { maximumFractionDigits: 3 }) + " km²" : m2 >= 1e4 ? (m2 / 1e4).toLocaleString(lang, { maximumFractionDigits: 2 }) + " ha" : m2.toLocaleString(lang, { maximumFractionDigits: 0 }) + " m²");

  // ---- files ---------------------------------------------------------------------------
  function download(name, blob) {
    const a = el("a", { href: URL.createObjectURL(blob), download: name, text: name, hidden: "" });
    document.body.append(a);
    a.click();
    setTimeout(() => { URL.revokeObjectURL(a.href); a.remove(); }, 1000);
  }
  const csvCell = (v) => {
    const s = v === null || v === undefined ? "" : String(v);
    return /[",\n\r;]/.test(s) ? '"' + s.replace(/"/g, '""') + '"' : s;
  };
  const slugName = (s) => (s || "mappa").toLowerCase().normalize("NFD").replace(/[^a-z0-9]+/g, "-").replace(/^-|-$/g, "") || "mappa";

  // The map's canvas as a data URL, taken in a render (MapLibre clears it after).
  function snapshot(map, type) {
    return new Promise((resolve) => {
      map.once("render", () => resolve(map.getCanvas().toDataURL(type, 0.92)));
      map.triggerRepaint();
    });
  }
  // The ground metres of one CSS pixel at the map's centre.
  const metresPerPixel = (map) => (40075016.686 * Math.cos((map.getCenter().lat * Math.PI) / 180)) / (512 * 2 ** map.getZoom());

  // ---- the panel -----------------------------------------------------------------------
  // host: { lang, title, container, enabled: {layers, table, measure, print, share, locate},
  //   layers(): [{id, title, fields, legend, geom_type}] (top first), styleIds(id),
  //   rows(id, cql, sort) → Promise<{features, matched}> (sort: [field, asc] or null),
  //   canFilter(id) → true or a reason, attribution(), state() → URLSearchParams entries,
  //   onChange() (the host rewrites its URL) }
  function install(map, host) {
    const w = WORDS[host.lang] || WORDS.it;
    const on = Object.assign({ layers: true, table: true, measure: true, print: true, share: true, locate: true }, host.enabled || {});
    const panel = el("section", { class: "atl-tools", "aria-label": w.tools });
    const tabs = el("div", { class: "atl-tabs", role: "tablist", "aria-label": w.tools });
    const panes = el("div", { class: "atl-panes" });
    panel.append(tabs, panes);
    host.container.append(panel);
    const filters = new Map(); // layer id → {text, ast}
    const hidden = new Set();
    const opacity = new Map();
    const api = { filters, hidden, opacity, words: w };

    function addTab(key, build) {
      const id = "atl-pane-" + key;
      const tab = el("button", { type: "button", role: "tab", id: "atl-tab-" + key, "aria-controls": id, "aria-selected": "false", text: w[key] });
      const pane = el("div", { id, role: "tabpanel", "aria-labelledby": "atl-tab-" + key, class: "atl-pane", hidden: "" });
      // One tab in the Tab order (the open one, else the first); arrows move between them.
      tab.tabIndex = tabs.children.length ? -1 : 0;
      tab.onkeydown = (e) => {
        const all = [...tabs.querySelectorAll("[role=tab]")];
        const i = all.indexOf(tab);
        const to = { ArrowRight: i + 1, ArrowLeft: i - 1, Home: 0, End: all.length - 1 }[e.key];
        if (to === undefined) return;
        e.preventDefault();
        const next = all[(to + all.length) % all.length];
        all.forEach((t) => { t.tabIndex = t === next ? 0 : -1; });
        next.focus();
      };
      tab.onclick = () => {
        const open = tab.getAttribute("aria-selected") !== "true";
        tabs.querySelectorAll("[role=tab]").forEach((t) => { t.setAttribute("aria-selected", "false"); t.tabIndex = t === tab ? 0 : -1; });
        panes.querySelectorAll(".atl-pane").forEach((p) => { p.hidden = true; });
        if (open) { tab.setAttribute("aria-selected", "true"); pane.hidden = false; pane.dispatchEvent(new Event("open")); }
        else pane.dispatchEvent(new Event("close"));
      };
      tabs.append(tab);
      panes.append(pane);
      build(pane);
    }

    // Opacity: each drawing property scaled from the style's own value.
    const OPACITY = { fill: ["fill-opacity"], line: ["line-opacity"], circle: ["circle-opacity", "circle-stroke-opacity"], symbol: ["text-opacity"], "fill-extrusion": ["fill-extrusion-opacity"], heatmap: ["heatmap-opacity"] };
    const baseOpacity = new Map();
    function setOpacity(id, value) {
      opacity.set(id, value);
      for (const sid of host.styleIds(id)) {
        const l = map.getLayer(sid);
        if (!l) continue;
        for (const prop of OPACITY[l.type] || []) {
          const key = sid + "|" + prop;
          if (!baseOpacity.has(key)) { const v = map.getPaintProperty(sid, prop); baseOpacity.set(key, typeof v === "number" ? v : 1); }
          map.setPaintProperty(sid, prop, baseOpacity.get(key) * value);
        }
      }
    }
    function setVisible(id, visible) {
      if (visible) hidden.delete(id); else hidden.add(id);
      host.styleIds(id).forEach((sid) => map.getLayer(sid) && map.setLayoutProperty(sid, "visibility", visible ? "visible" : "none"));
    }
    // The layer's filter on the map: the style's own filter (kept) and the table's.
    const ownFilter = new Map();
    function setFilter(id, ast) {
      for (const sid of host.styleIds(id)) {
        const l = map.getLayer(sid);
        if (!l) continue;
        if (!ownFilter.has(sid)) ownFilter.set(sid, map.getFilter(sid) || null);
        const own = ownFilter.get(sid);
        const f = ast ? C.toMapLibre(ast) : null;
        map.setFilter(sid, own && f ? ["all", own, f] : f || own);
      }
    }
    api.setOpacity = setOpacity;
    api.setVisible = setVisible;
    // Applies a filter (CQL2 text; "" for none) to a layer's map and table; throws on a bad one.
    api.applyFilter = (id, text) => {
      if (!text) { filters.delete(id); setFilter(id, null); host.onChange && host.onChange(); return; }
      const ast = C.parse(text);
      setFilter(id, ast);
      filters.set(id, { text, ast });
      host.onChange && host.onChange();
    };

    // Fits the map to a feature's geometry (a point: zoom 16 or closer).
    api.zoomTo = (feat) => {
      const b = [Infinity, Infinity, -Infinity, -Infinity];
      const walk = (c) => { if (typeof c[0] === "number") { b[0] = Math.min(b[0], c[0]); b[1] = Math.min(b[1], c[1]); b[2] = Math.max(b[2], c[0]); b[3] = Math.max(b[3], c[1]); } else c.forEach(walk); };
      if (feat.geometry) walk(feat.geometry.coordinates);
      if (!Number.isFinite(b[0])) return;
      if (b[0] === b[2] && b[1] === b[3]) map.jumpTo({ center: [b[0], b[1]], zoom: Math.max(map.getZoom(), 16) });
      else map.fitBounds(b, { padding: 40, maxZoom: 18, duration: 0 });
    };

    if (on.layers) addTab("layers", (pane) => {
      const list = el("ol", { class: "atl-layers" });
      pane.append(list);
      function render() {
        list.replaceChildren();
        const ls = host.layers();
        ls.forEach((l, i) => {
          const cb = el("input", { type: "checkbox", "aria-label": w.show + ": " + l.title });
          cb.checked = !hidden.has(l.id);
          cb.onchange = () => { setVisible(l.id, cb.checked); host.onChange && host.onChange(); };
          const range = el("input", { type: "range", min: "0", max: "1", step: "0.05", "aria-label": w.opacity + ": " + l.title });
          range.value = String(opacity.has(l.id) ? opacity.get(l.id) : 1);
          range.oninput = () => setOpacity(l.id, Number(range.value));
          const up = el("button", { type: "button", "aria-label": w.up + ": " + l.title, text: "↑" });
          const down = el("button", { type: "button", "aria-label": w.down + ": " + l.title, text: "↓" });
          up.disabled = i === 0;
          down.disabled = i === ls.length - 1;
          up.onclick = () => { host.reorder(l.id, -1); render(); };
          down.onclick = () => { host.reorder(l.id, 1); render(); };
          const legend = el("ul", { class: "atl-legend" });
          for (const [label, colour] of l.legend || []) {
            const sw = el("span", { class: "atl-swatch " + (l.geom_type || "") });
            sw.style.background = colour;
            legend.append(el("li", {}, sw, el("span", { text: label })));
          }
          list.append(el("li", { "data-layer": l.id }, el("label", { class: "atl-layer-title" }, cb, el("span", { text: l.title })), up, down,
            el("label", { class: "atl-opacity" }, el("span", { text: w.opacity }), range), legend));
        });
      }
      pane.addEventListener("open", render);
      api.renderLayers = render;
    });

    if (on.table) addTab("table", (pane) => {
      const layerSel = el("select", { class: "atl-table-layer", "aria-label": w.layer });
      const conds = el("div", { class: "atl-conds" });
      const join = el("select", { "aria-label": w.op }, el("option", { value: "AND", text: w.all }), el("option", { value: "OR", text: w.any }));
      const text = el("input", { type: "text", class: "atl-cql", "aria-label": w.filter, spellcheck: "false" });
      const status = el("p", { class: "atl-status", role: "status" });
      const table = el("table", { class: "atl-table" });
      const wrap = el("div", { class: "atl-table-wrap", tabindex: "0", "aria-label": w.table }, table);
      const add = el("button", { type: "button", class: "atl-add", text: w.add });
      const apply = el("button", { type: "button", class: "atl-primary", text: w.apply });
      const clear = el("button", { type: "button", text: w.clear });
      const csv = el("button", { type: "button", class: "atl-export-csv", text: w.exportCsv });
      const geojson = el("button", { type: "button", class: "atl-export-geojson", text: w.exportGeojson });
      pane.append(el("label", { class: "atl-field" }, el("span", { text: w.layer }), layerSel), conds,
        el("div", { class: "atl-row" }, add, el("label", {}, el("span", { text: w.op + " " }), join)),
        el("label", { class: "atl-field" }, el("span", { text: w.filter }), text),
        el("div", { class: "atl-row" }, apply, clear, csv, geojson), status, wrap);
      let sort = null; // [field, ascending]
      let last = { features: [], matched: 0 };
      const current = () => host.layers().find((l) => l.id === layerSel.value);
      function fillLayers() {
        const keep = layerSel.value;
        layerSel.replaceChildren(...host.layers().map((l) => el("option", { value: l.id, text: l.title })));
        if (keep && [...layerSel.options].some((o) => o.value === keep)) layerSel.value = keep;
      }
      function condRow() {
        const l = current();
        if (!l) return;
        const field = el("select", { "aria-label": w.field }, ...l.fields.map((f) => el("option", { value: f.name, text: f.label })));
        const op = el("select", { "aria-label": w.op }, ...["=", "<>", "<", ">", "<=", ">=", "LIKE", "IS NULL", "IS NOT NULL"].map((o) => el("option", { value: o, text: o })));
        const value = el("input", { type: "text", "aria-label": w.value });
        const rm = el("button", { type: "button", "aria-label": w.removeCondition, text: "✕" });
        const row = el("div", { class: "atl-cond" }, field, op, value, rm);
        rm.onclick = () => { row.remove(); writeText(); };
        [field, op, value].forEach((x) => x.addEventListener("input", writeText));
        conds.append(row);
      }
      // The builder's conditions as CQL2 text (typed by the field: numbers stay numbers).
      function writeText() {
        const l = current();
        const parts = [];
        for (const row of conds.querySelectorAll(".atl-cond")) {
          const [field, op, value] = row.querySelectorAll("select, input");
          const f = l.fields.find((x) => x.name === field.value);
          if (op.value.startsWith("IS")) { parts.push(C.property(field.value) + " " + op.value); continue; }
          if (value.value === "") continue;
          const numeric = f && (f.type === "integer" || f.type === "real");
          const v = numeric && Number.isFinite(Number(value.value)) ? Number(value.value) : value.value;
          parts.push(C.property(field.value) + " " + op.value + " " + C.literal(v));
        }
        text.value = parts.join(" " + join.value + " ");
      }
      join.onchange = writeText;
      add.onclick = () => { condRow(); writeText(); };
      function renderTable() {
        const l = current();
        table.replaceChildren();
        const head = el("tr");
        for (const f of l.fields) {
          const b = el("button", { type: "button", text: f.label + (sort && sort[0] === f.name ? (sort[1] ? " ▲" : " ▼") : ""), "aria-label": w.sortBy + " " + f.label });
          b.onclick = () => { sort = [f.name, !(sort && sort[0] === f.name && sort[1])]; load(); };
          const th = el("th", { scope: "col" }, b);
          if (sort && sort[0] === f.name) th.setAttribute("aria-sort", sort[1] ? "ascending" : "descending");
          head.append(th);
        }
        table.append(el("thead", {}, head));
        const body = el("tbody");
        for (const feat of last.features) {
          const tr = el("tr", { tabindex: "0", "data-fid": String(feat.id), "aria-label": w.zoomTo + " " + feat.id });
          for (const f of l.fields) tr.append(el("td", { text: feat.properties[f.name] ?? "" }));
          const go = () => api.zoomTo(feat);
          tr.onclick = go;
          tr.onkeydown = (e) => { if (e.key === "Enter") go(); };
          body.append(tr);
        }
        table.append(body);
        status.textContent = last.matched + " " + w.rows + (last.features.length < last.matched ? " (" + last.features.length + " " + w.shown + ")" : "");
      }
      // Loads are answered out of order at times: only the latest one fills the table, which
      // then says what it shows (data-query: layer and filter).
      let loads = 0;
      async function load() {
        const l = current();
        if (!l) return;
        const ok = host.canFilter(l.id);
        if (ok !== true) { status.textContent = ok; table.replaceChildren(); return; }
        const mine = ++loads;
        const cql = filters.has(l.id) ? filters.get(l.id).text : "";
        try {
          const rows = await host.rows(l.id, cql, sort, 500);
          if (mine !== loads) return;
          last = rows;
          renderTable();
          table.dataset.query = l.id + "|" + cql;
        } catch (err) { if (mine === loads) status.textContent = w.filterError + ": " + err.message; }
      }
      apply.onclick = async () => {
        try { api.applyFilter(layerSel.value, text.value.trim()); } catch (err) { status.textContent = w.filterError + ": " + err.message; return; }
        await load();
      };
      clear.onclick = async () => { conds.replaceChildren(); text.value = ""; api.applyFilter(layerSel.value, ""); await load(); };
      layerSel.onchange = () => { conds.replaceChildren(); sort = null; text.value = filters.has(layerSel.value) ? filters.get(layerSel.value).text : ""; load(); };
      async function exportRows(kind) {
        const l = current();
        const all = await host.rows(l.id, filters.has(l.id) ? filters.get(l.id).text : "", sort, Infinity);
        const name = slugName(l.title);
        if (kind === "csv") {
          const lines = [l.fields.map((f) => csvCell(f.label)).join(",")];
          for (const f of all.features) lines.push(l.fields.map((x) => csvCell(f.properties[x.name])).join(","));
          download(name + ".csv", new Blob(["\ufeff" + lines.join("\r\n") + "\r\n"], { type: "text/csv;charset=utf-8" }));
        } else {
          download(name + ".geojson", new Blob([JSON.stringify({ type: "FeatureCollection", features: all.features })], { type: "application/geo+json" }));
        }
      }
      csv.onclick = () => exportRows("csv");
      geojson.onclick = () => exportRows("geojson");
      pane.addEventListener("open", () => { fillLayers(); text.value = filters.has(layerSel.value) ? filters.get(layerSel.value).text : ""; load(); });
      api.table = { load, select: (id) => { fillLayers(); layerSel.value = id; }, text, rows: () => last };
    });

    if (on.measure) addTab("measure", (pane) => {
      const kind = el("select", { "aria-label": w.measure }, el("option", { value: "distance", text: w.distance }), el("option", { value: "area", text: w.area }));
      const out = el("p", { class: "atl-measure", role: "status", "aria-live": "polite", text: w.measureHelp });
      const restart = el("button", { type: "button", text: w.restart });
      pane.append(el("div", { class: "atl-row" }, kind, restart), out);
      let pts = [];
      let active = false;
      const src = "atl-measure";
      function draw() {
        const data = { type: "FeatureCollection", features: [] };
        if (pts.length > 1) data.features.push({ type: "Feature", geometry: kind.value === "area" && pts.length > 2 ? { type: "Polygon", coordinates: [[...pts, pts[0]]] } : { type: "LineString", coordinates: pts }, properties: {} });
        pts.forEach((p) => data.features.push({ type: "Feature", geometry: { type: "Point", coordinates: p }, properties: {} }));
        if (!map.getSource(src)) {
          map.addSource(src, { type: "geojson", data });
          map.addLayer({ id: src + ":fill", type: "fill", source: src, filter: ["==", ["geometry-type"], "Polygon"], paint: { "fill-color": "#d55e00", "fill-opacity": 0.15 } });
          map.addLayer({ id: src + ":line", type: "line", source: src, paint: { "line-color": "#d55e00", "line-width": 2, "line-dasharray": [2, 1] } });
          map.addLayer({ id: src + ":points", type: "circle", source: src, filter: ["==", ["geometry-type"], "Point"], paint: { "circle-radius": 4, "circle-color": "#ffffff", "circle-stroke-color": "#d55e00", "circle-stroke-width": 2 } });
        } else map.getSource(src).setData(data);
        const length = lineLength(pts);
        const area = pts.length > 2 ? ringArea(pts) : 0;
        api.measured = { points: pts.slice(), length, area, kind: kind.value };
        out.textContent = pts.length < 2 ? w.measureHelp : kind.value === "area" ? w.area + ": " + fmtArea(area, host.lang) + " · " + w.distance + ": " + fmtLength(length + (pts.length > 2 ? geodesicDistance(pts[pts.length - 1], pts[0]) : 0), host.lang) : w.distance + ": " + fmtLength(length, host.lang);
      }
      const click = (e) => { if (active) { pts.push([e.lngLat.lng, e.lngLat.lat]); draw(); } };
      map.on("click", click);
      restart.onclick = () => { pts = []; draw(); };
      kind.onchange = draw;
      pane.addEventListener("open", () => { active = true; map.atlanteMeasuring = true; map.getCanvas().style.cursor = "crosshair"; });
      pane.addEventListener("close", () => { active = false; map.atlanteMeasuring = false; map.getCanvas().style.cursor = ""; });
    });

    if (on.print) addTab("print", (pane) => {
      const size = el("select", { "aria-label": w.format }, el("option", { value: "A4", text: "A4" }), el("option", { value: "A3", text: "A3" }));
      const orient = el("select", { "aria-label": w.orientation }, el("option", { value: "landscape", text: w.landscape }), el("option", { value: "portrait", text: w.portrait }));
      const png = el("button", { type: "button", text: w.png });
      const pdf = el("button", { type: "button", class: "atl-primary", text: w.pdf });
      pane.append(el("div", { class: "atl-row" }, el("label", {}, el("span", { text: w.format + " " }), size), el("label", {}, el("span", { text: w.orientation + " " }), orient)), el("div", { class: "atl-row" }, png, pdf));
      png.onclick = async () => {
        const url = await snapshot(map, "image/png");
        const bytes = Uint8Array.from(atob(url.split(",")[1]), (c) => c.charCodeAt(0));
        download(slugName(host.title) + ".png", new Blob([bytes], { type: "image/png" }));
      };
      pdf.onclick = async () => {
        const jpeg = await snapshot(map, "image/jpeg");
        const canvas = map.getCanvas();
        const bytes = AtlantePdf.mapPage({
          size: size.value, orientation: orient.value, title: host.title, jpeg, width: canvas.width, height: canvas.height,
          cssWidth: canvas.clientWidth, metresPerPixel: metresPerPixel(map), bearing: map.getBearing(),
          legend: host.layers().filter((l) => !hidden.has(l.id)).map((l) => ({ title: l.title, entries: l.legend || [] })),
          attribution: host.attribution(), date: new Date().toLocaleDateString(host.lang === "en" ? "en-GB" : "it-IT"), words: w,
        });
        download(slugName(host.title) + ".pdf", new Blob([bytes], { type: "application/pdf" }));
      };
    });

    if (on.share) addTab("share", (pane) => {
      const link = el("input", { type: "text", readonly: "", class: "atl-share-link", "aria-label": w.link });
      const embed = el("textarea", { readonly: "", rows: "3", class: "atl-share-embed", "aria-label": w.embed });
      const copy = (box) => { const b = el("button", { type: "button", text: w.copy }); b.onclick = async () => { box.select(); try { await navigator.clipboard.writeText(box.value); } catch (_) { document.execCommand && document.execCommand("copy"); } b.textContent = w.copied; }; return b; };
      pane.append(el("label", { class: "atl-field" }, el("span", { text: w.link }), link), copy(link), el("label", { class: "atl-field" }, el("span", { text: w.embed }), embed), copy(embed));
      function fill() {
        const url = api.shareUrl();
        link.value = url;
        const iframe = el("iframe", { src: url, width: "800", height: "600", title: host.title, loading: "lazy", style: "border:0" });
        embed.value = iframe.outerHTML;
      }
      pane.addEventListener("open", fill);
      map.on("moveend", () => { if (!pane.hidden) fill(); });
    });

    // The state of the map as URL hash parameters: view, hidden layers, opacity, filters.
    api.state = () => {
      const h = new URLSearchParams();
      const c = map.getCenter();
      h.set("map", [map.getZoom().toFixed(2), c.lat.toFixed(5), c.lng.toFixed(5)].join("/"));
      for (const [k, v] of host.state ? host.state() : []) h.set(k, v);
      if (hidden.size) h.set("hidden", [...hidden].join(","));
      for (const [id, f] of filters) h.append("filter", id + ":" + f.text);
      return h;
    };
    api.shareUrl = () => location.href.replace(/#.*$/, "") + "#" + api.state().toString();
    // Restores what a shared link says (after the host drew its layers).
    api.restore = (params) => {
      for (const id of (params.get("hidden") || "").split(",").filter(Boolean)) setVisible(id, false);
      for (const f of params.getAll("filter")) {
        const i = f.indexOf(":");
        try { api.applyFilter(f.slice(0, i), f.slice(i + 1)); } catch (err) { console.warn("filter in the link refused:", err.message); }
      }
    };

    if (on.locate && window.isSecureContext) {
      map.addControl(new maplibregl.GeolocateControl({ positionOptions: { enableHighAccuracy: true }, trackUserLocation: false }), "top-right");
    }
    return api;
  }

  // Rows from a server's `/items` (at `server`, "" for this one) with a CQL2 filter, a sort
  // ([field, ascending] or null) and a limit (at most the server's 10,000).
  async function serverRows(server, id, cql, sort, limit) {
    const q = new URLSearchParams({ limit: String(Math.min(limit, 10000)) });
    if (cql) { q.set("filter", cql); q.set("filter-lang", "cql2-text"); }
    if (sort) q.set("sortby", (sort[1] ? "" : "-") + sort[0]);
    const r = await fetch(`${server}/collections/${encodeURIComponent(id)}/items?${q}`);
    const body = await r.json();
    if (!r.ok) throw new Error(body.detail || body.description || r.status);
    return { features: body.features, matched: body.numberMatched ?? body.features.length };
  }

  // One pmtiles protocol for the page (a second registration would replace the first).
  let protocol = null;
  function pmtilesProtocol() {
    if (!protocol) { protocol = new pmtiles.Protocol(); maplibregl.addProtocol("pmtiles", protocol.tile); }
    return protocol;
  }
  // An archive read whole, once, from a relative URL: any static host will do, even one
  // without HTTP range requests (python3 -m http.server).
  async function addWholeArchive(key, url) {
    const bytes = await fetch(url).then((r) => r.arrayBuffer());
    pmtilesProtocol().add(new pmtiles.PMTiles({ getKey: () => key, getBytes: async (offset, length) => ({ data: bytes.slice(offset, offset + length) }) }));
  }

  // Backgrounds (from the server's configuration; see src/backgrounds.rs): `list` of
  // {id, title, source_id, source, layers, kind}. Draws background `id` (none: "") under the
  // base map's comuni, whose fill then steps aside. A PMTiles archive of this server is read
  // by range requests; one in a static bundle (a relative URL) is read whole from `base`.
  const archives = new Set();
  async function setBackground(map, list, id, base) {
    for (const l of map.getStyle().layers.filter((x) => x.metadata && x.metadata["atlante:background"])) map.removeLayer(l.id);
    for (const b of list) if (map.getSource(b.source_id)) map.removeSource(b.source_id);
    const b = list.find((x) => x.id === id);
    if (b) {
      if (b.kind === "pmtiles") {
        const key = b.source.url.replace(/^pmtiles:\/\//, "");
        if (/^https?:/.test(key)) pmtilesProtocol();
        else if (!archives.has(key)) { await addWholeArchive(key, (base || "") + key); archives.add(key); }
      }
      map.addSource(b.source_id, b.source);
      const under = map.getStyle().layers.find((x) => x.metadata && x.metadata["atlante:basemap"]);
      b.layers.forEach((l) => map.addLayer(l, under ? under.id : undefined));
    }
    if (map.getLayer("basemap:fill")) map.setLayoutProperty("basemap:fill", "visibility", b ? "none" : "visible");
  }
  // A select listing the backgrounds ("" first: the comuni alone); calls onPick(id).
  function backgroundPicker(list, label, none, onPick) {
    const sel = Atlante.el("select", { "aria-label": label, class: "atl-background" }, Atlante.el("option", { value: "", text: none }),
      ...list.map((b) => Atlante.el("option", { value: b.id, text: b.title })));
    sel.onchange = () => onPick(sel.value);
    return sel;
  }

  return { install, serverRows, setBackground, backgroundPicker, addWholeArchive, geodesicDistance, lineLength, ringArea, WORDS };
})();
