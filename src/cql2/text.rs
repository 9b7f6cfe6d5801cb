//! CQL2 text → [`Expr`]: a recursive-descent parser over the [`lexer`](super::lexer)'s
//! tokens, with a depth bound.

use geo_types::{
    Coord, Geometry, GeometryCollection, LineString, MultiLineString, MultiPoint, MultiPolygon,
    Point, Polygon, Rect,
};

use super::lexer::{clip, tokenize, Tok};
use super::{err, Expr, Operand, Result, SpatialOp, TemporalOp, MAX_DEPTH};

/// Parses CQL2 text.
pub fn parse(s: &str) -> Result<Expr> {
    let toks = tokenize(s)?;
    if toks.is_empty() {
        return err("filter is empty");
    }
    let mut p = Parser {
        toks,
        pos: 0,
        depth: 0,
    };
    let e = p.or()?;
    if p.pos != p.toks.len() {
        return err(format!("unexpected {} after the expression", p.describe()));
    }
    Ok(e)
}

struct Parser {
    toks: Vec<Tok>,
    pos: usize,
    depth: usize,
}

fn is_kw(t: Option<&Tok>, kw: &str) -> bool {
    matches!(t, Some(Tok::Word(w, false)) if w.eq_ignore_ascii_case(kw))
}

const RESERVED: &[&str] = &[
    "AND", "OR", "NOT", "LIKE", "BETWEEN", "IN", "IS", "NULL", "TRUE", "FALSE",
];

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }
    fn peek_at(&self, n: usize) -> Option<&Tok> {
        self.toks.get(self.pos + n)
    }
    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.pos).cloned();
        self.pos += 1;
        t
    }
    fn describe(&self) -> String {
        match self.peek() {
            None => "end of filter".into(),
            Some(Tok::Word(w, _)) => format!("'{}'", clip(w)),
            Some(Tok::Str(s)) => format!("string '{}'", clip(s)),
            Some(Tok::Num(n)) => format!("number {n}"),
            Some(Tok::LParen) => "'('".into(),
            Some(Tok::RParen) => "')'".into(),
            Some(Tok::Comma) => "','".into(),
            Some(Tok::Op(o)) => format!("'{}'", o.sql()),
        }
    }
    fn keyword(&mut self, kw: &str) -> bool {
        if is_kw(self.peek(), kw) {
            self.pos += 1;
            true
        } else {
            false
        }
    }
    fn expect(&mut self, t: Tok, what: &str) -> Result<()> {
        if self.peek() == Some(&t) {
            self.pos += 1;
            Ok(())
        } else {
            err(format!("expected {what}, found {}", self.describe()))
        }
    }
    fn enter(&mut self) -> Result<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return err(format!("filter is nested deeper than {MAX_DEPTH} levels"));
        }
        Ok(())
    }

    fn or(&mut self) -> Result<Expr> {
        self.enter()?;
        let mut parts = vec![self.and()?];
        while self.keyword("OR") {
            parts.push(self.and()?);
        }
        self.depth -= 1;
        Ok(if parts.len() == 1 {
            parts.pop().unwrap_or(Expr::Literal(true))
        } else {
            Expr::Or(parts)
        })
    }

    fn and(&mut self) -> Result<Expr> {
        let mut parts = vec![self.not()?];
        while self.keyword("AND") {
            parts.push(self.not()?);
        }
        Ok(if parts.len() == 1 {
            parts.pop().unwrap_or(Expr::Literal(true))
        } else {
            Expr::And(parts)
        })
    }

    fn not(&mut self) -> Result<Expr> {
        if self.keyword("NOT") {
            self.enter()?;
            let e = self.not()?;
            self.depth -= 1;
            return Ok(Expr::Not(Box::new(e)));
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Expr> {
        if self.peek() == Some(&Tok::LParen) {
            self.pos += 1;
            let e = self.or()?;
            self.expect(Tok::RParen, "')'")?;
            return Ok(e);
        }
        if let Some(Tok::Word(w, false)) = self.peek() {
            let w = w.clone();
            if self.peek_at(1) == Some(&Tok::LParen) {
                if let Some(op) = SpatialOp::from_name(&w) {
                    self.pos += 2;
                    let a = self.geometry_operand()?;
                    self.expect(Tok::Comma, "','")?;
                    let b = self.geometry_operand()?;
                    self.expect(Tok::RParen, "')'")?;
                    return Ok(Expr::Spatial(op, a, b));
                }
                if let Some(op) = TemporalOp::from_name(&w) {
                    self.pos += 2;
                    let a = self.temporal_operand()?;
                    self.expect(Tok::Comma, "','")?;
                    let b = self.temporal_operand()?;
                    self.expect(Tok::RParen, "')'")?;
                    return Ok(Expr::Temporal(op, a, b));
                }
            }
            let boolean = w.eq_ignore_ascii_case("TRUE") || w.eq_ignore_ascii_case("FALSE");
            if boolean && !matches!(self.peek_at(1), Some(Tok::Op(_))) {
                self.pos += 1;
                return Ok(Expr::Literal(w.eq_ignore_ascii_case("TRUE")));
            }
        }
        self.predicate()
    }

    fn predicate(&mut self) -> Result<Expr> {
        let left = self.scalar()?;
        if let Some(Tok::Op(op)) = self.peek() {
            let op = *op;
            self.pos += 1;
            let right = self.scalar()?;
            return Ok(Expr::Compare(op, left, right));
        }
        if self.keyword("IS") {
            let negated = self.keyword("NOT");
            if !self.keyword("NULL") {
                return err(format!("expected NULL after IS, found {}", self.describe()));
            }
            let e = Expr::IsNull(left);
            return Ok(if negated { Expr::Not(Box::new(e)) } else { e });
        }
        let negated = self.keyword("NOT");
        let e = if self.keyword("LIKE") {
            Expr::Like(left, self.scalar()?)
        } else if self.keyword("BETWEEN") {
            let lo = self.scalar()?;
            if !self.keyword("AND") {
                return err(format!(
                    "expected AND in BETWEEN, found {}",
                    self.describe()
                ));
            }
            Expr::Between(left, lo, self.scalar()?)
        } else if self.keyword("IN") {
            self.expect(Tok::LParen, "'(' after IN")?;
            let mut list = vec![self.scalar()?];
            while self.peek() == Some(&Tok::Comma) {
                self.pos += 1;
                list.push(self.scalar()?);
            }
            self.expect(Tok::RParen, "')' closing the IN list")?;
            Expr::In(left, list)
        } else {
            return err(format!(
                "expected a comparison, LIKE, BETWEEN, IN or IS NULL, found {}",
                self.describe()
            ));
        };
        Ok(if negated { Expr::Not(Box::new(e)) } else { e })
    }

    /// One string argument in parentheses: `DATE('…')`.
    fn string_arg(&mut self, what: &str) -> Result<String> {
        self.expect(Tok::LParen, &format!("'(' after {what}"))?;
        let Some(Tok::Str(s)) = self.next() else {
            return err(format!("{what} takes a string"));
        };
        self.expect(Tok::RParen, &format!("')' closing {what}"))?;
        Ok(s)
    }

    fn scalar(&mut self) -> Result<Operand> {
        match self.next() {
            Some(Tok::Str(s)) => Ok(Operand::Text(s)),
            Some(Tok::Num(n)) => Ok(Operand::Number(n)),
            Some(Tok::Word(w, true)) => Ok(Operand::Property(w)),
            Some(Tok::Word(w, false)) => {
                if self.peek() == Some(&Tok::LParen) {
                    if w.eq_ignore_ascii_case("DATE") {
                        return Ok(Operand::Date(self.string_arg("DATE")?));
                    }
                    if w.eq_ignore_ascii_case("TIMESTAMP") {
                        return Ok(Operand::Timestamp(self.string_arg("TIMESTAMP")?));
                    }
                    if w.eq_ignore_ascii_case("CASEI") {
                        self.enter()?;
                        self.pos += 1;
                        let inner = self.scalar()?;
                        self.expect(Tok::RParen, "')' closing CASEI")?;
                        self.depth -= 1;
                        return Ok(Operand::Casei(Box::new(inner)));
                    }
                    return err(format!("function '{}' is not supported", clip(&w)));
                }
                if w.eq_ignore_ascii_case("TRUE") || w.eq_ignore_ascii_case("FALSE") {
                    return Ok(Operand::Bool(w.eq_ignore_ascii_case("TRUE")));
                }
                if RESERVED.iter().any(|k| k.eq_ignore_ascii_case(&w)) {
                    return err(format!("expected a value, found keyword '{w}'"));
                }
                Ok(Operand::Property(w))
            }
            Some(t) => {
                self.pos -= 1;
                let found = self.describe();
                let _ = t;
                err(format!("expected a value, found {found}"))
            }
            None => err("expected a value, found end of filter"),
        }
    }

    fn temporal_operand(&mut self) -> Result<Operand> {
        if let Some(Tok::Word(w, false)) = self.peek() {
            if w.eq_ignore_ascii_case("INTERVAL") && self.peek_at(1) == Some(&Tok::LParen) {
                self.pos += 2;
                let a = self.interval_bound()?;
                self.expect(Tok::Comma, "',' in INTERVAL")?;
                let b = self.interval_bound()?;
                self.expect(Tok::RParen, "')' closing INTERVAL")?;
                return Ok(Operand::Interval(Box::new(a), Box::new(b)));
            }
        }
        self.scalar()
    }

    fn interval_bound(&mut self) -> Result<Operand> {
        match self.scalar()? {
            Operand::Text(s) if s == ".." => Ok(Operand::Open),
            other => Ok(other),
        }
    }

    fn geometry_operand(&mut self) -> Result<Operand> {
        let Some(Tok::Word(w, false)) = self.peek().cloned() else {
            return self.scalar();
        };
        let kind = w.to_ascii_uppercase();
        if !matches!(
            kind.as_str(),
            "POINT"
                | "LINESTRING"
                | "POLYGON"
                | "MULTIPOINT"
                | "MULTILINESTRING"
                | "MULTIPOLYGON"
                | "GEOMETRYCOLLECTION"
                | "BBOX"
        ) {
            return self.scalar();
        }
        self.pos += 1;
        self.enter()?;
        let g = self.wkt(&kind)?;
        self.depth -= 1;
        Ok(Operand::Geometry(g))
    }

    /// The body of a WKT geometry whose keyword was read.
    fn wkt(&mut self, kind: &str) -> Result<Geometry<f64>> {
        if kind == "BBOX" {
            self.expect(Tok::LParen, "'(' after BBOX")?;
            let mut n = vec![self.number()?];
            while self.peek() == Some(&Tok::Comma) {
                self.pos += 1;
                n.push(self.number()?);
            }
            self.expect(Tok::RParen, "')' closing BBOX")?;
            let (w, s, e, no) = match n.len() {
                4 => (n[0], n[1], n[2], n[3]),
                6 => (n[0], n[1], n[3], n[4]),
                k => return err(format!("BBOX takes 4 or 6 numbers, not {k}")),
            };
            if w > e || s > no {
                return err("BBOX corners are out of order");
            }
            return Ok(Geometry::Polygon(Rect::new((w, s), (e, no)).to_polygon()));
        }
        // An optional Z / M / ZM tag.
        if let Some(Tok::Word(t, false)) = self.peek() {
            if ["Z", "M", "ZM"].iter().any(|z| t.eq_ignore_ascii_case(z)) {
                self.pos += 1;
            }
        }
        if self.keyword("EMPTY") {
            return err(format!("{kind} EMPTY is not supported in filters"));
        }
        Ok(match kind {
            "POINT" => {
                self.expect(Tok::LParen, "'(' after POINT")?;
                let c = self.coord()?;
                self.expect(Tok::RParen, "')' closing POINT")?;
                Geometry::Point(Point(c))
            }
            "LINESTRING" => Geometry::LineString(self.line()?),
            "POLYGON" => Geometry::Polygon(self.polygon()?),
            "MULTIPOINT" => {
                self.expect(Tok::LParen, "'(' after MULTIPOINT")?;
                let mut pts = Vec::new();
                loop {
                    // Both MULTIPOINT((1 2),(3 4)) and MULTIPOINT(1 2, 3 4).
                    if self.peek() == Some(&Tok::LParen) {
                        self.pos += 1;
                        pts.push(Point(self.coord()?));
                        self.expect(Tok::RParen, "')'")?;
                    } else {
                        pts.push(Point(self.coord()?));
                    }
                    if !self.comma() {
                        break;
                    }
                }
                self.expect(Tok::RParen, "')' closing MULTIPOINT")?;
                Geometry::MultiPoint(MultiPoint(pts))
            }
            "MULTILINESTRING" => {
                let lines = self.list(|p| p.line())?;
                Geometry::MultiLineString(MultiLineString(lines))
            }
            "MULTIPOLYGON" => {
                let polys = self.list(|p| p.polygon())?;
                Geometry::MultiPolygon(MultiPolygon(polys))
            }
            _ => {
                let parts = self.list(|p| {
                    let Some(Tok::Word(w, false)) = p.next() else {
                        return err("expected a geometry in GEOMETRYCOLLECTION");
                    };
                    let k = w.to_ascii_uppercase();
                    if k == "BBOX" {
                        return err("BBOX is not a WKT geometry");
                    }
                    p.enter()?;
                    let g = p.wkt(&k);
                    p.depth -= 1;
                    g
                })?;
                Geometry::GeometryCollection(GeometryCollection(parts))
            }
        })
    }

    fn comma(&mut self) -> bool {
        if self.peek() == Some(&Tok::Comma) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn list<T>(&mut self, mut item: impl FnMut(&mut Parser) -> Result<T>) -> Result<Vec<T>> {
        self.expect(Tok::LParen, "'('")?;
        let mut out = vec![item(self)?];
        while self.comma() {
            out.push(item(self)?);
        }
        self.expect(Tok::RParen, "')'")?;
        Ok(out)
    }

    fn number(&mut self) -> Result<f64> {
        match self.next() {
            Some(Tok::Num(n)) => Ok(n),
            _ => {
                self.pos -= 1;
                err(format!("expected a number, found {}", self.describe()))
            }
        }
    }

    /// `x y` or `x y z` (z ignored).
    fn coord(&mut self) -> Result<Coord<f64>> {
        let x = self.number()?;
        let y = self.number()?;
        if matches!(self.peek(), Some(Tok::Num(_))) {
            self.pos += 1;
        }
        Ok(Coord { x, y })
    }

    fn line(&mut self) -> Result<LineString<f64>> {
        let pts = self.list(|p| p.coord())?;
        if pts.len() < 2 {
            return err("a LINESTRING needs at least 2 points");
        }
        Ok(LineString(pts))
    }

    fn polygon(&mut self) -> Result<Polygon<f64>> {
        let mut rings = self.list(|p| p.line())?;
        for r in &rings {
            if r.0.len() < 4 || r.0.first() != r.0.last() {
                return err("a POLYGON ring needs at least 4 points and must be closed");
            }
        }
        let exterior = rings.remove(0);
        Ok(Polygon::new(exterior, rings))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn precedence_and_forms() {
        let e = parse("a = 1 OR b < 2 AND NOT c IS NULL").unwrap();
        let Expr::Or(parts) = e else { panic!() };
        assert_eq!(parts.len(), 2);
        assert!(matches!(parts[1], Expr::And(_)));
        assert!(parse("name LIKE 'Mil%' AND pop BETWEEN 1 AND 2").is_ok());
        assert!(parse("x NOT IN ('a', 'b''c')").is_ok());
        assert!(parse("S_INTERSECTS(geometry, BBOX(9, 45, 9.5, 45.5))").is_ok());
        assert!(parse("s_within(geometry, POLYGON((0 0, 1 0, 1 1, 0 0)))").is_ok());
        assert!(parse("T_DURING(d, INTERVAL('2020-01-01', '..'))").is_ok());
        assert!(parse("CASEI(name) = casei('MILANO')").is_ok());
        assert!(parse("TRUE").is_ok());
        assert!(parse("\"a b\" = -1.5e3").is_ok());
    }

    #[test]
    fn errors_are_clear() {
        for (f, msg) in [
            ("pg_sleep(10) = 1", "function 'pg_sleep' is not supported"),
            ("a = 'x", "unterminated string"),
            ("a = 1; DROP TABLE t", "unexpected character ';'"),
            ("a =", "expected a value"),
            ("(a = 1", "expected ')'"),
            ("a = 1 b", "unexpected 'b'"),
        ] {
            let e = parse(f).unwrap_err();
            assert!(e.0.contains(msg), "{f}: {}", e.0);
        }
        let deep = format!("{}a = 1{}", "(".repeat(10_000), ")".repeat(10_000));
        assert!(parse(&deep).unwrap_err().0.contains("nested deeper"));
        let nots = format!("{}a = 1", "NOT ".repeat(10_000));
        assert!(parse(&nots).unwrap_err().0.contains("nested deeper"));
    }
}
