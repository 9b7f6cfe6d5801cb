// Shared by the viewer, the console and the generated apps (copied into every bundle as
// common.js). It owns three things:
// - building DOM without ever parsing HTML (`el`): user text goes through textContent;
// - identify: a popup for the top feature under a click and the pointer cursor over
//   features, for the MapLibre layers whose metadata names an Atlante layer
//   (`atlante:layer`, set by the server's styles);
// - the attribute table of a feature, labelled with the original field names.
// Colours and styles are never chosen here: they come from the server (/styles/{id}.json,
// an app's style.json).
"use strict";

window.Atlante = (function () {
  // el("li", { class: "x", text: "…", "data-layer": id }, child1, child2)
  function el(tag, props = {}, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(props)) {
      if (v === undefined || v === null) continue;
      if (k === "class") e.className = v;
      else if (k === "text") e.textContent = String(v);
      else if (k === "style") e.style.cssText = v;
      else e.setAttribute(k, v);
    }
    children.forEach((c) => e.append(c));
    return e;
  }

  // The Atlante layer a MapLibre style layer draws, or undefined.
  const layerOf = (styleLayer) => styleLayer && styleLayer.metadata && styleLayer.metadata["atlante:layer"];

  // The ids of the map's style layers drawing one of `layerIds` (all Atlante layers when
  // `layerIds` is omitted).
  function drawnLayers(map, layerIds) {
    return map.getStyle().layers
      .filter((s) => layerOf(s) && (!layerIds || layerIds.includes(layerOf(s))))
      .map((s) => s.id);
  }

  // A table of `fields` ({name, label}) of a feature's `props`; empty values are skipped
  // unless `keepEmpty`.
  function fieldTable(fields, props, keepEmpty) {
    const table = el("table");
    for (const f of fields) {
      const v = props[f.name];
      const empty = v === undefined || v === null || v === "";
      if (empty && !keepEmpty) continue;
      table.append(el("tr", {}, el("th", { text: f.label }), el("td", { text: empty ? "" : v })));
    }
    return table;
  }

  // Click → popup with `content(atlanteLayerId, feature)` (a Node, or null for none) for the
  // top feature of the layers `layerIds()` returns; pointer cursor over them.
  function identify(map, layerIds, content, maxWidth) {
    const hitsAt = (point) => {
      const layers = drawnLayers(map, layerIds());
      return layers.length ? map.queryRenderedFeatures(point, { layers }) : [];
    };
    map.on("click", (e) => {
      if (map.atlanteMeasuring) return; // the click is a measured point
      const hits = hitsAt(e.point);
      if (!hits.length) return;
      const box = content(layerOf(hits[0].layer), hits[0]);
      if (box) new maplibregl.Popup({ maxWidth: maxWidth || "340px" }).setLngLat(e.lngLat).setDOMContent(box).addTo(map);
    });
    map.on("mousemove", (e) => {
      map.getCanvas().style.cursor = hitsAt(e.point).length ? "pointer" : "";
    });
  }

  return { el, fieldTable, identify, drawnLayers, layerOf };
})();
