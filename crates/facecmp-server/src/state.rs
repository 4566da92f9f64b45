//! The state every handler shares.

use std::sync::Arc;

use facecmp::Pipeline;
use facecmp_gallery::{Gallery, QualityPolicy};
use tokio::sync::Semaphore;

use crate::ServerConfig;
use crate::error::ApiError;
use crate::health::CameraBoard;
use crate::image::DecodeBudget;

#[derive(Clone)]
pub struct AppState {
    pub pipeline: Arc<Pipeline>,
    pub gallery: Arc<Gallery>,
    pub workers: Workers,
    pub threshold: f32,
    pub quality: QualityPolicy,
    pub max_body_bytes: usize,
    pub decode_budget: DecodeBudget,
    pub cameras: CameraBoard,
}

impl AppState {
    pub fn new(pipeline: Arc<Pipeline>, gallery: Arc<Gallery>, config: &ServerConfig) -> AppState {
        AppState {
            pipeline,
            gallery,
            workers: Workers::new(config.workers),
            threshold: config.threshold,
            quality: config.quality,
            max_body_bytes: config.max_body_bytes,
            decode_budget: DecodeBudget::new(config.decode_memory_bytes),
            cameras: config.cameras.clone(),
        }
    }
}

/// A bounded pool for blocking work (decoding, inference, SQLite): at most
/// `size` jobs run at once on tokio's blocking threads; the rest wait their
/// turn without holding a thread, and the async runtime stays free to
/// accept and answer other requests.
#[derive(Clone)]
pub struct Workers {
    permits: Arc<Semaphore>,
}

impl Workers {
    pub fn new(size: usize) -> Workers {
        Workers { permits: Arc::new(Semaphore::new(size.max(1))) }
    }

    pub async fn run<T: Send + 'static>(
        &self,
        job: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let permit = self.permits.clone().acquire_owned().await.map_err(|_| ApiError::ShuttingDown)?;
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            job()
        })
        .await
        .map_err(|error| ApiError::Internal(format!("a worker failed: {error}")))?
    }
}
