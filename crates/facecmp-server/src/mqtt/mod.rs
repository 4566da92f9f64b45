//! Access decisions and camera state over MQTT, for door controllers and
//! Home Assistant (`serve --mqtt`, `watch --mqtt`).
//!
//! - every recorded decision, as `/v1/events/stream` sends it, on
//!   `PREFIX/events` and `PREFIX/zones/ZONE/decision` (QoS 1);
//! - each camera's state on `PREFIX/cameras/NAME/state` (retained);
//! - the service's availability on `PREFIX/availability` (retained
//!   `online`/`offline`, following `/readyz`; the last will says `offline`);
//! - Home Assistant discovery, so zones and cameras appear as entities.
//!
//! Publishing never delays a decision: decisions are read from the audit
//! trail after they are recorded (so a door never waits on the broker, and
//! decisions from the HTTP API, the cameras and other nodes sharing the
//! gallery all go out), and handed to the client without blocking. While
//! the broker is away they are counted and dropped, with one log line when
//! it goes and one, with the count, when it is back: a controller acting on
//! a decision minutes old would be worse than one that missed it.

mod broker;
mod error;
mod relay;
mod topics;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rumqttc::{AsyncClient, Event, EventLoop, Packet, QoS};

pub use broker::BrokerUrl;
pub use error::MqttError;
pub use relay::{Relay, RelaySources};
pub use topics::Topics;

/// Requests the client holds for the broker before new ones are dropped.
const QUEUE: usize = 256;
/// Longest wait between two attempts to reach the broker.
const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// How to publish.
#[derive(Debug, Clone)]
pub struct MqttConfig {
    pub broker: BrokerUrl,
    /// The first level of every topic.
    pub prefix: String,
    /// Home Assistant's discovery prefix; `None` turns discovery off.
    pub discovery_prefix: Option<String>,
    /// A CA certificate file (PEM) for `mqtts://` brokers with their own CA.
    pub ca_file: Option<PathBuf>,
}

impl MqttConfig {
    pub fn new(broker: &str, prefix: &str) -> Result<MqttConfig, MqttError> {
        validate_prefix(prefix)?;
        Ok(MqttConfig {
            broker: BrokerUrl::parse(broker)?,
            prefix: prefix.to_string(),
            discovery_prefix: Some("homeassistant".into()),
            ca_file: None,
        })
    }
}

impl MqttConfig {
    /// Home Assistant's discovery prefix (`None`: no discovery).
    pub fn with_discovery(mut self, prefix: Option<&str>) -> Result<MqttConfig, MqttError> {
        if let Some(prefix) = prefix {
            validate_prefix(prefix)?;
        }
        self.discovery_prefix = prefix.map(str::to_string);
        Ok(self)
    }
}

fn validate_prefix(prefix: &str) -> Result<(), MqttError> {
    let trimmed = prefix.trim_matches('/');
    if trimmed.is_empty() || prefix.contains(['+', '#']) || prefix.chars().any(char::is_control) {
        return Err(MqttError::Url(format!(
            "prefix {prefix:?}: a topic prefix is one or more levels without `+`, `#` or control characters"
        )));
    }
    Ok(())
}

/// What the publisher did, for tests and the log.
#[derive(Debug, Default)]
pub struct MqttCounts {
    pub published: AtomicU64,
    /// Decisions not sent because the broker was away or the queue full.
    pub dropped: AtomicU64,
    pub connections: AtomicU64,
}

/// A connection to the broker, kept up by a thread of its own: messages
/// are handed over without waiting, and retained ones are sent again each
/// time the connection comes back.
#[derive(Clone)]
pub struct Mqtt {
    client: AsyncClient,
    topics: Topics,
    shared: Arc<Shared>,
}

struct Shared {
    connected: AtomicBool,
    counts: MqttCounts,
    /// The retained state (availability, cameras, discovery) by topic,
    /// replayed on every connection: a restarted broker without
    /// persistence, or the last will's `offline`, must not stay the truth.
    retained: Mutex<BTreeMap<String, Vec<u8>>>,
    stopping: AtomicBool,
}

impl Mqtt {
    /// Starts the client thread; it connects in the background and keeps
    /// trying. Fails only on a configuration that can never work.
    pub fn start(config: &MqttConfig) -> Result<Mqtt, MqttError> {
        let topics = Topics::new(&config.prefix, config.discovery_prefix.as_deref());
        let client_id = format!("facecmp-{}-{}", std::process::id(), random_suffix());
        let options = config.broker.options(&client_id, &topics.availability(), config.ca_file.as_ref())?;
        let (client, eventloop) = AsyncClient::new(options, QUEUE);
        let shared = Arc::new(Shared {
            connected: AtomicBool::new(false),
            counts: MqttCounts::default(),
            retained: Mutex::new(BTreeMap::new()),
            stopping: AtomicBool::new(false),
        });
        let mqtt = Mqtt { client, topics, shared };
        let runner = mqtt.clone();
        let broker = config.broker.to_string();
        std::thread::Builder::new()
            .name("facecmp-mqtt".into())
            .spawn(move || runner.drive(eventloop, &broker))
            .map_err(|error| MqttError::Start(error.to_string()))?;
        Ok(mqtt)
    }

    pub fn topics(&self) -> &Topics {
        &self.topics
    }

    pub fn counts(&self) -> &MqttCounts {
        &self.shared.counts
    }

    pub fn is_connected(&self) -> bool {
        self.shared.connected.load(Ordering::Relaxed)
    }

    /// A decision (QoS 1, not retained): dropped and counted when the
    /// broker is away.
    pub fn decision(&self, topic: &str, payload: Vec<u8>) {
        if !self.is_connected() {
            self.drop_one();
            return;
        }
        if self.send(topic, false, payload) {
            self.shared.counts.published.fetch_add(1, Ordering::Relaxed);
        } else {
            self.drop_one();
        }
    }

    /// State that a newcomer must see (QoS 1, retained), sent now if
    /// connected and again on every reconnection.
    pub fn retain(&self, topic: &str, payload: Vec<u8>) {
        let changed = {
            let mut retained = self.retained();
            retained.insert(topic.to_string(), payload.clone()) != Some(payload.clone())
        };
        if changed && self.is_connected() {
            self.send(topic, true, payload);
        }
    }

    /// Says `offline` and disconnects (a clean stop sends no last will).
    pub fn stop(&self) {
        self.shared.stopping.store(true, Ordering::Relaxed);
        if self.is_connected() {
            self.send(&self.topics.availability(), true, b"offline".to_vec());
        }
        let _ = self.client.try_disconnect();
    }

    fn send(&self, topic: &str, retain: bool, payload: Vec<u8>) -> bool {
        self.client.try_publish(topic, QoS::AtLeastOnce, retain, payload).is_ok()
    }

    fn drop_one(&self) {
        let dropped = self.shared.counts.dropped.fetch_add(1, Ordering::Relaxed);
        if dropped == 0 || !self.is_connected() && dropped.is_power_of_two() {
            tracing::warn!(
                dropped = dropped + 1,
                "MQTT broker unavailable: decisions are dropped, doors are not held"
            );
        }
    }

    fn retained(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Vec<u8>>> {
        self.shared.retained.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The connection's life: poll the event loop, note connections and
    /// losses, back off between attempts. Logs name the broker without its
    /// password.
    fn drive(self, mut eventloop: EventLoop, broker: &str) {
        let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
            Ok(runtime) => runtime,
            Err(error) => return tracing::error!(%error, "no MQTT runtime: nothing is published"),
        };
        runtime.block_on(async {
            let mut backoff = Duration::from_millis(500);
            loop {
                match eventloop.poll().await {
                    Ok(Event::Incoming(Packet::ConnAck(_))) => {
                        backoff = Duration::from_millis(500);
                        self.on_connected(broker);
                    }
                    Ok(_) => {}
                    Err(error) => {
                        if self.shared.stopping.load(Ordering::Relaxed) {
                            return;
                        }
                        if self.shared.connected.swap(false, Ordering::Relaxed) {
                            tracing::warn!(broker, %error, "MQTT connection lost; reconnecting");
                        } else {
                            tracing::debug!(broker, %error, "MQTT broker not reachable; retrying");
                        }
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff * 2).min(MAX_BACKOFF);
                    }
                }
            }
        });
    }

    fn on_connected(&self, broker: &str) {
        let dropped = self.shared.counts.dropped.load(Ordering::Relaxed);
        self.shared.counts.connections.fetch_add(1, Ordering::Relaxed);
        tracing::info!(broker, dropped_so_far = dropped, "MQTT connected");
        let retained: Vec<(String, Vec<u8>)> =
            self.retained().iter().map(|(topic, payload)| (topic.clone(), payload.clone())).collect();
        for (topic, payload) in retained {
            self.send(&topic, true, payload);
        }
        self.shared.connected.store(true, Ordering::Relaxed);
    }
}

fn random_suffix() -> String {
    let mut bytes = [0u8; 4];
    // An id collision only makes the broker drop the older client; the
    // process id beside it makes one unlikely even without randomness.
    let _ = getrandom::fill(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_with_wildcards_are_refused() {
        for prefix in ["", "/", "a/+", "a/#", "a\nb"] {
            assert!(MqttConfig::new("mqtt://h", prefix).is_err(), "{prefix:?}");
        }
        assert_eq!(
            MqttConfig::new("mqtt://h", "site/facecmp").unwrap_or_else(|e| panic!("{e}")).prefix,
            "site/facecmp"
        );
    }
}
