//! The admin console: server-rendered pages for the people who run the
//! doors, beside the JSON API.
//!
//! Pages are askama templates (auto-escaping) extending one layout; htmx
//! (vendored, see `assets/vendor/htmx`) boosts links and forms, so every
//! action is also a plain form that works without JavaScript. A few small
//! scripts do what HTML cannot: the live feed, the webcam, drag-and-drop.
//!
//! Security, all in this module:
//! - an operator logs in with an **admin** API key; the browser then holds
//!   only a session cookie (see `session.rs`); the key never reaches a script;
//! - every state-changing request passes a `Sec-Fetch-Site`/`Origin` check
//!   (tower-http's CSRF layer);
//! - a strict Content-Security-Policy: scripts and styles only from this
//!   origin, no inline code, no eval, no framing (`security_headers`).

mod assets;
mod clusters;
mod compare;
mod crops;
mod error;
mod events;
mod footage;
mod keys;
mod live;
mod people;
mod session;
mod stream;
pub(crate) mod times;
mod zones;

use std::net::IpAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderValue, header};
use axum::middleware::{self, Next};
use axum::response::{Redirect, Response};
use axum::routing::{get, post};
use tower_http::csrf::CsrfLayer;

pub use session::ConsoleSession;

use crate::state::AppState;

/// How the console trusts the network in front of it.
#[derive(Debug, Clone)]
pub struct ConsoleConfig {
    /// Reverse proxies whose `X-Forwarded-For` / `X-Forwarded-Proto` are
    /// believed (the client address for the login limit; HTTPS for the
    /// cookie's `Secure` flag). Nobody else's are.
    pub trusted_proxies: Vec<IpAddr>,
    /// Always mark the session cookie `Secure` (the console is only ever
    /// reached over HTTPS).
    pub secure_cookies: bool,
    /// A session unused this long ends.
    pub idle_timeout_s: i64,
    /// A session ends this long after login, used or not.
    pub absolute_timeout_s: i64,
}

impl Default for ConsoleConfig {
    fn default() -> Self {
        ConsoleConfig {
            trusted_proxies: Vec::new(),
            secure_cookies: false,
            idle_timeout_s: 30 * 60,
            absolute_timeout_s: 12 * 60 * 60,
        }
    }
}

impl ConsoleConfig {
    /// The defaults, refined by `FACECMP_TRUSTED_PROXIES` (comma-separated
    /// IP addresses) and `FACECMP_SECURE_COOKIES=1`. Unparsable entries are
    /// reported and ignored: trusting less is the safe side.
    pub fn from_env() -> ConsoleConfig {
        let mut config = ConsoleConfig::default();
        if let Ok(list) = std::env::var("FACECMP_TRUSTED_PROXIES") {
            for entry in list.split(',').map(str::trim).filter(|entry| !entry.is_empty()) {
                match entry.parse() {
                    Ok(address) => config.trusted_proxies.push(address),
                    Err(_) => tracing::warn!(entry, "FACECMP_TRUSTED_PROXIES: not an IP address; ignored"),
                }
            }
        }
        config.secure_cookies = std::env::var("FACECMP_SECURE_COOKIES").is_ok_and(|value| value == "1");
        config
    }
}

/// What the console's handlers share: the service's state plus sessions
/// and the failed-login limit.
#[derive(Clone)]
pub(crate) struct Console {
    pub app: AppState,
    pub config: Arc<ConsoleConfig>,
    pub sessions: Arc<session::SessionStore>,
    pub logins: Arc<session::LoginLimiter>,
}

/// The console's routes, and `GET /v1/events/stream` (bearer-key SSE).
pub fn router(app: AppState, config: ConsoleConfig) -> Router {
    let console = Console {
        sessions: Arc::new(session::SessionStore::new(app.gallery.clone())),
        logins: Arc::new(session::LoginLimiter::default()),
        config: Arc::new(config),
        app,
    };
    let pages = Router::new()
        .route("/", get(|| async { Redirect::to("/live") }))
        .route("/login", get(session::login_page).post(session::login))
        .route("/logout", post(session::logout))
        .route("/live", get(live::page))
        .route("/live/stream", get(live::stream))
        .route("/events", get(events::page))
        .route("/events.csv", get(events::csv))
        .route("/events/{id}/crop", get(crops::image))
        .route("/events/{id}/enrol", post(crops::enrol))
        .route("/people", get(people::list).post(people::enrol))
        .route("/people/{name}", get(people::show))
        .route("/people/{name}/samples/{id}/thumbnail", get(people::thumbnail))
        .route("/people/{name}/samples/{id}/remove", post(people::remove_sample))
        .route("/people/{name}/erase", get(people::confirm_erase).post(people::erase))
        .route("/zones", get(zones::page).post(zones::save_zone))
        .route("/zones/grants", post(zones::grant))
        .route("/zones/grants/revoke", post(zones::revoke))
        .route("/compare", get(compare::page).post(compare::compare))
        .route("/find", get(footage::page).post(footage::by_photo))
        .route("/appearances/{id}/thumbnail", get(footage::thumbnail))
        .route("/appearances/{id}/play", get(footage::play))
        .route("/sources/{id}/file", get(footage::file))
        .route("/clusters", get(clusters::page))
        .route("/clusters/group", post(clusters::group))
        .route("/clusters/{id}/name", post(clusters::name))
        .route("/clusters/{id}/merge", post(clusters::merge))
        .route("/clusters/{id}/not-a-face", post(clusters::not_a_face))
        .route("/keys", get(keys::page).post(keys::create))
        .route("/keys/{id}/revoke", post(keys::revoke))
        .route("/assets/{file}", get(assets::serve))
        .layer(axum::extract::DefaultBodyLimit::max(console.app.max_body_bytes))
        // Cross-site state changes are refused before any handler runs; the
        // security headers go on every answer, refusals included.
        .layer(CsrfLayer::new())
        .layer(middleware::from_fn(security_headers));
    let api = Router::new().route("/v1/events/stream", get(stream::bearer_stream));
    pages.merge(api).with_state(console)
}

/// The Content-Security-Policy of every console response: nothing but this
/// origin's own files; `blob:` images are the photos an operator picked
/// (shown before upload, never sent anywhere else).
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
     img-src 'self' blob:; media-src 'self' blob:; object-src 'none'; frame-ancestors 'none'; \
     base-uri 'none'; form-action 'self'";

/// Headers on every console response. Pages and images are never cached
/// (they show people and keys); the content-hashed assets set their own
/// long cache.
async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CONTENT_SECURITY_POLICY));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.entry(header::CACHE_CONTROL).or_insert(HeaderValue::from_static("no-store"));
    response
}

/// What the layout every page extends needs: the title, who is logged in,
/// which section is current, and where the assets are.
pub(crate) struct Layout {
    pub title: String,
    /// The name of the key the operator logged in with; `None` on the
    /// login and error pages.
    pub operator: Option<String>,
    /// The current section (`live`, `events`...), marked in the navigation.
    pub section: &'static str,
}

impl Layout {
    pub fn new(
        title: impl Into<String>,
        operator: Option<&session::Operator>,
        section: &'static str,
    ) -> Layout {
        Layout { title: title.into(), operator: operator.map(|operator| operator.key_name.clone()), section }
    }

    pub fn asset(&self, name: &str) -> &'static str {
        assets::url(name)
    }

    /// `aria-current="page"` belongs on this section's link.
    pub fn current(&self, section: &str) -> bool {
        self.section == section
    }
}

/// A name as one segment of a URL path (`/people/{name}`): every byte
/// that could end or alter the segment is percent-encoded.
pub(crate) fn path_segment(name: &str) -> String {
    percent_encoding::utf8_percent_encode(name, percent_encoding::NON_ALPHANUMERIC).to_string()
}
