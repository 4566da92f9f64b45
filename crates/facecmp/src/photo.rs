//! A decoded photo and the faces found in it: what detection hands on to
//! selection, alignment and embedding. Its own module, below `select` and
//! `pipeline`, which both work on it; re-exported as `pipeline::Photo`.

use ::image::RgbImage;

use crate::align::{AlignedFace, align};
use crate::detect::Face;

/// A decoded photo and the faces found in it, strongest first.
#[derive(Debug, Clone)]
pub struct Photo {
    /// How the photo is named in messages (usually its path).
    pub input: String,
    pub image: RgbImage,
    pub faces: Vec<Face>,
}

impl Photo {
    pub fn align(&self, index: usize) -> AlignedFace {
        align(&self.image, &self.faces[index].landmarks)
    }
}
