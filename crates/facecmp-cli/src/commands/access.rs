//! `facecmp identify` (who is this?) and `facecmp access` (may they enter?).

use facecmp::Pipeline;
use facecmp_gallery::{AccessDecision, Identification, Probe, QualityPolicy, Reason};
use serde::Serialize;

use crate::args::{AccessArgs, GlobalArgs, IdentifyArgs, ThresholdArgs};
use crate::commands::gallery::open_for;
use crate::outcome::{CliError, Outcome};
use crate::pipeline::load_pipeline;
use crate::report::{FaceJson, describe_box, print_json};

/// The explicit threshold, or the one calibrated for the FAR target (the
/// library's rule, [`facecmp::ThresholdChoice::resolve`]).
pub fn resolve_threshold(pipeline: &Pipeline, args: &ThresholdArgs) -> Result<f32, CliError> {
    Ok(pipeline.threshold(args.choice())?.value)
}

#[derive(Serialize)]
struct IdentifyJson {
    file: String,
    threshold: f32,
    faces: Vec<FaceCandidatesJson>,
}

#[derive(Serialize)]
struct FaceCandidatesJson {
    #[serde(flatten)]
    face: FaceJson,
    candidates: Vec<Identification>,
}

/// Ranks the enrolled people for every usable face, largest face first.
pub fn identify(global: &GlobalArgs, args: &IdentifyArgs) -> Result<Outcome, CliError> {
    let pipeline = load_pipeline(global, global.config_for_gallery(Some(&args.db.db)))?;
    let gallery = open_for(&pipeline, &args.db)?;
    let threshold = resolve_threshold(&pipeline, &args.threshold)?;
    let photo = pipeline.open(&args.image)?;
    let faces: Vec<FaceCandidatesJson> = gallery
        .identify_photo(&pipeline, &photo, args.top.into(), args.zone.as_deref(), threshold)?
        .into_iter()
        .map(|found| FaceCandidatesJson {
            face: FaceJson::new(found.face, &photo.faces[found.face]),
            candidates: found.candidates,
        })
        .collect();
    let anyone = faces.iter().any(|face| face.candidates.iter().any(|c| c.matched));
    let report = IdentifyJson { file: photo.input.clone(), threshold, faces };
    if args.json {
        print_json(&report)?;
    } else {
        print_identifications(&report)?;
    }
    Ok(if anyone { Outcome::Yes } else { Outcome::No })
}

fn print_identifications(report: &IdentifyJson) -> Result<(), CliError> {
    for face in &report.faces {
        outln!("{}: face {} ({})", report.file, face.face.face, describe_box(&face.face.bbox));
        if face.candidates.is_empty() {
            outln!("  nobody enrolled");
        }
        for (rank, candidate) in face.candidates.iter().enumerate() {
            let verdict = if candidate.matched { "match" } else { "" };
            outln!("  {}. {:<24} {:.4}  {verdict}", rank + 1, candidate.person, candidate.similarity);
        }
    }
    outln!("threshold {:.3}", report.threshold);
    Ok(())
}

/// Decides and records one access request. Exit 0 only when the decision is
/// "allow" and it has been written to the audit trail.
pub fn access(global: &GlobalArgs, args: &AccessArgs) -> Result<Outcome, CliError> {
    let config = global.config_for_gallery(Some(&args.db.db));
    let quality = QualityPolicy { min_face_size: config.min_face_size, ..QualityPolicy::default() };
    let pipeline = load_pipeline(global, config)?;
    let gallery = open_for(&pipeline, &args.db)?;
    let threshold = resolve_threshold(&pipeline, &args.threshold)?;
    let input = args.image.display().to_string();
    let decision = match std::fs::read(&args.image) {
        Ok(bytes) => gallery.access(&pipeline, &args.zone, &input, &bytes, &quality, threshold)?,
        Err(error) => {
            let probe = Probe::refuse(Reason::BadImage, format!("{input}: cannot read it: {error}"));
            gallery.decide_access(&args.zone, &probe, None, threshold)?
        }
    };
    if args.json {
        print_json(&decision)?;
    } else {
        print_decision(&decision)?;
    }
    Ok(if decision.allowed { Outcome::Yes } else { Outcome::No })
}

fn print_decision(decision: &AccessDecision) -> Result<(), CliError> {
    let verdict = if decision.allowed { "ALLOW" } else { "DENY" };
    let person = decision.person.as_deref().map(|p| format!(" {p}")).unwrap_or_default();
    outln!("{verdict} zone {}{person}: {} ({})", decision.zone, decision.reason, decision.detail);
    Ok(())
}
