//! dlib's face-recognition ResNet (`dlib_face_recognition_resnet_model_v1`,
//! CC0; Davis King, 2017), ported once to ONNX by `tools/dlib/convert.py`:
//! its own 150×150 chip, placed by dlib's own 5-point landmarker in a box
//! derived from YuNet's landmarks (`dlib_landmarks.rs`), and its
//! 128-d descriptor, L2-normalised here so that it is compared by cosine like
//! every other embedding. A network independent of SFace (another
//! architecture, other training data), so the two make different mistakes.

use std::sync::OnceLock;

use ::image::RgbImage;

use super::dlib_landmarks::{FaceBox, ShapePredictor};
use super::{
    EmbedError, Embedder, EmbedderIdentity, Embedding, FaceInPhoto, LazyNetwork, rgb_images, split_embeddings,
};
use crate::align::{AlignedFace, Similarity, TEMPLATE, warp};
use crate::calibration::{Calibration, bundled_calibration};
use crate::detect::Point;
use crate::models::ModelFile;
use crate::runtime::{Dim, Engine, NetworkSpec, RuntimeError};

pub const DLIB_DIMENSION: usize = 128;
/// Side of dlib's face chip.
pub const DLIB_CHIP_SIZE: u32 = 150;
pub(crate) const DLIB_NAME: &str = "dlib-resnet-v1";
/// The most faces one run takes, as for SFace: a crowd photo is embedded in
/// runs of 8, so the network's intermediate tensors stay bounded.
const FACES_PER_RUN: usize = 8;

/// Where dlib's five landmarks (the outer and inner corner of the eye at the
/// image's right, the same of the other eye, the base of the nose) go in its
/// chip: dlib's `get_face_chip_details(shape, 150, 0.25)` for a 5-point
/// shape, its points `(0.25 + m) / 1.5 · 150` at pixel centres, `· 149/150`
/// (`tools/dlib/README.md` derives the pixel-centre step).
pub const DLIB_TEMPLATE: [Point; 5] = [
    Point { x: 110.217, y: 46.0408 },
    Point { x: 89.0087, y: 47.5774 },
    Point { x: 36.8105, y: 46.0636 },
    Point { x: 58.0191, y: 47.5870 },
    Point { x: 73.5178, y: 87.1946 },
];

/// dlib's chip of a face in a photo, as dlib's own pipeline cuts it: dlib's
/// 5-point landmarker run in the box dlib's detector would give the face
/// (placed from YuNet's landmarks), then the least-squares similarity of its
/// points onto [`DLIB_TEMPLATE`], bilinear, black outside the photo.
pub fn dlib_chip(photo: &RgbImage, landmarks: &[Point; 5]) -> RgbImage {
    let parts = ShapePredictor::bundled().predict(photo, &FaceBox::around(landmarks));
    warp(photo, &Similarity::estimate(&parts, &DLIB_TEMPLATE), DLIB_CHIP_SIZE)
}

/// dlib's chip cut from a 112×112 ArcFace crop, for faces that only exist as
/// crops (a gallery sample's thumbnail, a data set of aligned faces). The
/// crop is smaller than the chip's view: the chip's bottom rows (the chin)
/// come out black and the face is upsampled, so an embedding from the photo
/// is the better one whenever the photo is at hand.
pub fn dlib_chip_from_aligned(face: &AlignedFace) -> RgbImage {
    dlib_chip(face.image(), &TEMPLATE)
}

/// The dlib ResNet, loaded on first use like SFace.
pub struct DlibResNet {
    network: LazyNetwork,
    identity: OnceLock<EmbedderIdentity>,
    calibration: OnceLock<Option<Calibration>>,
}

impl DlibResNet {
    /// Input `image`: chips as RGB 0..255 floats (the graph subtracts dlib's
    /// mean and scales). Output `descriptor`: 128 values a face, not
    /// normalised.
    pub fn network_spec() -> NetworkSpec {
        let side = DLIB_CHIP_SIZE as usize;
        NetworkSpec {
            input: [Dim::Variable("N"), Dim::Fixed(3), Dim::Fixed(side), Dim::Fixed(side)],
            outputs: vec!["descriptor".into()],
            warm_shape: Some([1, 3, side, side]),
        }
    }

    pub fn new(model: ModelFile, engine: Engine, threads: usize) -> Self {
        Self {
            network: LazyNetwork::new("dlib ResNet", model, engine, threads, Self::network_spec()),
            identity: OnceLock::new(),
            calibration: OnceLock::new(),
        }
    }

    /// Embeds ready 150×150 chips (the reference test feeds dlib's own).
    pub fn embed_chips(&self, chips: &[&RgbImage]) -> Result<Vec<Embedding>, EmbedError> {
        if chips.is_empty() {
            return Ok(Vec::new());
        }
        let network = self.network.get()?;
        let mut values = Vec::with_capacity(chips.len() * DLIB_DIMENSION);
        for run in chips.chunks(FACES_PER_RUN) {
            values.extend(network.run(rgb_images(run, DLIB_CHIP_SIZE))?.swap_remove(0).data);
        }
        split_embeddings(values, chips.len(), DLIB_DIMENSION, DLIB_NAME)
    }

    /// A face's embedding: the mean of its chip's descriptor and its mirror
    /// image's, both in one batch. A face and its mirror image are the same
    /// person, and the network's errors on the two are partly independent:
    /// on the calibration photos the mean refuses 36 genuine pairs of 2,068
    /// at FAR 1e-4 where one chip refuses 59 (63 against 89 at 1e-5), and
    /// the second chip rides in the same run of the network, at no
    /// whole-process cost we could measure (`docs/embedders.md`). Only faces
    /// from photos and crops are mirrored: [`DlibResNet::embed_chips`] embeds
    /// a chip as it is, which the reference test needs.
    fn embed_with_mirror(&self, chips: Vec<RgbImage>) -> Result<Vec<Embedding>, EmbedError> {
        let mirrors: Vec<RgbImage> = chips.iter().map(::image::imageops::flip_horizontal).collect();
        let embeddings = self.embed_chips(&chips.iter().chain(&mirrors).collect::<Vec<_>>())?;
        let (own, mirrored) = embeddings.split_at(chips.len());
        own.iter().zip(mirrored).map(mean_direction).collect()
    }
}

/// The direction of the sum of two unit vectors.
fn mean_direction((a, b): (&Embedding, &Embedding)) -> Result<Embedding, EmbedError> {
    let sum = a.as_slice().iter().zip(b.as_slice()).map(|(x, y)| x + y).collect();
    Embedding::from_raw(sum).ok_or(EmbedError::Degenerate { model: DLIB_NAME.into() })
}

impl Embedder for DlibResNet {
    fn identity(&self) -> &EmbedderIdentity {
        self.identity.get_or_init(|| EmbedderIdentity {
            name: DLIB_NAME.into(),
            sha256: self.network.model().sha256(),
            dimension: DLIB_DIMENSION,
            preprocessing: "dlib-5pt-in-yunet-box-dlib150-pad0.25-rgb-0..255-mirror-mean".into(),
        })
    }

    fn calibration(&self) -> Option<&Calibration> {
        self.calibration
            .get_or_init(|| {
                bundled_calibration(
                    include_str!("../../../../models/dlib-calibration.json"),
                    &self.identity().sha256,
                )
            })
            .as_ref()
    }

    fn aligns_itself(&self) -> bool {
        true
    }

    fn embed(&self, faces: &[&AlignedFace]) -> Result<Vec<Embedding>, EmbedError> {
        self.embed_with_mirror(faces.iter().map(|face| dlib_chip_from_aligned(face)).collect())
    }

    fn embed_in_photos(&self, faces: &[FaceInPhoto<'_>]) -> Result<Vec<Embedding>, EmbedError> {
        self.embed_with_mirror(faces.iter().map(|face| dlib_chip(face.image, face.landmarks)).collect())
    }

    fn preload(&self) -> Result<(), RuntimeError> {
        self.network.get().map(|_| ())
    }
}
