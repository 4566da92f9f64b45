//! The service end to end: a real server on loopback, a real SQLite file,
//! the real models, and plain HTTP requests.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use facecmp::{Config, Pipeline};
use facecmp_gallery::{Gallery, QualityPolicy, Role};
use facecmp_server::ServerConfig;
use serde_json::Value;

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/data").join(name)
}

fn read(name: &str) -> Vec<u8> {
    std::fs::read(data(name)).unwrap()
}

struct Server {
    address: SocketAddr,
    admin: String,
    camera: String,
    _dir: tempfile::TempDir,
    _shutdown: tokio::sync::oneshot::Sender<()>,
}

/// Starts a server on an ephemeral port with a fresh gallery, an admin key
/// and a camera key; it stops when the `Server` is dropped.
fn start() -> Server {
    let dir = tempfile::tempdir().unwrap();
    let pipeline = Pipeline::load(Config::default()).unwrap();
    let gallery = Gallery::create(dir.path().join("gallery.db"), pipeline.embedder()).unwrap();
    let (_, admin) = gallery.create_key("admin", Role::Admin).unwrap();
    let (_, camera) = gallery.create_key("lift-5", Role::Camera).unwrap();
    let config = ServerConfig {
        workers: 2,
        max_body_bytes: 4 << 20,
        threshold: 0.3642,
        quality: QualityPolicy::default(),
    };
    let app = facecmp_server::app(pipeline, gallery, &config);
    let (shutdown, stopped) = tokio::sync::oneshot::channel::<()>();
    let (bound, address) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            bound.send(listener.local_addr().unwrap()).unwrap();
            facecmp_server::serve(listener, app, async {
                let _ = stopped.await;
            })
            .await
            .unwrap();
        });
    });
    Server { address: address.recv().unwrap(), admin, camera, _dir: dir, _shutdown: shutdown }
}

fn agent() -> ureq::Agent {
    static AGENT: OnceLock<ureq::Agent> = OnceLock::new();
    AGENT
        .get_or_init(|| ureq::Agent::config_builder().http_status_as_error(false).build().new_agent())
        .clone()
}

struct Reply {
    status: u16,
    body: Value,
}

impl Server {
    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    fn send(&self, method: &str, path: &str, key: Option<&str>, body: Option<(&str, Vec<u8>)>) -> Reply {
        let mut request = ureq::http::Request::builder().method(method).uri(self.url(path));
        if let Some(key) = key {
            request = request.header("Authorization", format!("Bearer {key}"));
        }
        let (content_type, bytes) = body.unwrap_or(("application/octet-stream", Vec::new()));
        // A fresh connection each time: after refusing an oversized body the server closes its end,
        // and a pooled connection could be picked up again before that close is seen.
        let request =
            request.header("Content-Type", content_type).header("Connection", "close").body(bytes).unwrap();
        let mut response = agent().run(request).unwrap();
        let status = response.status().as_u16();
        let text = response.body_mut().read_to_string().unwrap();
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Reply { status, body }
    }

    fn access(&self, zone: &str, image: Vec<u8>) -> Reply {
        self.send("POST", &format!("/v1/access?zone={zone}"), Some(&self.camera), Some(("image/jpeg", image)))
    }

    fn enrol(&self, name: &str, image: Vec<u8>) -> Reply {
        self.send(
            "POST",
            &format!("/v1/people/{name}/samples"),
            Some(&self.admin),
            Some(("image/jpeg", image)),
        )
    }
}

fn multipart(parts: &[(&str, &[u8])]) -> (String, Vec<u8>) {
    let boundary = "facecmp-test-boundary";
    let mut body = Vec::new();
    for (name, bytes) in parts {
        body.extend(format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{name}.jpg\"\r\nContent-Type: image/jpeg\r\n\r\n").as_bytes());
        body.extend(*bytes);
        body.extend(b"\r\n");
    }
    body.extend(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

fn mirrored(name: &str) -> Vec<u8> {
    let mut bytes = std::io::Cursor::new(Vec::new());
    image::load_from_memory(&read(name))
        .unwrap()
        .fliph()
        .write_to(&mut bytes, image::ImageFormat::Png)
        .unwrap();
    bytes.into_inner()
}

#[test]
fn the_elevator_over_http() {
    let server = start();
    assert_eq!(server.enrol("Obama", read("obama.jpg")).status, 201);
    assert_eq!(server.enrol("Biden", read("biden.jpg")).status, 201);
    // Erase Biden right away, so the next probe of him is a stranger's face.
    assert_eq!(server.send("DELETE", "/v1/people/Biden", Some(&server.admin), None).status, 200);
    let granted = server.send("PUT", "/v1/grants/5/Obama", Some(&server.admin), None);
    assert_eq!(granted.status, 200, "{:?}", granted.body);

    let allowed = server.access("5", read("obama2.jpg"));
    assert_eq!(allowed.status, 200);
    assert_eq!(allowed.body["allowed"], true, "{}", allowed.body);
    assert_eq!(allowed.body["reason"], "granted");
    assert_eq!(allowed.body["person"], "Obama");

    for (name, bytes, reason) in [
        ("biden.jpg", read("biden.jpg"), "unknown"),
        ("no_face.png", read("no_face.png"), "no_face"),
        ("bald_guys.jpg", read("bald_guys.jpg"), "multiple_faces"),
        ("not_an_image.txt", read("not_an_image.txt"), "bad_image"),
        ("empty body", Vec::new(), "bad_image"),
    ] {
        let denied = server.access("5", bytes);
        assert_eq!(denied.status, 200, "{name}: {}", denied.body);
        assert_eq!(denied.body["allowed"], false, "{name}: {}", denied.body);
        assert_eq!(denied.body["reason"], reason, "{name}: {}", denied.body);
    }

    // Enrolled but not granted.
    assert_eq!(server.enrol("Biden", read("biden.jpg")).status, 201);
    let not_granted = server.access("5", mirrored("biden.jpg"));
    assert_eq!(not_granted.body["reason"], "not_granted", "{}", not_granted.body);

    // Multipart works as well as a raw body, with the zone as a field.
    let (content_type, body) = multipart(&[("image", &read("obama3.jpg"))]);
    let form = server.send("POST", "/v1/access?zone=5", Some(&server.camera), Some((&content_type, body)));
    assert_eq!(form.body["allowed"], true, "{}", form.body);

    // The audit trail has every decision, filterable and paged.
    let events = server.send("GET", "/v1/events?zone=5&decision=deny&limit=3", Some(&server.admin), None);
    assert_eq!(events.status, 200);
    assert_eq!(events.body["events"].as_array().unwrap().len(), 3);
    let next = events.body["next_before"].as_i64().unwrap();
    let rest = server.send(
        "GET",
        &format!("/v1/events?zone=5&decision=deny&before={next}"),
        Some(&server.admin),
        None,
    );
    assert_eq!(rest.body["events"].as_array().unwrap().len(), 3);
    assert!(rest.body["next_before"].is_null());
}

#[test]
fn keys_and_roles_guard_every_route() {
    let server = start();
    assert_eq!(server.send("GET", "/healthz", None, None).status, 200);
    assert_eq!(server.send("GET", "/v1/people", None, None).status, 401);
    assert_eq!(server.send("GET", "/v1/people", Some("fck_1_0000"), None).status, 401);
    // Requests refused before their body is read carry tiny bodies: the server answers and closes
    // without reading, and a client still writing a large body would see a broken pipe instead.
    assert_eq!(
        server.send("POST", "/v1/access?zone=5", None, Some(("image/jpeg", b"x".to_vec()))).status,
        401
    );
    let forbidden = server.send("GET", "/v1/people", Some(&server.camera), None);
    assert_eq!(forbidden.status, 403);
    assert_eq!(forbidden.body["error"]["code"], "forbidden");
    assert_eq!(server.enrol("Obama", read("obama.jpg")).status, 201);
    let camera_enrol = server.send(
        "POST",
        "/v1/people/Eve/samples",
        Some(&server.camera),
        Some(("image/jpeg", b"x".to_vec())),
    );
    assert_eq!(camera_enrol.status, 403);
    assert_eq!(server.send("DELETE", "/v1/people/Obama", Some(&server.camera), None).status, 403);
    assert_eq!(server.send("PUT", "/v1/grants/5/Obama", Some(&server.camera), None).status, 403);
    // Cameras may identify.
    let found =
        server.send("POST", "/v1/identify", Some(&server.camera), Some(("image/jpeg", read("obama2.jpg"))));
    assert_eq!(found.status, 200, "{}", found.body);
    assert_eq!(found.body["faces"][0]["candidates"][0]["person"], "Obama");
    assert_eq!(found.body["faces"][0]["candidates"][0]["matched"], true);
}

#[test]
fn admin_routes_manage_the_gallery() {
    let server = start();
    let admin = Some(server.admin.as_str());
    assert_eq!(server.enrol("Obama", read("obama.jpg")).status, 201);
    assert_eq!(server.enrol("Obama", read("obama3.jpg")).status, 201);
    let refused = server.enrol("Obama", read("bald_guys.jpg"));
    assert_eq!((refused.status, refused.body["error"]["code"].as_str()), (422, Some("multiple_faces")));
    let duplicate = server.enrol("Obama", read("obama.jpg"));
    assert_eq!(duplicate.body["error"]["code"], "already_enrolled");

    let people = server.send("GET", "/v1/people", admin, None);
    assert_eq!(people.body[0]["name"], "Obama");
    assert_eq!(people.body[0]["samples"], 2);
    let samples = server.send("GET", "/v1/samples?person=Obama", admin, None);
    let first = samples.body[0]["id"].as_i64().unwrap();
    assert_eq!(server.send("DELETE", &format!("/v1/samples/{first}"), admin, None).status, 204);
    assert_eq!(server.send("DELETE", &format!("/v1/samples/{first}"), admin, None).status, 404);

    let zone = server.send(
        "PUT",
        "/v1/zones/lobby",
        admin,
        Some(("application/json", br#"{"allow_multiple_faces": true}"#.to_vec())),
    );
    assert_eq!(zone.body["allow_multiple_faces"], true, "{}", zone.body);
    let window = br#"{"valid_from": 0, "valid_until": 4102444800}"#.to_vec();
    let grant = server.send("PUT", "/v1/grants/lobby/Obama", admin, Some(("application/json", window)));
    assert_eq!(grant.body["valid_until"], 4102444800_i64, "{}", grant.body);
    let grants = server.send("GET", "/v1/grants?zone=lobby", admin, None);
    assert_eq!(grants.body.as_array().unwrap().len(), 1);
    assert_eq!(server.send("DELETE", "/v1/grants/lobby/Obama", admin, None).status, 204);
    assert_eq!(server.send("DELETE", "/v1/grants/lobby/Obama", admin, None).status, 404);
    assert_eq!(server.send("GET", "/v1/people/Nobody", admin, None).status, 404);
    let bad_window = server.send(
        "PUT",
        "/v1/grants/lobby/Obama",
        admin,
        Some(("application/json", b"{\"valid_from\": 5, \"valid_until\": 1}".to_vec())),
    );
    assert_eq!(bad_window.status, 400);

    let (content_type, body) = multipart(&[("a", &read("obama.jpg")), ("b", &read("biden.jpg"))]);
    let compared = server.send("POST", "/v1/compare", admin, Some((&content_type, body)));
    assert_eq!(compared.status, 200, "{}", compared.body);
    assert_eq!(compared.body["same"], false);
    let (content_type, body) = multipart(&[("a", &read("obama.jpg")), ("b", &read("no_face.png"))]);
    let no_face = server.send("POST", "/v1/compare", admin, Some((&content_type, body)));
    assert_eq!((no_face.status, no_face.body["error"]["code"].as_str()), (422, Some("no_face")));
}

#[test]
fn oversized_bodies_are_refused_before_decoding() {
    let server = start();
    assert_eq!(status_for_announced_body(&server, 5 << 20), 413);
    assert_eq!(status_for_announced_body(&server, 64), 100, "a body within the limit is awaited");
    // A tiny file whose header claims 60000×60000 pixels is refused from the header.
    let mut bomb = vec![0u8; 64];
    bomb[..2].copy_from_slice(b"BM");
    bomb[10..14].copy_from_slice(&54u32.to_le_bytes());
    bomb[14..18].copy_from_slice(&40u32.to_le_bytes());
    bomb[18..22].copy_from_slice(&60000i32.to_le_bytes());
    bomb[22..26].copy_from_slice(&60000i32.to_le_bytes());
    bomb[26..28].copy_from_slice(&1u16.to_le_bytes());
    bomb[28..30].copy_from_slice(&24u16.to_le_bytes());
    let denied = server.access("5", bomb);
    assert_eq!(denied.body["allowed"], false);
}

/// The status for a request that announces a body of `length` bytes and
/// waits for the go-ahead (`Expect: 100-continue`) before sending it: a body
/// over the limit must be refused from its announced length, unread.
fn status_for_announced_body(server: &Server, length: usize) -> u16 {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(server.address).unwrap();
    let head = format!(
        "POST /v1/people/X/samples HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\n\
         Content-Type: image/jpeg\r\nContent-Length: {length}\r\nExpect: 100-continue\r\n\r\n",
        server.address, server.admin
    );
    stream.write_all(head.as_bytes()).unwrap();
    let mut reply = [0u8; 12];
    stream.read_exact(&mut reply).unwrap();
    let status_line = String::from_utf8_lossy(&reply);
    status_line[9..12].parse().unwrap_or_else(|_| panic!("not an HTTP status line: {status_line}"))
}

#[test]
fn parallel_access_requests_are_all_answered_correctly() {
    let server = start();
    assert_eq!(server.enrol("Obama", read("obama.jpg")).status, 201);
    assert_eq!(server.send("PUT", "/v1/grants/5/Obama", Some(&server.admin), None).status, 200);
    let (obama, biden) = (read("obama2.jpg"), read("biden.jpg"));
    std::thread::scope(|scope| {
        let requests: Vec<_> = (0..16)
            .map(|i| {
                let (server, image, expected) =
                    if i % 2 == 0 { (&server, obama.clone(), true) } else { (&server, biden.clone(), false) };
                scope.spawn(move || (server.access("5", image), expected))
            })
            .collect();
        for request in requests {
            let (reply, expected) = request.join().unwrap();
            assert_eq!(reply.status, 200);
            assert_eq!(reply.body["allowed"], expected, "{}", reply.body);
        }
    });
    let events = server.send("GET", "/v1/events?limit=1000", Some(&server.admin), None);
    assert_eq!(events.body["events"].as_array().unwrap().len(), 16);
}

#[test]
fn enrolment_and_erasure_reach_the_search_matrix_without_a_restart() {
    let server = start();
    let admin = Some(server.admin.as_str());
    let identify = || server.send("POST", "/v1/identify", admin, Some(("image/jpeg", read("obama2.jpg"))));
    assert_eq!(identify().body["faces"][0]["candidates"].as_array().unwrap().len(), 0);
    assert_eq!(server.enrol("Obama", read("obama.jpg")).status, 201);
    assert_eq!(identify().body["faces"][0]["candidates"][0]["person"], "Obama");
    assert_eq!(server.send("DELETE", "/v1/people/Obama", admin, None).status, 200);
    assert_eq!(identify().body["faces"][0]["candidates"].as_array().unwrap().len(), 0);
    let health = server.send("GET", "/healthz", None, None);
    assert_eq!(health.body["samples"], 0);
}

#[test]
fn the_openapi_document_describes_every_route() {
    let server = start();
    let document = server.send("GET", "/openapi.json", None, None);
    let paths = document.body["paths"].as_object().expect("paths");
    let source = include_str!("../src/routes.rs");
    let routes: Vec<&str> =
        source.lines().filter_map(|line| line.trim().strip_prefix(".route(\"")?.split('"').next()).collect();
    assert!(routes.len() >= 14, "{routes:?}");
    for route in routes {
        assert!(paths.contains_key(route), "{route} is not in openapi.json");
    }
}
