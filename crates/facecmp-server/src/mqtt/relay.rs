//! What goes to the broker, and when: the audit trail read forward (every
//! decision once, in order), camera states when they change, and the
//! service's availability as `/readyz` judges it.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use facecmp::Pipeline;
use facecmp_gallery::{Event, EventQuery, Gallery};

use super::Mqtt;
use super::topics::camera_payload;
use crate::decisions::{DecisionJson, events_after};
use crate::health::{CameraBoard, CameraState, Readiness};

/// How often the audit trail is read for new decisions: a door controller
/// hears of a decision at most this long after it was recorded.
const POLL: Duration = Duration::from_millis(100);
/// How often cameras and readiness are looked at.
const STATE_EVERY: Duration = Duration::from_secs(1);

/// What the relay reads.
#[derive(Clone)]
pub struct RelaySources {
    pub pipeline: Arc<Pipeline>,
    pub gallery: Arc<Gallery>,
    pub cameras: CameraBoard,
    /// The threshold decisions are made with (it is in every payload).
    pub threshold: f32,
}

/// The thread that feeds the broker; stopping it says `offline`.
pub struct Relay {
    mqtt: Mqtt,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Relay {
    /// Publishes every decision recorded from now on.
    pub fn start(mqtt: Mqtt, sources: RelaySources) -> std::io::Result<Relay> {
        let stop = Arc::new(AtomicBool::new(false));
        let mut state = RelayState::new(mqtt.clone(), sources);
        let stopped = stop.clone();
        let thread = std::thread::Builder::new().name("facecmp-mqtt-relay".into()).spawn(move || {
            state.announce_zones();
            let mut last_state = Instant::now() - STATE_EVERY;
            while !stopped.load(Ordering::Relaxed) {
                state.relay_decisions();
                if last_state.elapsed() >= STATE_EVERY {
                    state.relay_cameras();
                    state.relay_availability();
                    last_state = Instant::now();
                }
                std::thread::sleep(POLL);
            }
        })?;
        Ok(Relay { mqtt, stop, thread: Some(thread) })
    }

    pub fn mqtt(&self) -> &Mqtt {
        &self.mqtt
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        self.mqtt.stop();
    }
}

struct RelayState {
    mqtt: Mqtt,
    sources: RelaySources,
    /// The newest event published (or skipped at start).
    after: i64,
    zones_announced: HashSet<String>,
    cameras_published: HashMap<String, (CameraState, u64)>,
    trail_failing: bool,
}

impl RelayState {
    fn new(mqtt: Mqtt, sources: RelaySources) -> RelayState {
        let newest = sources.gallery.events(&EventQuery { limit: 1, ..EventQuery::default() });
        let after = newest.ok().and_then(|events| events.first().map(|event| event.id)).unwrap_or(0);
        RelayState {
            mqtt,
            sources,
            after,
            zones_announced: HashSet::new(),
            cameras_published: HashMap::new(),
            trail_failing: false,
        }
    }

    fn announce_zones(&mut self) {
        if let Ok(zones) = self.sources.gallery.zones() {
            for zone in zones {
                self.announce_zone(&zone.name);
            }
        }
    }

    fn announce_zone(&mut self, zone: &str) {
        if self.zones_announced.insert(zone.to_string()) {
            for (topic, payload) in self.mqtt.topics().zone_discovery(zone) {
                self.mqtt.retain(&topic, payload.to_string().into_bytes());
            }
        }
    }

    fn relay_decisions(&mut self) {
        let events = match events_after(&self.sources.gallery, self.after) {
            Ok(events) => events,
            Err(error) => {
                if !std::mem::replace(&mut self.trail_failing, true) {
                    tracing::warn!(%error, "MQTT: the audit trail cannot be read; decisions wait in it");
                }
                return;
            }
        };
        self.trail_failing = false;
        for event in events {
            self.after = event.id;
            self.announce_zone(&event.zone);
            let payload = decision_payload(&event, self.sources.threshold);
            let zone_topic = self.mqtt.topics().zone_decision(&event.zone);
            self.mqtt.decision(&self.mqtt.topics().events(), payload.clone());
            self.mqtt.decision(&zone_topic, payload);
        }
    }

    fn relay_cameras(&mut self) {
        for camera in self.sources.cameras.cameras() {
            let now = (camera.state, camera.reconnects);
            if self.cameras_published.get(&camera.name) == Some(&now) {
                continue;
            }
            if !self.cameras_published.contains_key(&camera.name)
                && let Some((topic, payload)) = self.mqtt.topics().camera_discovery(&camera.name)
            {
                self.mqtt.retain(&topic, payload.to_string().into_bytes());
            }
            let topic = self.mqtt.topics().camera_state(&camera.name);
            self.mqtt.retain(&topic, camera_payload(&camera).to_string().into_bytes());
            self.cameras_published.insert(camera.name.clone(), now);
        }
    }

    fn relay_availability(&mut self) {
        let sources = &self.sources;
        let ready = Readiness::check(&sources.pipeline, &sources.gallery, &sources.cameras).ready;
        let word: &[u8] = if ready { b"online" } else { b"offline" };
        self.mqtt.retain(&self.mqtt.topics().availability(), word.to_vec());
    }
}

/// The stream's JSON of a decision, with `event_type` (`allow`/`deny`)
/// as Home Assistant's event entities read it.
fn decision_payload(event: &Event, threshold: f32) -> Vec<u8> {
    let mut json = serde_json::to_value(DecisionJson::new(event, threshold)).unwrap_or_default();
    if let Some(object) = json.as_object_mut() {
        object.insert("event_type".into(), event.decision.as_str().into());
    }
    json.to_string().into_bytes()
}
