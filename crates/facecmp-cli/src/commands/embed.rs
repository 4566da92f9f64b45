//! `facecmp embed IMG...`: one JSON line per face with its embedding.

use std::path::Path;

use facecmp::{FaceChoice, Pipeline};
use serde::Serialize;

use crate::args::{EmbedArgs, GlobalArgs};
use crate::outcome::{CliError, Outcome};
use crate::pipeline::load_pipeline;
use crate::report::{FaceJson, print_json};

#[derive(Serialize)]
struct EmbeddingJson<'a> {
    file: &'a str,
    #[serde(flatten)]
    face: FaceJson,
    embedder: &'a str,
    /// The embedder's identity (its weights' sha256; for `fused`, of both
    /// and the weight): what a calibration or a gallery is pinned to.
    embedder_sha256: &'a str,
    embedding: &'a [f32],
}

pub fn run(global: &GlobalArgs, args: &EmbedArgs) -> Result<Outcome, CliError> {
    let pipeline = load_pipeline(global, global.config())?;
    let mut outcome = Outcome::Yes;
    for path in &args.images {
        if let Err(error) = embed_one(&pipeline, path, args.all_faces) {
            eprintln!("facecmp: {error}");
            outcome = Outcome::Error;
        }
    }
    Ok(outcome)
}

fn embed_one(pipeline: &Pipeline, path: &Path, all_faces: bool) -> Result<(), CliError> {
    let photo = pipeline.open(path)?;
    let policy = pipeline.face_policy();
    // With --all-faces, faces too small to embed are left out rather than
    // failing the photo, unless no face at all is usable.
    let faces = if all_faces {
        policy.usable_or_why(&photo)?.usable
    } else {
        vec![policy.choose(&photo, FaceChoice::Largest)?]
    };
    let embeddings = pipeline.embed(&photo, &faces)?;
    for (&index, embedding) in faces.iter().zip(&embeddings) {
        print_json(&EmbeddingJson {
            file: &photo.input,
            face: FaceJson::new(index, &photo.faces[index]),
            embedder: &pipeline.embedder().name,
            embedder_sha256: &pipeline.embedder().sha256,
            embedding: embedding.as_slice(),
        })?;
    }
    Ok(())
}
