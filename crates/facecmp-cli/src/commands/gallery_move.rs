//! `gallery init`, `gallery info` and `gallery migrate`: what a gallery is
//! pinned to, and moving it to another embedder.

use facecmp::EmbedderChoice;
use facecmp_gallery::migrate::{MigrationReport, migrate, movable_samples};
use facecmp_gallery::{Gallery, GalleryLocation};
use serde::Serialize;

use crate::args::{GalleryCommand, GlobalArgs};
use crate::commands::gallery::{init, open_admin_at};
use crate::commands::search::progress_bar;
use crate::outcome::{CliError, Outcome};
use crate::pipeline::load_pipeline;
use crate::report::{plural, print_json};

pub fn run(global: &GlobalArgs, command: &GalleryCommand) -> Result<Outcome, CliError> {
    match command {
        GalleryCommand::Init { db } => init(global, db),
        GalleryCommand::Info { db, json } => info(db, *json),
        GalleryCommand::Migrate { db, to, json } => migrate_to(global, db, to, *json),
    }
}

#[derive(Serialize)]
struct InfoJson<'a> {
    gallery: String,
    embedder: &'a facecmp::EmbedderIdentity,
    /// `sface`, `dlib` or `fused`; null for a trained or card model.
    bundled: Option<&'static str>,
    people: usize,
    samples: usize,
    /// Samples that kept a face thumbnail: those `gallery migrate` can move.
    movable_samples: usize,
    zones: usize,
    grants: usize,
    indexed_appearances: usize,
}

fn info(db: &GalleryLocation, json: bool) -> Result<Outcome, CliError> {
    let gallery = open_admin_at(db)?;
    let samples = gallery.samples(None)?;
    let embedder = gallery.embedder();
    let report = InfoJson {
        gallery: gallery.path().to_string(),
        embedder,
        bundled: EmbedderChoice::of_identity(embedder).map(EmbedderChoice::name),
        people: gallery.people()?.len(),
        samples: samples.len(),
        movable_samples: movable_samples(&samples),
        zones: gallery.zones()?.len(),
        grants: gallery.grants(None, None)?.len(),
        indexed_appearances: gallery.appearance_count()?,
    };
    if json {
        print_json(&report)?;
    } else {
        print_info(&report)?;
    }
    Ok(Outcome::Yes)
}

fn print_info(info: &InfoJson) -> Result<(), CliError> {
    let embedder = info.embedder;
    let flag = info.bundled.map(|name| format!(" (--embedder {name})")).unwrap_or_default();
    outln!(
        "{}: pinned to {}{flag}, {}-d, weights sha256 {}",
        info.gallery,
        embedder.name,
        embedder.dimension,
        embedder.sha256
    );
    outln!(
        "  {}, {} ({} kept a face thumbnail), {}, {}, {} indexed",
        plural(info.people, "person"),
        plural(info.samples, "sample"),
        info.movable_samples,
        plural(info.zones, "zone"),
        plural(info.grants, "grant"),
        plural(info.indexed_appearances, "appearance"),
    );
    // The example names an embedder the gallery is not already on.
    let other = if info.bundled == Some("fused") { "EMBEDDER" } else { "fused" };
    outln!(
        "  to move it to another embedder: facecmp --embedder {other} gallery migrate {} --to NEW_DB",
        info.gallery
    );
    outln!(
        "  ({} of {} samples would be embedded again from their thumbnails; the audit trail and indexed footage stay here)",
        info.movable_samples,
        info.samples,
    );
    Ok(())
}

/// `gallery migrate DB --to NEW_DB`: the new gallery is made for the
/// embedder the command line names, which must differ from the old one's.
fn migrate_to(
    global: &GlobalArgs,
    db: &GalleryLocation,
    to: &GalleryLocation,
    json: bool,
) -> Result<Outcome, CliError> {
    if !global.names_embedder() {
        return Err(CliError::Usage(
            "gallery migrate: name the embedder to move to, e.g. `facecmp --embedder fused gallery migrate DB --to NEW_DB`"
                .into(),
        ));
    }
    let source = open_admin_at(db)?;
    let pipeline = load_pipeline(global, global.config())?;
    if pipeline.embedder() == source.embedder() {
        return Err(CliError::Usage(format!(
            "gallery migrate: {} is already pinned to {}",
            source.path(),
            source.embedder().name
        )));
    }
    let target = Gallery::create(to, pipeline.embedder())?;
    let bar = progress_bar(source.path());
    bar.set_length(source.samples(None)?.len() as u64);
    let report = migrate(&source, &target, &pipeline, |_| bar.inc(1))?;
    bar.finish_and_clear();
    if json {
        print_json(&report)?;
    } else {
        print_migration(&source, &target, &report)?;
    }
    Ok(if report.samples_left.is_empty() { Outcome::Yes } else { Outcome::No })
}

fn print_migration(source: &Gallery, target: &Gallery, report: &MigrationReport) -> Result<(), CliError> {
    outln!(
        "{} -> {} ({}): {}, {} embedded again, {}, {}",
        source.path(),
        target.path(),
        target.embedder().name,
        plural(report.people, "person"),
        plural(report.samples_moved, "sample"),
        plural(report.zones, "zone"),
        plural(report.grants, "grant"),
    );
    for left in &report.samples_left {
        outln!(
            "  left behind: sample {} of {} ({}); enrol that photo again",
            left.sample,
            left.person,
            left.reason
        );
    }
    Ok(())
}
