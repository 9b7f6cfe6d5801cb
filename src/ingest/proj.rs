//! Asks PROJ which coordinate operation it uses for a source CRS → EPSG:4326 at a sample
//! point, so each layer version records the transform that placed it (GDAL 3.6 has no API
//! for this). A few declarations of PROJ's stable C API; PROJ ships with GDAL.

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
}

fn text(p: *const c_char) -> String {
    if p.is_null() {
        String::new()
    } else {
        // SAFETY: PROJ returns NUL-terminated strings owned by the PJ object, alive here.
        unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
    }
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
