//! Synthetic embeddings for benchmarks and tests.
//!
//! Pure noise would make every person equally far from every other, which flatters an approximate index
//! and hides ranking mistakes. These galleries are clustered like real face embeddings instead: each
//! person has a random unit centre, and each sample is that centre plus noise, renormalised. With the
//! default spread a sample's cosine to its own centre is ≈ 0.8, two samples of one person score ≈ 0.64
//! and two different persons ≈ 0 ± 0.09 (at dimension 128), close to what SFace produces.

use crate::{PersonId, SampleId};

/// Length of the noise added to a unit centre; cosine to the centre ≈ 1 / √(1 + SPREAD²) = 0.8.
pub const DEFAULT_SPREAD: f32 = 0.75;

/// A deterministic generator (SplitMix64 with Box–Muller normals), so figures are reproducible without
/// depending on a random-number crate.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in (0, 1]: never 0, so the logarithm in [`Rng::normal`] stays finite.
    pub fn uniform(&mut self) -> f32 {
        ((self.next_u64() >> 40) as f32 + 1.0) / (1u64 << 24) as f32
    }

    pub fn normal(&mut self) -> f32 {
        let radius = (-2.0 * self.uniform().ln()).sqrt();
        radius * (std::f32::consts::TAU * self.uniform()).cos()
    }

    /// A vector uniformly distributed on the unit sphere.
    pub fn unit_vector(&mut self, dimension: usize) -> Vec<f32> {
        let mut vector: Vec<f32> = (0..dimension).map(|_| self.normal()).collect();
        normalize(&mut vector);
        vector
    }

    /// `centre` plus a random offset of length ≈ `spread`, renormalised.
    pub fn near(&mut self, centre: &[f32], spread: f32) -> Vec<f32> {
        let scale = spread / (centre.len() as f32).sqrt();
        let mut vector: Vec<f32> = centre.iter().map(|&c| c + scale * self.normal()).collect();
        normalize(&mut vector);
        vector
    }
}

pub fn normalize(vector: &mut [f32]) {
    let length = vector.iter().map(|x| x * x).sum::<f32>().sqrt();
    if length > 0.0 {
        vector.iter_mut().for_each(|x| *x /= length);
    }
}

/// A clustered gallery: `persons × samples_per_person` unit vectors, sample `i` stored in row `i`.
#[derive(Debug, Clone)]
pub struct Gallery {
    pub dimension: usize,
    /// Row-major, one row per sample.
    pub vectors: Vec<f32>,
    pub owners: Vec<PersonId>,
    /// One unit centre per person, row-major; person `p` is row `p`.
    pub centres: Vec<f32>,
    pub spread: f32,
}

impl Gallery {
    pub fn generate(persons: usize, samples_per_person: usize, dimension: usize, seed: u64) -> Self {
        let mut rng = Rng::new(seed);
        let mut vectors = Vec::with_capacity(persons * samples_per_person * dimension);
        let mut owners = Vec::with_capacity(persons * samples_per_person);
        let mut centres = Vec::with_capacity(persons * dimension);
        for person in 0..persons {
            let centre = rng.unit_vector(dimension);
            for _ in 0..samples_per_person {
                vectors.extend(rng.near(&centre, DEFAULT_SPREAD));
                owners.push(person as PersonId);
            }
            centres.extend(centre);
        }
        Self { dimension, vectors, owners, centres, spread: DEFAULT_SPREAD }
    }

    pub fn len(&self) -> usize {
        self.owners.len()
    }

    pub fn is_empty(&self) -> bool {
        self.owners.is_empty()
    }

    pub fn persons(&self) -> usize {
        self.centres.len() / self.dimension.max(1)
    }

    /// Sample `i`'s vector.
    pub fn sample(&self, sample: SampleId) -> &[f32] {
        let row = sample as usize;
        &self.vectors[row * self.dimension..(row + 1) * self.dimension]
    }

    /// A new, unenrolled photo of `person`: what a probe at identification time looks like.
    pub fn probe(&self, person: PersonId, rng: &mut Rng) -> Vec<f32> {
        let row = person as usize;
        rng.near(&self.centres[row * self.dimension..(row + 1) * self.dimension], self.spread)
    }

    /// Every sample with its id (its row) and owner, in the form [`crate::SearchIndex::insert`] takes.
    pub fn samples(&self) -> impl Iterator<Item = (SampleId, PersonId, &[f32])> {
        self.vectors
            .chunks_exact(self.dimension.max(1))
            .zip(&self.owners)
            .enumerate()
            .map(|(row, (vector, &owner))| (row as SampleId, owner, vector))
    }
}
