//! The stages wired together: photo → faces → aligned crops → embeddings.

use std::path::Path;

use ::image::RgbImage;

use crate::align::{AlignedFace, align};
use crate::compare::Calibration;
use crate::config::Config;
use crate::detect::{self, Detector, Face};
use crate::embed::{Embedder, EmbedderIdentity, Embedding, SFace};
use crate::error::Error;
use crate::runtime::{self, Engine, RuntimeError};

/// A decoded photo and the faces found in it, strongest first.
#[derive(Debug, Clone)]
pub struct Photo {
    /// How the photo is named in messages (usually its path).
    pub input: String,
    pub image: RgbImage,
    pub faces: Vec<Face>,
}

/// Which face of a photo to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaceChoice {
    /// The face with the largest box: in a portrait, the subject.
    Largest,
    /// The face with this index in [`Photo::faces`].
    Index(usize),
}

impl Photo {
    /// Picks a face, refusing one too small to embed reliably.
    pub fn choose(&self, choice: FaceChoice, min_face_size: f32) -> Result<usize, Error> {
        let index = match choice {
            FaceChoice::Largest => {
                self.largest_face().ok_or_else(|| Error::NoFace { input: self.input.clone() })?
            }
            FaceChoice::Index(index) if index < self.faces.len() => index,
            FaceChoice::Index(_) if self.faces.is_empty() => {
                return Err(Error::NoFace { input: self.input.clone() });
            }
            FaceChoice::Index(index) => {
                return Err(Error::NoSuchFace { input: self.input.clone(), index, count: self.faces.len() });
            }
        };
        let size = self.faces[index].size();
        if size < min_face_size {
            return Err(Error::FaceTooSmall { input: self.input.clone(), index, size, min: min_face_size });
        }
        Ok(index)
    }

    /// Splits the faces into those large enough to embed and those too small.
    /// Fails like [`Photo::choose`] when no face at all is usable, so that a
    /// photo never yields an empty answer silently.
    pub fn usable_faces(&self, min_face_size: f32) -> Result<(Vec<usize>, Vec<usize>), Error> {
        let (usable, too_small): (Vec<usize>, Vec<usize>) =
            (0..self.faces.len()).partition(|&i| self.faces[i].size() >= min_face_size);
        if usable.is_empty() {
            self.choose(FaceChoice::Largest, min_face_size)?;
        }
        Ok((usable, too_small))
    }

    pub fn largest_face(&self) -> Option<usize> {
        (0..self.faces.len()).max_by(|&a, &b| self.faces[a].bbox.area().total_cmp(&self.faces[b].bbox.area()))
    }

    pub fn align(&self, index: usize) -> AlignedFace {
        align(&self.image, &self.faces[index].landmarks)
    }
}

/// The loaded models and the configuration they run with.
pub struct Pipeline {
    detector: Detector,
    embedder: Box<dyn Embedder>,
    config: Config,
    engine: Engine,
    fallback: Option<RuntimeError>,
}

impl Pipeline {
    /// Loads YuNet and SFace from `config.models` on the configured engine
    /// and optimises them; the two graphs are independent, so they are
    /// prepared on two threads.
    pub fn load(config: Config) -> Result<Pipeline, Error> {
        runtime::set_threads(config.threads);
        let (engine, fallback) = Engine::select(config.runtime, config.ort_library.as_deref())?;
        let detector_file = config.models.detector()?;
        let embedder_file = config.models.embedder()?;
        let threads = config.threads;
        let (detector_network, embedder_network) = std::thread::scope(|scope| {
            let detector =
                scope.spawn(|| engine.load("YuNet", &detector_file.bytes, &detect::network_spec(), threads));
            let embedder = engine.load("SFace", &embedder_file.bytes, &SFace::network_spec(), threads);
            (detector.join().expect("model loading does not panic"), embedder)
        });
        let detector = Detector::new(detector_network?, config.detector);
        let embedder = SFace::new(embedder_network?, &embedder_file);
        Ok(Pipeline { detector, embedder: Box::new(embedder), config, engine, fallback })
    }

    /// The engine the networks run on.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Why ONNX Runtime was not used, when `RuntimeChoice::Auto` fell back to tract.
    pub fn runtime_fallback(&self) -> Option<&RuntimeError> {
        self.fallback.as_ref()
    }

    /// Replaces the embedder, e.g. with a network trained by `facecmp train`.
    pub fn with_embedder(mut self, embedder: Box<dyn Embedder>) -> Pipeline {
        self.embedder = embedder;
        self
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn embedder(&self) -> &EmbedderIdentity {
        self.embedder.identity()
    }

    /// The embedder's thresholds for target false-accept rates, if measured.
    pub fn calibration(&self) -> Option<&Calibration> {
        self.embedder.calibration()
    }

    /// Reads, decodes and searches a photo file for faces.
    pub fn open(&self, path: &Path) -> Result<Photo, Error> {
        let input = path.display().to_string();
        let image = crate::image::load(path, self.config.decode)
            .map_err(|source| Error::Image { input: input.clone(), source })?;
        self.find_faces(input, image)
    }

    /// Decodes an encoded photo held in memory and searches it for faces.
    pub fn open_bytes(&self, input: &str, bytes: &[u8]) -> Result<Photo, Error> {
        let image = crate::image::decode(bytes, self.config.decode)
            .map_err(|source| Error::Image { input: input.to_string(), source })?;
        self.find_faces(input.to_string(), image)
    }

    /// Searches an already decoded image for faces.
    pub fn find_faces(&self, input: String, image: RgbImage) -> Result<Photo, Error> {
        let faces =
            self.detector.detect(&image).map_err(|source| Error::Detect { input: input.clone(), source })?;
        Ok(Photo { input, image, faces })
    }

    /// Aligns and embeds the given faces of a photo as one batch.
    pub fn embed(&self, photo: &Photo, faces: &[usize]) -> Result<Vec<Embedding>, Error> {
        let aligned: Vec<AlignedFace> = faces.iter().map(|&index| photo.align(index)).collect();
        self.embed_aligned(&photo.input, &aligned.iter().collect::<Vec<_>>())
    }

    pub fn embed_aligned(&self, input: &str, faces: &[&AlignedFace]) -> Result<Vec<Embedding>, Error> {
        self.embedder.embed(faces).map_err(|source| Error::Embed { input: input.to_string(), source })
    }

    /// The embedding of one chosen face: the common one-face-per-photo case.
    pub fn embed_one(&self, photo: &Photo, choice: FaceChoice) -> Result<(usize, Embedding), Error> {
        let index = photo.choose(choice, self.config.min_face_size)?;
        let embedding = self.embed(photo, &[index])?.swap_remove(0);
        Ok((index, embedding))
    }
}
