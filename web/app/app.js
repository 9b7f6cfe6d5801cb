// An Atlante app: reads config.json and style.json next to it, draws the map with MapLibre
// (labels with the server's glyphs, or the bundle's), a legend, popups and a search box. Online apps read the server's tiles and features;
// static apps read tiles.pmtiles (the pmtiles protocol) and search the loaded tiles.
// Everything from the configuration or the data reaches the page through textContent
// (Atlante.el, from common.js, which also gives identify and the attribute table).
"use strict";

(async function () {
  const WORDS = {
    it: { search: "Cerca…", legend: "Legenda", none: "Nessun risultato", found: "Trovato" },
    en: { search: "Search…", legend: "Legend", none: "No result", found: "Found" },
  };
  const [cfg, style] = await Promise.all([
    fetch("config.json").then((r) => r.json()),
    fetch("style.json").then((r) => r.json()),
  ]);
  const w = WORDS[cfg.language] || WORDS.it;
  const { el } = Atlante;
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
  search.hidden = !cfg.search_fields || cfg.search_fields.length === 0;

  if (cfg.mode === "static") {
    // The archive is read whole, once: any static host will do, even one without HTTP
    // range requests (python3 -m http.server).
    const bytes = await fetch("tiles.pmtiles").then((r) => r.arrayBuffer());
    const source = {
      getKey: () => "tiles.pmtiles",
      getBytes: async (offset, length) => ({ data: bytes.slice(offset, offset + length) }),
    };
    const protocol = new pmtiles.Protocol();
    protocol.add(new pmtiles.PMTiles(source));
    maplibregl.addProtocol("pmtiles", protocol.tile);
    style.sources.atlante.url = "pmtiles://tiles.pmtiles";
    // The bundle's own glyphs (only the ranges its labels need), by a whole URL.
    style.glyphs = location.href.replace(/[?#].*$/, "").replace(/[^/]*$/, "") + "fonts/{fontstack}/{range}.pbf";
  }
  const map = new maplibregl.Map({ container: "map", style, attributionControl: { compact: true } });
  map.addControl(new maplibregl.NavigationControl(), "top-right");
  map.addControl(new maplibregl.ScaleControl({ unit: "metric" }), "bottom-left");
  window.atlanteMap = map;

  // Legend.
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

  // Search: the server's CQL2 filter online; the loaded tiles in a static app.
  function extent(coords, acc) {
    if (typeof coords[0] === "number") {
      acc[0] = Math.min(acc[0], coords[0]); acc[1] = Math.min(acc[1], coords[1]);
      acc[2] = Math.max(acc[2], coords[0]); acc[3] = Math.max(acc[3], coords[1]);
    } else coords.forEach((c) => extent(c, acc));
    return acc;
  }
  function go(geometry) {
    const b = extent(geometry.coordinates, [Infinity, Infinity, -Infinity, -Infinity]);
    map.fitBounds([[b[0], b[1]], [b[2], b[3]]], { padding: 60, maxZoom: 16, duration: 0 });
  }
  search.addEventListener("keydown", async (e) => {
    if (e.key !== "Enter" || !search.value.trim()) return;
    const q = search.value.trim();
    search.setCustomValidity("");
    for (const s of cfg.search_fields) {
      if (cfg.mode === "online") {
        const literal = "'%" + q.replace(/'/g, "''").replace(/[\\%_]/g, (c) => "\\" + c) + "%'";
        const filter = `CASEI(${s.field}) LIKE CASEI(${literal})`;
        const url = `${cfg.server}/collections/${encodeURIComponent(s.layer)}/items?limit=1&filter=${encodeURIComponent(filter)}`;
        const r = await fetch(url).then((x) => x.json()).catch(() => null);
        if (r && r.features && r.features.length) { go(r.features[0].geometry); return; }
      } else {
        const lower = q.toLowerCase();
        const ids = map.getStyle().layers.filter((x) => x.metadata && x.metadata["atlante:layer"] === s.layer);
        for (const x of ids) {
          const hit = map.querySourceFeatures(x.source, { sourceLayer: x["source-layer"] })
            .find((f) => String(f.properties[s.field] || "").toLowerCase().includes(lower));
          if (hit) { go(hit.geometry); return; }
        }
      }
    }
    search.setCustomValidity(w.none);
    search.reportValidity();
  });

  map.on("load", () => { window.atlanteReady = true; });
})();
