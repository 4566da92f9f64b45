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
//!
//! ```
//! use facecmp_search::SearchIndex;
//!
//! let mut index = SearchIndex::new(3);
//! index.insert(1, 10, &[1.0, 0.0, 0.0])?; // sample 1 of person 10
//! index.insert(2, 20, &[0.0, 1.0, 0.0])?;
//! index.insert(3, 20, &[0.0, 0.6, 0.8])?;
//! let best = index.search(&[0.0, 0.8, 0.6], 2)?;
//! assert_eq!((best[0].person, best[0].sample), (20, 3)); // person 20's best sample is 3 (0.96)
//! assert_eq!(best[1].person, 10);
//! index.remove_person(20);
//! assert_eq!(index.search_among(&[0.0, 0.8, 0.6], 2, &|person| person != 10)?, vec![]);
//! # Ok::<(), facecmp_search::SearchError>(())
//! ```

#[cfg(feature = "hnsw")]
mod approximate;
mod index;
#[doc(hidden)]
// The AVX2 kernel: intrinsics and raw row pointers, each block with a SAFETY comment.
#[allow(unsafe_code)]
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
