//! One gallery, several processes: a running `facecmp serve` follows what
//! `facecmp enroll` and `facecmp remove`, run as separate processes, change
//! in its SQLite file; two `facecmp serve` nodes share one PostgreSQL
//! database, survive a node killed mid-burst and a database stopped
//! mid-burst; two `facecmp index` processes write one PostgreSQL gallery
//! while a server answers `find` from it. Real binary, real models, real HTTP on loopback, a real
//! PostgreSQL server (skipped with a message where none is installed,
//! except in CI).
#![allow(clippy::unwrap_used)] // a test or a measurement: a panic is its failure report

#[path = "support/clips.rs"]
mod clips;
#[path = "../../facecmp-gallery/tests/support/postgres.rs"]
mod postgres_harness;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/data").join(name)
}

fn facecmp(db: &str, args: &[&str]) -> Output {
    let output = Command::new(env!("CARGO_BIN_EXE_facecmp"))
        .env("FACECMP_DB", db)
        .args(args)
        .output()
        .expect("facecmp runs");
    assert!(
        output.status.success(),
        "facecmp {args:?}: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// A `facecmp serve` child process, killed when dropped.
pub struct Node {
    child: Child,
    address: String,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl Node {
    /// Starts `facecmp serve` on a free port and waits until it answers.
    pub fn start(db: &str) -> Node {
        let address = format!("127.0.0.1:{}", free_port());
        let child = Command::new(env!("CARGO_BIN_EXE_facecmp"))
            .args(["serve", "--db", db, "--listen", &address, "--workers", "2"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("facecmp serve starts");
        let mut node = Node { child, address };
        let started = Instant::now();
        loop {
            if let Ok(reply) = agent().get(node.url("/healthz")).call()
                && reply.status() == 200
            {
                return node;
            }
            if let Ok(Some(status)) = node.child.try_wait() {
                panic!("facecmp serve exited with {status}");
            }
            assert!(started.elapsed() < Duration::from_secs(120), "facecmp serve did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    /// Asks for `zone` with a photo; returns the status and the JSON body.
    pub fn access(&self, key: &str, zone: &str, photo: &str) -> (u16, Value) {
        self.try_access(key, zone, photo).expect("the node answers")
    }

    /// Like [`access`](Self::access), `None` when the node does not answer.
    pub fn try_access(&self, key: &str, zone: &str, photo: &str) -> Option<(u16, Value)> {
        let bytes = std::fs::read(data(photo)).unwrap();
        self.call("POST", &format!("/v1/access?zone={zone}"), key, Some(bytes))
    }

    pub fn call(&self, method: &str, path: &str, key: &str, body: Option<Vec<u8>>) -> Option<(u16, Value)> {
        call(&self.address, method, path, key, body)
    }

    fn kill_9(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

/// One request to a node at `address`; `None` when it does not answer.
fn call(address: &str, method: &str, path: &str, key: &str, body: Option<Vec<u8>>) -> Option<(u16, Value)> {
    let request = ureq::http::Request::builder()
        .method(method)
        .uri(format!("http://{address}{path}"))
        .header("Authorization", format!("Bearer {key}"))
        .header("Content-Type", "image/jpeg")
        .header("Connection", "close")
        .body(body.unwrap_or_default())
        .unwrap();
    let mut reply = agent().run(request).ok()?;
    let status = reply.status().as_u16();
    let text = reply.body_mut().read_to_string().ok()?;
    Some((status, serde_json::from_str(&text).unwrap_or(Value::String(text))))
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder().http_status_as_error(false).build().new_agent()
}

/// The token `facecmp keys create` prints.
fn create_key(db: &str, role: &str, zones: &[&str]) -> String {
    let mut args = vec!["keys", "create", "--role", role, "--name", role];
    for zone in zones {
        args.extend(["--zone", zone]);
    }
    String::from_utf8(facecmp(db, &args).stdout).unwrap().trim().to_string()
}

#[test]
fn a_running_server_follows_enrolment_and_erasure_by_other_processes() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("gallery.db").display().to_string();
    facecmp(&db, &["gallery", "init", &db]);
    facecmp(&db, &["zone", "5"]);
    let camera = create_key(&db, "camera", &["5"]);
    let node = Node::start(&db);

    let (status, denied) = node.access(&camera, "5", "obama2.jpg");
    assert_eq!((status, denied["reason"].as_str()), (200, Some("unknown")), "{denied}");

    // Enrolled by another process: the very next request sees it.
    facecmp(&db, &["enroll", "--name", "Obama", "--zone", "5", &data("obama.jpg").display().to_string()]);
    let (status, allowed) = node.access(&camera, "5", "obama2.jpg");
    assert_eq!(status, 200, "{allowed}");
    assert_eq!(allowed["allowed"], true, "{allowed}");
    assert_eq!(allowed["person"], "Obama");

    // Erased by another process: denied at once, as a stranger, not an error.
    facecmp(&db, &["remove", "Obama"]);
    let (status, denied) = node.access(&camera, "5", "obama2.jpg");
    assert_eq!(status, 200, "{denied}");
    assert_eq!(
        (denied["allowed"].as_bool(), denied["reason"].as_str()),
        (Some(false), Some("unknown")),
        "{denied}"
    );
    assert!(denied.get("person").is_none_or(Value::is_null), "{denied}");

    // The camera key is limited to zone 5; a revoked key stops at once. (Tiny bodies: a request
    // refused before its body is read is answered and closed unread.)
    let tiny = || Some(b"x".to_vec());
    assert_eq!(node.call("POST", "/v1/access?zone=6", &camera, tiny()).unwrap().0, 403);
    facecmp(&db, &["keys", "revoke", camera.split('_').nth(1).unwrap()]);
    assert_eq!(node.call("POST", "/v1/access?zone=5", &camera, tiny()).unwrap().0, 401);
}

// ---- two nodes on one PostgreSQL database ------------------------------

/// Asks until `accept` holds for the answer, at most `budget` long.
fn within(
    budget: Duration,
    mut ask: impl FnMut() -> (u16, Value),
    accept: impl Fn(&(u16, Value)) -> bool,
) -> (u16, Value) {
    let started = Instant::now();
    loop {
        let answer = ask();
        if accept(&answer) || started.elapsed() > budget {
            return answer;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

type Answers = Arc<Mutex<Vec<Option<(u16, Value)>>>>;

/// Asks the node at `address` for zone 5 over and over until `stop`,
/// keeping every answer (`None`: no answer).
fn burst(
    address: String,
    key: String,
    stop: Arc<AtomicBool>,
    answers: Answers,
) -> std::thread::JoinHandle<()> {
    let photo = std::fs::read(data("obama2.jpg")).unwrap();
    std::thread::spawn(move || {
        while !stop.load(Ordering::Relaxed) {
            let answer = call(&address, "POST", "/v1/access?zone=5", &key, Some(photo.clone()));
            answers.lock().unwrap().push(answer);
        }
    })
}

/// A fresh database made a gallery by `facecmp gallery init`; `None`
/// (skipped) when this facecmp was built without PostgreSQL.
fn new_gallery(cluster: &postgres_harness::Cluster) -> Option<postgres_harness::Database> {
    let database = cluster.database();
    let init = Command::new(env!("CARGO_BIN_EXE_facecmp"))
        .args(["gallery", "init", &database.url])
        .output()
        .unwrap();
    if String::from_utf8_lossy(&init.stderr).contains("without PostgreSQL support") {
        eprintln!("skipped: this facecmp was built without feature `postgres`");
        return None;
    }
    assert!(init.status.success(), "{}", String::from_utf8_lossy(&init.stderr));
    Some(database)
}

#[test]
fn two_nodes_share_one_postgres_gallery_and_fail_closed() {
    let Some(cluster) = postgres_harness::Cluster::start() else { return };
    let Some(database) = new_gallery(&cluster) else { return };
    let url = database.url.clone();
    facecmp(&url, &["zone", "5"]);
    let camera = create_key(&url, "camera", &[]);
    let admin = create_key(&url, "admin", &[]);
    let mut a = Node::start(&url);
    let b = Node::start(&url);

    assert_eq!(b.access(&camera, "5", "obama2.jpg").1["reason"], "unknown");
    // Enrolled and granted on A: B allows within 1 s.
    let photo = std::fs::read(data("obama.jpg")).unwrap();
    assert_eq!(a.call("POST", "/v1/people/Obama/samples", &admin, Some(photo.clone())).unwrap().0, 201);
    assert_eq!(a.call("PUT", "/v1/grants/5/Obama", &admin, None).unwrap().0, 200);
    let allowed = within(
        Duration::from_secs(1),
        || b.access(&camera, "5", "obama2.jpg"),
        |(_, body)| body["allowed"] == true,
    );
    assert_eq!(allowed.1["allowed"], true, "{}", allowed.1);

    // Erased on A: B denies at once (every decision checks the person still exists).
    assert_eq!(a.call("DELETE", "/v1/people/Obama", &admin, None).unwrap().0, 200);
    let (status, denied) = b.access(&camera, "5", "obama2.jpg");
    assert_eq!((status, denied["reason"].as_str()), (200, Some("unknown")), "{denied}");

    // kill -9 A during a burst: every decision A acknowledged is in the database.
    assert_eq!(b.call("POST", "/v1/people/Obama/samples", &admin, Some(photo)).unwrap().0, 201);
    assert_eq!(b.call("PUT", "/v1/grants/5/Obama", &admin, None).unwrap().0, 200);
    let (stop, answers): (_, Answers) = (Arc::new(AtomicBool::new(false)), Arc::default());
    let bursts: Vec<_> =
        (0..3).map(|_| burst(a.address.clone(), camera.clone(), stop.clone(), answers.clone())).collect();
    while answers.lock().unwrap().len() < 6 {
        std::thread::sleep(Duration::from_millis(10));
    }
    a.kill_9();
    stop.store(true, Ordering::Relaxed);
    bursts.into_iter().for_each(|t| t.join().unwrap());
    let acknowledged: Vec<i64> = answers
        .lock()
        .unwrap()
        .iter()
        .flatten()
        .filter(|(status, _)| *status == 200)
        .map(|(_, body)| body["event_id"].as_i64().expect("an acknowledged decision names its event"))
        .collect();
    assert!(acknowledged.len() >= 3, "{acknowledged:?}");
    let stored = cluster.sql(&database, "SELECT id FROM events");
    let stored: Vec<i64> = stored.lines().map(|id| id.parse().unwrap()).collect();
    for id in &acknowledged {
        assert!(stored.contains(id), "event {id} was acknowledged but is not in the database");
    }

    // PostgreSQL stops mid-burst: B denies or answers 503, never allows.
    let (stop, answers): (_, Answers) = (Arc::new(AtomicBool::new(false)), Arc::default());
    let bursts: Vec<_> =
        (0..2).map(|_| burst(b.address.clone(), camera.clone(), stop.clone(), answers.clone())).collect();
    while answers.lock().unwrap().len() < 2 {
        std::thread::sleep(Duration::from_millis(10));
    }
    cluster.stop_immediately();
    let stopped_at = answers.lock().unwrap().len();
    while answers.lock().unwrap().len() < stopped_at + 4 {
        std::thread::sleep(Duration::from_millis(10));
    }
    stop.store(true, Ordering::Relaxed);
    bursts.into_iter().for_each(|t| t.join().unwrap());
    let answers = answers.lock().unwrap();
    for (status, body) in answers[stopped_at..].iter().flatten() {
        assert_ne!(body["allowed"], true, "allowed while the database was down: {status} {body}");
        assert!(*status == 503 || body["allowed"] == false, "{status} {body}");
    }
    assert!(answers[stopped_at + 2..].iter().flatten().any(|(status, _)| *status == 503), "{answers:?}");
    drop(answers);

    // Liveness stays up, readiness says the database is gone, in words
    // that carry neither the URL nor SQL.
    assert_eq!(b.call("GET", "/healthz", "", None).unwrap().0, 200);
    let (status, ready) = b.call("GET", "/readyz", "", None).unwrap();
    assert_eq!(
        (status, &ready["ready"], &ready["database"]["ok"]),
        (503, &Value::Bool(false), &Value::Bool(false))
    );
    assert_eq!(ready["models"]["ok"], true, "{ready}");
    let text = ready.to_string();
    assert!(!text.contains("postgres") && !text.contains("SELECT") && !text.contains("127.0.0.1"), "{text}");

    // The database is back: B reconnects at its next request, and is ready again.
    cluster.pg_ctl_start();
    let (status, allowed) = b.access(&camera, "5", "obama2.jpg");
    assert_eq!((status, allowed["allowed"].as_bool()), (200, Some(true)), "{allowed}");
    let (status, ready) = b.call("GET", "/readyz", "", None).unwrap();
    assert_eq!((status, &ready["ready"]), (200, &Value::Bool(true)), "{ready}");
    assert!(ready["revision"].as_i64().is_some_and(|revision| revision > 0), "{ready}");
}

#[test]
fn two_indexers_write_one_postgres_gallery_while_a_server_finds_in_it() {
    let Some(cluster) = postgres_harness::Cluster::start() else { return };
    let Some(database) = new_gallery(&cluster) else { return };
    let url = database.url.clone();
    facecmp(&url, &["enroll", "--name", "Obama", data("obama.jpg").to_str().unwrap()]);
    let admin = create_key(&url, "admin", &[]);
    // Two recordings of other content (a second longer): two sources.
    let dir = tempfile::tempdir().unwrap();
    let lobby = clips::make_shots(dir.path(), "lobby.mp4", &clips::LIFT, clips::LIFT_SECONDS, &[]);
    let garage = clips::make_shots(dir.path(), "garage.mp4", &clips::LIFT, clips::LIFT_SECONDS + 1.0, &[]);
    let node = Node::start(&url);

    let indexer = |clip: &Path| {
        Command::new(env!("CARGO_BIN_EXE_facecmp"))
            .args(["index", "--db", &url, "--json", clip.to_str().unwrap()])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("facecmp index starts")
    };
    let (first, second) = (indexer(&lobby), indexer(&garage));
    // The server answers find the whole time the two write.
    let done = Arc::new(AtomicBool::new(false));
    let answers = {
        let (done, address, admin) = (done.clone(), node.address.clone(), admin.clone());
        std::thread::spawn(move || {
            let mut answers = Vec::new();
            while !done.load(Ordering::Relaxed) {
                let found = call(&address, "GET", "/v1/appearances?person=Obama", &admin, None);
                answers.push(
                    found.map(|(status, body)| (status, body["appearances"].as_array().map_or(0, Vec::len))),
                );
                std::thread::sleep(Duration::from_millis(100));
            }
            answers
        })
    };
    let outputs = [first.wait_with_output().unwrap(), second.wait_with_output().unwrap()];
    done.store(true, Ordering::Relaxed);
    let answers = answers.join().unwrap();
    for output in &outputs {
        assert!(output.status.success(), "facecmp index: {}", String::from_utf8_lossy(&output.stderr));
    }
    assert!(!answers.is_empty() && answers.iter().all(|a| matches!(a, Some((200, _)))), "{answers:?}");

    // Each indexer wrote its clip's appearances once: Obama twice in each.
    let lines: usize = outputs.iter().map(|o| String::from_utf8_lossy(&o.stdout).lines().count()).sum();
    assert_eq!(cluster.sql(&database, "SELECT COUNT(*) FROM appearances").trim(), lines.to_string());
    let repeated = "SELECT COUNT(*) FROM (SELECT source_id, track FROM appearances GROUP BY 1, 2 HAVING COUNT(*) > 1) AS r";
    assert_eq!(cluster.sql(&database, repeated).trim(), "0");
    let (status, found) = node.call("GET", "/v1/appearances?person=Obama", &admin, None).unwrap();
    assert_eq!(status, 200, "{found}");
    let mut sources: Vec<&str> = found["appearances"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["appearance"]["source_name"].as_str().unwrap())
        .collect();
    sources.sort();
    assert_eq!(sources.len(), 4, "{found}");
    assert!(sources[0].ends_with("garage.mp4") && sources[1].ends_with("garage.mp4"), "{sources:?}");
    assert!(sources[2].ends_with("lobby.mp4") && sources[3].ends_with("lobby.mp4"), "{sources:?}");
}
