//! The learning rate over a run: linear warm-up, then constant or cosine
//! decay to 1 % of the initial rate by the last step.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Schedule {
    Constant,
    /// Cosine decay to 1 % of the initial rate over the whole run.
    Cosine,
}

/// The final rate of a cosine schedule, as a share of the initial one.
const COSINE_FLOOR: f64 = 0.01;

/// A schedule laid out over a run of `total_steps` optimisation steps.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LearningRate {
    pub initial: f64,
    pub schedule: Schedule,
    pub warmup_steps: usize,
    pub total_steps: usize,
}

impl LearningRate {
    /// The rate of optimisation step `step` (0-based, over the whole run).
    pub fn at(&self, step: usize) -> f64 {
        if step < self.warmup_steps {
            return self.initial * (step + 1) as f64 / self.warmup_steps as f64;
        }
        match self.schedule {
            Schedule::Constant => self.initial,
            Schedule::Cosine => {
                let span = self.total_steps.max(1).saturating_sub(self.warmup_steps).max(1) as f64;
                let progress = ((step - self.warmup_steps) as f64 / span).min(1.0);
                let floor = self.initial * COSINE_FLOOR;
                floor + (self.initial - floor) * 0.5 * (1.0 + (std::f64::consts::PI * progress).cos())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cosine(warmup_steps: usize, total_steps: usize) -> LearningRate {
        LearningRate { initial: 0.1, schedule: Schedule::Cosine, warmup_steps, total_steps }
    }

    #[test]
    fn warm_up_rises_linearly_to_the_initial_rate() {
        let rate = cosine(4, 100);
        for (step, expected) in [0.025, 0.05, 0.075, 0.1].into_iter().enumerate() {
            assert!((rate.at(step) - expected).abs() < 1e-15, "step {step}: {}", rate.at(step));
        }
        assert_eq!(rate.at(4), 0.1, "the cosine starts where the warm-up ends");
    }

    #[test]
    fn cosine_decays_to_one_percent_and_stays_there() {
        let rate = cosine(0, 100);
        assert!((rate.at(50) - (0.001 + 0.099 * 0.5)).abs() < 1e-12, "halfway: the mean of both ends");
        assert!((rate.at(100) - 0.001).abs() < 1e-12);
        assert!((rate.at(1000) - 0.001).abs() < 1e-12, "past the planned end the floor holds");
        assert!((1..100).all(|step| rate.at(step) < rate.at(step - 1)), "strictly decreasing");
    }

    #[test]
    fn constant_keeps_the_initial_rate_after_warm_up() {
        let rate =
            LearningRate { initial: 0.05, schedule: Schedule::Constant, warmup_steps: 2, total_steps: 10 };
        assert_eq!([rate.at(0), rate.at(1), rate.at(2), rate.at(9)], [0.025, 0.05, 0.05, 0.05]);
    }
}
