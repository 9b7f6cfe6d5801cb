// Atlante viewer: the catalog of every visible layer (zona omogenea → comune → theme), a
// MapLibre map of Atlante's own vector tiles over the base map (the comuni and zone
// omogenee with their names, always there), identify, comune search and a shareable URL.
// Everything users typed reaches the page through textContent (Atlante.el, common/atlante.js),
// never innerHTML. Colours and styles come from the server: /styles/{id}.json for each layer,
// the `color` of /api/layers for swatches before a style is loaded, and the base map's look
// and the glyphs of every label from /api/viewer-config. Each layer switched on takes the
// first free position of the palette (`?slot=`), so the layers on the map differ.
"use strict";

(async function () {
  const { el } = Atlante;
  // Italian, or English with #lang=en (the page's texts carry their English in data-en).
  const lang = new URLSearchParams(location.hash.slice(1)).get("lang") === "en" ? "en" : "it";
  const T = {
    it: { metro: "Città Metropolitana", other: "Altro", dataset: "scheda e download", datasetFor: "Scheda e download: ", up: "sposta su", down: "sposta giù", opacity: "Opacità: ", background: "Sfondo", comuniOnly: "Solo i comuni", title: "Atlante — SIT Metropolitano", switchTo: ["English", "#lang=en"] },
    en: { metro: "Metropolitan City", other: "Other", dataset: "details and download", datasetFor: "Details and download: ", up: "move up", down: "move down", opacity: "Opacity: ", background: "Background", comuniOnly: "Comuni only", title: "Atlante — Metropolitan GIS", switchTo: ["Italiano", "#lang=it"] },
  }[lang];
  if (lang === "en") {
    document.documentElement.lang = "en";
    document.querySelectorAll("[data-en]").forEach((e) => { e.textContent = e.dataset.en; });
    document.querySelectorAll("[data-en-placeholder]").forEach((e) => { e.placeholder = e.dataset.enPlaceholder; });
    document.querySelectorAll("[data-en-aria-label]").forEach((e) => e.setAttribute("aria-label", e.dataset.enAriaLabel));
  }
  const switcher = document.getElementById("lang-switch");
  switcher.textContent = T.switchTo[0];
  switcher.setAttribute("lang", lang === "en" ? "it" : "en");
  switcher.setAttribute("hreflang", lang === "en" ? "it" : "en");
  switcher.onclick = (e) => { e.preventDefault(); location.hash = T.switchTo[1].slice(1); location.reload(); };

  const [layersDoc, orgsDoc, configDoc] = await Promise.all([
    fetch("/api/layers").then((r) => r.json()),
    fetch("/api/orgs").then((r) => r.json()),
    fetch("/api/viewer-config").then((r) => (r.ok ? r.json() : {})).catch(() => ({})),
  ]);
  const layers = layersDoc.layers;
  // In English, the layers' English title and description where their owners gave one.
  if (lang === "en") for (const l of layers) { l.title = (l.meta && l.meta.title_en) || l.title; l.description = (l.meta && l.meta.description_en) || l.description; }
  const byId = new Map(layers.map((l) => [l.id, l]));
  const orgs = new Map(orgsDoc.orgs.map((o) => [o.id, o]));
  const basemap = configDoc.basemap || null; // { tiles, attribution, layers }: under everything
  // A layer's colour for swatches: the server's default, then its style's first legend entry.
  const colour = new Map(layers.map((l) => [l.id, l.color]));
  const drawnIds = new Map(); // layer id → MapLibre layer ids from its style
  const legends = new Map(); // layer id → its style's legend
  const slots = new Map(); // layer id → its position in the palette
  const freeSlot = () => { let n = 0; while ([...slots.values()].includes(n)) n++; return n; };

  // State from the URL: #map=zoom/lat/lon&layers=a,b
  const params = new URLSearchParams(location.hash.slice(1));
  let active = (params.get("layers") || "").split(",").filter((id) => byId.has(id));
  const view = (params.get("map") || "").split("/").map(Number);
  const metro = orgs.get("cmm");
  const start = view.length === 3 && view.every(Number.isFinite)
    ? { zoom: view[0], center: [view[2], view[1]] }
    : { bounds: metro && metro.bbox ? metro.bbox : [8.7, 45.16, 9.55, 45.64] };

  const style = { version: 8, glyphs: configDoc.glyphs, sources: {}, layers: [{ id: "background", type: "background", paint: { "background-color": "#eef1f5" } }] };
  // The operator's backgrounds (raster or PMTiles), switchable under everything.
  const backgrounds = configDoc.backgrounds || [];
  let background = backgrounds.some((b) => b.id === params.get("bg")) ? params.get("bg") : "";
  const map = new maplibregl.Map({ container: "map", style, ...start, fitBoundsOptions: { padding: 20 }, hash: false, attributionControl: { compact: true } });
  map.addControl(new maplibregl.NavigationControl(), "top-right");
  map.addControl(new maplibregl.ScaleControl({ unit: "metric" }), "bottom-left");
  window.atlanteMap = map;

  const mapLayerIds = (l) => drawnIds.get(l.id) || [];
  const tileUrl = (t) => location.origin + new URL(t).pathname.replace(/%7B/g, "{").replace(/%7D/g, "}");
  // A catalog layer is drawn with its style from the server (GET /styles/{id}.json).
  async function addStyledLayer(l) {
    if (!slots.has(l.id)) slots.set(l.id, freeSlot());
    const url = "/styles/" + encodeURIComponent(l.id) + ".json?slot=" + slots.get(l.id);
    const style = await fetch(url).then((r) => (r.ok ? r.json() : null)).catch(() => null);
    if (!style || !active.includes(l.id) || map.getSource(l.id)) return;
    const src = style.sources[l.id];
    map.addSource(l.id, { ...src, tiles: src.tiles.map(tileUrl) });
    const ids = [];
    for (const sl of style.layers.filter((x) => x.type !== "background")) {
      map.addLayer(sl);
      ids.push(sl.id);
    }
    drawnIds.set(l.id, ids);
    const legend = style.metadata && style.metadata["atlante:legend"];
    if (legend && legend.length) colour.set(l.id, legend[0][1]);
    legends.set(l.id, legend || []);
    // A filter or opacity the link carried, or set before the style arrived.
    if (tools.filters.has(l.id)) tools.applyFilter(l.id, tools.filters.get(l.id).text);
    if (tools.opacity.has(l.id)) tools.setOpacity(l.id, tools.opacity.get(l.id));
    changed();
  }
  function addBasemap() {
    map.addSource("basemap", { type: "vector", tiles: basemap.tiles.map(tileUrl), minzoom: 0, maxzoom: 16, attribution: basemap.attribution });
    basemap.layers.forEach((bl) => map.addLayer(bl));
  }
  function removeLayer(l) {
    mapLayerIds(l).forEach((id) => map.getLayer(id) && map.removeLayer(id));
    drawnIds.delete(l.id);
    slots.delete(l.id);
    if (map.getSource(l.id)) map.removeSource(l.id);
  }
  function applyOrder() {
    // The first active layer is drawn on top.
    [...active].reverse().forEach((id) => mapLayerIds(byId.get(id)).forEach((m) => map.getLayer(m) && map.moveLayer(m)));
  }
  function writeUrl() {
    history.replaceState(null, "", "#" + tools.state().toString().replace(/%2C/g, ",").replace(/%2F/g, "/"));
  }

  // The tools (common/tools.js) on the active layers; the list above is their switcher.
  const tools = AtlanteTools.install(map, {
    lang,
    title: T.title,
    container: document.getElementById("tools"),
    enabled: { layers: false },
    layers: () => active.map((id) => { const l = byId.get(id); return { id, title: l.title, fields: l.fields, geom_type: l.geom_type, legend: legends.get(id) || [[l.title, colour.get(id)]] }; }),
    styleIds: (id) => drawnIds.get(id) || [],
    reorder: () => {},
    rows: (id, cql, sort, limit) => AtlanteTools.serverRows("", id, cql, sort, limit),
    canFilter: () => true,
    attribution: () => document.getElementById("attribution").textContent,
    state: () => [...(active.length ? [["layers", active.join(",")]] : []), ...(background ? [["bg", background]] : []), ...(lang === "en" ? [["lang", "en"]] : [])],
    onChange: () => writeUrl(),
  });
  window.atlanteTools = tools;

  // Active list with reorder buttons and legend swatches.
  const swatch = (l) => el("span", { class: "swatch " + (l.geom_type === "MultiLineString" ? "line" : l.geom_type === "MultiPolygon" ? "" : "point"), style: "background:" + colour.get(l.id) });
  function renderActive() {
    const ol = document.getElementById("active");
    ol.replaceChildren();
    active.forEach((id, i) => {
      const l = byId.get(id);
      const up = el("button", { type: "button", title: T.up, "aria-label": T.up + ": " + l.title, text: "↑" });
      const down = el("button", { type: "button", title: T.down, "aria-label": T.down + ": " + l.title, text: "↓" });
      up.onclick = () => { if (i > 0) { [active[i - 1], active[i]] = [active[i], active[i - 1]]; changed(); } };
      down.onclick = () => { if (i < active.length - 1) { [active[i + 1], active[i]] = [active[i], active[i + 1]]; changed(); } };
      const opacity = el("input", { type: "range", min: "0", max: "1", step: "0.05", class: "opacity", "aria-label": T.opacity + l.title });
      opacity.value = String(tools.opacity.has(id) ? tools.opacity.get(id) : 1);
      opacity.oninput = () => tools.setOpacity(id, Number(opacity.value));
      ol.append(el("li", { "data-layer": id }, swatch(l), el("span", { class: "title", text: l.title }), up, down, opacity));
    });
    const attributions = new Set(active.map((id) => byId.get(id).attribution).filter(Boolean));
    if (basemap) attributions.add(basemap.attribution);
    document.getElementById("attribution").textContent = [...attributions].filter(Boolean).join(" · ");
  }
  function changed() {
    renderActive();
    applyOrder();
    writeUrl();
    document.querySelectorAll("#catalog input[type=checkbox]").forEach((cb) => { cb.checked = active.includes(cb.value); });
  }
  function toggle(id, on) {
    const l = byId.get(id);
    if (on && !active.includes(id)) { active.unshift(id); addStyledLayer(l); }
    if (!on && active.includes(id)) { active = active.filter((a) => a !== id); removeLayer(l); tools.filters.delete(id); }
    changed();
  }

  // Catalog: zona omogenea → comune → theme.
  function zoneOf(l) {
    const o = orgs.get(l.org);
    if (!o || o.kind === "metro") return T.metro;
    return o.zona_omogenea || T.other;
  }
  function renderCatalog(filter) {
    const f = (filter || "").trim().toLowerCase();
    const tree = new Map();
    for (const l of layers) {
      const org = orgs.get(l.org);
      const orgName = org ? org.name : l.org;
      const theme = l.theme || "altro";
      const hay = [l.title, l.description, orgName, theme, zoneOf(l), l.id].join(" ").toLowerCase();
      if (f && !hay.includes(f)) continue;
      const z = tree.get(zoneOf(l)) || new Map();
      const c = z.get(orgName) || new Map();
      const t = c.get(theme) || [];
      t.push(l); c.set(theme, t); z.set(orgName, c); tree.set(zoneOf(l), z);
    }
    const root = document.getElementById("catalog");
    root.replaceChildren();
    for (const [zone, comuni] of [...tree].sort()) {
      const zd = el("details", { open: "" }, el("summary", { text: zone }));
      for (const [comune, themes] of [...comuni].sort()) {
        const cd = el("details", { open: "" }, el("summary", { text: comune }));
        for (const [theme, ls] of [...themes].sort()) {
          const td = el("details", { open: "" }, el("summary", { text: theme }));
          for (const l of ls) {
            const cb = el("input", { type: "checkbox", value: l.id, "aria-label": l.title });
            cb.checked = active.includes(l.id);
            cb.onchange = () => toggle(l.id, cb.checked);
            td.append(el("label", { class: "layer", title: l.description || l.title }, cb, swatch(l), el("span", { text: l.title })));
            // A public layer's open-data page: description, licence, downloads.
            if (l.visibility === "public") td.append(el("a", { class: "dataset-link", href: "/datasets/" + encodeURIComponent(l.id), text: T.dataset, "aria-label": T.datasetFor + l.title }));
          }
          cd.append(td);
        }
        zd.append(cd);
      }
      root.append(zd);
    }
  }
  document.getElementById("layer-filter").addEventListener("input", (e) => renderCatalog(e.target.value));

  // Comune search.
  const list = document.getElementById("comuni");
  const comuni = [...orgs.values()].filter((o) => o.kind === "comune").sort((a, b) => a.name.localeCompare(b.name, "it"));
  comuni.forEach((o) => list.append(el("option", { value: o.name })));
  const search = document.getElementById("comune-search");
  function goTo(name) {
    const o = comuni.find((c) => c.name.toLowerCase() === name.trim().toLowerCase());
    if (o && o.bbox) map.fitBounds(o.bbox, { padding: 30, duration: 0 });
    return !!o;
  }
  search.addEventListener("change", () => goTo(search.value));
  search.addEventListener("keydown", (e) => { if (e.key === "Enter") goTo(search.value); });

  // Identify: the top feature under the click, labelled with the original field names.
  Atlante.identify(map, () => active, (id, f) => {
    const l = byId.get(id);
    return el("div", { class: "popup" }, el("h3", { text: l.title }), Atlante.fieldTable(l.fields, f.properties));
  }, "360px");

  map.on("load", () => {
    if (basemap) addBasemap();
    if (backgrounds.length) {
      const pick = AtlanteTools.backgroundPicker(backgrounds, T.background, T.comuniOnly, (id) => { background = id; AtlanteTools.setBackground(map, backgrounds, id); writeUrl(); });
      pick.value = background;
      document.getElementById("background-field").append(el("span", { text: T.background }), pick);
      document.getElementById("background-field").hidden = false;
      if (background) AtlanteTools.setBackground(map, backgrounds, background);
    }
    tools.restore(params);
    Promise.all([...active].reverse().map((id) => addStyledLayer(byId.get(id)))).then(() => {
      changed();
      map.on("moveend", writeUrl);
      window.atlanteReady = true;
    });
  });
  renderCatalog("");
  renderActive();
})();
