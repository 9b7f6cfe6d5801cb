//! CQL2 JSON → [`Expr`]. serde_json refuses documents nested deeper than 128; this module
//! applies the same [`MAX_DEPTH`] as the text parser.

use serde_json::Value as Json;

use super::{err, CmpOp, Expr, Operand, Result, SpatialOp, TemporalOp, MAX_DEPTH};

pub fn parse(s: &str) -> Result<Expr> {
    let v: Json = serde_json::from_str(s).map_err(|e| {
        if e.to_string().contains("recursion limit") {
            super::Error(format!("filter is nested deeper than {MAX_DEPTH} levels"))
        } else {
            super::Error(format!("filter is not JSON: {e}"))
        }
    })?;
    expr(&v, 0)
}

fn args(v: &Json) -> Result<&[Json]> {
    v.get("args")
        .and_then(Json::as_array)
        .map(Vec::as_slice)
        .ok_or_else(|| super::Error("an operation needs an 'args' array".into()))
}

fn arity<'a>(op: &str, a: &'a [Json], n: usize) -> Result<&'a [Json]> {
    if a.len() != n {
        return err(format!("'{op}' takes {n} arguments, not {}", a.len()));
    }
    Ok(a)
}

/// Parses a JSON boolean expression.
pub fn expr(v: &Json, depth: usize) -> Result<Expr> {
    if depth > MAX_DEPTH {
        return err(format!("filter is nested deeper than {MAX_DEPTH} levels"));
    }
    if let Json::Bool(b) = v {
        return Ok(Expr::Literal(*b));
    }
    let Some(op) = v.get("op").and_then(Json::as_str) else {
        return err("a filter expression must be an object with 'op' and 'args'");
    };
    let a = args(v)?;
    let d = depth + 1;
    let lower = op.to_ascii_lowercase();
    Ok(match lower.as_str() {
        "and" | "or" => {
            if a.len() < 2 {
                return err(format!("'{op}' takes at least 2 arguments"));
            }
            let parts = a.iter().map(|x| expr(x, d)).collect::<Result<Vec<_>>>()?;
            if lower == "and" {
                Expr::And(parts)
            } else {
                Expr::Or(parts)
            }
        }
        "not" => Expr::Not(Box::new(expr(&arity(op, a, 1)?[0], d)?)),
        "=" | "<>" | "<" | "<=" | ">" | ">=" => {
            let a = arity(op, a, 2)?;
            let cmp = match op {
                "=" => CmpOp::Eq,
                "<>" => CmpOp::Ne,
                "<" => CmpOp::Lt,
                "<=" => CmpOp::Le,
                ">" => CmpOp::Gt,
                _ => CmpOp::Ge,
            };
            Expr::Compare(cmp, operand(&a[0], d)?, operand(&a[1], d)?)
        }
        "like" => {
            let a = arity(op, a, 2)?;
            Expr::Like(operand(&a[0], d)?, operand(&a[1], d)?)
        }
        "between" => {
            let a = arity(op, a, 3)?;
            Expr::Between(operand(&a[0], d)?, operand(&a[1], d)?, operand(&a[2], d)?)
        }
        "in" => {
            let a = arity(op, a, 2)?;
            let Some(list) = a[1].as_array() else {
                return err("the second argument of 'in' must be an array");
            };
            if list.is_empty() {
                return err("the list of 'in' is empty");
            }
            let list = list.iter().map(|x| operand(x, d)).collect::<Result<_>>()?;
            Expr::In(operand(&a[0], d)?, list)
        }
        "isnull" => Expr::IsNull(operand(&arity(op, a, 1)?[0], d)?),
        _ => {
            if let Some(s) = SpatialOp::from_name(op) {
                let a = arity(op, a, 2)?;
                Expr::Spatial(s, operand(&a[0], d)?, operand(&a[1], d)?)
            } else if let Some(t) = TemporalOp::from_name(op) {
                let a = arity(op, a, 2)?;
                Expr::Temporal(t, operand(&a[0], d)?, operand(&a[1], d)?)
            } else {
                return err(format!("operation '{}' is not supported", clip(op)));
            }
        }
    })
}

fn clip(s: &str) -> String {
    s.chars().take(40).collect()
}

fn operand(v: &Json, depth: usize) -> Result<Operand> {
    if depth > MAX_DEPTH {
        return err(format!("filter is nested deeper than {MAX_DEPTH} levels"));
    }
    let d = depth + 1;
    Ok(match v {
        Json::String(s) => Operand::Text(s.clone()),
        Json::Number(n) => match n.as_f64() {
            Some(f) if f.is_finite() => Operand::Number(f),
            _ => return err(format!("{n} is not a finite number")),
        },
        Json::Bool(b) => Operand::Bool(*b),
        Json::Null => return err("null is not a value: use isNull"),
        Json::Array(_) => return err("an array is only allowed as the list of 'in'"),
        Json::Object(o) => {
            if let Some(p) = o.get("property") {
                let Some(p) = p.as_str() else {
                    return err("'property' must be a string");
                };
                return Ok(Operand::Property(p.to_string()));
            }
            if let Some(s) = o.get("date").and_then(Json::as_str) {
                return Ok(Operand::Date(s.to_string()));
            }
            if let Some(s) = o.get("timestamp").and_then(Json::as_str) {
                return Ok(Operand::Timestamp(s.to_string()));
            }
            if let Some(i) = o.get("interval") {
                let Some([a, b]) = i.as_array().map(Vec::as_slice) else {
                    return err("'interval' takes an array of 2 bounds");
                };
                let bound = |x: &Json| -> Result<Operand> {
                    match x {
                        Json::String(s) if s == ".." => Ok(Operand::Open),
                        other => operand(other, d),
                    }
                };
                return Ok(Operand::Interval(Box::new(bound(a)?), Box::new(bound(b)?)));
            }
            if let Some(b) = o.get("bbox") {
                let n: Vec<f64> = b
                    .as_array()
                    .map(|a| a.iter().filter_map(Json::as_f64).collect())
                    .unwrap_or_default();
                let (w, s, e, no) = match n.len() {
                    4 => (n[0], n[1], n[2], n[3]),
                    6 => (n[0], n[1], n[3], n[4]),
                    k => return err(format!("'bbox' takes 4 or 6 numbers, not {k}")),
                };
                if w > e || s > no {
                    return err("bbox corners are out of order");
                }
                return Ok(Operand::Geometry(geo_types::Geometry::Polygon(
                    geo_types::Rect::new((w, s), (e, no)).to_polygon(),
                )));
            }
            if let Some(c) = o.get("casei") {
                return Ok(Operand::Casei(Box::new(operand(c, d)?)));
            }
            if o.get("op")
                .and_then(Json::as_str)
                .is_some_and(|op| op.eq_ignore_ascii_case("casei"))
            {
                let a = arity("casei", args(v)?, 1)?;
                return Ok(Operand::Casei(Box::new(operand(&a[0], d)?)));
            }
            if o.contains_key("type")
                && (o.contains_key("coordinates") || o.contains_key("geometries"))
            {
                // Coordinates in the filter CRS: `check` moves them to CRS84 and checks them.
                let g = crate::geom::from_geojson(v).map_err(super::Error)?;
                return Ok(Operand::Geometry(g));
            }
            if let Some(op) = o.get("op").and_then(Json::as_str) {
                return err(format!("function '{}' is not supported", clip(op)));
            }
            return err("unrecognised operand object");
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        let e = parse(r#"{"op":"and","args":[{"op":"=","args":[{"property":"a"},1]},{"op":"s_intersects","args":[{"property":"geometry"},{"bbox":[9,45,9.5,45.5]}]}]}"#).unwrap();
        assert!(matches!(e, Expr::And(ref v) if v.len() == 2));
        assert!(parse(
            r#"{"op":"t_after","args":[{"property":"d"},{"timestamp":"2020-01-01T00:00:00Z"}]}"#
        )
        .is_ok());
        assert!(parse(r#"{"op":"=","args":[{"casei":{"property":"n"}},{"casei":"x"}]}"#).is_ok());
        assert!(parse(r#"{"op":"in","args":[{"property":"n"},["a","b"]]}"#).is_ok());
        assert!(parse(r#"{"op":"s_within","args":[{"property":"geometry"},{"type":"Point","coordinates":[9,45]}]}"#).is_ok());
    }

    #[test]
    fn errors() {
        assert!(parse("{").unwrap_err().0.contains("not JSON"));
        assert!(parse(r#"{"op":"pg_sleep","args":[1]}"#)
            .unwrap_err()
            .0
            .contains("not supported"));
        let mut deep = String::from(r#"{"op":"=","args":[{"property":"a"},1]}"#);
        for _ in 0..100 {
            deep = format!(r#"{{"op":"not","args":[{deep}]}}"#);
        }
        assert!(parse(&deep).unwrap_err().0.contains("nested deeper"));
        let very = format!("{}1{}", "[".repeat(10_000), "]".repeat(10_000));
        assert!(parse(&very).is_err());
    }
}
