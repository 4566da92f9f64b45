//! `--mqtt` and its options, shared by `serve` and `watch`, and the
//! publisher they start with it.

use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;
use facecmp::Pipeline;
use facecmp_gallery::Gallery;
use facecmp_server::health::CameraBoard;
use facecmp_server::mqtt::{Mqtt, MqttConfig, MqttError, Relay, RelaySources};

use crate::outcome::CliError;

#[derive(Args, Debug, Clone)]
pub struct MqttArgs {
    /// Publish every decision, camera state and the service's availability
    /// to this broker: mqtt://HOST, mqtt://USER:PASSWORD@HOST:PORT, or mqtts://
    /// for TLS. Prefer FACECMP_MQTT for a URL with a password: the command
    /// line is visible to every user of the machine.
    #[arg(long, value_name = "URL", env = "FACECMP_MQTT", hide_env_values = true)]
    pub mqtt: Option<String>,
    /// The first level(s) of every topic.
    #[arg(long, value_name = "PREFIX", default_value = "facecmp", requires = "mqtt")]
    pub mqtt_prefix: String,
    /// A CA certificate (PEM) for an mqtts:// broker with its own CA
    /// (default: the system's roots).
    #[arg(long, value_name = "FILE", requires = "mqtt")]
    pub mqtt_ca: Option<PathBuf>,
    /// Home Assistant's MQTT discovery prefix; `off` announces nothing.
    #[arg(long, value_name = "PREFIX", default_value = "homeassistant", requires = "mqtt")]
    pub mqtt_discovery: String,
}

impl MqttArgs {
    /// The publisher's configuration, when `--mqtt` was given.
    pub fn config(&self) -> Result<Option<MqttConfig>, MqttError> {
        let Some(url) = &self.mqtt else { return Ok(None) };
        let discovery = Some(self.mqtt_discovery.as_str()).filter(|prefix| *prefix != "off");
        let mut config = MqttConfig::new(url, &self.mqtt_prefix)?.with_discovery(discovery)?;
        config.ca_file = self.mqtt_ca.clone();
        Ok(Some(config))
    }
}

/// With `--mqtt`, the publisher of this process's decisions, camera states
/// and availability; `None` without. It runs until dropped.
pub fn start_mqtt(
    config: Option<&MqttConfig>,
    pipeline: &Arc<Pipeline>,
    gallery: &Arc<Gallery>,
    cameras: &CameraBoard,
    threshold: f32,
) -> Result<Option<Relay>, CliError> {
    let Some(config) = config else { return Ok(None) };
    let mqtt = Mqtt::start(config)?;
    let sources = RelaySources {
        pipeline: pipeline.clone(),
        gallery: gallery.clone(),
        cameras: cameras.clone(),
        threshold,
    };
    let relay = Relay::start(mqtt, sources).map_err(|error| MqttError::Start(error.to_string()))?;
    tracing::info!(broker = %config.broker, prefix = %config.prefix, "publishing decisions over MQTT");
    Ok(Some(relay))
}
