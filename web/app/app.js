// An Atlante app: reads config.json and style.json next to it, draws the map with MapLibre
// (labels with the server's glyphs, or the bundle's), popups, a search box over the chosen
// fields and the comuni's names, and the tools the config enables (common/tools.js: layer
// switcher and legend, attribute table with a CQL2 filter, measure, print, share, locate).
// Online apps read the server's tiles and `/items`; static apps read tiles.pmtiles and the
// attributes embedded in data/{n}.geojson, filtered in the browser (common/cql2.js).
// Everything from the configuration or the data reaches the page through textContent.
"use strict";

(async function () {
  const WORDS = {
    it: { search: "Cerca un luogo o un comune…", legend: "Legenda", none: "Nessun risultato", panel: "Legenda e strumenti" },
    en: { search: "Search a place or a comune…", legend: "Legend", none: "No result", panel: "Legend and tools" },
  };
  const [cfg, style] = await Promise.all([
    fetch("config.json").then((r) => r.json()),
    fetch("style.json").then((r) => r.json()),
  ]);
  const w = WORDS[cfg.language] || WORDS.it;
  const { el } = Atlante;
  const C = window.AtlanteCql2;
  document.documentElement.lang = cfg.language;
  document.documentElement.style.setProperty("--theme", cfg.theme_color);
  if (cfg.logo) {
    const img = new Image();
    img.alt = "";
    img.src = cfg.logo;
    document.getElementById("logo").append(img);
  }
  const search = document.getElementById("search");
  search.placeholder = w.search;
  search.setAttribute("aria-label", w.search);
  search.hidden = !(cfg.search_fields || []).length && !(cfg.comuni || []).length;
  document.getElementById("side").setAttribute("aria-label", w.panel);

  const here = location.href.replace(/[?#].*$/, "").replace(/[^/]*$/, "");
  if (cfg.mode === "static") {
    // The archive is read whole, once: any static host will do, even one without HTTP
    // range requests (python3 -m http.server).
    await AtlanteTools.addWholeArchive("tiles.pmtiles", here + "tiles.pmtiles");
    style.sources.atlante.url = "pmtiles://tiles.pmtiles";
    // The bundle's own glyphs (only the ranges its labels need), by a whole URL.
    style.glyphs = here + "fonts/{fontstack}/{range}.pbf";
  }
  // A shared link's view wins over the configured one.
  const params = new URLSearchParams(location.hash.slice(1));
  const view = (params.get("map") || "").split("/").map(Number);
  if (view.length === 3 && view.every(Number.isFinite)) Object.assign(style, { zoom: view[0], center: [view[2], view[1]] });
  const map = new maplibregl.Map({ container: "map", style, attributionControl: { compact: true } });
  map.addControl(new maplibregl.NavigationControl(), "top-right");
  map.addControl(new maplibregl.ScaleControl({ unit: "metric" }), "bottom-left");
  window.atlanteMap = map;

  // Legend (shown when the layer switcher, which carries it too, is off).
  const legend = document.getElementById("legend");
  legend.append(el("h2", { text: w.legend }));
  for (const l of cfg.layers) {
    const sec = el("section", {}, el("h3", { text: l.title }));
    for (const [label, colour] of l.legend) {
      const sw = el("span", { class: "swatch " + l.geom_type });
      sw.style.background = colour;
      sec.append(el("div", { class: "row" }, sw, el("span", { text: label })));
    }
    legend.append(sec);
  }

  // Popups: the app's layers, their configured fields, labelled with the original names.
  const byId = new Map(cfg.layers.map((l) => [l.id, l]));
  function popupContent(l, props) {
    const heading = l.label_field ? props[l.label_field] : l.title;
    const box = el("div", { class: "popup" }, el("h3", { text: heading === undefined ? l.title : heading }));
    if (l.popup_template) {
      const text = l.popup_template.replace(/\{([^}]+)\}/g, (_, k) => (props[k] === undefined || props[k] === null ? "" : props[k]));
      box.append(el("p", { text }));
    }
    box.append(Atlante.fieldTable(l.fields, props, true));
    return box;
  }
  Atlante.identify(map, () => [...byId.keys()], (id, f) => popupContent(byId.get(id), f.properties), "320px");

  // Rows for the table, export and search: online `/items` with the same CQL2 filter;
  // static, the embedded attributes filtered here.
  const embedded = new Map(); // layer id → Promise<features | null>
  function embeddedRows(l) {
    if (!embedded.has(l.id)) {
      embedded.set(l.id, l.data
        ? fetch(here + l.data).then((r) => (r.ok ? r.json() : null)).then((d) => (d ? d.features : null)).catch(() => null)
        : Promise.resolve(null));
    }
    return embedded.get(l.id);
  }
  const compareValues = (a, b) => (a === null || a === undefined ? (b === null || b === undefined ? 0 : 1) : b === null || b === undefined ? -1 : a < b ? -1 : a > b ? 1 : 0);
  async function rows(id, cql, sort, limit) {
    const l = byId.get(id);
    if (cfg.mode === "online") return AtlanteTools.serverRows(cfg.server, id, cql, sort, limit);
    const all = await embeddedRows(l);
    if (!all) throw new Error(tools.words.noData);
    const ast = cql ? C.parse(cql) : null;
    let hits = ast ? all.filter((f) => C.test(ast, f.properties)) : all.slice();
    if (sort) hits.sort((a, b) => compareValues(a.properties[sort[0]], b.properties[sort[0]]) * (sort[1] ? 1 : -1) || a.id - b.id);
    return { features: hits.slice(0, limit), matched: hits.length };
  }

  // The backgrounds the app offers (raster ones from their hosts; PMTiles from the server
  // or, static, from the bundle).
  const backgrounds = cfg.backgrounds || [];
  let background = backgrounds.some((b) => b.id === params.get("bg")) ? params.get("bg") : "";

  // The app's layers, top first, as the tools see them; reordering moves their map layers.
  const order = cfg.layers.map((l) => l.id);
  const styleIds = (id) => map.getStyle().layers.filter((x) => x.metadata && x.metadata["atlante:layer"] === id).map((x) => x.id);
  const textOf = (html) => new DOMParser().parseFromString(html || "", "text/html").body.textContent;
  const tools = AtlanteTools.install(map, {
    lang: cfg.language,
    title: cfg.title,
    container: document.getElementById("side"),
    enabled: cfg.tools,
    layers: () => order.map((id) => byId.get(id)),
    styleIds,
    reorder: (id, delta) => {
      const i = order.indexOf(id), j = i + delta;
      if (j < 0 || j >= order.length) return;
      [order[i], order[j]] = [order[j], order[i]];
      const measure = map.getStyle().layers.filter((x) => x.id.startsWith("atl-measure")).map((x) => x.id);
      [...order].reverse().forEach((lid) => styleIds(lid).forEach((s) => map.moveLayer(s)));
      measure.forEach((s) => map.moveLayer(s));
    },
    rows,
    canFilter: (id) => (cfg.mode === "online" || byId.get(id).data ? true : tools.words.noData),
    attribution: () => Object.values(map.getStyle().sources).map((s) => textOf(s.attribution)).filter(Boolean).join(" · "),
    state: () => (background ? [["bg", background]] : []),
    onChange: () => history.replaceState(null, "", "#" + tools.state().toString()),
  });
  window.atlanteTools = tools;
  if (cfg.tools && cfg.tools.layers === false) legend.hidden = false;
  else {
    legend.hidden = true;
    const tab = document.getElementById("atl-tab-layers");
    if (tab) tab.click();
  }

  // Search: the chosen fields (CASEI contains), then the comuni's names.
  const go = (geometry) => tools.zoomTo({ geometry });
  search.addEventListener("keydown", async (e) => {
    if (e.key !== "Enter" || !search.value.trim()) return;
    const q = search.value.trim();
    search.setCustomValidity("");
    const lower = q.toLowerCase();
    for (const s of cfg.search_fields) {
      if (cfg.mode === "online") {
        const literal = "'%" + q.replace(/'/g, "''").replace(/[\\%_]/g, (c) => "\\" + c) + "%'";
        const filter = `CASEI(${C.property(s.field)}) LIKE CASEI(${literal})`;
        const url = `${cfg.server}/collections/${encodeURIComponent(s.layer)}/items?limit=1&filter=${encodeURIComponent(filter)}`;
        const r = await fetch(url).then((x) => x.json()).catch(() => null);
        if (r && r.features && r.features.length) { go(r.features[0].geometry); return; }
      } else {
        const all = byId.has(s.layer) ? await embeddedRows(byId.get(s.layer)) : null;
        const hit = (all || []).find((f) => String(f.properties[s.field] ?? "").toLowerCase().includes(lower));
        if (hit) { go(hit.geometry); return; }
      }
    }
    const comune = (cfg.comuni || []).find(([name]) => name.toLowerCase() === lower) || (cfg.comuni || []).find(([name]) => name.toLowerCase().startsWith(lower));
    if (comune) { map.fitBounds(comune[1], { padding: 30, duration: 0 }); return; }
    search.setCustomValidity(w.none);
    search.reportValidity();
  });

  map.on("load", () => {
    if (backgrounds.length) {
      const words = { it: ["Sfondo", "Solo i comuni"], en: ["Background", "Comuni only"] }[cfg.language] || ["Sfondo", "Solo i comuni"];
      const pick = AtlanteTools.backgroundPicker(backgrounds, words[0], words[1], (id) => {
        background = id;
        AtlanteTools.setBackground(map, backgrounds, id, here);
        history.replaceState(null, "", "#" + tools.state().toString());
      });
      pick.value = background;
      document.getElementById("side").prepend(Atlante.el("label", { class: "atl-field" }, Atlante.el("span", { text: words[0] }), pick));
      if (background) AtlanteTools.setBackground(map, backgrounds, background, here);
    }
    tools.restore(params);
    window.atlanteReady = true;
  });
})();
