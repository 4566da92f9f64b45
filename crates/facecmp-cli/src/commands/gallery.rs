//! Managing the gallery: `gallery init`, `enroll`, `people`, `remove`,
//! `grant`, `revoke`, `zones`, `zone`, `events`.

use std::io::Write;
use std::path::Path;
use std::time::{Duration, UNIX_EPOCH};

use facecmp::Pipeline;
use facecmp::compare::DEFAULT_FAR;
use facecmp_gallery::crops::describe_retention;
use facecmp_gallery::{
    Decision, EnrolPolicy, EventQuery, Gallery, GalleryLocation, Rejection, ZonePolicy, prepare_sample,
};
use serde::Serialize;

use crate::args::{DbArg, DecisionFilter, EnrollArgs, EventsArgs, GlobalArgs, GrantArgs};
use crate::args::{ListArgs, RemoveArgs, RevokeArgs, ZoneArgs};
use crate::outcome::{CliError, Outcome};
use crate::pipeline::load_pipeline;
use crate::report::{plural, print_json};

pub fn init(global: &GlobalArgs, db: &GalleryLocation) -> Result<Outcome, CliError> {
    let pipeline = load_pipeline(global, global.config())?;
    let gallery = Gallery::create(db, pipeline.embedder())?;
    outln!("created {} for embedder {}", gallery.path(), gallery.embedder().name);
    Ok(Outcome::Yes)
}

/// Opens a gallery with the pipeline that will embed faces for it: the
/// gallery refuses the pipeline if its embedder differs.
pub fn open_for(pipeline: &Pipeline, db: &DbArg) -> Result<Gallery, CliError> {
    Ok(Gallery::open(&db.db, pipeline.embedder())?)
}

/// Opens a gallery for work that embeds nothing (listing, grants, erasure),
/// without loading any model.
pub fn open_admin(db: &DbArg) -> Result<Gallery, CliError> {
    open_admin_at(&db.db)
}

pub fn open_admin_at(db: &GalleryLocation) -> Result<Gallery, CliError> {
    let embedder = Gallery::embedder_of(db)?;
    Ok(Gallery::open(db, &embedder)?)
}

#[derive(Serialize)]
struct EnrolJson<'a> {
    file: String,
    accepted: bool,
    #[serde(flatten)]
    outcome: EnrolOutcome<'a>,
}

#[derive(Serialize)]
#[serde(untagged)]
enum EnrolOutcome<'a> {
    Accepted { person: &'a str, sample: i64 },
    Refused { reason: &'static str, detail: String },
}

/// Enrols each photo in turn. Each accepted photo is on disk before its
/// line is printed, so a line on stdout is a durable acknowledgement.
pub fn enroll(global: &GlobalArgs, args: &EnrollArgs) -> Result<Outcome, CliError> {
    let pipeline = load_pipeline(global, global.config_for_gallery(Some(&args.db.db)))?;
    let gallery = open_for(&pipeline, &args.db)?;
    let mut policy = EnrolPolicy::default();
    policy.quality.min_face_size = policy.quality.min_face_size.max(global.min_face_size);
    if args.strict {
        policy.strict = Some(strict_threshold(&pipeline)?);
    }
    let mut refused = 0;
    for image in &args.images {
        let input = image.display().to_string();
        let outcome = enrol_one(&pipeline, &gallery, args, image, &policy)?;
        let line = match &outcome {
            Ok(enrolled) => EnrolOutcome::Accepted { person: &args.name, sample: enrolled.sample },
            Err(rejection) => {
                refused += 1;
                EnrolOutcome::Refused { reason: rejection.code(), detail: rejection.to_string() }
            }
        };
        if args.json {
            print_json(&EnrolJson { file: input, accepted: outcome.is_ok(), outcome: line })?;
        } else {
            match line {
                EnrolOutcome::Accepted { person, sample } => {
                    outln!("{input}: enrolled as {person} (sample {sample})")
                }
                EnrolOutcome::Refused { reason, detail } => outln!("{input}: refused ({reason}): {detail}"),
            }
        }
        // The acknowledgement must reach whoever waits for it now, not at exit.
        let _ = std::io::stdout().flush();
    }
    grant_zones(&gallery, args, refused)?;
    Ok(if refused == 0 { Outcome::Yes } else { Outcome::No })
}

/// One photo: `Ok(Err(_))` when it is refused, including when it cannot be
/// read, so that one bad file does not stop a batch.
fn enrol_one(
    pipeline: &Pipeline,
    gallery: &Gallery,
    args: &EnrollArgs,
    image: &Path,
    policy: &EnrolPolicy,
) -> Result<Result<facecmp_gallery::Enrolled, Rejection>, CliError> {
    let bytes = match std::fs::read(image) {
        Ok(bytes) => bytes,
        Err(error) => return Ok(Err(Rejection::BadImage { detail: format!("cannot read it: {error}") })),
    };
    let sample = match prepare_sample(pipeline, &image.display().to_string(), &bytes, policy)? {
        Ok(sample) => sample,
        Err(rejection) => return Ok(Err(rejection)),
    };
    Ok(gallery.enrol(&args.name, args.external_id.as_deref(), &sample, policy.strict)?)
}

fn grant_zones(gallery: &Gallery, args: &EnrollArgs, refused: usize) -> Result<(), CliError> {
    if args.zones.is_empty() {
        return Ok(());
    }
    if refused == args.images.len() && gallery.person(&args.name).is_err() {
        eprintln!("facecmp: no photo of {} was accepted; no zone was granted", args.name);
        return Ok(());
    }
    for zone in &args.zones {
        gallery.grant(&args.name, zone, None, None)?;
    }
    if !args.json {
        outln!("{} may enter {}", args.name, args.zones.join(", "));
    }
    Ok(())
}

/// `--strict` refuses a first sample that already matches someone else at
/// the threshold access decisions use (here the default FAR's, as in
/// `facecmp access` and `facecmp serve` without `--far`); an embedder that
/// cannot vouch for that rate is an error rather than a guess.
fn strict_threshold(pipeline: &Pipeline) -> Result<f32, CliError> {
    Ok(pipeline.threshold(facecmp::ThresholdChoice::far(DEFAULT_FAR))?.value)
}

pub fn people(args: &ListArgs) -> Result<Outcome, CliError> {
    let people = open_admin(&args.db)?.people()?;
    if args.json {
        print_json(&people)?;
    } else if people.is_empty() {
        outln!("nobody is enrolled");
    } else {
        for person in &people {
            let zones =
                if person.zones.is_empty() { "no zones".to_string() } else { person.zones.join(", ") };
            let external = person.external_id.as_deref().map(|id| format!(" [{id}]")).unwrap_or_default();
            outln!("{}{external}: {}, {zones}", person.name, plural(person.samples, "sample"));
        }
    }
    Ok(Outcome::Yes)
}

pub fn remove(args: &RemoveArgs) -> Result<Outcome, CliError> {
    let tombstone = open_admin(&args.db)?.remove_person(&args.name)?;
    outln!("erased {}; their past access events are kept as {tombstone}", args.name);
    Ok(Outcome::Yes)
}

pub fn grant(args: &GrantArgs) -> Result<Outcome, CliError> {
    let grant = open_admin(&args.db)?.grant(&args.name, &args.zone, args.from, args.until)?;
    let window = match (grant.valid_from, grant.valid_until) {
        (None, None) => String::new(),
        (from, until) => format!(" from {} until {}", time_or(from, "now"), time_or(until, "revoked")),
    };
    outln!("{} may enter {}{window}", grant.person, grant.zone);
    Ok(Outcome::Yes)
}

pub fn revoke(args: &RevokeArgs) -> Result<Outcome, CliError> {
    if open_admin(&args.db)?.revoke(&args.name, &args.zone)? {
        outln!("{} may no longer enter {}", args.name, args.zone);
        Ok(Outcome::Yes)
    } else {
        outln!("{} had no grant for {}", args.name, args.zone);
        Ok(Outcome::No)
    }
}

pub fn zones(args: &ListArgs) -> Result<Outcome, CliError> {
    let zones = open_admin(&args.db)?.zones()?;
    if args.json {
        print_json(&zones)?;
    } else {
        for zone in &zones {
            let faces = if zone.allow_multiple_faces { "several faces allowed" } else { "one face only" };
            let crops = crops_kept(zone.probe_crops_retention_s);
            outln!("{}: {} granted, {faces}, {crops}", zone.name, plural(zone.people, "person"));
        }
    }
    Ok(Outcome::Yes)
}

/// Replaces the zone's whole policy: what the command line leaves out is
/// the default (one face only, no probe crops), as with `PUT /v1/zones/NAME`.
pub fn zone(args: &ZoneArgs) -> Result<Outcome, CliError> {
    let policy = ZonePolicy {
        allow_multiple_faces: args.allow_multiple_faces,
        probe_crops_retention_s: args.keep_probe_crops.and_then(|retention| retention.0),
    };
    let zone = open_admin(&args.db)?.set_zone(&args.name, &policy)?;
    let faces = if zone.allow_multiple_faces {
        "judges the largest of several faces"
    } else {
        "admits one face only"
    };
    outln!("zone {} {faces}; {}", zone.name, crops_kept(zone.probe_crops_retention_s));
    Ok(Outcome::Yes)
}

fn crops_kept(retention_s: Option<i64>) -> String {
    match retention_s {
        Some(seconds) => format!("probe crops kept {}", describe_retention(seconds)),
        None => "no probe crops kept".to_string(),
    }
}

pub fn events(args: &EventsArgs) -> Result<Outcome, CliError> {
    let query = EventQuery {
        zone: args.zone.clone(),
        decision: args.decision.map(|d| match d {
            DecisionFilter::Allow => Decision::Allow,
            DecisionFilter::Deny => Decision::Deny,
        }),
        since: args.since,
        until: args.until,
        limit: args.limit.max(1),
        ..EventQuery::default()
    };
    for event in open_admin(&args.db)?.events(&query)? {
        if args.json {
            print_json(&event)?;
            continue;
        }
        // For a denial the person is the nearest enrolled face, not someone who was let in.
        let role = if event.decision == Decision::Allow { "" } else { "nearest " };
        let who = match (&event.person, &event.tombstone) {
            (Some(person), _) => format!("  {role}{person}"),
            (None, Some(tombstone)) => format!("  {tombstone}"),
            (None, None) => String::new(),
        };
        let similarity = event.similarity.map(|s| format!(" ({s:.3})")).unwrap_or_default();
        outln!(
            "{}  zone {}  {} ({}){who}{similarity}",
            format_time(event.time),
            event.zone,
            event.decision,
            event.reason
        );
    }
    Ok(Outcome::Yes)
}

pub fn format_time(seconds: i64) -> String {
    humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(seconds.max(0) as u64)).to_string()
}

fn time_or(seconds: Option<i64>, open: &str) -> String {
    seconds.map(format_time).unwrap_or_else(|| open.to_string())
}
