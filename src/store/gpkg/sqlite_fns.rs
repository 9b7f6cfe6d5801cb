//! SQL functions the GeoPackage store registers on each SQLite connection, so that CQL2
//! filters run inside SQLite as they run inside PostGIS:
//! * `atlante_relate(code, a, b)`: the spatial predicate `code` (see
//!   [`crate::store::filter::relate_code`]) between two geometries, each a GeoPackage blob or
//!   plain WKB; NULL when either is NULL or unreadable. The parsed literal (argument 3) is
//!   kept by SQLite between rows (`sqlite3_set_auxdata`).
//! * `atlante_lower(text)`: Unicode lower case (CASEI), like PostgreSQL's ICU `lower`.

use std::ffi::{c_int, c_void};
use std::panic::{catch_unwind, AssertUnwindSafe};

use geo_types::Geometry;
use libsqlite3_sys as ffi;

use crate::store::filter::relate_op;

/// Registers the functions on a raw connection.
///
/// # Safety
/// `db` must be an open SQLite connection used by this thread for the call's duration.
pub unsafe fn register(db: *mut ffi::sqlite3) -> Result<(), String> {
    let flags = ffi::SQLITE_UTF8 | ffi::SQLITE_DETERMINISTIC;
    let fns: [(
        &[u8],
        c_int,
        unsafe extern "C" fn(*mut ffi::sqlite3_context, c_int, *mut *mut ffi::sqlite3_value),
    ); 2] = [
        (b"atlante_relate\0", 3, relate),
        (b"atlante_lower\0", 1, lower),
    ];
    for (name, n, f) in fns {
        let rc = ffi::sqlite3_create_function_v2(
            db,
            name.as_ptr().cast(),
            n,
            flags,
            std::ptr::null_mut(),
            Some(f),
            None,
            None,
            None,
        );
        if rc != ffi::SQLITE_OK {
            return Err(format!("sqlite3_create_function_v2 failed: {rc}"));
        }
    }
    Ok(())
}

/// The bytes of a BLOB argument.
unsafe fn blob<'a>(v: *mut ffi::sqlite3_value) -> Option<&'a [u8]> {
    if ffi::sqlite3_value_type(v) != ffi::SQLITE_BLOB {
        return None;
    }
    let p = ffi::sqlite3_value_blob(v);
    let n = ffi::sqlite3_value_bytes(v);
    if p.is_null() || n <= 0 {
        return None;
    }
    Some(std::slice::from_raw_parts(p.cast::<u8>(), n as usize))
}

fn geometry(bytes: &[u8]) -> Option<Geometry<f64>> {
    let wkb = if bytes.starts_with(b"GP") {
        crate::geom::gpkg_blob_wkb(bytes)?
    } else {
        bytes
    };
    crate::geom::from_wkb(wkb)
}

unsafe extern "C" fn drop_geometry(p: *mut c_void) {
    drop(Box::from_raw(p.cast::<Geometry<f64>>()));
}

/// Argument `i` as a geometry, cached by SQLite when it is a constant.
unsafe fn cached_geometry<'a>(
    ctx: *mut ffi::sqlite3_context,
    args: &[*mut ffi::sqlite3_value],
    i: c_int,
    own: &'a mut Option<Geometry<f64>>,
) -> Option<&'a Geometry<f64>> {
    let aux = ffi::sqlite3_get_auxdata(ctx, i).cast::<Geometry<f64>>();
    if !aux.is_null() {
        return Some(&*aux);
    }
    let g = geometry(blob(args[i as usize])?)?;
    let boxed = Box::into_raw(Box::new(g));
    ffi::sqlite3_set_auxdata(ctx, i, boxed.cast(), Some(drop_geometry));
    // SQLite may have freed it already (when it cannot keep it): fetch it again.
    let aux = ffi::sqlite3_get_auxdata(ctx, i).cast::<Geometry<f64>>();
    if aux.is_null() {
        *own = geometry(blob(args[i as usize])?);
        return own.as_ref();
    }
    Some(&*aux)
}

unsafe extern "C" fn relate(
    ctx: *mut ffi::sqlite3_context,
    argc: c_int,
    argv: *mut *mut ffi::sqlite3_value,
) {
    let result = catch_unwind(AssertUnwindSafe(|| {
        let args = std::slice::from_raw_parts(argv, argc as usize);
        let op = relate_op(ffi::sqlite3_value_int64(args[0]))?;
        let a = geometry(blob(args[1])?)?;
        let mut own = None;
        let b = cached_geometry(ctx, args, 2, &mut own)?;
        Some(op.holds(&a, b))
    }));
    match result {
        Ok(Some(v)) => ffi::sqlite3_result_int(ctx, c_int::from(v)),
        _ => ffi::sqlite3_result_null(ctx),
    }
}

unsafe extern "C" fn lower(
    ctx: *mut ffi::sqlite3_context,
    argc: c_int,
    argv: *mut *mut ffi::sqlite3_value,
) {
    let args = std::slice::from_raw_parts(argv, argc as usize);
    if ffi::sqlite3_value_type(args[0]) != ffi::SQLITE_TEXT {
        ffi::sqlite3_result_null(ctx);
        return;
    }
    let p = ffi::sqlite3_value_text(args[0]);
    let n = ffi::sqlite3_value_bytes(args[0]);
    let text = if p.is_null() {
        String::new()
    } else {
        String::from_utf8_lossy(std::slice::from_raw_parts(p, n.max(0) as usize)).to_lowercase()
    };
    // SQLITE_TRANSIENT: SQLite copies the text before this returns.
    ffi::sqlite3_result_text(
        ctx,
        text.as_ptr().cast(),
        text.len() as c_int,
        ffi::SQLITE_TRANSIENT(),
    );
}
