//! Which frames are analysed: a steady rate by presentation time, the same
//! rule in Rust and as an ffmpeg filter. Imports nothing of the crate.

/// Picks frames at a steady rate by their presentation time, whatever the
/// source's own (possibly variable) frame rate.
#[derive(Debug, Clone, Copy)]
pub struct Sampler {
    step: f64,
    /// The grid cell of the last frame taken.
    last_cell: Option<i64>,
}

/// Slack on the sampling grid, so that 25 fps sampled at 5 fps takes every
/// 5th frame rather than missing one on a rounding error.
const SLACK_S: f64 = 1e-3;

impl Sampler {
    /// `fps` samples per second of video; 0 or less takes every frame.
    pub fn new(fps: f64) -> Sampler {
        Sampler { step: if fps > 0.0 { 1.0 / fps } else { 0.0 }, last_cell: None }
    }

    pub fn step(&self) -> f64 {
        self.step
    }

    /// Whether the frame at `time` is sampled: the first frame of each
    /// step-long cell of video time, so that 25 fps sampled at 10 takes
    /// 10 frames a second (alternately every 3rd and 2nd), and after a gap
    /// the next frame.
    pub fn take(&mut self, time: f64) -> bool {
        if self.step <= 0.0 {
            return true;
        }
        let cell = ((time + SLACK_S) / self.step).floor() as i64;
        if self.last_cell.is_some_and(|last| cell <= last) {
            return false;
        }
        self.last_cell = Some(cell);
        true
    }

    /// The same rule as [`take`](Self::take), as an ffmpeg `select` filter:
    /// put before the scaling, it spares ffmpeg scaling and converting the
    /// frames that would be dropped here anyway (most of its work on
    /// 1080p). Every frame it lets through is taken by `take`, since both
    /// see the same presentation times. None when every frame is taken.
    pub fn ffmpeg_select(&self) -> Option<String> {
        (self.step > 0.0).then(|| {
            let cell = |t: &str| format!("floor(({t}+{SLACK_S})/{:.9})", self.step);
            format!("select='isnan(prev_selected_t)+gt({},{})'", cell("t"), cell("prev_selected_t"))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sampling_follows_presentation_times() {
        let mut sampler = Sampler::new(5.0);
        let taken: Vec<usize> = (0..50).filter(|&i| sampler.take(i as f64 / 25.0)).collect();
        assert_eq!(taken, vec![0, 5, 10, 15, 20, 25, 30, 35, 40, 45]);
        // Variable frame rate: after a gap, the next frame.
        let mut sampler = Sampler::new(5.0);
        let times = [0.0, 0.05, 1.0, 1.1, 1.2, 1.3];
        let taken: Vec<f64> = times.iter().copied().filter(|&t| sampler.take(t)).collect();
        assert_eq!(taken, vec![0.0, 1.0, 1.2]);
        let mut every = Sampler::new(0.0);
        assert!((0..5).all(|i| every.take(i as f64 * 0.01)));
        assert_eq!(every.ffmpeg_select(), None);
        assert_eq!(
            Sampler::new(5.0).ffmpeg_select().unwrap(),
            "select='isnan(prev_selected_t)+gt(floor((t+0.001)/0.200000000),floor((prev_selected_t+0.001)/0.200000000))'"
        );
        // 25 fps at 10: ten a second, not every third frame.
        let mut sampler = Sampler::new(10.0);
        assert_eq!((0..50).filter(|&i| sampler.take(i as f64 / 25.0)).count(), 20);
    }
}
