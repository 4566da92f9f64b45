//! Training throughput and inference speed of the `compact` tower, for
//! BENCHMARKS.md. Run it under `/usr/bin/time -v` for the peak memory:
//!
//! ```sh
//! cargo run -p facecmp-train --example speed -- BATCH INPUT [STEPS]
//! ```
//!
//! Trains one epoch of STEPS optimisation steps (default 40) at batch BATCH
//! pairs on synthetic people at INPUT×INPUT, then embeds 1024 crops with the
//! trained tower. Prints pairs/s (training steps only, as `facecmp train`
//! reports it), the tower's parameter count and images/s.
#![allow(clippy::unwrap_used)] // a test or a measurement: a panic is its failure report

use std::time::Instant;

use burn::module::Module;
use burn::tensor::Device;
use facecmp_train::training::{EpochMetrics, embed_all};
use facecmp_train::{Architecture, TowerConfig, TrainConfig, data, synthetic, train};

// The allocator `facecmp` itself runs burn with.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn argument(index: usize, default: usize) -> usize {
    std::env::args().nth(index).map_or(default, |a| a.parse().expect("arguments are numbers"))
}

fn main() {
    let (batch_size, input_size, steps) = (argument(1, 32), argument(2, 32), argument(3, 40));
    let people = synthetic::people(1, 200, 4);
    let config = TrainConfig {
        tower: TowerConfig { architecture: Architecture::Compact, input_size, embedding_dim: 128, width: 16 },
        epochs: 1,
        batch_size,
        pairs_per_epoch: batch_size * steps,
        val_impostors: 1000,
        ..TrainConfig::default()
    };
    let out = tempfile::tempdir().expect("a temporary folder");
    let mut report = |m: &EpochMetrics| {
        println!(
            "training: compact width 16, input {input_size}, batch {batch_size} pairs, {steps} steps: {:.1} pairs/s",
            m.pairs_per_second
        );
    };
    let trained = train(&people, &config, out.path(), false, &mut report).expect("training runs");
    // bench/peers/train_compact_torch.py checks its copy of the tower against this count.
    println!("tower: {} parameters", trained.model.num_params());

    let crops: Vec<_> = synthetic::people(2, 256, 4)
        .people
        .iter()
        .flat_map(|(_, crops)| crops.iter().map(|c| data::downscale(c.face.image(), input_size as u32)))
        .collect();
    let device = Device::flex();
    embed_all(&trained.model, &crops[..128], &device); // warm-up
    let started = Instant::now();
    let embeddings = embed_all(&trained.model, &crops, &device);
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "inference: {} crops at {input_size}×{input_size} in batches of 128: {:.0} images/s",
        embeddings.len(),
        embeddings.len() as f64 / seconds
    );
}
