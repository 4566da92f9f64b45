//! `facecmp find (--face IMG... | --person NAME)`: where a face is in all
//! the indexed footage, ranked, without decoding any video.

use facecmp::{BoundingBox, Embedding, FaceChoice, Pipeline};
use facecmp_gallery::{AppearanceFilter, FoundAppearance, Gallery, Source};
use serde::Serialize;

use crate::args::GlobalArgs;
use crate::commands::access::resolve_threshold;
use crate::commands::search::CONTACT_SHEET_FONT;
use crate::footage_args::{FindArgs, FindTime};
use crate::outcome::{CliError, Outcome};
use crate::pipeline::load_pipeline;
use crate::report::print_json;

/// One line of `find --json`.
#[derive(Serialize)]
struct FoundLine<'a> {
    appearance: i64,
    source: &'a str,
    /// Seconds from the start of the source.
    start: f64,
    end: f64,
    /// Unix seconds, for cameras.
    wall_start: Option<f64>,
    wall_end: Option<f64>,
    similarity: f32,
    matched: bool,
    person: Option<&'a str>,
    cluster: Option<i64>,
    #[serde(rename = "box")]
    bbox: BoundingBox,
    track: i64,
}

pub fn run(global: &GlobalArgs, args: &FindArgs) -> Result<Outcome, CliError> {
    let pipeline = load_pipeline(global, global.config_for_gallery(Some(&args.db.db)))?;
    let gallery = Gallery::open(&args.db.db, pipeline.embedder())?;
    let threshold = resolve_threshold(&pipeline, &args.threshold)?;
    let queries = queries(&pipeline, &gallery, args)?;
    let sources = gallery.sources()?;
    let filter = filter(args, &sources)?;
    let found: Vec<FoundAppearance> = gallery
        .find_appearances(&queries, &filter, args.limit as usize, threshold)?
        .into_iter()
        .filter(|f| args.all || f.matched)
        .collect();
    let names = person_names(&gallery, &found)?;
    for (result, person) in found.iter().zip(&names) {
        let line = line(result, person.as_deref());
        if args.json {
            print_json(&line)?;
        } else {
            print_line(&line);
        }
    }
    if let Some(path) = &args.contact_sheet {
        let sheet =
            facecmp_video::sheet::contact_sheet(&sheet_entries(&gallery, &found, args)?, CONTACT_SHEET_FONT)
                .map_err(CliError::Video)?;
        sheet.save(path).map_err(|e| CliError::write(path, e))?;
    }
    Ok(if found.iter().any(|f| f.matched) { Outcome::Yes } else { Outcome::No })
}

/// The faces to look for: each photo's largest face, or a person's samples.
fn queries(pipeline: &Pipeline, gallery: &Gallery, args: &FindArgs) -> Result<Vec<Embedding>, CliError> {
    if let Some(person) = &args.person {
        let vectors = gallery.person_vectors(person)?;
        if vectors.is_empty() {
            return Err(CliError::Video(format!("{person} has no samples to search with")));
        }
        return Ok(vectors);
    }
    let mut queries = Vec::with_capacity(args.faces.len());
    for path in &args.faces {
        let photo = pipeline.open(path)?;
        queries.push(pipeline.embed_one(&photo, FaceChoice::Largest)?.1);
    }
    Ok(queries)
}

fn filter(args: &FindArgs, sources: &[Source]) -> Result<AppearanceFilter, CliError> {
    let mut filter = AppearanceFilter::default();
    if let Some(wanted) = &args.source {
        let source = sources
            .iter()
            .find(|s| s.name == *wanted || wanted.parse::<i64>().is_ok_and(|id| id == s.id))
            .ok_or_else(|| CliError::Video(format!("no indexed source is named {wanted:?}")))?;
        filter.source = Some(source.id);
    }
    match args.from {
        Some(FindTime::Media(ms)) => filter.media_from_ms = Some(ms),
        Some(FindTime::Wall(ms)) => filter.wall_from_ms = Some(ms),
        None => {}
    }
    match args.until {
        Some(FindTime::Media(ms)) => filter.media_until_ms = Some(ms),
        Some(FindTime::Wall(ms)) => filter.wall_until_ms = Some(ms),
        None => {}
    }
    Ok(filter)
}

/// The name of each result's matched person, if it still exists.
fn person_names(gallery: &Gallery, found: &[FoundAppearance]) -> Result<Vec<Option<String>>, CliError> {
    let people = gallery.people()?;
    Ok(found
        .iter()
        .map(|f| {
            f.appearance.person.and_then(|id| people.iter().find(|p| p.id == id).map(|p| p.name.clone()))
        })
        .collect())
}

fn line<'a>(found: &'a FoundAppearance, person: Option<&'a str>) -> FoundLine<'a> {
    let a = &found.appearance;
    let seconds = |ms: i64| ms as f64 / 1000.0;
    FoundLine {
        appearance: a.id,
        source: &a.source_name,
        start: seconds(a.media_start_ms),
        end: seconds(a.media_end_ms),
        wall_start: a.wall_start_ms.map(seconds),
        wall_end: a.wall_end_ms.map(seconds),
        similarity: found.similarity,
        matched: found.matched,
        person,
        cluster: a.cluster,
        bbox: BoundingBox { x: a.face.x, y: a.face.y, width: a.face.w, height: a.face.h },
        track: a.track,
    }
}

fn print_line(line: &FoundLine) {
    use facecmp_video::sheet::clock;
    let wall = line
        .wall_start
        .and_then(|s| std::time::UNIX_EPOCH.checked_add(std::time::Duration::from_secs_f64(s)))
        .map(|t| format!("  at {}", humantime::format_rfc3339_seconds(t)))
        .unwrap_or_default();
    println!(
        "{}  {} – {}{wall}  similarity {:.3}{}{}",
        line.source,
        clock(line.start),
        clock(line.end),
        line.similarity,
        if line.matched { "" } else { " (below the threshold)" },
        line.person.map(|p| format!("  {p}")).unwrap_or_default(),
    );
}

/// The results as the contact sheet draws them: the stored thumbnail as
/// the face, the source and its time.
fn sheet_entries(
    gallery: &Gallery,
    found: &[FoundAppearance],
    args: &FindArgs,
) -> Result<Vec<facecmp_video::Appearance>, CliError> {
    let target = args
        .person
        .clone()
        .unwrap_or_else(|| args.faces.first().map(|p| p.display().to_string()).unwrap_or_default());
    let mut entries = Vec::with_capacity(found.len());
    for f in found {
        let a = &f.appearance;
        let crop = gallery
            .appearance_thumbnail(a.id)?
            .and_then(|jpeg| image::load_from_memory(&jpeg).ok())
            .map(|image| image.to_rgb8());
        entries.push(facecmp_video::Appearance {
            source: a.source_name.clone(),
            target: target.clone(),
            start: a.media_start_ms as f64 / 1000.0,
            end: a.media_end_ms as f64 / 1000.0,
            similarity: f.similarity,
            best_time: a.media_start_ms as f64 / 1000.0,
            bbox: BoundingBox { x: a.face.x, y: a.face.y, width: a.face.w, height: a.face.h },
            track: a.track as u64,
            crop,
        });
    }
    Ok(entries)
}
