//! The stages wired together: photo → faces → aligned crops → embeddings.

use std::path::Path;

use ::image::RgbImage;
use once_cell::sync::OnceCell;

use crate::align::AlignedFace;
use crate::compare::{Calibration, CalibrationError, Threshold, ThresholdChoice};
use crate::config::{Config, EmbedderChoice};
use crate::detect::{self, Detector};
use crate::embed::{DlibResNet, Embedder, EmbedderIdentity, Embedding, FaceInPhoto, Fused, SFace};
use crate::error::Error;
use crate::models::ModelFile;
pub use crate::photo::Photo;
use crate::runtime::{self, Engine, RuntimeError};
use crate::select::{FaceChoice, FacePolicy};

/// The models and the configuration they run with. Each network is loaded
/// and optimised the first time it is needed (detection needs only YuNet);
/// [`Pipeline::preload`] loads both up front, for a service.
pub struct Pipeline {
    detector_file: ModelFile,
    detector: OnceCell<Detector>,
    embedder: Box<dyn Embedder>,
    config: Config,
    engine: Engine,
    fallback: Option<RuntimeError>,
}

impl Pipeline {
    /// Chooses the engine and finds the model files (reading them when they
    /// come from a folder); the networks themselves load on first use.
    pub fn load(config: Config) -> Result<Pipeline, Error> {
        runtime::set_threads(config.threads);
        let (engine, fallback) = Engine::select(config.runtime, config.ort_library.as_deref())?;
        let detector_file = config.models.detector()?;
        let embedder = bundled_embedder(&config, &engine)?;
        Ok(Pipeline { detector_file, detector: OnceCell::new(), embedder, config, engine, fallback })
    }

    /// Loads both networks now, on two threads (they are independent), so
    /// that no later call waits for a model to load.
    pub fn preload(&self) -> Result<(), Error> {
        let (detector, embedder) = std::thread::scope(|scope| {
            let detector = scope.spawn(|| self.detector().map(|_| ()));
            let embedder = self.embedder.preload();
            (detector.join(), embedder)
        });
        // Loading catches the engines' failures; a panic here is a bug in
        // the engine, reported like any other load failure.
        detector.unwrap_or_else(|_| {
            Err(Error::ModelLoad(RuntimeError::Load {
                model: "YuNet".into(),
                reason: "the engine panicked while loading it".into(),
            }))
        })?;
        Ok(embedder?)
    }

    /// Loads the embedder now instead of at the first embedding. A one-shot
    /// comparison calls this before it decodes any photo: the embedder's load
    /// is the moment of peak memory, and it is lower with no photo held.
    pub fn load_embedder(&self) -> Result<(), Error> {
        Ok(self.embedder.preload()?)
    }

    fn detector(&self) -> Result<&Detector, Error> {
        self.detector.get_or_try_init(|| {
            let network = self.engine.load(
                "YuNet",
                &self.detector_file.bytes,
                &detect::network_spec(),
                self.config.threads,
            )?;
            Ok(Detector::new(network, self.config.detector))
        })
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

    /// The threshold `choice` resolves to for this pipeline's embedder (see
    /// [`ThresholdChoice::resolve`]).
    pub fn threshold(&self, choice: ThresholdChoice) -> Result<Threshold, CalibrationError> {
        choice.resolve(self.embedder.as_ref())
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
        let faces = self
            .detector()?
            .detect(&image)
            .map_err(|source| Error::Detect { input: input.clone(), source })?;
        Ok(Photo { input, image, faces })
    }

    /// Aligns and embeds the given faces of a photo as one batch (each
    /// network aligns them its own way).
    pub fn embed(&self, photo: &Photo, faces: &[usize]) -> Result<Vec<Embedding>, Error> {
        let located: Vec<FaceInPhoto> = faces
            .iter()
            .map(|&index| FaceInPhoto { image: &photo.image, landmarks: &photo.faces[index].landmarks })
            .collect();
        self.embed_in_photos(&photo.input, &located)
    }

    /// Embeds faces where they are in their photos.
    pub fn embed_in_photos(&self, input: &str, faces: &[FaceInPhoto<'_>]) -> Result<Vec<Embedding>, Error> {
        self.load_embedder()?;
        self.embedder
            .embed_in_photos(faces)
            .map_err(|source| Error::Embed { input: input.to_string(), source })
    }

    /// Whether the embedder sees more of a face than the ArcFace crop holds
    /// (see [`Embedder::aligns_itself`]): a caller that keeps only crops
    /// should keep where the face is in its photo instead.
    pub fn aligns_itself(&self) -> bool {
        self.embedder.aligns_itself()
    }

    /// Embeds faces already aligned onto the 112×112 ArcFace template.
    pub fn embed_aligned(&self, input: &str, faces: &[&AlignedFace]) -> Result<Vec<Embedding>, Error> {
        // A model that fails to load is facecmp's fault, not the photo's.
        self.load_embedder()?;
        self.embedder.embed(faces).map_err(|source| Error::Embed { input: input.to_string(), source })
    }

    /// The face policy of `compare` and `embed`: the largest face of at
    /// least the configured size.
    pub fn face_policy(&self) -> FacePolicy {
        FacePolicy::largest(self.config.min_face_size)
    }

    /// The embedding of one chosen face: the common one-face-per-photo case.
    pub fn embed_one(&self, photo: &Photo, choice: FaceChoice) -> Result<(usize, Embedding), Error> {
        let index = self.face_policy().choose(photo, choice)?;
        let embedding = self.embed(photo, &[index])?.swap_remove(0);
        Ok((index, embedding))
    }
}

/// The bundled embedder the configuration names, loaded on first use.
fn bundled_embedder(config: &Config, engine: &Engine) -> Result<Box<dyn Embedder>, Error> {
    let sface = || Ok::<_, Error>(SFace::new(config.models.embedder()?, engine.clone(), config.threads));
    let dlib = || Ok::<_, Error>(DlibResNet::new(config.models.dlib()?, engine.clone(), config.threads));
    Ok(match config.embedder {
        EmbedderChoice::Sface => Box::new(sface()?),
        EmbedderChoice::Dlib => Box::new(dlib()?),
        EmbedderChoice::Fused => Box::new(Fused::new(sface()?, dlib()?)),
    })
}
