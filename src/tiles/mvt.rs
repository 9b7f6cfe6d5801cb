//! A Mapbox Vector Tile 2.1 writer: protobuf by hand (no codegen), one layer at a time,
//! keys and values de-duplicated, geometry as zig-zag delta commands.

use std::collections::HashMap;

use super::clip::IPt;
use crate::model::Value;

fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn key(out: &mut Vec<u8>, field: u32, wire: u32) {
    varint(out, ((field << 3) | wire) as u64);
}

fn bytes_field(out: &mut Vec<u8>, field: u32, data: &[u8]) {
    key(out, field, 2);
    varint(out, data.len() as u64);
    out.extend_from_slice(data);
}

fn zigzag(v: i32) -> u32 {
    ((v << 1) ^ (v >> 31)) as u32
}

/// MVT geometry types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GeomKind {
    Point = 1,
    LineString = 2,
    Polygon = 3,
}

/// Geometry command encoder with the cursor MVT deltas are relative to.
#[derive(Default)]
pub struct Commands {
    pub ints: Vec<u32>,
    cursor: IPt,
}

impl Commands {
    fn cmd(&mut self, id: u32, count: u32) {
        self.ints.push((id & 7) | (count << 3));
    }
    fn delta(&mut self, p: IPt) {
        self.ints.push(zigzag(p[0] - self.cursor[0]));
        self.ints.push(zigzag(p[1] - self.cursor[1]));
        self.cursor = p;
    }
    /// All points as one MoveTo.
    pub fn points(&mut self, pts: &[IPt]) {
        self.cmd(1, pts.len() as u32);
        pts.iter().for_each(|p| self.delta(*p));
    }
    /// A line string (at least two points).
    pub fn line(&mut self, pts: &[IPt]) {
        self.cmd(1, 1);
        self.delta(pts[0]);
        self.cmd(2, pts.len() as u32 - 1);
        pts[1..].iter().for_each(|p| self.delta(*p));
    }
    /// A ring without its closing point (at least three points).
    pub fn ring(&mut self, pts: &[IPt]) {
        self.line(pts);
        self.cmd(7, 1);
    }
    pub fn is_empty(&self) -> bool {
        self.ints.is_empty()
    }
    /// Empties the encoder for the next feature (keeping its memory).
    pub fn clear(&mut self) {
        self.ints.clear();
        self.cursor = [0, 0];
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum ValueKey {
    Str(String),
    Int(i64),
    Double(u64),
    Bool(bool),
}

/// FxHash (rustc's hasher): the value tables are hashed once per attribute of every
/// feature, and SipHash's DoS resistance buys nothing for a tile's own values.
#[derive(Default, Clone, Copy)]
struct FxHasher(u64);

impl std::hash::Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut b = [0u8; 8];
            b[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(b));
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = (self.0.rotate_left(5) ^ v).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
    fn write_u8(&mut self, v: u8) {
        self.write_u64(u64::from(v));
    }
    fn write_usize(&mut self, v: usize) {
        self.write_u64(v as u64);
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

type Fx = std::hash::BuildHasherDefault<FxHasher>;

/// Builds one MVT layer.
pub struct LayerBuilder {
    name: String,
    extent: u32,
    keys: Vec<String>,
    values: Vec<ValueKey>,
    /// Text values by content (looked up by `&str`, no copy), others by kind and bits.
    text_index: HashMap<String, u32, Fx>,
    other_index: HashMap<ValueKey, u32, Fx>,
    features: Vec<u8>,
    count: usize,
    /// Reused between features: tags, a feature's bytes, a packed field.
    tags: Vec<u32>,
    feature: Vec<u8>,
    packed: Vec<u8>,
}

impl LayerBuilder {
    pub fn new(name: &str, extent: u32) -> Self {
        LayerBuilder {
            name: name.to_string(),
            extent,
            keys: Vec::new(),
            values: Vec::new(),
            text_index: HashMap::default(),
            other_index: HashMap::default(),
            features: Vec::new(),
            count: 0,
            tags: Vec::new(),
            feature: Vec::new(),
            packed: Vec::new(),
        }
    }

    /// Sets the key list (the attribute names, in schema order).
    pub fn set_keys(&mut self, keys: Vec<String>) {
        self.keys = keys;
    }

    fn value(&mut self, v: &Value) -> Option<u32> {
        let next = self.values.len() as u32;
        let k = match v {
            Value::Null => return None,
            Value::Text(s) | Value::Date(s) | Value::Datetime(s) => {
                if let Some(i) = self.text_index.get(s.as_str()) {
                    return Some(*i);
                }
                self.text_index.insert(s.clone(), next);
                self.values.push(ValueKey::Str(s.clone()));
                return Some(next);
            }
            Value::Integer(i) => ValueKey::Int(*i),
            Value::Real(f) => ValueKey::Double(f.to_bits()),
            Value::Boolean(b) => ValueKey::Bool(*b),
        };
        if let Some(i) = self.other_index.get(&k) {
            return Some(*i);
        }
        self.values.push(k.clone());
        self.other_index.insert(k, next);
        Some(next)
    }

    /// Adds a feature; `values[i]` belongs to key `i`; nulls are left out.
    pub fn add(&mut self, id: u64, kind: GeomKind, geom: &Commands, values: &[Value]) {
        let mut tags = std::mem::take(&mut self.tags);
        tags.clear();
        for (i, v) in values.iter().enumerate() {
            if let Some(vi) = self.value(v) {
                tags.push(i as u32);
                tags.push(vi);
            }
        }
        let (f, packed) = (&mut self.feature, &mut self.packed);
        f.clear();
        key(f, 1, 0);
        varint(f, id);
        if !tags.is_empty() {
            packed.clear();
            tags.iter().for_each(|t| varint(packed, *t as u64));
            bytes_field(f, 2, packed);
        }
        key(f, 3, 0);
        varint(f, kind as u64);
        packed.clear();
        geom.ints.iter().for_each(|t| varint(packed, *t as u64));
        bytes_field(f, 4, packed);
        bytes_field(&mut self.features, 2, f);
        self.tags = tags;
        self.count += 1;
    }

    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Appends the finished layer to a tile buffer (as field 3 of Tile).
    pub fn finish_into(self, tile: &mut Vec<u8>) {
        let mut l = Vec::with_capacity(self.features.len() + 256);
        key(&mut l, 15, 0);
        varint(&mut l, 2);
        bytes_field(&mut l, 1, self.name.as_bytes());
        l.extend_from_slice(&self.features);
        for k in &self.keys {
            bytes_field(&mut l, 3, k.as_bytes());
        }
        for v in &self.values {
            let mut m = Vec::new();
            match v {
                ValueKey::Str(s) => bytes_field(&mut m, 1, s.as_bytes()),
                ValueKey::Double(bits) => {
                    key(&mut m, 3, 1);
                    m.extend_from_slice(&f64::from_bits(*bits).to_le_bytes());
                }
                ValueKey::Int(i) if *i < 0 => {
                    key(&mut m, 6, 0);
                    varint(&mut m, ((*i << 1) ^ (*i >> 63)) as u64);
                }
                ValueKey::Int(i) => {
                    key(&mut m, 5, 0);
                    varint(&mut m, *i as u64);
                }
                ValueKey::Bool(b) => {
                    key(&mut m, 7, 0);
                    varint(&mut m, *b as u64);
                }
            }
            bytes_field(&mut l, 4, &m);
        }
        key(&mut l, 5, 0);
        varint(&mut l, self.extent as u64);
        bytes_field(tile, 3, &l);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_follow_the_spec_example() {
        // MVT 2.1 spec, 4.3.5.1: a point at (25, 17) is [9, 50, 34].
        let mut c = Commands::default();
        c.points(&[[25, 17]]);
        assert_eq!(c.ints, vec![9, 50, 34]);
        // 4.3.5.3: line (2,2) (2,10) (10,10) is [9, 4, 4, 18, 0, 16, 16, 0].
        let mut c = Commands::default();
        c.line(&[[2, 2], [2, 10], [10, 10]]);
        assert_eq!(c.ints, vec![9, 4, 4, 18, 0, 16, 16, 0]);
        // 4.3.5.5: polygon (3,6) (8,12) (20,34) is [9, 6, 12, 18, 10, 12, 24, 44, 15].
        let mut c = Commands::default();
        c.ring(&[[3, 6], [8, 12], [20, 34]]);
        assert_eq!(c.ints, vec![9, 6, 12, 18, 10, 12, 24, 44, 15]);
    }
}
