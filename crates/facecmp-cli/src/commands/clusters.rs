//! `facecmp clusters`: who else was in the indexed footage. Without an
//! action it first clusters the unknown appearances indexed since the last
//! run, then lists every cluster; `--name`, `--merge` and `--not-a-face`
//! are what an operator does with one.

use facecmp::ThresholdChoice;
use facecmp_gallery::appearances::{ClusterSummary, media_clock};
use facecmp_gallery::{Appearance, Gallery};

use crate::args::{ClustersArgs, GlobalArgs};
use crate::outcome::{CliError, Outcome};
use crate::pipeline::load_pipeline;
use crate::report::{plural, print_json};

pub fn run(global: &GlobalArgs, args: &ClustersArgs) -> Result<Outcome, CliError> {
    let pipeline = load_pipeline(global, global.config_for_gallery(Some(&args.db.db)))?;
    let gallery = Gallery::open(&args.db.db, pipeline.embedder())?;
    if let Some([id, person]) = args.name.as_deref() {
        return name(&pipeline, &gallery, cluster_id(id)?, person);
    }
    if let Some([into, from @ ..]) = args.merge.as_deref() {
        let moved = gallery.merge_clusters(*into, from)?;
        outln!("{} moved into cluster {into}", plural(moved, "appearance"));
        return Ok(Outcome::Yes);
    }
    if let Some(id) = args.not_a_face {
        gallery.mark_not_a_face(id, true)?;
        outln!("cluster {id} is not a face: its appearances leave searches and listings");
        return Ok(Outcome::Yes);
    }
    let threshold = pipeline.threshold(ThresholdChoice::far(args.far))?.value;
    let run = gallery.cluster_unknown_appearances(threshold)?;
    if !args.json {
        outln!(
            "clustering {}: {} joined a cluster, {} (threshold {threshold:.3})",
            plural(run.considered, "new unknown appearance"),
            run.joined,
            plural(run.created, "new cluster"),
        );
    }
    for summary in gallery.cluster_summaries()? {
        if args.json {
            print_json(&summary)?;
        } else {
            print_summary(&summary)?;
        }
    }
    Ok(Outcome::Yes)
}

fn cluster_id(text: &str) -> Result<i64, CliError> {
    text.parse().map_err(|_| CliError::Usage(format!("--name {text:?}: expected a cluster id (a number)")))
}

/// Enrols the cluster's best faces as `person`'s samples: exit 0 when at
/// least one was accepted.
fn name(
    pipeline: &facecmp::Pipeline,
    gallery: &Gallery,
    cluster: i64,
    person: &str,
) -> Result<Outcome, CliError> {
    let outcomes = gallery.enrol_cluster(pipeline, cluster, person)?;
    let mut accepted = 0;
    for outcome in &outcomes {
        match outcome {
            Ok(enrolled) => {
                accepted += 1;
                outln!("cluster {cluster}: enrolled as {person} (sample {})", enrolled.sample);
            }
            Err(rejection) => outln!("cluster {cluster}: a face refused ({}): {rejection}", rejection.code()),
        }
    }
    outln!("cluster {cluster} is {person}: {} of {} enrolled", accepted, plural(outcomes.len(), "face"));
    Ok(if accepted > 0 { Outcome::Yes } else { Outcome::No })
}

fn print_summary(summary: &ClusterSummary) -> Result<(), CliError> {
    let cluster = &summary.cluster;
    let name = cluster.name.as_deref().unwrap_or("unnamed");
    let flag = if cluster.not_a_face { ", not a face" } else { "" };
    outln!(
        "cluster {} ({name}{flag}): {} in {}",
        cluster.id,
        plural(cluster.appearances, "appearance"),
        summary.sources.join(", ")
    );
    if let (Some(first), Some(last)) = (&summary.first_seen, &summary.last_seen) {
        outln!("  first seen {}, last seen {}", seen(first), seen(last));
    }
    Ok(())
}

fn seen(appearance: &Appearance) -> String {
    let media = format!("{} {}", appearance.source_name, media_clock(appearance.media_start_ms));
    match appearance.wall_start_ms {
        Some(ms) => {
            let time = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms.max(0) as u64);
            format!("{media} ({})", humantime::format_rfc3339_seconds(time))
        }
        None => media,
    }
}
