//! A checked CQL2 filter ([`Cond`]) → SQL for one store: the only place filters become
//! SQL, beside the stores that run it. The output is a list of pieces: SQL text made only of
//! keywords, operators and catalog identifiers (quoted), and bind pieces the store binds
//! with its own placeholders. Both dialects keep the same semantics:
//! text order is byte order, LIKE is case-sensitive with `\` as escape, CASEI is Unicode
//! lower case, spatial predicates follow DE-9IM (PostGIS functions, or `atlante_relate`,
//! which the GeoPackage store registers on its SQLite connections).

use super::quote_ident;
use crate::cql2::{Bind, Cond, SpatialOp, Val};
use crate::model::{FieldType, Layer};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Postgres,
    Sqlite,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Piece {
    Sql(String),
    Bind(Bind),
}

/// The code `atlante_relate` takes for each spatial function.
pub fn relate_code(op: SpatialOp) -> i64 {
    SpatialOp::ALL.iter().position(|o| *o == op).unwrap_or(0) as i64
}

pub fn relate_op(code: i64) -> Option<SpatialOp> {
    usize::try_from(code)
        .ok()
        .and_then(|i| SpatialOp::ALL.get(i).copied())
}

/// Compiles a checked filter for `layer` in dialect `d`.
pub fn compile(c: &Cond, layer: &Layer, d: Dialect) -> Vec<Piece> {
    let mut w = Writer {
        layer,
        d,
        out: Vec::new(),
    };
    w.cond(c);
    w.out
}

struct Writer<'a> {
    layer: &'a Layer,
    d: Dialect,
    out: Vec<Piece>,
}

impl Writer<'_> {
    fn sql(&mut self, s: &str) {
        match self.out.last_mut() {
            Some(Piece::Sql(t)) => t.push_str(s),
            _ => self.out.push(Piece::Sql(s.to_string())),
        }
    }

    fn join(&mut self, parts: &[Cond], sep: &str) {
        self.sql("(");
        for (i, p) in parts.iter().enumerate() {
            if i > 0 {
                self.sql(sep);
            }
            self.cond(p);
        }
        self.sql(")");
    }

    fn cond(&mut self, c: &Cond) {
        match c {
            Cond::And(v) if v.is_empty() => self.sql("(1=1)"),
            Cond::Or(v) if v.is_empty() => self.sql("(1=0)"),
            Cond::And(v) => self.join(v, " AND "),
            Cond::Or(v) => self.join(v, " OR "),
            Cond::Not(x) => {
                self.sql("(NOT ");
                self.cond(x);
                self.sql(")");
            }
            Cond::Const(true) => self.sql("(1=1)"),
            Cond::Const(false) => self.sql("(1=0)"),
            Cond::Compare(op, a, b) => {
                self.sql("(");
                self.ordered(a);
                self.sql(&format!(" {} ", op.sql()));
                self.ordered(b);
                self.sql(")");
            }
            Cond::Like(a, p) => {
                self.sql("(");
                self.val(a);
                self.sql(" LIKE ");
                self.val(p);
                self.sql(" ESCAPE '\\')");
            }
            Cond::Between(a, lo, hi) => {
                self.sql("(");
                self.ordered(a);
                self.sql(" BETWEEN ");
                self.ordered(lo);
                self.sql(" AND ");
                self.ordered(hi);
                self.sql(")");
            }
            Cond::In(a, list) => {
                self.sql("(");
                self.ordered(a);
                self.sql(" IN (");
                for (i, v) in list.iter().enumerate() {
                    if i > 0 {
                        self.sql(", ");
                    }
                    self.ordered(v);
                }
                self.sql("))");
            }
            Cond::IsNull(a) => {
                self.sql("(");
                self.val(a);
                self.sql(" IS NULL)");
            }
            Cond::Spatial(op, a, b) => {
                match self.d {
                    Dialect::Postgres => {
                        let f = match op {
                            SpatialOp::Intersects => "ST_Intersects",
                            SpatialOp::Equals => "ST_Equals",
                            SpatialOp::Disjoint => "ST_Disjoint",
                            SpatialOp::Touches => "ST_Touches",
                            SpatialOp::Within => "ST_Within",
                            SpatialOp::Overlaps => "ST_Overlaps",
                            SpatialOp::Crosses => "ST_Crosses",
                            SpatialOp::Contains => "ST_Contains",
                        };
                        self.sql(&format!("{f}("));
                    }
                    Dialect::Sqlite => self.sql(&format!("atlante_relate({}, ", relate_code(*op))),
                }
                self.val(a);
                self.sql(", ");
                self.val(b);
                self.sql(")");
            }
        }
    }

    fn is_text(&self, v: &Val) -> bool {
        match v {
            Val::Field(i) => self
                .layer
                .fields
                .get(*i)
                .is_some_and(|f| f.kind == FieldType::Text),
            Val::Bind(Bind::Text(_)) | Val::Lower(_) => true,
            _ => false,
        }
    }

    /// An operand of an ordering comparison: PostgreSQL compares text bytewise, as SQLite.
    fn ordered(&mut self, v: &Val) {
        if self.d == Dialect::Postgres && self.is_text(v) {
            self.sql("(");
            self.val(v);
            self.sql(" COLLATE \"C\")");
        } else {
            self.val(v);
        }
    }

    fn val(&mut self, v: &Val) {
        match v {
            Val::Field(i) => {
                let name = self.layer.fields.get(*i).map_or("fid", |f| f.name.as_str());
                self.sql(&quote_ident(name));
            }
            Val::Geometry => self.sql("geom"),
            Val::Lower(x) => {
                match self.d {
                    Dialect::Postgres => {
                        // ICU lower case is Unicode-aware whatever the database locale.
                        self.sql("lower((");
                        self.val(x);
                        self.sql(") COLLATE \"und-x-icu\")");
                    }
                    Dialect::Sqlite => {
                        self.sql("atlante_lower(");
                        self.val(x);
                        self.sql(")");
                    }
                }
            }
            Val::Bind(b) => {
                let (before, after) = match (self.d, b) {
                    (Dialect::Postgres, Bind::Date(_)) => ("CAST(", " AS date)"),
                    (Dialect::Postgres, Bind::Timestamp(_)) => ("CAST(", " AS timestamptz)"),
                    (Dialect::Postgres, Bind::Geometry(_)) => ("ST_GeomFromWKB(", ", 4326)"),
                    (Dialect::Postgres, Bind::Text(_)) => ("CAST(", " AS text)"),
                    _ => ("", ""),
                };
                self.sql(before);
                self.out.push(Piece::Bind(b.clone()));
                self.sql(after);
            }
        }
    }
}

/// The box any feature matching `c` must intersect, when `c` requires a spatial relation
/// with a literal that implies intersection (an index can narrow the candidates with it).
pub fn envelope(c: &Cond) -> Option<[f64; 4]> {
    match c {
        Cond::And(v) => v.iter().find_map(envelope),
        Cond::Spatial(op, Val::Geometry, Val::Bind(Bind::Geometry(wkb)))
        | Cond::Spatial(op, Val::Bind(Bind::Geometry(wkb)), Val::Geometry)
            if *op != SpatialOp::Disjoint =>
        {
            crate::geom::from_wkb(wkb).and_then(|g| crate::geom::bbox(&g))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cql2::{check::check, parse};
    use crate::model::{Field, GeomType};

    pub(crate) fn layer() -> Layer {
        let field = |name: &str, kind| Field {
            name: name.into(),
            label: name.to_uppercase(),
            kind,
        };
        let mut l = Layer::sketch("t", GeomType::Point, Vec::new());
        l.fields = vec![
            field("name", FieldType::Text),
            field("pop", FieldType::Integer),
            field("open", FieldType::Boolean),
            field("since", FieldType::Date),
            field("at", FieldType::Datetime),
        ];
        l
    }

    fn sql(f: &str, d: Dialect) -> String {
        let l = layer();
        let c = check(&parse(f, None).unwrap(), &l, None).unwrap();
        compile(&c, &l, d)
            .iter()
            .map(|p| match p {
                Piece::Sql(s) => s.clone(),
                Piece::Bind(_) => "?".into(),
            })
            .collect()
    }

    #[test]
    fn values_are_binds() {
        let s = sql(
            "name = 'x''; DROP TABLE t; --' AND pop > 3",
            Dialect::Sqlite,
        );
        assert_eq!(s, "((\"name\" = ?) AND (\"pop\" > ?))");
        let s = sql("CASEI(name) LIKE casei('A%')", Dialect::Postgres);
        assert!(s.contains("lower((\"name\") COLLATE \"und-x-icu\")"), "{s}");
        let s = sql("S_WITHIN(geometry, BBOX(9,45,10,46))", Dialect::Sqlite);
        assert_eq!(s, "atlante_relate(4, geom, ?)");
    }

    #[test]
    fn temporal_becomes_comparisons() {
        let s = sql(
            "T_DURING(at, INTERVAL('2020-01-01T00:00:00Z', '..'))",
            Dialect::Sqlite,
        );
        assert_eq!(s, "((\"at\" > ?) AND ((NOT (\"at\" IS NULL))))");
        let s = sql("T_AFTER(since, DATE('2020-01-01'))", Dialect::Postgres);
        assert_eq!(s, "(\"since\" > CAST(? AS date))");
    }

    #[test]
    fn type_errors() {
        let l = layer();
        for (f, msg) in [
            ("name = 3", "cannot compare"),
            ("pop LIKE 'a'", "LIKE compares text"),
            ("open < TRUE", "booleans"),
            ("S_INTERSECTS(name, POINT(1 2))", "takes two geometries"),
            ("nope = 1", "unknown property 'nope'"),
            (
                "T_AFTER(pop, DATE('2020-01-01'))",
                "temporal functions take",
            ),
            ("since = DATE('2020-13-01')", "is not a date"),
            ("S_INTERSECTS(geometry, POINT(9 160))", "latitude"),
            (
                "S_INTERSECTS(geometry, POLYGON((0 0, 1 1, 1 0, 0 1, 0 0)))",
                "not valid",
            ),
        ] {
            let e = check(&parse(f, None).unwrap(), &l, None).unwrap_err();
            assert!(e.0.contains(msg), "{f}: {}", e.0);
        }
    }
}
