//! Coordinate reference systems through PROJ (a few declarations of its stable C API; PROJ
//! ships with GDAL): the CRSs the Features API offers, coordinate transformation from CRS84
//! in each CRS's own axis order, and which operation PROJ picked for an ingest (GDAL 3.6 has
//! no API for that).

use std::ffi::{c_char, c_double, c_int, c_void, CStr, CString};

#[repr(C)]
#[derive(Clone, Copy)]
struct PjCoord {
    v: [c_double; 4],
}

#[repr(C)]
struct PjProjInfo {
    id: *const c_char,
    description: *const c_char,
    definition: *const c_char,
    has_inverse: c_int,
    accuracy: c_double,
}

#[link(name = "proj")]
extern "C" {
    fn proj_context_create() -> *mut c_void;
    fn proj_context_destroy(ctx: *mut c_void) -> *mut c_void;
    fn proj_context_set_enable_network(ctx: *mut c_void, enabled: c_int) -> c_int;
    fn proj_create_crs_to_crs(
        ctx: *mut c_void,
        src: *const c_char,
        dst: *const c_char,
        area: *mut c_void,
    ) -> *mut c_void;
    fn proj_normalize_for_visualization(ctx: *mut c_void, pj: *mut c_void) -> *mut c_void;
    fn proj_trans(pj: *mut c_void, direction: c_int, coord: PjCoord) -> PjCoord;
    fn proj_trans_get_last_used_operation(pj: *mut c_void) -> *mut c_void;
    fn proj_pj_info(pj: *mut c_void) -> PjProjInfo;
    fn proj_destroy(pj: *mut c_void) -> *mut c_void;
    fn proj_errno(pj: *const c_void) -> c_int;
    fn proj_errno_reset(pj: *const c_void) -> c_int;
}

pub const CRS84: &str = "http://www.opengis.net/def/crs/OGC/1.3/CRS84";

/// The CRSs offered for output and for `bbox-crs`: CRS84 (lon/lat) and these EPSG codes,
/// always in their authority axis order (4326 is lat/lon, 6707 northing first).
pub const EPSG_CODES: &[u32] = &[4326, 3857, 3003, 32632, 6707, 7791];

/// Every supported CRS URI, CRS84 first.
pub fn supported_uris() -> Vec<String> {
    std::iter::once(CRS84.to_string())
        .chain(
            EPSG_CODES
                .iter()
                .map(|c| format!("http://www.opengis.net/def/crs/EPSG/0/{c}")),
        )
        .collect()
}

/// Parses a CRS URI (or `EPSG:n`, or `[EPSG:n]`): None for CRS84, Some(code) for EPSG.
pub fn parse_uri(s: &str) -> Result<Option<u32>, String> {
    let t = s.trim().trim_start_matches('[').trim_end_matches(']');
    if t == CRS84 || t.eq_ignore_ascii_case("OGC:CRS84") {
        return Ok(None);
    }
    let code = t
        .strip_prefix("http://www.opengis.net/def/crs/EPSG/0/")
        .or_else(|| t.strip_prefix("EPSG:"))
        .and_then(|c| c.parse::<u32>().ok())
        .filter(|c| EPSG_CODES.contains(c));
    code.map(Some).ok_or_else(|| {
        format!(
            "unsupported CRS '{s}': use one of {}",
            supported_uris().join(", ")
        )
    })
}

/// A transformation between CRS84 and one EPSG CRS, in that CRS's axis order. Not shared
/// between threads: make one per request.
pub struct Transformer {
    ctx: *mut c_void,
    pj: *mut c_void,
}

// SAFETY: a Transformer owns its PROJ context and object; moving it to another thread is
// fine as long as it is used by one thread at a time, which `&mut self` methods ensure.
unsafe impl Send for Transformer {}

impl Transformer {
    pub fn new(epsg: u32) -> Option<Transformer> {
        let src = CString::new("OGC:CRS84").ok()?;
        let dst = CString::new(format!("EPSG:{epsg}")).ok()?;
        // SAFETY: pointers checked; destroyed in Drop.
        unsafe {
            let ctx = proj_context_create();
            if ctx.is_null() {
                return None;
            }
            proj_context_set_enable_network(ctx, 0);
            let pj = proj_create_crs_to_crs(ctx, src.as_ptr(), dst.as_ptr(), std::ptr::null_mut());
            if pj.is_null() {
                proj_context_destroy(ctx);
                return None;
            }
            Some(Transformer { ctx, pj })
        }
    }

    fn run(&mut self, dir: c_int, a: f64, b: f64) -> Option<(f64, f64)> {
        // SAFETY: self.pj is a live PJ owned by this value.
        let out = unsafe {
            proj_errno_reset(self.pj);
            let r = proj_trans(
                self.pj,
                dir,
                PjCoord {
                    v: [a, b, 0.0, f64::INFINITY],
                },
            );
            if proj_errno(self.pj) != 0 {
                return None;
            }
            r
        };
        let (x, y) = (out.v[0], out.v[1]);
        (x.is_finite() && y.is_finite()).then_some((x, y))
    }

    /// lon/lat → the CRS's (first axis, second axis).
    pub fn forward(&mut self, lon: f64, lat: f64) -> Option<(f64, f64)> {
        self.run(1, lon, lat)
    }

    /// The CRS's (first axis, second axis) → lon/lat.
    pub fn inverse(&mut self, a: f64, b: f64) -> Option<(f64, f64)> {
        self.run(-1, a, b)
    }
}

impl Drop for Transformer {
    fn drop(&mut self) {
        // SAFETY: both were created in `new` and are destroyed once.
        unsafe {
            proj_destroy(self.pj);
            proj_context_destroy(self.ctx);
        }
    }
}

fn text(p: *const c_char) -> String {
    if p.is_null() {
        String::new()
    } else {
        // SAFETY: PROJ returns NUL-terminated strings owned by the PJ object, alive here.
        unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
    }
}

/// A bbox given in an EPSG CRS (its axis order) as a CRS84 [w, s, e, n], from its corners
/// and edge midpoints.
pub fn bbox_to_crs84(epsg: u32, b: [f64; 4]) -> Option<[f64; 4]> {
    let mut t = Transformer::new(epsg)?;
    let (a0, b0, a1, b1) = (b[0], b[1], b[2], b[3]);
    let mut out: Option<[f64; 4]> = None;
    for (a, bb) in [
        (a0, b0),
        (a1, b0),
        (a0, b1),
        (a1, b1),
        ((a0 + a1) / 2.0, b0),
        ((a0 + a1) / 2.0, b1),
        (a0, (b0 + b1) / 2.0),
        (a1, (b0 + b1) / 2.0),
    ] {
        let (lon, lat) = t.inverse(a, bb)?;
        crate::geom::extend_bbox(&mut out, &[lon, lat, lon, lat]);
    }
    out
}

/// The operation PROJ picks from `source` (an `EPSG:n` code or WKT) to EPSG:4326 at the
/// sample point (x, y in the source CRS, easting first), as "name (accuracy): pipeline".
pub fn describe(source: &str, x: f64, y: f64) -> Option<String> {
    let src = CString::new(source).ok()?;
    let dst = CString::new("EPSG:4326").ok()?;
    // SAFETY: every pointer is checked before use and destroyed exactly once.
    unsafe {
        let ctx = proj_context_create();
        if ctx.is_null() {
            return None;
        }
        proj_context_set_enable_network(ctx, 0);
        let raw = proj_create_crs_to_crs(ctx, src.as_ptr(), dst.as_ptr(), std::ptr::null_mut());
        let mut out = None;
        if !raw.is_null() {
            let pj = proj_normalize_for_visualization(ctx, raw);
            proj_destroy(raw);
            if !pj.is_null() {
                proj_trans(
                    pj,
                    1,
                    PjCoord {
                        v: [x, y, 0.0, f64::INFINITY],
                    },
                );
                let op = proj_trans_get_last_used_operation(pj);
                let target = if op.is_null() { pj } else { op };
                let info = proj_pj_info(target);
                let accuracy = if info.accuracy >= 0.0 {
                    format!("accuracy {} m", info.accuracy)
                } else {
                    "accuracy unknown".to_string()
                };
                out = Some(format!(
                    "{} ({accuracy}): {}",
                    text(info.description),
                    text(info.definition)
                ));
                if !op.is_null() {
                    proj_destroy(op);
                }
                proj_destroy(pj);
            }
        }
        proj_context_destroy(ctx);
        out
    }
}
