//! Geometry kernels in tile space: projection to tile units, clipping to the buffered tile,
//! quantisation, simplification, ring orientation. Pure functions.

use super::feature::Pt;

/// Maps Web Mercator metres to tile units (y down) for one tile.
#[derive(Debug, Clone, Copy)]
pub struct TileSpace {
    pub minx: f64,
    pub maxy: f64,
    pub scale: f64,
}

impl TileSpace {
    pub fn new(bounds: [f64; 4], extent: u32) -> Self {
        TileSpace {
            minx: bounds[0],
            maxy: bounds[3],
            scale: extent as f64 / (bounds[2] - bounds[0]),
        }
    }
    #[inline]
    pub fn apply(&self, p: &Pt) -> Pt {
        [
            (p[0] - self.minx) * self.scale,
            (self.maxy - p[1]) * self.scale,
        ]
    }
}

pub type IPt = [i32; 2];

/// Clips a line string to the square [lo, hi]² (Liang–Barsky per segment), returning the
/// parts that remain.
pub fn clip_line(line: &[Pt], lo: f64, hi: f64) -> Vec<Vec<Pt>> {
    let mut parts: Vec<Vec<Pt>> = Vec::new();
    let mut current: Vec<Pt> = Vec::new();
    for w in line.windows(2) {
        let (a, b) = (w[0], w[1]);
        match clip_segment(a, b, lo, hi) {
            Some((p, q, cut_end)) => {
                if current.last() != Some(&p) {
                    if current.len() >= 2 {
                        parts.push(std::mem::take(&mut current));
                    }
                    current.clear();
                    current.push(p);
                }
                current.push(q);
                if cut_end && current.len() >= 2 {
                    parts.push(std::mem::take(&mut current));
                }
            }
            None => {
                if current.len() >= 2 {
                    parts.push(std::mem::take(&mut current));
                }
                current.clear();
            }
        }
    }
    if current.len() >= 2 {
        parts.push(current);
    }
    parts
}

/// Clips a ring (closed or not) to the square [lo, hi]² by Sutherland–Hodgman, one side at
/// a time, in place (`tmp` is scratch). The result covers exactly the ring's area inside the
/// square, but where the ring leaves and re-enters it runs along the square's side and back:
/// zero-width bridges that the caller must dissolve (the tile engine's overlay does). Empty
/// if nothing is inside.
pub fn clip_ring(ring: &mut Vec<Pt>, tmp: &mut Vec<Pt>, lo: f64, hi: f64) {
    // (axis, bound, keep points whose coordinate is ≥ bound?)
    for (axis, bound, above) in [(0, lo, true), (0, hi, false), (1, lo, true), (1, hi, false)] {
        let Some(&last) = ring.last() else { return };
        let inside = |p: &Pt| {
            if above {
                p[axis] >= bound
            } else {
                p[axis] <= bound
            }
        };
        tmp.clear();
        let mut prev = last;
        for &p in ring.iter() {
            if inside(&prev) != inside(&p) {
                let t = (bound - prev[axis]) / (p[axis] - prev[axis]);
                let mut x = [
                    prev[0] + (p[0] - prev[0]) * t,
                    prev[1] + (p[1] - prev[1]) * t,
                ];
                x[axis] = bound;
                tmp.push(x);
            }
            if inside(&p) {
                tmp.push(p);
            }
            prev = p;
        }
        std::mem::swap(ring, tmp);
    }
}

/// The part of segment a→b inside the square, and whether b itself was cut off.
fn clip_segment(a: Pt, b: Pt, lo: f64, hi: f64) -> Option<(Pt, Pt, bool)> {
    let (dx, dy) = (b[0] - a[0], b[1] - a[1]);
    let (mut t0, mut t1) = (0.0f64, 1.0f64);
    for (p, q) in [
        (-dx, a[0] - lo),
        (dx, hi - a[0]),
        (-dy, a[1] - lo),
        (dy, hi - a[1]),
    ] {
        if p == 0.0 {
            if q < 0.0 {
                return None;
            }
        } else {
            let r = q / p;
            if p < 0.0 {
                t0 = t0.max(r);
            } else {
                t1 = t1.min(r);
            }
            if t0 > t1 {
                return None;
            }
        }
    }
    let at = |t: f64| [a[0] + dx * t, a[1] + dy * t];
    Some((
        if t0 > 0.0 { at(t0) } else { a },
        if t1 < 1.0 { at(t1) } else { b },
        t1 < 1.0,
    ))
}

/// Rounds to integer tile units, dropping consecutive duplicates.
pub fn quantize<'a>(pts: impl IntoIterator<Item = &'a Pt>) -> Vec<IPt> {
    let mut out = Vec::new();
    quantize_into(pts.into_iter().copied(), &mut out);
    out
}

/// [`quantize`] over points computed on the fly, appended to `out` (cleared by the caller).
pub fn quantize_into(pts: impl Iterator<Item = Pt>, out: &mut Vec<IPt>) {
    out.reserve(pts.size_hint().0);
    for p in pts {
        let q = [p[0].round() as i32, p[1].round() as i32];
        if out.last() != Some(&q) {
            out.push(q);
        }
    }
}

/// Douglas–Peucker on integer points with tolerance `tol` (tile units); keeps the ends.
pub fn simplify(pts: &[IPt], tol: f64) -> Vec<IPt> {
    simplify_with(pts, |p| [p[0] as f64, p[1] as f64], tol)
}

/// Douglas–Peucker on Web Mercator points (tolerance in metres); keeps the ends.
pub fn simplify_merc(pts: &[Pt], tol: f64) -> Vec<Pt> {
    simplify_with(pts, |p| *p, tol)
}

fn simplify_with<P: Copy>(pts: &[P], at: impl Fn(&P) -> Pt, tol: f64) -> Vec<P> {
    if pts.len() <= 2 || tol <= 0.0 {
        return pts.to_vec();
    }
    let mut dp = Simplifier::default();
    let keep = dp.mark(pts.len(), |i| at(&pts[i]), tol);
    let mut out = Vec::with_capacity(keep.iter().filter(|k| **k).count());
    extend_kept(&mut out, pts, keep);
    out
}

/// Appends to `out` the points of `pts` that `keep` marks.
pub fn extend_kept<P: Copy>(out: &mut Vec<P>, pts: &[P], keep: &[bool]) {
    out.extend(pts.iter().zip(keep).filter(|(_, k)| **k).map(|(p, _)| *p));
}

/// Douglas–Peucker with its working memory, reusable from one path to the next.
#[derive(Default)]
pub struct Simplifier {
    keep: Vec<bool>,
    stack: Vec<(usize, usize)>,
}

impl Simplifier {
    /// Which of `n` points (read by `at`) stay at tolerance `tol`: an open path, both ends
    /// kept; a closed ring (first = last) works too, measured from that point.
    pub fn mark(&mut self, n: usize, at: impl Fn(usize) -> Pt, tol: f64) -> &[bool] {
        self.keep.clear();
        self.keep.resize(n, false);
        if n == 0 {
            return &self.keep;
        }
        self.keep[0] = true;
        self.keep[n - 1] = true;
        self.stack.clear();
        self.stack.push((0, n - 1));
        let tol2 = tol * tol;
        while let Some((s, e)) = self.stack.pop() {
            let (a, b) = (at(s), at(e));
            let (dx, dy) = (b[0] - a[0], b[1] - a[1]);
            let len2 = dx * dx + dy * dy;
            let mut best = (0.0, 0usize);
            for i in s + 1..e {
                let p = at(i);
                let (px, py) = (p[0] - a[0], p[1] - a[1]);
                let d2 = if len2 == 0.0 {
                    px * px + py * py
                } else {
                    let cross = px * dy - py * dx;
                    cross * cross / len2
                };
                if d2 > best.0 {
                    best = (d2, i);
                }
            }
            if best.0 > tol2 {
                self.keep[best.1] = true;
                self.stack.push((s, best.1));
                self.stack.push((best.1, e));
            }
        }
        &self.keep
    }
}

/// Twice the signed area by the surveyor's formula in tile coordinates (y down): positive
/// means clockwise on screen, which MVT 2.1 requires of exterior rings.
pub fn ring_area2(ring: &[IPt]) -> i64 {
    let n = ring.len();
    (0..n)
        .map(|i| {
            let (a, b) = (ring[i], ring[(i + 1) % n]);
            a[0] as i64 * b[1] as i64 - b[0] as i64 * a[1] as i64
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_clip_splits() {
        let l = [
            [-10.0, 50.0],
            [50.0, 50.0],
            [50.0, 150.0],
            [60.0, 150.0],
            [60.0, 50.0],
        ];
        let parts = clip_line(&l, 0.0, 100.0);
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0], vec![[0.0, 50.0], [50.0, 50.0], [50.0, 100.0]]);
        assert_eq!(parts[1], vec![[60.0, 100.0], [60.0, 50.0]]);
    }

    #[test]
    fn ring_clip_keeps_the_inside() {
        // A square half outside on the right.
        let clip = |r: &[Pt]| {
            let mut r = r.to_vec();
            clip_ring(&mut r, &mut Vec::new(), 0.0, 100.0);
            r
        };
        let sq = [[50.0, 10.0], [150.0, 10.0], [150.0, 90.0], [50.0, 90.0]];
        assert_eq!(
            clip(&sq),
            vec![[50.0, 10.0], [100.0, 10.0], [100.0, 90.0], [50.0, 90.0]]
        );
        assert!(clip(&[[200.0, 0.0], [300.0, 0.0], [250.0, 50.0]]).is_empty());
        // Two arms joined outside the square (below y = 0): inside, the ring runs along the
        // side from one arm to the other and back, a zero-width bridge.
        let u = [
            [10.0, 50.0],
            [10.0, -20.0],
            [40.0, -20.0],
            [40.0, 50.0],
            [30.0, 50.0],
            [30.0, -10.0],
            [20.0, -10.0],
            [20.0, 50.0],
        ];
        assert_eq!(
            clip(&u),
            vec![
                [10.0, 50.0],
                [10.0, 0.0],
                [40.0, 0.0],
                [40.0, 50.0],
                [30.0, 50.0],
                [30.0, 0.0],
                [20.0, 0.0],
                [20.0, 50.0]
            ]
        );
    }

    #[test]
    fn simplify_drops_collinear() {
        let pts = [[0, 0], [1, 0], [2, 0], [3, 5], [4, 0]];
        assert_eq!(simplify(&pts, 0.5), vec![[0, 0], [2, 0], [3, 5], [4, 0]]);
    }

    #[test]
    fn orientation() {
        // Clockwise on screen (y down): right, down, left.
        let cw = [[0, 0], [10, 0], [10, 10], [0, 10]];
        assert!(ring_area2(&cw) > 0);
    }
}
