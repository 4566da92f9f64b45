//! The console's static files, compiled into the binary and served at
//! content-hashed paths (`/assets/console.3fa2b1c4d5e6.css`) so browsers may
//! cache them for a year: a changed file gets a new name.

use std::sync::LazyLock;

use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

struct Asset {
    name: &'static str,
    content_type: &'static str,
    bytes: &'static [u8],
}

macro_rules! asset {
    ($name:literal, $type:expr, $path:literal) => {
        Asset { name: $name, content_type: $type, bytes: include_bytes!(concat!("../../assets/", $path)) }
    };
}

const JS: &str = "text/javascript; charset=utf-8";

static ASSETS: &[Asset] = &[
    asset!("console.css", "text/css; charset=utf-8", "console.css"),
    // Vendored htmx 2.0.11 (0BSD); its sha256 is in assets/vendor/htmx/SHA256SUMS.
    asset!("htmx.js", JS, "vendor/htmx/htmx.min.js"),
    asset!("csp.js", JS, "csp.js"),
    asset!("live.js", JS, "live.js"),
    asset!("webcam.js", JS, "webcam.js"),
    asset!("compare.js", JS, "compare.js"),
];

/// Each asset's served path, in the order of [`ASSETS`].
static PATHS: LazyLock<Vec<String>> = LazyLock::new(|| ASSETS.iter().map(hashed_path).collect());

fn hashed_path(asset: &Asset) -> String {
    let digest = Sha256::digest(asset.bytes);
    let hash: String = digest.iter().take(6).map(|b| format!("{b:02x}")).collect();
    let (stem, extension) = asset.name.rsplit_once('.').unwrap_or((asset.name, ""));
    format!("/assets/{stem}.{hash}.{extension}")
}

/// The served path of the asset called `name` (e.g. `console.css`).
pub(crate) fn url(name: &str) -> &'static str {
    ASSETS
        .iter()
        .position(|asset| asset.name == name)
        .map(|index| PATHS[index].as_str())
        .unwrap_or("/assets/missing")
}

pub(crate) async fn serve(Path(file): Path<String>) -> Response {
    let wanted = format!("/assets/{file}");
    let Some(index) = PATHS.iter().position(|path| *path == wanted) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let asset = &ASSETS[index];
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(asset.content_type)),
            (header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=31536000, immutable")),
        ],
        asset.bytes,
    )
        .into_response()
}
