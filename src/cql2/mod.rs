//! OGC CQL2 (Common Query Language), the filter language of OGC API - Features Part 3.
//!
//! Three steps, each a pure function:
//! 1. [`text::parse`] / [`json::parse`]: the request's `filter` → an [`Expr`] (syntax only,
//!    bounded nesting and length);
//! 2. [`check::check`]: the expression against one layer's queryables → a [`Cond`] whose
//!    properties are catalog fields, whose literals are typed bound values and whose
//!    geometries are WKB in EPSG:4326 (temporal functions become comparisons here);
//! 3. [`crate::store::filter::compile`] (in the store, with all SQL): a [`Cond`] → SQL
//!    pieces for one store's dialect. Values are never SQL text: they are bind pieces the
//!    store binds. Identifiers come from the catalog, quoted.
//!
//! Classes: basic-cql2, advanced-comparison-operators, case-insensitive-comparison,
//! basic-spatial-functions(-plus), spatial-functions, temporal-functions.

pub mod check;
pub mod json;
mod lexer;
pub mod text;

use geo_types::Geometry;

/// Deepest nesting of a filter (parentheses, NOT, AND/OR operands, function arguments).
pub const MAX_DEPTH: usize = 64;
/// Longest filter text accepted, in bytes. (A URL longer than 64 KiB is refused before it
/// reaches Atlante: HTTP 414 or 431 from the HTTP layer.)
pub const MAX_LEN: usize = 16 * 1024;

/// The conformance classes of Part 3 and CQL2 Atlante implements.
pub const CONFORMANCE: &[&str] = &[
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/filter",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/features-filter",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables",
    "http://www.opengis.net/spec/cql2/1.0/conf/cql2-text",
    "http://www.opengis.net/spec/cql2/1.0/conf/cql2-json",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-cql2",
    "http://www.opengis.net/spec/cql2/1.0/conf/advanced-comparison-operators",
    "http://www.opengis.net/spec/cql2/1.0/conf/case-insensitive-comparison",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-spatial-functions",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-spatial-functions-plus",
    "http://www.opengis.net/spec/cql2/1.0/conf/spatial-functions",
    "http://www.opengis.net/spec/cql2/1.0/conf/temporal-functions",
];

#[derive(Debug, thiserror::Error, PartialEq)]
#[error("{0}")]
pub struct Error(pub String);

pub type Result<T> = std::result::Result<T, Error>;

pub(crate) fn err<T>(msg: impl Into<String>) -> Result<T> {
    Err(Error(msg.into()))
}

/// A parsed filter, not yet checked against a layer.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    And(Vec<Expr>),
    Or(Vec<Expr>),
    Not(Box<Expr>),
    Literal(bool),
    Compare(CmpOp, Operand, Operand),
    Like(Operand, Operand),
    Between(Operand, Operand, Operand),
    In(Operand, Vec<Operand>),
    IsNull(Operand),
    Spatial(SpatialOp, Operand, Operand),
    Temporal(TemporalOp, Operand, Operand),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Operand {
    Property(String),
    Text(String),
    Number(f64),
    Bool(bool),
    /// `DATE('…')`, as written.
    Date(String),
    /// `TIMESTAMP('…')`, as written.
    Timestamp(String),
    /// `INTERVAL(a, b)`: bounds are instants, properties, or `Open` (`'..'`).
    Interval(Box<Operand>, Box<Operand>),
    Open,
    /// A geometry literal, in the filter CRS.
    Geometry(Geometry<f64>),
    Casei(Box<Operand>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl CmpOp {
    pub fn sql(self) -> &'static str {
        match self {
            CmpOp::Eq => "=",
            CmpOp::Ne => "<>",
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
        }
    }
}

/// The spatial functions, by their CQL2 names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpatialOp {
    Intersects,
    Equals,
    Disjoint,
    Touches,
    Within,
    Overlaps,
    Crosses,
    Contains,
}

impl SpatialOp {
    pub const ALL: [SpatialOp; 8] = [
        SpatialOp::Intersects,
        SpatialOp::Equals,
        SpatialOp::Disjoint,
        SpatialOp::Touches,
        SpatialOp::Within,
        SpatialOp::Overlaps,
        SpatialOp::Crosses,
        SpatialOp::Contains,
    ];

    /// `S_INTERSECTS`, …
    pub fn name(self) -> &'static str {
        match self {
            SpatialOp::Intersects => "S_INTERSECTS",
            SpatialOp::Equals => "S_EQUALS",
            SpatialOp::Disjoint => "S_DISJOINT",
            SpatialOp::Touches => "S_TOUCHES",
            SpatialOp::Within => "S_WITHIN",
            SpatialOp::Overlaps => "S_OVERLAPS",
            SpatialOp::Crosses => "S_CROSSES",
            SpatialOp::Contains => "S_CONTAINS",
        }
    }

    pub fn from_name(s: &str) -> Option<SpatialOp> {
        SpatialOp::ALL
            .into_iter()
            .find(|o| o.name().eq_ignore_ascii_case(s))
    }

    /// The predicate on two geometries, as PostGIS defines it (DE-9IM).
    pub fn holds(self, a: &Geometry<f64>, b: &Geometry<f64>) -> bool {
        use geo::Relate;
        let m = a.relate(b);
        match self {
            SpatialOp::Intersects => m.is_intersects(),
            SpatialOp::Equals => m.is_equal_topo(),
            SpatialOp::Disjoint => m.is_disjoint(),
            SpatialOp::Touches => m.is_touches(),
            SpatialOp::Within => m.is_within(),
            SpatialOp::Overlaps => m.is_overlaps(),
            SpatialOp::Crosses => m.is_crosses(),
            SpatialOp::Contains => m.is_contains(),
        }
    }
}

/// The temporal functions, by their CQL2 names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TemporalOp {
    After,
    Before,
    Contains,
    Disjoint,
    During,
    Equals,
    FinishedBy,
    Finishes,
    Intersects,
    Meets,
    MetBy,
    OverlappedBy,
    Overlaps,
    StartedBy,
    Starts,
}

impl TemporalOp {
    const NAMES: [(&'static str, TemporalOp); 15] = [
        ("T_AFTER", TemporalOp::After),
        ("T_BEFORE", TemporalOp::Before),
        ("T_CONTAINS", TemporalOp::Contains),
        ("T_DISJOINT", TemporalOp::Disjoint),
        ("T_DURING", TemporalOp::During),
        ("T_EQUALS", TemporalOp::Equals),
        ("T_FINISHEDBY", TemporalOp::FinishedBy),
        ("T_FINISHES", TemporalOp::Finishes),
        ("T_INTERSECTS", TemporalOp::Intersects),
        ("T_MEETS", TemporalOp::Meets),
        ("T_METBY", TemporalOp::MetBy),
        ("T_OVERLAPPEDBY", TemporalOp::OverlappedBy),
        ("T_OVERLAPS", TemporalOp::Overlaps),
        ("T_STARTEDBY", TemporalOp::StartedBy),
        ("T_STARTS", TemporalOp::Starts),
    ];

    pub fn from_name(s: &str) -> Option<TemporalOp> {
        TemporalOp::NAMES
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(s))
            .map(|(_, o)| *o)
    }
}

/// A checked filter: what a store compiles to SQL.
#[derive(Debug, Clone, PartialEq)]
pub enum Cond {
    And(Vec<Cond>),
    Or(Vec<Cond>),
    Not(Box<Cond>),
    Const(bool),
    Compare(CmpOp, Val, Val),
    Like(Val, Val),
    Between(Val, Val, Val),
    In(Val, Vec<Val>),
    IsNull(Val),
    Spatial(SpatialOp, Val, Val),
}

/// A checked operand.
#[derive(Debug, Clone, PartialEq)]
pub enum Val {
    /// A catalog field, by index in the layer's fields.
    Field(usize),
    /// The layer's geometry column.
    Geometry,
    Bind(Bind),
    /// Unicode lower case of a text operand (CASEI).
    Lower(Box<Val>),
}

/// A literal the store binds: never SQL text.
#[derive(Debug, Clone, PartialEq)]
pub enum Bind {
    Text(String),
    Integer(i64),
    Real(f64),
    Bool(bool),
    /// `YYYY-MM-DD`.
    Date(String),
    /// `YYYY-MM-DDTHH:MM:SS.mmmZ`, as the stores keep timestamps.
    Timestamp(String),
    /// 2D WKB in EPSG:4326.
    Geometry(Vec<u8>),
}

/// Parses a `filter` in the given language (`cql2-text`, the default, or `cql2-json`).
pub fn parse(filter: &str, lang: Option<&str>) -> Result<Expr> {
    if filter.len() > MAX_LEN {
        return err(format!(
            "filter is {} bytes long; the limit is {MAX_LEN}",
            filter.len()
        ));
    }
    match lang.unwrap_or("cql2-text") {
        // `cql-text`: the draft's name, which GDAL's OAPIF driver (3.6) sends.
        "cql2-text" | "cql-text" => text::parse(filter),
        "cql2-json" => json::parse(filter),
        other => err(format!(
            "filter-lang '{other}' is not supported: use cql2-text or cql2-json"
        )),
    }
}
