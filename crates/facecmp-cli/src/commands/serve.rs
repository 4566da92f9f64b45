//! `facecmp serve`: the gallery over HTTP until Ctrl-C or SIGTERM.

use std::sync::Arc;

use facecmp_gallery::{Gallery, NewSource, QualityPolicy, Source, SourceKind};
use facecmp_server::health::CameraBoard;
use facecmp_server::{ConnectionLimits, ServerConfig};

use crate::args::{GlobalArgs, ServeArgs};
use crate::commands::gallery::open_for;
use crate::commands::watch::spawn_camera;
use crate::mqtt_args::start_mqtt;
use crate::outcome::{CliError, Outcome};
use crate::pipeline::load_pipeline;
use crate::value_parsers::{CameraSpec, check_camera_names, check_indexed_cameras};

pub fn run(global: &GlobalArgs, args: &ServeArgs) -> Result<Outcome, CliError> {
    check_camera_names(&args.cameras).map_err(CliError::Video)?;
    check_indexed_cameras(&args.cameras, &args.indexed_cameras).map_err(CliError::Usage)?;
    // A bad --mqtt URL fails before the models load.
    let mqtt = args.mqtt.config()?;
    facecmp_server::init_logging();
    let config = global.config_for_gallery(Some(&args.db.db));
    let quality = QualityPolicy { min_face_size: config.min_face_size, ..QualityPolicy::default() };
    let pipeline = load_pipeline(global, config)?;
    // Models load on first use; a service loads them now, so that its first
    // request is as fast as the rest.
    pipeline.preload()?;
    let gallery = open_for(&pipeline, &args.db)?;
    let threshold = pipeline.threshold(facecmp::ThresholdChoice::far(args.far))?.value;
    let workers = args.workers.unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
    let limits = ConnectionLimits {
        header_read_timeout: args.header_timeout,
        body_read_timeout: args.body_timeout,
        max_connections: args.max_connections,
        max_connections_per_client: args.max_connections_per_client,
        shutdown_grace: args.shutdown_grace,
    };
    let cameras = CameraBoard::default();
    for camera in &args.cameras {
        cameras.register(&camera.name, &camera.zone);
    }
    let server = ServerConfig {
        cameras: cameras.clone(),
        workers,
        max_body_bytes: args.max_body_mib << 20,
        threshold,
        quality,
        limits,
        ..ServerConfig::default()
    };
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
        let (pipeline, gallery) = (Arc::new(pipeline), Arc::new(gallery));
        for camera in &args.cameras {
            let index = index_source(&gallery, camera, args)?;
            spawn_camera(
                camera.clone(),
                pipeline.clone(),
                gallery.clone(),
                threshold,
                quality,
                cameras.clone(),
                index,
            )
            .map_err(service_error)?;
        }
        // Publishes until the service stops; dropping it says `offline`.
        let _relay = start_mqtt(mqtt.as_ref(), &pipeline, &gallery, &cameras, threshold)?;
        let app = facecmp_server::app_shared(pipeline, gallery, &server);
        facecmp_server::serve_with(listener, app, limits, facecmp_server::shutdown_signal())
            .await
            .map_err(service_error)
    })?;
    // Image work still running on a blocking thread must not hold the exit
    // past the grace period the operator chose.
    runtime.shutdown_timeout(std::time::Duration::from_millis(100));
    Ok(Outcome::Yes)
}

/// The index's source for a camera given to `--index`, created now so that
/// a gallery that refuses it stops the start, not the camera's first track.
fn index_source(
    gallery: &Gallery,
    camera: &CameraSpec,
    args: &ServeArgs,
) -> Result<Option<Source>, CliError> {
    if !args.indexed_cameras.contains(&camera.name) {
        return Ok(None);
    }
    let new = NewSource {
        kind: SourceKind::Camera,
        name: camera.name.clone(),
        sha256: None,
        retention_s: args.index_retention.map(|d| d.as_secs() as i64),
    };
    let source = gallery.upsert_source(&new)?;
    tracing::info!(camera = %camera.name, retention_s = source.retention_s, "indexing the camera");
    Ok(Some(source))
}

fn tokio_runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread().enable_all().build()
}
