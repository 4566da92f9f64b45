//! One ffmpeg process: started on a source, its packed RGB frames read
//! from stdout, each frame's time and size from `showinfo` on stderr, and
//! its failure told in its own error lines.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, sync_channel};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use image::RgbImage;

use crate::source::{ReadOptions, VideoError, VideoSource};

/// Lines of ffmpeg's own messages kept for error reports.
const STDERR_TAIL_LINES: usize = 12;

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
pub(crate) struct Decoder {
    pub(crate) child: Arc<Mutex<Child>>,
    stdout: ChildStdout,
    infos: Receiver<FrameInfo>,
    tail: Arc<Mutex<VecDeque<String>>>,
    pub(crate) duration: Arc<Mutex<Option<f64>>>,
    input: String,
}

impl Decoder {
    pub(crate) fn spawn(source: &VideoSource, options: &ReadOptions) -> Result<Decoder, VideoError> {
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
    pub(crate) fn next(&mut self) -> Result<Option<(f64, RgbImage)>, VideoError> {
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
    pub(crate) fn kill(&self) {
        let _ = self.child.lock().expect("child lock").kill();
    }

    /// Waits for ffmpeg to exit and describes a failure from its own words.
    pub(crate) fn finish(self) -> Result<(), String> {
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
