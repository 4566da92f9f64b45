//! How faces are written out: the JSON shapes other tools parse, and the
//! one-line text form people read.

use facecmp::{BoundingBox, Face, Photo, Point};
use serde::Serialize;

use crate::outcome::CliError;

/// A face as it appears in every JSON output.
#[derive(Debug, Serialize)]
pub struct FaceJson {
    pub face: usize,
    #[serde(rename = "box")]
    pub bbox: BoundingBox,
    pub score: f32,
    pub landmarks: [Point; 5],
}

impl FaceJson {
    pub fn new(index: usize, face: &Face) -> FaceJson {
        FaceJson { face: index, bbox: face.bbox, score: face.score, landmarks: face.landmarks }
    }
}

/// The chosen face of one photo in `compare`'s JSON.
#[derive(Debug, Serialize)]
pub struct ChosenFaceJson {
    pub file: String,
    /// How many faces the photo holds.
    pub faces: usize,
    #[serde(flatten)]
    pub chosen: FaceJson,
}

impl ChosenFaceJson {
    pub fn new(photo: &Photo, index: usize) -> ChosenFaceJson {
        ChosenFaceJson {
            file: photo.input.clone(),
            faces: photo.faces.len(),
            chosen: FaceJson::new(index, &photo.faces[index]),
        }
    }
}

pub fn describe_box(bbox: &BoundingBox) -> String {
    format!("box {:.0},{:.0} {:.0}×{:.0}", bbox.x, bbox.y, bbox.width, bbox.height)
}

pub fn describe_face(face: &Face) -> String {
    let point = |p: &Point| format!("({:.0},{:.0})", p.x, p.y);
    let [right_eye, left_eye, nose, right_mouth, left_mouth] = &face.landmarks;
    format!(
        "{}  score {:.3}  eyes {} {}  nose {}  mouth {} {}",
        describe_box(&face.bbox),
        face.score,
        point(right_eye),
        point(left_eye),
        point(nose),
        point(right_mouth),
        point(left_mouth)
    )
}

pub fn plural(count: usize, word: &str) -> String {
    if count == 1 { format!("1 {word}") } else { format!("{count} {word}s") }
}

pub fn print_json(value: &impl Serialize) -> Result<(), CliError> {
    outln!("{}", serde_json::to_string(value).expect("reports serialise to JSON"));
    Ok(())
}
