//! `facecmp serve`: the gallery over HTTP.
//!
//! Handlers are small async functions over extractors ([`auth`] for API
//! keys, [`image`] for image bodies); face work runs on a bounded pool of
//! blocking workers ([`state::Workers`]) so a slow image never stalls the
//! async runtime or other requests. The gallery's search matrix is shared
//! and updated in place, so enrolments and erasures apply at once.

pub mod auth;
pub mod console;
pub mod decisions;
pub mod error;
mod extract;
mod footage;
pub mod health;
pub mod housekeeping;
pub mod image;
pub mod mqtt;
mod openapi;
mod routes;
pub mod state;
pub mod transport;

use std::future::Future;
use std::sync::Arc;

use facecmp::Pipeline;
use facecmp_gallery::{Gallery, QualityPolicy};
use tokio::net::TcpListener;

pub use health::{CameraBoard, Readiness};
pub use state::AppState;
pub use transport::ConnectionLimits;

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
    /// Timeouts and connection caps of the transport (see [`transport`]).
    pub limits: ConnectionLimits,
    /// Bytes of pixel buffers all decodes in flight may hold together
    /// (each image's own cap is the pipeline's `DecodeLimits`).
    pub decode_memory_bytes: u64,
    /// The cameras this process runs, for `/readyz` (empty without any).
    pub cameras: CameraBoard,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            workers: std::thread::available_parallelism().map_or(2, |n| n.get()),
            max_body_bytes: 20 << 20,
            threshold: facecmp::compare::SFACE_COSINE_THRESHOLD,
            quality: QualityPolicy::default(),
            limits: ConnectionLimits::default(),
            decode_memory_bytes: 1 << 30,
            cameras: CameraBoard::default(),
        }
    }
}

/// Builds the application: routes, limits, logging.
pub fn app(pipeline: Pipeline, gallery: Gallery, config: &ServerConfig) -> axum::Router {
    app_shared(Arc::new(pipeline), Arc::new(gallery), config)
}

/// [`app`] over a pipeline and gallery shared with other work in the
/// process (the camera loops of `facecmp serve --camera`). It also starts
/// the gallery's [`housekeeping`], which stops once the gallery is dropped.
pub fn app_shared(pipeline: Arc<Pipeline>, gallery: Arc<Gallery>, config: &ServerConfig) -> axum::Router {
    housekeeping::start(&gallery, housekeeping::PURGE_EVERY);
    let state = AppState::new(pipeline, gallery, config);
    routes::router(state.clone(), config.max_body_bytes)
        .merge(console::router(state, console::ConsoleConfig::from_env()))
}

/// Serves on `listener` with the default [`ConnectionLimits`] until
/// `shutdown` completes, then finishes the requests in flight.
pub async fn serve(
    listener: TcpListener,
    app: axum::Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    transport::serve(listener, app, ConnectionLimits::default(), shutdown).await
}

/// Serves on `listener` within `limits` until `shutdown` completes, then
/// finishes the requests in flight for at most `limits.shutdown_grace`.
pub async fn serve_with(
    listener: TcpListener,
    app: axum::Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    transport::serve(listener, app, limits, shutdown).await
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
}

/// Structured logs on stderr; `RUST_LOG` refines them (default `info`).
/// Colour only on a terminal: escape codes in a log file or journal are
/// noise a reader must strip.
pub fn init_logging() {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .try_init();
}
