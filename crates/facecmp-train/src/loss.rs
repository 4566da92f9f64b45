//! Contrastive loss (Hadsell, Chopra & LeCun 2006) on the distance between
//! embeddings: genuine pairs are pulled together, impostor pairs pushed at
//! least `margin` apart:
//!
//! ```text
//! L = mean( y·d² + (1 − y)·max(0, m − d)² ),   d = ‖a − b‖₂,  y = 1 for genuine
//! ```
//!
//! With unit-length embeddings d ∈ [0, 2] and d² = 2 − 2·cos.

use burn::tensor::Tensor;

/// Keeps d's gradient finite when two embeddings coincide.
const DISTANCE_EPSILON: f32 = 1e-9;

/// `a`, `b`: `[N, D]` embeddings; `genuine`: `[N]` of 1 (same person) or 0.
/// Returns the mean loss as a one-element tensor.
pub fn contrastive(a: Tensor<2>, b: Tensor<2>, genuine: Tensor<1>, margin: f32) -> Tensor<1> {
    let squared: Tensor<1> = (a - b).powi_scalar(2).sum_dim(1).squeeze_dim(1); // [N]
    let distance = (squared.clone() + DISTANCE_EPSILON).sqrt();
    let pull = genuine.clone() * squared;
    let push = (genuine.neg() + 1.0) * (distance.neg() + margin).clamp_min(0.0).powi_scalar(2);
    (pull + push).mean()
}

/// The same loss for one pair given its distance, on plain numbers (used for
/// validation, where no gradient is needed).
pub fn contrastive_value(distance: f32, genuine: bool, margin: f32) -> f32 {
    if genuine { distance * distance } else { (margin - distance).max(0.0).powi(2) }
}

#[cfg(test)]
mod tests {
    use burn::tensor::{Device, Tensor, TensorData};

    use super::*;

    fn device() -> Device {
        Device::flex().autodiff()
    }

    fn values(t: Tensor<2>) -> Vec<f32> {
        t.into_data().as_slice::<f32>().unwrap().to_vec()
    }

    /// Two pairs in 2-D, margin 1:
    /// genuine a=(1,0), b=(0.6,0.8): d² = 0.16+0.64 = 0.8 → loss 0.8.
    /// impostor a=(1,0), b=(0.8,0.6): d² = 0.04+0.36 = 0.4, d = 0.63246;
    /// (1 − d)² = 0.135089. Mean = (0.8 + 0.135089)/2 = 0.467544.
    /// Gradients of the mean: genuine ∂/∂a = 2(a−b)/2 = (0.4, −0.8);
    /// impostor ∂/∂a = −2(m−d)·(a−b)/d / 2 = −(1−d)(a−b)/d
    ///   = −0.367544·(0.2, −0.6)/0.632456 = (−0.116228, 0.348683).
    #[test]
    fn value_and_gradient_match_a_hand_computed_case() {
        let device = device();
        let a = Tensor::<2>::from_data(TensorData::new(vec![1.0f32, 0.0, 1.0, 0.0], [2, 2]), &device)
            .require_grad();
        let b = Tensor::<2>::from_data(TensorData::new(vec![0.6f32, 0.8, 0.8, 0.6], [2, 2]), &device)
            .require_grad();
        let genuine = Tensor::<1>::from_data(TensorData::new(vec![1.0f32, 0.0], [2]), &device);
        let loss = contrastive(a.clone(), b.clone(), genuine, 1.0);
        let value = loss.clone().into_data().as_slice::<f32>().unwrap()[0];
        assert!((value - 0.467544).abs() < 1e-5, "{value}");
        let grads = loss.backward();
        let grad_a = values(a.grad(&grads).unwrap());
        let expected = [0.4, -0.8, -0.116228, 0.348683];
        for (g, e) in grad_a.iter().zip(expected) {
            assert!((g - e).abs() < 1e-4, "{grad_a:?}");
        }
        let grad_b = values(b.grad(&grads).unwrap());
        for (gb, ga) in grad_b.iter().zip(&grad_a) {
            assert!((gb + ga).abs() < 1e-6, "∂L/∂b = −∂L/∂a");
        }
        assert!((contrastive_value(0.8f32.sqrt(), true, 1.0) - 0.8).abs() < 1e-6);
        assert!((contrastive_value(0.4f32.sqrt(), false, 1.0) - 0.135089).abs() < 1e-5);
        assert_eq!(contrastive_value(1.5, false, 1.0), 0.0, "impostors beyond the margin cost nothing");
    }
}
