//! Frames from any video source, decoded by the `ffmpeg` program.
//!
//! facecmp does not link libav*: it runs `ffmpeg … -f rawvideo -pix_fmt
//! rgb24 pipe:1` and reads packed RGB frames from the pipe. Each frame's
//! exact presentation time comes from ffmpeg's `showinfo` filter on stderr
//! (its `pts_time`, so variable-frame-rate files are timed right), printed
//! just before the frame leaves the filter graph; with `-fps_mode
//! passthrough` ffmpeg neither duplicates nor drops frames after it, so the
//! n-th `showinfo` line belongs to the n-th frame on stdout.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, sync_channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use image::RgbImage;

use crate::scan::Sampler;

/// How long to wait for ffmpeg to report a frame before calling it stalled,
/// when the caller sets no other limit.
pub const DEFAULT_STALL_TIMEOUT: Duration = Duration::from_secs(10);

/// Lines of ffmpeg's own messages kept for error reports.
const STDERR_TAIL_LINES: usize = 12;

/// The environment variable naming the ffmpeg program (default: `ffmpeg` on `PATH`).
pub const FFMPEG_ENV: &str = "FACECMP_FFMPEG";

/// What kind of input a source names, which decides how ffmpeg opens it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceKind {
    /// A video file (any container and codec ffmpeg reads).
    File(PathBuf),
    /// A network stream: `rtsp://`, `rtsps://`, `http(s)://`, `tcp://`, `udp://`.
    Stream(String),
    /// A webcam: `/dev/videoN`, read with `-f v4l2`.
    Device(PathBuf),
    /// ffmpeg's synthetic test input, e.g. `lavfi:testsrc2=size=1280x720:rate=25`.
    Lavfi(String),
}

/// A video source as the user named it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VideoSource {
    /// The name used in messages and results (as given).
    pub name: String,
    pub kind: SourceKind,
}

impl VideoSource {
    pub fn parse(text: &str) -> VideoSource {
        let lower = text.to_ascii_lowercase();
        let kind = if let Some(graph) = text.strip_prefix("lavfi:") {
            SourceKind::Lavfi(graph.to_string())
        } else if ["rtsp://", "rtsps://", "http://", "https://", "tcp://", "udp://"]
            .iter()
            .any(|scheme| lower.starts_with(scheme))
        {
            SourceKind::Stream(text.to_string())
        } else if text.starts_with("/dev/video") {
            SourceKind::Device(PathBuf::from(text))
        } else {
            SourceKind::File(PathBuf::from(text))
        };
        VideoSource { name: text.to_string(), kind }
    }

    /// A camera: frames arrive in real time and the stream has no end, so
    /// ffmpeg exiting means "reconnect", not "done".
    pub fn is_live(&self) -> bool {
        matches!(self.kind, SourceKind::Stream(_) | SourceKind::Device(_))
    }

    /// ffmpeg's arguments for reading this source as raw RGB on stdout.
    pub fn ffmpeg_args(&self, options: &ReadOptions) -> Vec<String> {
        let mut args: Vec<String> =
            ["-hide_banner", "-nostdin", "-nostats", "-loglevel", "level+info"].map(String::from).to_vec();
        let input = match &self.kind {
            SourceKind::File(path) => path.display().to_string(),
            SourceKind::Stream(url) => {
                if url.to_ascii_lowercase().starts_with("rtsp") {
                    // UDP transport loses packets on busy networks: smeared frames.
                    args.extend(["-rtsp_transport", "tcp"].map(String::from));
                }
                // A silent camera otherwise hangs ffmpeg for minutes (microseconds).
                args.extend(["-timeout", "5000000"].map(String::from));
                url.clone()
            }
            SourceKind::Device(path) => {
                args.extend(["-f", "v4l2"].map(String::from));
                path.display().to_string()
            }
            SourceKind::Lavfi(graph) => {
                args.extend(["-f", "lavfi"].map(String::from));
                graph.clone()
            }
        };
        if options.realtime {
            args.push("-re".into());
        }
        args.extend(["-i".into(), input]);
        // Frames that will not be analysed are dropped before they are scaled.
        let mut filters: Vec<String> = Sampler::new(options.sample_fps).ffmpeg_select().into_iter().collect();
        if let Some(side) = options.max_side {
            // Fit within side × side, never upscaling.
            filters.push(format!(
                "scale='min(iw,{side})':'min(ih,{side})':force_original_aspect_ratio=decrease:flags=bilinear"
            ));
        }
        filters.extend(["format=rgb24".to_string(), "showinfo=checksum=0".to_string()]);
        args.extend(
            [
                "-map",
                "0:v:0",
                "-an",
                "-sn",
                "-dn",
                "-vf",
                &filters.join(","),
                "-fps_mode",
                "passthrough",
                "-f",
                "rawvideo",
                "-pix_fmt",
                "rgb24",
                "pipe:1",
            ]
            .map(String::from),
        );
        args
    }
}

/// How a source is read.
#[derive(Debug, Clone)]
pub struct ReadOptions {
    /// Scale frames down (in ffmpeg) so neither side exceeds this.
    pub max_side: Option<u32>,
    /// The frames per second of video the caller analyses (0: every
    /// frame): ffmpeg passes on only those, with [`Sampler`]'s rule.
    pub sample_fps: f64,
    /// Pace a file like a camera (`-re`): frames arrive at their own rate and
    /// the reader keeps only the newest.
    pub realtime: bool,
    /// Kill ffmpeg when no frame arrives for this long.
    pub stall_timeout: Duration,
    /// Live sources: keep reconnecting even when the first connection fails
    /// (a service waiting for its camera); otherwise that is an error.
    pub retry_first_connection: bool,
    /// The ffmpeg program.
    pub ffmpeg: PathBuf,
}

impl Default for ReadOptions {
    fn default() -> Self {
        Self {
            max_side: Some(1280),
            sample_fps: 0.0,
            realtime: false,
            stall_timeout: DEFAULT_STALL_TIMEOUT,
            retry_first_connection: false,
            ffmpeg: ffmpeg_program(),
        }
    }
}

/// The ffmpeg program: `$FACECMP_FFMPEG`, else `ffmpeg` on `PATH`.
pub fn ffmpeg_program() -> PathBuf {
    std::env::var_os(FFMPEG_ENV).map_or_else(|| PathBuf::from("ffmpeg"), PathBuf::from)
}

/// The ffmpeg that would run: its full path and version (`facecmp doctor`).
#[derive(Debug, Clone, serde::Serialize)]
pub struct FfmpegInfo {
    pub path: String,
    pub version: String,
}

/// Finds and asks the ffmpeg program for its version.
pub fn ffmpeg_info() -> Result<FfmpegInfo, String> {
    let program = ffmpeg_program();
    let path = if program.components().count() > 1 {
        Some(program.clone())
    } else {
        std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths).map(|dir| dir.join(&program)).find(|candidate| candidate.is_file())
        })
    };
    let path = path.ok_or_else(|| format!("{} not found on PATH", program.display()))?;
    let output = Command::new(&path)
        .args(["-hide_banner", "-version"])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let text = String::from_utf8_lossy(&output.stdout);
    // "ffmpeg version 5.1.9-0+deb12u1 Copyright (c) …"
    let version = text.split_whitespace().nth(2).unwrap_or("unknown").to_string();
    Ok(FfmpegInfo { path: path.display().to_string(), version })
}

/// Why a source cannot be read. Every message starts with the source's name.
#[derive(Debug, Clone, thiserror::Error)]
pub enum VideoError {
    #[error(
        "{input}: cannot run {program}: {reason} (install ffmpeg, e.g. `apt-get install ffmpeg`, or name it in ${FFMPEG_ENV})"
    )]
    FfmpegMissing { input: String, program: String, reason: String },
    #[error("{input}: cannot read video: {message}")]
    Unreadable { input: String, message: String },
    #[error("{input}: no frame for {seconds:.0} s; gave up")]
    Stalled { input: String, seconds: f64 },
    #[error("{input}: reading frames from ffmpeg: {reason}")]
    Pipe { input: String, reason: String },
}

/// One decoded frame.
#[derive(Debug, Clone)]
pub struct Frame {
    /// Seconds from the start of the source: the frame's presentation time
    /// (for live sources, continued across reconnects).
    pub time: f64,
    /// When the frame arrived from ffmpeg.
    pub wall_time: SystemTime,
    pub image: RgbImage,
}

/// What the stderr reader learns per frame.
#[derive(Debug, Clone, Copy)]
struct FrameInfo {
    pts_time: f64,
    width: u32,
    height: u32,
}

/// Parses one `showinfo` frame line: `… n: 12 pts: 480 pts_time:0.48 … s:1280x720 …`.
fn parse_showinfo(line: &str) -> Option<FrameInfo> {
    if !line.contains("Parsed_showinfo") {
        return None;
    }
    let field = |name: &str| {
        let start = line.find(name)? + name.len();
        line[start..].split_whitespace().next()
    };
    let pts_time = field(" pts_time:")?.parse().ok()?;
    let (width, height) = field(" s:")?.split_once('x')?;
    Some(FrameInfo { pts_time, width: width.parse().ok()?, height: height.parse().ok()? })
}

/// `  Duration: 00:01:02.50, start: …` → 62.5 seconds.
fn parse_duration(line: &str) -> Option<f64> {
    let rest = line.split("Duration: ").nth(1)?;
    let clock = rest.split(',').next()?.trim();
    let mut parts = clock.split(':');
    let (h, m, s) = (parts.next()?, parts.next()?, parts.next()?);
    Some(h.parse::<f64>().ok()? * 3600.0 + m.parse::<f64>().ok()? * 60.0 + s.parse::<f64>().ok()?)
}

/// One running ffmpeg process and the frames it produces.
struct Decoder {
    child: Arc<Mutex<Child>>,
    stdout: ChildStdout,
    infos: Receiver<FrameInfo>,
    tail: Arc<Mutex<VecDeque<String>>>,
    duration: Arc<Mutex<Option<f64>>>,
    input: String,
}

impl Decoder {
    fn spawn(source: &VideoSource, options: &ReadOptions) -> Result<Decoder, VideoError> {
        let mut child = Command::new(&options.ffmpeg)
            .args(source.ffmpeg_args(options))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|error| VideoError::FfmpegMissing {
                input: source.name.clone(),
                program: options.ffmpeg.display().to_string(),
                reason: error.to_string(),
            })?;
        let stdout = child.stdout.take().expect("stdout is piped");
        let stderr = child.stderr.take().expect("stderr is piped");
        let tail = Arc::new(Mutex::new(VecDeque::new()));
        let duration = Arc::new(Mutex::new(None));
        // Unbounded in practice: ffmpeg prints one line per frame and the
        // frame reader consumes them in step.
        let (sender, infos) = sync_channel(1024);
        let (thread_tail, thread_duration) = (tail.clone(), duration.clone());
        std::thread::Builder::new()
            .name("ffmpeg-stderr".into())
            .spawn(move || read_stderr(stderr, sender, thread_tail, thread_duration))
            .map_err(|e| VideoError::Pipe { input: source.name.clone(), reason: e.to_string() })?;
        Ok(Decoder {
            child: Arc::new(Mutex::new(child)),
            stdout,
            infos,
            tail,
            duration,
            input: source.name.clone(),
        })
    }

    /// The next frame's presentation time and pixels; `None` at the end of
    /// ffmpeg's output (finished, failed or killed: see [`Decoder::finish`]).
    fn next(&mut self) -> Result<Option<(f64, RgbImage)>, VideoError> {
        let info = loop {
            match self.infos.recv_timeout(Duration::from_millis(500)) {
                Ok(info) => break info,
                Err(RecvTimeoutError::Timeout) => continue,
                Err(RecvTimeoutError::Disconnected) => return Ok(None),
            }
        };
        let mut pixels = vec![0u8; info.width as usize * info.height as usize * 3];
        match self.stdout.read_exact(&mut pixels) {
            Ok(()) => {}
            Err(error) if error.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
            Err(error) => {
                return Err(VideoError::Pipe { input: self.input.clone(), reason: error.to_string() });
            }
        }
        let image = RgbImage::from_raw(info.width, info.height, pixels).expect("buffer sized to the frame");
        Ok(Some((info.pts_time, image)))
    }

    /// Kills ffmpeg (SIGKILL: a stalled ffmpeg may ignore SIGTERM).
    fn kill(&self) {
        let _ = self.child.lock().expect("child lock").kill();
    }

    /// Waits for ffmpeg to exit and describes a failure from its own words.
    fn finish(self) -> Result<(), String> {
        drop(self.stdout);
        let status = self.child.lock().expect("child lock").wait().map_err(|e| e.to_string())?;
        if status.success() {
            return Ok(());
        }
        Err(describe_failure(&self.tail.lock().expect("tail lock"), status))
    }
}

fn read_stderr(
    stderr: std::process::ChildStderr,
    infos: SyncSender<FrameInfo>,
    tail: Arc<Mutex<VecDeque<String>>>,
    duration: Arc<Mutex<Option<f64>>>,
) {
    for line in BufReader::new(stderr).split(b'\n') {
        let Ok(line) = line else { break };
        let line = String::from_utf8_lossy(&line);
        let line = line.trim_end();
        if let Some(info) = parse_showinfo(line) {
            if infos.send(info).is_err() {
                break;
            }
            continue;
        }
        if line.contains("Parsed_showinfo") {
            continue;
        }
        if let Some(seconds) = parse_duration(line) {
            duration.lock().expect("duration lock").get_or_insert(seconds);
        }
        let mut tail = tail.lock().expect("tail lock");
        if tail.len() == STDERR_TAIL_LINES {
            tail.pop_front();
        }
        tail.push_back(line.to_string());
    }
}

/// ffmpeg's error lines (`[error]`, `[fatal]`), else its last line.
fn describe_failure(tail: &VecDeque<String>, status: std::process::ExitStatus) -> String {
    let errors: Vec<&str> = tail
        .iter()
        .filter_map(|line| {
            let at = line.find("[error] ").map(|i| i + 8).or_else(|| line.find("[fatal] ").map(|i| i + 8))?;
            Some(line[at..].trim())
        })
        // ffmpeg's advice on its own command line means nothing to our user.
        .filter(|message| !message.is_empty() && !message.starts_with("To ignore this"))
        .collect();
    let message = match errors.as_slice() {
        [] => tail.back().map_or_else(|| format!("ffmpeg exited with {status}"), |line| line.clone()),
        // The last errors carry the verdict; earlier ones are usually context.
        [.., a, b] if errors.len() >= 2 && a != b => format!("{a}; {b}"),
        [.., last] => last.to_string(),
    };
    message.replace("[info] ", "")
}

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
                    let offset = if source.is_live() { connected_at.max(*last_time) } else { 0.0 };
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
    fn sources_are_recognised_by_their_names() {
        assert!(matches!(VideoSource::parse("clip.mp4").kind, SourceKind::File(_)));
        assert!(matches!(VideoSource::parse("RTSP://cam/1").kind, SourceKind::Stream(_)));
        assert!(matches!(VideoSource::parse("/dev/video0").kind, SourceKind::Device(_)));
        assert!(matches!(VideoSource::parse("lavfi:testsrc2").kind, SourceKind::Lavfi(_)));
        assert!(VideoSource::parse("udp://0.0.0.0:5000").is_live());
        assert!(!VideoSource::parse("clip.mkv").is_live());
    }

    #[test]
    fn rtsp_is_read_over_tcp_with_a_socket_timeout() {
        let args = VideoSource::parse("rtsp://127.0.0.1:8554/live").ffmpeg_args(&ReadOptions::default());
        let joined = args.join(" ");
        assert!(joined.contains("-rtsp_transport tcp -timeout 5000000 -i rtsp://"), "{joined}");
        assert!(joined.ends_with("-f rawvideo -pix_fmt rgb24 pipe:1"), "{joined}");
        let http = VideoSource::parse("http://cam/stream").ffmpeg_args(&ReadOptions::default()).join(" ");
        assert!(!http.contains("rtsp_transport"), "{http}");
    }

    #[test]
    fn showinfo_lines_give_exact_times_and_sizes() {
        let line = "[Parsed_showinfo_2 @ 0x55] [info] n:  12 pts:  12288 pts_time:0.48    pos: 1 fmt:rgb24 sar:1/1 s:640x360 i:P iskey:0 type:P";
        let info = parse_showinfo(line).unwrap();
        assert_eq!((info.pts_time, info.width, info.height), (0.48, 640, 360));
        assert!(parse_showinfo("[Parsed_showinfo_2 @ 0x55] [info] config in time_base: 1/10").is_none());
        assert!(parse_showinfo("[info] n: 1 pts_time:2 s:3x4").is_none());
    }

    #[test]
    fn durations_are_read_from_the_input_banner() {
        assert_eq!(
            parse_duration("[info]   Duration: 00:01:02.50, start: 0.000000, bitrate: 9 kb/s"),
            Some(62.5)
        );
        assert_eq!(parse_duration("[info]   Duration: N/A, start: 0.000000"), None);
    }

    #[test]
    fn failures_are_told_in_ffmpegs_own_error_lines() {
        let tail: VecDeque<String> = [
            "[info] Input #0",
            "[tcp @ 0x1] [error] Connection to tcp://127.0.0.1:1 failed: Connection refused",
            "[error] rtsp://127.0.0.1:1/x: Connection refused",
        ]
        .map(String::from)
        .into();
        let status = std::process::Command::new("false").status().unwrap();
        assert_eq!(
            describe_failure(&tail, status),
            "Connection to tcp://127.0.0.1:1 failed: Connection refused; rtsp://127.0.0.1:1/x: Connection refused"
        );
    }

    #[test]
    fn reconnects_back_off_up_to_ten_seconds() {
        assert_eq!(backoff(0), Duration::from_millis(500));
        assert_eq!(backoff(1), Duration::from_secs(1));
        assert_eq!(backoff(30), Duration::from_secs(10));
    }
}
