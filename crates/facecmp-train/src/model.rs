//! The Siamese tower: ONE module that maps an aligned face to an
//! L2-normalised embedding. Both faces of a pair go through this same module
//! (same weights, same batch-norm statistics), so score(A, B) = score(B, A)
//! by construction.

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{AdaptiveAvgPool2d, AdaptiveAvgPool2dConfig, MaxPool2d, MaxPool2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, Linear, LinearConfig, PaddingConfig2d};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor, s};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Architecture {
    /// A small residual CNN: stem + three residual stages + global pooling.
    Compact,
    /// The original project's two-convolution design, rebuilt as an
    /// embedding tower (batch norm, pooling, a linear embedding).
    Seed,
}

impl Architecture {
    pub fn name(self) -> &'static str {
        match self {
            Architecture::Compact => "compact",
            Architecture::Seed => "seed",
        }
    }
}

/// Everything needed to rebuild the tower before loading its weights.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TowerConfig {
    pub architecture: Architecture,
    /// Side of the square input, in pixels (the 112×112 crop is resized to it).
    pub input_size: usize,
    pub embedding_dim: usize,
    /// Channels of the first stage; later stages double it.
    pub width: usize,
}

impl TowerConfig {
    pub fn init(&self, device: &Device) -> Tower {
        match self.architecture {
            Architecture::Compact => Tower::Compact(CompactTower::new(self, device)),
            Architecture::Seed => Tower::Seed(SeedTower::new(self, device)),
        }
    }
}

// The variants differ in size, but a tower is built once per process: boxing
// would buy nothing and complicate the module derive.
#[allow(clippy::large_enum_variant)]
#[derive(Module, Debug)]
pub enum Tower {
    Compact(CompactTower),
    Seed(SeedTower),
}

impl Tower {
    /// `[N, 3, S, S]` faces → `[N, D]` unit-length embeddings.
    pub fn forward(&self, faces: Tensor<4>) -> Tensor<2> {
        let raw = match self {
            Tower::Compact(tower) => tower.forward(faces),
            Tower::Seed(tower) => tower.forward(faces),
        };
        l2_normalise(raw)
    }
}

/// Rows scaled to unit length; the epsilon keeps the gradient finite at 0.
/// (Both towers batch-normalise the embedding before this: centred, the
/// embeddings spread over the sphere instead of crowding into one cone,
/// where every pair, genuine or not, has a cosine near 1.)
pub fn l2_normalise(x: Tensor<2>) -> Tensor<2> {
    let norm = (x.clone().powi_scalar(2).sum_dim(1) + 1e-12).sqrt();
    x / norm
}

/// conv → batch norm, the unit every stage is built from.
#[derive(Module, Debug)]
pub struct ConvBn {
    conv: Conv2d,
    norm: BatchNorm,
}

impl ConvBn {
    fn new(channels: [usize; 2], kernel: usize, stride: usize, device: &Device) -> ConvBn {
        let pad = kernel / 2;
        ConvBn {
            conv: Conv2dConfig::new(channels, [kernel, kernel])
                .with_stride([stride, stride])
                .with_padding(PaddingConfig2d::Explicit(pad, pad, pad, pad))
                .with_bias(false)
                .init(device),
            norm: BatchNormConfig::new(channels[1]).init(device),
        }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        // A 1×1 ConvBn has no padding (kernel / 2 = 0) and one group.
        let y = if self.conv.kernel_size == [1, 1] { pointwise(x, &self.conv) } else { self.conv.forward(x) };
        self.norm.forward(y)
    }
}

/// A 1×1 convolution (no padding) computed as what it is: every stride-th
/// pixel, then one matrix product over channels. Same weights, same result as
/// `conv.forward`, but burn's CPU backend takes a convolution's weight
/// gradient through a generic convolution whose kernel is the whole output
/// gradient, where a matrix product's backward is two plain products. Measured
/// at batch 32 pairs, 64×64, release build, 2 threads: the three strided
/// shortcuts of `compact` take ≈ 6.5 ms a step forward+backward instead of ≈ 16,
/// and training runs ≈ 8 % more pairs/s (BENCHMARKS.md, issue 10).
fn pointwise(x: Tensor<4>, conv: &Conv2d) -> Tensor<4> {
    let [sh, sw] = conv.stride;
    let x = x.slice(s![.., .., 0..;sh, 0..;sw]);
    let [n, c, h, w] = x.dims();
    let weight = conv.weight.val();
    let [out, ..] = weight.dims();
    let y: Tensor<3> = weight.reshape([1, out, c]).matmul(x.reshape([n, c, h * w]));
    let y = y.reshape([n, out, h, w]);
    match &conv.bias {
        Some(bias) => y + bias.val().reshape([1, out, 1, 1]),
        None => y,
    }
}

/// Two 3×3 conv-BN layers with a shortcut (He et al. 2016); the shortcut is a
/// strided 1×1 conv-BN where the shape changes.
#[derive(Module, Debug)]
pub struct ResidualBlock {
    first: ConvBn,
    second: ConvBn,
    shortcut: Option<ConvBn>,
}

impl ResidualBlock {
    fn new(channels: [usize; 2], stride: usize, device: &Device) -> ResidualBlock {
        let reshape = stride != 1 || channels[0] != channels[1];
        ResidualBlock {
            first: ConvBn::new(channels, 3, stride, device),
            second: ConvBn::new([channels[1], channels[1]], 3, 1, device),
            shortcut: reshape.then(|| ConvBn::new(channels, 1, stride, device)),
        }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let skip = match &self.shortcut {
            Some(shortcut) => shortcut.forward(x.clone()),
            None => x.clone(),
        };
        let y = self.second.forward(relu(self.first.forward(x)));
        relu(y + skip)
    }
}

#[derive(Module, Debug)]
pub struct CompactTower {
    stem: ConvBn,
    stages: Vec<ResidualBlock>,
    pool: AdaptiveAvgPool2d,
    embed: Linear,
    embed_norm: BatchNorm,
}

impl CompactTower {
    fn new(config: &TowerConfig, device: &Device) -> CompactTower {
        let w = config.width;
        // Large inputs are halved by the stem; small ones keep their detail.
        let stem_stride = if config.input_size >= 64 { 2 } else { 1 };
        CompactTower {
            stem: ConvBn::new([3, w], 3, stem_stride, device),
            stages: vec![
                ResidualBlock::new([w, 2 * w], 2, device),
                ResidualBlock::new([2 * w, 4 * w], 2, device),
                ResidualBlock::new([4 * w, 8 * w], 2, device),
            ],
            pool: AdaptiveAvgPool2dConfig::new([1, 1]).init(),
            embed: LinearConfig::new(8 * w, config.embedding_dim).init(device),
            embed_norm: BatchNormConfig::new(config.embedding_dim).init(device),
        }
    }

    fn forward(&self, faces: Tensor<4>) -> Tensor<2> {
        let mut x = relu(self.stem.forward(faces)); // [N, w, S/s, S/s]
        for stage in &self.stages {
            x = stage.forward(x); // channels ×2, side ÷2 per stage
        }
        let pooled: Tensor<2> = self.pool.forward(x).flatten(1, 3); // [N, 8w]
        self.embed_norm.forward(self.embed.forward(pooled)) // [N, D]
    }
}

#[derive(Module, Debug)]
pub struct SeedTower {
    first: ConvBn,
    second: ConvBn,
    max_pool: MaxPool2d,
    pool: AdaptiveAvgPool2d,
    embed: Linear,
    embed_norm: BatchNorm,
}

/// The seed tower pools to a 4×4 grid before its linear embedding, keeping
/// some layout as the original's flattened feature map did.
const SEED_GRID: usize = 4;

impl SeedTower {
    fn new(config: &TowerConfig, device: &Device) -> SeedTower {
        let w = config.width;
        SeedTower {
            first: ConvBn::new([3, 2 * w], 5, 1, device),
            second: ConvBn::new([2 * w, 4 * w], 5, 1, device),
            max_pool: MaxPool2dConfig::new([2, 2]).with_strides([2, 2]).init(),
            pool: AdaptiveAvgPool2dConfig::new([SEED_GRID, SEED_GRID]).init(),
            embed: LinearConfig::new(4 * w * SEED_GRID * SEED_GRID, config.embedding_dim).init(device),
            embed_norm: BatchNormConfig::new(config.embedding_dim).init(device),
        }
    }

    fn forward(&self, faces: Tensor<4>) -> Tensor<2> {
        let x = self.max_pool.forward(relu(self.first.forward(faces))); // [N, 2w, S/2, S/2]
        let x = self.max_pool.forward(relu(self.second.forward(x))); // [N, 4w, S/4, S/4]
        let grid: Tensor<2> = self.pool.forward(x).flatten(1, 3); // [N, 4w·16]
        self.embed_norm.forward(self.embed.forward(grid)) // [N, D]
    }
}

#[cfg(test)]
mod tests {
    use burn::tensor::{Distribution, TensorData};

    use super::*;

    fn config(architecture: Architecture) -> TowerConfig {
        TowerConfig { architecture, input_size: 32, embedding_dim: 16, width: 4 }
    }

    fn rows(t: Tensor<2>) -> Vec<Vec<f32>> {
        let [_, d] = t.dims();
        t.into_data().as_slice::<f32>().unwrap().chunks(d).map(<[f32]>::to_vec).collect()
    }

    /// One module embeds both faces, so swapping A and B swaps nothing but
    /// the order: score(A, B) = score(B, A), in training mode too (where the
    /// original's two towers had separate batch norms).
    #[test]
    fn the_tower_is_symmetric_and_its_embeddings_unit_length() {
        for architecture in [Architecture::Compact, Architecture::Seed] {
            let device = Device::flex().autodiff();
            device.seed(3);
            let tower = config(architecture).init(&device);
            let a = Tensor::<4>::random([4, 3, 32, 32], Distribution::Normal(0.0, 1.0), &device);
            let b = Tensor::<4>::random([4, 3, 32, 32], Distribution::Normal(0.0, 1.0), &device);
            let ab = rows(tower.forward(Tensor::cat(vec![a.clone(), b.clone()], 0)));
            let ba = rows(tower.forward(Tensor::cat(vec![b, a], 0)));
            let cosine = |x: &[f32], y: &[f32]| x.iter().zip(y).map(|(p, q)| p * q).sum::<f32>();
            for i in 0..4 {
                assert!((cosine(&ab[i], &ab[i + 4]) - cosine(&ba[i + 4], &ba[i])).abs() < 1e-5);
                let norm = cosine(&ab[i], &ab[i]).sqrt();
                assert!((norm - 1.0).abs() < 1e-4, "{architecture:?}: |e| = {norm}");
            }
        }
    }

    /// The shortcut's matrix-product form gives the convolution's output and gradients.
    #[test]
    fn a_pointwise_conv_matches_the_convolution() {
        let device = Device::flex().autodiff();
        device.seed(7);
        for (stride, side, bias) in [(2, 7, false), (2, 8, true), (1, 5, false)] {
            let conv =
                Conv2dConfig::new([3, 5], [1, 1]).with_stride([stride, stride]).with_bias(bias).init(&device);
            let x = Tensor::<4>::random([2, 3, side, side], Distribution::Normal(0.0, 1.0), &device)
                .require_grad();
            let (a, b) = (conv.forward(x.clone()), pointwise(x.clone(), &conv));
            assert_eq!(a.dims(), b.dims());
            let largest = |t: Tensor<4>| t.abs().max().into_scalar::<f32>();
            assert!(largest(a.clone() - b.clone()) < 1e-5);
            let (ga, gb) = ((a * 1.5).sum().backward(), (b * 1.5).sum().backward());
            let weight = conv.weight.val();
            assert!(largest(weight.grad(&ga).unwrap() - weight.grad(&gb).unwrap()) < 1e-4, "weight gradient");
            assert!(largest(x.grad(&ga).unwrap() - x.grad(&gb).unwrap()) < 1e-5, "input gradient");
        }
    }

    #[test]
    fn saved_and_loaded_towers_give_identical_embeddings() {
        let dir = tempfile::tempdir().unwrap();
        let device = Device::flex().autodiff();
        device.seed(5);
        let trained = config(Architecture::Compact).init(&device);
        // A training forward moves the batch-norm running statistics away
        // from their initial values, so that saving them is tested too.
        let batch = Tensor::<4>::random([8, 3, 32, 32], Distribution::Normal(0.5, 2.0), &device);
        let _ = trained.forward(batch);
        let valid = trained.valid();
        let path = dir.path().join("tower.safetensors");
        crate::checkpoint::save_weights(&valid, &path).unwrap();
        let plain = Device::flex();
        let loaded =
            crate::checkpoint::load_weights(config(Architecture::Compact).init(&plain), &path).unwrap();
        let values: Vec<f32> = (0..2 * 3 * 32 * 32).map(|i| ((i * 37 % 101) as f32 / 50.0) - 1.0).collect();
        let input = || Tensor::<4>::from_data(TensorData::new(values.clone(), [2, 3, 32, 32]), &plain);
        let before = rows(valid.forward(input()));
        let after = rows(loaded.forward(input()));
        assert_eq!(before, after);
        let fresh = rows(config(Architecture::Compact).init(&plain).forward(input()));
        assert_ne!(before, fresh, "the weights were really loaded");
    }
}
