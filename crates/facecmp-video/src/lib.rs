//! Faces in video: frames from the `ffmpeg` program, a face tracker, and three
//! uses of them — searching video for people (`search`), indexing it once to
//! be searched later (`index`), and live access control from a camera
//! (`watch`).
//!
//! ```text
//! ffmpeg ─rgb24 pipe─▶ FrameStream (reader thread; live: newest frame only,
//!                      watchdog, reconnect) ─Sampler─▶ Analyser (detect →
//!                      Tracker → embed best faces; a cut ends every track)
//!                        ├─▶ search: one Appearance per track, matched against targets
//!                        ├─▶ index: one IndexedAppearance per track, in resumable batches
//!                        └─▶ watch: one AccessDecision per appearance
//! ```
//!
//! The core `facecmp` crate does the faces; the gallery decides and records
//! access. Nothing here knows about the command line or HTTP.

mod decoder;
pub mod index;
pub mod index_writer;
mod presence;
pub mod sampler;
pub mod scan;
pub mod search;
pub mod sheet;
pub mod source;
pub mod stream;
pub mod tracker;
pub mod watch;

pub use index::{IndexBatch, IndexConfig, IndexedAppearance, IndexedFace, index_source, photo_appearances};
pub use index_writer::{AppearanceWriter, WrittenAppearance};
pub use sampler::Sampler;
pub use scan::{Analyser, Timings};
pub use search::{
    Appearance, GalleryPeople, ReferenceFaces, SearchConfig, SearchError, Targets, search_source,
};
pub use source::{Frame, ReadOptions, SourceKind, VideoError, VideoSource};
pub use stream::{FrameStream, ReaderStats};
pub use tracker::{Detection, Track, Tracker, TrackerConfig, vote};
pub use watch::{WatchConfig, WatchDecision, Watcher};
