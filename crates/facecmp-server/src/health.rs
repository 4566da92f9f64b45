//! Whether the service can do its job: liveness (`/healthz`: the process
//! answers) and readiness (`/readyz`: the gallery's database answers, the
//! models are loaded, the search index follows the store), with the state
//! of every camera the process runs.
//!
//! Readiness is what a load balancer, Kubernetes or Home Assistant should
//! route on: a node whose PostgreSQL is gone answers every access request
//! with 503, so it must not be sent any. Cameras are reported but do not
//! make a node unready: an unplugged lift camera is not a reason to stop
//! answering the HTTP doors of the same node.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use facecmp::Pipeline;
use facecmp_gallery::Gallery;
use serde::Serialize;

/// A camera with no frame for this long counts as offline.
pub const CAMERA_OFFLINE_AFTER: Duration = Duration::from_secs(5);

/// What a camera is doing, as `/readyz` and MQTT report it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CameraState {
    /// Started, no frame yet.
    Connecting,
    /// Frames arrived within [`CAMERA_OFFLINE_AFTER`].
    Online,
    /// It delivered frames once, or was expected to, and has stopped.
    Offline,
}

/// One camera's health.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CameraHealth {
    pub name: String,
    pub zone: String,
    pub state: CameraState,
    /// Times the source reconnected since the process started.
    pub reconnects: u64,
    /// Unix seconds of the last frame, if any.
    pub last_frame: Option<i64>,
}

#[derive(Debug)]
struct CameraEntry {
    zone: String,
    reconnects: u64,
    last_frame: Option<(Instant, i64)>,
}

/// The cameras of this process and what each last did: written by the
/// camera loops (a frame, a reconnect), read by `/readyz` and the MQTT
/// state publisher. Cheap to clone; every clone is the same board.
#[derive(Debug, Clone, Default)]
pub struct CameraBoard {
    cameras: Arc<Mutex<BTreeMap<String, CameraEntry>>>,
}

impl CameraBoard {
    /// Adds a camera, connecting; a name added again keeps its counts.
    pub fn register(&self, name: &str, zone: &str) {
        self.lock().entry(name.to_string()).or_insert_with(|| CameraEntry {
            zone: zone.to_string(),
            reconnects: 0,
            last_frame: None,
        });
    }

    /// A frame arrived from `name`.
    pub fn frame(&self, name: &str) {
        if let Some(camera) = self.lock().get_mut(name) {
            camera.last_frame = Some((Instant::now(), unix_now()));
        }
    }

    /// `name`'s source was lost and is being opened again.
    pub fn reconnect(&self, name: &str) {
        if let Some(camera) = self.lock().get_mut(name) {
            camera.reconnects += 1;
        }
    }

    /// Every camera, by name.
    pub fn cameras(&self) -> Vec<CameraHealth> {
        let now = Instant::now();
        self.lock()
            .iter()
            .map(|(name, camera)| CameraHealth {
                name: name.clone(),
                zone: camera.zone.clone(),
                state: match camera.last_frame {
                    None if camera.reconnects == 0 => CameraState::Connecting,
                    Some((seen, _)) if now.duration_since(seen) < CAMERA_OFFLINE_AFTER => CameraState::Online,
                    _ => CameraState::Offline,
                },
                reconnects: camera.reconnects,
                last_frame: camera.last_frame.map(|(_, unix)| unix),
            })
            .collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, CameraEntry>> {
        // The map holds plain counters: a panic elsewhere leaves it usable.
        self.cameras.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// One thing the service needs, and whether it has it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    pub ok: bool,
    /// Why not, in words fit for any client: no path, no SQL, no URL.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

impl Check {
    fn pass() -> Check {
        Check { ok: true, problem: None }
    }

    fn fail(problem: &str) -> Check {
        Check { ok: false, problem: Some(problem.to_string()) }
    }
}

/// The answer of `/readyz`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Readiness {
    pub ready: bool,
    pub database: Check,
    pub models: Check,
    pub index: Check,
    /// The store revision the search index reflects.
    pub revision: i64,
    pub cameras: Vec<CameraHealth>,
}

impl Readiness {
    /// Asks the database, the models and the index, now. Blocking: it runs
    /// a query (a revision read) and may wait on the database's timeout.
    pub fn check(pipeline: &Pipeline, gallery: &Gallery, cameras: &CameraBoard) -> Readiness {
        let database = match gallery.store().revision() {
            Ok(_) => Check::pass(),
            Err(error) if error.is_unavailable() => Check::fail("the gallery's database does not answer"),
            Err(_) => Check::fail("the gallery's database answers with an error"),
        };
        // Loaded once at start; this returns at once then, and tries again
        // (and says so) if that load failed.
        let models = match pipeline.preload() {
            Ok(()) => Check::pass(),
            Err(_) => Check::fail("the models failed to load"),
        };
        let index = if !database.ok {
            Check::fail("the search index cannot be brought up to date without the database")
        } else {
            match gallery.refresh() {
                Ok(()) => Check::pass(),
                Err(_) => Check::fail("the search index could not follow the gallery's changes"),
            }
        };
        Readiness {
            ready: database.ok && models.ok && index.ok,
            database,
            models,
            index,
            revision: gallery.revision(),
            cameras: cameras.cameras(),
        }
    }
}

fn unix_now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_camera_is_connecting_then_online_then_offline_after_a_reconnect() {
        let board = CameraBoard::default();
        board.register("lift", "floor-3");
        assert_eq!(board.cameras()[0].state, CameraState::Connecting);
        board.frame("lift");
        let seen = &board.cameras()[0];
        assert_eq!((seen.state, seen.zone.as_str()), (CameraState::Online, "floor-3"));
        assert!(seen.last_frame.is_some());
        board.reconnect("lift");
        assert_eq!(board.cameras()[0].reconnects, 1);
        // A reconnect before any frame is a camera that never came up.
        board.register("door", "lobby");
        board.reconnect("door");
        assert_eq!(board.cameras()[0].state, CameraState::Offline);
    }

    #[test]
    fn unknown_cameras_are_ignored() {
        let board = CameraBoard::default();
        board.frame("nobody");
        board.reconnect("nobody");
        assert!(board.cameras().is_empty());
    }
}
