// The small map of a dataset page (/datasets/{id}): the layer in its own style, fitted
// to its extent. The page works without it (the table says everything the map shows).
(function () {
  const el = document.getElementById('dataset-map');
  if (!el || typeof maplibregl === 'undefined') return;
  const bounds = el.dataset.bounds ? JSON.parse(el.dataset.bounds) : null;
  const map = new maplibregl.Map({
    container: el,
    style: el.dataset.style,
    bounds: bounds || undefined,
    center: bounds ? undefined : [9.19, 45.46],
    zoom: bounds ? undefined : 9,
    fitBoundsOptions: { padding: 16 },
    attributionControl: { compact: true },
  });
  map.addControl(new maplibregl.NavigationControl({ showCompass: false }));
  map.on('load', () => {
    map.resize();
    if (bounds) map.fitBounds(bounds, { padding: 16, animate: false });
  });
  window.atlanteDatasetMap = map;
})();
