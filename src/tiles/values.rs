//! Attribute values of a tile index, packed one feature after another in one byte array:
//! a tag byte, then the value, and an end byte after each feature's. Integers and text
//! lengths are varints; a real that is a decimal of up to three places (a height of 12.5
//! m, a year) is held as that integer of tenths, hundredths or thousandths — decoded to the
//! very same `f64`; texts that repeat (a land use, a street, a date) are held once in a
//! list and referred to by number. A million buildings' attributes take a third of their
//! plain encoding.

use std::collections::HashMap;

use super::arena::{get_varint, put_varint, unzigzag, zigzag};
use crate::model::Value;

/// The tags: a value's kind and how it is held.
const NULL: u8 = 0;
const INTEGER: u8 = 1;
const REAL: u8 = 2;
const FALSE: u8 = 3;
const TRUE: u8 = 4;
/// Text, date and date-time held in place: tag, length, UTF-8.
const TEXT: u8 = 5;
const DATE: u8 = 6;
const DATETIME: u8 = 7;
/// A real held as an integer of 10^-k (k = tag − DECIMAL, 0 to 3).
const DECIMAL: u8 = 8;
/// Text, date and date-time held in the list of repeated texts: tag, its number.
const SHARED: u8 = 12;
/// Ends a feature's values.
const END: u8 = 0xff;

/// The most texts one field puts in the shared list. A field whose values are nearly all
/// different (codes, names) stops there; one with a few values (uses, streets) never
/// reaches it.
const TEXTS_PER_FIELD: u32 = 1 << 14;

/// The powers of ten of [`DECIMAL`] places, exact in `f64`.
const TENS: [f64; 4] = [1.0, 10.0, 100.0, 1000.0];

#[derive(Default)]
pub struct Values {
    bytes: Vec<u8>,
    texts: Texts,
}

/// Texts held once.
#[derive(Default)]
struct Texts {
    list: Vec<Box<str>>,
    numbers: HashMap<Box<str>, u32>,
    /// How many texts each field (by position) has put in the list.
    per_field: Vec<u32>,
}

impl Texts {
    /// The number of `s`, put in the list if field `field` may still add to it.
    fn number(&mut self, field: usize, s: &str) -> Option<u32> {
        if let Some(&n) = self.numbers.get(s) {
            return Some(n);
        }
        if self.per_field.len() <= field {
            self.per_field.resize(field + 1, 0);
        }
        if self.per_field[field] >= TEXTS_PER_FIELD || self.list.len() >= u32::MAX as usize {
            return None;
        }
        self.per_field[field] += 1;
        let n = self.list.len() as u32;
        self.list.push(s.into());
        self.numbers.insert(s.into(), n);
        Some(n)
    }

    fn get(&self, n: u64) -> &str {
        usize::try_from(n)
            .ok()
            .and_then(|n| self.list.get(n))
            .map_or("", |s| s)
    }
}

/// Where a feature's values start in [`Values`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ValuesRef {
    pub at: u32,
}

/// The places of `f` as a decimal of at most three, and its integer of them, when that
/// integer divided back gives exactly `f` (not for -0.0, NaN or huge values).
fn decimal(f: f64) -> Option<(u8, i64)> {
    (0..TENS.len()).find_map(|k| {
        let m = (f * TENS[k]).round();
        let m = (m.abs() < 9.0e15).then_some(m as i64)?;
        ((m as f64 / TENS[k]).to_bits() == f.to_bits()).then_some((k as u8, m))
    })
}

impl Values {
    pub fn push(&mut self, values: &[Value]) -> ValuesRef {
        let at = self.bytes.len();
        for (field, v) in values.iter().enumerate() {
            let b = &mut self.bytes;
            match v {
                Value::Null => b.push(NULL),
                Value::Integer(i) => {
                    b.push(INTEGER);
                    put_varint(b, zigzag(*i));
                }
                Value::Real(f) => match decimal(*f) {
                    Some((k, m)) => {
                        b.push(DECIMAL + k);
                        put_varint(b, zigzag(m));
                    }
                    None => {
                        b.push(REAL);
                        b.extend_from_slice(&f.to_le_bytes());
                    }
                },
                Value::Boolean(x) => b.push(if *x { TRUE } else { FALSE }),
                Value::Text(s) | Value::Date(s) | Value::Datetime(s) => {
                    let kind = match v {
                        Value::Text(_) => 0,
                        Value::Date(_) => 1,
                        _ => 2,
                    };
                    match self.texts.number(field, s) {
                        Some(n) => {
                            b.push(SHARED + kind);
                            put_varint(b, u64::from(n));
                        }
                        None => {
                            b.push(TEXT + kind);
                            put_varint(b, s.len() as u64);
                            b.extend_from_slice(s.as_bytes());
                        }
                    }
                }
            }
        }
        self.bytes.push(END);
        ValuesRef { at: at as u32 }
    }

    /// The value at `at`: its tag and where its bytes after the tag end; None at the end
    /// byte or where the bytes are not whole.
    fn next(&self, at: usize) -> Option<(u8, usize)> {
        let b = &self.bytes;
        let tag = *b.get(at)?;
        let mut end = at + 1;
        match tag {
            NULL | FALSE | TRUE => {}
            INTEGER | DECIMAL..=11 => {
                get_varint(b, &mut end)?;
            }
            REAL => {
                end += 8;
                b.get(at + 1..end)?;
            }
            TEXT..=DATETIME => {
                let n = usize::try_from(get_varint(b, &mut end)?).ok()?;
                end = end.checked_add(n)?;
                std::str::from_utf8(b.get(end - n..end)?).ok()?;
            }
            SHARED..=14 => {
                let n = get_varint(b, &mut end)?;
                if n >= self.texts.list.len() as u64 {
                    return None;
                }
            }
            _ => return None,
        }
        Some((tag, end))
    }

    /// Copies a feature's values from `from`, its shared texts written in place (the copy
    /// needs none of `from`'s list).
    pub fn copy(&mut self, from: &Values, r: ValuesRef) -> ValuesRef {
        let at = self.bytes.len() as u32;
        let mut i = r.at as usize;
        while let Some((tag, end)) = from.next(i) {
            if (SHARED..=14).contains(&tag) {
                let mut k = i + 1;
                let text = from.texts.get(get_varint(&from.bytes, &mut k).unwrap_or(0));
                self.bytes.push(tag - SHARED + TEXT);
                put_varint(&mut self.bytes, text.len() as u64);
                self.bytes.extend_from_slice(text.as_bytes());
            } else {
                self.bytes.extend_from_slice(&from.bytes[i..end]);
            }
            i = end;
        }
        self.bytes.push(END);
        ValuesRef { at }
    }

    /// These values laid out again in the order of `refs` (the build's spatial order),
    /// with their list of texts, and where each feature's now start.
    pub fn reorder(self, refs: impl Iterator<Item = ValuesRef>) -> (Values, Vec<ValuesRef>) {
        let mut bytes = Vec::with_capacity(self.bytes.len());
        let refs = refs
            .map(|r| {
                let at = bytes.len() as u32;
                let mut i = r.at as usize;
                while let Some((_, end)) = self.next(i) {
                    i = end;
                }
                bytes.extend_from_slice(&self.bytes[r.at as usize..i]);
                bytes.push(END);
                ValuesRef { at }
            })
            .collect();
        let texts = self.texts;
        (Values { bytes, texts }, refs)
    }

    /// The values, into `out` (its text buffers reused where the kinds line up).
    pub fn decode(&self, r: ValuesRef, out: &mut Vec<Value>) {
        let b = &self.bytes;
        let mut at = r.at as usize;
        let mut i = 0;
        while let Some(&tag) = b.get(at) {
            at += 1;
            let v = match tag {
                END => break,
                INTEGER => Value::Integer(unzigzag(get_varint(b, &mut at).unwrap_or(0))),
                DECIMAL..=11 => {
                    let m = unzigzag(get_varint(b, &mut at).unwrap_or(0));
                    Value::Real(m as f64 / TENS[usize::from(tag - DECIMAL)])
                }
                REAL => {
                    let x = b
                        .get(at..at + 8)
                        .and_then(|s| <[u8; 8]>::try_from(s).ok())
                        .unwrap_or_default();
                    at += 8;
                    Value::Real(f64::from_le_bytes(x))
                }
                FALSE => Value::Boolean(false),
                TRUE => Value::Boolean(true),
                TEXT..=DATETIME | SHARED..=14 => {
                    let text = if tag >= SHARED {
                        self.texts.get(get_varint(b, &mut at).unwrap_or(u64::MAX))
                    } else {
                        let n = get_varint(b, &mut at).unwrap_or(0) as usize;
                        let text = b
                            .get(at..at + n)
                            .and_then(|t| std::str::from_utf8(t).ok())
                            .unwrap_or_default();
                        at += n;
                        text
                    };
                    // Reuse the String already in this position.
                    let mut s = match out.get_mut(i) {
                        Some(Value::Text(s) | Value::Date(s) | Value::Datetime(s)) => {
                            std::mem::take(s)
                        }
                        _ => String::new(),
                    };
                    s.clear();
                    s.push_str(text);
                    let held_in_place = if tag >= SHARED {
                        tag - SHARED + TEXT
                    } else {
                        tag
                    };
                    match held_in_place {
                        TEXT => Value::Text(s),
                        DATE => Value::Date(s),
                        _ => Value::Datetime(s),
                    }
                }
                _ => Value::Null,
            };
            match out.get_mut(i) {
                Some(slot) => *slot = v,
                None => out.push(v),
            }
            i += 1;
        }
        out.truncate(i);
    }

    /// Approximate heap bytes held: the packed values, and each shared text twice (in the
    /// list and as a key of its number).
    /// Bytes laid out (referenced or left behind by edits).
    pub fn used(&self) -> usize {
        self.bytes.len()
    }

    pub fn heap_bytes(&self) -> usize {
        let texts: usize = self.texts.list.iter().map(|s| s.len()).sum();
        self.bytes.capacity()
            + self.texts.list.capacity() * 16
            + self.texts.numbers.capacity() * 28
            + 2 * texts
    }

    /// Gives back what growing left unused.
    pub fn shrink(&mut self) {
        self.bytes.shrink_to_fit();
        self.texts.list.shrink_to_fit();
    }

    /// The packed values, the shared texts and how many each field put in, for a
    /// persisted index.
    pub fn parts(&self) -> (&[u8], &[Box<str>], &[u32]) {
        (&self.bytes, &self.texts.list, &self.texts.per_field)
    }

    /// Values from persisted parts.
    pub fn from_parts(bytes: Vec<u8>, list: Vec<Box<str>>, per_field: Vec<u32>) -> Values {
        let numbers = list
            .iter()
            .enumerate()
            .map(|(n, s)| (s.clone(), n as u32))
            .collect();
        Values {
            bytes,
            texts: Texts {
                list,
                numbers,
                per_field,
            },
        }
    }

    /// Whether a reference lies inside (for references read from disk; decoding checks
    /// every read).
    pub fn holds(&self, r: ValuesRef) -> bool {
        (r.at as usize) < self.bytes.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row() -> Vec<Value> {
        vec![
            Value::Text("Città di Milano".into()),
            Value::Null,
            Value::Integer(-42),
            Value::Real(45.464_203_1),
            Value::Boolean(true),
            Value::Date("2024-05-01".into()),
            Value::Real(12.5),
            Value::Real(-0.0),
            Value::Real(0.1 + 0.2),
            Value::Real(1e300),
            Value::Real(f64::NAN),
            Value::Boolean(false),
            Value::Datetime("2024-05-01T10:00:00Z".into()),
        ]
    }

    /// Equal, NaN included, and reals to the bit.
    fn same(a: &[Value], b: &[Value]) -> bool {
        a.len() == b.len()
            && a.iter().zip(b).all(|(x, y)| match (x, y) {
                (Value::Real(x), Value::Real(y)) => x.to_bits() == y.to_bits(),
                _ => x == y,
            })
    }

    #[test]
    fn values_round_trip_through_copies_and_persisted_parts() {
        let mut v = Values::default();
        let a = v.push(&row());
        let b = v.push(&row());
        let mut out = vec![Value::Integer(1)];
        for r in [a, b] {
            v.decode(r, &mut out);
            assert!(same(&out, &row()), "{out:?}");
        }
        // Copied out (shared texts written in place), reordered, and read back from parts.
        let mut picked = Values::default();
        let c = picked.copy(&v, b);
        picked.decode(c, &mut out);
        assert!(same(&out, &row()));
        let (v, refs) = v.reorder([b, a].into_iter());
        let (bytes, list, per_field) = v.parts();
        let back = Values::from_parts(bytes.to_vec(), list.to_vec(), per_field.to_vec());
        for r in refs {
            back.decode(r, &mut out);
            assert!(same(&out, &row()));
        }
        let empty = picked.push(&[]);
        picked.decode(empty, &mut out);
        assert!(out.is_empty());
    }

    #[test]
    fn a_building_s_values_are_small() {
        let mut v = Values::default();
        let uses = ["residenziale", "commerciale", "industriale"];
        for i in 0..1000 {
            v.push(&[
                Value::Text(format!("ED{i:08}")),
                Value::Text(uses[i % 3].into()),
                Value::Real(f64::from(30 + (i % 570) as i32) / 10.0),
                Value::Integer(1850 + (i % 175) as i64),
                Value::Integer((i % 12) as i64 + 1),
            ]);
        }
        // The code: its number (2 bytes past 127); the use: 2; the height in tenths: 3; the
        // year: 3; the floors: 2; the end byte: 1. Plain, about 45 bytes.
        assert!(v.bytes.len() <= 1000 * 14, "{} bytes", v.bytes.len());
        assert_eq!(v.texts.list.len(), 1003);
        let mut out = Vec::new();
        v.decode(ValuesRef { at: 0 }, &mut out);
        assert_eq!(out[2], Value::Real(3.0));
    }

    #[test]
    fn a_field_of_codes_stops_adding_to_the_list() {
        let mut v = Values::default();
        let n = TEXTS_PER_FIELD as usize + 10;
        let refs: Vec<ValuesRef> = (0..n)
            .map(|i| v.push(&[Value::Text(format!("C{i}")), Value::Text("x".into())]))
            .collect();
        assert_eq!(v.texts.list.len(), TEXTS_PER_FIELD as usize + 1);
        let mut out = Vec::new();
        v.decode(refs[n - 1], &mut out);
        assert_eq!(out[0], Value::Text(format!("C{}", n - 1)));
        assert_eq!(out[1], Value::Text("x".into()));
    }

    #[test]
    fn torn_values_decode_short_without_panic() {
        let mut v = Values::default();
        let r = v.push(&[Value::Integer(1999), Value::Real(2.5)]);
        let (bytes, list, per_field) = v.parts();
        let torn = Values::from_parts(
            bytes[..bytes.len() - 2].to_vec(),
            list.to_vec(),
            per_field.to_vec(),
        );
        let mut vals = Vec::new();
        torn.decode(r, &mut vals);
        assert_eq!(vals[0], Value::Integer(1999));
        assert!(v.holds(r) && !Values::default().holds(r));
        // A reference past the list of texts reads as empty text.
        let bad = Values::from_parts(vec![SHARED, 5, END], Vec::new(), Vec::new());
        bad.decode(ValuesRef { at: 0 }, &mut vals);
        assert_eq!(vals, [Value::Text(String::new())]);
        let mut copy = Values::default();
        let c = copy.copy(&bad, ValuesRef { at: 0 });
        copy.decode(c, &mut vals);
        assert!(vals.is_empty());
    }
}
