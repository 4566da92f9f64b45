//! Decisions and state over MQTT, against a real broker: Debian's
//! `mosquitto`, started here on a free port with a password file
//! (skipped with a message where it is not installed, except in CI).
#![allow(clippy::unwrap_used)] // a test: a panic is its failure report

use std::collections::HashMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use facecmp::{Config, Pipeline};
use facecmp_gallery::Gallery;
use facecmp_server::CameraBoard;
use facecmp_server::mqtt::{Mqtt, MqttConfig, Relay, RelaySources};
use rumqttc::{Client, Event, MqttOptions, Packet, QoS};
use serde_json::Value;

const USER: &str = "door";
const PASSWORD: &str = "pw-never-logged-7f3a";

/// A mosquitto process on a port of its own, killed when dropped.
struct Broker {
    child: Option<Child>,
    port: u16,
    /// A second listener, TLS with a certificate from the test's own CA.
    tls_port: u16,
    dir: tempfile::TempDir,
}

impl Broker {
    fn start() -> Option<Broker> {
        if Command::new("mosquitto").arg("-h").output().is_err() {
            assert!(std::env::var_os("CI").is_none(), "mosquitto is missing (apt-get install mosquitto)");
            eprintln!("skipped: mosquitto is not installed");
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let passwords = dir.path().join("passwords");
        let made = Command::new("mosquitto_passwd")
            .arg("-b")
            .arg("-c")
            .arg(&passwords)
            .args([USER, PASSWORD])
            .status();
        assert!(made.unwrap().success());
        let (port, tls_port) = (free_port(), free_port());
        make_certificates(dir.path());
        let mut broker = Broker { child: None, port, tls_port, dir };
        broker.write_config(&passwords);
        broker.restart();
        Some(broker)
    }

    fn write_config(&self, passwords: &Path) {
        // `user root`: mosquitto started as root would otherwise become
        // `mosquitto`, who cannot read the test's private folder.
        let tls = self.dir.path();
        let config = format!(
            "allow_anonymous false\npassword_file {}\npersistence false\nuser root\n\
             listener {} 127.0.0.1\n\
             listener {} 127.0.0.1\ncafile {}\ncertfile {}\nkeyfile {}\n",
            passwords.display(),
            self.port,
            self.tls_port,
            tls.join("ca.pem").display(),
            tls.join("server.pem").display(),
            tls.join("server.key").display(),
        );
        std::fs::write(self.config(), config).unwrap();
    }

    fn config(&self) -> PathBuf {
        self.dir.path().join("mosquitto.conf")
    }

    fn restart(&mut self) {
        let child = Command::new("mosquitto")
            .arg("-c")
            .arg(self.config())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.child = Some(child);
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(started.elapsed() < Duration::from_secs(10), "mosquitto did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }

    fn url(&self) -> String {
        format!("mqtt://{USER}:{PASSWORD}@127.0.0.1:{}", self.port)
    }

    fn tls_url(&self) -> String {
        format!("mqtts://{USER}:{PASSWORD}@localhost:{}", self.tls_port)
    }

    fn file(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

/// A CA (ca.pem), a server certificate it signed for localhost
/// (server.pem, server.key), and another CA that signed nothing (other-ca.pem).
fn make_certificates(dir: &Path) {
    let openssl = |args: &[&str]| {
        let output = Command::new("openssl").args(args).current_dir(dir).output().expect("openssl runs");
        assert!(output.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    };
    for (key, pem) in [("ca.key", "ca.pem"), ("other-ca.key", "other-ca.pem")] {
        openssl(&[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            key,
            "-out",
            pem,
            "-days",
            "2",
            "-subj",
            "/CN=facecmp test CA",
        ]);
    }
    std::fs::write(dir.join("server.ext"), "subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\n")
        .unwrap();
    openssl(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=localhost",
    ]);
    openssl(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.pem",
        "-days",
        "2",
        "-extfile",
        "server.ext",
    ]);
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.stop();
    }
}

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/data").join(name)
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Every message received on `#`, by topic, newest last.
type Inbox = Arc<Mutex<HashMap<String, Vec<Value>>>>;

/// A subscriber to everything, on a thread of its own.
fn subscribe(port: u16) -> Inbox {
    let inbox: Inbox = Arc::default();
    let mut options = MqttOptions::new(format!("test-{port}-{}", std::process::id()), "127.0.0.1", port);
    options.set_credentials(USER, PASSWORD);
    let (client, mut connection) = Client::new(options, 64);
    client.subscribe("#", QoS::AtLeastOnce).unwrap();
    let received = inbox.clone();
    std::thread::spawn(move || {
        for notification in connection.iter() {
            match notification {
                Ok(Event::Incoming(Packet::Publish(publish))) => {
                    let text = String::from_utf8_lossy(&publish.payload).to_string();
                    let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
                    received.lock().unwrap().entry(publish.topic).or_default().push(value);
                }
                Ok(_) => {}
                Err(_) => std::thread::sleep(Duration::from_millis(100)),
            }
            let _ = &client; // kept alive with the connection
        }
    });
    inbox
}

/// Waits for a message on `topic` that `accept` takes.
fn wait_for(inbox: &Inbox, topic: &str, accept: impl Fn(&Value) -> bool) -> Value {
    let started = Instant::now();
    loop {
        if let Some(found) =
            inbox.lock().unwrap().get(topic).and_then(|all| all.iter().rev().find(|v| accept(v)))
        {
            return found.clone();
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "nothing on {topic}: {:?}",
            inbox.lock().unwrap()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn wait_until(what: &str, done: impl Fn() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed() < Duration::from_secs(30), "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A gallery where Obama may enter `lift`, with the pipeline it was made by.
fn lift_gallery(dir: &Path) -> (Arc<Pipeline>, Arc<Gallery>) {
    let pipeline = Pipeline::load(Config::default()).unwrap();
    let gallery = Gallery::create(dir.join("gallery.db"), pipeline.embedder()).unwrap();
    let bytes = std::fs::read(data("obama.jpg")).unwrap();
    let sample = facecmp_gallery::prepare_sample(&pipeline, "obama.jpg", &bytes, &Default::default())
        .unwrap()
        .unwrap();
    gallery.enrol("Obama", None, &sample, None).unwrap().unwrap();
    gallery.set_zone("lift", &Default::default()).unwrap();
    gallery.grant("Obama", "lift", None, None).unwrap();
    (Arc::new(pipeline), Arc::new(gallery))
}

fn decide(pipeline: &Pipeline, gallery: &Gallery, photo: &str) -> facecmp_gallery::AccessDecision {
    let bytes = std::fs::read(data(photo)).unwrap();
    gallery.access(pipeline, "lift", photo, &bytes, &Default::default(), 0.3642).unwrap()
}

fn relay(url: &str, pipeline: &Arc<Pipeline>, gallery: &Arc<Gallery>, cameras: &CameraBoard) -> Relay {
    relay_with(MqttConfig::new(url, "facecmp").unwrap(), pipeline, gallery, cameras)
}

fn relay_with(
    config: MqttConfig,
    pipeline: &Arc<Pipeline>,
    gallery: &Arc<Gallery>,
    cameras: &CameraBoard,
) -> Relay {
    let mqtt = Mqtt::start(&config).unwrap();
    let sources = RelaySources {
        pipeline: pipeline.clone(),
        gallery: gallery.clone(),
        cameras: cameras.clone(),
        threshold: 0.3642,
    };
    Relay::start(mqtt, sources).unwrap()
}

#[test]
fn a_decision_arrives_on_both_topics_and_home_assistant_sees_the_zone() {
    let Some(broker) = Broker::start() else { return };
    let dir = tempfile::tempdir().unwrap();
    let (pipeline, gallery) = lift_gallery(dir.path());
    let cameras = CameraBoard::default();
    cameras.register("lift-cam", "lift");
    let inbox = subscribe(broker.port);
    let relay = relay(&broker.url(), &pipeline, &gallery, &cameras);
    wait_until("connected", || relay.mqtt().is_connected());

    let allowed = decide(&pipeline, &gallery, "obama2.jpg");
    assert!(allowed.allowed);
    let event = wait_for(&inbox, "facecmp/events", |v| v["id"] == allowed.event_id);
    assert_eq!(
        (&event["decision"], &event["person"], &event["zone"]),
        (&"allow".into(), &"Obama".into(), &"lift".into())
    );
    assert_eq!(event["reason"], "granted");
    assert!((event["threshold"].as_f64().unwrap() - 0.3642).abs() < 1e-6, "{event}");
    let zone = wait_for(&inbox, "facecmp/zones/lift/decision", |v| v["id"] == allowed.event_id);
    assert_eq!(zone["event_type"], "allow");

    let denied = decide(&pipeline, &gallery, "biden.jpg");
    let zone = wait_for(&inbox, "facecmp/zones/lift/decision", |v| v["id"] == denied.event_id);
    assert_eq!((&zone["event_type"], &zone["reason"]), (&"deny".into(), &"unknown".into()), "{zone}");

    wait_for(&inbox, "facecmp/availability", |v| v == "online");
    let camera = wait_for(&inbox, "facecmp/cameras/lift-cam/state", |_| true);
    assert_eq!((&camera["state"], &camera["zone"]), (&"connecting".into(), &"lift".into()));
    let discovery: Vec<String> =
        inbox.lock().unwrap().keys().filter(|t| t.starts_with("homeassistant/")).cloned().collect();
    assert!(discovery.iter().any(|t| t.starts_with("homeassistant/event/")), "{discovery:?}");
    assert!(discovery.iter().any(|t| t.starts_with("homeassistant/binary_sensor/")), "{discovery:?}");
    assert_eq!(relay.mqtt().counts().dropped.load(std::sync::atomic::Ordering::Relaxed), 0);
}

#[test]
fn a_broker_that_goes_away_costs_decisions_nothing_and_publishing_resumes() {
    let Some(mut broker) = Broker::start() else { return };
    let dir = tempfile::tempdir().unwrap();
    let (pipeline, gallery) = lift_gallery(dir.path());
    let relay = relay(&broker.url(), &pipeline, &gallery, &CameraBoard::default());
    wait_until("connected", || relay.mqtt().is_connected());

    broker.stop();
    wait_until("the loss is noticed", || !relay.mqtt().is_connected());
    let while_away = decide(&pipeline, &gallery, "obama2.jpg");
    assert!(while_away.allowed, "the door opens without the broker");
    let counts = relay.mqtt().counts();
    wait_until("the decision is counted as dropped", || {
        counts.dropped.load(std::sync::atomic::Ordering::Relaxed) >= 2
    });

    broker.restart();
    wait_until("reconnected", || relay.mqtt().is_connected());
    let inbox = subscribe(broker.port);
    // The broker kept nothing (no persistence): the availability comes back
    // because facecmp sends its retained state again on reconnecting.
    wait_for(&inbox, "facecmp/availability", |v| v == "online");
    let after = decide(&pipeline, &gallery, "obama2.jpg");
    wait_for(&inbox, "facecmp/events", |v| v["id"] == after.event_id);
    let stale =
        inbox.lock().unwrap().get("facecmp/events").unwrap().iter().any(|v| v["id"] == while_away.event_id);
    assert!(!stale, "a decision made while the broker was away is not sent late");
}

#[test]
fn a_broker_that_never_answers_does_not_hold_a_decision() {
    // Accepts the connection and never says a word.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("mqtt://{USER}:{PASSWORD}@{}", silent.local_addr().unwrap());
    let dir = tempfile::tempdir().unwrap();
    let (pipeline, gallery) = lift_gallery(dir.path());
    let relay = relay(&url, &pipeline, &gallery, &CameraBoard::default());
    let started = Instant::now();
    let decision = decide(&pipeline, &gallery, "obama2.jpg");
    // Not a timing measurement: a decision that waited on this broker
    // would never come at all.
    assert!(decision.allowed && started.elapsed() < Duration::from_secs(20));
    let counts = relay.mqtt().counts();
    wait_until("the decision is dropped", || counts.dropped.load(std::sync::atomic::Ordering::Relaxed) >= 1);
    assert!(!relay.mqtt().is_connected());
    drop(silent);
}

#[test]
fn mqtts_checks_the_broker_against_the_given_ca_and_publishes_over_tls() {
    let Some(broker) = Broker::start() else { return };
    let dir = tempfile::tempdir().unwrap();
    let (pipeline, gallery) = lift_gallery(dir.path());
    let inbox = subscribe(broker.port);
    let with_ca = |ca: &str| {
        let mut config = MqttConfig::new(&broker.tls_url(), "facecmp").unwrap();
        config.ca_file = Some(broker.file(ca));
        config
    };
    let relay = relay_with(with_ca("ca.pem"), &pipeline, &gallery, &CameraBoard::default());
    wait_until("connected over TLS", || relay.mqtt().is_connected());
    let decision = decide(&pipeline, &gallery, "obama2.jpg");
    let event = wait_for(&inbox, "facecmp/events", |v| v["id"] == decision.event_id);
    assert_eq!(event["decision"], "allow", "{event}");
    drop(relay);

    // A broker whose certificate another CA signed is never trusted, and
    // the decision it would have carried is dropped, not held.
    let untrusted = relay_with(with_ca("other-ca.pem"), &pipeline, &gallery, &CameraBoard::default());
    std::thread::sleep(Duration::from_secs(2));
    assert!(!untrusted.mqtt().is_connected());
    let refused = decide(&pipeline, &gallery, "obama2.jpg");
    assert!(refused.allowed, "the door opens whatever the broker");
    let counts = untrusted.mqtt().counts();
    wait_until("the decision is dropped", || counts.dropped.load(std::sync::atomic::Ordering::Relaxed) >= 1);
}
