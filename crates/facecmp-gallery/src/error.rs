//! The gallery's error type; every variant says which gallery or which name
//! it concerns.

use facecmp_search::SearchError;

#[derive(Debug, thiserror::Error)]
pub enum GalleryError {
    #[error("{path}: {source}")]
    Database { path: String, source: rusqlite::Error },
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
    #[error("no person named `{0}`")]
    NoSuchPerson(String),
    #[error("no zone named `{0}`")]
    NoSuchZone(String),
    #[error("no API key with id {0}")]
    NoSuchKey(i64),
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Search(#[from] SearchError),
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

/// Attaches the gallery's path to SQLite errors.
pub(crate) trait AtPath<T> {
    fn at(self, path: &str) -> Result<T>;
}

impl<T> AtPath<T> for rusqlite::Result<T> {
    fn at(self, path: &str) -> Result<T> {
        self.map_err(|source| GalleryError::Database { path: path.to_string(), source })
    }
}
