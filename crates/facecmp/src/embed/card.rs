//! Any ArcFace-family ONNX embedder, described by a model card: users who
//! hold a licence for a stronger network (InsightFace's, their own) plug it
//! in with `--embedder-onnx MODEL.onnx --embedder-card CARD.toml`.
//!
//! ```toml
//! name = "w600k-r50"           # how galleries and reports name it
//! input_size = 112             # the network's square input, in pixels
//! channel_order = "rgb"        # or "bgr"
//! mean = [127.5, 127.5, 127.5] # per channel, subtracted from 0..255 values
//! std = [127.5, 127.5, 127.5]  # per channel, divides after the mean
//! template = "arcface"         # or five [x, y] points in the input
//! output = "683"               # the embedding's output name (default: the first)
//! dimension = 512              # values per face
//! ```
//!
//! The card is checked against the network when it loads: a blank face is
//! run through it, and an input size or dimension the network does not have
//! is an error naming both, before any face is embedded.

use std::sync::OnceLock;

use ::image::RgbImage;
use once_cell::sync::OnceCell;
use serde::Deserialize;

use super::{EmbedError, Embedder, EmbedderIdentity, Embedding, FaceInPhoto, split_embeddings};
use crate::align::{ALIGNED_SIZE, AlignedFace, Similarity, TEMPLATE, warp};
use crate::detect::Point;
use crate::runtime::{Dim, Engine, NchwTensor, Network, NetworkSpec, RuntimeError};

/// The most faces one run takes, as for the bundled networks.
const FACES_PER_RUN: usize = 8;
const MAX_INPUT_SIZE: u32 = 512;
const MAX_DIMENSION: usize = 4096;

/// What a model card says about its network.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmbedderCard {
    pub name: String,
    pub input_size: u32,
    #[serde(default)]
    pub channel_order: ChannelOrder,
    #[serde(default = "zero_mean")]
    pub mean: [f32; 3],
    #[serde(default = "unit_std")]
    pub std: [f32; 3],
    #[serde(default)]
    pub template: CardTemplate,
    #[serde(default)]
    pub output: Option<String>,
    pub dimension: usize,
}

fn zero_mean() -> [f32; 3] {
    [0.0; 3]
}

fn unit_std() -> [f32; 3] {
    [1.0; 3]
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChannelOrder {
    #[default]
    Rgb,
    Bgr,
}

/// Where the five landmarks go in the network's input.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum CardTemplate {
    /// `"arcface"`: the 112×112 ArcFace template, scaled to the input size.
    Named(NamedTemplate),
    /// Five `[x, y]` points in input pixels, in YuNet's order (right eye,
    /// left eye, nose tip, right and left mouth corner).
    Points([[f32; 2]; 5]),
    #[default]
    #[serde(skip)]
    ArcFace,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NamedTemplate {
    Arcface,
}

/// A card that cannot describe a usable embedder.
#[derive(Debug, thiserror::Error)]
pub enum CardError {
    #[error("the embedder card is not valid TOML for a card: {0}")]
    Parse(String),
    #[error("the embedder card's {field} is {value}: {expected}")]
    Invalid { field: &'static str, value: String, expected: &'static str },
    #[error("the embedder card says {field} {card}, but the network {network}")]
    Mismatch { field: &'static str, card: String, network: String },
}

impl EmbedderCard {
    pub fn from_toml(text: &str) -> Result<EmbedderCard, CardError> {
        let card: EmbedderCard =
            toml::from_str(text).map_err(|e| CardError::Parse(e.message().to_string()))?;
        card.validate()?;
        Ok(card)
    }

    fn validate(&self) -> Result<(), CardError> {
        let invalid = |field, value: String, expected| Err(CardError::Invalid { field, value, expected });
        if self.name.trim().is_empty() || self.name.len() > 64 || self.name.chars().any(char::is_control) {
            return invalid("name", format!("{:?}", self.name), "1 to 64 printable characters");
        }
        if !(16..=MAX_INPUT_SIZE).contains(&self.input_size) {
            return invalid("input_size", self.input_size.to_string(), "16 to 512 pixels");
        }
        if !(1..=MAX_DIMENSION).contains(&self.dimension) {
            return invalid("dimension", self.dimension.to_string(), "1 to 4096 values");
        }
        if self.std.iter().any(|s| !s.is_finite() || *s == 0.0) || self.mean.iter().any(|m| !m.is_finite()) {
            return invalid("mean/std", format!("{:?}/{:?}", self.mean, self.std), "finite, std not zero");
        }
        Ok(())
    }

    /// The landmarks' places in the network's input.
    pub fn template_points(&self) -> [Point; 5] {
        match &self.template {
            CardTemplate::Points(points) => points.map(|[x, y]| Point { x, y }),
            CardTemplate::Named(NamedTemplate::Arcface) | CardTemplate::ArcFace => {
                let scale = self.input_size as f32 / ALIGNED_SIZE as f32;
                TEMPLATE.map(|p| Point { x: p.x * scale, y: p.y * scale })
            }
        }
    }
}

/// A user's ONNX embedder, run as its card says.
pub struct CardEmbedder {
    card: EmbedderCard,
    model: Vec<u8>,
    output: OnceLock<String>,
    engine: Engine,
    threads: usize,
    network: OnceCell<Box<dyn Network>>,
    identity: EmbedderIdentity,
}

impl CardEmbedder {
    pub fn new(card: EmbedderCard, model: Vec<u8>, engine: Engine, threads: usize) -> CardEmbedder {
        let identity = EmbedderIdentity {
            name: card.name.clone(),
            sha256: crate::digest::sha256_hex(&model),
            dimension: card.dimension,
            preprocessing: format!(
                "yunet-5pt-card{}-{:?}-mean{:?}-std{:?}",
                card.input_size, card.channel_order, card.mean, card.std
            )
            .to_lowercase(),
        };
        CardEmbedder {
            card,
            model,
            output: OnceLock::new(),
            engine,
            threads,
            network: OnceCell::new(),
            identity,
        }
    }

    fn spec(&self) -> Result<NetworkSpec, RuntimeError> {
        let side = self.card.input_size as usize;
        Ok(NetworkSpec {
            input: [Dim::Variable("N"), Dim::Fixed(3), Dim::Fixed(side), Dim::Fixed(side)],
            outputs: vec![self.output_name()?.to_string().into()],
            warm_shape: None,
        })
    }

    /// The output the card names, or the network's first.
    fn output_name(&self) -> Result<&str, RuntimeError> {
        if let Some(name) = self.output.get() {
            return Ok(name);
        }
        let name = match &self.card.output {
            Some(name) => name.clone(),
            None => crate::runtime::first_output_name(&self.model)?,
        };
        Ok(self.output.get_or_init(|| name))
    }

    /// Loads the network and runs one blank face through it: a card that
    /// does not fit the network fails here, naming what differs.
    pub fn load(&self) -> Result<&dyn Network, EmbedError> {
        let network = self.network.get_or_try_init(|| {
            let size = self.card.input_size;
            let network = self
                .engine
                .load(&self.card.name, &self.model, &self.spec()?, self.threads)
                .map_err(|error| CardError::Mismatch {
                    field: "input_size",
                    card: size.to_string(),
                    network: format!("does not load with that input: {error}"),
                })?;
            self.check(network.as_ref())?;
            Ok::<_, EmbedError>(network)
        })?;
        Ok(network.as_ref())
    }

    fn check(&self, network: &dyn Network) -> Result<(), EmbedError> {
        let blank = RgbImage::new(self.card.input_size, self.card.input_size);
        let size = self.card.input_size;
        let output = network.run(self.batch(&[&blank])).map_err(|error| CardError::Mismatch {
            field: "input_size",
            card: size.to_string(),
            network: format!("does not take {size}×{size} faces ({error})"),
        })?;
        let values = output.first().map_or(0, |o| o.data.len());
        if values != self.card.dimension {
            return Err(CardError::Mismatch {
                field: "dimension",
                card: self.card.dimension.to_string(),
                network: format!("returns {values} values a face"),
            }
            .into());
        }
        Ok(())
    }

    fn batch(&self, images: &[&RgbImage]) -> NchwTensor {
        let side = self.card.input_size as usize;
        let plane = side * side;
        let channels: [usize; 3] = match self.card.channel_order {
            ChannelOrder::Rgb => [0, 1, 2],
            ChannelOrder::Bgr => [2, 1, 0],
        };
        let mut batch = NchwTensor::zeros([images.len(), 3, side, side]);
        for (image, chunk) in images.iter().zip(batch.data.chunks_exact_mut(3 * plane)) {
            for (i, pixel) in image.pixels().enumerate() {
                for (source, &plane_index) in channels.iter().enumerate() {
                    let value = (f32::from(pixel.0[source]) - self.card.mean[plane_index])
                        / self.card.std[plane_index];
                    chunk[plane_index * plane + i] = value;
                }
            }
        }
        batch
    }

    fn embed_inputs(&self, inputs: &[RgbImage]) -> Result<Vec<Embedding>, EmbedError> {
        if inputs.is_empty() {
            return Ok(Vec::new());
        }
        let network = self.load()?;
        let mut values = Vec::with_capacity(inputs.len() * self.card.dimension);
        for run in inputs.chunks(FACES_PER_RUN) {
            let images: Vec<&RgbImage> = run.iter().collect();
            values.extend(network.run(self.batch(&images))?.swap_remove(0).data);
        }
        split_embeddings(values, inputs.len(), self.card.dimension, &self.card.name)
    }

    fn input_of(&self, image: &RgbImage, landmarks: &[Point; 5]) -> RgbImage {
        warp(image, &Similarity::estimate(landmarks, &self.card.template_points()), self.card.input_size)
    }
}

impl Embedder for CardEmbedder {
    fn identity(&self) -> &EmbedderIdentity {
        &self.identity
    }

    fn aligns_itself(&self) -> bool {
        self.card.input_size != ALIGNED_SIZE || self.card.template_points() != TEMPLATE
    }

    fn embed(&self, faces: &[&AlignedFace]) -> Result<Vec<Embedding>, EmbedError> {
        let inputs: Vec<RgbImage> = faces.iter().map(|face| self.input_of(face.image(), &TEMPLATE)).collect();
        self.embed_inputs(&inputs)
    }

    fn embed_in_photos(&self, faces: &[FaceInPhoto<'_>]) -> Result<Vec<Embedding>, EmbedError> {
        let inputs: Vec<RgbImage> =
            faces.iter().map(|face| self.input_of(face.image, face.landmarks)).collect();
        self.embed_inputs(&inputs)
    }

    fn preload(&self) -> Result<(), RuntimeError> {
        self.load().map(|_| ()).map_err(|error| match error {
            EmbedError::Runtime(error) => error,
            other => RuntimeError::Load { model: self.card.name.clone(), reason: other.to_string() },
        })
    }
}
