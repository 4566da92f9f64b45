//! `facecmp eval`: parses the arguments, runs `facecmp_eval`, prints the
//! report. Every rule about what is measured (and what may be calibrated)
//! lives in the library.

use facecmp_eval::crops::default_cache_dir;
use facecmp_eval::dataset::SplitSide as Side;
use facecmp_eval::{EvalError, FolderOptions, Setup, evaluate};

use crate::args::{EvalArgs, GlobalArgs, SplitSide};
use crate::commands::skipped_photos::report_skipped;
use crate::outcome::{CliError, Outcome};
use crate::pipeline::load_pipeline;
use crate::report::print_json;
use crate::trained_model as trained;

pub fn run(global: &GlobalArgs, args: &EvalArgs) -> Result<Outcome, CliError> {
    let pipeline = load_pipeline(global, global.config())?;
    let card = trained::model_card(global)?;
    let setup = Setup {
        pipeline: &pipeline,
        aligned: args.aligned,
        cache: default_cache_dir(),
        split: card.as_ref().map(trained::split),
    };
    let evaluation = match (&args.lfw_pairs, &args.data, &args.images) {
        (Some(pairs_file), _, Some(images)) => evaluate::lfw(&setup, pairs_file, images),
        (None, Some(data), _) => {
            let options = FolderOptions {
                impostors: args.impostors,
                seed: args.seed,
                only: args.split.map(|side| match side {
                    SplitSide::Train => Side::Train,
                    SplitSide::Val => Side::Val,
                }),
                groups: args.groups.clone(),
            };
            evaluate::identity_folders(&setup, data, &options)
        }
        _ => unreachable!("clap requires DATA, or --lfw-pairs with --images"),
    }?;
    report_skipped(&evaluation.report.skipped, args.aligned);
    if args.json {
        print_json(&evaluation.report)?;
    } else {
        print!("{}", evaluation.report.markdown());
    }
    if let Some(out) = &args.out {
        evaluation.write(out)?;
        eprintln!("facecmp: report written to {}", out.display());
    }
    if args.calibrate {
        let calibration = evaluation.calibration().map_err(|error| match error {
            EvalError::CalibrationOnTrainedPeople { .. } => {
                CliError::hinted(error, "evaluate other people, or only its held-out ones with --split val")
            }
            error => error.into(),
        })?;
        // --calibrate stores into a trained model's card; the bundled
        // embedders' tables are measured by tools/calibration/.
        let (Some(dir), Some(card)) = (global.trained_embedder(), card) else {
            return Err(CliError::InvalidOption {
                option: "--embedder",
                value: global.embedder.as_ref().map(ToString::to_string).unwrap_or_default(),
                expected: "a trained model's folder with --calibrate (the bundled embedders' tables come from \
                           tools/calibration/)",
            });
        };
        trained::store_calibration(dir, card, calibration)?;
    }
    Ok(Outcome::Yes)
}
