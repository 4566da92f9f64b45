//! The service end to end: a real server on loopback, a real SQLite file,
//! the real models, and plain HTTP requests.
#![allow(clippy::unwrap_used)] // a test or a measurement: a panic is its failure report

#[path = "support/server.rs"]
mod server;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use facecmp_server::ServerConfig;
use serde_json::Value;
use server::Server;

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/data").join(name)
}

fn read(name: &str) -> Vec<u8> {
    std::fs::read(data(name)).unwrap()
}

/// A server on an ephemeral port with a fresh gallery, an admin key and a
/// camera key; it stops when dropped.
fn start() -> Server {
    start_with(facecmp_server::ConnectionLimits::default())
}

fn start_with(limits: facecmp_server::ConnectionLimits) -> Server {
    server::start(ServerConfig { limits, ..server::test_config(4 << 20) })
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
    request_id: Option<String>,
    content_type: Option<String>,
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
        let header =
            |name: &str| response.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
        let (request_id, content_type) = (header("x-request-id"), header("content-type"));
        let text = response.body_mut().read_to_string().unwrap();
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Reply { status, body, request_id, content_type }
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
    assert_eq!(zone.body["probe_crops_retention_s"], Value::Null, "crops are off unless asked for");
    let keep = br#"{"allow_multiple_faces": true, "probe_crops_retention_s": 604800}"#.to_vec();
    let zone = server.send("PUT", "/v1/zones/lobby", admin, Some(("application/json", keep)));
    assert_eq!(zone.body["probe_crops_retention_s"], 604800, "{}", zone.body);
    for refused in [&br#"{"probe_crops_retention_s": 0}"#[..], br#"{"probe_crops_retention_s": "7d"}"#] {
        let reply =
            server.send("PUT", "/v1/zones/lobby", admin, Some(("application/json", refused.to_vec())));
        assert_api_error(&reply, 400, "bad_request");
    }
    // The whole policy is replaced: a field left out is off again.
    let zone = server.send(
        "PUT",
        "/v1/zones/lobby",
        admin,
        Some(("application/json", br#"{"allow_multiple_faces": true}"#.to_vec())),
    );
    assert_eq!(zone.body["probe_crops_retention_s"], Value::Null, "{}", zone.body);
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
    assert_api_error(&bad_window, 422, "empty_window");
    // Whole seconds written as JSON numbers with a fraction part of zero are
    // integers to JSON Schema (and to JavaScript); a real fraction is not.
    let json_body = |body: &str| Some(("application/json", body.as_bytes().to_vec()));
    let whole =
        server.send("PUT", "/v1/grants/lobby/Obama", admin, json_body(r#"{"valid_until": 4102444800.0}"#));
    assert_eq!((whole.status, &whole.body["valid_until"]), (200, &serde_json::json!(4102444800_i64)));
    let fraction = server.send("PUT", "/v1/grants/lobby/Obama", admin, json_body(r#"{"valid_until": 1.5}"#));
    assert_api_error(&fraction, 400, "bad_request");

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
fn readiness_names_each_check_and_each_camera() {
    let cameras = facecmp_server::CameraBoard::default();
    cameras.register("lift", "floor-3");
    let server = server::start(ServerConfig { cameras: cameras.clone(), ..server::test_config(4 << 20) });
    let ready = server.send("GET", "/readyz", None, None);
    assert_eq!(ready.status, 200, "{}", ready.body);
    for check in ["database", "models", "index"] {
        assert_eq!(ready.body[check], serde_json::json!({"ok": true}), "{}", ready.body);
    }
    assert_eq!(ready.body["cameras"][0]["state"], "connecting");
    cameras.frame("lift");
    let ready = server.send("GET", "/readyz", None, None);
    assert_eq!(
        (&ready.body["cameras"][0]["name"], &ready.body["cameras"][0]["state"]),
        (&"lift".into(), &"online".into())
    );
    // A database that stops answering is tested on a real PostgreSQL
    // (crates/facecmp-cli/tests/shared_gallery.rs).
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

// ---- hostile clients -----------------------------------------------------

/// An error in the API's format: a code, a message, and the request id that
/// is also in the `x-request-id` header.
fn assert_api_error(reply: &Reply, status: u16, code: &str) {
    assert_eq!(reply.status, status, "{}", reply.body);
    assert_eq!(reply.content_type.as_deref(), Some("application/json"), "{}", reply.body);
    assert_eq!(reply.body["error"]["code"], code, "{}", reply.body);
    assert!(reply.body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{}", reply.body);
    let id = reply.body["error"]["request_id"].as_str().expect("a request id in the body");
    assert_eq!(reply.request_id.as_deref(), Some(id));
}

#[test]
fn every_refusal_is_a_json_error_with_a_request_id_axums_own_included() {
    let server = start();
    let admin = Some(server.admin.as_str());
    assert_api_error(&server.send("DELETE", "/v1/samples/abc", admin, None), 400, "bad_request");
    assert_api_error(&server.send("GET", "/v1/events?limit=lots", admin, None), 400, "bad_request");
    // Out of the documented range: refused, not quietly clamped.
    // So are filters by a name nobody could hold (a C1 control, a newline, a bidi override).
    let refused_queries = [
        "/v1/events?limit=0",
        "/v1/events?limit=1001",
        "/v1/events?since=-99999999999999999999",
        "/v1/events?zone=%E2%80%AE",
        "/v1/grants?zone=%C2%9B",
        "/v1/samples?person=a%0Ab",
    ];
    for refused in refused_queries {
        assert_api_error(&server.send("GET", refused, admin, None), 400, "bad_request");
    }
    let photo = Some(("image/jpeg", read("obama.jpg")));
    assert_api_error(&server.send("POST", "/v1/identify?top=1001", admin, photo), 400, "bad_request");
    assert_api_error(&server.send("GET", "/v1/nothing-here", admin, None), 404, "not_found");
    assert_api_error(&server.send("PATCH", "/v1/people", admin, None), 405, "method_not_allowed");
    assert_api_error(&server.send("GET", "/v1/people", None, None), 401, "unauthenticated");
    let json_array = server.send("PUT", "/v1/zones/5", admin, Some(("application/json", b"[true]".to_vec())));
    assert_api_error(&json_array, 400, "bad_request");
    let unknown_field = server.send(
        "PUT",
        "/v1/grants/5/Obama",
        admin,
        Some(("application/json", br#"{"valid_untill": 1}"#.to_vec())),
    );
    assert_api_error(&unknown_field, 400, "bad_request");
    // Ids differ per request and are in the header of successes too.
    let (a, b) = (server.send("GET", "/healthz", None, None), server.send("GET", "/healthz", None, None));
    assert!(a.request_id.is_some() && a.request_id != b.request_id);
}

#[test]
fn compare_refuses_unnamed_and_repeated_parts() {
    let server = start();
    let admin = Some(server.admin.as_str());
    // Small images: the refusal comes as soon as a bad part is seen, and the
    // server closes the connection; a body larger than the socket buffers
    // would then fail the client's write (EPIPE) before it reads the 400.
    let (a, b) = (tiny_png(), tiny_png());
    for parts in [
        vec![("", &a[..]), ("b", &b[..])],
        vec![("a", &a[..]), ("", &b[..])],
        vec![("a", &a[..]), ("a", &b[..]), ("b", &b[..])],
        vec![("a", &a[..]), ("b", &b[..]), ("c", &b[..])],
    ] {
        let names: Vec<&str> = parts.iter().map(|(name, _)| *name).collect();
        let (content_type, body) = multipart(&parts);
        let reply = server.send("POST", "/v1/compare", admin, Some((&content_type, body)));
        assert_api_error(&reply, 400, "bad_request");
        assert!(reply.body.get("same").is_none(), "{names:?}: {}", reply.body);
    }
}

/// An 8×8 grey PNG of a few dozen bytes.
fn tiny_png() -> Vec<u8> {
    let mut bytes = std::io::Cursor::new(Vec::new());
    image::GrayImage::new(8, 8).write_to(&mut bytes, image::ImageFormat::Png).unwrap();
    bytes.into_inner()
}

/// A 16-bit RGBA PNG header of 10000×10000 pixels (800 MB decoded) with a
/// token of data: within the pixel limit, over the memory limit.
fn png_bomb() -> Vec<u8> {
    let image = image::ImageBuffer::<image::Rgba<u16>, _>::new(1, 1);
    let mut bytes = std::io::Cursor::new(Vec::new());
    image.write_to(&mut bytes, image::ImageFormat::Png).unwrap();
    let mut png = bytes.into_inner();
    // IHDR's width and height, then its CRC over type and data.
    png[16..20].copy_from_slice(&10_000u32.to_be_bytes());
    png[20..24].copy_from_slice(&10_000u32.to_be_bytes());
    let crc = crc32(&png[12..29]);
    png[29..33].copy_from_slice(&crc.to_be_bytes());
    png
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in bytes {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

#[test]
fn a_decompression_bomb_is_refused_by_its_decoded_size() {
    let server = start();
    let admin = Some(server.admin.as_str());
    let (content_type, body) = multipart(&[("a", &png_bomb()), ("b", &read("obama.jpg"))]);
    let reply = server.send("POST", "/v1/compare", admin, Some((&content_type, body)));
    assert_api_error(&reply, 413, "too_large");
    assert!(reply.body["error"]["message"].as_str().unwrap().contains("MiB to decode"), "{}", reply.body);
    assert_eq!(server.send("PUT", "/v1/zones/5", admin, None).status, 200);
    let denied = server.access("5", png_bomb());
    assert_eq!(
        (denied.status, &denied.body["allowed"], &denied.body["reason"]),
        (200, &Value::Bool(false), &Value::from("bad_image"))
    );
}

#[test]
fn internal_errors_reach_the_log_not_the_client() {
    let server = start();
    // Hold the gallery's write lock from outside, as another process would.
    let lock = rusqlite::Connection::open(server.dir.path().join("gallery.db")).unwrap();
    lock.execute_batch("BEGIN EXCLUSIVE").unwrap();
    let reply = server.send("PUT", "/v1/zones/5", Some(&server.admin), None);
    assert_api_error(&reply, 500, "internal_error");
    let text = reply.body.to_string();
    for leak in ["locked", "gallery.db", "SQL", "sqlite", &server.dir.path().display().to_string()] {
        assert!(!text.contains(leak), "`{leak}` in {text}");
    }
}

#[test]
fn a_body_that_trickles_in_is_cut_off_at_its_deadline() {
    use std::io::{Read, Write};
    let limits = facecmp_server::ConnectionLimits {
        body_read_timeout: std::time::Duration::from_secs(1),
        ..Default::default()
    };
    let server = start_with(limits);
    let mut stream = std::net::TcpStream::connect(server.address).unwrap();
    let head = format!(
        "POST /v1/people/X/samples HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\n\
         Content-Type: image/jpeg\r\nContent-Length: 100000\r\n\r\n",
        server.admin
    );
    stream.write_all(head.as_bytes()).unwrap();
    stream.set_read_timeout(Some(std::time::Duration::from_millis(200))).unwrap();
    let mut reply = Vec::new();
    // A byte every 200 ms: never a gap long enough for a per-read timeout.
    for _ in 0..150 {
        if stream.write_all(b"x").is_err() {
            break;
        }
        let mut buffer = [0u8; 4096];
        match stream.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => reply.extend_from_slice(&buffer[..n]),
            Err(_) => {}
        }
        if !reply.is_empty() {
            break;
        }
    }
    let reply = String::from_utf8_lossy(&reply);
    assert!(reply.starts_with("HTTP/1.1 408"), "{reply}");
    assert!(reply.contains("\"code\":\"timeout\""), "{reply}");
}

// ---- fuzzing the request parsing -------------------------------------------

/// A deterministic generator (xorshift64*), so a failing case can be rerun.
struct Cases(u64);

impl Cases {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Valid requests of every shape the API parses: paths with parameters,
/// queries, JSON bodies, multipart forms, raw image bodies.
fn request_seeds(server: &Server) -> Vec<Vec<u8>> {
    let tiny = tiny_png();
    let (form_type, form) = multipart(&[("a", &tiny), ("b", &tiny)]);
    let key = &server.admin;
    let with_body = |head: &str, content_type: &str, body: &[u8]| {
        let mut request = format!(
            "{head} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\r\nConnection: close\r\n\
             Content-Type: {content_type}\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .into_bytes();
        request.extend_from_slice(body);
        request
    };
    let bare = |head: &str| {
        format!("{head} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\r\nConnection: close\r\n\r\n")
            .into_bytes()
    };
    vec![
        bare("GET /v1/events?zone=5&decision=deny&limit=5&before=9"),
        bare("GET /v1/grants?zone=5&person=Obama"),
        bare("DELETE /v1/samples/12"),
        bare("GET /v1/people/Obama"),
        with_body("PUT /v1/zones/5", "application/json", br#"{"allow_multiple_faces": true}"#),
        with_body("PUT /v1/grants/5/Obama", "application/json", br#"{"valid_from": 1, "valid_until": 2}"#),
        with_body("POST /v1/compare", &form_type, &form),
        with_body("POST /v1/access?zone=5", "image/png", &tiny),
        with_body("POST /v1/identify?top=3", "image/png", &tiny),
    ]
}

fn mutate(cases: &mut Cases, seed: &[u8]) -> Vec<u8> {
    let mut bytes = seed.to_vec();
    for _ in 0..1 + cases.below(3) {
        let at = cases.below(bytes.len());
        match cases.below(5) {
            0 => bytes[at] ^= 1 << cases.below(8),
            1 => bytes[at] = b"\0\r\n %{}[]\"\\\xff\x7f/?&=:;-"[cases.below(19)],
            2 => {
                let end = (at + 1 + cases.below(16)).min(bytes.len());
                bytes.drain(at..end);
            }
            3 => {
                let end = (at + 1 + cases.below(16)).min(bytes.len());
                let chunk = bytes[at..end].to_vec();
                bytes.splice(at..at, chunk);
            }
            _ => {
                let junk: Vec<u8> = (0..cases.below(8)).map(|_| cases.next() as u8).collect();
                bytes.splice(at..at, junk);
            }
        }
        if bytes.is_empty() {
            bytes.push(b'G');
        }
    }
    bytes
}

/// The status a raw request gets, if the server answers with a status line.
fn raw_status(address: SocketAddr, request: &[u8]) -> Option<u16> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    stream.set_read_timeout(Some(std::time::Duration::from_secs(20))).unwrap();
    let _ = stream.write_all(request);
    let mut reply = Vec::new();
    let _ = stream.read_to_end(&mut reply);
    let line = String::from_utf8_lossy(&reply[..reply.len().min(12)]).into_owned();
    line.strip_prefix("HTTP/1.1 ").and_then(|rest| rest.get(..3)).and_then(|code| code.parse().ok())
}

fn fuzz_requests(cases: usize) {
    let limits = facecmp_server::ConnectionLimits {
        header_read_timeout: std::time::Duration::from_secs(2),
        body_read_timeout: std::time::Duration::from_secs(2),
        ..Default::default()
    };
    let server = start_with(limits);
    let seeds = request_seeds(&server);
    for seed in &seeds {
        let status = raw_status(server.address, seed);
        assert!(status.is_some_and(|s| s < 500), "seed {}: {status:?}", String::from_utf8_lossy(&seed[..40]));
    }
    let statuses = std::sync::Mutex::new(std::collections::BTreeMap::<Option<u16>, usize>::new());
    std::thread::scope(|scope| {
        for thread in 0..8u64 {
            let (server, seeds, statuses) = (&server, &seeds, &statuses);
            scope.spawn(move || {
                let mut generator = Cases(0xF022_0000 + thread);
                for case in (thread as usize..cases).step_by(8) {
                    let request = mutate(&mut generator, &seeds[case % seeds.len()]);
                    let status = raw_status(server.address, &request);
                    assert!(
                        status.is_none_or(|s| s < 500),
                        "case {case} got {status:?}: {:?}",
                        String::from_utf8_lossy(&request)
                    );
                    *statuses.lock().unwrap().entry(status).or_default() += 1;
                }
            });
        }
    });
    eprintln!("fuzzed request parsing: {cases} cases, statuses {:?}", statuses.into_inner().unwrap());
    assert_eq!(server.send("GET", "/healthz", None, None).status, 200, "the server survives");
}

#[test]
fn mutated_requests_never_get_a_server_error() {
    fuzz_requests(240);
}

/// The longer run: `FACECMP_FUZZ_CASES=20000 cargo test -p facecmp-server
/// --test http -- --ignored fuzz`.
#[test]
#[ignore]
fn fuzz_requests_long() {
    fuzz_requests(std::env::var("FACECMP_FUZZ_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(5_000));
}
