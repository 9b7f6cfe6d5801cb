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
        gdal::config::set_error_handler(|class, _num, msg| {
            let captured = CAPTURE.with(|c| {
                c.borrow_mut()
                    .as_mut()
                    .map(|v| v.push((class, msg.to_string())))
                    .is_some()
            });
            if !captured {
                match class {
                    CplErrType::Debug => tracing::trace!(target: "gdal", "{msg}"),
                    CplErrType::Warning => tracing::debug!(target: "gdal", "{msg}"),
                    _ => tracing::debug!(target: "gdal", "error: {msg}"),
                }
            }
        });
    });
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
