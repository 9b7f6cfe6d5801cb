//! A GeoPackage R-tree (SQLite's `rtree` module, `gpkg_rtree_index`) written in bulk: the
//! boxes, already in spatial order, packed into full nodes level by level and written
//! straight into the module's shadow tables (`_node`, `_rowid`, `_parent`), as GDAL does
//! for its own GeoPackages. Inserting them one at a time made SQLite choose a leaf and
//! split nodes for each: 130 s of a 160 s ingest of five million buildings.
//!
//! The layout is the module's own (its `rtree.c`): a node is a blob of the table's node
//! size — a 2-byte tree depth (in the root, node 1), a 2-byte cell count, then cells of an
//! 8-byte id (a row id in leaves, a child node's number above) and four 4-byte `f32`
//! (min x, max x, min y, max y), all big-endian; `_rowid` maps each row to its leaf,
//! `_parent` each node but the root to its parent. SQLite's `rtreecheck()` verifies it
//! (`tests/store_suite.rs`); later edits insert and delete through the module as usual.

/// Bytes of a cell: id and four coordinates.
const CELL: usize = 8 + 4 * 4;
/// The module's most cells in a node.
const MAX_CELLS: usize = 51;

/// The shadow tables' rows.
#[derive(Default)]
pub(super) struct Tables {
    /// (node number, blob).
    pub nodes: Vec<(i64, Vec<u8>)>,
    /// (row id, leaf node number), by row id.
    pub rowids: Vec<(i64, i64)>,
    /// (node number, parent node number).
    pub parents: Vec<(i64, i64)>,
}

/// An `f32` at or below `v`, and one at or above.
fn down(v: f64) -> f32 {
    let f = v as f32;
    if f64::from(f) > v {
        f.next_down()
    } else {
        f
    }
}

fn up(v: f64) -> f32 {
    let f = v as f32;
    if f64::from(f) < v {
        f.next_up()
    } else {
        f
    }
}

/// A cell's box, in the module's order: min x, max x, min y, max y.
type Cell = (i64, [f32; 4]);

fn union(cells: &[Cell]) -> [f32; 4] {
    cells.iter().fold(
        [
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::INFINITY,
            f32::NEG_INFINITY,
        ],
        |a, (_, b)| {
            [
                a[0].min(b[0]),
                a[1].max(b[1]),
                a[2].min(b[2]),
                a[3].max(b[3]),
            ]
        },
    )
}

/// The tables of an R-tree holding `boxes` ((row id, [min x, min y, max x, max y]), in the
/// order to keep: spatial), with nodes of `node_size` bytes (the size the module gave the
/// table's root when it was created). Empty for no boxes.
pub(super) fn pack(boxes: &[(i64, [f64; 4])], node_size: usize) -> Tables {
    let per_node = (node_size.saturating_sub(4) / CELL).clamp(2, MAX_CELLS);
    let mut out = Tables::default();
    if boxes.is_empty() {
        return out;
    }
    // Level 0 holds the rows; each level above, a cell per node below (by its position).
    let mut levels: Vec<Vec<Vec<Cell>>> = Vec::new();
    let mut cells: Vec<Cell> = boxes
        .iter()
        .map(|(id, b)| (*id, [down(b[0]), up(b[2]), down(b[1]), up(b[3])]))
        .collect();
    loop {
        let nodes: Vec<Vec<Cell>> = cells.chunks(per_node).map(<[Cell]>::to_vec).collect();
        let top = nodes.len() == 1;
        cells = nodes
            .iter()
            .enumerate()
            .map(|(i, c)| (i as i64, union(c)))
            .collect();
        levels.push(nodes);
        if top {
            break;
        }
    }
    // The root is node 1; the others are numbered from 2, level by level from the leaves.
    let top = levels.len() - 1;
    let mut next = 2;
    let numbers: Vec<Vec<i64>> = levels
        .iter()
        .enumerate()
        .map(|(l, nodes)| {
            nodes
                .iter()
                .map(|_| {
                    if l == top {
                        1
                    } else {
                        next += 1;
                        next - 1
                    }
                })
                .collect()
        })
        .collect();
    for (l, nodes) in levels.iter().enumerate() {
        for (i, node) in nodes.iter().enumerate() {
            let number = numbers[l][i];
            let mut blob = vec![0u8; node_size];
            if l == top {
                blob[..2].copy_from_slice(&(top as u16).to_be_bytes());
            }
            blob[2..4].copy_from_slice(&(node.len() as u16).to_be_bytes());
            for (k, (id, b)) in node.iter().enumerate() {
                let id = if l == 0 {
                    out.rowids.push((*id, number));
                    *id
                } else {
                    let child = numbers[l - 1][*id as usize];
                    out.parents.push((child, number));
                    child
                };
                let at = 4 + k * CELL;
                blob[at..at + 8].copy_from_slice(&id.to_be_bytes());
                for (j, v) in b.iter().enumerate() {
                    blob[at + 8 + 4 * j..at + 12 + 4 * j]
                        .copy_from_slice(&v.to_bits().to_be_bytes());
                }
            }
            out.nodes.push((number, blob));
        }
    }
    // By row id, so that the table is written in key order (appended, not inserted).
    out.rowids.sort_unstable();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_numbers_and_cells() {
        // 51 × 51 + 1 boxes: three levels, the root with two children.
        let n = MAX_CELLS * MAX_CELLS + 1;
        let boxes: Vec<(i64, [f64; 4])> = (0..n as i64)
            .map(|i| (i + 1, [i as f64, 0.5, i as f64 + 0.25, 1.5]))
            .collect();
        let t = pack(&boxes, 1228);
        assert_eq!(t.rowids.len(), n);
        let root = &t.nodes.iter().find(|(k, _)| *k == 1).unwrap().1;
        assert_eq!(root.len(), 1228);
        assert_eq!(u16::from_be_bytes([root[0], root[1]]), 2, "depth");
        assert_eq!(u16::from_be_bytes([root[2], root[3]]), 2, "cells");
        // 52 leaves + 2 + the root; every node but the root has a parent.
        assert_eq!(t.nodes.len(), 52 + 2 + 1);
        assert_eq!(t.parents.len(), t.nodes.len() - 1);
        let first = &t.nodes[0].1;
        assert_eq!(i64::from_be_bytes(first[4..12].try_into().unwrap()), 1);
        let min_x = f32::from_bits(u32::from_be_bytes(first[12..16].try_into().unwrap()));
        assert_eq!(min_x, 0.0);
        assert!(pack(&[], 1228).nodes.is_empty());
        // One box: the root is the leaf, depth 0.
        let one = pack(&boxes[..1], 1228);
        assert_eq!(
            (one.nodes.len(), one.nodes[0].0, one.nodes[0].1[1]),
            (1, 1, 0)
        );
    }
}
