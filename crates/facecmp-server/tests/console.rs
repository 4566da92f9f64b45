//! The admin console in a real browser: headless Chromium driven over
//! WebDriver (chromedriver), against a real server on loopback with a real
//! gallery and the real models. One browser runs every flow in turn.
//!
//! Needs `chromium`, `chromium-driver` and `ffmpeg` (Debian packages). Without
//! them the test says so and passes, except under CI (`CI` set), where it fails.
//! With `FACECMP_SCREENSHOTS=docs/console` it saves the README's screenshots.
#![allow(clippy::unwrap_used)] // a test or a measurement: a panic is its failure report

#[path = "support/server.rs"]
mod server;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use facecmp::{Config, Pipeline};
use facecmp_gallery::{
    Appearance, AppearanceFilter, AppearanceQuery, EnrolPolicy, Gallery, NewSource, SourceKind,
    prepare_sample,
};
use facecmp_video::{
    AppearanceWriter, FrameStream, IndexBatch, IndexConfig, ReadOptions, VideoSource, index_source,
    photo_appearances,
};
use fantoccini::error::{CmdError, ErrorStatus, WebDriver};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};
use server::Server;

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/data").join(name).canonicalize().unwrap()
}

fn start_server() -> Server {
    server::start(server::test_config(8 << 20))
}

/// The browser's tools, or why they are missing.
struct Tools {
    chromium: PathBuf,
    chromedriver: PathBuf,
    ffmpeg: PathBuf,
}

fn which(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|dir| Path::new(dir).join(program))
        .find(|path| path.is_file())
}

fn tools() -> Option<Tools> {
    let found = Tools {
        chromium: which("chromium")
            .or_else(|| which("chromium-browser"))
            .or_else(|| which("google-chrome"))?,
        chromedriver: which("chromedriver")?,
        ffmpeg: which("ffmpeg")?,
    };
    Some(found)
}

/// Kills chromedriver (and with it the browser) when the test ends.
struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts chromedriver on a free port and returns its URL. (Debian's
/// chromedriver 148 with `--port=0` reports port 0, so the port is chosen
/// here: bound, released, and handed over.)
fn start_chromedriver(tools: &Tools) -> (Driver, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut child = Command::new(&tools.chromedriver)
        .arg(format!("--port={port}"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver starts");
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    loop {
        let line = lines.next().expect("chromedriver says it started").unwrap();
        if line.contains("started successfully") {
            break;
        }
    }
    // Keep reading (and discarding) its output so it never blocks on a full pipe.
    std::thread::spawn(move || lines.for_each(drop));
    (Driver(child), format!("http://127.0.0.1:{port}"))
}

/// A video of a face for Chromium's fake camera, made with ffmpeg.
fn fake_camera_video(tools: &Tools, dir: &Path) -> PathBuf {
    let video = dir.join("obama.y4m");
    let status = Command::new(&tools.ffmpeg)
        .args(["-v", "error", "-y", "-loop", "1", "-i"])
        .arg(data("obama.jpg"))
        .args(["-t", "1", "-r", "10", "-vf", "scale=480:600,format=yuv420p", "-f", "yuv4mpegpipe"])
        .arg(&video)
        .status()
        .expect("ffmpeg runs");
    assert!(status.success(), "ffmpeg could not make {}", video.display());
    video
}

async fn open_browser(tools: &Tools, driver: &str, video: &Path) -> Client {
    let args = [
        "--headless=new".to_string(),
        "--no-sandbox".to_string(),
        "--disable-gpu".to_string(),
        "--disable-dev-shm-usage".to_string(),
        "--window-size=1200,900".to_string(),
        "--use-fake-ui-for-media-stream".to_string(),
        "--use-fake-device-for-media-stream".to_string(),
        format!("--use-file-for-fake-video-capture={}", video.display()),
    ];
    let capabilities = json!({
        "browserName": "chrome",
        "goog:chromeOptions": { "binary": tools.chromium, "args": args },
    });
    let capabilities = capabilities.as_object().unwrap().clone();
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    ClientBuilder::new(connector).capabilities(capabilities).connect(driver).await.expect("a browser session")
}

/// The browser, the server, and the checks every page gets.
struct Console<'a> {
    browser: &'a Client,
    server: &'a Server,
    screenshots: Option<PathBuf>,
}

impl Console<'_> {
    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.server.address)
    }

    async fn visit(&self, path: &str) {
        self.browser.goto(&self.url(path)).await.unwrap();
        self.assert_no_csp_violation(path).await;
    }

    /// Every page records Content-Security-Policy violations (`csp.js`).
    async fn assert_no_csp_violation(&self, page: &str) {
        let violations =
            self.browser.execute("return window.facecmpCspViolations || null;", vec![]).await.unwrap();
        assert_eq!(violations, json!([]), "CSP violations (or csp.js missing) on {page}");
    }

    /// The element's text. An htmx swap may replace the element between
    /// finding it and reading it (a stale reference): then it is found again.
    async fn text(&self, css: &str) -> String {
        for _ in 0..20 {
            let element = self.browser.find(Locator::Css(css)).await.unwrap_or_else(|e| panic!("{css}: {e}"));
            match element.text().await {
                Ok(text) => return text,
                Err(CmdError::Standard(WebDriver { error: ErrorStatus::StaleElementReference, .. })) => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(e) => panic!("{css}: {e}"),
            }
        }
        panic!("{css}: replaced again and again while being read");
    }

    /// Waits until the element exists and its text contains `needle`.
    async fn wait_for_text(&self, css: &str, needle: &str, limit: Duration) -> String {
        let start = Instant::now();
        loop {
            if let Ok(element) = self.browser.find(Locator::Css(css)).await
                && let Ok(text) = element.text().await
                && text.contains(needle)
            {
                return text;
            }
            if start.elapsed() > limit {
                let body = self.text("body").await;
                panic!("`{needle}` did not appear in {css} within {limit:?}; the page shows:\n{body}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn wait_for_path(&self, path: &str) {
        let start = Instant::now();
        while self.browser.current_url().await.unwrap().path() != path {
            assert!(start.elapsed() < Duration::from_secs(10), "never reached {path}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn fill(&self, css: &str, text: &str) {
        let field = self.browser.find(Locator::Css(css)).await.unwrap();
        field.clear().await.unwrap();
        field.send_keys(text).await.unwrap();
    }

    async fn click(&self, css: &str) {
        self.browser
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css}: {e}"))
            .click()
            .await
            .unwrap();
    }

    async fn screenshot(&self, name: &str) {
        if let Some(dir) = &self.screenshots {
            std::fs::create_dir_all(dir).unwrap();
            let png = self.browser.screenshot().await.unwrap();
            std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
        }
    }

    async fn login(&self, key: &str) {
        self.visit("/login").await;
        self.fill("#key", key).await;
        self.click("form button[type=submit]").await;
    }

    async fn enrol_upload(&self, name: &str, photo: &str) {
        self.visit("/people").await;
        self.fill("#enrol-name", name).await;
        self.browser
            .find(Locator::Css("#enrol-photo"))
            .await
            .unwrap()
            .send_keys(data(photo).to_str().unwrap())
            .await
            .unwrap();
        self.click("#enrol-form button[type=submit]").await;
    }
}

/// A POST as another site would make it, carrying the operator's session.
fn cross_site_post(server: &Server, path: &str, cookie: &str, body: &str) -> u16 {
    let request = ureq::http::Request::builder()
        .method("POST")
        .uri(format!("http://{}{path}", server.address))
        .header("Cookie", cookie)
        .header("Origin", "https://elsewhere.example")
        .header("Sec-Fetch-Site", "cross-site")
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(body.as_bytes().to_vec())
        .unwrap();
    plain_agent().run(request).unwrap().status().as_u16()
}

fn access(server: &Server, zone: &str, photo: &str) -> Value {
    let agent = ureq::Agent::config_builder().http_status_as_error(false).build().new_agent();
    let request = ureq::http::Request::builder()
        .method("POST")
        .uri(format!("http://{}/v1/access?zone={zone}", server.address))
        .header("Authorization", format!("Bearer {}", server.camera))
        .header("Content-Type", "image/jpeg")
        .body(std::fs::read(data(photo)).unwrap())
        .unwrap();
    let mut response = agent.run(request).unwrap();
    serde_json::from_str(&response.body_mut().read_to_string().unwrap()).unwrap()
}

#[test]
fn the_console_in_a_real_browser() {
    let Some(tools) = tools() else {
        let message = "the console's browser test needs chromium, chromium-driver and ffmpeg \
                       (apt-get install -y chromium chromium-driver ffmpeg)";
        assert!(std::env::var_os("CI").is_none(), "{message}: missing under CI");
        eprintln!("SKIPPED: {message}");
        return;
    };
    let server = start_server();
    let dir = tempfile::tempdir().unwrap();
    let video = fake_camera_video(&tools, dir.path());
    let (_driver, driver_url) = start_chromedriver(&tools);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let browser = open_browser(&tools, &driver_url, &video).await;
        let screenshots = std::env::var_os("FACECMP_SCREENSHOTS")
            .map(|dir| Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").join(dir));
        let console = Console { browser: &browser, server: &server, screenshots };
        let outcome = flows(&console).await;
        let _ = browser.close().await;
        outcome
    });
}

async fn flows(console: &Console<'_>) {
    let server = console.server;

    // Without a session every page leads to the login form.
    console.visit("/people").await;
    console.wait_for_path("/login").await;

    // Wrong keys and camera keys are refused, with a message.
    console.login("fck_1_not-the-secret").await;
    console.wait_for_text("#login-error", "not valid", Duration::from_secs(5)).await;
    console.assert_no_csp_violation("/login (refused)").await;
    console.login(&server.camera).await;
    console.wait_for_text("#login-error", "camera key", Duration::from_secs(5)).await;
    console.screenshot("login").await;

    // An admin key opens a session; the cookie is out of the scripts' reach.
    console.login(&server.admin).await;
    console.wait_for_path("/live").await;
    let cookie = console.browser.get_named_cookie("facecmp_session").await.unwrap();
    assert_eq!(cookie.http_only(), Some(true));
    assert_eq!(format!("{:?}", cookie.same_site()), "Some(Strict)");
    assert_eq!(cookie.value().len(), 64, "256 random bits, in hex");
    let session_cookie = format!("facecmp_session={}", cookie.value());
    let script_sees: Value = console.browser.execute("return document.cookie;", vec![]).await.unwrap();
    assert_eq!(script_sees, json!(""), "the session cookie is HttpOnly");

    // Enrol by upload; a photo without a face is refused with the reason, before anything is stored.
    console.enrol_upload("Obama", "no_face.png").await;
    console.wait_for_text("#enrol-refusal", "no face found", Duration::from_secs(20)).await;
    console.enrol_upload("Obama", "obama.jpg").await;
    console.wait_for_path("/people/Obama").await;
    console.wait_for_text("main", "Enrolled", Duration::from_secs(5)).await;
    assert!(console.text("#samples").await.contains("#1"));

    // A name that is HTML is shown as text, never run.
    let hostile = "<script>alert(1)</script>";
    console.enrol_upload(hostile, "biden.jpg").await;
    console.wait_for_text("h1", hostile, Duration::from_secs(20)).await;
    let scripts: Value = console
        .browser
        .execute("return document.querySelectorAll('body script').length;", vec![])
        .await
        .unwrap();
    assert_eq!(scripts, json!(0));
    console.assert_no_csp_violation("the hostile person's page").await;

    // Enrol by webcam: Chromium's fake camera plays a video of Obama.
    console.visit("/people").await;
    console.fill("#enrol-name", "Obama").await;
    console.click("#webcam-start").await;
    console.wait_for_text("#webcam-status", "Camera on", Duration::from_secs(10)).await;
    // Wait for frames before taking the picture.
    let start = Instant::now();
    while console
        .browser
        .execute("return document.getElementById('webcam-video').videoWidth;", vec![])
        .await
        .unwrap()
        == json!(0)
    {
        assert!(start.elapsed() < Duration::from_secs(10), "the fake camera never produced a frame");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    console.click("#webcam-take").await;
    console.wait_for_text("#webcam-status", "Photo taken", Duration::from_secs(5)).await;
    console.screenshot("people").await;
    console.click("#enrol-form button[type=submit]").await;
    console.wait_for_path("/people/Obama").await;
    console.wait_for_text("#samples", "#3", Duration::from_secs(20)).await;
    // Each sample shows the face it was enrolled from (the webcam's too).
    let start = Instant::now();
    loop {
        let widths: Value = console
            .browser
            .execute(
                "return Array.from(document.querySelectorAll('#samples img'), i => i.complete ? i.naturalWidth : 0);",
                vec![],
            )
            .await
            .unwrap();
        if widths == json!([160, 160]) {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(5), "sample thumbnails: {widths}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    console.screenshot("person").await;

    // Grant a zone, with the form on the Zones page.
    console.visit("/zones").await;
    console
        .browser
        .find(Locator::Css("#grant-form select[name=person]"))
        .await
        .unwrap()
        .select_by_value("Obama")
        .await
        .unwrap();
    console.fill("#grant-form input[name=zone]", "lobby").await;
    console.click("#grant-form button[type=submit]").await;
    console.wait_for_text("main", "Obama: always", Duration::from_secs(5)).await;
    console.assert_no_csp_violation("/zones after granting").await;
    // The lobby keeps probe crops for a day.
    console
        .browser
        .find(Locator::Css("article.zone select[name=probe_crops_retention_s]"))
        .await
        .unwrap()
        .select_by_value("86400")
        .await
        .unwrap();
    console.click("article.zone form.inline button[type=submit]").await;
    console.wait_for_text("article.zone", "Several faces", Duration::from_secs(5)).await;
    let kept: Value = console
        .browser
        .execute(
            "return document.querySelector('article.zone select[name=probe_crops_retention_s]').value;",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(kept, json!("86400"));
    console.screenshot("zones").await;

    // A decision made through the API appears on Live within 2 s.
    console.visit("/live").await;
    console.wait_for_text("#live-status", "Connected", Duration::from_secs(10)).await;
    let allowed = access(server, "lobby", "obama2.jpg");
    assert_eq!(allowed["allowed"], true, "{allowed}");
    let row = format!("#live-rows tr[data-event=\"{}\"]", allowed["event_id"]);
    let shown = console.wait_for_text(&row, "granted", Duration::from_secs(2)).await;
    assert!(shown.contains("Obama") && shown.contains("lobby") && shown.contains("allow"), "{shown}");
    // With the face it judged, loaded over the session (the CSP allows it: no violation).
    let crop = format!("{row} img.crop");
    let start = Instant::now();
    loop {
        let width = console
            .browser
            .execute(
                "const i = document.querySelector(arguments[0]); return i ? i.naturalWidth : 0;",
                vec![json!(crop)],
            )
            .await
            .unwrap();
        if width == json!(160) {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(5), "the Live row shows no face crop ({width})");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    console.assert_no_csp_violation("/live with a face crop").await;
    let denied = access(server, "lobby", "bald_guys.jpg");
    let row = format!("#live-rows tr[data-event=\"{}\"]", denied["event_id"]);
    console.wait_for_text(&row, "multiple_faces", Duration::from_secs(2)).await;
    console.screenshot("live").await;

    // Filter Events and download the CSV of the filtered rows.
    access(server, "garage", "no_face.png");
    console.visit("/events").await;
    console
        .browser
        .find(Locator::Css("select[name=decision]"))
        .await
        .unwrap()
        .select_by_value("deny")
        .await
        .unwrap();
    console
        .browser
        .find(Locator::Css("select[name=zone]"))
        .await
        .unwrap()
        .select_by_value("lobby")
        .await
        .unwrap();
    console.click(".filters button[type=submit]").await;
    console.wait_for_text("#events-table", "multiple_faces", Duration::from_secs(5)).await;
    let table = console.text("#events-table tbody").await;
    assert!(!table.contains("granted") && !table.contains("no_face"), "only lobby denials: {table}");
    console.screenshot("events").await;
    let csv: Value = console
        .browser
        .execute_async(
            "const done = arguments[arguments.length - 1];
             fetch(document.getElementById('csv-link').href).then(r => r.text()).then(done);",
            vec![],
        )
        .await
        .unwrap();
    let csv = csv.as_str().unwrap().to_string();
    let lines: Vec<&str> = csv.lines().collect();
    assert!(lines[0].starts_with("id,time_utc,unix_time,zone,decision,reason,person"), "{csv}");
    assert_eq!(lines.len(), 2, "one lobby denial: {csv}");
    assert!(lines[1].contains(",lobby,deny,multiple_faces,"), "{csv}");

    // Compare two photos dropped on the page (a DataTransfer, as a drag from the desktop makes).
    console.visit("/compare").await;
    let encode =
        |name: &str| base64::engine::general_purpose::STANDARD.encode(std::fs::read(data(name)).unwrap());
    console
        .browser
        .execute(
            "const drop = (zone, name, b64) => {
               const bytes = Uint8Array.from(atob(b64), c => c.charCodeAt(0));
               const files = new DataTransfer();
               files.items.add(new File([bytes], name, { type: 'image/jpeg' }));
               document.getElementById(zone).dispatchEvent(
                 new DragEvent('drop', { dataTransfer: files, bubbles: true, cancelable: true }));
             };
             drop('drop-a', 'obama.jpg', arguments[0]);
             drop('drop-b', 'obama2.jpg', arguments[1]);",
            vec![json!(encode("obama.jpg")), json!(encode("obama2.jpg"))],
        )
        .await
        .unwrap();
    let verdict = console.wait_for_text("#compare-verdict", "the same person", Duration::from_secs(30)).await;
    assert!(verdict.contains("0.364"), "the threshold is shown: {verdict}");
    let boxes = console.browser.find_all(Locator::Css("#compare-result rect.face")).await.unwrap();
    assert!(boxes.len() >= 2, "a box for each face: {} boxes", boxes.len());
    let chosen = console.browser.find_all(Locator::Css("#compare-result rect.face.chosen")).await.unwrap();
    assert_eq!(chosen.len(), 2);
    console.assert_no_csp_violation("/compare with a result").await;
    console.screenshot("compare").await;

    // Keys: a new key is shown once.
    console.visit("/keys").await;
    console.fill("#key-form input[name=name]", "door-2").await;
    console.click("#key-form button[type=submit]").await;
    console.wait_for_text("#new-key", "fck_", Duration::from_secs(5)).await;
    console.screenshot("keys").await;

    // A cross-site POST is refused, even with a valid session cookie...
    assert_eq!(cross_site_post(server, "/keys", &session_cookie, "name=evil&role=admin"), 403);
    // ...and a form on another site, submitted in the browser, creates nothing.
    let page = format!(
        "data:text/html,<form method=post action='{}'><input name=name value=evil2><input name=role value=admin></form>",
        console.url("/keys")
    );
    console.browser.goto(&page).await.unwrap();
    console.browser.execute("document.forms[0].submit();", vec![]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    console.visit("/keys").await;
    let keys = console.text("#keys").await;
    assert!(keys.contains("door-2") && !keys.contains("evil"), "{keys}");

    // Erase Obama, after a confirmation naming what goes; then he is gone everywhere.
    console.visit("/people/Obama").await;
    console.click("#erase-link").await;
    console.wait_for_path("/people/Obama/erase").await;
    let summary = console.text("#erase-summary").await;
    assert!(summary.contains("2 face sample(s)") && summary.contains("lobby"), "{summary}");
    console.click("#erase-confirm").await;
    console.wait_for_text("main", "Erased Obama", Duration::from_secs(5)).await;
    for page in ["/people", "/zones", "/events", "/live"] {
        console.visit(page).await;
        let main = console.text("main").await;
        assert!(!main.contains("Obama"), "{page} still shows Obama:\n{main}");
    }
    console.visit("/people/Obama").await;
    console.wait_for_text("main", "no person named", Duration::from_secs(5)).await;

    // Logging out ends the session: the old cookie opens nothing.
    console.visit("/live").await;
    console.click(".logout button").await;
    console.wait_for_path("/login").await;
    assert_eq!(cross_site_post(server, "/logout", &session_cookie, ""), 403);
    let request = ureq::http::Request::builder()
        .uri(console.url("/people"))
        .header("Cookie", &session_cookie)
        .body(())
        .unwrap();
    let response = plain_agent().run(request).unwrap();
    assert_eq!(response.status().as_u16(), 303);
    assert_eq!(response.headers()["location"], "/login");
}

fn plain_agent() -> ureq::Agent {
    ureq::Agent::config_builder().http_status_as_error(false).max_redirects(0).build().new_agent()
}

/// Logs in over plain HTTP and returns the `Cookie` header value.
fn login_cookie(server: &Server, key: &str) -> Result<String, u16> {
    let request = ureq::http::Request::builder()
        .method("POST")
        .uri(format!("http://{}/login", server.address))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(format!("key={key}").into_bytes())
        .unwrap();
    let response = plain_agent().run(request).unwrap();
    if response.status().as_u16() != 303 {
        return Err(response.status().as_u16());
    }
    let set_cookie = response.headers()["set-cookie"].to_str().unwrap().to_string();
    for flag in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(set_cookie.contains(flag), "{set_cookie}");
    }
    assert!(!set_cookie.contains("Secure"), "plain HTTP from no trusted proxy: {set_cookie}");
    Ok(set_cookie.split(';').next().unwrap().to_string())
}

/// The console's HTTP contract, without a browser: headers, login, CSRF, the event stream.
#[test]
fn the_console_over_plain_http() {
    let server = start_server();
    let get = |path: &str, cookie: Option<&str>| {
        let mut request = ureq::http::Request::builder().uri(format!("http://{}{path}", server.address));
        if let Some(cookie) = cookie {
            request = request.header("Cookie", cookie);
        }
        plain_agent().run(request.body(()).unwrap()).unwrap()
    };

    // Without a session: to the login page.
    let response = get("/people", None);
    assert_eq!(response.status().as_u16(), 303);
    assert_eq!(response.headers()["location"], "/login");

    // Every page carries the security headers.
    let mut login_page = get("/login", None);
    assert_eq!(login_page.status().as_u16(), 200);
    let headers = login_page.headers().clone();
    let csp = headers["content-security-policy"].to_str().unwrap();
    for directive in [
        "default-src 'self'",
        "script-src 'self'",
        "object-src 'none'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    ] {
        assert!(csp.contains(directive), "{csp}");
    }
    assert!(!csp.contains("unsafe"), "{csp}");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["referrer-policy"], "no-referrer");
    assert_eq!(headers["cache-control"], "no-store");
    let html = login_page.body_mut().read_to_string().unwrap();
    assert!(!html.contains("<script>") && !html.contains(" style="), "no inline code or style");

    // Assets: content-hashed paths, cached for a year; unknown names are 404.
    let css = html.split("href=\"").nth(1).unwrap().split('"').next().unwrap().to_string();
    assert!(css.starts_with("/assets/console.") && css.ends_with(".css"), "{css}");
    let asset = get(&css, None);
    assert_eq!(asset.status().as_u16(), 200);
    assert!(asset.headers()["cache-control"].to_str().unwrap().contains("immutable"));
    assert_eq!(get("/assets/console.000000000000.css", None).status().as_u16(), 404);

    // Only admin keys log in.
    assert_eq!(login_cookie(&server, "fck_1_wrong"), Err(401));
    assert_eq!(login_cookie(&server, &server.camera), Err(403));
    let cookie = login_cookie(&server, &server.admin).unwrap();
    assert_eq!(get("/people", Some(&cookie)).status().as_u16(), 200);

    // /v1 ignores the cookie.
    assert_eq!(get("/v1/people", Some(&cookie)).status().as_u16(), 401);

    // A cross-site POST is refused before anything happens.
    assert_eq!(cross_site_post(&server, "/keys", &cookie, "name=evil&role=admin"), 403);
    assert!(!get("/keys", Some(&cookie)).body_mut().read_to_string().unwrap().contains("evil"));

    // The live stream over the API: a decision recorded after it opens arrives.
    let request = ureq::http::Request::builder()
        .uri(format!("http://{}/v1/events/stream", server.address))
        .header("Authorization", format!("Bearer {}", server.admin))
        .body(())
        .unwrap();
    let mut stream = plain_agent().run(request).unwrap();
    assert_eq!(stream.headers()["content-type"], "text/event-stream");
    let decided = access(&server, "5", "no_face.png");
    let reader = BufReader::new(stream.body_mut().as_reader());
    let data = reader
        .lines()
        .map(Result::unwrap)
        .find(|line| line.starts_with("data:"))
        .expect("a decision on the stream");
    let event: Value = serde_json::from_str(data.trim_start_matches("data:").trim()).unwrap();
    assert_eq!(event["id"], decided["event_id"]);
    assert_eq!(event["reason"], decided["reason"]);
    assert_eq!(event["zone"], "5");

    // Camera keys may not read it.
    let request = ureq::http::Request::builder()
        .uri(format!("http://{}/v1/events/stream", server.address))
        .header("Authorization", format!("Bearer {}", server.camera))
        .body(())
        .unwrap();
    assert_eq!(plain_agent().run(request).unwrap().status().as_u16(), 403);
}

/// A same-site form POST with the operator's session: the status and where it redirects.
fn post_form(server: &Server, path: &str, cookie: &str, body: &str) -> (u16, Option<String>) {
    let request = ureq::http::Request::builder()
        .method("POST")
        .uri(format!("http://{}{path}", server.address))
        .header("Cookie", cookie)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(body.as_bytes().to_vec())
        .unwrap();
    let response = plain_agent().run(request).unwrap();
    let location = response.headers().get("location").map(|v| v.to_str().unwrap().to_string());
    (response.status().as_u16(), location)
}

/// Probe crops through the console: the zone keeps them, the crop is served
/// only with a session and never cached, and a probe added as a sample of a
/// person lets that person in next time.
#[test]
fn probe_crops_in_the_console() {
    let server = start_server();
    let cookie = login_cookie(&server, &server.admin).unwrap();
    let get = |path: &str, cookie: Option<&str>| {
        let mut request = ureq::http::Request::builder().uri(format!("http://{}{path}", server.address));
        if let Some(cookie) = cookie {
            request = request.header("Cookie", cookie);
        }
        plain_agent().run(request.body(()).unwrap()).unwrap()
    };

    // The zone keeps crops for a day (the Zones page's form).
    assert_eq!(post_form(&server, "/zones", &cookie, "name=lobby&probe_crops_retention_s=86400").0, 303);
    let zones = get("/zones", Some(&cookie)).body_mut().read_to_string().unwrap();
    assert!(zones.contains(r#"<option value="86400" selected>kept 1 day</option>"#), "{zones}");
    assert_eq!(post_form(&server, "/zones", &cookie, "name=lobby&probe_crops_retention_s=soon").0, 400);

    // Nobody is enrolled: the stranger is denied, and their face is kept.
    let denied = access(&server, "lobby", "obama2.jpg");
    assert_eq!(denied["allowed"], false);
    let event = denied["event_id"].as_i64().unwrap();
    let crop_path = format!("/events/{event}/crop");

    // The crop needs a session, and is never cached.
    let anonymous = get(&crop_path, None);
    assert_eq!(anonymous.status().as_u16(), 303);
    assert_eq!(anonymous.headers()["location"], "/login");
    let mut crop = get(&crop_path, Some(&cookie));
    assert_eq!(crop.status().as_u16(), 200);
    assert_eq!(crop.headers()["content-type"], "image/jpeg");
    assert_eq!(crop.headers()["cache-control"], "no-store");
    let jpeg = crop.body_mut().read_to_vec().unwrap();
    assert!(jpeg.starts_with(&[0xff, 0xd8]), "a JPEG");
    assert_eq!(image::load_from_memory(&jpeg).unwrap().width(), 160);
    assert_eq!(get("/events/999999/crop", Some(&cookie)).status().as_u16(), 404);
    assert_eq!(get("/events/x/crop", Some(&cookie)).status().as_u16(), 400);

    // Live and Events show it, with the form that enrols it.
    for page in ["/live", "/events"] {
        let html = get(page, Some(&cookie)).body_mut().read_to_string().unwrap();
        assert!(html.contains(&format!(r#"src="{crop_path}""#)), "{page}");
        assert!(html.contains(&format!(r#"action="/events/{event}/enrol""#)), "{page}");
    }

    // Adding it as a sample: refused cross-site, refused without a name, then done.
    let enrol_path = format!("/events/{event}/enrol");
    assert_eq!(cross_site_post(&server, &enrol_path, &cookie, "name=Obama"), 403);
    assert_eq!(post_form(&server, &enrol_path, &cookie, "name=+").0, 422);
    assert_eq!(post_form(&server, &enrol_path, &cookie, "name=%1B%5B31m").0, 422);
    let (status, location) = post_form(&server, &enrol_path, &cookie, "name=Obama");
    assert_eq!((status, location.as_deref()), (303, Some("/people/Obama?enrolled=1")));
    // The new sample shows its face on his page: to an operator, uncached, under his name only.
    let page = get("/people/Obama", Some(&cookie)).body_mut().read_to_string().unwrap();
    let thumbnail_path = page
        .split('"')
        .find(|part| part.starts_with("/people/Obama/samples/") && part.ends_with("/thumbnail"))
        .expect("the sample's face on the person's page")
        .to_string();
    assert_eq!(get(&thumbnail_path, None).status().as_u16(), 303);
    let mut thumbnail = get(&thumbnail_path, Some(&cookie));
    assert_eq!(thumbnail.status().as_u16(), 200);
    assert_eq!(thumbnail.headers()["content-type"], "image/jpeg");
    assert_eq!(thumbnail.headers()["cache-control"], "no-store");
    assert_eq!(image::load_from_memory(&thumbnail.body_mut().read_to_vec().unwrap()).unwrap().width(), 160);
    let under_another_name = thumbnail_path.replace("/people/Obama/", "/people/Biden/");
    assert_eq!(get(&under_another_name, Some(&cookie)).status().as_u16(), 404);
    assert_eq!(get("/people/Obama/samples/x/thumbnail", Some(&cookie)).status().as_u16(), 400);
    // The same probe twice is one sample.
    assert_eq!(post_form(&server, &enrol_path, &cookie, "name=Obama").0, 422);

    // With a grant, another photo of him opens the door.
    assert_eq!(post_form(&server, "/zones/grants", &cookie, "person=Obama&zone=lobby").0, 303);
    let allowed = access(&server, "lobby", "obama.jpg");
    assert_eq!(allowed["allowed"], true, "{allowed}");
    assert_eq!(allowed["person"], "Obama");

    // Turning crops off deletes them.
    assert_eq!(post_form(&server, "/zones", &cookie, "name=lobby&probe_crops_retention_s=").0, 303);
    assert_eq!(get(&crop_path, Some(&cookie)).status().as_u16(), 404);
    assert_eq!(post_form(&server, &enrol_path, &cookie, "name=Obama").0, 404);
}

/// A 4 s WebM (which every Chromium plays): Obama (obama2.jpg) for 2 s,
/// then a cut to Biden, each photo padded onto a 640×480 frame.
fn two_people_clip(tools: &Tools, dir: &Path) -> PathBuf {
    let clip = dir.join("lobby.webm");
    let fit =
        "scale=640:480:force_original_aspect_ratio=decrease,pad=640:480:(ow-iw)/2:(oh-ih)/2,setsar=1,fps=10";
    let status = Command::new(&tools.ffmpeg)
        .args(["-v", "error", "-y", "-loop", "1", "-t", "2", "-i"])
        .arg(data("obama2.jpg"))
        .args(["-loop", "1", "-t", "2", "-i"])
        .arg(data("biden.jpg"))
        .arg("-filter_complex")
        .arg(format!("[0]{fit}[a];[1]{fit}[b];[a][b]concat=n=2:v=1[v]"))
        .args(["-map", "[v]", "-c:v", "libvpx", "-deadline", "realtime", "-b:v", "1M"])
        .arg(&clip)
        .status()
        .expect("ffmpeg runs");
    assert!(status.success(), "ffmpeg could not make {}", clip.display());
    clip
}

/// What `facecmp index` does, through the libraries, into the server's
/// gallery: Obama enrolled, then the clip and `bald_guys.jpg` (24 faces of
/// four people nobody enrolled) indexed. Returns the clip's source id and
/// its two appearances, Obama's and Biden's.
fn index_footage(server: &Server, clip: &Path) -> (i64, Appearance, Appearance) {
    let pipeline = Pipeline::load(Config::default()).unwrap();
    let gallery = Gallery::open(server.dir.path().join("gallery.db"), pipeline.embedder()).unwrap();
    let photo = std::fs::read(data("obama.jpg")).unwrap();
    let sample = prepare_sample(&pipeline, "obama.jpg", &photo, &EnrolPolicy::default()).unwrap().unwrap();
    gallery.enrol("Obama", None, &sample, None).unwrap().unwrap();
    let file_source = |path: &Path| {
        let name = path.display().to_string();
        let sha256 = Some(facecmp::digest::sha256_file(path).unwrap());
        gallery.upsert_source(&NewSource { kind: SourceKind::File, name, sha256, retention_s: None }).unwrap()
    };
    let writer = |source| AppearanceWriter {
        pipeline: &pipeline,
        gallery: &gallery,
        threshold: 0.3642,
        source,
        live: false,
    };

    let clip_writer = writer(file_source(clip));
    let read = ReadOptions { sample_fps: 5.0, ..ReadOptions::default() };
    let mut stream = FrameStream::open(&VideoSource::parse(&clip.display().to_string()), &read).unwrap();
    let commit = |batch: IndexBatch| clip_writer.write(&batch).map(drop).map_err(|e| e.to_string());
    index_source(&pipeline, &mut stream, &IndexConfig::default(), commit, |_, _| {}, || true).unwrap();

    let group = data("bald_guys.jpg");
    let batch = photo_appearances(&pipeline, &pipeline.open(&group).unwrap()).unwrap();
    writer(file_source(&group)).write(&batch).unwrap();

    let in_clip = AppearanceQuery {
        filter: AppearanceFilter { source: Some(clip_writer.source.id), ..AppearanceFilter::default() },
        ..AppearanceQuery::default()
    };
    let appearances = gallery.appearances(&in_clip).unwrap();
    assert_eq!(appearances.len(), 2, "Obama, then Biden: {appearances:?}");
    assert!(appearances[0].person.is_some() && appearances[1].person.is_none(), "{appearances:?}");
    (clip_writer.source.id, appearances[0].clone(), appearances[1].clone())
}

/// How many rows `css` matches.
async fn count(console: &Console<'_>, css: &str) -> usize {
    console.browser.find_all(Locator::Css(css)).await.unwrap().len()
}

/// Waits until every image `css` matches has loaded (its natural width is
/// not 0), and returns how many there are.
async fn loaded_images(console: &Console<'_>, css: &str) -> usize {
    let start = Instant::now();
    loop {
        let widths: Value = console
            .browser
            .execute(
                "return Array.from(document.querySelectorAll(arguments[0]), i => i.complete ? i.naturalWidth : 0);",
                vec![json!(css)],
            )
            .await
            .unwrap();
        let widths: Vec<u64> = serde_json::from_value(widths).unwrap();
        if !widths.is_empty() && widths.iter().all(|&w| w > 0) {
            return widths.len();
        }
        assert!(start.elapsed() < Duration::from_secs(5), "images {css}: widths {widths:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[test]
fn find_and_clusters_in_a_real_browser() {
    let Some(tools) = tools() else {
        let message = "the console's browser test needs chromium, chromium-driver and ffmpeg";
        assert!(std::env::var_os("CI").is_none(), "{message}: missing under CI");
        eprintln!("SKIPPED: {message}");
        return;
    };
    let server = start_server();
    let dir = tempfile::tempdir().unwrap();
    let clip = two_people_clip(&tools, dir.path());
    let (clip_source, obama, biden) = index_footage(&server, &clip);
    let camera = fake_camera_video(&tools, dir.path());
    let (_driver, driver_url) = start_chromedriver(&tools);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let browser = open_browser(&tools, &driver_url, &camera).await;
        let screenshots = std::env::var_os("FACECMP_SCREENSHOTS")
            .map(|dir| Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").join(dir));
        let console = Console { browser: &browser, server: &server, screenshots };
        find_flows(&console, clip_source, &obama, &biden).await;
        clusters_flows(&console, &biden).await;
        let _ = browser.close().await;
    });

    // The recording is served to a session only, in byte ranges (seeking).
    let path = format!("/sources/{clip_source}/file");
    let anonymous = plain_agent().get(&format!("http://{}{path}", server.address)).call().unwrap();
    assert!(anonymous.status().is_redirection(), "no session: {}", anonymous.status());
    let cookie = login_cookie(&server, &server.admin).unwrap();
    let ranged = plain_agent()
        .get(&format!("http://{}{path}", server.address))
        .header("Cookie", &cookie)
        .header("Range", "bytes=0-99")
        .call()
        .unwrap();
    assert_eq!(ranged.status().as_u16(), 206);
    assert_eq!(ranged.headers()["content-type"], "video/webm");
    assert_eq!(ranged.headers()["content-length"], "100");
    let camera_key = plain_agent()
        .get(&format!("http://{}{path}", server.address))
        .header("Authorization", format!("Bearer {}", server.camera))
        .call()
        .unwrap();
    assert!(camera_key.status().is_redirection(), "a camera key is no session: {}", camera_key.status());
}

async fn find_flows(console: &Console<'_>, clip_source: i64, obama: &Appearance, biden: &Appearance) {
    console.login(&console.server.admin).await;
    console.wait_for_path("/live").await;

    // By name: Obama's appearance in the clip, with its face and times, and nothing of the strangers.
    console.visit("/find").await;
    console
        .browser
        .find(Locator::Css("#find-person-name"))
        .await
        .unwrap()
        .select_by_value("Obama")
        .await
        .unwrap();
    console.click("#find-person button[type=submit]").await;
    let heading =
        console.wait_for_text("#find-results h2", "appearance(s) of Obama", Duration::from_secs(10)).await;
    assert!(heading.starts_with("1 "), "{heading}");
    let row = console.text("#find-results tr.appearance").await;
    assert!(row.contains("lobby.webm") && row.contains("0:00."), "{row}");
    assert_eq!(loaded_images(console, "#find-results img.face").await, 1);
    console.assert_no_csp_violation("/find?person=Obama").await;
    console.screenshot("find").await;

    // Play: the recording starts at the appearance, in the browser.
    console.click("#find-results tr.appearance a").await;
    console.wait_for_text("main", "lobby.webm", Duration::from_secs(5)).await;
    let start = Instant::now();
    loop {
        let state: Value = console
            .browser
            .execute("const v = document.getElementById('play-video'); return [v.readyState, v.error && v.error.code];", vec![])
            .await
            .unwrap();
        assert_eq!(state[1], Value::Null, "the video failed to load");
        if state[0].as_u64().unwrap() >= 1 {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(10), "the video never loaded");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let src: Value =
        console.browser.execute("return document.getElementById('play-video').src;", vec![]).await.unwrap();
    let seconds = |ms: i64| ms as f64 / 1000.0;
    let fragment = format!("#t={:.1},{:.1}", seconds(obama.media_start_ms), seconds(obama.media_end_ms));
    assert!(src.as_str().unwrap().ends_with(&format!("/sources/{clip_source}/file{fragment}")), "{src}");
    console.assert_no_csp_violation("the play page").await;

    // By photo: Biden's face finds his appearance (he is enrolled nowhere).
    find_by_photo(console, "biden.jpg").await;
    console.wait_for_text("#find-results h2", "of the face in the photo", Duration::from_secs(20)).await;
    let found = console.text(&format!("#find-results tr[data-appearance=\"{}\"]", biden.id)).await;
    assert!(found.contains("0:02."), "{found}");
    // A photo without a face is refused, with the reason.
    find_by_photo(console, "no_face.png").await;
    console.wait_for_text("#find-error", "no face", Duration::from_secs(20)).await;
}

/// Uploads `photo` on the Find page and submits it.
async fn find_by_photo(console: &Console<'_>, photo: &str) {
    console.visit("/find").await;
    let field = console.browser.find(Locator::Css("#find-photo-file")).await.unwrap();
    field.send_keys(data(photo).to_str().unwrap()).await.unwrap();
    console.click("#find-photo button[type=submit]").await;
}

async fn clusters_flows(console: &Console<'_>, biden: &Appearance) {
    console.visit("/clusters").await;
    assert!(console.text("#cluster-list").await.contains("No clusters yet"));
    console.click("#clusters-group").await;
    // Biden and the 24 faces of bald_guys.jpg; Obama is enrolled.
    console
        .wait_for_text("#clusters-notice", "25 new unknown appearance(s) grouped", Duration::from_secs(30))
        .await;
    let clusters = count(console, "#cluster-list tr.cluster").await;
    assert!(clusters >= 5, "Biden and the four bald actors: {clusters} clusters");
    assert!(loaded_images(console, "#cluster-list img.face").await >= clusters);
    console.assert_no_csp_violation("/clusters").await;
    console.screenshot("clusters").await;

    // Which cluster is Biden's, as the store says.
    let gallery_path = console.server.dir.path().join("gallery.db");
    let pipeline = Pipeline::load(Config::default()).unwrap();
    let gallery = Gallery::open(gallery_path, pipeline.embedder()).unwrap();
    let cluster_of = |id: i64| gallery.appearance(id).unwrap().unwrap().cluster.unwrap();
    let biden_cluster = cluster_of(biden.id);

    // Two clusters merged: one row fewer, the sum of their appearances.
    let rows: Vec<(i64, usize)> = gallery
        .cluster_summaries()
        .unwrap()
        .iter()
        .filter(|s| s.cluster.id != biden_cluster)
        .map(|s| (s.cluster.id, s.cluster.appearances))
        .collect();
    let ((into, a), (from, b)) = (rows[0], rows[1]);
    console
        .browser
        .find(Locator::Css(&format!("#merge-{from}")))
        .await
        .unwrap()
        .select_by_value(&into.to_string())
        .await
        .unwrap();
    console.click(&format!("#cluster-{from} .merge-cluster button")).await;
    console.wait_for_text("#clusters-notice", "Merged", Duration::from_secs(10)).await;
    assert_eq!(count(console, "#cluster-list tr.cluster").await, clusters - 1);
    let merged: Value = console
        .browser
        .execute(&format!("return document.getElementById('cluster-{into}').dataset.appearances;"), vec![])
        .await
        .unwrap();
    assert_eq!(merged, json!((a + b).to_string()));

    // Not a face: marked, and it says so.
    console.click(&format!("#cluster-{into} button.not-a-face")).await;
    console.wait_for_text(&format!("#cluster-{into}"), "not a face", Duration::from_secs(10)).await;

    // Named: Biden's best face is enrolled through the review, and he is a person now.
    console.fill(&format!("#name-{biden_cluster}"), "Biden").await;
    console.click(&format!("#cluster-{biden_cluster} .name-cluster button")).await;
    console.wait_for_path("/people/Biden").await;
    console.wait_for_text("main", "Enrolled", Duration::from_secs(10)).await;
    console.visit("/clusters").await;
    assert!(console.text(&format!("#cluster-{biden_cluster}")).await.contains("Biden"));
}
