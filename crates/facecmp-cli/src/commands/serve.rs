//! `facecmp serve`: the gallery over HTTP until Ctrl-C or SIGTERM.

use facecmp_gallery::QualityPolicy;
use facecmp_server::ServerConfig;

use crate::args::{GlobalArgs, ServeArgs, ThresholdArgs};
use crate::commands::access::resolve_threshold;
use crate::commands::gallery::open_for;
use crate::{CliError, Outcome};

pub fn run(global: &GlobalArgs, args: &ServeArgs) -> Result<Outcome, CliError> {
    facecmp_server::init_logging();
    let config = global.config();
    let quality = QualityPolicy { min_face_size: config.min_face_size, ..QualityPolicy::default() };
    let pipeline = crate::load_pipeline(global, config)?;
    let gallery = open_for(&pipeline, &args.db)?;
    let threshold = resolve_threshold(&pipeline, &ThresholdArgs { far: args.far, threshold: None })?;
    let workers = args.workers.unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
    let server = ServerConfig { workers, max_body_bytes: args.max_body_mib << 20, threshold, quality };
    let service_error = |source: std::io::Error| CliError::Service { listen: args.listen, source };
    let runtime = tokio_runtime().map_err(service_error)?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(args.listen).await.map_err(service_error)?;
        tracing::info!(
            address = %listener.local_addr().map_err(service_error)?,
            gallery = gallery.path(),
            samples = gallery.sample_count(),
            engine = pipeline.engine().name(),
            threshold,
            workers,
            "listening"
        );
        let app = facecmp_server::app(pipeline, gallery, &server);
        facecmp_server::serve(listener, app, facecmp_server::shutdown_signal()).await.map_err(service_error)
    })?;
    Ok(Outcome::Yes)
}

fn tokio_runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread().enable_all().build()
}
