//! CQL2 text → tokens: names (quoted or not), strings, numbers, parentheses, commas and
//! comparison operators. Error messages quote at most 40 characters of the user's text.

use super::{err, CmpOp, Result};

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Tok {
    /// A name; `quoted` for `"…"` (always a property, never a keyword).
    Word(String, bool),
    Str(String),
    Num(f64),
    LParen,
    RParen,
    Comma,
    Op(CmpOp),
}

pub(super) fn tokenize(s: &str) -> Result<Vec<Tok>> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        match c {
            b' ' | b'\t' | b'\n' | b'\r' => i += 1,
            b'(' => {
                out.push(Tok::LParen);
                i += 1
            }
            b')' => {
                out.push(Tok::RParen);
                i += 1
            }
            b',' => {
                out.push(Tok::Comma);
                i += 1
            }
            b'=' => {
                out.push(Tok::Op(CmpOp::Eq));
                i += 1
            }
            b'<' | b'>' => {
                let next = b.get(i + 1).copied();
                let (op, n) = match (c, next) {
                    (b'<', Some(b'>')) => (CmpOp::Ne, 2),
                    (b'<', Some(b'=')) => (CmpOp::Le, 2),
                    (b'>', Some(b'=')) => (CmpOp::Ge, 2),
                    (b'<', _) => (CmpOp::Lt, 1),
                    _ => (CmpOp::Gt, 1),
                };
                out.push(Tok::Op(op));
                i += n;
            }
            b'\'' => {
                let mut text = String::new();
                let mut j = i + 1;
                loop {
                    let Some(rest) = s.get(j..) else {
                        return err("unterminated string literal");
                    };
                    let Some(k) = rest.find('\'') else {
                        return err("unterminated string literal");
                    };
                    text.push_str(&rest[..k]);
                    j += k + 1;
                    if b.get(j) == Some(&b'\'') {
                        text.push('\'');
                        j += 1;
                    } else {
                        break;
                    }
                }
                out.push(Tok::Str(text));
                i = j;
            }
            b'"' => {
                let rest = &s[i + 1..];
                let Some(k) = rest.find('"') else {
                    return err("unterminated quoted property name");
                };
                out.push(Tok::Word(rest[..k].to_string(), true));
                i += k + 2;
            }
            b'0'..=b'9' | b'-' | b'+' | b'.' => {
                let start = i;
                i += 1;
                while i < b.len() {
                    let d = b[i];
                    let exp_sign = (d == b'-' || d == b'+') && matches!(b[i - 1], b'e' | b'E');
                    if d.is_ascii_digit() || d == b'.' || d == b'e' || d == b'E' || exp_sign {
                        i += 1;
                    } else {
                        break;
                    }
                }
                let t = &s[start..i];
                match t.parse::<f64>() {
                    Ok(v) if v.is_finite() => out.push(Tok::Num(v)),
                    _ => return err(format!("'{}' is not a number", clip(t))),
                }
            }
            c if c.is_ascii_alphabetic() || c == b'_' => {
                let start = i;
                while i < b.len()
                    && (b[i].is_ascii_alphanumeric() || matches!(b[i], b'_' | b'.' | b':'))
                {
                    i += 1;
                }
                out.push(Tok::Word(s[start..i].to_string(), false));
            }
            _ => {
                let ch = s[i..].chars().next().unwrap_or('?');
                return err(format!("unexpected character '{ch}' at byte {i}"));
            }
        }
    }
    Ok(out)
}

/// At most 40 characters of user text in an error message.
pub(super) fn clip(s: &str) -> String {
    if s.chars().count() > 40 {
        format!("{}…", s.chars().take(40).collect::<String>())
    } else {
        s.to_string()
    }
}
