//! `facecmp serve`: the gallery over HTTP.
//!
//! Handlers are small async functions over extractors ([`auth`] for API
//! keys, [`image`] for image bodies); face work runs on a bounded pool of
//! blocking workers ([`state::Workers`]) so a slow image never stalls the
//! async runtime or other requests. The gallery's search matrix is shared
//! and updated in place, so enrolments and erasures apply at once.

pub mod auth;
pub mod console;
pub mod error;
pub mod image;
mod openapi;
mod routes;
pub mod state;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use facecmp::Pipeline;
use facecmp_gallery::{Gallery, QualityPolicy};
use tokio::net::TcpListener;

pub use state::AppState;

/// How the service runs.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Images analysed at once.
    pub workers: usize,
    /// Largest accepted request body.
    pub max_body_bytes: usize,
    /// Cosine threshold for access and identification.
    pub threshold: f32,
    pub quality: QualityPolicy,
}

/// Builds the application: routes, limits, logging.
pub fn app(pipeline: Pipeline, gallery: Gallery, config: &ServerConfig) -> axum::Router {
    let state = AppState::new(Arc::new(pipeline), Arc::new(gallery), config);
    routes::router(state.clone(), config.max_body_bytes)
        .merge(console::router(state, console::ConsoleConfig::from_env()))
}

/// Serves on `listener` until `shutdown` completes, then finishes the
/// requests in flight.
pub async fn serve(
    listener: TcpListener,
    app: axum::Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(shutdown)
        .await
}

/// Resolves on Ctrl-C or SIGTERM: the signals a terminal or a service
/// manager stops the server with.
pub async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {},
        () = terminate => {},
    }
    tracing::info!("shutting down: finishing the requests in flight");
}

/// Structured logs on stderr; `RUST_LOG` refines them (default `info`).
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).try_init();
}
