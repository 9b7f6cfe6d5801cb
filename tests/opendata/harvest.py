"""Harvests a running Atlante as the national and regional catalogues would, with OWSLib:
the CSW 2.0.2 endpoint (capabilities, GetRecords with a text and a bbox constraint, paging
to the end, GetRecordById in ISO 19139 and Dublin Core, DescribeRecord) and the OGC API -
Records collection (listing, free text, bbox, paging). Called by tests/opendata.rs with
the server's base URL and what it must find (JSON); prints a JSON report, exits non-zero
with the first difference."""

import json
import sys
import warnings

from owslib.catalogue.csw2 import CatalogueServiceWeb
from owslib.fes import BBox, PropertyIsLike
from owslib.ogcapi.records import Records

warnings.simplefilter("ignore")
base, expected = sys.argv[1], json.loads(sys.argv[2])
report = {}


def check(what, got, want):
    if got != want:
        print(json.dumps({"failed": what, "got": got, "want": want, "report": report}, default=str))
        sys.exit(1)


GMD = "http://www.isotc211.org/2005/gmd"
csw = CatalogueServiceWeb(f"{base}/csw", timeout=30)
check("service type", csw.identification.type, "CSW")
check("version", csw.version, "2.0.2")
ops = sorted(op.name for op in csw.operations)
check("operations", ops, ["DescribeRecord", "GetCapabilities", "GetRecordById", "GetRecords"])
report["capabilities"] = {"title": csw.identification.title, "operations": ops}

# Paging to the end, two at a time.
seen, start, pages = [], 1, 0
while True:
    csw.getrecords2(esn="brief", startposition=start, maxrecords=2)
    pages += 1
    seen += list(csw.records.keys())
    check("matched while paging", csw.results["matches"], len(expected["all"]))
    if csw.results["nextrecord"] == 0:
        break
    start = csw.results["nextrecord"]
check("records paged", sorted(seen), sorted(expected["all"]))
report["paging"] = {"pages": pages, "records": len(seen)}

# A text constraint.
csw.getrecords2(constraints=[PropertyIsLike("csw:AnyText", f"%{expected['text']}%")], esn="full", maxrecords=50)
check("text hits", sorted(csw.records.keys()), sorted(expected["text_hits"]))
report["text"] = {"q": expected["text"], "hits": sorted(csw.records.keys())}

# A bbox constraint (longitude first: no CRS given) and the same box latitude first.
csw.getrecords2(constraints=[BBox(expected["bbox"])], esn="summary", maxrecords=50)
check("bbox hits", sorted(csw.records.keys()), sorted(expected["bbox_hits"]))
w, s, e, n = expected["bbox"]
csw.getrecords2(constraints=[BBox([s, w, n, e], crs="urn:ogc:def:crs:EPSG::4326")], esn="brief", maxrecords=50)
check("bbox hits, latitude first", sorted(csw.records.keys()), sorted(expected["bbox_hits"]))
report["bbox"] = {"bbox": expected["bbox"], "hits": sorted(csw.records.keys())}

# Both, and an ISO answer to GetRecords.
csw.getrecords2(
    constraints=[[PropertyIsLike("csw:AnyText", f"%{expected['text']}%"), BBox(expected["bbox"])]],
    outputschema=GMD, esn="full", maxrecords=50,
)
check("text and bbox, ISO", sorted(csw.records.keys()), sorted(set(expected["text_hits"]) & set(expected["bbox_hits"])))

# One record in ISO 19139 (RNDT).
want = expected["record"]
csw.getrecordbyid(id=[want["identifier"]], outputschema=GMD)
md = csw.records[want["identifier"]]
ident = md.identification[0]
check("file identifier", md.identifier, want["identifier"])
check("title", ident.title, want["title"])
check("abstract", ident.abstract, want["abstract"])
words = sorted(k.name for kw in ident.keywords for k in kw.keywords)
check("keywords", words, sorted(want["keywords"]))
bbox = [float(md.identification[0].bbox.minx), float(ident.bbox.miny), float(ident.bbox.maxx), float(ident.bbox.maxy)]
check("bbox", [round(v, 6) for v in bbox], [round(v, 6) for v in want["bbox"]])
licence = [c for c in ident.otherconstraints if want["licence_uri"] in c]
check("licence in the constraints", len(licence), 1)
check("language", md.languagecode, "ita")
check("owner", [c.organization for c in ident.contact if c.role == "pointOfContact"][0], want["owner"])
check("reference system", md.referencesystem.code, "http://www.opengis.net/def/crs/EPSG/0/4326")
links = sorted(o.url for o in md.distribution.online)
check("a download among the links", any(u.endswith("items?f=gpkg") for u in links), True)
report["iso"] = {"identifier": md.identifier, "title": ident.title, "keywords": words, "bbox": bbox, "licence": licence[0], "links": len(links)}

# The same in Dublin Core; an unknown id is left out.
csw.getrecordbyid(id=[want["identifier"], "c_x000:nothing"])
check("Dublin Core by id", list(csw.records.keys()), [want["identifier"]])
check("Dublin Core title", csw.records[want["identifier"]].title, want["title"])
csw.describerecord(typename="csw:Record")

# OGC API - Records.
rec = Records(base)
check("record collections", rec.records(), ["catalog"])
items = rec.collection_items("catalog", limit=100)
check("all records", sorted(f["id"] for f in items["features"]), sorted(expected["all_layers"]))
found = rec.collection_items("catalog", q=expected["text"])
check("records q", sorted(f["properties"]["externalIds"][0]["value"] for f in found["features"]), sorted(expected["text_hits"]))
boxed = rec.collection_items("catalog", bbox=expected["bbox"], limit=100)
check("records bbox", sorted(f["properties"]["externalIds"][0]["value"] for f in boxed["features"]), sorted(expected["bbox_hits"]))
paged, offset = [], 0
while True:
    page = rec.collection_items("catalog", limit=2, offset=offset)
    paged += [f["id"] for f in page["features"]]
    if not any(l["rel"] == "next" for l in page["links"]):
        break
    offset += 2
check("records paged", sorted(paged), sorted(expected["all_layers"]))
one = rec.collection_item("catalog", want["layer"])
check("one record", one["properties"]["title"], want["title"])
report["records"] = {"all": len(items["features"]), "q": len(found["features"]), "bbox": len(boxed["features"])}
print(json.dumps(report, default=str))
