//! Logging in to the console, and the session cookie that follows.
//!
//! The operator pastes an **admin** API key once; the server answers with a
//! cookie holding a random 256-bit session id (`HttpOnly; SameSite=Strict;
//! Path=/`, plus `Secure` behind HTTPS). Only the id's SHA-256 is stored, so
//! a copy of the store does not let anyone in. A session ends when unused
//! for the idle timeout, at the absolute timeout, at logout, or as soon as
//! its API key is revoked. Failed logins are limited per client address.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use askama::Template;
use axum::Form;
use axum::extract::{ConnectInfo, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use facecmp_gallery::{Gallery, GalleryError, Role};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::error::{PageError, blocking, render};
use super::{Console, ConsoleConfig, Layout};

const COOKIE: &str = "facecmp_session";

pub use facecmp_gallery::ConsoleSession;

/// Sessions live in the gallery, so every server node shares them and a
/// revoked key ends its sessions everywhere at once.
pub(crate) struct SessionStore {
    gallery: Arc<Gallery>,
}

impl SessionStore {
    pub fn new(gallery: Arc<Gallery>) -> SessionStore {
        SessionStore { gallery }
    }

    pub fn create_session(
        &self,
        key_id: i64,
        token_sha256: &str,
        idle_timeout_s: i64,
        absolute_timeout_s: i64,
    ) -> Result<ConsoleSession, GalleryError> {
        self.gallery.create_session(key_id, token_sha256, idle_timeout_s, absolute_timeout_s)
    }

    /// The live session with this id hash, its idle expiry moved on; `None`
    /// when unknown, expired, or its key was revoked.
    pub fn session(&self, token_sha256: &str) -> Result<Option<ConsoleSession>, GalleryError> {
        self.gallery.session(token_sha256)
    }

    pub fn end_session(&self, token_sha256: &str) -> Result<(), GalleryError> {
        self.gallery.end_session(token_sha256)
    }
}

/// The operator of a request: a handler that takes one only runs with a
/// live session; without one the browser is sent to `/login`.
pub(crate) struct Operator {
    pub key_id: i64,
    pub key_name: String,
}

impl FromRequestParts<Console> for Operator {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, console: &Console) -> Result<Self, Self::Rejection> {
        let token_sha256 = session_cookie(&parts.headers).map(hash).ok_or(PageError::LoginRequired)?;
        let sessions = console.sessions.clone();
        let session = blocking(move || Ok(sessions.session(&token_sha256)?)).await?;
        let session = session.ok_or(PageError::LoginRequired)?;
        Ok(Operator { key_id: session.key_id, key_name: session.key_name })
    }
}

fn session_cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value)
        .filter(|value| !value.is_empty())
}

/// The hash of the request's session id, as the store keys it.
pub(crate) fn session_hash(headers: &HeaderMap) -> Option<String> {
    session_cookie(headers).map(hash)
}

fn hash(token: &str) -> String {
    Sha256::digest(token.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// 256 random bits from the operating system, as hex.
fn new_token() -> Result<String, PageError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|error| PageError::Internal(format!("no randomness: {error}")))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

// ---- the client, as far as it can be trusted ----------------------------

/// Where a request came from: the peer, or, when the peer is a trusted
/// proxy, the address it says it forwarded for.
pub(crate) fn client_address(parts_headers: &HeaderMap, peer: IpAddr, config: &ConsoleConfig) -> IpAddr {
    if !config.trusted_proxies.contains(&peer) {
        return peer;
    }
    parts_headers
        .get("x-forwarded-for")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.rsplit(',').next())
        .and_then(|last| last.trim().parse().ok())
        .unwrap_or(peer)
}

/// Whether the browser reached the console over HTTPS (so the cookie may be
/// marked `Secure`): only a trusted proxy can say so, or the configuration.
fn over_https(headers: &HeaderMap, peer: IpAddr, config: &ConsoleConfig) -> bool {
    config.secure_cookies
        || (config.trusted_proxies.contains(&peer)
            && headers
                .get("x-forwarded-proto")
                .and_then(|value| value.to_str().ok())
                .is_some_and(|proto| proto.trim().eq_ignore_ascii_case("https")))
}

/// The address of the connection's other end (`0.0.0.0` when the server
/// was not started with connection info).
pub(crate) struct Peer(pub IpAddr);

impl<S: Send + Sync> FromRequestParts<S> for Peer {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let connect = parts.extensions.get::<ConnectInfo<SocketAddr>>();
        Ok(Peer(connect.map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |ConnectInfo(address)| address.ip())))
    }
}

/// At most [`LoginLimiter::MAX_FAILURES`] failed logins per client address
/// in [`LoginLimiter::WINDOW`]; then that address waits for the window to pass.
#[derive(Default)]
pub(crate) struct LoginLimiter {
    failures: Mutex<HashMap<IpAddr, (u32, Instant)>>,
}

impl LoginLimiter {
    const MAX_FAILURES: u32 = 10;
    const WINDOW: Duration = Duration::from_secs(15 * 60);

    /// `Some(seconds to wait)` when the address may not try now.
    fn blocked(&self, client: IpAddr) -> Option<u64> {
        let failures = self.failures.lock().expect("login limiter lock");
        let (count, since) = failures.get(&client)?;
        let elapsed = since.elapsed();
        (*count >= Self::MAX_FAILURES && elapsed < Self::WINDOW)
            .then(|| (Self::WINDOW - elapsed).as_secs().max(1))
    }

    fn failed(&self, client: IpAddr) {
        let mut failures = self.failures.lock().expect("login limiter lock");
        if failures.len() > 10_000 {
            failures.retain(|_, (_, since)| since.elapsed() < Self::WINDOW);
        }
        let entry = failures.entry(client).or_insert((0, Instant::now()));
        if entry.1.elapsed() >= Self::WINDOW {
            *entry = (0, Instant::now());
        }
        entry.0 += 1;
    }

    fn succeeded(&self, client: IpAddr) {
        self.failures.lock().expect("login limiter lock").remove(&client);
    }
}

// ---- the pages ------------------------------------------------------------

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    layout: Layout,
    message: Option<String>,
}

pub(crate) async fn login_page() -> Result<Response, PageError> {
    render(StatusCode::OK, &LoginPage { layout: Layout::new("Log in", None, "login"), message: None })
}

#[derive(Deserialize)]
pub(crate) struct LoginForm {
    key: String,
}

pub(crate) async fn login(
    State(console): State<Console>,
    Peer(peer): Peer,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Result<Response, PageError> {
    let client = client_address(&headers, peer, &console.config);
    let refuse = |status: StatusCode, message: String| {
        let layout = Layout::new("Log in", None, "login");
        render(status, &LoginPage { layout, message: Some(message) })
    };
    if let Some(wait) = console.logins.blocked(client) {
        return refuse(
            StatusCode::TOO_MANY_REQUESTS,
            format!("Too many failed logins from this address; try again in {} minutes.", wait.div_ceil(60)),
        );
    }
    let gallery = console.app.gallery.clone();
    let key_text = form.key.trim().to_string();
    let key = blocking(move || Ok(gallery.authenticate(&key_text)?)).await?;
    let key = match key {
        Some(key) if key.role == Role::Admin => key,
        Some(_) => {
            console.logins.failed(client);
            let message =
                "That is a camera key: cameras may ask for decisions, but the console needs an admin key.";
            return refuse(StatusCode::FORBIDDEN, message.into());
        }
        None => {
            console.logins.failed(client);
            return refuse(StatusCode::UNAUTHORIZED, "That key is not valid (unknown or revoked).".into());
        }
    };
    console.logins.succeeded(client);
    let token = new_token()?;
    let (sessions, config) = (console.sessions.clone(), console.config.clone());
    let token_sha256 = hash(&token);
    blocking(move || {
        Ok(sessions.create_session(
            key.id,
            &token_sha256,
            config.idle_timeout_s,
            config.absolute_timeout_s,
        )?)
    })
    .await?;
    let secure = if over_https(&headers, peer, &console.config) { "; Secure" } else { "" };
    let cookie = format!("{COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/{secure}");
    Ok(with_cookie(Redirect::to("/live"), &cookie))
}

pub(crate) async fn logout(
    State(console): State<Console>,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    if let Some(token_sha256) = session_cookie(&headers).map(hash) {
        let sessions = console.sessions.clone();
        blocking(move || Ok(sessions.end_session(&token_sha256)?)).await?;
    }
    let expired = format!("{COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0");
    Ok(with_cookie(Redirect::to("/login"), &expired))
}

fn with_cookie(redirect: Redirect, cookie: &str) -> Response {
    let mut response = redirect.into_response();
    if let Ok(value) = HeaderValue::from_str(cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_session_cookie_is_found_among_others() {
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, HeaderValue::from_static("a=1; facecmp_session=abc ; b=2"));
        assert_eq!(session_cookie(&headers), Some("abc"));
        headers.insert(header::COOKIE, HeaderValue::from_static("facecmp_session="));
        assert_eq!(session_cookie(&headers), None);
    }

    #[test]
    fn only_a_trusted_proxy_names_the_client_or_https() {
        let proxy: IpAddr = "10.0.0.1".parse().unwrap();
        let config = ConsoleConfig { trusted_proxies: vec![proxy], ..ConsoleConfig::default() };
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", HeaderValue::from_static("1.2.3.4, 192.168.1.9"));
        headers.insert("x-forwarded-proto", HeaderValue::from_static("https"));
        let stranger: IpAddr = "10.0.0.2".parse().unwrap();
        assert_eq!(client_address(&headers, proxy, &config), "192.168.1.9".parse::<IpAddr>().unwrap());
        assert_eq!(client_address(&headers, stranger, &config), stranger);
        assert!(over_https(&headers, proxy, &config));
        assert!(!over_https(&headers, stranger, &config));
    }

    #[test]
    fn failed_logins_are_limited_per_address() {
        let limiter = LoginLimiter::default();
        let (a, b): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        for _ in 0..LoginLimiter::MAX_FAILURES {
            assert_eq!(limiter.blocked(a), None);
            limiter.failed(a);
        }
        assert!(limiter.blocked(a).is_some());
        assert_eq!(limiter.blocked(b), None);
    }
}
