//! What can go wrong before the first message: the URL, TLS, the client.

#[derive(Debug, thiserror::Error)]
pub enum MqttError {
    #[error("--mqtt {0}")]
    Url(String),
    #[error("--mqtt TLS: {0}")]
    Tls(String),
    #[error("cannot start the MQTT client: {0}")]
    Start(String),
}
