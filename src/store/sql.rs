//! SQL the two backends share, written once. A statement is text with `$1`, `$2`…
//! placeholders plus its arguments ([`Stmt`]); [`Dialect::sql`] turns the placeholders into
//! SQLite's `?1`, `?2`… and the few other differences (the current time, JSON columns,
//! timestamps read back as RFC 3339 text) are [`Dialect`] methods. Each backend runs a
//! [`Stmt`] through its [`Exec`] implementation, and reads rows through [`RowExt`], so the
//! concerns that need no backend-specific SQL (organisations, documents, tokens, audit, the
//! change log) are implemented once, over [`Exec`], in their own modules.

use async_trait::async_trait;

use super::Result;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Postgres,
    Sqlite,
}

impl Dialect {
    /// The statement with this dialect's placeholders (`$n` stays for PostgreSQL, `?n` for
    /// SQLite). Only `$` followed by a digit is a placeholder; statements never carry `$`
    /// otherwise (values are always bound).
    pub fn sql(self, s: &str) -> String {
        match self {
            Dialect::Postgres => s.to_string(),
            Dialect::Sqlite => {
                let mut out = String::with_capacity(s.len());
                let mut chars = s.chars().peekable();
                while let Some(c) = chars.next() {
                    if c == '$' && chars.peek().is_some_and(char::is_ascii_digit) {
                        out.push('?');
                    } else {
                        out.push(c);
                    }
                }
                out
            }
        }
    }

    /// The current time, as the column type stores it.
    pub fn now(self) -> &'static str {
        match self {
            Dialect::Postgres => "clock_timestamp()",
            Dialect::Sqlite => "strftime('%Y-%m-%dT%H:%M:%fZ','now')",
        }
    }

    /// A timestamp column read back as RFC 3339 UTC text with milliseconds.
    pub fn ts(self, col: &str) -> String {
        match self {
            Dialect::Postgres => {
                format!("to_char({col} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')")
            }
            Dialect::Sqlite => col.to_string(),
        }
    }

    /// A JSON argument: `jsonb` on PostgreSQL, text on SQLite.
    pub fn json_arg(self, n: usize) -> String {
        match self {
            Dialect::Postgres => format!("${n}::jsonb"),
            Dialect::Sqlite => format!("${n}"),
        }
    }

    /// A JSON column read back as text.
    pub fn json_col(self, col: &str) -> String {
        match self {
            Dialect::Postgres => format!("{col}::text"),
            Dialect::Sqlite => col.to_string(),
        }
    }

    /// An RFC 3339 text argument stored into a timestamp column.
    pub fn ts_arg(self, n: usize) -> String {
        match self {
            Dialect::Postgres => format!("${n}::timestamptz"),
            Dialect::Sqlite => format!("${n}"),
        }
    }
}

/// One bound argument. Text, integers, reals and booleans are all the shared code needs.
#[derive(Debug, Clone, PartialEq)]
pub enum Arg {
    Text(String),
    OptText(Option<String>),
    Int(i64),
    OptInt(Option<i64>),
    Real(f64),
    Bool(bool),
}

impl From<&str> for Arg {
    fn from(s: &str) -> Arg {
        Arg::Text(s.to_string())
    }
}
impl From<String> for Arg {
    fn from(s: String) -> Arg {
        Arg::Text(s)
    }
}
impl From<&String> for Arg {
    fn from(s: &String) -> Arg {
        Arg::Text(s.clone())
    }
}
impl From<Option<&str>> for Arg {
    fn from(s: Option<&str>) -> Arg {
        Arg::OptText(s.map(str::to_string))
    }
}
impl From<Option<String>> for Arg {
    fn from(s: Option<String>) -> Arg {
        Arg::OptText(s)
    }
}
impl From<i64> for Arg {
    fn from(i: i64) -> Arg {
        Arg::Int(i)
    }
}
impl From<Option<i64>> for Arg {
    fn from(i: Option<i64>) -> Arg {
        Arg::OptInt(i)
    }
}
impl From<bool> for Arg {
    fn from(b: bool) -> Arg {
        Arg::Bool(b)
    }
}

/// A statement in `$n` form and its arguments, in order.
#[derive(Debug, Clone, PartialEq)]
pub struct Stmt {
    pub sql: String,
    pub args: Vec<Arg>,
}

impl Stmt {
    pub fn new(sql: impl Into<String>) -> Stmt {
        Stmt {
            sql: sql.into(),
            args: Vec::new(),
        }
    }
    pub fn arg(mut self, a: impl Into<Arg>) -> Stmt {
        self.args.push(a.into());
        self
    }
}

/// Reading a result row by column name, the same way on both backends.
pub trait RowExt {
    fn text(&self, col: &str) -> Result<String>;
    fn opt_text(&self, col: &str) -> Result<Option<String>>;
    fn int(&self, col: &str) -> Result<i64>;
    fn opt_int(&self, col: &str) -> Result<Option<i64>>;
    fn boolean(&self, col: &str) -> Result<bool>;
}

/// Binds shared-statement arguments to a query of either backend.
pub(crate) fn bind_args<'q, DB>(
    mut q: sqlx::query::Query<'q, DB, <DB as sqlx::Database>::Arguments<'q>>,
    args: Vec<Arg>,
) -> sqlx::query::Query<'q, DB, <DB as sqlx::Database>::Arguments<'q>>
where
    DB: sqlx::Database,
    String: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    Option<String>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    Option<i64>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    f64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    bool: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    for a in args {
        q = match a {
            Arg::Text(s) => q.bind(s),
            Arg::OptText(s) => q.bind(s),
            Arg::Int(i) => q.bind(i),
            Arg::OptInt(i) => q.bind(i),
            Arg::Real(f) => q.bind(f),
            Arg::Bool(b) => q.bind(b),
        };
    }
    q
}

/// A feature attribute of `kind` from column `idx` of either backend's row.
pub(crate) fn value_at<'r, R>(
    r: &'r R,
    idx: usize,
    kind: crate::model::FieldType,
) -> Result<crate::model::Value>
where
    R: sqlx::Row,
    usize: sqlx::ColumnIndex<R>,
    Option<i64>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    Option<f64>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    Option<bool>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    Option<String>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    use crate::model::{FieldType, Value};
    let text = |wrap: fn(String) -> Value| -> Result<Value> {
        Ok(r.try_get::<Option<String>, _>(idx)?
            .map_or(Value::Null, wrap))
    };
    match kind {
        FieldType::Integer => Ok(r
            .try_get::<Option<i64>, _>(idx)?
            .map_or(Value::Null, Value::Integer)),
        FieldType::Real => Ok(r
            .try_get::<Option<f64>, _>(idx)?
            .map_or(Value::Null, Value::Real)),
        FieldType::Boolean => Ok(r
            .try_get::<Option<bool>, _>(idx)?
            .map_or(Value::Null, Value::Boolean)),
        FieldType::Text => text(Value::Text),
        FieldType::Date => text(Value::Date),
        FieldType::Datetime => text(Value::Datetime),
    }
}

/// What a backend offers the shared code: its dialect and a way to run a statement.
#[async_trait]
pub trait Exec: Send + Sync {
    type Row: RowExt + Send;
    fn dialect(&self) -> Dialect;
    /// Runs a statement; the number of rows it changed.
    async fn exec(&self, s: Stmt) -> Result<u64>;
    async fn fetch_all(&self, s: Stmt) -> Result<Vec<Self::Row>>;
    async fn fetch_optional(&self, s: Stmt) -> Result<Option<Self::Row>> {
        Ok(self.fetch_all(s).await?.into_iter().next())
    }
    /// Runs statements in one transaction: all or nothing.
    async fn exec_all(&self, stmts: Vec<Stmt>) -> Result<()>;
}

/// `ORDER BY` from resolved fields (identifiers from the catalog), ties broken by fid, NULLs
/// last. `text_collation` makes text order byte order in both stores, so they page alike.
pub(crate) fn order_by(
    layer: &crate::model::Layer,
    sort: &[(Option<usize>, bool)],
    text_collation: &str,
) -> String {
    let mut parts: Vec<String> = Vec::new();
    for (field, asc) in sort {
        let dir = if *asc { "ASC" } else { "DESC" };
        match field.and_then(|i| layer.fields.get(i)) {
            Some(f) if f.kind == crate::model::FieldType::Text => parts.push(format!(
                "{} {text_collation} {dir} NULLS LAST",
                super::quote_ident(&f.name)
            )),
            Some(f) => parts.push(format!("{} {dir} NULLS LAST", super::quote_ident(&f.name))),
            None => parts.push(format!("fid {dir}")),
        }
    }
    if !sort.iter().any(|(f, _)| f.is_none()) {
        parts.push("fid ASC".into());
    }
    format!(" ORDER BY {}", parts.join(", "))
}

/// The conditions of an items request as one CQL2 condition: the bbox is `S_INTERSECTS`
/// with the box, so both stores run one compiled WHERE clause.
pub(crate) fn item_condition(q: &super::ItemQuery) -> Option<crate::cql2::Cond> {
    use crate::cql2::{Bind, Cond, SpatialOp, Val};
    let mut all = Vec::new();
    if let Some(b) = q.bbox {
        let rect = geo_types::Rect::new((b[0], b[1]), (b[2], b[3])).to_polygon();
        let wkb = crate::geom::to_wkb(&geo_types::Geometry::Polygon(rect));
        all.push(Cond::Spatial(
            SpatialOp::Intersects,
            Val::Geometry,
            Val::Bind(Bind::Geometry(wkb)),
        ));
    }
    all.extend(q.filter.clone());
    match all.len() {
        0 => None,
        1 => all.pop(),
        _ => Some(Cond::And(all)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders() {
        assert_eq!(
            Dialect::Sqlite.sql("SELECT $1, '$x', $12"),
            "SELECT ?1, '$x', ?12"
        );
        assert_eq!(Dialect::Postgres.sql("SELECT $1"), "SELECT $1");
    }
}
