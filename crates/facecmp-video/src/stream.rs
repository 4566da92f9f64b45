//! [`FrameStream`]: the frames of one source, from a reader thread that
//! runs ffmpeg (again and again for a camera that drops), continues times
//! across reconnects, and hands over every frame of a file or the newest
//! of a camera.

use std::collections::VecDeque;
use std::process::Child;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use crate::decoder::Decoder;
use crate::source::{Frame, ReadOptions, VideoError, VideoSource};

/// Counters a caller can show: how far the reader got and what it dropped.
#[derive(Debug, Default)]
pub struct ReaderStats {
    /// Frames read from ffmpeg: those the sampling rate lets through.
    pub decoded: std::sync::atomic::AtomicU64,
    /// Frames replaced by a newer one before they were taken (live only).
    pub dropped: std::sync::atomic::AtomicU64,
    pub reconnects: std::sync::atomic::AtomicU64,
    /// The source's duration in seconds, when ffmpeg reports one (× 1000).
    pub duration_ms: std::sync::atomic::AtomicU64,
}

impl ReaderStats {
    pub fn decoded(&self) -> u64 {
        self.decoded.load(Ordering::Relaxed)
    }
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
    pub fn reconnects(&self) -> u64 {
        self.reconnects.load(Ordering::Relaxed)
    }
    /// The duration ffmpeg announced, if any (files; not cameras).
    pub fn duration(&self) -> Option<f64> {
        match self.duration_ms.load(Ordering::Relaxed) {
            0 => None,
            ms => Some(ms as f64 / 1000.0),
        }
    }
}

/// Where the reader thread leaves frames for the consumer.
enum Delivery {
    /// Files: every frame, in order, with back-pressure on ffmpeg.
    Queue(Mutex<VecDeque<Result<Frame, VideoError>>>),
    /// Cameras and paced files: only the newest frame; older ones are dropped.
    Newest(Mutex<Option<Result<Frame, VideoError>>>),
}

struct Shared {
    delivery: Delivery,
    ready: std::sync::Condvar,
    finished: AtomicBool,
    stop: AtomicBool,
    current: Mutex<Option<Arc<Mutex<Child>>>>,
    stats: ReaderStats,
}

/// Frames of one source, produced by a reader thread running ffmpeg.
///
/// Dropping it stops the reader and kills ffmpeg.
pub struct FrameStream {
    shared: Arc<Shared>,
    pub source: VideoSource,
}

const QUEUE_FRAMES: usize = 4;

impl FrameStream {
    /// Starts reading. Fails at once only when ffmpeg cannot be started;
    /// other problems arrive as the stream's first item.
    pub fn open(source: &VideoSource, options: &ReadOptions) -> Result<FrameStream, VideoError> {
        let newest_only = source.is_live() || options.realtime;
        let delivery = if newest_only {
            Delivery::Newest(Mutex::new(None))
        } else {
            Delivery::Queue(Mutex::new(VecDeque::new()))
        };
        let shared = Arc::new(Shared {
            delivery,
            ready: std::sync::Condvar::new(),
            finished: AtomicBool::new(false),
            stop: AtomicBool::new(false),
            current: Mutex::new(None),
            stats: ReaderStats::default(),
        });
        // Fail fast and clearly when ffmpeg is missing.
        let first = Decoder::spawn(source, options)?;
        let (thread_shared, thread_source, thread_options) =
            (shared.clone(), source.clone(), options.clone());
        std::thread::Builder::new()
            .name(format!("video {}", source.name))
            .spawn(move || {
                let shared_for_end = thread_shared.clone();
                read_source(first, &thread_source, &thread_options, &thread_shared);
                shared_for_end.finished.store(true, Ordering::SeqCst);
                shared_for_end.ready.notify_all();
            })
            .map_err(|e| VideoError::Pipe { input: source.name.clone(), reason: e.to_string() })?;
        Ok(FrameStream { shared, source: source.clone() })
    }

    pub fn stats(&self) -> &ReaderStats {
        &self.shared.stats
    }

    /// The next frame (files: every frame; live: the newest one), or `None`
    /// at the end of a file.
    pub fn next_frame(&mut self) -> Option<Result<Frame, VideoError>> {
        let shared = &self.shared;
        match &shared.delivery {
            Delivery::Queue(queue) => {
                let mut queue = queue.lock().expect("queue lock");
                loop {
                    if let Some(item) = queue.pop_front() {
                        shared.ready.notify_all();
                        return Some(item);
                    }
                    if shared.finished.load(Ordering::SeqCst) {
                        return None;
                    }
                    queue = shared.ready.wait(queue).expect("queue lock");
                }
            }
            Delivery::Newest(slot) => {
                let mut slot = slot.lock().expect("slot lock");
                loop {
                    if let Some(item) = slot.take() {
                        return Some(item);
                    }
                    if shared.finished.load(Ordering::SeqCst) {
                        return None;
                    }
                    slot = shared.ready.wait(slot).expect("slot lock");
                }
            }
        }
    }
}

impl Iterator for FrameStream {
    type Item = Result<Frame, VideoError>;
    fn next(&mut self) -> Option<Self::Item> {
        self.next_frame()
    }
}

impl Drop for FrameStream {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        if let Some(child) = self.shared.current.lock().expect("current lock").as_ref() {
            let _ = child.lock().expect("child lock").kill();
        }
        self.shared.ready.notify_all();
    }
}

impl Shared {
    /// Hands a frame (or an error) to the consumer; false once the consumer
    /// has gone.
    fn deliver(&self, item: Result<Frame, VideoError>) -> bool {
        match &self.delivery {
            Delivery::Queue(queue) => {
                let mut queue = queue.lock().expect("queue lock");
                while queue.len() >= QUEUE_FRAMES && !self.stop.load(Ordering::SeqCst) {
                    queue = self.ready.wait(queue).expect("queue lock");
                }
                queue.push_back(item);
            }
            Delivery::Newest(slot) => {
                let mut slot = slot.lock().expect("slot lock");
                if matches!(slot.replace(item), Some(Ok(_))) {
                    self.stats.dropped.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        self.ready.notify_all();
        !self.stop.load(Ordering::SeqCst)
    }
}

/// ffmpeg's reason, without the source's name that it often starts with
/// (the error names the source already).
fn unreadable(source: &VideoSource, message: String) -> VideoError {
    let prefix = format!("{}: ", source.name);
    let message = message.strip_prefix(&prefix).map(str::to_string).unwrap_or(message);
    VideoError::Unreadable { input: source.name.clone(), message }
}

/// Backoff between reconnects: doubles from half a second up to ten.
fn backoff(failures: u32) -> Duration {
    Duration::from_millis(500u64.saturating_mul(1 << failures.min(5))).min(Duration::from_secs(10))
}

/// The reader thread: runs ffmpeg (again and again for live sources) and
/// delivers frames with times continued across reconnects.
fn read_source(first: Decoder, source: &VideoSource, options: &ReadOptions, shared: &Shared) {
    let live = source.is_live();
    let opened = Instant::now();
    let mut decoder = Some(first);
    let mut ever_delivered = false;
    let mut failures = 0u32;
    let mut last_time = f64::NEG_INFINITY;
    loop {
        let current = match decoder.take() {
            Some(decoder) => decoder,
            None => match Decoder::spawn(source, options) {
                Ok(decoder) => decoder,
                Err(error) => {
                    shared.deliver(Err(error));
                    return;
                }
            },
        };
        let outcome = run_decoder(current, source, options, shared, opened, &mut last_time);
        let delivered = outcome.frames > 0;
        let stalled = outcome.stalled();
        ever_delivered |= delivered;
        if shared.stop.load(Ordering::SeqCst) {
            return;
        }
        let failure = match outcome.end {
            End::Error(error) => {
                shared.deliver(Err(error));
                return;
            }
            End::Finished(result) => result.err(),
            End::Stalled => Some(format!("no frame for {:.0} s", options.stall_timeout.as_secs_f64())),
        };
        // How this attempt failed, for a source that will not be retried.
        let ended = |message: String| {
            if stalled {
                VideoError::Stalled {
                    input: source.name.clone(),
                    seconds: options.stall_timeout.as_secs_f64(),
                }
            } else {
                unreadable(source, message)
            }
        };
        if !live {
            if let Some(message) = failure {
                shared.deliver(Err(ended(message)));
            } else if !delivered {
                shared.deliver(Err(VideoError::Unreadable {
                    input: source.name.clone(),
                    message: "no video frames".into(),
                }));
            }
            return;
        }
        if !ever_delivered && !options.retry_first_connection {
            let message = failure.unwrap_or_else(|| "the stream ended before its first frame".into());
            shared.deliver(Err(ended(message)));
            return;
        }
        failures = if delivered { 0 } else { failures + 1 };
        let wait = backoff(failures);
        tracing::warn!(
            source = %source.name,
            reason = failure.as_deref().unwrap_or("the stream ended"),
            retry_in_s = wait.as_secs_f64(),
            "camera disconnected; reconnecting"
        );
        shared.stats.reconnects.fetch_add(1, Ordering::Relaxed);
        let resume = Instant::now() + wait;
        while Instant::now() < resume {
            if shared.stop.load(Ordering::SeqCst) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

enum End {
    Finished(Result<(), String>),
    Stalled,
    Error(VideoError),
}

struct Outcome {
    frames: u64,
    end: End,
}

impl Outcome {
    fn stalled(&self) -> bool {
        matches!(self.end, End::Stalled)
    }
}

/// Reads one ffmpeg run to its end, with a watchdog that kills it when
/// frames stop coming.
fn run_decoder(
    mut decoder: Decoder,
    source: &VideoSource,
    options: &ReadOptions,
    shared: &Shared,
    opened: Instant,
    last_time: &mut f64,
) -> Outcome {
    *shared.current.lock().expect("current lock") = Some(decoder.child.clone());
    if shared.stop.load(Ordering::SeqCst) {
        decoder.kill();
    }
    let progress = Arc::new(Mutex::new(Instant::now()));
    let stalled = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicBool::new(false));
    let watchdog = {
        let (progress, stalled, done, child) =
            (progress.clone(), stalled.clone(), done.clone(), decoder.child.clone());
        let limit = options.stall_timeout;
        std::thread::spawn(move || {
            while !done.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(100));
                if progress.lock().expect("progress lock").elapsed() > limit {
                    stalled.store(true, Ordering::SeqCst);
                    let _ = child.lock().expect("child lock").kill();
                    return;
                }
            }
        })
    };
    // Live times continue from where the previous connection stopped.
    let connected_at = opened.elapsed().as_secs_f64();
    let mut origin: Option<(f64, f64)> = None;
    let mut frames = 0u64;
    let end = loop {
        match decoder.next() {
            Ok(Some((pts, image))) => {
                *progress.lock().expect("progress lock") = Instant::now();
                // Fixed at the connection's first frame: its time zero.
                let (origin, offset) = *origin.get_or_insert_with(|| {
                    // A file read from `start_at` keeps its times in the file.
                    let offset = if source.is_live() {
                        connected_at.max(*last_time)
                    } else {
                        options.start_at.max(0.0)
                    };
                    (pts, offset)
                });
                let time = offset + (pts - origin).max(0.0);
                *last_time = time;
                frames += 1;
                shared.stats.decoded.fetch_add(1, Ordering::Relaxed);
                if frames == 1
                    && let Some(duration) = *decoder.duration.lock().expect("duration lock")
                {
                    shared.stats.duration_ms.store((duration * 1000.0) as u64, Ordering::Relaxed);
                }
                let frame = Frame { time, wall_time: SystemTime::now(), image };
                if !shared.deliver(Ok(frame)) {
                    decoder.kill();
                }
                // A slow consumer of a file is not a stalled source.
                *progress.lock().expect("progress lock") = Instant::now();
            }
            Ok(None) => break None,
            Err(error) => break Some(error),
        }
    };
    done.store(true, Ordering::SeqCst);
    let _ = watchdog.join();
    if end.is_some() {
        decoder.kill();
    }
    let was_stalled = stalled.load(Ordering::SeqCst);
    let finished = decoder.finish();
    let end = match end {
        Some(error) => End::Error(error),
        None if was_stalled => End::Stalled,
        None => End::Finished(finished),
    };
    Outcome { frames, end }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reconnects_back_off_up_to_ten_seconds() {
        assert_eq!(backoff(0), Duration::from_millis(500));
        assert_eq!(backoff(1), Duration::from_secs(1));
        assert_eq!(backoff(30), Duration::from_secs(10));
    }
}
