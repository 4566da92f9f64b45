//! Training pairs, drawn on the fly from the training people, and crops at
//! the network's input size. Listing, splitting and evaluation pairs are
//! `facecmp_eval::dataset`'s.

use facecmp::RgbImage;
use facecmp_eval::dataset::{Identities, Pair};
use facecmp_eval::rng::Rng;

/// Draws pairs on the fly: never are all O(n²) pairs materialised.
pub struct PairSampler {
    identities: Identities,
    /// People with at least two photos: the only source of genuine pairs.
    with_pairs: Vec<usize>,
    genuine_fraction: f32,
}

impl PairSampler {
    /// `None` when no genuine pair or no impostor pair can be drawn.
    pub fn new(identities: Identities, genuine_fraction: f32) -> Option<PairSampler> {
        let with_pairs: Vec<usize> =
            (0..identities.members.len()).filter(|&p| identities.members[p].len() >= 2).collect();
        (!with_pairs.is_empty() && identities.members.len() >= 2).then_some(PairSampler {
            identities,
            with_pairs,
            genuine_fraction,
        })
    }

    /// The people and photos pairs are drawn from.
    pub fn identities(&self) -> &Identities {
        &self.identities
    }

    /// Two photos of one person, chosen uniformly among people with two or more.
    pub fn genuine(&self, rng: &mut Rng) -> Pair {
        let person = &self.identities.members[self.with_pairs[rng.below(self.with_pairs.len())]];
        let (i, j) = rng.two_distinct(person.len());
        Pair { a: person[i], b: person[j], genuine: true }
    }

    /// Photos of two different people, the people chosen uniformly.
    pub fn impostor(&self, rng: &mut Rng) -> Pair {
        let members = &self.identities.members;
        let (p, q) = rng.two_distinct(members.len());
        let pick = |rng: &mut Rng, photos: &Vec<usize>| photos[rng.below(photos.len())];
        Pair { a: pick(rng, &members[p]), b: pick(rng, &members[q]), genuine: false }
    }

    /// `count` pairs, `genuine_fraction` of them genuine (rounded), in random order.
    pub fn batch(&self, rng: &mut Rng, count: usize) -> Vec<Pair> {
        let genuine = ((count as f32) * self.genuine_fraction).round() as usize;
        let mut pairs: Vec<Pair> =
            (0..count).map(|i| if i < genuine { self.genuine(rng) } else { self.impostor(rng) }).collect();
        rng.shuffle(&mut pairs);
        pairs
    }
}

/// Converts an aligned crop to the network's input size once (area
/// averaging, so downscaling does not alias).
pub fn downscale(face: &RgbImage, size: u32) -> RgbImage {
    if face.width() == size {
        return face.clone();
    }
    image::imageops::resize(face, size, size, image::imageops::FilterType::Triangle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sampled_pairs_are_labelled_truthfully_and_balanced() {
        let identities = Identities::new([3, 1, 4, 2]);
        let sampler = PairSampler::new(identities.clone(), 0.5).unwrap();
        let mut rng = Rng::new(1);
        let pairs = sampler.batch(&mut rng, 1000);
        assert_eq!(pairs.iter().filter(|p| p.genuine).count(), 500);
        for p in &pairs {
            assert_ne!(p.a, p.b);
            assert_eq!(identities.person_of[p.a] == identities.person_of[p.b], p.genuine);
        }
        assert!(PairSampler::new(Identities::new([1, 1]), 0.5).is_none(), "no genuine pair possible");
    }
}
