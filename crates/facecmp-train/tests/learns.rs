//! Proof that the machinery learns identity: train `compact` on synthetic
//! people and verify pairs of *other* synthetic people (another seed, never
//! seen in training) at the threshold chosen on the validation people.
//!
//! A CPU run of 5–8 minutes on 2 cores, so it is ignored by the README's
//! `cargo test --workspace`; CI runs it in a stage of its own with
//! `cargo test --workspace --test learns -- --ignored`. No timing is asserted.
#![allow(clippy::unwrap_used)] // a test or a measurement: a panic is its failure report

use facecmp_eval::dataset::{Identities, evaluation_pairs};
use facecmp_eval::metrics::accuracy_at;
use facecmp_train::data::downscale;
use facecmp_train::training::{EpochMetrics, embed_all, score_embedded};
use facecmp_train::{Architecture, TowerConfig, TrainConfig, synthetic, train};

const INPUT_SIZE: usize = 32;

#[test]
#[ignore = "trains a network for 5-8 minutes; CI runs it with --ignored"]
fn compact_learns_to_verify_people_it_never_saw() {
    // 800 people (640 trained on, 160 held out to choose the threshold).
    let training_people = synthetic::people(11, 800, 5);
    let config = TrainConfig {
        tower: TowerConfig {
            architecture: Architecture::Compact,
            input_size: INPUT_SIZE,
            embedding_dim: 64,
            width: 16,
        },
        epochs: 8,
        pairs_per_epoch: 4096,
        batch_size: 32,
        // Random impostors are soon too easy to teach anything: each
        // genuine pair's anchor is paired with the closest other person in
        // its batch instead. Without it this run reaches ≈ 0.83, not 0.90.
        hard_negatives: true,
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
    let test_people = synthetic::people(12, 100, 5);
    let crops: Vec<_> = test_people
        .people
        .iter()
        .flat_map(|(_, crops)| crops.iter().map(|c| downscale(c.face.image(), INPUT_SIZE as u32)))
        .collect();
    let embeddings = embed_all(&trained.model, &crops, &burn::tensor::Device::flex());
    let identities = Identities::of(&test_people);
    let genuine = identities.members.iter().map(|m| m.len() * (m.len() - 1) / 2).sum();
    // Balanced: as many impostor pairs as genuine ones, so accuracy means
    // something (not "say no to everything").
    let pairs = evaluation_pairs(&identities, genuine, 5);
    let scores = score_embedded(&pairs, &embeddings);
    let accuracy = accuracy_at(&scores, threshold);
    eprintln!(
        "disjoint test people: {} pairs ({genuine} genuine), accuracy {accuracy:.4} at {threshold:.4}",
        scores.len()
    );
    assert!(accuracy >= 0.90, "pair accuracy on unseen people {accuracy:.4} < 0.90");
}
