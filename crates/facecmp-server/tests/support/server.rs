//! A real service on loopback for the tests: a fresh SQLite gallery with an
//! admin key and a camera key, the real models, and an ephemeral port. It
//! stops when the [`Server`] is dropped.

use std::net::SocketAddr;

use facecmp::{Config, Pipeline};
use facecmp_gallery::{Gallery, QualityPolicy, Role};
use facecmp_server::ServerConfig;

pub struct Server {
    pub address: SocketAddr,
    /// An admin key, named "operator".
    pub admin: String,
    /// A camera key, named "lift-5".
    pub camera: String,
    /// Where the gallery file is (`gallery.db`).
    #[allow(dead_code)] // each test file that includes this module uses a part of it
    pub dir: tempfile::TempDir,
    _shutdown: tokio::sync::oneshot::Sender<()>,
}

/// What the tests run with unless they say otherwise: two workers, the
/// calibrated threshold, the default quality rules and connection limits.
pub fn test_config(max_body_bytes: usize) -> ServerConfig {
    ServerConfig {
        workers: 2,
        max_body_bytes,
        threshold: 0.3642,
        quality: QualityPolicy::default(),
        ..ServerConfig::default()
    }
}

pub fn start(config: ServerConfig) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let pipeline = Pipeline::load(Config::default()).unwrap();
    let gallery = Gallery::create(dir.path().join("gallery.db"), pipeline.embedder()).unwrap();
    let (_, admin) = gallery.create_key("operator", Role::Admin).unwrap();
    let (_, camera) = gallery.create_key("lift-5", Role::Camera).unwrap();
    let app = facecmp_server::app(pipeline, gallery, &config);
    let (shutdown, stopped) = tokio::sync::oneshot::channel::<()>();
    let (bound, address) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            bound.send(listener.local_addr().unwrap()).unwrap();
            facecmp_server::serve_with(listener, app, config.limits, async {
                let _ = stopped.await;
            })
            .await
            .unwrap();
        });
    });
    Server { address: address.recv().unwrap(), admin, camera, dir, _shutdown: shutdown }
}
