//! A packed R-tree of boxes (the layout of flatbush and FlatGeobuf's index): the items'
//! boxes in the order given — spatial order, as the index lays features out — grouped 16
//! to a node, level by level, all in one flat array of `f32` boxes rounded outward. The
//! items' own boxes are not kept: the index holds them already (each slot's box), so a
//! query answers every item of the leaf nodes it meets and callers check their exact
//! boxes. About one byte an item, built in one pass without sorting, nothing allocated per
//! item.
//!
//! Edits do not repack: an item taken out is marked gone (its box stays in its node, which
//! only loosens it); an item put in — new, or moved by an edit — goes in a short list
//! that queries scan. When that list is long the tree is packed again, in one pass, from
//! the items' boxes as the caller has them.

/// Children per node.
const NODE: usize = 16;
/// Items put in since the last packing that make the tree pack again.
const DELTA_MAX: usize = 4096;
/// How many node boxes a tree of `n` items holds: every level of nodes.
fn nodes(n: usize) -> usize {
    let (mut total, mut level) = (0, n);
    while level > 1 {
        level = level.div_ceil(NODE);
        total += level;
    }
    total.max(usize::from(n > 0))
}

/// A box that meets nothing: what a gone item contributes to a new packing.
const NOTHING: [f32; 4] = [
    f32::INFINITY,
    f32::INFINITY,
    f32::NEG_INFINITY,
    f32::NEG_INFINITY,
];

#[derive(Default)]
pub struct PackedTree {
    /// Items packed.
    n: usize,
    /// The leaf nodes (each the union of 16 items' boxes), then each level of nodes up to
    /// the root.
    boxes: Vec<[f32; 4]>,
    /// Where each level of nodes ends in `boxes`.
    ends: Vec<usize>,
    /// A bit per packed item taken out since.
    gone: Vec<u64>,
    /// Items put in since the packing, by id.
    delta: Vec<(u32, [f32; 4])>,
}

impl PackedTree {
    /// A tree of items 0..n with these boxes (min x, min y, max x, max y).
    pub fn new(boxes: impl IntoIterator<Item = [f64; 4]>) -> PackedTree {
        PackedTree::pack(boxes.into_iter().map(|b| outward(&b)))
    }

    /// Packs the items' boxes into leaf nodes as they come, then the nodes above them into
    /// the same array, made once at its exact size (growing it as it filled doubled it
    /// for a moment: memory the allocator then kept).
    fn pack(items: impl Iterator<Item = [f32; 4]>) -> PackedTree {
        let mut boxes: Vec<[f32; 4]> = Vec::with_capacity(nodes(items.size_hint().0));
        let (mut n, mut node) = (0, NOTHING);
        for b in items {
            node = union(node, &b);
            n += 1;
            if n % NODE == 0 {
                boxes.push(node);
                node = NOTHING;
            }
        }
        if n % NODE != 0 {
            boxes.push(node);
        }
        boxes.reserve_exact(nodes(n).saturating_sub(boxes.len()));
        let mut ends = vec![boxes.len()];
        let mut start = 0;
        while boxes.len() - start > 1 {
            let end = boxes.len();
            for at in (start..end).step_by(NODE) {
                let node = boxes[at..(at + NODE).min(end)].iter().fold(NOTHING, union);
                boxes.push(node);
            }
            start = end;
            ends.push(boxes.len());
        }
        boxes.shrink_to_fit();
        PackedTree {
            n,
            boxes,
            ends: if n == 0 { Vec::new() } else { ends },
            gone: vec![0; n.div_ceil(64)],
            delta: Vec::new(),
        }
    }

    fn is_gone(&self, id: usize) -> bool {
        self.gone[id / 64] & (1 << (id % 64)) != 0
    }

    /// Calls `found` with every item held in a leaf node whose box meets `q`, and every
    /// item put in since the packing whose box meets it: a superset of the items that
    /// meet `q`, which callers narrow by their exact boxes.
    pub fn query(&self, q: &[f64; 4], mut found: impl FnMut(u32)) {
        let q = outward(q);
        let meets = |b: &[f32; 4]| b[0] <= q[2] && b[2] >= q[0] && b[1] <= q[3] && b[3] >= q[1];
        if let Some(top) = self.ends.len().checked_sub(1) {
            let start = |level: usize| if level == 0 { 0 } else { self.ends[level - 1] };
            let mut stack: Vec<(usize, usize)> =
                (start(top)..self.ends[top]).map(|i| (top, i)).collect();
            while let Some((level, i)) = stack.pop() {
                if !meets(&self.boxes[i]) {
                    continue;
                }
                if level == 0 {
                    let first = i * NODE;
                    for id in first..(first + NODE).min(self.n) {
                        if !self.is_gone(id) {
                            found(id as u32);
                        }
                    }
                    continue;
                }
                let first = start(level - 1) + (i - start(level)) * NODE;
                let last = (first + NODE).min(self.ends[level - 1]);
                stack.extend((first..last).map(|c| (level - 1, c)));
            }
        }
        for (id, b) in &self.delta {
            if meets(b) {
                found(*id);
            }
        }
    }

    /// Takes item `id` out (if held).
    pub fn remove(&mut self, id: u32) {
        let i = id as usize;
        if i < self.n {
            self.gone[i / 64] |= 1 << (i % 64);
        }
        self.delta.retain(|(d, _)| *d != id);
    }

    /// Puts item `id` in with this box (in place of any box it had). `held` gives the box
    /// of any item held, should the tree pack again.
    pub fn insert(&mut self, id: u32, bbox: &[f64; 4], held: impl Fn(u32) -> [f64; 4]) {
        self.remove(id);
        self.delta.push((id, outward(bbox)));
        if self.delta.len() > DELTA_MAX {
            self.repack(held);
        }
    }

    /// Packs the held items again, delta included.
    fn repack(&mut self, held: impl Fn(u32) -> [f64; 4]) {
        let n = self.n;
        let mut delta = std::mem::take(&mut self.delta);
        delta.sort_unstable_by_key(|(id, _)| *id);
        let len = delta.last().map_or(0, |(id, _)| *id as usize + 1).max(n);
        let mut next = delta.iter().peekable();
        let items = (0..len).map(|i| {
            if let Some((_, b)) = next.next_if(|(id, _)| *id as usize == i) {
                *b
            } else if i < n && !self.is_gone(i) {
                outward(&held(i as u32))
            } else {
                NOTHING
            }
        });
        let mut packed = PackedTree::pack(items);
        // Ids gone, or past the old end, stay out — but those put in since: the old marks
        // a word at a time, then the delta's cleared (an id put in was marked gone then).
        packed.gone[..self.gone.len()].copy_from_slice(&self.gone);
        for i in n..len {
            packed.gone[i / 64] |= 1 << (i % 64);
        }
        for (id, _) in &delta {
            let i = *id as usize;
            packed.gone[i / 64] &= !(1 << (i % 64));
        }
        *self = packed;
    }

    /// The ids held, in order.
    pub fn ids(&self) -> Vec<u32> {
        let mut ids: Vec<u32> = (0..self.n)
            .filter(|&i| !self.is_gone(i))
            .map(|i| i as u32)
            .chain(self.delta.iter().map(|(id, _)| *id))
            .collect();
        ids.sort_unstable();
        ids
    }

    pub fn heap_bytes(&self) -> usize {
        self.boxes.capacity() * 16
            + self.ends.capacity() * 8
            + self.gone.capacity() * 8
            + self.delta.capacity() * 20
    }
}

fn union(a: [f32; 4], b: &[f32; 4]) -> [f32; 4] {
    [
        a[0].min(b[0]),
        a[1].min(b[1]),
        a[2].max(b[2]),
        a[3].max(b[3]),
    ]
}

/// A box in `f32` that holds the `f64` one.
fn outward(b: &[f64; 4]) -> [f32; 4] {
    let down = |v: f64| {
        let f = v as f32;
        if f64::from(f) > v {
            f.next_down()
        } else {
            f
        }
    };
    let up = |v: f64| {
        let f = v as f32;
        if f64::from(f) < v {
            f.next_up()
        } else {
            f
        }
    };
    [down(b[0]), down(b[1]), up(b[2]), up(b[3])]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Deterministic boxes on a Web Mercator-sized plane.
    fn boxes(n: usize, seed: u64) -> Vec<[f64; 4]> {
        let mut s = seed;
        let mut next = move || {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (s >> 11) as f64 / (1u64 << 53) as f64
        };
        (0..n)
            .map(|_| {
                let (x, y) = (1.0e6 + next() * 5.0e4, 5.7e6 + next() * 5.0e4);
                [x, y, x + next() * 80.0, y + next() * 80.0]
            })
            .collect()
    }

    fn meets(b: &[f64; 4], q: &[f64; 4]) -> bool {
        b[0] <= q[2] && b[2] >= q[0] && b[1] <= q[3] && b[3] >= q[1]
    }

    /// The tree's answer, checked exactly (as callers do).
    fn exact(t: &PackedTree, held: &[Option<[f64; 4]>], q: &[f64; 4]) -> Vec<u32> {
        let mut ids = Vec::new();
        t.query(q, |id| {
            if held[id as usize].is_some_and(|b| meets(&b, q)) {
                ids.push(id)
            }
        });
        ids.sort_unstable();
        ids
    }

    fn brute(held: &[Option<[f64; 4]>], q: &[f64; 4]) -> Vec<u32> {
        (0..held.len() as u32)
            .filter(|&i| held[i as usize].is_some_and(|b| meets(&b, q)))
            .collect()
    }

    #[test]
    fn answers_as_a_scan_through_edits_and_repacking() {
        let mut held: Vec<Option<[f64; 4]>> = boxes(20_000, 1).into_iter().map(Some).collect();
        let mut t = PackedTree::new(held.iter().map(|b| b.unwrap()));
        let queries = boxes(50, 2)
            .into_iter()
            .map(|b| [b[0], b[1], b[0] + 3_000.0, b[1] + 2_000.0]);
        let queries: Vec<[f64; 4]> = queries.collect();
        let check = |t: &PackedTree, held: &[Option<[f64; 4]>]| {
            for q in &queries {
                assert_eq!(exact(t, held, q), brute(held, q));
            }
            let ids: Vec<u32> = (0..held.len() as u32)
                .filter(|&i| held[i as usize].is_some())
                .collect();
            assert_eq!(t.ids(), ids);
        };
        check(&t, &held);
        // Moves, removals and new ids, past a repacking (DELTA_MAX).
        let moved = boxes(DELTA_MAX + 500, 3);
        for (k, b) in moved.iter().enumerate() {
            let id = (k * 7 % 25_000) as u32;
            if held.len() <= id as usize {
                held.resize(id as usize + 1, None);
            }
            if k % 3 == 0 {
                t.remove(id);
                held[id as usize] = None;
            } else {
                t.insert(id, b, |i| held[i as usize].unwrap());
                held[id as usize] = Some(*b);
            }
            if k % 1000 == 0 {
                check(&t, &held);
            }
        }
        check(&t, &held);
        assert!(t.delta.len() < DELTA_MAX, "packed again");
    }

    #[test]
    fn empty_and_single() {
        let t = PackedTree::new(Vec::new());
        t.query(&[0.0, 0.0, 1.0, 1.0], |_| panic!("nothing held"));
        let t = PackedTree::new(vec![[1.0, 1.0, 2.0, 2.0]]);
        let mut got = Vec::new();
        t.query(&[0.0, 0.0, 1.0, 1.0], |id| got.push(id));
        assert_eq!(got, vec![0]);
    }

    #[test]
    fn boxes_round_outward() {
        let b = [
            1_000_000.123_456_789,
            5_700_000.987_654_321,
            1_000_010.1,
            5_700_010.9,
        ];
        let f = outward(&b);
        assert!(f64::from(f[0]) <= b[0] && f64::from(f[1]) <= b[1]);
        assert!(f64::from(f[2]) >= b[2] && f64::from(f[3]) >= b[3]);
    }
}
