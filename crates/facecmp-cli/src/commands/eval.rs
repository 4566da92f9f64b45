//! `facecmp eval`: honest verification numbers for any embedder, on identity
//! folders (all genuine pairs + seeded impostor pairs) or on LFW's View-2
//! 10-fold protocol.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use facecmp::Pipeline;
use facecmp::compare::DEFAULT_FAR;
use facecmp::eval::{k_fold, parse_lfw_pairs};
use facecmp_train::artifacts::ModelCard;
use facecmp_train::data::{self, Identities, Sample};
use facecmp_train::report::{self, EvalReport};

use crate::args::{EvalArgs, GlobalArgs, SplitSide};
use crate::commands::train::{prepare, report_skipped, train_error};
use crate::report::print_json;
use crate::{CliError, Outcome};

pub fn run(global: &GlobalArgs, args: &EvalArgs) -> Result<Outcome, CliError> {
    let pipeline = crate::load_pipeline(global, global.config())?;
    let card = global.embedder.as_deref().map(ModelCard::read).transpose().map_err(train_error)?;
    let report = match (&args.lfw_pairs, &args.data) {
        (Some(pairs_file), _) => lfw(global, args, &pipeline, pairs_file)?,
        (None, Some(data)) => folders(global, args, &pipeline, card.as_ref(), data)?,
        (None, None) => unreachable!("clap requires DATA or --lfw-pairs"),
    };
    if args.json {
        print_json(&report.0)?;
    } else {
        print!("{}", report.0.markdown());
    }
    if let Some(out) = &args.out {
        report.0.write(out, &report.1).map_err(CliError::Train)?;
        eprintln!("facecmp: report written to {}", out.display());
    }
    if args.calibrate
        && let (Some(dir), Some(mut card)) = (&global.embedder, card)
    {
        // Thresholds measured on people the model learned would promise a
        // false-accept rate it only reaches on them.
        if let Some(trained_on @ 1..) = report.0.people_trained_on {
            return Err(CliError::Train(format!(
                "{}: not calibrating on {trained_on} people the model was trained on; evaluate other people (or --split val)",
                report.0.data
            )));
        }
        card.recalibrate(&report.1, format!("facecmp eval on {}", report.0.data));
        card.write(dir).map_err(train_error)?;
        let measured = card.calibration.iter().flat_map(|c| &c.points).filter(|p| p.threshold.is_some());
        eprintln!(
            "facecmp: {} FAR thresholds stored in {}",
            measured.count(),
            dir.join("model.json").display()
        );
    }
    Ok(Outcome::Yes)
}

type Scored = (EvalReport, Vec<facecmp::eval::ScoredPair>);

fn folders(
    global: &GlobalArgs,
    args: &EvalArgs,
    pipeline: &Pipeline,
    card: Option<&ModelCard>,
    data: &Path,
) -> Result<Scored, CliError> {
    let mut samples = data::list_samples(data).map_err(train_error)?;
    if let (Some(side), Some(card)) = (args.split, card) {
        let people: HashSet<&String> = match side {
            SplitSide::Train => &card.split.train,
            SplitSide::Val => &card.split.val,
        }
        .iter()
        .collect();
        samples.retain(|s| people.contains(&s.person));
    }
    let prepared = prepare(global, &samples, args.aligned, cache_dir())?;
    report_skipped(&prepared);
    let identities = Identities::of(&prepared);
    let pairs = data::evaluation_pairs(&identities, args.impostors, args.seed);
    if pairs.iter().all(|p| !p.genuine) || pairs.iter().all(|p| p.genuine) {
        return Err(CliError::Train(format!(
            "{}: needs at least two people and one person with two usable photos to form genuine and impostor pairs",
            data.display()
        )));
    }
    let embeddings = report::embed_prepared(pipeline, &prepared)?;
    let scores = report::score(&pairs, &embeddings);
    let mut report = EvalReport::new(
        pipeline.embedder().clone(),
        data.display().to_string(),
        "identity folders: all genuine pairs + sampled impostor pairs".into(),
        &scores,
    );
    report.people = prepared.people.len();
    report.images = prepared.images();
    report.skipped = prepared.skipped.clone();
    report.impostor_seed = Some(args.seed);
    report.people_trained_on = card.map(|c| {
        let trained: HashSet<&String> = c.split.train.iter().collect();
        prepared.people.iter().filter(|(name, _)| trained.contains(name)).count()
    });
    // Per-group error rates mean most at the threshold a site deploys: the
    // embedder's calibrated one for the service's default FAR.
    if let Some(threshold) = pipeline.calibration().and_then(|c| c.threshold_for(DEFAULT_FAR).ok()) {
        report.operating_threshold = threshold;
        report.operating_threshold_source = format!("the embedder's calibration for FAR {DEFAULT_FAR:.0e}");
    }
    if let Some(groups_file) = &args.groups {
        let groups = report::read_groups(groups_file).map_err(CliError::Train)?;
        let grouped = report::group_pairs(&pairs, &scores, &identities, &prepared.names(), &groups);
        report = report.with_groups(&grouped);
    }
    Ok((report, scores))
}

fn lfw(
    global: &GlobalArgs,
    args: &EvalArgs,
    pipeline: &Pipeline,
    pairs_file: &Path,
) -> Result<Scored, CliError> {
    let images = args.images.as_deref().expect("clap requires --images with --lfw-pairs");
    let text = std::fs::read_to_string(pairs_file)
        .map_err(|e| CliError::Train(format!("{}: {e}", pairs_file.display())))?;
    let lfw =
        parse_lfw_pairs(&text).map_err(|e| CliError::Train(format!("{}: {e}", pairs_file.display())))?;
    let keys: Vec<(String, u32)> = {
        let mut keys: Vec<_> = lfw.iter().flat_map(|p| [p.a.clone(), p.b.clone()]).collect();
        keys.sort();
        keys.dedup();
        keys
    };
    let samples: Vec<Sample> = keys
        .iter()
        .map(|key| Sample {
            path: images.join(facecmp::eval::LfwPair::relative_path(key)),
            person: key.0.clone(),
        })
        .collect();
    let prepared = prepare(global, &samples, args.aligned, cache_dir())?;
    report_skipped(&prepared);
    let embeddings = report::embed_prepared(pipeline, &prepared)?;
    let by_path: BTreeMap<&Path, usize> = prepared
        .people
        .iter()
        .flat_map(|(_, crops)| crops)
        .enumerate()
        .map(|(i, crop)| (crop.path.as_path(), i))
        .collect();
    let embedding_of = keys
        .iter()
        .zip(&samples)
        .filter_map(|(key, sample)| {
            by_path.get(sample.path.as_path()).map(|&i| (key.clone(), embeddings[i].clone()))
        })
        .collect();
    let (scored, missing) = report::score_lfw(&lfw, &embedding_of);
    let folds = k_fold(&scored).ok_or_else(|| {
        CliError::Train(format!("{}: too few scorable pairs for 10-fold evaluation", pairs_file.display()))
    })?;
    let scores: Vec<_> = scored.iter().map(|s| s.1).collect();
    let mut report = EvalReport::new(
        pipeline.embedder().clone(),
        images.display().to_string(),
        format!("LFW View 2 ({}), 10-fold", pairs_file.display()),
        &scores,
    );
    report.people = prepared.people.len();
    report.images = prepared.images();
    report.skipped = prepared.skipped.clone();
    report.lfw = Some(folds);
    report.lfw_unscored_pairs = Some(missing.len());
    Ok((report, scores))
}

/// Aligned crops of evaluated photos, shared across runs (keyed by file hash).
fn cache_dir() -> std::path::PathBuf {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("facecmp").join("crops")
}
