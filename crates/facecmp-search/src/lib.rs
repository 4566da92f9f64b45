//! In-memory 1:N search over face embeddings.
//!
//! [`SearchIndex`] holds every enrolled sample's embedding in one contiguous row-major matrix and answers
//! "which enrolled persons look most like this face?" exactly: it scores the query against every sample
//! (dot product; embeddings are unit length, so this is the cosine similarity), takes each person's best
//! sample as that person's score, and returns the best `k` persons. The scan runs on all cores and reads
//! an `i8` copy of the matrix first, re-scoring from the `f32` rows only those that could still make the
//! result; a proven bound on the copy's error keeps the result identical to a full `f32` scan.
//!
//! The index knows nothing about faces, files or databases: plain `f32` slices go in, gallery ids come out.
//! Samples can be added and removed at any time; a server keeps the index behind an `RwLock`.

#[cfg(feature = "hnsw")]
mod approximate;
mod index;
#[doc(hidden)]
pub mod kernel;
mod quantized;
pub mod synthetic;
mod top_persons;

#[cfg(feature = "hnsw")]
pub use approximate::{ApproximateIndex, ApproximateOptions};
pub use index::SearchIndex;

/// A person's id in the gallery (its database row id).
pub type PersonId = i64;
/// An enrolled sample's id in the gallery (its database row id).
pub type SampleId = i64;

/// One person in a search result: its best-matching sample and that sample's similarity to the query.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PersonMatch {
    pub person: PersonId,
    /// Cosine similarity (dot product of unit vectors) between the query and `sample`.
    pub similarity: f32,
    pub sample: SampleId,
}

#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    #[error("vector has {got} dimensions but the index holds {expected}-dimensional vectors")]
    DimensionMismatch { expected: usize, got: usize },
    /// A value is NaN or infinite, or the vector is so long that its squared length overflows `f32`
    /// (keeping squared lengths finite guarantees every dot product is finite too).
    #[error("vector has a NaN or infinite value, or is too long to score")]
    NotFinite,
    #[error("sample {0} is already in the index")]
    DuplicateSample(SampleId),
    /// The approximate index's graph library failed (allocation) or cannot take this sample id.
    #[error("approximate index: {0}")]
    Approximate(String),
}
