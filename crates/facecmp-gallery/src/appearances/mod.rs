//! Footage indexed once, searched by face (issue #22).
//!
//! Every video track of a source (a file, a camera, a set of photos)
//! becomes an *appearance* in the gallery's store: when it was on screen,
//! its best face's box, score and thumbnail, the embeddings of its best
//! faces, whom it was matched to and which cluster it is in. Finding
//! someone is then a search of those embeddings, not a pass over the video.
//!
//! - `index.rs`: the in-memory appearance index, which follows the store
//!   by its revision (every process sees every other's writes) and ranks
//!   appearances by their best cosine to the query;
//! - `footage.rs`: the [`Gallery`](crate::Gallery) operations on sources,
//!   appearances and clusters (`Gallery::find_appearances` is in
//!   `gallery.rs`, beside `identify`);
//! - this file: the checks every write passes before it reaches the store.
//!
//! What is kept, and for how long: each appearance until its source's
//! retention runs out (from when it was seen, or indexed), until its
//! source is deleted, or until the person it was matched to is erased,
//! whichever comes first — with its vectors and thumbnail.

mod bounds;
mod clock;
mod clusters;
mod footage;
mod index;
mod time_order;

pub use clock::media_clock;
pub use clusters::{ClusterSummary, ClusteringRun, FACES_ENROLLED_PER_CLUSTER};

pub(crate) use index::AppearanceIndex;

use crate::error::{GalleryError, Result};
use crate::model::{AppearanceBatch, NewAppearance, NewSource, SourceKind};
use crate::names::validate_source_name;

/// The most vectors an appearance keeps (its best faces).
pub const MAX_VECTORS: usize = 3;
/// The most appearances one batch may write.
pub const MAX_BATCH: usize = 10_000;
/// The largest thumbnail kept: a small face JPEG is a few KB.
pub const MAX_THUMBNAIL_BYTES: usize = 64 << 10;
/// The shortest retention a source may set.
pub const MIN_RETENTION_S: i64 = 60;
/// The longest: a year. Without a retention, a source keeps its
/// appearances until it is deleted.
pub const MAX_RETENTION_S: i64 = 365 * 86_400;
/// The most query embeddings one search takes (the best faces of a person).
pub const MAX_QUERIES: usize = 32;
/// The most appearances one search returns.
pub const MAX_TOP: usize = 1_000;

/// A source must have a usable name, a file its content digest (and only a
/// file one), and a retention within bounds.
pub(crate) fn check_source(source: &NewSource) -> Result<()> {
    validate_source_name(&source.name)?;
    match (source.kind, &source.sha256) {
        (SourceKind::File, Some(sha256)) if is_sha256_hex(sha256) => {}
        (SourceKind::File, _) => {
            return Err(invalid(
                "a file source is named by the SHA-256 of its content: 64 lowercase hex digits",
            ));
        }
        (_, Some(_)) => return Err(invalid("only a file source has a content digest")),
        (_, None) => {}
    }
    if let Some(retention) = source.retention_s
        && !(MIN_RETENTION_S..=MAX_RETENTION_S).contains(&retention)
    {
        return Err(invalid(format!(
            "a source's retention is {MIN_RETENTION_S} s to {MAX_RETENTION_S} s (365 days), not {retention} s"
        )));
    }
    Ok(())
}

/// Every appearance of a batch must be sound before any is written: 1 to
/// [`MAX_VECTORS`] unit vectors of the gallery's embedder and dimension,
/// ordered times, a finite box and score, a small JPEG thumbnail.
pub(crate) fn check_batch(batch: &AppearanceBatch, embedder_sha256: &str, dimension: usize) -> Result<()> {
    if batch.appearances.len() > MAX_BATCH {
        return Err(invalid(format!(
            "at most {MAX_BATCH} appearances a batch, not {}",
            batch.appearances.len()
        )));
    }
    if batch.indexed_until_ms < 0 || batch.indexed_until_bytes < 0 {
        return Err(invalid("a source's progress is never negative"));
    }
    for (index, appearance) in batch.appearances.iter().enumerate() {
        check_appearance(appearance, embedder_sha256, dimension).map_err(|problem| {
            invalid(format!("appearance {index} of the batch (track {}): {problem}", appearance.track))
        })?;
    }
    Ok(())
}

fn check_appearance(
    appearance: &NewAppearance,
    embedder_sha256: &str,
    dimension: usize,
) -> Result<(), String> {
    if !(1..=MAX_VECTORS).contains(&appearance.vectors.len()) {
        return Err(format!("it has {} vectors; 1 to {MAX_VECTORS} are kept", appearance.vectors.len()));
    }
    for vector in &appearance.vectors {
        if vector.embedder_sha256 != embedder_sha256 {
            return Err(format!(
                "a vector comes from embedder {}…, but the gallery is pinned to {}…",
                prefix(&vector.embedder_sha256),
                prefix(embedder_sha256)
            ));
        }
        if vector.vector.len() != dimension {
            return Err(format!(
                "a vector has {} values, the gallery's have {dimension}",
                vector.vector.len()
            ));
        }
        let length = vector.vector.iter().map(|v| v * v).sum::<f32>().sqrt();
        if !length.is_finite() || (length - 1.0).abs() > 1e-3 {
            return Err(format!("a vector is not unit length ({length}): embeddings are L2-normalised"));
        }
    }
    if appearance.media_start_ms < 0 || appearance.media_start_ms > appearance.media_end_ms {
        return Err("its media times are not 0 ≤ start ≤ end".into());
    }
    match (appearance.wall_start_ms, appearance.wall_end_ms) {
        (None, None) => {}
        (Some(start), Some(end)) if start <= end => {}
        _ => return Err("its wall-clock times must be both given, start ≤ end, or neither".into()),
    }
    let face = appearance.face;
    if ![face.x, face.y, face.w, face.h].iter().all(|v| v.is_finite()) || face.w < 0.0 || face.h < 0.0 {
        return Err("its face box is not finite and non-negative".into());
    }
    if !(0.0..=1.0).contains(&appearance.detector_score) {
        return Err(format!("its detector score {} is not within 0 to 1", appearance.detector_score));
    }
    if let Some(jpeg) = &appearance.thumbnail_jpeg
        && (!jpeg.starts_with(&[0xff, 0xd8, 0xff]) || jpeg.len() > MAX_THUMBNAIL_BYTES)
    {
        return Err(format!("its thumbnail is not a JPEG of at most {MAX_THUMBNAIL_BYTES} bytes"));
    }
    Ok(())
}

fn is_sha256_hex(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// The start of a digest for a message, escaped (it may come from a client).
fn prefix(sha256: &str) -> String {
    format!("{:?}", sha256.chars().take(12).collect::<String>())
}

fn invalid(message: impl Into<String>) -> GalleryError {
    GalleryError::Invalid(message.into())
}
