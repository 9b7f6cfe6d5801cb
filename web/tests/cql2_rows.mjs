// Runs web/common/cql2.js (the browser's CQL2 subset) under Node: reads
// {"features": [...GeoJSON features], "filters": ["cql2 text", ...]} on standard input and
// prints, for each filter, the ids of the features it keeps (or {"error": message}), and
// whether its MapLibre form could be built. tests/maps.rs compares them with `/items`.
import { readFileSync } from "node:fs";

globalThis.window = globalThis;
await import(new URL("../common/cql2.js", import.meta.url));
const { features, filters } = JSON.parse(readFileSync(0, "utf8"));
const out = filters.map((text) => {
  try {
    const ast = window.AtlanteCql2.parse(text);
    let map = true;
    try { window.AtlanteCql2.toMapLibre(ast); } catch (_) { map = false; }
    return { ids: features.filter((f) => window.AtlanteCql2.test(ast, f.properties)).map((f) => f.id), map };
  } catch (e) {
    return { error: e.message };
  }
});
console.log(JSON.stringify(out));
