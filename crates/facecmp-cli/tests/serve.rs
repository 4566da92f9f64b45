//! `facecmp serve` as a process, under attack: slow clients on a machine
//! with few file descriptors, and a stop signal while they hang on.
#![allow(clippy::unwrap_used)] // a test or a measurement: a panic is its failure report
#![allow(unsafe_code)] // libc calls (mkfifo, kill, limits) that set up the hostile conditions

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

#[path = "support/clips.rs"]
mod clips;
use clips::{LIFT, LIFT_SECONDS, Scene, data, facecmp, gallery_granting, make_clip, status, stderr, stdout};

/// A running `facecmp serve` whose log is collected as it is written.
struct Served {
    child: Child,
    address: SocketAddr,
    log: Arc<Mutex<String>>,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `facecmp serve` on a free loopback port over a new gallery, with
/// the open-file limit lowered to `open_files`.
fn serve(dir: &std::path::Path, open_files: u64, flags: &[&str]) -> Served {
    let db = dir.join("gallery.db");
    let init =
        Command::new(env!("CARGO_BIN_EXE_facecmp")).arg("gallery").arg("init").arg(&db).output().unwrap();
    assert!(init.status.success(), "{}", String::from_utf8_lossy(&init.stderr));
    serve_gallery(&db, open_files, flags)
}

/// Starts `facecmp serve` on a free loopback port over the gallery `db`.
fn serve_gallery(db: &std::path::Path, open_files: u64, flags: &[&str]) -> Served {
    let mut command = Command::new(env!("CARGO_BIN_EXE_facecmp"));
    command
        .args(["--runtime", "tract", "serve", "--listen", "127.0.0.1:0", "--workers", "1"])
        .args(flags)
        .env("FACECMP_DB", db)
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    lower_open_file_limit(&mut command, open_files);
    let mut child = command.spawn().expect("facecmp serve starts");
    let log = Arc::new(Mutex::new(String::new()));
    let (found, address) = std::sync::mpsc::channel();
    let stderr = BufReader::new(child.stderr.take().unwrap());
    let collected = log.clone();
    std::thread::spawn(move || {
        for line in stderr.lines().map_while(Result::ok) {
            if line.contains("listening")
                && let Some(at) = line.split("address=").nth(1)
            {
                let _ = found.send(at.split_whitespace().next().unwrap_or_default().to_string());
            }
            collected.lock().unwrap().push_str(&format!("{line}\n"));
        }
    });
    let address = address
        .recv_timeout(Duration::from_secs(120))
        .unwrap_or_else(|_| panic!("the server never said where it listens:\n{}", log.lock().unwrap()));
    Served { child, address: address.parse().unwrap(), log }
}

fn lower_open_file_limit(command: &mut Command, open_files: u64) {
    use std::os::unix::process::CommandExt;
    // SAFETY: setrlimit is async-signal-safe and touches only the child.
    unsafe {
        command.pre_exec(move || {
            let limit = libc::rlimit { rlim_cur: open_files, rlim_max: open_files };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// `GET /healthz` from another loopback address than the attackers', with
/// a generous read timeout: the answer, or the error that stood for it.
fn healthz_from(source: [u8; 4], server: SocketAddr) -> Result<String, String> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let socket = tokio::net::TcpSocket::new_v4().map_err(|e| e.to_string())?;
        socket.bind(SocketAddr::from((source, 0))).map_err(|e| e.to_string())?;
        let exchange = async {
            let mut stream = socket.connect(server).await?;
            stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: facecmp\r\nConnection: close\r\n\r\n").await?;
            let mut reply = String::new();
            stream.read_to_string(&mut reply).await?;
            Ok::<_, std::io::Error>(reply)
        };
        match tokio::time::timeout(Duration::from_secs(15), exchange).await {
            Ok(Ok(reply)) => Ok(reply),
            Ok(Err(error)) => Err(error.to_string()),
            Err(_) => Err("no answer within 15 s".into()),
        }
    })
}

/// Clients that open a request and send one more header byte a second,
/// never finishing it, until dropped.
struct Slowloris {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Slowloris {
    fn start(server: SocketAddr, clients: usize) -> Slowloris {
        let mut streams: Vec<TcpStream> = (0..clients)
            .filter_map(|_| TcpStream::connect_timeout(&server, Duration::from_secs(5)).ok())
            .collect();
        assert!(streams.len() > 256, "only {} slow clients could connect", streams.len());
        for stream in &mut streams {
            let _ = stream.write_all(b"POST /v1/access?zone=1 HTTP/1.1\r\nHost: x\r\n");
        }
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let thread = std::thread::spawn(move || {
            while !stopped.load(Ordering::Relaxed) {
                // Refused connections fail to write; the rest go on trickling.
                for stream in &mut streams {
                    let _ = stream.write_all(b"x");
                }
                std::thread::sleep(Duration::from_secs(1));
            }
        });
        Slowloris { stop, thread: Some(thread) }
    }
}

impl Drop for Slowloris {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn wait_for_exit(child: &mut Child, within: Duration) -> Option<std::process::ExitStatus> {
    let deadline = std::time::Instant::now() + within;
    while std::time::Instant::now() < deadline {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    None
}

#[test]
fn slow_clients_on_a_low_file_limit_neither_starve_the_service_nor_block_its_stop() {
    let dir = tempfile::tempdir().unwrap();
    // A header timeout longer than the test: the caps, not the timeout, keep
    // the service answering.
    let mut served = serve(dir.path(), 256, &["--header-timeout", "10m", "--shutdown-grace", "2s"]);
    let attack = Slowloris::start(served.address, 300);

    let reply = healthz_from([127, 0, 0, 2], served.address)
        .unwrap_or_else(|error| panic!("healthz: {error}\n{}", served.log.lock().unwrap()));
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    assert!(reply.contains("\"status\":\"ok\""), "{reply}");

    // SIGTERM with 64 half-sent requests open: the grace is 2 s, and the
    // process must be gone well within the 60 s allowed here.
    // SAFETY: kill sends a signal to our own child's pid.
    assert_eq!(unsafe { libc::kill(served.child.id() as libc::pid_t, libc::SIGTERM) }, 0);
    let status = wait_for_exit(&mut served.child, Duration::from_secs(60));
    drop(attack);
    let log = served.log.lock().unwrap().clone();
    assert_eq!(status.map(|s| s.code()), Some(Some(0)), "the server did not stop on SIGTERM:\n{log}");
    assert!(log.contains("too many open connections from this address"), "{log}");
    assert!(!log.contains("Too many open files"), "{log}");
    assert!(!log.contains('\x1b'), "colour codes in a log that is not a terminal:\n{log}");
}

#[test]
fn idle_connections_are_closed_after_the_header_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let served = serve(dir.path(), 1024, &["--header-timeout", "1s"]);
    for request in [&b""[..], b"GET /healthz HTTP/1.1\r\nHost: x\r\n"] {
        let mut stream = TcpStream::connect(served.address).unwrap();
        stream.write_all(request).unwrap();
        // Generous: the server's own timeout is 1 s.
        stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let mut rest = Vec::new();
        let read = stream.read_to_end(&mut rest);
        assert!(read.is_ok(), "the connection was still open after 30 s: {read:?}");
    }
}

// ---- Cameras inside the service -------------------------------------------

/// Nobody for 3 s (time for the test to open the event stream), then Obama
/// (another photo than the enrolled one) for 3 s.
const LATE_OBAMA: [Scene; 1] =
    [Scene { photo: "obama2.jpg", crop: "iw*0.8:ih*0.6:0:0", start: 3.0, end: 6.0, x: "40+30*(t-3)" }];

/// `GET path` with an admin key: the JSON answer.
fn get_json(served: &Served, path: &str, key: &str) -> Value {
    let mut reply = ureq::get(format!("http://{}{path}", served.address))
        .header("Authorization", format!("Bearer {key}"))
        .call()
        .unwrap_or_else(|error| panic!("GET {path}: {error}"));
    serde_json::from_str(&reply.body_mut().read_to_string().unwrap()).unwrap()
}

/// The `data:` lines of `GET /v1/events/stream` as they arrive, read on a
/// thread of their own so that the test can wait for them with a timeout.
fn event_stream(served: &Served, key: &str) -> std::sync::mpsc::Receiver<Value> {
    let mut reply = ureq::get(format!("http://{}/v1/events/stream", served.address))
        .header("Authorization", format!("Bearer {key}"))
        .call()
        .unwrap();
    assert_eq!(reply.headers()["content-type"], "text/event-stream");
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let lines = BufReader::new(reply.body_mut().as_reader()).lines().map_while(Result::ok);
        for data in lines.filter_map(|line| line.strip_prefix("data:").map(|d| d.trim().to_string())) {
            if sender.send(serde_json::from_str(&data).unwrap()).is_err() {
                return;
            }
        }
    });
    receiver
}

#[test]
fn a_camera_in_the_service_records_its_decisions_under_its_name() {
    let dir = tempfile::tempdir().unwrap();
    let clip = make_clip(dir.path(), &LATE_OBAMA, 7.0);
    let db = gallery_granting(dir.path(), "5");
    // The lift keeps probe crops: a camera's decision keeps its face too.
    let zone = facecmp(&["zone", "--db", &db, "5", "--keep-probe-crops", "1h"]);
    assert_eq!(status(&zone), 0, "{}", stderr(&zone));
    let created = facecmp(&["keys", "create", "--db", &db, "--role", "admin", "--name", "test"]);
    assert_eq!(status(&created), 0, "{}", stderr(&created));
    let admin = stdout(&created).trim().to_string();
    let camera = format!("lift={}@5", clip.display());
    // A broker that accepts the connection and never answers: the camera's
    // decisions must not wait on it, and its password must not be logged.
    let silent_broker = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mqtt = format!("mqtt://door:s3cret-pw@{}", silent_broker.local_addr().unwrap());
    let served = serve_gallery(std::path::Path::new(&db), 1024, &["--camera", &camera, "--mqtt", &mqtt]);
    let stream = event_stream(&served, &admin);

    // The file is played at its own rate: Obama enters at 3 s and is allowed
    // within a second of that; 60 s leaves room for a loaded machine.
    let started = Instant::now();
    let allow = loop {
        let events = get_json(&served, "/v1/events?source=lift", &admin);
        let events = events["events"].as_array().unwrap().clone();
        if let Some(allow) = events.into_iter().find(|e| e["decision"] == "allow") {
            break allow;
        }
        let log = served.log.lock().unwrap().clone();
        assert!(started.elapsed() < Duration::from_secs(60), "no allow from the camera within 60 s:\n{log}");
        std::thread::sleep(Duration::from_millis(250));
    };
    assert_eq!(allow["person"], "Obama", "{allow}");
    assert_eq!(allow["zone"], "5", "{allow}");
    assert_eq!(allow["reason"], "granted", "{allow}");
    assert_eq!(allow["source"], "lift", "the camera's name, not its file: {allow}");
    assert!(allow["track"].as_i64().is_some(), "{allow}");
    assert_eq!(allow["has_probe_crop"], true, "the zone keeps crops: {allow}");
    let elsewhere = get_json(&served, "/v1/events?source=door", &admin);
    assert_eq!(elsewhere["events"].as_array().unwrap().len(), 0, "{elsewhere}");
    // Indexing is off unless asked for: the camera decided, and kept no appearance.
    let indexed = get_json(&served, "/v1/appearances?person=Obama&all=true", &admin);
    assert_eq!(indexed["appearances"], serde_json::json!([]), "{indexed}");

    let streamed = std::iter::from_fn(|| stream.recv_timeout(Duration::from_secs(30)).ok())
        .find(|event| event["decision"] == "allow")
        .expect("the allow on the event stream");
    assert_eq!(streamed["id"], allow["id"], "{streamed}");
    assert_eq!(streamed["decision"], "allow");
    assert_eq!(streamed["person"], "Obama");
    assert_eq!(streamed["source"], "lift");
    // Readiness names the camera, which has delivered frames by now.
    let ready = get_json(&served, "/readyz", &admin);
    assert_eq!(ready["ready"], true, "{ready}");
    assert_eq!(ready["cameras"][0]["name"], "lift", "{ready}");
    assert!(ready["cameras"][0]["last_frame"].as_i64().is_some(), "{ready}");
    let log = served.log.lock().unwrap().clone();
    assert!(log.contains("access decision") && log.contains("camera=lift"), "{log}");
    assert!(log.contains("publishing decisions over MQTT"), "{log}");
    assert!(!log.contains("s3cret-pw"), "the broker's password in the log:\n{log}");
    drop(silent_broker);
}

#[test]
fn an_unusable_mqtt_url_is_refused_at_start_up_without_its_password() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("gallery.db").display().to_string();
    for url in
        ["http://door:s3cret-pw@broker", "mqtt://door:s3cret-pw@broker:notaport", "mqtt://door:s3cret-pw@"]
    {
        let started = Instant::now();
        let output = facecmp(&["serve", "--db", &db, "--listen", "127.0.0.1:0", "--mqtt", url]);
        assert_eq!(status(&output), 2, "{url}: {}", stderr(&output));
        assert!(stderr(&output).contains("--mqtt"), "{url}: {}", stderr(&output));
        assert!(!stderr(&output).contains("s3cret-pw"), "{url}: {}", stderr(&output));
        assert!(started.elapsed() < Duration::from_secs(30), "refused before any model loads");
    }
}

#[test]
fn cameras_with_unusable_or_shared_names_are_refused_at_start_up() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("gallery.db").display().to_string();
    let clip = data("obama.jpg");
    for cameras in [
        vec![format!("lift\u{202E}4={clip}@5")],
        vec![format!("li\nft={clip}@5")],
        vec![format!("{}={clip}@5", "x".repeat(201))],
        vec![format!("lift={clip}@5"), format!("lift={clip}@6")],
    ] {
        let mut args = vec!["serve", "--db", &db, "--listen", "127.0.0.1:0"];
        for camera in &cameras {
            args.extend(["--camera", camera]);
        }
        let started = Instant::now();
        let output = facecmp(&args);
        assert_eq!(status(&output), 2, "{cameras:?}: {}", stderr(&output));
        assert!(stderr(&output).contains("camera"), "{cameras:?}: {}", stderr(&output));
        assert!(started.elapsed() < Duration::from_secs(30), "refused before any model loads");
    }
}

fn create_key(db: &str, role: &str) -> String {
    let created = facecmp(&["keys", "create", "--db", db, "--role", role, "--name", role]);
    assert_eq!(status(&created), 0, "{}", stderr(&created));
    stdout(&created).trim().to_string()
}

fn status_of(served: &Served, path: &str, key: Option<&str>) -> u16 {
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let mut request = agent.get(format!("http://{}{path}", served.address));
    if let Some(key) = key {
        request = request.header("Authorization", format!("Bearer {key}"));
    }
    request.call().unwrap().status().as_u16()
}

#[test]
fn indexed_footage_is_found_over_http_by_admins_only() {
    let dir = tempfile::tempdir().unwrap();
    let clip = make_clip(dir.path(), &LIFT, LIFT_SECONDS);
    let db = gallery_granting(dir.path(), "lift");
    let indexed = facecmp(&["index", "--db", &db, clip.to_str().unwrap()]);
    assert_eq!(status(&indexed), 0, "{}", stderr(&indexed));
    let (admin, camera) = (create_key(&db, "admin"), create_key(&db, "camera"));
    let served = serve_gallery(std::path::Path::new(&db), 1024, &[]);

    // Obama's two scenes, 0–3 s and 10–13 s, each above the server's threshold.
    let found = get_json(&served, "/v1/appearances?person=Obama", &admin);
    let appearances = found["appearances"].as_array().unwrap();
    let mut starts: Vec<i64> =
        appearances.iter().map(|f| f["appearance"]["media_start_ms"].as_i64().unwrap()).collect();
    starts.sort();
    assert_eq!(starts.len(), 2, "{found}");
    assert!(starts[0] < 1000 && (10_000..11_000).contains(&starts[1]), "{found}");
    let threshold = found["threshold"].as_f64().unwrap();
    assert!(
        appearances.iter().all(|f| f["matched"] == true && f["similarity"].as_f64().unwrap() >= threshold)
    );
    let later = get_json(&served, "/v1/appearances?person=Obama&from_ms=5000", &admin);
    assert_eq!(later["appearances"].as_array().unwrap().len(), 1, "{later}");
    // Everyone in the clip is enrolled: no cluster of unknown people.
    assert_eq!(get_json(&served, "/v1/clusters", &admin), serde_json::json!([]));

    // Surveillance data: admins only; bad queries are refused.
    assert_eq!(status_of(&served, "/v1/appearances?person=Obama", Some(&camera)), 403);
    assert_eq!(status_of(&served, "/v1/clusters", Some(&camera)), 403);
    assert_eq!(status_of(&served, "/v1/appearances?person=Obama", None), 401);
    assert_eq!(status_of(&served, "/v1/appearances?person=Nobody", Some(&admin)), 404);
    assert_eq!(status_of(&served, "/v1/appearances?person=Obama&limit=0", Some(&admin)), 400);
    assert_eq!(status_of(&served, "/v1/appearances", Some(&admin)), 400);
}

#[test]
fn a_camera_the_service_indexes_is_found_with_its_wall_clock() {
    let dir = tempfile::tempdir().unwrap();
    let clip = make_clip(dir.path(), &LIFT, LIFT_SECONDS);
    let db = gallery_granting(dir.path(), "5");
    let camera = format!("lift={}@5", clip.display());
    // Only a --camera can be indexed.
    let refused =
        facecmp(&["serve", "--db", &db, "--listen", "127.0.0.1:0", "--camera", &camera, "--index", "door"]);
    assert_eq!(status(&refused), 2, "{}", stderr(&refused));
    assert!(stderr(&refused).contains("--index \"door\""), "{}", stderr(&refused));

    let admin = create_key(&db, "admin");
    let started_ms =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
    let flags = ["--camera", camera.as_str(), "--index", "lift", "--index-retention", "1h"];
    let served = serve_gallery(std::path::Path::new(&db), 1024, &flags);
    // The file plays at its own rate: Obama's scenes end at 3 s and 13 s,
    // each written when its track ends.
    let started = Instant::now();
    let found = loop {
        let found = get_json(&served, "/v1/appearances?person=Obama", &admin);
        if found["appearances"].as_array().unwrap().len() >= 2 {
            break found;
        }
        let log = served.log.lock().unwrap().clone();
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "Obama not indexed twice within 90 s: {found}\n{log}"
        );
        std::thread::sleep(Duration::from_millis(500));
    };
    let now_ms =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
    for found in found["appearances"].as_array().unwrap() {
        let appearance = &found["appearance"];
        assert_eq!(appearance["source_name"], "lift", "the camera's name: {appearance}");
        let (start, end) =
            (appearance["wall_start_ms"].as_i64().unwrap(), appearance["wall_end_ms"].as_i64().unwrap());
        assert!(
            started_ms <= start && start <= end && end <= now_ms,
            "wall clock {start}–{end}: {appearance}"
        );
        assert!(appearance["expires"].as_i64().unwrap() <= end / 1000 + 3_600, "kept an hour: {appearance}");
    }
    let log = served.log.lock().unwrap().clone();
    assert!(log.contains("indexing the camera"), "{log}");
}
