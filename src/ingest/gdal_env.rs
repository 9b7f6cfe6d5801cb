//! GDAL's process-wide setup and its messages: no network access, messages to `tracing`,
//! and a per-thread capture so an ingest can report GDAL's warnings and the coordinate
//! operation PROJ chose.

use std::cell::RefCell;
use std::sync::Once;

use gdal::errors::CplErrType;

thread_local! {
    static CAPTURE: RefCell<Option<Vec<(CplErrType, String)>>> = const { RefCell::new(None) };
}

/// Configures GDAL once per process.
pub fn init() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        // Files from users must never make GDAL or PROJ reach the network.
        for (k, v) in [
            ("GDAL_HTTP_PROXY", "127.0.0.1:9"),
            ("CPL_VSIL_CURL_ALLOWED_EXTENSIONS", ".atlante-none"),
            ("PROJ_NETWORK", "OFF"),
            ("GDAL_HTTP_TIMEOUT", "1"),
            ("OGR_GEOJSON_MAX_OBJ_SIZE", "512MB"),
        ] {
            let _ = gdal::config::set_config_option(k, v);
        }
        // SAFETY: installs a plain function that uses no user data. (gdal's
        // `set_error_handler` reads the handler's user data, which is wrong when a driver has
        // pushed its own handler that forwards to ours: that crashed on plain SQLite files.)
        unsafe { gdal_sys::CPLSetErrorHandler(Some(on_gdal_message)) };
    });
}

unsafe extern "C" fn on_gdal_message(
    class: gdal_sys::CPLErr::Type,
    _num: gdal_sys::CPLErrorNum,
    msg: *const std::ffi::c_char,
) {
    if msg.is_null() {
        return;
    }
    // SAFETY: GDAL passes a NUL-terminated message valid for this call.
    let msg = unsafe { std::ffi::CStr::from_ptr(msg) }
        .to_string_lossy()
        .into_owned();
    let class = CplErrType::from(class);
    let captured = CAPTURE.with(|c| match c.try_borrow_mut() {
        Ok(mut slot) => slot
            .as_mut()
            .map(|v| v.push((class, msg.clone())))
            .is_some(),
        Err(_) => false,
    });
    if !captured {
        match class {
            CplErrType::Debug => tracing::trace!(target: "gdal", "{msg}"),
            _ => tracing::debug!(target: "gdal", "{class:?}: {msg}"),
        }
    }
}

/// Runs `f` capturing GDAL's messages on this thread.
pub fn capture<T>(f: impl FnOnce() -> T) -> (T, Vec<(CplErrType, String)>) {
    let previous = CAPTURE.with(|c| c.borrow_mut().replace(Vec::new()));
    let out = f();
    let msgs = CAPTURE
        .with(|c| std::mem::replace(&mut *c.borrow_mut(), previous))
        .unwrap_or_default();
    (out, msgs)
}
