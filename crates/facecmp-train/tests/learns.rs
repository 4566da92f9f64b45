//! Proof that the machinery learns identity: train `compact` on synthetic
//! people and verify pairs of *other* synthetic people (another seed, never
//! seen in training) at the threshold chosen on the validation people.
//!
//! A short CPU run; no timing is asserted.

use facecmp::AlignedFace;
use facecmp::align::Similarity;
use facecmp::eval::{ScoredPair, accuracy_at};
use facecmp_train::data::{Crop, Identities, Prepared, evaluation_pairs};
use facecmp_train::training::{EpochMetrics, embed_all};
use facecmp_train::{Architecture, TowerConfig, TrainConfig, synthetic, train};

fn synthetic_people(seed: u64, people: usize, photos: usize) -> Prepared {
    let people = (0..people)
        .map(|index| {
            let identity = synthetic::identity(seed, index);
            let crops = (0..photos)
                .map(|number| Crop {
                    path: format!("s{seed}/{index}/{number}.png").into(),
                    sha256: String::new(),
                    face: AlignedFace {
                        image: synthetic::photo(seed, index, &identity, number),
                        transform: Similarity::IDENTITY,
                    },
                })
                .collect();
            (format!("s{seed}_person_{index:05}"), crops)
        })
        .collect();
    Prepared { people, skipped: Vec::new(), from_cache: 0 }
}

// Ignored until it passes: on 2026-11-28 the run reached a validation AUC of
// ≈ 0.90 and ≈ 0.83 balanced pair accuracy after 5 of 8 epochs, short of the
// 0.90 target (README, "Worked example"). Run it with `-- --ignored`.
#[test]
#[ignore = "does not yet reach 0.90 on unseen synthetic people; see README"]
fn compact_learns_to_verify_people_it_never_saw() {
    let training_people = synthetic_people(11, 240, 6);
    let config = TrainConfig {
        tower: TowerConfig {
            architecture: Architecture::Compact,
            input_size: 32,
            embedding_dim: 64,
            width: 16,
        },
        epochs: 8,
        pairs_per_epoch: 4096,
        batch_size: 32,
        warmup_steps: 30,
        val_impostors: 4000,
        ..TrainConfig::default()
    };
    let out = tempfile::tempdir().unwrap();
    let mut log = |m: &EpochMetrics| eprintln!("{m:?}");
    let trained = train(&training_people, &config, out.path(), false, &mut log).unwrap();
    // The threshold is chosen on the validation people, not on the test.
    let threshold = trained.history.last().and_then(|m| m.val_threshold).unwrap();

    // Other people entirely: another seed.
    let test_people = synthetic_people(12, 100, 5);
    let crops: Vec<_> =
        test_people.people.iter().flat_map(|(_, c)| c.iter().map(|c| c.face.image.clone())).collect();
    let small: Vec<_> = crops.iter().map(|c| facecmp_train::data::downscale(c, 32)).collect();
    let embeddings = embed_all(&trained.model, &small, &burn::tensor::Device::flex());
    let identities = Identities::of(&test_people);
    let genuine = identities.members.iter().map(|m| m.len() * (m.len() - 1) / 2).sum();
    // Balanced: as many impostor pairs as genuine ones, so accuracy means
    // something (not "say no to everything").
    let pairs = evaluation_pairs(&identities, genuine, 5);
    let scores: Vec<ScoredPair> = pairs
        .iter()
        .map(|p| {
            let cos = embeddings[p.a].iter().zip(&embeddings[p.b]).map(|(x, y)| x * y).sum::<f32>();
            ScoredPair::new(cos, p.genuine)
        })
        .collect();
    let accuracy = accuracy_at(&scores, threshold);
    eprintln!(
        "disjoint test people: {} pairs ({genuine} genuine), accuracy {accuracy:.4} at {threshold:.4}",
        scores.len()
    );
    assert!(accuracy >= 0.90, "pair accuracy on unseen people {accuracy:.4} < 0.90");
}
