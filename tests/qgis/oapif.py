#!/usr/bin/python3
"""Drives QGIS's OAPIF provider headless (Debian's python3-qgis) against an Atlante server:
adds one collection as a layer, reads every feature, and prints one JSON line with what it
saw (validity, counts, field names, every text value) and the messages QGIS logged.

    /usr/bin/python3 tests/qgis/oapif.py http://127.0.0.1:8080 015146_aree_pedonali_ztl
"""
import json
import os
import sys

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
from qgis.core import QgsApplication, QgsVectorLayer  # noqa: E402

base, collection = sys.argv[1], sys.argv[2]
app = QgsApplication([], False)
app.initQgis()
messages = []
QgsApplication.messageLog().messageReceived.connect(lambda msg, tag, level: messages.append(f"{tag}: {msg}"))

layer = QgsVectorLayer(f"url='{base}' typename='{collection}'", collection, "OAPIF")
out = {"valid": layer.isValid(), "qgis": app.applicationVersion() if hasattr(app, "applicationVersion") else ""}
if layer.isValid():
    texts = set()
    n = 0
    for f in layer.getFeatures():
        n += 1
        for v in f.attributes():
            if isinstance(v, str):
                texts.add(v)
    out.update(
        count=n,
        feature_count=layer.featureCount(),
        fields=[f.name() for f in layer.fields()],
        texts=sorted(texts),
        crs=layer.crs().authid(),
        extent=[layer.extent().xMinimum(), layer.extent().yMinimum(), layer.extent().xMaximum(), layer.extent().yMaximum()],
    )
else:
    out["error"] = layer.error().summary()
    provider = layer.dataProvider()
    if provider is not None:
        out["provider_error"] = provider.error().summary()
app.processEvents()
out["messages"] = messages
print(json.dumps(out, ensure_ascii=False), flush=True)
# QGIS 3.22 can crash while tearing down the provider's network threads: leave at once.
os._exit(0)
