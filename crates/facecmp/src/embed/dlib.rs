//! dlib's face-recognition ResNet (`dlib_face_recognition_resnet_model_v1`,
//! CC0; Davis King, 2017), ported once to ONNX by `tools/dlib/convert.py`:
//! its own 150×150 chip, cut from the photo by YuNet's five landmarks, and its
//! 128-d descriptor, L2-normalised here so that it is compared by cosine like
//! every other embedding. A network independent of SFace (another
//! architecture, other training data), so the two make different mistakes.

use std::sync::OnceLock;

use ::image::RgbImage;

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

/// Where YuNet's five landmarks (right eye, left eye, nose tip, right and
/// left mouth corner) go in dlib's chip: dlib's `get_face_chip_details(shape,
/// 150, 0.25)` mean-shape points at pixel centres (derived and checked
/// against dlib's own chips in `tools/dlib/README.md`; `chip_template.json`).
pub const DLIB_TEMPLATE: [Point; 5] = [
    Point { x: 47.2322, y: 46.2884 },
    Point { x: 99.8063, y: 46.2884 },
    Point { x: 73.5193, y: 76.0521 },
    Point { x: 50.0788, y: 102.3365 },
    Point { x: 96.9597, y: 102.3365 },
];

/// dlib's chip of a face in a photo: the least-squares similarity of its
/// landmarks onto [`DLIB_TEMPLATE`], bilinear, black outside the photo.
pub fn dlib_chip(photo: &RgbImage, landmarks: &[Point; 5]) -> RgbImage {
    warp(photo, &Similarity::estimate(landmarks, &DLIB_TEMPLATE), DLIB_CHIP_SIZE)
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
}

impl Embedder for DlibResNet {
    fn identity(&self) -> &EmbedderIdentity {
        self.identity.get_or_init(|| EmbedderIdentity {
            name: DLIB_NAME.into(),
            sha256: self.network.model().sha256(),
            dimension: DLIB_DIMENSION,
            preprocessing: "yunet-5pt-dlib150-pad0.25-rgb-0..255".into(),
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
        let chips: Vec<RgbImage> = faces.iter().map(|face| dlib_chip_from_aligned(face)).collect();
        self.embed_chips(&chips.iter().collect::<Vec<_>>())
    }

    fn embed_in_photos(&self, faces: &[FaceInPhoto<'_>]) -> Result<Vec<Embedding>, EmbedError> {
        let chips: Vec<RgbImage> = faces.iter().map(|face| dlib_chip(face.image, face.landmarks)).collect();
        self.embed_chips(&chips.iter().collect::<Vec<_>>())
    }

    fn preload(&self) -> Result<(), RuntimeError> {
        self.network.get().map(|_| ())
    }
}
