//! The topics and payloads facecmp publishes, and the Home Assistant
//! discovery messages that turn each zone and camera into an entity.
//!
//! Zone and camera names are people's text (`Floor 3`, `lift/north`): in a
//! topic they are percent-encoded, so that `/`, `+` and `#` cannot change
//! which topic a message lands on; payloads keep the name as it is.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::health::CameraHealth;

/// Everything but letters, digits, `-`, `_` and `.` is encoded in a topic level.
const TOPIC_LEVEL: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.');

/// The topic names under one prefix (`facecmp` by default).
#[derive(Debug, Clone)]
pub struct Topics {
    prefix: String,
    /// Home Assistant's discovery prefix, `None` to announce nothing.
    discovery: Option<String>,
}

impl Topics {
    pub fn new(prefix: &str, discovery: Option<&str>) -> Topics {
        let trim = |text: &str| text.trim_matches('/').to_string();
        Topics { prefix: trim(prefix), discovery: discovery.map(trim) }
    }

    /// `online` or `offline`, retained; the last will says `offline`.
    pub fn availability(&self) -> String {
        format!("{}/availability", self.prefix)
    }

    /// Every decision.
    pub fn events(&self) -> String {
        format!("{}/events", self.prefix)
    }

    /// The decisions of one zone.
    pub fn zone_decision(&self, zone: &str) -> String {
        format!("{}/zones/{}/decision", self.prefix, level(zone))
    }

    /// A camera's state, retained.
    pub fn camera_state(&self, camera: &str) -> String {
        format!("{}/cameras/{}/state", self.prefix, level(camera))
    }

    /// The discovery messages (topic, payload) that make `zone` an event
    /// entity (allow/deny, with the decision's fields as attributes) and a
    /// sensor of the last person decided about.
    pub fn zone_discovery(&self, zone: &str) -> Vec<(String, Value)> {
        let Some(discovery) = &self.discovery else { return Vec::new() };
        let id = format!("{}_zone_{}", self.node_id(), object_id(zone));
        let state_topic = self.zone_decision(zone);
        vec![
            (
                format!("{discovery}/event/{id}/config"),
                json!({
                    "name": format!("{zone} access"),
                    "unique_id": format!("{id}_decision"),
                    "state_topic": state_topic,
                    "event_types": ["allow", "deny"],
                    "availability_topic": self.availability(),
                    "device": self.device(),
                }),
            ),
            (
                format!("{discovery}/sensor/{id}/config"),
                json!({
                    "name": format!("{zone} last person"),
                    "unique_id": format!("{id}_person"),
                    "state_topic": state_topic,
                    // The audit trail keeps an unknown face's nearest miss
                    // in `person`; only a match names someone here.
                    "value_template": "{{ value_json.person if value_json.reason in ['granted', 'not_granted'] else 'unknown' }}",
                    "json_attributes_topic": state_topic,
                    "availability_topic": self.availability(),
                    "device": self.device(),
                }),
            ),
        ]
    }

    /// The discovery message that makes a camera a connectivity sensor.
    pub fn camera_discovery(&self, camera: &str) -> Option<(String, Value)> {
        let discovery = self.discovery.as_ref()?;
        let id = format!("{}_camera_{}", self.node_id(), object_id(camera));
        Some((
            format!("{discovery}/binary_sensor/{id}/config"),
            json!({
                "name": format!("{camera} camera"),
                "unique_id": id,
                "device_class": "connectivity",
                "state_topic": self.camera_state(camera),
                "value_template": "{{ 'ON' if value_json.state == 'online' else 'OFF' }}",
                "json_attributes_topic": self.camera_state(camera),
                "availability_topic": self.availability(),
                "device": self.device(),
            }),
        ))
    }

    /// One facecmp service (one prefix) is one device.
    fn device(&self) -> Value {
        json!({
            "identifiers": [self.node_id()],
            "name": format!("facecmp ({})", self.prefix),
            "manufacturer": "facecmp",
            "sw_version": env!("CARGO_PKG_VERSION"),
        })
    }

    fn node_id(&self) -> String {
        format!("facecmp_{}", object_id(&self.prefix))
    }
}

/// A camera's state as its topic carries it.
pub fn camera_payload(camera: &CameraHealth) -> Value {
    json!(camera)
}

fn level(name: &str) -> String {
    utf8_percent_encode(name, TOPIC_LEVEL).to_string()
}

/// Home Assistant ids allow `[a-zA-Z0-9_-]`: other characters become `_`,
/// and a short hash of the name keeps `Floor 3` and `Floor_3` apart.
fn object_id(name: &str) -> String {
    let readable: String =
        name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' }).collect();
    let digest = Sha256::digest(name.as_bytes());
    format!("{readable}_{:02x}{:02x}{:02x}", digest[0], digest[1], digest[2])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_cannot_move_a_message_to_another_topic() {
        let topics = Topics::new("facecmp/", Some("homeassistant"));
        assert_eq!(topics.zone_decision("floor 3"), "facecmp/zones/floor%203/decision");
        assert_eq!(topics.zone_decision("a/+/#"), "facecmp/zones/a%2F%2B%2F%23/decision");
        assert_eq!(topics.camera_state("lift-1"), "facecmp/cameras/lift-1/state");
        assert_eq!(topics.availability(), "facecmp/availability");
    }

    #[test]
    fn discovery_makes_each_zone_an_event_and_a_sensor() {
        let topics = Topics::new("facecmp", Some("homeassistant"));
        let messages = topics.zone_discovery("Floor 3");
        assert_eq!(messages.len(), 2);
        let (topic, event) = &messages[0];
        assert!(topic.starts_with("homeassistant/event/facecmp_facecmp_"), "{topic}");
        assert!(topic.contains("_zone_Floor_3_") && topic.ends_with("/config"), "{topic}");
        assert_eq!(event["state_topic"], "facecmp/zones/Floor%203/decision");
        assert_eq!(event["event_types"], json!(["allow", "deny"]));
        assert_ne!(object_id("Floor 3"), object_id("Floor_3"));
        assert!(Topics::new("facecmp", None).zone_discovery("Floor 3").is_empty());
    }
}
