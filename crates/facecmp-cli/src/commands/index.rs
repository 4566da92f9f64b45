//! `facecmp index SOURCE...`: every face seen in footage and photos, kept in
//! the gallery so that `facecmp find` searches all of it without decoding
//! it again.
//!
//! A file is named by the SHA-256 of its content: indexing it again, under
//! any name, finds its row and resumes where the last run stopped (or skips
//! it, when that run finished). A file that grew is other content, and is
//! indexed as a new source.

use std::cell::Cell;
use std::path::{Path, PathBuf};

use facecmp::Pipeline;
use facecmp::image::has_photo_extension;
use facecmp_gallery::{AppearanceFilter, AppearanceQuery, Gallery, NewSource, Source, SourceKind};
use facecmp_video::{AppearanceWriter, FrameStream, IndexBatch, IndexConfig, VideoSource, index_source};
use serde::Serialize;

use crate::args::GlobalArgs;
use crate::commands::access::resolve_threshold;
use crate::commands::search::{print_stats, progress_bar, read_options, update_bar, video_error};
use crate::footage_args::IndexArgs;
use crate::outcome::{CliError, Outcome};
use crate::pipeline::load_pipeline;
use crate::report::print_json;

/// Extensions of the videos a folder's walk indexes (photos are
/// `facecmp::image::PHOTO_EXTENSIONS`); a file given by name is a video
/// unless it is named like a photo.
const VIDEO_EXTENSIONS: [&str; 10] = ["mp4", "mkv", "mov", "avi", "webm", "ts", "m4v", "mpg", "mpeg", "flv"];

/// What one SOURCE argument stands for.
enum Input {
    Video(PathBuf),
    Photo(PathBuf),
    Stream(String),
}

/// One line of `index --json`.
#[derive(Serialize)]
struct IndexedLine<'a> {
    source: &'a str,
    appearance: i64,
    start: f64,
    end: f64,
    track: u64,
    faces: usize,
    person: Option<&'a str>,
}

/// Everything a source's appearances are written with.
struct Indexer<'a> {
    pipeline: &'a Pipeline,
    gallery: &'a Gallery,
    threshold: f32,
    json: bool,
}

pub fn run(global: &GlobalArgs, args: &IndexArgs) -> Result<Outcome, CliError> {
    let pipeline = load_pipeline(global, global.config_for_gallery(Some(&args.db.db)))?;
    let gallery = Gallery::open(&args.db.db, pipeline.embedder())?;
    // Expired appearances go now: `index` may run where no service purges on a timer.
    gallery.purge_expired_appearances()?;
    let threshold = resolve_threshold(&pipeline, &args.threshold)?;
    let indexer = Indexer { pipeline: &pipeline, gallery: &gallery, threshold, json: args.json };
    let retention_s = args.retention.map(|d| d.as_secs() as i64);
    let mut indexed = 0;
    for input in inputs(&args.sources)? {
        indexed += match input {
            Input::Video(path) => indexer.video(&path, args, retention_s)?,
            Input::Photo(path) => indexer.photo(&path, retention_s)?,
            Input::Stream(url) => indexer.stream(&url, args, retention_s)?,
        };
    }
    if !args.json {
        eprintln!("facecmp: {indexed} appearances indexed in {}", gallery.path());
    }
    Ok(Outcome::Yes)
}

/// The SOURCE arguments, folders walked (sorted, so runs are repeatable).
fn inputs(sources: &[String]) -> Result<Vec<Input>, CliError> {
    let mut inputs = Vec::new();
    for text in sources {
        if VideoSource::parse(text).is_live() {
            inputs.push(Input::Stream(text.clone()));
            continue;
        }
        let path = Path::new(text);
        let metadata = std::fs::metadata(path).map_err(|e| CliError::Video(format!("{text}: {e}")))?;
        if metadata.is_dir() {
            walk(path, &mut inputs)?;
        } else if has_photo_extension(path) {
            inputs.push(Input::Photo(path.to_path_buf()));
        } else {
            inputs.push(Input::Video(path.to_path_buf()));
        }
    }
    Ok(inputs)
}

fn walk(dir: &Path, inputs: &mut Vec<Input>) -> Result<(), CliError> {
    let read_error = |e: std::io::Error| CliError::Video(format!("{}: {e}", dir.display()));
    let mut entries: Vec<PathBuf> =
        std::fs::read_dir(dir).map_err(read_error)?.filter_map(|e| e.ok().map(|e| e.path())).collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            walk(&path, inputs)?;
        } else if has_photo_extension(&path) {
            inputs.push(Input::Photo(path));
        } else if has_extension(&path, &VIDEO_EXTENSIONS) {
            inputs.push(Input::Video(path));
        }
    }
    Ok(())
}

fn has_extension(path: &Path, extensions: &[&str]) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| extensions.contains(&e.to_ascii_lowercase().as_str()))
}

impl Indexer<'_> {
    /// A video file, from where an earlier run stopped.
    fn video(&self, path: &Path, args: &IndexArgs, retention_s: Option<i64>) -> Result<usize, CliError> {
        let name = path.display().to_string();
        let Some(source) = self.file_source(path, retention_s)? else { return Ok(0) };
        let resume_at = source.indexed_until_ms as f64 / 1000.0;
        let read = facecmp_video::ReadOptions { start_at: resume_at, ..read_options(&args.video, args.fps) };
        let mut stream = FrameStream::open(&VideoSource::parse(&name), &read).map_err(video_error)?;
        let config = IndexConfig {
            fps: args.fps,
            skip_ended_before: self.stored_until(&source)?,
            ..IndexConfig::default()
        };
        self.run_source(&source, &mut stream, &config, args, false)
    }

    /// A camera or stream, until `--duration` or a stop.
    fn stream(&self, url: &str, args: &IndexArgs, retention_s: Option<i64>) -> Result<usize, CliError> {
        facecmp_server::init_logging();
        let name = args.name.clone().unwrap_or_else(|| facecmp_video::watch::audit_label(url));
        let new = NewSource { kind: SourceKind::Camera, name, sha256: None, retention_s };
        let source = self.gallery.upsert_source(&new)?;
        let mut stream = FrameStream::open(&VideoSource::parse(url), &read_options(&args.video, args.fps))
            .map_err(video_error)?;
        let config = IndexConfig { fps: args.fps, ..IndexConfig::default() };
        self.run_source(&source, &mut stream, &config, args, true)
    }

    fn run_source(
        &self,
        source: &Source,
        stream: &mut FrameStream,
        config: &IndexConfig,
        args: &IndexArgs,
        live: bool,
    ) -> Result<usize, CliError> {
        let bar = progress_bar(&source.name);
        let (last_time, written) = (Cell::new(0.0f64), Cell::new(0usize));
        let timings = index_source(
            self.pipeline,
            stream,
            config,
            |batch| {
                let count = batch.appearances.len();
                self.write(source, batch, live).map_err(|e| e.to_string())?;
                written.set(written.get() + count);
                Ok(())
            },
            |time, duration| {
                last_time.set(time);
                update_bar(&bar, duration, time);
            },
            || args.video.duration.is_none_or(|limit| last_time.get() < limit),
        )
        .map_err(video_error)?;
        bar.finish_and_clear();
        if args.video.stats {
            print_stats(&source.name, &timings, stream.stats());
        }
        Ok(written.get())
    }

    /// One photo: each of its faces an appearance at time 0.
    fn photo(&self, path: &Path, retention_s: Option<i64>) -> Result<usize, CliError> {
        let Some(source) = self.file_source(path, retention_s)? else { return Ok(0) };
        let photo = self.pipeline.open(path)?;
        let batch = facecmp_video::photo_appearances(self.pipeline, &photo)?;
        let count = batch.appearances.len();
        self.write(&source, batch, false)?;
        Ok(count)
    }

    /// A file's source row; `None` (and a note) when it is indexed already.
    fn file_source(&self, path: &Path, retention_s: Option<i64>) -> Result<Option<Source>, CliError> {
        let name = path.display().to_string();
        let sha256 =
            facecmp::digest::sha256_file(path).map_err(|e| CliError::Video(format!("{name}: {e}")))?;
        let new = NewSource { kind: SourceKind::File, name: name.clone(), sha256: Some(sha256), retention_s };
        let source = self.gallery.upsert_source(&new)?;
        if source.complete {
            eprintln!("facecmp: {name}: indexed already (as {})", source.name);
            return Ok(None);
        }
        Ok(Some(source))
    }

    /// The latest end of the appearances a killed run stored after the
    /// point it resumes from: the resumed run skips what ended by then.
    fn stored_until(&self, source: &Source) -> Result<f64, CliError> {
        let filter = AppearanceFilter {
            source: Some(source.id),
            media_from_ms: Some(source.indexed_until_ms),
            include_not_a_face: true,
            ..AppearanceFilter::default()
        };
        let mut latest = f64::NEG_INFINITY;
        let mut after = None;
        loop {
            let query = AppearanceQuery { filter: filter.clone(), after, limit: 1000 };
            let page = self.gallery.appearances(&query)?;
            let Some(last) = page.last() else { return Ok(latest) };
            after = Some(last.id);
            latest = page.iter().map(|a| a.media_end_ms as f64 / 1000.0).fold(latest, f64::max);
        }
    }

    /// Writes one batch, each appearance matched against the enrolled people.
    fn write(&self, source: &Source, batch: IndexBatch, live: bool) -> Result<(), CliError> {
        let writer = AppearanceWriter {
            pipeline: self.pipeline,
            gallery: self.gallery,
            threshold: self.threshold,
            source: source.clone(),
            live,
        };
        let written = writer.write(&batch)?;
        if self.json {
            for (appearance, stored) in batch.appearances.iter().zip(&written) {
                print_json(&IndexedLine {
                    source: &source.name,
                    appearance: stored.id,
                    start: appearance.start,
                    end: appearance.end,
                    track: appearance.track,
                    faces: appearance.faces.len(),
                    person: stored.person.as_deref(),
                })?;
            }
        }
        Ok(())
    }
}
