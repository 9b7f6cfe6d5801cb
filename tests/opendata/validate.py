"""Validates Atlante's DCAT-AP_IT catalogue against tests/opendata/dcat_ap_it.shapes.ttl
(pyshacl), checks that its three syntaxes hold the same graph (rdflib), and proves every
shape bites: for each property shape, the catalogue with that property removed (when it is
required) or its value mistyped (wrong class, datatype, kind or vocabulary) must fail with
a violation from that very shape.

usage: validate.py SHAPES CATALOG.ttl CATALOG.rdf CATALOG.jsonld
Prints one JSON line; exits 1 on any failure.
"""
import json
import sys

from pyshacl import validate
from rdflib import RDF, Graph, Literal, Namespace, URIRef
from rdflib.compare import isomorphic

SH = Namespace("http://www.w3.org/ns/shacl#")
AT = "urn:atlante:shapes#"


def violations(data, shapes):
    conforms, report, _ = validate(data, shacl_graph=shapes, inference="none")
    return conforms, {str(s) for s in report.objects(None, SH.sourceShape)}


def main():
    shapes_path, ttl, rdfxml, jsonld = sys.argv[1:5]
    shapes = Graph().parse(shapes_path, format="turtle")
    data = Graph().parse(ttl, format="turtle")
    out = {"triples": len(data), "failures": []}
    for path, fmt in [(rdfxml, "xml"), (jsonld, "json-ld")]:
        other = Graph().parse(path, format=fmt)
        if not isomorphic(data, other):
            out["failures"].append(f"{fmt} differs from Turtle ({len(other)} vs {len(data)} triples)")
    conforms, shapes_hit = violations(data, shapes)
    if not conforms:
        out["failures"].append(f"catalogue does not conform: {sorted(shapes_hit)}")
    # Each property shape of each node shape, with a focus node of its target class.
    cases = 0
    for node_shape in shapes.subjects(RDF.type, SH.NodeShape):
        target = shapes.value(node_shape, SH.targetClass)
        if target is None:
            continue
        nodes = sorted(data.subjects(RDF.type, target))
        if not nodes:
            out["failures"].append(f"no {target} in the catalogue")
            continue
        for prop in shapes.objects(node_shape, SH.property):
            if not str(prop).startswith(AT):
                continue
            path = shapes.value(prop, SH.path)
            # The first node of the class that has the property (else the first).
            focus = next((n for n in nodes if (n, path, None) in data), nodes[0])
            values = list(data.objects(focus, path))
            variants = []
            if shapes.value(prop, SH.minCount) is not None or shapes.value(prop, SH.hasValue) is not None:
                g = Graph() + data
                if path == RDF.type:
                    g.remove((focus, path, shapes.value(prop, SH.hasValue)))
                else:
                    g.remove((focus, path, None))
                variants.append(("removed", g))
            if values:
                v = values[0]
                cls = shapes.value(prop, SH["class"])
                if cls is not None and not isinstance(v, Literal):
                    g = Graph() + data
                    g.remove((v, RDF.type, cls))
                    variants.append(("value not a " + cls.n3(data.namespace_manager), g))
                if shapes.value(prop, SH.datatype) is not None or shapes.value(prop, SH.nodeKind) == SH.IRI:
                    g = Graph() + data
                    g.remove((focus, path, v))
                    wrong = URIRef("http://example.org/x") if isinstance(v, Literal) else Literal("x")
                    g.add((focus, path, wrong))
                    variants.append(("value of the wrong kind", g))
                if shapes.value(prop, SH.pattern) is not None:
                    g = Graph() + data
                    g.remove((focus, path, v))
                    wrong = URIRef("http://example.org/elsewhere") if isinstance(v, URIRef) else Literal("not:in the form")
                    g.add((focus, path, wrong))
                    if cls is not None:
                        g.add((wrong, RDF.type, cls))
                    variants.append(("value outside the vocabulary", g))
            if not variants:
                out["failures"].append(f"{prop}: no case exercises it (no value in the catalogue)")
            for name, g in variants:
                cases += 1
                ok, hit = violations(g, shapes)
                if ok or str(prop) not in hit:
                    out["failures"].append(f"{prop} ({name}): no violation from it")
    out["shapes"] = len({p for p in shapes.subjects(SH.path, None) if str(p).startswith(AT)})
    out["cases"] = cases
    print(json.dumps(out))
    sys.exit(1 if out["failures"] else 0)


main()
