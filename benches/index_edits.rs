//! How long a feature edit takes to apply to a tile index (most of it in the index's write
//! lock, which a tile render waits for), and how long the relayout holds that lock: under a steady stream of edits the index copies its
//! geometry and values afresh once they have grown by half (`Inner::compact_if_grown`), in
//! that lock. On the census sections laid 150 times (a 15 × 10 grid: 1,064,250 polygons;
//! `BENCH_COPIES=6x5` for the 212,850 of the other benches), one edit at a time — a feature
//! put back with its own geometry, as a PATCH of an attribute does — until the index has
//! been laid out again twice (its heap falls by a tenth), or 3,000,000 edits
//! (`BENCH_EDITS`). `cargo bench --bench index_edits`. Prints figures; asserts
//! nothing.

mod common;

use std::time::Instant;

use atlante::tiles::index::LayerIndex;

// The server's allocator (src/main.rs), so the figures are the server's.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let copies = std::env::var("BENCH_COPIES").unwrap_or_else(|_| "15x10".into());
    let (nx, ny) = copies.split_once('x').expect("BENCH_COPIES is NXxNY");
    let (layer, stored) = common::census(nx.parse().unwrap(), ny.parse().unwrap());
    let features = stored.clone();
    let n = stored.len();
    let t = Instant::now();
    let index = LayerIndex::build(layer, stored);
    println!(
        "index: {n} polygons built in {:.1} s, {:.1} MiB",
        t.elapsed().as_secs_f64(),
        index.heap_bytes() as f64 / 1048576.0
    );
    // A fixed pseudo-random walk over the features (a 64-bit LCG: no seed to carry).
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 33) as usize % n
    };
    // Every apply over 5 ms, with the index's heap before and after: the relayouts (the
    // heap falls), the packed tree rebuilt from the slots once its delta passes its bound,
    // an arena growing its capacity.
    let max_edits: usize = std::env::var("BENCH_EDITS").map_or(3_000_000, |v| v.parse().unwrap());
    let (mut micros, mut stalls) = (Vec::new(), Vec::new());
    let mut relayouts = 0;
    let mut heap = index.heap_bytes();
    let started = Instant::now();
    while relayouts < 2 && micros.len() < max_edits {
        let f = &features[next()];
        let bbox = atlante::geom::from_wkb(&f.wkb).and_then(|g| atlante::geom::bbox(&g));
        let t = Instant::now();
        index.apply(&[(f.fid, bbox)], vec![f.clone()], micros.len() as i64 + 1);
        let us = t.elapsed().as_secs_f64() * 1e6;
        micros.push(us);
        let now = index.heap_bytes();
        if now < heap - heap / 10 {
            relayouts += 1;
        }
        if us > 5000.0 {
            stalls.push((micros.len(), us, heap, now));
        }
        heap = now;
        if micros.len() % 100_000 == 0 {
            eprintln!(
                "{} edits, {:.0} s, index heap {:.1} MiB",
                micros.len(),
                started.elapsed().as_secs_f64(),
                now as f64 / 1048576.0
            );
        }
    }
    let edits = micros.len();
    let total = started.elapsed().as_secs_f64();
    micros.sort_by(f64::total_cmp);
    let q = |p: f64| micros[((p * edits as f64) as usize).min(edits - 1)];
    println!(
        "{edits} edits in {total:.1} s, each applied (projected, then in the write lock) in p50 {:.1} µs, p99 {:.1} µs, p99.99 {:.0} µs, max {:.1} ms",
        q(0.5),
        q(0.99),
        q(0.9999),
        micros[edits - 1] / 1000.0
    );
    println!("applies over 5 ms: {}", stalls.len());
    for (at, us, before, after) in stalls {
        println!(
            "  edit {at}: {:.1} ms, index heap {:.1} → {:.1} MiB",
            us / 1000.0,
            before as f64 / 1048576.0,
            after as f64 / 1048576.0
        );
    }
}
