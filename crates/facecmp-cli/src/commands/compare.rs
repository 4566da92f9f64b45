//! `facecmp compare A B`: one face from each photo, or every pair with `--all`.

use facecmp::{Error, FaceChoice, Photo, Pipeline, ThresholdChoice, UsableFaces};
use serde::Serialize;

use crate::args::{CompareArgs, GlobalArgs};
use crate::outcome::{CliError, Outcome};
use crate::pipeline::load_pipeline;
use crate::report::{ChosenFaceJson, FaceJson, describe_box, plural, print_json};

#[derive(Serialize)]
struct ComparisonJson {
    similarity: f32,
    threshold: f32,
    same: bool,
    /// The embedder that scored (`sface`, `dlib-resnet-v1`, `fused-sface-dlib`, …).
    embedder: String,
    /// With `--embedder fused`: each network's own cosine behind the fused one.
    #[serde(skip_serializing_if = "Option::is_none")]
    scores: Option<facecmp::FusedScores>,
    a: ChosenFaceJson,
    b: ChosenFaceJson,
}

pub fn run(global: &GlobalArgs, args: &CompareArgs) -> Result<Outcome, CliError> {
    let pipeline = load_pipeline(global, global.config())?;
    // SFace's published threshold by default; a trained model's calibrated one.
    let threshold = pipeline.threshold(ThresholdChoice { threshold: args.threshold, far: args.far })?.value;
    // Peak memory is lower with the embedder loaded before the photos (see
    // `Pipeline::load_embedder`); the total time is the same.
    pipeline.load_embedder()?;
    let (a, b) = open_both(&pipeline, args)?;
    if args.all {
        return compare_all(&pipeline, &a, &b, args, threshold);
    }
    let choice = |face: Option<usize>| face.map_or(FaceChoice::Largest, FaceChoice::Index);
    let (face_a, embedding_a) = pipeline.embed_one(&a, choice(args.face_a))?;
    let (face_b, embedding_b) = pipeline.embed_one(&b, choice(args.face_b))?;
    let comparison = facecmp::compare(&embedding_a, &embedding_b, threshold).map_err(Error::from)?;
    let scores = facecmp::FusedScores::of_embedder(pipeline.embedder(), &embedding_a, &embedding_b);
    if args.json {
        print_json(&ComparisonJson {
            similarity: comparison.similarity,
            threshold: comparison.threshold,
            same: comparison.same,
            embedder: pipeline.embedder().name.clone(),
            scores,
            a: ChosenFaceJson::new(&a, face_a),
            b: ChosenFaceJson::new(&b, face_b),
        })?;
    } else {
        outln!("A  {}", describe_choice(&a, face_a, args.face_a.is_some(), "--face-a"));
        outln!("B  {}", describe_choice(&b, face_b, args.face_b.is_some(), "--face-b"));
        let (relation, verdict) =
            if comparison.same { ("≥", "same person") } else { ("<", "different people") };
        let parts =
            scores.map(|s| format!(" (SFace {:.4}, dlib {:.4})", s.sface, s.dlib)).unwrap_or_default();
        outln!(
            "similarity {:.4}{parts} {relation} threshold {:.3}: {verdict}",
            comparison.similarity,
            comparison.threshold
        );
    }
    Ok(if comparison.same { Outcome::Yes } else { Outcome::No })
}

/// Decodes and searches both photos at once: the second photo's work
/// overlaps the first's instead of waiting for it.
fn open_both(pipeline: &Pipeline, args: &CompareArgs) -> Result<(Photo, Photo), Error> {
    let (a, b) = std::thread::scope(|scope| {
        let a = scope.spawn(|| pipeline.open(&args.a));
        let b = pipeline.open(&args.b);
        (a.join().expect("opening a photo does not panic"), b)
    });
    Ok((a?, b?))
}

fn describe_choice(photo: &Photo, index: usize, picked: bool, flag: &str) -> String {
    let count = photo.faces.len();
    let which = if picked || count == 1 {
        format!("face {index} of {count}")
    } else {
        format!("face {index}, the largest of {count} ({flag} N picks another)")
    };
    let face = &photo.faces[index];
    format!("{}: {which}, {}, score {:.3}", photo.input, describe_box(&face.bbox), face.score)
}

#[derive(Serialize)]
struct PhotoFacesJson {
    file: String,
    faces: Vec<FaceJson>,
    /// Faces found but too small to compare.
    too_small: Vec<usize>,
}

#[derive(Serialize)]
struct MatrixJson {
    threshold: f32,
    a: PhotoFacesJson,
    b: PhotoFacesJson,
    /// `similarity[i][j]` compares `a.faces[i]` with `b.faces[j]`.
    similarity: Vec<Vec<f32>>,
    same: Vec<Vec<bool>>,
}

/// Every usable face of A against every usable face of B.
fn compare_all(
    pipeline: &Pipeline,
    a: &Photo,
    b: &Photo,
    args: &CompareArgs,
    threshold: f32,
) -> Result<Outcome, CliError> {
    let policy = pipeline.face_policy();
    let UsableFaces { usable: faces_a, too_small: small_a } = policy.usable_or_why(a)?;
    let UsableFaces { usable: faces_b, too_small: small_b } = policy.usable_or_why(b)?;
    let embeddings_a = pipeline.embed(a, &faces_a)?;
    let embeddings_b = pipeline.embed(b, &faces_b)?;
    let similarity: Vec<Vec<f32>> = embeddings_a
        .iter()
        .map(|ea| embeddings_b.iter().map(|eb| ea.cosine(eb)).collect::<Result<Vec<f32>, _>>())
        .collect::<Result<_, _>>()
        .map_err(Error::from)?;
    let same: Vec<Vec<bool>> =
        similarity.iter().map(|row| row.iter().map(|&s| s >= threshold).collect()).collect();
    let any_same = same.iter().flatten().any(|&s| s);
    if args.json {
        let photo_json = |photo: &Photo, faces: &[usize], small: Vec<usize>| PhotoFacesJson {
            file: photo.input.clone(),
            faces: faces.iter().map(|&i| FaceJson::new(i, &photo.faces[i])).collect(),
            too_small: small,
        };
        print_json(&MatrixJson {
            threshold,
            a: photo_json(a, &faces_a, small_a),
            b: photo_json(b, &faces_b, small_b),
            similarity,
            same,
        })?;
    } else {
        print_matrix(a, b, &faces_a, &faces_b, &similarity, threshold)?;
        for (photo, small) in [(a, &small_a), (b, &small_b)] {
            if !small.is_empty() {
                outln!("{}: {} too small to compare: {small:?}", photo.input, plural(small.len(), "face"));
            }
        }
    }
    Ok(if any_same { Outcome::Yes } else { Outcome::No })
}

fn print_matrix(
    a: &Photo,
    b: &Photo,
    faces_a: &[usize],
    faces_b: &[usize],
    similarity: &[Vec<f32>],
    threshold: f32,
) -> Result<(), CliError> {
    outln!(
        "rows: faces of {}; columns: faces of {}; * = same person (threshold {threshold:.3})",
        a.input,
        b.input
    );
    let header: String = faces_b.iter().map(|j| format!("{:>9}", format!("B{j}"))).collect();
    outln!("{:>5}{header}", "");
    for (row, &i) in similarity.iter().zip(faces_a) {
        let cells: String = row
            .iter()
            .map(|&s| format!("{:>9}", format!("{s:.3}{}", if s >= threshold { "*" } else { " " })))
            .collect();
        outln!("{:>5}{cells}", format!("A{i}"));
    }
    Ok(())
}
