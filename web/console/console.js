// Atlante console for comuni: sign in with the organisation's token, upload layers (drag and
// drop, with progress and the ingest summary), edit a layer's settings and style with a live
// preview, compose apps with a live preview, save, publish and unpublish them.
// Everything users typed reaches the page through textContent or form values, never HTML.
"use strict";

(function () {
  const $ = (id) => document.getElementById(id);
  const { el } = Atlante;
  let token = sessionStorage.getItem("atlante-token") || "";
  let me = null;
  let layers = [];
  let appLayers = [];
  let view = null;

  async function api(method, path, body) {
    const headers = { Authorization: "Bearer " + token };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const r = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await r.text();
    const data = text ? JSON.parse(text) : {};
    if (!r.ok) throw new Error(data.detail || data.title || r.statusText);
    return data;
  }

  // Sign in.
  $("signin-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    token = $("token").value.trim();
    try { await start(); } catch (err) { $("signin-error").textContent = err.message; }
  });
  $("signout").onclick = () => { sessionStorage.removeItem("atlante-token"); location.reload(); };

  async function start() {
    me = await api("GET", "/api/me");
    sessionStorage.setItem("atlante-token", token);
    $("who").textContent = me.org_name + " (" + me.org + ")";
    $("signin").hidden = true;
    $("work").hidden = false;
    $("signout").hidden = false;
    await refresh();
    window.atlanteConsoleReady = true;
  }

  async function refresh() {
    layers = (await api("GET", "/api/layers")).layers;
    const own = layers.filter((l) => l.org === me.org);
    const ul = $("layers");
    ul.replaceChildren();
    for (const l of own) {
      const li = el("li", { "data-layer": l.id });
      const b = el("button", { text: "modifica", type: "button" });
      b.onclick = () => editLayer(l);
      const badge = l.visibility === "public" ? el("small", { text: " · pubblico", class: "public" }) : el("small", { text: " · bozza (privato)", class: "draft" });
      li.append(el("span", { text: l.title }), el("small", { text: " " + l.id + " · " + l.feature_count + " elementi" }), badge, b);
      ul.append(li);
    }
    const add = $("a-add");
    add.replaceChildren(el("option", { text: "—", value: "" }));
    for (const l of layers.filter((x) => x.org === me.org || x.visibility === "public")) add.append(el("option", { text: l.title + " (" + l.id + ")", value: l.id }));
    await listApps();
  }

  // Upload.
  const drop = $("drop");
  drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => { e.preventDefault(); drop.classList.remove("over"); if (e.dataTransfer.files[0]) upload(e.dataTransfer.files[0]); });
  $("file").addEventListener("change", () => { if ($("file").files[0]) upload($("file").files[0]); });

  function upload(file) {
    const slug = ($("slug").value.trim() || file.name.replace(/\.[^.]*$/, "")).toLowerCase().replace(/[^a-z0-9_]+/g, "_").replace(/^_+|_+$/g, "");
    const form = new FormData();
    form.append("file", file, file.name);
    if ($("upload-title").value.trim()) form.append("title", $("upload-title").value.trim());
    if ($("upload-public").checked) form.append("visibility", "public");
    const xhr = new XMLHttpRequest();
    const bar = $("upload-progress");
    bar.hidden = false; bar.value = 0;
    $("upload-summary").textContent = "";
    $("upload-status").textContent = "Caricamento di " + file.name + "…";
    xhr.upload.onprogress = (e) => { if (e.lengthComputable) bar.value = Math.round((e.loaded / e.total) * 100); };
    xhr.upload.onload = () => { $("upload-status").textContent = "File ricevuto: lettura, riproiezione e validazione in corso…"; bar.removeAttribute("value"); };
    xhr.onload = async () => {
      bar.hidden = true;
      let data = {};
      try { data = JSON.parse(xhr.responseText); } catch (_) { /* not JSON */ }
      if (xhr.status === 201) {
        const s = data.summary;
        const src = data.layer.source;
        $("upload-status").textContent = (data.layer.visibility === "public" ? "Pubblicato " : "Caricato come bozza (privato) ") + data.layer.id + " (versione " + data.layer.version + ")";
        $("upload-summary").textContent = [
          `letti ${s.read} · scritti ${s.written} · riparati ${s.repaired} · scartati ${s.rejected} · ${s.seconds.toFixed(1)} s`,
          `CRS ${src.crs} → EPSG:4326 (${src.transform})`,
          `codifica ${src.encoding}`,
          ...s.rejected_reasons.map((r) => "scartato: " + r),
          ...s.warnings.map((w) => "avviso: " + w),
        ].join("\n");
        await refresh();
      } else {
        $("upload-status").textContent = "Errore: " + (data.detail || xhr.statusText);
      }
    };
    xhr.onerror = () => { bar.hidden = true; $("upload-status").textContent = "Errore di rete"; };
    xhr.open("POST", "/api/orgs/" + encodeURIComponent(me.org) + "/layers/" + encodeURIComponent(slug));
    xhr.setRequestHeader("Authorization", "Bearer " + token);
    xhr.send(form);
  }

  // Preview maps: the server computes the style of an unsaved configuration.
  function previewMap(container) {
    const map = new maplibregl.Map({ container, style: { version: 8, sources: {}, layers: [] }, center: [9.19, 45.46], zoom: 9 });
    map.on("moveend", () => { view = { center: map.getCenter().toArray(), zoom: Math.round(map.getZoom() * 100) / 100 }; });
    return map;
  }
  let styleMap = null;
  let appMap = null;
  async function preview(map, config, fit) {
    const r = await api("POST", "/api/orgs/" + encodeURIComponent(me.org) + "/apps/preview/preview", config);
    map.setStyle(r.style);
    if (fit) map.jumpTo({ center: r.style.center, zoom: r.style.zoom });
    return r;
  }

  // Layer settings and style.
  let current = null;
  // The server proposes the style from the layer's data (categories, class breaks and
  // colours); the console only says what the owner chose.
  async function currentStyle() {
    const field = $("s-field").value;
    const kind = field ? $("s-kind").value : "single";
    const q = new URLSearchParams({ kind });
    if (kind === "single") q.set("color", $("s-color").value);
    else q.set("field", field);
    if (kind === "graduated" && $("s-breaks").value.trim()) q.set("breaks", $("s-breaks").value);
    const doc = await api("GET", "/api/layers/" + encodeURIComponent(current.id) + "/style/proposal?" + q);
    if ($("s-label").value) doc.label = { field: $("s-label").value };
    return doc;
  }
  // A preview's error goes to a status line, and a finished preview clears only its own
  // earlier error: a save or publish that answered meanwhile keeps its status.
  async function previewWithStatus(statusId, run) {
    const status = $(statusId);
    try {
      await run();
      if (status.dataset.preview === status.textContent) status.textContent = "";
      delete status.dataset.preview;
    } catch (err) { status.textContent = err.message; status.dataset.preview = err.message; }
  }
  async function refreshStylePreview(fit) {
    if (!current) return;
    await previewWithStatus("l-status", async () => {
      const style = await currentStyle();
      await preview(styleMap, { title: current.title, layers: [{ id: current.id, style }] }, fit);
    });
  }
  async function editLayer(l) {
    current = l;
    $("layer-card").hidden = false;
    $("layer-id").textContent = l.id;
    $("l-title").value = l.title;
    $("l-description").value = l.description;
    $("l-visibility").value = l.visibility;
    await showMeta(l);
    const f = $("s-field");
    const lf = $("s-label");
    for (const sel of [f, lf]) {
      sel.replaceChildren(el("option", { text: "—", value: "" }));
      for (const fd of l.fields) sel.append(el("option", { text: fd.label, value: fd.name }));
    }
    const saved = await api("GET", "/api/layers/" + encodeURIComponent(l.id) + "/style");
    lf.value = (saved.label && saved.label.field) || "";
    const s = saved.symbology;
    if (s) { $("s-kind").value = s.kind; if (s.field) f.value = s.field; if (s.color) $("s-color").value = s.color; if (s.breaks) $("s-breaks").value = s.breaks.join(", "); }
    if (!styleMap) styleMap = previewMap("style-preview");
    await refreshStylePreview(true);
  }
  for (const id of ["s-kind", "s-field", "s-color", "s-breaks", "s-label"]) $(id).addEventListener("change", () => refreshStylePreview(false));
  // The open-data description: terms from the server's vocabularies, what is missing.
  let vocab = null;
  async function showMeta(l) {
    if (!vocab) {
      vocab = await api("GET", "/api/vocabularies");
      const fill = (id, terms, blank) => {
        const sel = $(id);
        sel.replaceChildren(...(blank ? [el("option", { text: "—", value: "" })] : []), ...terms.map((t) => el("option", { text: t.it, value: t.code })));
      };
      fill("m-licence", vocab.licences, true);
      fill("m-frequency", vocab.frequencies, true);
      fill("m-themes", vocab.themes, false);
    }
    $("m-licence").value = l.licence || "";
    $("m-frequency").value = l.meta.frequency || "";
    for (const o of $("m-themes").options) o.selected = l.meta.eu_themes.includes(o.value);
    $("m-keywords").value = l.meta.keywords.join(", ");
    $("m-email").value = l.meta.contact_email;
    $("m-lineage").value = l.meta.lineage;
    $("m-missing").textContent = l.metadata_missing.length ? "Per una scheda completa mancano: " + l.metadata_missing.join(", ") : "Scheda completa";
  }
  function metaUpdate() {
    return {
      licence: $("m-licence").value,
      frequency: $("m-frequency").value,
      eu_themes: [...$("m-themes").selectedOptions].map((o) => o.value),
      keywords: $("m-keywords").value.split(",").map((k) => k.trim()).filter((k) => k),
      contact_email: $("m-email").value.trim(),
      lineage: $("m-lineage").value,
    };
  }
  $("l-save").onclick = async () => {
    try {
      const saved = await api("PATCH", "/api/layers/" + encodeURIComponent(current.id), { title: $("l-title").value, description: $("l-description").value, visibility: $("l-visibility").value, ...metaUpdate() });
      await showMeta(saved);
      await api("PUT", "/api/layers/" + encodeURIComponent(current.id) + "/style", await currentStyle());
      $("l-status").textContent = "Salvato";
      await refresh();
    } catch (err) { $("l-status").textContent = "Errore: " + err.message; }
  };

  // App composer.
  function appConfig() {
    const search = $("a-search").value;
    const cfg = {
      title: $("a-title").value.trim() || "Mappa",
      description: $("a-description").value,
      language: $("a-lang").value,
      theme_color: $("a-color").value,
      layers: appLayers.map((a) => ({ id: a.id, popup_fields: a.popup_fields, ...(a.label_field ? { label_field: a.label_field } : {}) })),
    };
    if (search) { const [layer, field] = search.split("|"); cfg.search_fields = [{ layer, field }]; }
    cfg.tools = Object.fromEntries([...document.querySelectorAll("#a-tools input")].map((c) => [c.value, c.checked]));
    cfg.backgrounds = [...document.querySelectorAll("#a-backgrounds input:checked")].map((c) => c.value);
    if (view) cfg.view = view;
    return cfg;
  }
  function renderAppLayers() {
    const ol = $("a-layers");
    ol.replaceChildren();
    const search = $("a-search");
    const keep = search.value;
    search.replaceChildren(el("option", { text: "—", value: "" }));
    appLayers.forEach((a, i) => {
      const l = layers.find((x) => x.id === a.id);
      const li = el("li", { "data-layer": a.id });
      li.append(el("strong", { text: l.title }));
      const up = el("button", { text: "↑", type: "button", "aria-label": "su" });
      up.onclick = () => { if (i > 0) { [appLayers[i - 1], appLayers[i]] = [appLayers[i], appLayers[i - 1]]; changedApp(); } };
      const rm = el("button", { text: "✕", type: "button", "aria-label": "togli" });
      rm.onclick = () => { appLayers.splice(i, 1); changedApp(); };
      li.append(up, rm);
      const fields = el("div", { class: "fields" });
      for (const f of l.fields) {
        const lab = el("label", { class: "field-choice" });
        const cb = el("input", { type: "checkbox", value: f.name });
        cb.checked = a.popup_fields.includes(f.name);
        cb.onchange = () => { a.popup_fields = cb.checked ? [...a.popup_fields, f.name] : a.popup_fields.filter((n) => n !== f.name); changedApp(); };
        lab.append(cb, document.createTextNode(" " + f.label));
        fields.append(lab);
        search.append(el("option", { text: l.title + " · " + f.label, value: a.id + "|" + f.name }));
      }
      li.append(fields);
      // Labels on the map from one field (or none).
      const labels = el("select", { "aria-label": "Etichette di " + l.title, class: "label-field" }, el("option", { text: "nessuna etichetta", value: "" }));
      for (const f of l.fields) labels.append(el("option", { text: "etichette: " + f.label, value: f.name }));
      labels.value = a.label_field || "";
      labels.onchange = () => { a.label_field = labels.value || undefined; changedApp(); };
      li.append(labels);
      ol.append(li);
    });
    search.value = keep;
  }
  let timer = null;
  function changedApp() {
    renderAppLayers();
    clearTimeout(timer);
    timer = setTimeout(async () => {
      if (!appLayers.length) return;
      if (!appMap) appMap = previewMap("app-preview");
      await previewWithStatus("a-status", () => preview(appMap, appConfig(), !view));
    }, 250);
  }
  $("a-add").onchange = () => {
    const id = $("a-add").value;
    if (id && !appLayers.some((a) => a.id === id)) {
      const l = layers.find((x) => x.id === id);
      appLayers.unshift({ id, popup_fields: l.fields.slice(0, 6).map((f) => f.name) });
    }
    $("a-add").value = "";
    changedApp();
  };
  for (const id of ["a-title", "a-lang", "a-color", "a-search", "a-tools", "a-backgrounds"]) $(id).addEventListener("change", changedApp);
  // The backgrounds this server offers (its configuration), to pick for the app.
  fetch("/api/viewer-config").then((r) => r.json()).then((c) => {
    const box = $("a-backgrounds");
    for (const b of c.backgrounds || []) box.append(el("label", {}, el("input", { type: "checkbox", value: b.id }), document.createTextNode(" " + b.title + (b.network ? " (rete)" : ""))));
    box.hidden = !(c.backgrounds || []).length;
  }).catch(() => {});
  $("a-view").onclick = () => { if (appMap) { view = { center: appMap.getCenter().toArray(), zoom: Math.round(appMap.getZoom() * 100) / 100 }; changedApp(); } };
  const appPath = () => "/api/orgs/" + encodeURIComponent(me.org) + "/apps/" + encodeURIComponent($("a-slug").value.trim());
  $("a-save").onclick = async () => {
    try { await api("PUT", appPath(), appConfig()); $("a-status").textContent = "Salvata"; await listApps(); } catch (err) { $("a-status").textContent = "Errore: " + err.message; }
  };
  $("a-publish").onclick = async () => {
    try {
      await api("PUT", appPath(), appConfig());
      const r = await api("POST", appPath() + "/publish");
      await listApps();
      $("a-status").textContent = "Pubblicata: " + r.url;
    } catch (err) { $("a-status").textContent = "Errore: " + err.message; }
  };

  async function listApps() {
    const r = await api("GET", "/api/orgs/" + encodeURIComponent(me.org) + "/apps");
    const ul = $("apps");
    ul.replaceChildren();
    for (const a of r.apps) {
      const li = el("li", { "data-app": a.slug });
      li.append(el("strong", { text: a.config.title }), el("span", { text: " (" + a.slug + ") " + (a.published ? "pubblicata" : "bozza") + " " }));
      if (a.withheld && a.withheld.length) {
        // A public app serves only public layers: say which of its layers it leaves out.
        li.append(el("p", { text: (a.published ? "Non mostra: " : "Da rendere pubblici prima di pubblicare: ") + a.withheld.join(", ") + " (privati o rimossi)", class: "warning", role: "note" }));
      }
      if (a.published) {
        li.append(el("a", { text: "apri", href: a.url, target: "_blank", rel: "noopener" }), document.createTextNode(" · "),
          el("a", { text: "zip online", href: a.bundle + "?mode=online" }), document.createTextNode(" · "),
          el("a", { text: "zip statico", href: a.bundle + "?mode=static" }));
      }
      const edit = el("button", { text: "modifica", type: "button" });
      edit.onclick = () => {
        $("a-slug").value = a.slug; $("a-title").value = a.config.title; $("a-description").value = a.config.description || "";
        $("a-lang").value = a.config.language; $("a-color").value = a.config.theme_color;
        view = a.config.view || null;
        const tools = a.config.tools || {};
        document.querySelectorAll("#a-tools input").forEach((c) => { c.checked = tools[c.value] !== false; });
        document.querySelectorAll("#a-backgrounds input").forEach((c) => { c.checked = (a.config.backgrounds || []).includes(c.value); });
        appLayers = a.config.layers.map((x) => ({ id: x.id, label_field: x.label_field, popup_fields: x.popup_fields || layers.find((l) => l.id === x.id).fields.map((f) => f.name) }));
        changedApp();
      };
      const toggle = el("button", { text: a.published ? "ritira" : "pubblica", type: "button" });
      toggle.onclick = async () => { await api("POST", "/api/orgs/" + encodeURIComponent(me.org) + "/apps/" + encodeURIComponent(a.slug) + (a.published ? "/unpublish" : "/publish")); await listApps(); };
      li.append(edit, toggle);
      ul.append(li);
    }
  }

  if (token) start().catch(() => { sessionStorage.removeItem("atlante-token"); token = ""; });
})();
