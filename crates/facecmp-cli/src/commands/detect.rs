//! `facecmp detect IMG...`: every face with its box, score and landmarks.

use std::path::{Path, PathBuf};

use facecmp::{Photo, Pipeline};
use serde::Serialize;

use crate::args::{DetectArgs, GlobalArgs};
use crate::draw;
use crate::outcome::{CliError, Outcome};
use crate::pipeline::load_models;
use crate::report::{FaceJson, describe_face, plural, print_json};

#[derive(Serialize)]
struct PhotoJson<'a> {
    file: &'a str,
    width: u32,
    height: u32,
    faces: Vec<FaceJson>,
}

pub fn run(global: &GlobalArgs, args: &DetectArgs) -> Result<Outcome, CliError> {
    let pipeline = load_models(global.config())?;
    let mut outcome = Outcome::Yes;
    for path in &args.images {
        match detect_one(&pipeline, path, args) {
            Ok(found_any) if !found_any && outcome == Outcome::Yes => outcome = Outcome::No,
            Ok(_) => {}
            Err(error) => {
                // Report and go on: one bad photo should not hide the others' faces.
                eprintln!("facecmp: {error}");
                outcome = Outcome::Error;
            }
        }
    }
    Ok(outcome)
}

/// Prints the faces of one photo; true if it has any.
fn detect_one(pipeline: &Pipeline, path: &Path, args: &DetectArgs) -> Result<bool, CliError> {
    let photo = pipeline.open(path)?;
    if args.json {
        print_json(&PhotoJson {
            file: &photo.input,
            width: photo.image.width(),
            height: photo.image.height(),
            faces: photo.faces.iter().enumerate().map(|(i, face)| FaceJson::new(i, face)).collect(),
        })?;
    } else {
        let (width, height) = photo.image.dimensions();
        outln!("{}: {} ({width}×{height})", photo.input, plural(photo.faces.len(), "face"));
        for (index, face) in photo.faces.iter().enumerate() {
            outln!("  face {index}  {}", describe_face(face));
        }
    }
    if let Some(target) = &args.draw {
        write_drawing(&photo, &drawing_path(target, path, args.images.len() > 1))?;
    }
    Ok(!photo.faces.is_empty())
}

/// With one photo the target is the output file; with several it is a folder.
fn drawing_path(target: &Path, photo: &Path, several: bool) -> PathBuf {
    if !several {
        return target.to_path_buf();
    }
    let stem = photo.file_stem().map_or("photo".into(), |s| s.to_string_lossy());
    target.join(format!("{stem}.faces.png"))
}

fn write_drawing(photo: &Photo, path: &Path) -> Result<(), CliError> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| CliError::write(path, e))?;
    }
    draw::annotate(photo).save(path).map_err(|e| CliError::write(path, e))
}
