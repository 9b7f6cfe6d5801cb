//! Safe column names for attributes as comuni deliver them (hyphens, accents, spaces, SQL
//! keywords, duplicates, empty names). The original name is kept as the field's label.

/// Names that must not become columns: SQL keywords that are reserved in PostgreSQL or
/// SQLite, plus Atlante's own `fid` and `geom`.
const RESERVED: &[&str] = &[
    "all",
    "analyse",
    "analyze",
    "and",
    "any",
    "array",
    "as",
    "asc",
    "asymmetric",
    "between",
    "both",
    "by",
    "case",
    "cast",
    "check",
    "collate",
    "column",
    "constraint",
    "create",
    "cross",
    "current_date",
    "current_role",
    "current_time",
    "current_timestamp",
    "current_user",
    "default",
    "deferrable",
    "delete",
    "desc",
    "distinct",
    "do",
    "drop",
    "else",
    "end",
    "except",
    "exists",
    "false",
    "fetch",
    "fid",
    "for",
    "foreign",
    "from",
    "geom",
    "grant",
    "group",
    "having",
    "in",
    "index",
    "initially",
    "inner",
    "insert",
    "intersect",
    "into",
    "is",
    "join",
    "key",
    "lateral",
    "leading",
    "left",
    "like",
    "limit",
    "localtime",
    "localtimestamp",
    "natural",
    "not",
    "null",
    "offset",
    "on",
    "only",
    "or",
    "order",
    "outer",
    "placing",
    "primary",
    "references",
    "returning",
    "right",
    "select",
    "session_user",
    "set",
    "some",
    "symmetric",
    "table",
    "then",
    "to",
    "trailing",
    "true",
    "union",
    "unique",
    "update",
    "user",
    "using",
    "values",
    "variadic",
    "when",
    "where",
    "window",
    "with",
];

const MAX_LEN: usize = 60;

fn fold_char(c: char) -> Option<&'static str> {
    Some(match c {
        'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'À' | 'Á' | 'Â' | 'Ã' | 'Ä' | 'Å' => "a",
        'è' | 'é' | 'ê' | 'ë' | 'È' | 'É' | 'Ê' | 'Ë' => "e",
        'ì' | 'í' | 'î' | 'ï' | 'Ì' | 'Í' | 'Î' | 'Ï' => "i",
        'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'Ò' | 'Ó' | 'Ô' | 'Õ' | 'Ö' => "o",
        'ù' | 'ú' | 'û' | 'ü' | 'Ù' | 'Ú' | 'Û' | 'Ü' => "u",
        'ç' | 'Ç' => "c",
        'ñ' | 'Ñ' => "n",
        'ß' => "ss",
        '°' | 'º' => "o",
        _ => return None,
    })
}

/// One name, normalised: lower-case ASCII letters, digits and `_`, starting with a letter.
fn normalise(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for c in raw.trim().chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if let Some(f) = fold_char(c) {
            out.push_str(f);
        } else if !out.ends_with('_') {
            out.push('_');
        }
    }
    let mut s = out.trim_matches('_').to_string();
    while s.contains("__") {
        s = s.replace("__", "_");
    }
    if s.is_empty() {
        return s;
    }
    if !s.as_bytes()[0].is_ascii_alphabetic() {
        s.insert_str(0, "f_");
    }
    if RESERVED.contains(&s.as_str()) {
        s.push('_');
    }
    s.truncate(MAX_LEN);
    s
}

/// Normalises a list of source names into unique, safe column names, in order.
pub fn column_names<S: AsRef<str>>(raw: &[S]) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(raw.len());
    for (i, r) in raw.iter().enumerate() {
        let mut base = normalise(r.as_ref());
        if base.is_empty() {
            base = format!("field_{}", i + 1);
        }
        let mut name = base.clone();
        let mut n = 2;
        while out.contains(&name) {
            name = format!("{base}_{n}");
            n += 1;
        }
        out.push(name);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_names_become_safe_and_unique() {
        let raw = [
            "Nome-Via",
            "Città",
            "order",
            "desc",
            "NOME VIA",
            "",
            "  ",
            "1st",
            "a\"b;drop",
            "FID",
            "Città",
            "perché°",
        ];
        let got = column_names(&raw);
        assert_eq!(
            got,
            [
                "nome_via",
                "citta",
                "order_",
                "desc_",
                "nome_via_2",
                "field_6",
                "field_7",
                "f_1st",
                "a_b_drop",
                "fid_",
                "citta_2",
                "percheo"
            ]
        );
        for n in &got {
            assert!(n
                .bytes()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_'));
        }
    }

    #[test]
    fn long_names_are_truncated() {
        let long = "x".repeat(200);
        assert_eq!(column_names(&[long])[0].len(), MAX_LEN);
    }
}
