//! Where the broker is and how to reach it: `mqtt://` and `mqtts://` URLs,
//! credentials that never reach a log line, and TLS over rustls.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use percent_encoding::percent_decode_str;
use rumqttc::{LastWill, MqttOptions, QoS, TlsConfiguration, Transport};

use super::error::MqttError;

/// A broker named by `mqtt://[user[:password]@]host[:port]` (1883 by
/// default) or `mqtts://…` (TLS, 8883 by default).
#[derive(Clone, PartialEq, Eq)]
pub struct BrokerUrl {
    pub tls: bool,
    pub host: String,
    pub port: u16,
    pub username: Option<String>,
    password: Option<String>,
}

impl BrokerUrl {
    pub fn parse(text: &str) -> Result<BrokerUrl, MqttError> {
        let invalid = |why: &str| MqttError::Url(format!("{}: {why}", redact(text)));
        let (tls, rest) = if let Some(rest) = strip_scheme(text, "mqtts://") {
            (true, rest)
        } else if let Some(rest) = strip_scheme(text, "mqtt://") {
            (false, rest)
        } else {
            return Err(invalid("not an mqtt:// or mqtts:// URL"));
        };
        let authority = rest.strip_suffix('/').unwrap_or(rest);
        if authority.contains('/') || authority.contains('?') {
            return Err(invalid("a broker URL has no path or query (the topic prefix is --mqtt-prefix)"));
        }
        let (credentials, host_port) = match authority.rsplit_once('@') {
            Some((credentials, host_port)) => (Some(credentials), host_port),
            None => (None, authority),
        };
        let (username, password) = match credentials {
            None => (None, None),
            Some(credentials) => {
                let (user, password) = match credentials.split_once(':') {
                    Some((user, password)) => (user, Some(decode(password))),
                    None => (credentials, None),
                };
                (Some(decode(user)), password)
            }
        };
        let (host, port) = split_host_port(host_port).ok_or_else(|| invalid("the port is not a number"))?;
        if host.is_empty() {
            return Err(invalid("no host"));
        }
        let port = port.unwrap_or(if tls { 8883 } else { 1883 });
        Ok(BrokerUrl { tls, host: host.to_string(), port, username, password })
    }

    /// The client options: credentials, keep-alive, and the last will that
    /// marks the service offline if it dies without saying so.
    pub(super) fn options(
        &self,
        client_id: &str,
        will_topic: &str,
        ca_file: Option<&PathBuf>,
    ) -> Result<MqttOptions, MqttError> {
        let mut options = MqttOptions::new(client_id, &self.host, self.port);
        options.set_keep_alive(Duration::from_secs(15));
        options.set_last_will(LastWill::new(will_topic, "offline", QoS::AtLeastOnce, true));
        if let Some(username) = &self.username {
            options.set_credentials(username, self.password.clone().unwrap_or_default());
        }
        if self.tls {
            options.set_transport(Transport::tls_with_config(TlsConfiguration::Rustls(tls_config(ca_file)?)));
        }
        Ok(options)
    }
}

/// Shown in messages and logs: never the password.
impl fmt::Display for BrokerUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = if self.tls { "mqtts" } else { "mqtt" };
        match &self.username {
            Some(user) => write!(f, "{scheme}://{user}@{}:{}", self.host, self.port),
            None => write!(f, "{scheme}://{}:{}", self.host, self.port),
        }
    }
}

impl fmt::Debug for BrokerUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BrokerUrl({self})")
    }
}

fn strip_scheme<'a>(text: &'a str, scheme: &str) -> Option<&'a str> {
    let head = text.get(..scheme.len())?;
    head.eq_ignore_ascii_case(scheme).then(|| &text[scheme.len()..])
}

fn decode(text: &str) -> String {
    percent_decode_str(text).decode_utf8_lossy().into_owned()
}

/// `host`, `host:1883`, `[::1]:1883`.
fn split_host_port(text: &str) -> Option<(&str, Option<u16>)> {
    if let Some(bracketed) = text.strip_prefix('[') {
        let (host, rest) = bracketed.split_once(']')?;
        return match rest.strip_prefix(':') {
            Some(port) => Some((host, Some(port.parse().ok()?))),
            None if rest.is_empty() => Some((host, None)),
            None => None,
        };
    }
    match text.rsplit_once(':') {
        Some((host, port)) => Some((host, Some(port.parse().ok()?))),
        None => Some((text, None)),
    }
}

/// A URL as it may be shown before it parsed: everything between `://`
/// and the last `@` dropped.
fn redact(text: &str) -> String {
    match (text.split_once("://"), text.rsplit_once('@')) {
        (Some((scheme, _)), Some((_, host))) => format!("{scheme}://…@{host}"),
        _ => text.to_string(),
    }
}

/// rustls with ring: the system's roots, or only the given CA file (a
/// private broker's own CA, as most home and building brokers have).
fn tls_config(ca_file: Option<&PathBuf>) -> Result<Arc<rustls::ClientConfig>, MqttError> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;

    let mut roots = rustls::RootCertStore::empty();
    match ca_file {
        Some(path) => {
            let unreadable = |detail: String| MqttError::Tls(format!("{}: {detail}", path.display()));
            for certificate in CertificateDer::pem_file_iter(path).map_err(|e| unreadable(e.to_string()))? {
                let certificate = certificate.map_err(|e| unreadable(e.to_string()))?;
                roots.add(certificate).map_err(|e| unreadable(e.to_string()))?;
            }
            if roots.is_empty() {
                return Err(unreadable("no PEM certificate in it".into()));
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            roots.add_parsable_certificates(found.certs);
            if roots.is_empty() {
                return Err(MqttError::Tls("no system CA certificates found; pass --mqtt-ca FILE".into()));
            }
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| MqttError::Tls(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // a test: a panic is its failure report

    use super::*;

    #[test]
    fn urls_name_scheme_credentials_host_and_port() {
        let url = BrokerUrl::parse("mqtt://door:s%40cret@broker.local:1884").unwrap();
        assert_eq!((url.tls, url.host.as_str(), url.port), (false, "broker.local", 1884));
        assert_eq!((url.username.as_deref(), url.password.as_deref()), (Some("door"), Some("s@cret")));
        assert_eq!(url.to_string(), "mqtt://door@broker.local:1884");
        assert!(!format!("{url:?}").contains("cret"));
        let url = BrokerUrl::parse("MQTTS://[::1]").unwrap();
        assert_eq!((url.tls, url.host.as_str(), url.port), (true, "::1", 8883));
        assert_eq!(BrokerUrl::parse("mqtt://h/").unwrap().port, 1883);
    }

    #[test]
    fn bad_urls_are_refused_without_their_password() {
        for text in ["http://h", "mqtt://", "mqtt://u:pw@h:port", "mqtt://u:pw@h/topic"] {
            let error = BrokerUrl::parse(text).unwrap_err().to_string();
            assert!(!error.contains("pw"), "{error}");
        }
    }
}
