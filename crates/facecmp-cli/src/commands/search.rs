//! `facecmp search SOURCE... --face IMG | --person NAME | --gallery`: when
//! does each target appear?

use std::cell::Cell;
use std::io::IsTerminal;
use std::path::Path;
use std::time::Duration;

use facecmp::{FaceChoice, Pipeline};
use facecmp_gallery::{Gallery, GalleryLocation};
use facecmp_video::{
    Appearance, FrameStream, GalleryPeople, ReadOptions, ReferenceFaces, SearchConfig, Targets, Timings,
    TrackerConfig, VideoSource, search_source,
};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::args::{GlobalArgs, SearchArgs, VideoArgs};
use crate::commands::access::resolve_threshold;
use crate::outcome::{CliError, Outcome};
use crate::pipeline::load_pipeline;
use crate::report::print_json;

/// The font of the contact sheet's captions: the one the evaluation plots embed.
pub const CONTACT_SHEET_FONT: &[u8] = facecmp_eval::plots::FONT;

pub fn run(global: &GlobalArgs, args: &SearchArgs) -> Result<Outcome, CliError> {
    // Only a gallery search opens the gallery, and only then is its embedder the default.
    let db = args.faces.is_empty().then(|| args.db.as_ref().map(GalleryLocation::from)).flatten();
    let pipeline = load_pipeline(global, global.config_for_gallery(db.as_ref()))?;
    let threshold = resolve_threshold(&pipeline, &args.threshold)?;
    let gallery = open_gallery(&pipeline, args)?;
    let targets = targets(&pipeline, gallery.as_ref(), args)?;
    let config = SearchConfig { fps: args.fps, threshold, tracker: TrackerConfig::default() };
    let read = read_options(&args.video, args.fps);
    let mut found: Vec<Appearance> = Vec::new();
    for name in &args.sources {
        let source = VideoSource::parse(name);
        if source.is_live() {
            // Reconnects are logged.
            facecmp_server::init_logging();
        }
        let mut stream = FrameStream::open(&source, &read).map_err(video_error)?;
        let bar = progress_bar(name);
        let last_time = Cell::new(0.0f64);
        let (appearances, timings) = search_source(
            &pipeline,
            &mut stream,
            targets.as_ref(),
            &config,
            |time, duration| {
                last_time.set(time);
                update_bar(&bar, duration, time);
            },
            || args.video.duration.is_none_or(|limit| last_time.get() < limit),
        )
        .map_err(video_error)?;
        bar.finish_and_clear();
        if args.video.stats {
            print_stats(name, &timings, stream.stats());
        }
        for appearance in &appearances {
            if args.json {
                print_json(appearance)?;
            } else {
                print_appearance(appearance);
            }
        }
        found.extend(appearances);
    }
    if let Some(dir) = &args.snapshots {
        save_snapshots(dir, &found)?;
    }
    if let Some(path) = &args.contact_sheet {
        let sheet =
            facecmp_video::sheet::contact_sheet(&found, CONTACT_SHEET_FONT).map_err(CliError::Video)?;
        sheet.save(path).map_err(|e| CliError::write(path, e))?;
    }
    Ok(if found.is_empty() { Outcome::No } else { Outcome::Yes })
}

fn open_gallery(pipeline: &Pipeline, args: &SearchArgs) -> Result<Option<Gallery>, CliError> {
    if args.faces.is_empty() {
        let db = args.db.as_ref().ok_or_else(|| {
            CliError::Video("--person and --gallery search a gallery: name it with --db or FACECMP_DB".into())
        })?;
        return Ok(Some(Gallery::open(db, pipeline.embedder())?));
    }
    Ok(None)
}

fn targets<'g>(
    pipeline: &Pipeline,
    gallery: Option<&'g Gallery>,
    args: &SearchArgs,
) -> Result<Box<dyn Targets + 'g>, CliError> {
    if let Some(gallery) = gallery {
        for person in &args.people {
            gallery.person(person)?;
        }
        let only = (!args.people.is_empty()).then(|| args.people.clone());
        return Ok(Box::new(GalleryPeople { gallery, only }));
    }
    let mut references = Vec::new();
    for path in &args.faces {
        let photo = pipeline.open(path)?;
        let (_, embedding) = pipeline.embed_one(&photo, FaceChoice::Largest)?;
        references.push((path.display().to_string(), embedding));
    }
    Ok(Box::new(ReferenceFaces(references)))
}

/// How `search` and `watch` read their source; `fps` is what they analyse.
pub fn read_options(video: &VideoArgs, fps: f64) -> ReadOptions {
    ReadOptions {
        max_side: (video.max_side > 0).then_some(video.max_side),
        sample_fps: fps,
        realtime: video.realtime,
        stall_timeout: Duration::from_secs_f64(video.stall_timeout),
        ..ReadOptions::default()
    }
}

pub fn video_error(error: impl std::fmt::Display) -> CliError {
    CliError::Video(error.to_string())
}

/// A progress bar with ETA on a terminal; nothing otherwise (scripts, CI).
pub fn progress_bar(source: &str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::with_draw_target(None, ProgressDrawTarget::hidden());
    }
    let bar = ProgressBar::new_spinner();
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} {msg} [{bar:30}] {percent:>3}%  {elapsed} elapsed, ETA {eta}",
        )
        .expect("a valid template")
        .progress_chars("=> "),
    );
    bar.set_message(source.to_string());
    bar
}

pub fn update_bar(bar: &ProgressBar, duration: Option<f64>, time: f64) {
    // Milliseconds of video: the ETA follows video time per wall time.
    if let Some(duration) = duration
        && bar.length().is_none()
    {
        bar.set_length((duration * 1000.0) as u64);
    }
    bar.set_position((time * 1000.0) as u64);
}

fn print_appearance(a: &Appearance) {
    use facecmp_video::sheet::clock;
    println!(
        "{}  {}  {} – {}  similarity {:.3}  best at {} (box {:.0},{:.0} {:.0}×{:.0})  track {}",
        a.source,
        a.target,
        clock(a.start),
        clock(a.end),
        a.similarity,
        clock(a.best_time),
        a.bbox.x,
        a.bbox.y,
        a.bbox.width,
        a.bbox.height,
        a.track
    );
}

pub fn print_stats(source: &str, timings: &Timings, reader: &facecmp_video::ReaderStats) {
    eprintln!(
        "facecmp: {source}: {} frames read, {} analysed, {} dropped, {} reconnects; {} faces, {} embedded; detect {:.2} s, embed {:.2} s",
        reader.decoded(),
        timings.sampled,
        reader.dropped(),
        reader.reconnects(),
        timings.faces,
        timings.embedded,
        timings.detect.as_secs_f64(),
        timings.embed.as_secs_f64()
    );
}

fn save_snapshots(dir: &Path, appearances: &[Appearance]) -> Result<(), CliError> {
    let write_error = |path: &Path, e: &dyn std::fmt::Display| CliError::write(path, e.to_string());
    std::fs::create_dir_all(dir).map_err(|e| write_error(dir, &e))?;
    for a in appearances {
        let Some(crop) = &a.crop else { continue };
        let stem = |text: &str| {
            Path::new(text)
                .file_stem()
                .map_or_else(|| text.to_string(), |s| s.to_string_lossy().into_owned())
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' })
                .collect::<String>()
        };
        let path = dir.join(format!("{}-track{}-{}.png", stem(&a.source), a.track, stem(&a.target)));
        crop.save(&path).map_err(|e| write_error(&path, &e))?;
    }
    Ok(())
}
