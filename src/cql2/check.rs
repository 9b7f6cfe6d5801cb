//! [`Expr`] + a layer → [`Cond`]: properties resolved against the catalog, literals typed
//! and normalised, geometries moved from the filter CRS to EPSG:4326, temporal functions
//! rewritten as comparisons of interval ends (the CQL2 definitions).

use geo_types::Geometry;

use super::{err, Bind, CmpOp, Cond, Expr, Operand, Result, SpatialOp, TemporalOp, Val};
use crate::model::{FieldType, Layer};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ty {
    Number,
    Text,
    Bool,
    Date,
    Timestamp,
    Geometry,
}

impl Ty {
    fn of(kind: FieldType) -> Ty {
        match kind {
            FieldType::Integer | FieldType::Real => Ty::Number,
            FieldType::Text => Ty::Text,
            FieldType::Boolean => Ty::Bool,
            FieldType::Date => Ty::Date,
            FieldType::Datetime => Ty::Timestamp,
        }
    }
    fn name(self) -> &'static str {
        match self {
            Ty::Number => "a number",
            Ty::Text => "text",
            Ty::Bool => "a boolean",
            Ty::Date => "a date",
            Ty::Timestamp => "a timestamp",
            Ty::Geometry => "a geometry",
        }
    }
}

/// Checks `e` against `layer`. `filter_crs`: None for CRS84, else the EPSG code of the
/// geometry literals (authority axis order).
pub fn check(e: &Expr, layer: &Layer, filter_crs: Option<u32>) -> Result<Cond> {
    let mut c = Checker {
        layer,
        transformer: match filter_crs {
            None => None,
            Some(code) => Some(
                crate::crs::Transformer::new(code)
                    .ok_or_else(|| super::Error(format!("no transformation from EPSG:{code}")))?,
            ),
        },
        literals: 0,
    };
    c.cond(e)
}

struct Checker<'a> {
    layer: &'a Layer,
    transformer: Option<crate::crs::Transformer>,
    /// Literals so far: each becomes a bound parameter, and databases cap those.
    literals: usize,
}

/// Most literals (bound parameters) one filter may hold.
pub const MAX_LITERALS: usize = 2_000;

/// One end of a temporal operand.
#[derive(Clone)]
enum End {
    NegInf,
    PosInf,
    At(Val, Ty),
}

fn normalise_timestamp(s: &str) -> Result<String> {
    let d = chrono::DateTime::parse_from_rfc3339(s)
        .map_err(|_| super::Error(format!("'{s}' is not an RFC 3339 timestamp")))?;
    Ok(d.with_timezone(&chrono::Utc)
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string())
}

fn check_date(s: &str) -> Result<String> {
    chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .map_err(|_| super::Error(format!("'{s}' is not a date (YYYY-MM-DD)")))?;
    Ok(s.to_string())
}

/// A literal moved to type `to`, if it can be (text to a date or timestamp, a date to the
/// midnight UTC timestamp).
fn convert(v: Val, from: Ty, to: Ty) -> Result<Val> {
    if from == to {
        return Ok(v);
    }
    match (v, to) {
        (Val::Bind(Bind::Text(s)), Ty::Date) => Ok(Val::Bind(Bind::Date(check_date(&s)?))),
        (Val::Bind(Bind::Text(s)), Ty::Timestamp) => {
            Ok(Val::Bind(Bind::Timestamp(normalise_timestamp(&s)?)))
        }
        (Val::Bind(Bind::Date(d)), Ty::Timestamp) => {
            Ok(Val::Bind(Bind::Timestamp(format!("{d}T00:00:00.000Z"))))
        }
        (Val::Field(_), _) | (Val::Geometry, _) | (Val::Lower(_), _) => err(format!(
            "cannot compare a property holding {} with {}",
            from.name(),
            to.name()
        )),
        _ => err(format!("cannot compare {} with {}", from.name(), to.name())),
    }
}

fn is_literal(v: &Val) -> bool {
    matches!(v, Val::Bind(_))
}

/// Brings two typed operands to one type: a literal follows a property.
fn unify(a: (Val, Ty), b: (Val, Ty)) -> Result<(Val, Val, Ty)> {
    if a.1 == b.1 {
        return Ok((a.0, b.0, a.1));
    }
    if is_literal(&b.0) {
        let t = a.1;
        return Ok((a.0, convert(b.0, b.1, t)?, t));
    }
    if is_literal(&a.0) {
        let t = b.1;
        return Ok((convert(a.0, a.1, t)?, b.0, t));
    }
    err(format!("cannot compare {} with {}", a.1.name(), b.1.name()))
}

impl Checker<'_> {
    fn cond(&mut self, e: &Expr) -> Result<Cond> {
        Ok(match e {
            Expr::And(v) => Cond::And(v.iter().map(|x| self.cond(x)).collect::<Result<_>>()?),
            Expr::Or(v) => Cond::Or(v.iter().map(|x| self.cond(x)).collect::<Result<_>>()?),
            Expr::Not(x) => Cond::Not(Box::new(self.cond(x)?)),
            Expr::Literal(b) => Cond::Const(*b),
            Expr::Compare(op, a, b) => {
                let (a, b, t) = unify(self.operand(a)?, self.operand(b)?)?;
                if t == Ty::Geometry {
                    return err("geometries are compared with S_EQUALS, not '='");
                }
                if t == Ty::Bool && !matches!(op, CmpOp::Eq | CmpOp::Ne) {
                    return err("booleans are compared with '=' or '<>' only");
                }
                Cond::Compare(*op, a, b)
            }
            Expr::Like(a, p) => {
                let (a, ta) = self.operand(a)?;
                let (p, tp) = self.operand(p)?;
                if ta != Ty::Text || tp != Ty::Text {
                    return err("LIKE compares text with a text pattern");
                }
                Cond::Like(a, p)
            }
            Expr::Between(a, lo, hi) => {
                let a = self.operand(a)?;
                let t = a.1;
                if !matches!(t, Ty::Number | Ty::Date | Ty::Timestamp | Ty::Text) {
                    return err(format!("BETWEEN does not apply to {}", t.name()));
                }
                let (a, lo, _) = unify(a, self.operand(lo)?)?;
                let (a, hi, _) = unify((a, t), self.operand(hi)?)?;
                Cond::Between(a, lo, hi)
            }
            Expr::In(a, list) => {
                let (mut a, t) = self.operand(a)?;
                if t == Ty::Geometry {
                    return err("IN does not apply to geometries");
                }
                let mut vals = Vec::with_capacity(list.len());
                for x in list {
                    let (na, v, _) = unify((a, t), self.operand(x)?)?;
                    a = na;
                    vals.push(v);
                }
                Cond::In(a, vals)
            }
            Expr::IsNull(a) => Cond::IsNull(self.operand(a)?.0),
            Expr::Spatial(op, a, b) if is_collection(a) || is_collection(b) => {
                self.cond(&split_collection(*op, a, b)?)?
            }
            Expr::Spatial(op, a, b) => {
                let (a, ta) = self.operand(a)?;
                let (b, tb) = self.operand(b)?;
                if ta != Ty::Geometry || tb != Ty::Geometry {
                    return err(format!("{} takes two geometries", op.name()));
                }
                Cond::Spatial(*op, a, b)
            }
            Expr::Temporal(op, a, b) => self.temporal(*op, a, b)?,
        })
    }

    fn property(&self, name: &str) -> Result<(Val, Ty)> {
        if name == "geometry" || name == "geom" {
            return Ok((Val::Geometry, Ty::Geometry));
        }
        let fields = &self.layer.fields;
        let i = fields
            .iter()
            .position(|f| f.name == name)
            .or_else(|| fields.iter().position(|f| f.label == name))
            .ok_or_else(|| {
                let known: Vec<&str> = fields.iter().map(|f| f.name.as_str()).collect();
                super::Error(format!(
                    "unknown property '{}' for collection {} (queryables: geometry, {})",
                    name.chars().take(60).collect::<String>(),
                    self.layer.id,
                    known.join(", ")
                ))
            })?;
        Ok((Val::Field(i), Ty::of(fields[i].kind)))
    }

    fn operand(&mut self, o: &Operand) -> Result<(Val, Ty)> {
        if !matches!(o, Operand::Property(_) | Operand::Casei(_)) {
            self.literals += 1;
            if self.literals > MAX_LITERALS {
                return err(format!("filter has more than {MAX_LITERALS} literals"));
            }
        }
        Ok(match o {
            Operand::Property(p) => self.property(p)?,
            Operand::Text(s) if s.contains('\0') => {
                return err("a string literal holds a NUL character")
            }
            Operand::Text(s) => (Val::Bind(Bind::Text(s.clone())), Ty::Text),
            Operand::Number(n) => {
                let b = if n.fract() == 0.0 && n.abs() < 9.0e15 {
                    Bind::Integer(*n as i64)
                } else {
                    Bind::Real(*n)
                };
                (Val::Bind(b), Ty::Number)
            }
            Operand::Bool(b) => (Val::Bind(Bind::Bool(*b)), Ty::Bool),
            Operand::Date(s) => (Val::Bind(Bind::Date(check_date(s)?)), Ty::Date),
            Operand::Timestamp(s) => (
                Val::Bind(Bind::Timestamp(normalise_timestamp(s)?)),
                Ty::Timestamp,
            ),
            Operand::Geometry(g) => (Val::Bind(Bind::Geometry(self.geometry(g)?)), Ty::Geometry),
            Operand::Casei(inner) => {
                let (v, t) = self.operand(inner)?;
                if t != Ty::Text {
                    return err("CASEI applies to text");
                }
                (Val::Lower(Box::new(v)), Ty::Text)
            }
            Operand::Interval(..) | Operand::Open => {
                return err("an INTERVAL is only allowed in a temporal function")
            }
        })
    }

    /// A geometry literal as WKB in EPSG:4326, checked.
    fn geometry(&mut self, g: &Geometry<f64>) -> Result<Vec<u8>> {
        use geo::MapCoords;
        let g = match &mut self.transformer {
            None => g.clone(),
            Some(t) => {
                let t = std::cell::RefCell::new(t);
                let t = &t;
                g.try_map_coords(move |c| {
                    t.borrow_mut()
                        .inverse(c.x, c.y)
                        .map(|(x, y)| geo_types::Coord { x, y })
                        .ok_or_else(|| {
                            super::Error(format!(
                                "coordinate ({}, {}) is outside the filter CRS",
                                c.x, c.y
                            ))
                        })
                })?
            }
        };
        let mut ok = true;
        crate::geom::visit_coords(&g, &mut |c| {
            ok &= c.x.is_finite()
                && c.y.is_finite()
                && (-180.0..=180.0).contains(&c.x)
                && (-90.0..=90.0).contains(&c.y);
        });
        if !ok {
            return err("a filter geometry has a coordinate outside longitude -180..180, latitude -90..90 (CRS84 is longitude first)");
        }
        {
            use geo::Validation;
            if let Some(problem) = g.validation_errors().first() {
                return err(format!("the filter geometry is not valid: {problem}"));
            }
        }
        Ok(crate::geom::to_wkb(&g))
    }

    /// A temporal operand as its two ends.
    fn ends(&mut self, o: &Operand) -> Result<(End, End)> {
        let end = |c: &mut Self, o: &Operand, open: End| -> Result<End> {
            if *o == Operand::Open {
                return Ok(open);
            }
            let (v, t) = match o {
                // A plain string in a temporal function is an instant.
                Operand::Text(s) if s.len() == 10 => {
                    (Val::Bind(Bind::Date(check_date(s)?)), Ty::Date)
                }
                Operand::Text(s) => (
                    Val::Bind(Bind::Timestamp(normalise_timestamp(s)?)),
                    Ty::Timestamp,
                ),
                other => c.operand(other)?,
            };
            if !matches!(t, Ty::Date | Ty::Timestamp) {
                return err(format!(
                    "temporal functions take dates, timestamps or intervals, not {}",
                    t.name()
                ));
            }
            Ok(End::At(v, t))
        };
        match o {
            Operand::Interval(a, b) => Ok((end(self, a, End::NegInf)?, end(self, b, End::PosInf)?)),
            Operand::Open => err("'..' is only allowed as an INTERVAL bound"),
            other => {
                let e = end(self, other, End::NegInf)?;
                Ok((e.clone(), e))
            }
        }
    }

    fn temporal(&mut self, op: TemporalOp, a: &Operand, b: &Operand) -> Result<Cond> {
        let (mut is, mut ie) = self.ends(a)?;
        let (mut js, mut je) = self.ends(b)?;
        // One type for all four ends: a property's type wins; literals follow.
        let mut target = None;
        for e in [&is, &ie, &js, &je] {
            if let End::At(v, t) = e {
                if !is_literal(v) {
                    if target.is_some_and(|x| x != *t) {
                        return err("temporal function mixes date and timestamp properties");
                    }
                    target = Some(*t);
                }
            }
        }
        let target = target.unwrap_or_else(|| {
            let any_ts = [&is, &ie, &js, &je]
                .iter()
                .any(|e| matches!(e, End::At(_, Ty::Timestamp)));
            if any_ts {
                Ty::Timestamp
            } else {
                Ty::Date
            }
        });
        for e in [&mut is, &mut ie, &mut js, &mut je] {
            if let End::At(v, t) = e {
                *e = End::At(convert(v.clone(), *t, target)?, target);
            }
        }
        use CmpOp::*;
        let c = |x: &End, op: CmpOp, y: &End| compare_ends(x, op, y);
        let all = |v: Vec<Cond>| Cond::And(v);
        Ok(match op {
            TemporalOp::After => c(&is, Gt, &je),
            TemporalOp::Before => c(&ie, Lt, &js),
            TemporalOp::Contains => all(vec![c(&is, Lt, &js), c(&ie, Gt, &je)]),
            TemporalOp::Disjoint => Cond::Or(vec![c(&ie, Lt, &js), c(&is, Gt, &je)]),
            TemporalOp::During => all(vec![c(&is, Gt, &js), c(&ie, Lt, &je)]),
            TemporalOp::Equals => all(vec![c(&is, Eq, &js), c(&ie, Eq, &je)]),
            TemporalOp::FinishedBy => all(vec![c(&is, Lt, &js), c(&ie, Eq, &je)]),
            TemporalOp::Finishes => all(vec![c(&is, Gt, &js), c(&ie, Eq, &je)]),
            TemporalOp::Intersects => all(vec![c(&is, Le, &je), c(&ie, Ge, &js)]),
            TemporalOp::Meets => c(&ie, Eq, &js),
            TemporalOp::MetBy => c(&is, Eq, &je),
            TemporalOp::OverlappedBy => {
                all(vec![c(&is, Gt, &js), c(&is, Lt, &je), c(&ie, Gt, &je)])
            }
            TemporalOp::Overlaps => all(vec![c(&is, Lt, &js), c(&ie, Gt, &js), c(&ie, Lt, &je)]),
            TemporalOp::StartedBy => all(vec![c(&is, Eq, &js), c(&ie, Gt, &je)]),
            TemporalOp::Starts => all(vec![c(&is, Eq, &js), c(&ie, Lt, &je)]),
        })
    }
}

/// `x op y` where either end may be infinite: infinities fold to a constant, but a property
/// still has to be present (not NULL) for the comparison to hold.
fn compare_ends(x: &End, op: CmpOp, y: &End) -> Cond {
    let rank = |e: &End| match e {
        End::NegInf => -1,
        End::At(..) => 0,
        End::PosInf => 1,
    };
    match (x, y) {
        (End::At(a, _), End::At(b, _)) => Cond::Compare(op, a.clone(), b.clone()),
        _ => {
            let (rx, ry) = (rank(x), rank(y));
            let holds = match op {
                CmpOp::Eq => rx == ry && rx != 0,
                CmpOp::Ne => rx != ry,
                CmpOp::Lt => rx < ry,
                CmpOp::Le => rx <= ry,
                CmpOp::Gt => rx > ry,
                CmpOp::Ge => rx >= ry,
            };
            let present: Vec<Cond> = [x, y]
                .into_iter()
                .filter_map(|e| match e {
                    End::At(v, _) if !is_literal(v) => {
                        Some(Cond::Not(Box::new(Cond::IsNull(v.clone()))))
                    }
                    _ => None,
                })
                .collect();
            match (holds, present.is_empty()) {
                (false, _) => Cond::Const(false),
                (true, true) => Cond::Const(true),
                (true, false) => Cond::And(present),
            }
        }
    }
}

fn is_collection(o: &Operand) -> bool {
    matches!(o, Operand::Geometry(Geometry::GeometryCollection(_)))
}

/// The parts of a GeometryCollection, nested ones flattened.
fn parts(g: &Geometry<f64>, out: &mut Vec<Geometry<f64>>) {
    match g {
        Geometry::GeometryCollection(gc) => gc.0.iter().for_each(|p| parts(p, out)),
        other => out.push(other.clone()),
    }
}

/// A spatial predicate with a GeometryCollection literal, as predicates on its parts:
/// intersecting a collection is intersecting one of its parts, being disjoint from it is
/// being disjoint from all of them. The other predicates on a collection (whose parts may
/// overlap or differ in dimension) are refused rather than answered approximately.
fn split_collection(op: SpatialOp, a: &Operand, b: &Operand) -> Result<Expr> {
    let (other, gc, gc_first) = match (a, b) {
        (Operand::Geometry(g @ Geometry::GeometryCollection(_)), o) => (o, g, true),
        (o, Operand::Geometry(g)) => (o, g, false),
        _ => return err("expected a geometry collection"),
    };
    let mut ps = Vec::new();
    parts(gc, &mut ps);
    let each = |p: Geometry<f64>| {
        let p = Operand::Geometry(p);
        if gc_first {
            Expr::Spatial(op, p, other.clone())
        } else {
            Expr::Spatial(op, other.clone(), p)
        }
    };
    match op {
        SpatialOp::Intersects if ps.is_empty() => Ok(Expr::Literal(false)),
        SpatialOp::Disjoint if ps.is_empty() => Ok(Expr::Literal(true)),
        SpatialOp::Intersects => Ok(Expr::Or(ps.into_iter().map(each).collect())),
        SpatialOp::Disjoint => Ok(Expr::And(ps.into_iter().map(each).collect())),
        other => err(format!(
            "{} with a GEOMETRYCOLLECTION is not supported: use S_INTERSECTS or S_DISJOINT, \
             or a MULTIPOINT, MULTILINESTRING or MULTIPOLYGON",
            other.name()
        )),
    }
}
