//! A small RDF graph and its three serialisations — Turtle, RDF/XML and JSON-LD (expanded
//! form) — enough for the catalogues Atlante publishes. Every literal and IRI is escaped
//! for its syntax; predicates are given as prefixed names of [`PREFIXES`].

use std::collections::BTreeMap;
use std::fmt::Write;

/// The namespaces the catalogues use.
pub const PREFIXES: &[(&str, &str)] = &[
    ("rdf", "http://www.w3.org/1999/02/22-rdf-syntax-ns#"),
    ("rdfs", "http://www.w3.org/2000/01/rdf-schema#"),
    ("xsd", "http://www.w3.org/2001/XMLSchema#"),
    ("dcat", "http://www.w3.org/ns/dcat#"),
    ("dct", "http://purl.org/dc/terms/"),
    ("dcatapit", "http://dati.gov.it/onto/dcatapit#"),
    ("foaf", "http://xmlns.com/foaf/0.1/"),
    ("skos", "http://www.w3.org/2004/02/skos/core#"),
    ("vcard", "http://www.w3.org/2006/vcard/ns#"),
    ("locn", "http://www.w3.org/ns/locn#"),
    ("gsp", "http://www.opengis.net/ont/geosparql#"),
];

/// A node: an IRI, a blank node (by label) or a literal.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Node {
    Iri(String),
    Blank(String),
    /// Text, with a language tag or a datatype (a prefixed name), or plain.
    Lit {
        value: String,
        lang: Option<&'static str>,
        datatype: Option<&'static str>,
    },
}

pub fn iri(s: impl Into<String>) -> Node {
    Node::Iri(s.into())
}

/// An IRI given as a prefixed name (`dcat:Dataset`).
pub fn term(prefixed: &str) -> Node {
    Node::Iri(expand(prefixed))
}

pub fn lit(s: impl Into<String>) -> Node {
    Node::Lit {
        value: s.into(),
        lang: None,
        datatype: None,
    }
}

pub fn lang(s: impl Into<String>, tag: &'static str) -> Node {
    Node::Lit {
        value: s.into(),
        lang: Some(tag),
        datatype: None,
    }
}

pub fn typed(s: impl Into<String>, datatype: &'static str) -> Node {
    Node::Lit {
        value: s.into(),
        lang: None,
        datatype: Some(datatype),
    }
}

fn expand(prefixed: &str) -> String {
    let (p, local) = prefixed.split_once(':').unwrap_or(("", prefixed));
    match PREFIXES.iter().find(|(name, _)| *name == p) {
        Some((_, ns)) => format!("{ns}{local}"),
        None => prefixed.to_string(),
    }
}

/// A prefixed name for an IRI when it has a plain local part in a known namespace.
fn compact(iri: &str) -> Option<String> {
    PREFIXES.iter().find_map(|(p, ns)| {
        let local = iri.strip_prefix(ns)?;
        let plain = !local.is_empty()
            && local
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic())
            && local
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        plain.then(|| format!("{p}:{local}"))
    })
}

/// Triples grouped by subject, in the order subjects were first seen.
#[derive(Default)]
pub struct Graph {
    subjects: Vec<Node>,
    by_subject: BTreeMap<Node, Vec<(String, Node)>>,
}

impl Graph {
    /// Adds a triple (the predicate as a prefixed name); a repeated triple is kept once.
    pub fn add(&mut self, s: &Node, p: &str, o: Node) {
        let list = self.by_subject.entry(s.clone()).or_insert_with(|| {
            self.subjects.push(s.clone());
            Vec::new()
        });
        let p = expand(p);
        if !list.iter().any(|(q, x)| *q == p && *x == o) {
            list.push((p, o));
        }
    }

    fn each(&self) -> impl Iterator<Item = (&Node, &Vec<(String, Node)>)> {
        self.subjects.iter().map(|s| (s, &self.by_subject[s]))
    }

    pub fn to_turtle(&self) -> String {
        let mut out = String::new();
        for (p, ns) in PREFIXES {
            let _ = writeln!(out, "@prefix {p}: <{ns}> .");
        }
        for (s, pos) in self.each() {
            let _ = write!(out, "\n{}", turtle_node(s));
            for (i, (p, o)) in pos.iter().enumerate() {
                let p = if p == &expand("rdf:type") {
                    "a".to_string()
                } else {
                    compact(p).unwrap_or_else(|| format!("<{}>", iri_escape(p)))
                };
                let sep = if i + 1 == pos.len() { " ." } else { " ;" };
                let _ = write!(out, "\n    {p} {}{sep}", turtle_node(o));
            }
            out.push('\n');
        }
        out
    }

    pub fn to_rdfxml(&self) -> String {
        let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<rdf:RDF");
        for (p, ns) in PREFIXES {
            let _ = write!(out, "\n    xmlns:{p}=\"{}\"", xml_escape(ns));
        }
        out.push_str(">\n");
        for (s, pos) in self.each() {
            let about = match s {
                Node::Blank(b) => format!("rdf:nodeID=\"{}\"", xml_escape(b)),
                Node::Iri(i) => format!("rdf:about=\"{}\"", xml_escape(i)),
                Node::Lit { .. } => continue,
            };
            let _ = writeln!(out, "  <rdf:Description {about}>");
            for (p, o) in pos {
                // Every predicate is in a known namespace (they come from `term`).
                let Some(q) = compact(p) else { continue };
                let _ = match o {
                    Node::Iri(i) => {
                        writeln!(out, "    <{q} rdf:resource=\"{}\"/>", xml_escape(i))
                    }
                    Node::Blank(b) => {
                        writeln!(out, "    <{q} rdf:nodeID=\"{}\"/>", xml_escape(b))
                    }
                    Node::Lit {
                        value,
                        lang,
                        datatype,
                    } => {
                        let attr = match (lang, datatype) {
                            (Some(l), _) => format!(" xml:lang=\"{l}\""),
                            (None, Some(d)) => {
                                format!(" rdf:datatype=\"{}\"", xml_escape(&expand(d)))
                            }
                            _ => String::new(),
                        };
                        writeln!(out, "    <{q}{attr}>{}</{q}>", xml_escape(value))
                    }
                };
            }
            out.push_str("  </rdf:Description>\n");
        }
        out.push_str("</rdf:RDF>\n");
        out
    }

    /// JSON-LD in expanded form (full IRIs, no context needed).
    pub fn to_jsonld(&self) -> serde_json::Value {
        let id = |n: &Node| match n {
            Node::Iri(i) => i.clone(),
            Node::Blank(b) => format!("_:{b}"),
            Node::Lit { value, .. } => value.clone(),
        };
        let rdf_type = expand("rdf:type");
        let nodes: Vec<serde_json::Value> = self
            .each()
            .map(|(s, pos)| {
                let mut obj = serde_json::Map::new();
                obj.insert("@id".into(), id(s).into());
                for (p, o) in pos {
                    if *p == rdf_type {
                        let types = obj.entry("@type").or_insert_with(|| serde_json::json!([]));
                        if let Some(a) = types.as_array_mut() {
                            a.push(id(o).into());
                        }
                        continue;
                    }
                    let v = match o {
                        Node::Lit {
                            value,
                            lang: Some(l),
                            ..
                        } => serde_json::json!({"@value": value, "@language": l}),
                        Node::Lit {
                            value,
                            datatype: Some(d),
                            ..
                        } => serde_json::json!({"@value": value, "@type": expand(d)}),
                        Node::Lit { value, .. } => serde_json::json!({ "@value": value }),
                        n => serde_json::json!({ "@id": id(n) }),
                    };
                    let list = obj
                        .entry(p.clone())
                        .or_insert_with(|| serde_json::json!([]));
                    if let Some(a) = list.as_array_mut() {
                        a.push(v);
                    }
                }
                serde_json::Value::Object(obj)
            })
            .collect();
        serde_json::Value::Array(nodes)
    }
}

fn turtle_node(n: &Node) -> String {
    match n {
        Node::Iri(i) => compact(i).unwrap_or_else(|| format!("<{}>", iri_escape(i))),
        Node::Blank(b) => format!("_:{b}"),
        Node::Lit {
            value,
            lang,
            datatype,
        } => {
            let mut s = String::from("\"");
            for c in value.chars() {
                match c {
                    '"' => s.push_str("\\\""),
                    '\\' => s.push_str("\\\\"),
                    '\n' => s.push_str("\\n"),
                    '\r' => s.push_str("\\r"),
                    '\t' => s.push_str("\\t"),
                    c if (c as u32) < 0x20 => {
                        let _ = write!(s, "\\u{:04X}", c as u32);
                    }
                    c => s.push(c),
                }
            }
            s.push('"');
            match (lang, datatype) {
                (Some(l), _) => format!("{s}@{l}"),
                (None, Some(d)) => format!("{s}^^{d}"),
                _ => s,
            }
        }
    }
}

/// An IRI made safe inside `<…>`: characters Turtle forbids there are percent-encoded.
fn iri_escape(i: &str) -> String {
    let mut s = String::new();
    for c in i.chars() {
        if c <= ' ' || "<>\"{}|^`\\".contains(c) {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                let _ = write!(s, "%{b:02X}");
            }
        } else {
            s.push(c);
        }
    }
    s
}

/// Text escaped for XML: as for HTML, less the characters XML 1.0 cannot hold at all.
fn xml_escape(s: &str) -> String {
    let allowed = |c: &char| (*c as u32) >= 0x20 || matches!(c, '\n' | '\r' | '\t');
    crate::html::escape_html(&s.chars().filter(allowed).collect::<String>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_text_stays_text_in_every_syntax() {
        let mut g = Graph::default();
        let s = iri("https://example.org/d/1");
        let evil = "a\"b\\c\n<d> & 'e' ]]> @en ^^xsd:x \u{1}";
        g.add(&s, "rdf:type", term("dcat:Dataset"));
        g.add(&s, "dct:title", lang(evil, "it"));
        let ttl = g.to_turtle();
        assert!(ttl.contains("\"a\\\"b\\\\c\\n<d> & 'e' ]]> @en ^^xsd:x \\u0001\"@it"));
        assert!(ttl.contains("<https://example.org/d/1>\n    a dcat:Dataset ;"));
        let xml = g.to_rdfxml();
        assert!(xml
            .contains("a&quot;b\\c\n&lt;d&gt; &amp; &#39;e&#39; ]]&gt; @en ^^xsd:x </dct:title>"));
        let json = g.to_jsonld();
        assert_eq!(json[0]["http://purl.org/dc/terms/title"][0]["@value"], evil);
        assert_eq!(json[0]["@type"][0], "http://www.w3.org/ns/dcat#Dataset");
    }

    #[test]
    fn unsafe_iris_are_encoded() {
        assert_eq!(iri_escape("https://x.org/a b>c"), "https://x.org/a%20b%3Ec");
        assert_eq!(
            compact("http://purl.org/dc/terms/title").as_deref(),
            Some("dct:title")
        );
        assert_eq!(compact("http://publications.europa.eu/x"), None);
        assert_eq!(compact("http://www.w3.org/ns/dcat#1x"), None);
    }
}
