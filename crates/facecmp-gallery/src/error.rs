//! The gallery's error type; every variant says which gallery or which name
//! it concerns. Storage failures carry the backend's message as text, so no
//! database driver's type is part of the public API.

use facecmp_search::SearchError;

#[derive(Debug, thiserror::Error)]
pub enum GalleryError {
    /// The store failed; `detail` is the backend's message (for logs, never
    /// for a client: it may name files or SQL).
    #[error("{path}: {detail}")]
    Database { path: String, detail: String },
    /// The database cannot be reached now (connection lost or refused); the
    /// next call tries again.
    #[error("{path}: the database is unreachable: {detail}")]
    Unavailable { path: String, detail: String },
    #[error("{path}: already exists; it is not overwritten")]
    AlreadyExists { path: String },
    #[error("{path}: no gallery there; create one with `facecmp gallery init {path}`")]
    Missing { path: String },
    #[error("{path}: not a facecmp gallery (no embedder recorded)")]
    NotAGallery { path: String },
    #[error(
        "{path}: written by a newer facecmp (schema version {found}; this one understands up to {supported})"
    )]
    SchemaTooNew { path: String, found: u32, supported: u32 },
    #[error(
        "{path}: the gallery holds embeddings from {gallery}, but this run embeds with {current}; \
         embeddings of different models cannot be compared (use the gallery's model, or enrol everyone \
         again in a new gallery)"
    )]
    EmbedderMismatch { path: String, gallery: String, current: String },
    #[error("{path}: stored embedding of sample {sample} is damaged ({bytes} bytes)")]
    DamagedSample { path: String, sample: i64, bytes: usize },
    #[error("{path}: damaged row: {detail}")]
    Damaged { path: String, detail: String },
    #[error("no person named `{0}`")]
    NoSuchPerson(String),
    #[error("no zone named `{0}`")]
    NoSuchZone(String),
    #[error("no API key with id {0}")]
    NoSuchKey(i64),
    #[error("no source of footage with id {0}")]
    NoSuchSource(i64),
    #[error("no cluster with id {0}")]
    NoSuchCluster(i64),
    #[error("{0}")]
    Invalid(String),
    /// A grant's validity window that contains no instant: it would never
    /// open a door, so it is refused as a mistake.
    #[error("the grant's window is empty: it must start before it ends ({from} ≥ {until})")]
    EmptyWindow { from: i64, until: i64 },
    #[error(transparent)]
    Search(#[from] SearchError),
}

impl GalleryError {
    /// A failure of the storage itself (as opposed to a refused request):
    /// the service answers 503 for an unreachable database.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, GalleryError::Unavailable { .. })
    }
}

/// Identifying a photo fails on the photo (no usable face) or on the gallery.
#[derive(Debug, thiserror::Error)]
pub enum IdentifyError {
    #[error(transparent)]
    Photo(#[from] facecmp::Error),
    #[error(transparent)]
    Gallery(#[from] GalleryError),
}

pub type Result<T, E = GalleryError> = std::result::Result<T, E>;
