//! The CSW 2.0.2 catalogue (OGC 07-006r1, with the ISO application profile's output
//! schema) that RNDT and regional harvesters collect: GetCapabilities, DescribeRecord,
//! GetRecords (OGC Filter 1.1 constraints: And, Or, Not, PropertyIsLike, the comparison
//! operators, BBOX; sorting; paging; `hits` and `results`) and GetRecordById, in Dublin
//! Core (`csw:Record`) or ISO 19139 (`gmd:MD_Metadata`, see [`super::iso`]), over KVP GET
//! and XML POST. Requests are parsed into [`Request`] first (XML by `roxmltree`, no DTD);
//! a bad one gets an `ows:ExceptionReport` naming the parameter. Text matching ignores
//! case. The caller passes the records of public layers only.

use std::collections::HashMap;

use roxmltree::Node;

use super::record::Record;
use crate::html::escape_html as esc;

pub const CSW_NS: &str = "http://www.opengis.net/cat/csw/2.0.2";
pub const GMD_NS: &str = "http://www.isotc211.org/2005/gmd";
const OGC_NS: &str = "http://www.opengis.net/ogc";
const OWS_NS: &str = "http://www.opengis.net/ows";

/// Most records one GetRecords answers.
pub const MAX_RECORDS: usize = 500;

/// An `ows:ExceptionReport`.
#[derive(Debug, PartialEq)]
pub struct CswError {
    pub code: &'static str,
    pub locator: String,
    pub text: String,
}

impl CswError {
    fn invalid(locator: &str, text: impl Into<String>) -> CswError {
        CswError {
            code: "InvalidParameterValue",
            locator: locator.into(),
            text: text.into(),
        }
    }
    fn missing(locator: &str) -> CswError {
        CswError {
            code: "MissingParameterValue",
            locator: locator.into(),
            text: format!("{locator} is required"),
        }
    }
    fn unsupported(op: &str) -> CswError {
        CswError {
            code: "OperationNotSupported",
            locator: op.into(),
            text: format!(
                "{op} is not supported: GetCapabilities, DescribeRecord, GetRecords, GetRecordById"
            ),
        }
    }

    pub fn to_xml(&self) -> String {
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ows:ExceptionReport \
             xmlns:ows=\"{OWS_NS}\" version=\"1.2.0\"><ows:Exception exceptionCode=\"{}\" \
             locator=\"{}\"><ows:ExceptionText>{}</ows:ExceptionText></ows:Exception>\
             </ows:ExceptionReport>",
            self.code,
            esc(&self.locator),
            esc(&self.text)
        )
    }
}

type Result<T> = std::result::Result<T, CswError>;

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Schema {
    /// Dublin Core, `csw:Record`.
    Csw,
    /// ISO 19139, `gmd:MD_Metadata`.
    Iso,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Esn {
    Brief,
    Summary,
    Full,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ResultType {
    Results,
    Hits,
}

#[derive(Debug, PartialEq)]
pub enum Request {
    GetCapabilities,
    DescribeRecord(Vec<String>),
    GetRecords(GetRecords),
    GetRecordById {
        ids: Vec<String>,
        schema: Schema,
        esn: Esn,
    },
}

#[derive(Debug, PartialEq)]
pub struct GetRecords {
    pub result_type: ResultType,
    pub schema: Schema,
    pub esn: Esn,
    /// 1-based.
    pub start: usize,
    pub max: usize,
    pub filter: Option<Filter>,
    /// (property, ascending)
    pub sort: Option<(Prop, bool)>,
}

/// The queryables: Dublin Core and ISO (`apiso:`) names, any prefix.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Prop {
    AnyText,
    Title,
    Abstract,
    Subject,
    Identifier,
    Type,
    Modified,
    Created,
    Organisation,
    Format,
    BoundingBox,
}

impl Prop {
    fn parse(name: &str) -> Result<Prop> {
        let local = name.rsplit(':').next().unwrap_or(name).trim();
        Ok(match local.to_ascii_lowercase().as_str() {
            "anytext" => Prop::AnyText,
            "title" | "alternatetitle" => Prop::Title,
            "abstract" | "description" => Prop::Abstract,
            "subject" | "keywords" | "topiccategory" => Prop::Subject,
            "identifier" | "resourceidentifier" => Prop::Identifier,
            "type" => Prop::Type,
            "modified" | "revisiondate" | "date" => Prop::Modified,
            "created" | "creationdate" | "publicationdate" => Prop::Created,
            "organisationname" | "creator" | "publisher" | "rightsholder" => Prop::Organisation,
            "format" => Prop::Format,
            "boundingbox" | "envelope" => Prop::BoundingBox,
            _ => {
                return Err(CswError::invalid(
                    "PropertyName",
                    format!("unknown queryable '{name}': AnyText, Title, Abstract, Subject, Identifier, Type, Modified, Created, OrganisationName, Format, BoundingBox"),
                ))
            }
        })
    }

    /// A record's values of this property.
    fn values(self, r: &Record) -> Vec<String> {
        match self {
            Prop::AnyText => vec![r.any_text().to_string()],
            Prop::Title => vec![r.title.clone(), r.title_en.clone()],
            Prop::Abstract => vec![r.abstract_.clone()],
            Prop::Subject => r
                .keywords
                .iter()
                .cloned()
                .chain(
                    r.themes
                        .iter()
                        .flat_map(|t| [t.it.to_string(), t.en.to_string(), t.code.to_string()]),
                )
                .collect(),
            Prop::Identifier => vec![r.identifier.clone(), r.layer_id.clone()],
            Prop::Type => vec!["dataset".into()],
            Prop::Modified => vec![r.modified.clone()],
            Prop::Created => vec![r.created.clone()],
            Prop::Organisation => vec![r.org_name.clone(), "Città Metropolitana di Milano".into()],
            Prop::Format => formats(r).into_iter().map(String::from).collect(),
            Prop::BoundingBox => Vec::new(),
        }
    }
}

fn formats(r: &Record) -> Vec<&'static str> {
    r.links
        .iter()
        .filter(|l| l.function == "download")
        .map(|l| l.media_type)
        .collect()
}

/// The comparisons (CQL2's: the same six).
pub use crate::cql2::CmpOp as Op;

/// A `PropertyIsLike` pattern, one token per character.
#[derive(Debug, Clone, PartialEq)]
pub enum Tok {
    Char(char),
    Any,
    One,
}

#[derive(Debug, PartialEq)]
pub enum Filter {
    And(Vec<Filter>),
    Or(Vec<Filter>),
    Not(Box<Filter>),
    Like(Prop, Vec<Tok>),
    Cmp(Prop, Op, String),
    /// [west, south, east, north] in EPSG:4326.
    BBox([f64; 4]),
}

impl Filter {
    pub fn matches(&self, r: &Record) -> bool {
        match self {
            Filter::And(fs) => fs.iter().all(|f| f.matches(r)),
            Filter::Or(fs) => fs.iter().any(|f| f.matches(r)),
            Filter::Not(f) => !f.matches(r),
            Filter::Like(p, pattern) => p
                .values(r)
                .iter()
                .any(|v| like(&v.to_lowercase().chars().collect::<Vec<_>>(), pattern)),
            Filter::Cmp(p, op, value) => {
                let value = value.to_lowercase();
                let vals = p.values(r);
                let cmp = |v: &String| v.to_lowercase().as_str().cmp(value.as_str());
                match op {
                    Op::Eq => vals.iter().any(|v| cmp(v).is_eq()),
                    Op::Ne => !vals.iter().any(|v| cmp(v).is_eq()),
                    Op::Lt => vals.iter().any(|v| cmp(v).is_lt()),
                    Op::Le => vals.iter().any(|v| cmp(v).is_le()),
                    Op::Gt => vals.iter().any(|v| cmp(v).is_gt()),
                    Op::Ge => vals.iter().any(|v| cmp(v).is_ge()),
                }
            }
            Filter::BBox(b) => r.meets(b),
        }
    }
}

/// Does `text` (lower case) match `pattern`? Iterative, with one backtrack point per `Any`.
fn like(text: &[char], pattern: &[Tok]) -> bool {
    let (mut t, mut p) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some(Tok::Any) => {
                star = Some((p, t));
                p += 1;
            }
            Some(Tok::One) => {
                t += 1;
                p += 1;
            }
            Some(Tok::Char(c)) if *c == text[t] => {
                t += 1;
                p += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    p = sp + 1;
                    t = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p.min(pattern.len())..]
        .iter()
        .all(|tok| *tok == Tok::Any)
}

fn pattern(literal: &str, wild: char, single: char, escape: char) -> Vec<Tok> {
    let mut out = Vec::new();
    let mut chars = literal.chars();
    while let Some(c) = chars.next() {
        out.push(if c == escape {
            match chars.next() {
                Some(n) => Tok::Char(n.to_lowercase().next().unwrap_or(n)),
                None => break,
            }
        } else if c == wild {
            Tok::Any
        } else if c == single {
            Tok::One
        } else {
            Tok::Char(c.to_lowercase().next().unwrap_or(c))
        });
    }
    out
}

fn schema(s: Option<&str>) -> Result<Schema> {
    match s.map(str::trim) {
        None | Some("") | Some(CSW_NS) | Some("csw:Record") => Ok(Schema::Csw),
        Some(GMD_NS) | Some("gmd:MD_Metadata") => Ok(Schema::Iso),
        Some(other) => Err(CswError::invalid(
            "outputSchema",
            format!("'{other}' is not offered: {CSW_NS} or {GMD_NS}"),
        )),
    }
}

fn esn(s: Option<&str>) -> Result<Esn> {
    match s.map(|s| s.trim().to_ascii_lowercase()).as_deref() {
        None | Some("") | Some("full") => Ok(Esn::Full),
        Some("summary") => Ok(Esn::Summary),
        Some("brief") => Ok(Esn::Brief),
        Some(other) => Err(CswError::invalid(
            "ElementSetName",
            format!("'{other}': brief, summary or full"),
        )),
    }
}

fn result_type(s: Option<&str>) -> Result<ResultType> {
    match s.map(|s| s.trim().to_ascii_lowercase()).as_deref() {
        None | Some("") | Some("results") => Ok(ResultType::Results),
        Some("hits") => Ok(ResultType::Hits),
        Some(other) => Err(CswError::invalid(
            "resultType",
            format!("'{other}': results or hits"),
        )),
    }
}

fn number(name: &str, s: Option<&str>, default: usize) -> Result<usize> {
    match s.map(str::trim) {
        None | Some("") => Ok(default),
        Some(v) => v
            .parse()
            .map_err(|_| CswError::invalid(name, format!("'{v}' is not a whole number"))),
    }
}

fn type_names(s: Option<&str>) -> Result<()> {
    for t in s
        .unwrap_or("csw:Record")
        .split([',', ' '])
        .filter(|t| !t.is_empty())
    {
        if !matches!(t.rsplit(':').next(), Some("Record") | Some("MD_Metadata")) {
            return Err(CswError::invalid(
                "typeNames",
                format!("'{t}': csw:Record or gmd:MD_Metadata"),
            ));
        }
    }
    Ok(())
}

fn output_format(s: Option<&str>) -> Result<()> {
    match s.map(str::trim) {
        None | Some("") | Some("application/xml") | Some("text/xml") => Ok(()),
        Some(other) => Err(CswError::invalid(
            "outputFormat",
            format!("'{other}': application/xml"),
        )),
    }
}

fn start_and_max(start: Option<&str>, max: Option<&str>) -> Result<(usize, usize)> {
    let start = number("startPosition", start, 1)?;
    if start == 0 {
        return Err(CswError::invalid("startPosition", "starts at 1"));
    }
    Ok((start, number("maxRecords", max, 10)?.min(MAX_RECORDS)))
}

/// `sortBy=title:A,modified:D` (KVP): the first key.
fn sort_kvp(s: Option<&str>) -> Result<Option<(Prop, bool)>> {
    let Some(first) = s
        .and_then(|s| s.split(',').next())
        .filter(|s| !s.is_empty())
    else {
        return Ok(None);
    };
    let (name, order) = first.split_once(':').unwrap_or((first, "A"));
    Ok(Some((Prop::parse(name)?, !order.eq_ignore_ascii_case("D"))))
}

/// A request from KVP parameters (keys in any case).
pub fn from_kvp(params: &HashMap<String, String>) -> Result<Request> {
    let p: HashMap<String, &str> = params
        .iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v.as_str()))
        .collect();
    let get = |k: &str| p.get(k).copied();
    if let Some(s) = get("service").filter(|s| !s.eq_ignore_ascii_case("CSW")) {
        return Err(CswError::invalid("service", format!("'{s}': CSW")));
    }
    let request = get("request").ok_or_else(|| CswError::missing("request"))?;
    if !request.eq_ignore_ascii_case("GetCapabilities") {
        match get("version") {
            Some("2.0.2") => {}
            Some(v) => return Err(CswError::invalid("version", format!("'{v}': 2.0.2"))),
            None => return Err(CswError::missing("version")),
        }
    }
    match request.to_ascii_lowercase().as_str() {
        "getcapabilities" => Ok(Request::GetCapabilities),
        "describerecord" => Ok(Request::DescribeRecord(
            get("typename")
                .map(|t| t.split(',').map(|s| s.trim().to_string()).collect())
                .unwrap_or_default(),
        )),
        "getrecords" => {
            type_names(get("typenames"))?;
            output_format(get("outputformat"))?;
            let (start, max) = start_and_max(get("startposition"), get("maxrecords"))?;
            let filter = match (get("constraintlanguage"), get("constraint")) {
                (_, None) | (_, Some("")) => None,
                (Some(l), Some(c)) if l.eq_ignore_ascii_case("FILTER") => Some(filter_xml(c)?),
                (Some(l), Some(_)) if l.eq_ignore_ascii_case("CQL_TEXT") => {
                    return Err(CswError::invalid(
                        "constraintLanguage",
                        "CQL_TEXT is not supported: send an OGC Filter (constraintLanguage=FILTER)",
                    ))
                }
                (_, Some(_)) => return Err(CswError::missing("constraintLanguage")),
            };
            Ok(Request::GetRecords(GetRecords {
                result_type: result_type(get("resulttype"))?,
                schema: schema(get("outputschema"))?,
                esn: esn(get("elementsetname"))?,
                start,
                max,
                filter,
                sort: sort_kvp(get("sortby"))?,
            }))
        }
        "getrecordbyid" => {
            output_format(get("outputformat"))?;
            let ids: Vec<String> = get("id")
                .ok_or_else(|| CswError::missing("id"))?
                .split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect();
            if ids.is_empty() {
                return Err(CswError::missing("id"));
            }
            Ok(Request::GetRecordById {
                ids,
                schema: schema(get("outputschema"))?,
                esn: esn(get("elementsetname"))?,
            })
        }
        other => Err(CswError::unsupported(other)),
    }
}

fn parse_xml(body: &str) -> Result<roxmltree::Document<'_>> {
    roxmltree::Document::parse(body)
        .map_err(|e| CswError::invalid("request", format!("not well-formed XML: {e}")))
}

fn children<'a, 'i>(n: Node<'a, 'i>) -> impl Iterator<Item = Node<'a, 'i>> {
    n.children().filter(|c| c.is_element())
}

fn child<'a, 'i>(n: Node<'a, 'i>, name: &str) -> Option<Node<'a, 'i>> {
    children(n).find(|c| c.tag_name().name() == name)
}

fn text_of(n: Option<Node>) -> String {
    n.and_then(|n| n.text()).unwrap_or("").trim().to_string()
}

/// A request from an XML POST body.
pub fn from_xml(body: &str) -> Result<Request> {
    let doc = parse_xml(body)?;
    let root = doc.root_element();
    if root.tag_name().namespace() != Some(CSW_NS) {
        return Err(CswError::invalid(
            "request",
            format!("the root element must be in {CSW_NS}"),
        ));
    }
    if let Some(s) = root.attribute("service").filter(|s| *s != "CSW") {
        return Err(CswError::invalid("service", format!("'{s}': CSW")));
    }
    let name = root.tag_name().name();
    if name != "GetCapabilities" {
        match root.attribute("version") {
            Some("2.0.2") => {}
            Some(v) => return Err(CswError::invalid("version", format!("'{v}': 2.0.2"))),
            None => return Err(CswError::missing("version")),
        }
    }
    match name {
        "GetCapabilities" => Ok(Request::GetCapabilities),
        "DescribeRecord" => Ok(Request::DescribeRecord(
            children(root)
                .filter(|c| c.tag_name().name() == "TypeName")
                .map(|c| text_of(Some(c)))
                .collect(),
        )),
        "GetRecords" => {
            output_format(root.attribute("outputFormat"))?;
            let query = child(root, "Query").ok_or_else(|| CswError::missing("Query"))?;
            type_names(query.attribute("typeNames"))?;
            let (start, max) = start_and_max(
                root.attribute("startPosition"),
                root.attribute("maxRecords"),
            )?;
            let filter = match child(query, "Constraint") {
                None => None,
                Some(c) => match (child(c, "Filter"), child(c, "CqlText")) {
                    (Some(f), _) => Some(filter(f)?),
                    (None, Some(_)) => {
                        return Err(CswError::invalid(
                            "CqlText",
                            "CQL text is not supported: send an OGC Filter",
                        ))
                    }
                    (None, None) => None,
                },
            };
            let sort = match child(query, "SortBy").and_then(|s| child(s, "SortProperty")) {
                None => None,
                Some(sp) => Some((
                    Prop::parse(&text_of(child(sp, "PropertyName")))?,
                    !text_of(child(sp, "SortOrder")).eq_ignore_ascii_case("DESC"),
                )),
            };
            let esn_text = child(query, "ElementSetName").map(|n| text_of(Some(n)));
            Ok(Request::GetRecords(GetRecords {
                result_type: result_type(root.attribute("resultType"))?,
                schema: schema(root.attribute("outputSchema"))?,
                esn: esn(esn_text.as_deref())?,
                start,
                max,
                filter,
                sort,
            }))
        }
        "GetRecordById" => {
            output_format(root.attribute("outputFormat"))?;
            let ids: Vec<String> = children(root)
                .filter(|c| c.tag_name().name() == "Id")
                .map(|c| text_of(Some(c)))
                .collect();
            if ids.is_empty() {
                return Err(CswError::missing("Id"));
            }
            let esn_text = child(root, "ElementSetName").map(|n| text_of(Some(n)));
            Ok(Request::GetRecordById {
                ids,
                schema: schema(root.attribute("outputSchema"))?,
                esn: esn(esn_text.as_deref())?,
            })
        }
        other => Err(CswError::unsupported(other)),
    }
}

/// An OGC Filter 1.1 document (KVP `constraint`).
fn filter_xml(text: &str) -> Result<Filter> {
    let doc = parse_xml(text)?;
    filter(doc.root_element())
}

const MAX_DEPTH: usize = 32;

fn filter(n: Node) -> Result<Filter> {
    filter_at(n, 0)
}

fn filter_at(n: Node, depth: usize) -> Result<Filter> {
    if depth > MAX_DEPTH {
        return Err(CswError::invalid("Filter", "nested too deep"));
    }
    if n.tag_name().namespace() != Some(OGC_NS) {
        return Err(CswError::invalid(
            "Filter",
            format!(
                "'{}' is not an OGC Filter element ({OGC_NS})",
                n.tag_name().name()
            ),
        ));
    }
    let name = n.tag_name().name();
    let subs = || -> Result<Vec<Filter>> { children(n).map(|c| filter_at(c, depth + 1)).collect() };
    let prop = || Prop::parse(&text_of(child(n, "PropertyName")));
    let literal = || text_of(child(n, "Literal"));
    Ok(match name {
        "Filter" => {
            let mut all = subs()?;
            match all.len() {
                0 => return Err(CswError::invalid("Filter", "an empty filter")),
                1 => all.remove(0),
                _ => Filter::And(all),
            }
        }
        "And" => Filter::And(subs()?),
        "Or" => Filter::Or(subs()?),
        "Not" => Filter::Not(Box::new(
            subs()?
                .into_iter()
                .next()
                .ok_or_else(|| CswError::invalid("Not", "Not needs one operand"))?,
        )),
        "PropertyIsLike" => {
            let one = |a: &str, d: char| n.attribute(a).and_then(|s| s.chars().next()).unwrap_or(d);
            Filter::Like(
                prop()?,
                pattern(&literal(), one("wildCard", '%'), one("singleChar", '_'), one("escapeChar", '\\')),
            )
        }
        "PropertyIsEqualTo" => Filter::Cmp(prop()?, Op::Eq, literal()),
        "PropertyIsNotEqualTo" => Filter::Cmp(prop()?, Op::Ne, literal()),
        "PropertyIsLessThan" => Filter::Cmp(prop()?, Op::Lt, literal()),
        "PropertyIsLessThanOrEqualTo" => Filter::Cmp(prop()?, Op::Le, literal()),
        "PropertyIsGreaterThan" => Filter::Cmp(prop()?, Op::Gt, literal()),
        "PropertyIsGreaterThanOrEqualTo" => Filter::Cmp(prop()?, Op::Ge, literal()),
        "BBOX" | "Intersects" => {
            let env = children(n)
                .find(|c| c.tag_name().name() == "Envelope")
                .ok_or_else(|| CswError::invalid(name, "a gml:Envelope is required"))?;
            Filter::BBox(envelope(env)?)
        }
        other => {
            return Err(CswError::invalid(
                "Filter",
                format!("'{other}' is not supported: And, Or, Not, PropertyIsLike, PropertyIs(Not)EqualTo, PropertyIsLessThan(OrEqualTo), PropertyIsGreaterThan(OrEqualTo), BBOX"),
            ))
        }
    })
}

/// A `gml:Envelope` as [west, south, east, north]: latitude first for the EPSG URN/URI
/// of 4326, longitude first for `EPSG:4326`, CRS84 or no CRS (as pycsw and OWSLib do).
fn envelope(env: Node) -> Result<[f64; 4]> {
    let srs = env.attribute("srsName").unwrap_or("");
    let lat_first = match srs {
        ""
        | "EPSG:4326"
        | "CRS:84"
        | "urn:ogc:def:crs:OGC:1.3:CRS84"
        | "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
        | "http://www.opengis.net/gml/srs/epsg.xml#4326" => false,
        "urn:ogc:def:crs:EPSG::4326"
        | "urn:x-ogc:def:crs:EPSG:6.11:4326"
        | "urn:ogc:def:crs:EPSG:6.11:4326"
        | "http://www.opengis.net/def/crs/EPSG/0/4326" => true,
        other => {
            return Err(CswError::invalid(
                "srsName",
                format!("'{other}': only WGS 84 (EPSG:4326, CRS84) envelopes"),
            ))
        }
    };
    let corner = |name: &str| -> Result<[f64; 2]> {
        let t = text_of(child(env, name));
        let v: Vec<f64> = t
            .split_whitespace()
            .map(|s| s.parse::<f64>())
            .collect::<std::result::Result<_, _>>()
            .map_err(|_| CswError::invalid(name, format!("'{t}' is not two numbers")))?;
        match v[..] {
            [a, b] if a.is_finite() && b.is_finite() => Ok(if lat_first { [b, a] } else { [a, b] }),
            _ => Err(CswError::invalid(name, format!("'{t}' is not two numbers"))),
        }
    };
    let (lo, hi) = (corner("lowerCorner")?, corner("upperCorner")?);
    if lo[0] > hi[0] || lo[1] > hi[1] || lo[1] < -90.0 || hi[1] > 90.0 {
        return Err(CswError::invalid(
            "Envelope",
            "the lower corner must be south-west of the upper one, latitudes within ±90",
        ));
    }
    Ok([lo[0], lo[1], hi[0], hi[1]])
}

const ANSWER_NS: &str = "xmlns:csw=\"http://www.opengis.net/cat/csw/2.0.2\" \
     xmlns:dc=\"http://purl.org/dc/elements/1.1/\" \
     xmlns:dct=\"http://purl.org/dc/terms/\" \
     xmlns:ows=\"http://www.opengis.net/ows\" \
     xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\"";

fn head() -> &'static str {
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
}

fn bbox(r: &Record) -> String {
    r.bbox.map_or(String::new(), |b| {
        format!(
            "<ows:BoundingBox crs=\"urn:ogc:def:crs:EPSG::4326\" dimensions=\"2\">\
             <ows:LowerCorner>{} {}</ows:LowerCorner><ows:UpperCorner>{} {}</ows:UpperCorner>\
             </ows:BoundingBox>",
            b[1], b[0], b[3], b[2]
        )
    })
}

fn el(tag: &str, text: &str) -> String {
    format!("<{tag}>{}</{tag}>", esc(text))
}

/// A record in Dublin Core at an element set.
pub fn dublin_core(r: &Record, set: Esn) -> String {
    let mut x = String::new();
    let tag = match set {
        Esn::Brief => "csw:BriefRecord",
        Esn::Summary => "csw:SummaryRecord",
        Esn::Full => "csw:Record",
    };
    x.push_str(&format!("<{tag}>"));
    x.push_str(&el("dc:identifier", &r.identifier));
    x.push_str(&el("dc:title", &r.title));
    x.push_str(&el("dc:type", "dataset"));
    if set != Esn::Brief {
        for k in &r.keywords {
            x.push_str(&el("dc:subject", k));
        }
        for t in &r.themes {
            x.push_str(&el("dc:subject", t.it));
        }
        for f in formats(r) {
            x.push_str(&el("dc:format", f));
        }
        x.push_str(&el("dct:modified", &r.modified));
        x.push_str(&el("dct:abstract", &r.abstract_));
    }
    if set == Esn::Full {
        x.push_str(&el("dc:creator", &r.org_name));
        x.push_str(&el("dc:publisher", "Città Metropolitana di Milano"));
        x.push_str(&el(
            "dc:rights",
            &format!("{} ({})", r.licence.it, super::vocab::uri_of(r.licence)),
        ));
        x.push_str(&el("dct:license", &super::vocab::uri_of(r.licence)));
        x.push_str(&el("dc:language", "ita"));
        x.push_str(&el("dct:created", &r.created));
        for l in &r.links {
            x.push_str(&format!(
                "<dct:references scheme=\"{}\">{}</dct:references>",
                esc(l.protocol),
                esc(&l.href)
            ));
        }
    }
    x.push_str(&bbox(r));
    x.push_str(&format!("</{tag}>"));
    x
}

fn one(r: &Record, schema: Schema, set: Esn, metro_email: Option<&str>) -> String {
    match schema {
        Schema::Csw => dublin_core(r, set),
        Schema::Iso => super::iso::md_metadata(r, metro_email, false),
    }
}

fn schema_uri(s: Schema) -> &'static str {
    match s {
        Schema::Csw => CSW_NS,
        Schema::Iso => GMD_NS,
    }
}

/// The GetRecords answer over `all` (sorted by identifier).
pub fn get_records(q: &GetRecords, all: &[Record], metro_email: Option<&str>) -> String {
    let mut hits: Vec<&Record> = all
        .iter()
        .filter(|r| q.filter.as_ref().is_none_or(|f| f.matches(r)))
        .collect();
    if let Some((p, asc)) = q.sort {
        let key = |r: &Record| {
            p.values(r)
                .first()
                .cloned()
                .unwrap_or_default()
                .to_lowercase()
        };
        hits.sort_by_key(|r| key(r));
        if !asc {
            hits.reverse();
        }
    }
    let matched = hits.len();
    let page: Vec<&Record> = match q.result_type {
        ResultType::Hits => Vec::new(),
        ResultType::Results => hits.into_iter().skip(q.start - 1).take(q.max).collect(),
    };
    let next = if q.start - 1 + page.len() < matched && q.result_type == ResultType::Results {
        q.start + page.len()
    } else {
        0
    };
    let set = match q.esn {
        Esn::Brief => "brief",
        Esn::Summary => "summary",
        Esn::Full => "full",
    };
    let mut x = String::from(head());
    x.push_str(&format!(
        "<csw:GetRecordsResponse {ANSWER_NS} {} version=\"2.0.2\">\
         <csw:SearchStatus timestamp=\"{}\"/>\
         <csw:SearchResults numberOfRecordsMatched=\"{matched}\" \
         numberOfRecordsReturned=\"{}\" nextRecord=\"{next}\" recordSchema=\"{}\" \
         elementSet=\"{set}\">",
        super::iso::NAMESPACES,
        chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ"),
        page.len(),
        schema_uri(q.schema)
    ));
    for r in page {
        x.push_str(&one(r, q.schema, q.esn, metro_email));
    }
    x.push_str("</csw:SearchResults></csw:GetRecordsResponse>");
    x
}

/// The GetRecordById answer: the records with those identifiers (`{IPA}:{layer}` or the
/// layer id), in the order asked; unknown ones are left out.
pub fn get_record_by_id(
    ids: &[String],
    schema: Schema,
    set: Esn,
    all: &[Record],
    metro_email: Option<&str>,
) -> String {
    let mut x = String::from(head());
    x.push_str(&format!(
        "<csw:GetRecordByIdResponse {ANSWER_NS} {}>",
        super::iso::NAMESPACES
    ));
    for id in ids {
        if let Some(r) = all
            .iter()
            .find(|r| &r.identifier == id || &r.layer_id == id)
        {
            x.push_str(&one(r, schema, set, metro_email));
        }
    }
    x.push_str("</csw:GetRecordByIdResponse>");
    x
}

/// DescribeRecord: our own short schemas of the two record types (the full ones are
/// OGC's and ISO's, named by `schemaLocation`).
pub fn describe_record(types: &[String]) -> Result<String> {
    let want = |t: &str| types.is_empty() || types.iter().any(|x| x.ends_with(t));
    for t in types {
        type_names(Some(t))?;
    }
    let mut x = String::from(head());
    x.push_str(&format!("<csw:DescribeRecordResponse {ANSWER_NS}>"));
    if want("Record") {
        x.push_str(&format!(
            "<csw:SchemaComponent targetNamespace=\"{CSW_NS}\" \
             schemaLanguage=\"http://www.w3.org/XML/Schema\">\
             <xs:schema xmlns:xs=\"http://www.w3.org/2001/XMLSchema\" \
             targetNamespace=\"{CSW_NS}\" elementFormDefault=\"qualified\">\
             <xs:import namespace=\"http://purl.org/dc/terms/\" \
             schemaLocation=\"http://schemas.opengis.net/csw/2.0.2/rec-dcterms.xsd\"/>\
             <xs:import namespace=\"http://www.opengis.net/ows\" \
             schemaLocation=\"http://schemas.opengis.net/ows/1.0.0/owsAll.xsd\"/>\
             <xs:element name=\"Record\"><xs:annotation><xs:documentation>\
             dc:identifier ({{IPA}}:{{layer}}), dc:title, dc:type (dataset), dc:subject \
             (keywords, EU data themes), dc:format (download media types), dct:modified, \
             dct:abstract, dc:creator (the comune), dc:publisher, dc:rights, dct:license, \
             dc:language, dct:created, dct:references (downloads and services), \
             ows:BoundingBox (EPSG:4326, latitude first)\
             </xs:documentation></xs:annotation></xs:element>\
             </xs:schema></csw:SchemaComponent>"
        ));
    }
    if want("MD_Metadata") {
        x.push_str(&format!(
            "<csw:SchemaComponent targetNamespace=\"{GMD_NS}\" \
             schemaLanguage=\"http://www.w3.org/XML/Schema\">\
             <xs:schema xmlns:xs=\"http://www.w3.org/2001/XMLSchema\" \
             targetNamespace=\"{GMD_NS}\"><xs:include \
             schemaLocation=\"http://schemas.opengis.net/iso/19139/20070417/gmd/gmd.xsd\"/>\
             </xs:schema></csw:SchemaComponent>"
        ));
    }
    x.push_str("</csw:DescribeRecordResponse>");
    Ok(x)
}

/// GetCapabilities, with `url` the endpoint (GET and POST).
pub fn capabilities(url: &str, metro_email: Option<&str>) -> String {
    let url = esc(url);
    let dcp = format!(
        "<ows:DCP><ows:HTTP><ows:Get xlink:href=\"{url}?\"/><ows:Post xlink:href=\"{url}\">\
         <ows:Constraint name=\"PostEncoding\"><ows:Value>XML</ows:Value></ows:Constraint>\
         </ows:Post></ows:HTTP></ows:DCP>"
    );
    let values = |name: &str, vs: &[&str]| {
        let v: String = vs
            .iter()
            .map(|v| format!("<ows:Value>{v}</ows:Value>"))
            .collect();
        format!("<ows:Parameter name=\"{name}\">{v}</ows:Parameter>")
    };
    let op = |name: &str, params: String| {
        format!("<ows:Operation name=\"{name}\">{dcp}{params}</ows:Operation>")
    };
    let schemas = values("outputSchema", &[CSW_NS, GMD_NS]);
    let sets = values("ElementSetName", &["brief", "summary", "full"]);
    let format = values("outputFormat", &["application/xml"]);
    let queryables = "<ows:Constraint name=\"SupportedDublinCoreQueryables\">\
         <ows:Value>csw:AnyText</ows:Value><ows:Value>dc:title</ows:Value>\
         <ows:Value>dct:abstract</ows:Value><ows:Value>dc:subject</ows:Value>\
         <ows:Value>dc:identifier</ows:Value><ows:Value>dc:type</ows:Value>\
         <ows:Value>dct:modified</ows:Value><ows:Value>dc:format</ows:Value>\
         <ows:Value>ows:BoundingBox</ows:Value></ows:Constraint>\
         <ows:Constraint name=\"SupportedISOQueryables\">\
         <ows:Value>apiso:AnyText</ows:Value><ows:Value>apiso:Title</ows:Value>\
         <ows:Value>apiso:Abstract</ows:Value><ows:Value>apiso:Subject</ows:Value>\
         <ows:Value>apiso:Identifier</ows:Value><ows:Value>apiso:Type</ows:Value>\
         <ows:Value>apiso:Modified</ows:Value><ows:Value>apiso:CreationDate</ows:Value>\
         <ows:Value>apiso:OrganisationName</ows:Value><ows:Value>apiso:Format</ows:Value>\
         <ows:Value>apiso:BoundingBox</ows:Value></ows:Constraint>";
    let email = metro_email.map_or(String::new(), |e| {
        format!(
            "<ows:ContactInfo><ows:Address><ows:ElectronicMailAddress>{}\
             </ows:ElectronicMailAddress></ows:Address></ows:ContactInfo>",
            esc(e)
        )
    });
    let mut x = String::from(head());
    x.push_str(&format!(
        "<csw:Capabilities {ANSWER_NS} xmlns:ogc=\"{OGC_NS}\" xmlns:gml=\"http://www.opengis.net/gml\" \
         xmlns:xlink=\"http://www.w3.org/1999/xlink\" version=\"2.0.2\">\
         <ows:ServiceIdentification><ows:Title>Atlante – catalogo dei dati territoriali della \
         Città Metropolitana di Milano</ows:Title><ows:Abstract>I dataset pubblici dei comuni \
         della Città Metropolitana di Milano, con metadati secondo il profilo RNDT \
         (ISO 19139) e Dublin Core.</ows:Abstract><ows:Keywords><ows:Keyword>CSW</ows:Keyword>\
         <ows:Keyword>RNDT</ows:Keyword><ows:Keyword>INSPIRE</ows:Keyword>\
         <ows:Keyword>Città Metropolitana di Milano</ows:Keyword></ows:Keywords>\
         <ows:ServiceType>CSW</ows:ServiceType><ows:ServiceTypeVersion>2.0.2\
         </ows:ServiceTypeVersion><ows:Fees>none</ows:Fees>\
         <ows:AccessConstraints>none</ows:AccessConstraints></ows:ServiceIdentification>\
         <ows:ServiceProvider><ows:ProviderName>Città Metropolitana di Milano</ows:ProviderName>\
         <ows:ServiceContact><ows:IndividualName>SIT metropolitano</ows:IndividualName>\
         {email}<ows:Role>pointOfContact</ows:Role></ows:ServiceContact></ows:ServiceProvider>\
         <ows:OperationsMetadata>{}{}{}{}\
         <ows:Parameter name=\"service\"><ows:Value>CSW</ows:Value></ows:Parameter>\
         <ows:Parameter name=\"version\"><ows:Value>2.0.2</ows:Value></ows:Parameter>\
         <ows:Constraint name=\"IsoProfiles\"><ows:Value>{GMD_NS}</ows:Value></ows:Constraint>\
         <ows:Constraint name=\"PostEncoding\"><ows:Value>XML</ows:Value></ows:Constraint>\
         </ows:OperationsMetadata>\
         <ogc:Filter_Capabilities><ogc:Spatial_Capabilities><ogc:GeometryOperands>\
         <ogc:GeometryOperand>gml:Envelope</ogc:GeometryOperand></ogc:GeometryOperands>\
         <ogc:SpatialOperators><ogc:SpatialOperator name=\"BBOX\"/>\
         <ogc:SpatialOperator name=\"Intersects\"/></ogc:SpatialOperators>\
         </ogc:Spatial_Capabilities><ogc:Scalar_Capabilities><ogc:LogicalOperators/>\
         <ogc:ComparisonOperators><ogc:ComparisonOperator>Like</ogc:ComparisonOperator>\
         <ogc:ComparisonOperator>EqualTo</ogc:ComparisonOperator>\
         <ogc:ComparisonOperator>NotEqualTo</ogc:ComparisonOperator>\
         <ogc:ComparisonOperator>LessThan</ogc:ComparisonOperator>\
         <ogc:ComparisonOperator>LessThanEqualTo</ogc:ComparisonOperator>\
         <ogc:ComparisonOperator>GreaterThan</ogc:ComparisonOperator>\
         <ogc:ComparisonOperator>GreaterThanEqualTo</ogc:ComparisonOperator>\
         </ogc:ComparisonOperators></ogc:Scalar_Capabilities><ogc:Id_Capabilities>\
         <ogc:EID/><ogc:FID/></ogc:Id_Capabilities></ogc:Filter_Capabilities>\
         </csw:Capabilities>",
        op("GetCapabilities", values("sections", &["ServiceIdentification", "ServiceProvider", "OperationsMetadata", "Filter_Capabilities"])),
        op("DescribeRecord", format!("{}{}", values("typeName", &["csw:Record", "gmd:MD_Metadata"]), values("schemaLanguage", &["http://www.w3.org/XML/Schema"]))),
        op("GetRecords", format!("{}{}{}{}{}{}{queryables}", values("typeNames", &["csw:Record", "gmd:MD_Metadata"]), schemas, sets, format, values("resultType", &["hits", "results"]), values("CONSTRAINTLANGUAGE", &["FILTER"]))),
        op("GetRecordById", format!("{schemas}{sets}{format}")),
    ));
    x
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_patterns() {
        let m = |text: &str, p: &str| {
            like(
                &text.chars().collect::<Vec<_>>(),
                &pattern(p, '%', '_', '\\'),
            )
        };
        assert!(m("nuclei di identità locale", "%identità%"));
        assert!(m("nil", "n_l"));
        assert!(m("nil", "%"));
        assert!(!m("nil", "n_"));
        assert!(m("a%b", "a\\%b"));
        assert!(!m("axb", "a\\%b"));
        assert!(m("abcabd", "%abd"));
        assert!(!m("", "_"));
    }

    #[test]
    fn kvp_and_xml_requests() {
        let kvp: HashMap<String, String> = [
            ("SERVICE", "CSW"),
            ("VERSION", "2.0.2"),
            ("REQUEST", "GetRecords"),
            ("typeNames", "csw:Record"),
            ("resultType", "results"),
            ("startPosition", "3"),
            ("maxRecords", "2"),
            ("constraintLanguage", "FILTER"),
            ("constraint", "<ogc:Filter xmlns:ogc=\"http://www.opengis.net/ogc\"><ogc:PropertyIsLike wildCard=\"*\" singleChar=\"?\" escapeChar=\"!\"><ogc:PropertyName>AnyText</ogc:PropertyName><ogc:Literal>*metro*</ogc:Literal></ogc:PropertyIsLike></ogc:Filter>"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let Request::GetRecords(q) = from_kvp(&kvp).unwrap() else {
            panic!()
        };
        assert_eq!((q.start, q.max), (3, 2));
        assert!(matches!(q.filter, Some(Filter::Like(Prop::AnyText, _))));

        let xml = r#"<csw:GetRecords xmlns:csw="http://www.opengis.net/cat/csw/2.0.2" xmlns:ogc="http://www.opengis.net/ogc" xmlns:gml="http://www.opengis.net/gml" service="CSW" version="2.0.2" resultType="hits" outputSchema="http://www.isotc211.org/2005/gmd"><csw:Query typeNames="gmd:MD_Metadata"><csw:ElementSetName>brief</csw:ElementSetName><csw:Constraint version="1.1.0"><ogc:Filter><ogc:BBOX><ogc:PropertyName>ows:BoundingBox</ogc:PropertyName><gml:Envelope srsName="urn:ogc:def:crs:EPSG::4326"><gml:lowerCorner>45.4 9.1</gml:lowerCorner><gml:upperCorner>45.5 9.2</gml:upperCorner></gml:Envelope></ogc:BBOX></ogc:Filter></csw:Constraint></csw:Query></csw:GetRecords>"#;
        let Request::GetRecords(q) = from_xml(xml).unwrap() else {
            panic!()
        };
        assert_eq!(q.result_type, ResultType::Hits);
        assert_eq!(q.schema, Schema::Iso);
        assert_eq!(q.esn, Esn::Brief);
        assert_eq!(q.filter, Some(Filter::BBox([9.1, 45.4, 9.2, 45.5])));
    }

    #[test]
    fn bad_requests_say_what_is_wrong() {
        let bad = |xml: &str| from_xml(xml).unwrap_err();
        assert_eq!(bad("<x").code, "InvalidParameterValue");
        let dtd = "<!DOCTYPE x [<!ENTITY a \"aaaa\">]><csw:GetCapabilities xmlns:csw=\"http://www.opengis.net/cat/csw/2.0.2\">&a;</csw:GetCapabilities>";
        assert!(bad(dtd).text.contains("not well-formed"), "no DTD");
        let e = bad(
            r#"<csw:GetRecords xmlns:csw="http://www.opengis.net/cat/csw/2.0.2" service="CSW" version="2.0.2" outputSchema="urn:x"><csw:Query typeNames="csw:Record"/></csw:GetRecords>"#,
        );
        assert_eq!(e.locator, "outputSchema");
        let e = bad(
            r#"<csw:Harvest xmlns:csw="http://www.opengis.net/cat/csw/2.0.2" service="CSW" version="2.0.2"/>"#,
        );
        assert_eq!(e.code, "OperationNotSupported");
        let mut deep = String::from("<ogc:Filter xmlns:ogc=\"http://www.opengis.net/ogc\">");
        deep.push_str(&"<ogc:Not>".repeat(40));
        deep.push_str(&"</ogc:Not>".repeat(40));
        deep.push_str("</ogc:Filter>");
        assert!(filter_xml(&deep).unwrap_err().text.contains("deep"));
        let e = from_kvp(&[("request".to_string(), "GetRecords".to_string())].into()).unwrap_err();
        assert_eq!(
            (e.code, e.locator.as_str()),
            ("MissingParameterValue", "version")
        );
    }
}
