//! The HTTP/1 server loop. axum's own `serve` runs hyper without a timer, so a client that
//! never finishes its headers (or idles on a kept-alive connection) holds its socket for
//! ever; here every connection gets hyper's header-read timeout (which also bounds the
//! idle time between requests), the number of open connections is capped (beyond it a new
//! connection is closed at once), and shutdown drains open requests for at most 30 s.

use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;

use super::{router, AppState};

/// Serves on `listener` until `shutdown` completes, then drains open requests.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let config = state.config.clone();
    state.spawn_health_check();
    let app = router(state);
    run(listener, app, &config, shutdown).await
}

/// Serves `app` on `listener` with the connection limits of `config`.
pub async fn run(
    listener: tokio::net::TcpListener,
    app: axum::Router,
    config: &crate::config::Config,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let slots = Arc::new(tokio::sync::Semaphore::new(config.max_connections.max(1)));
    let header_timeout = Duration::from_secs(config.header_timeout_secs.max(1));
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(s) => s,
                Err(e) => {
                    // Out of file descriptors, typically: let some connections close.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            // Over the cap: closed at once, so the server keeps its descriptors.
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let conn = http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(header_timeout)
            .keep_alive(true)
            .serve_connection(TokioIo::new(stream), TowerToHyperService::new(app.clone()));
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "connection ended");
            }
            drop(slot);
        });
    }
    drop(listener);
    tokio::select! {
        _ = graceful.shutdown() => {}
        _ = tokio::time::sleep(Duration::from_secs(30)) => {
            tracing::warn!("open requests did not finish within 30 s of shutdown");
        }
    }
    Ok(())
}
