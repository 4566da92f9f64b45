//! `facecmp watch SOURCE --zone Z`: live access control from a camera, and
//! the same loop for `facecmp serve --camera NAME=SOURCE@ZONE`.

use std::process::{Command, Stdio};

use facecmp::Pipeline;
use facecmp_gallery::{Gallery, QualityPolicy};
use facecmp_video::{FrameStream, ReadOptions, VideoSource, WatchConfig, WatchDecision, Watcher};

use crate::args::{GlobalArgs, WatchArgs};
use crate::commands::access::resolve_threshold;
use crate::commands::gallery::open_for;
use crate::commands::search::{print_stats, read_options, video_error};
use crate::report::print_json;
use crate::{CliError, Outcome};

pub fn run(global: &GlobalArgs, args: &WatchArgs) -> Result<Outcome, CliError> {
    let config = global.config();
    let quality = QualityPolicy { min_face_size: config.min_face_size, ..QualityPolicy::default() };
    let pipeline = crate::load_pipeline(global, config)?;
    let gallery = open_for(&pipeline, &args.db)?;
    if gallery.zone(&args.zone)?.is_none() {
        return Err(CliError::Video(format!("no zone named `{}` in {}", args.zone, gallery.path())));
    }
    let threshold = resolve_threshold(&pipeline, &args.threshold)?;
    let mut watch = WatchConfig::new(&args.zone, threshold);
    watch.fps = args.fps;
    watch.confirm = args.confirm as usize;
    watch.window = args.window.max(args.confirm) as usize;
    watch.cooldown = args.cooldown;
    watch.quality = quality;
    watch.source_label = args.name.clone();
    let source = VideoSource::parse(&args.source);
    if source.is_live() {
        // Reconnects are logged.
        facecmp_server::init_logging();
    }
    let mut stream = FrameStream::open(&source, &read_options(&args.video, args.fps)).map_err(video_error)?;
    let mut relays: Vec<std::process::Child> = Vec::new();
    let mut watcher = Watcher::new(&pipeline, &gallery, watch).map_err(video_error)?;
    let limit = args.video.duration;
    let timings = watcher
        .run(
            &mut stream,
            |decision| {
                if args.json {
                    // The decision is already in the audit trail and the relay
                    // must still fire: a broken stdout is reported, not fatal.
                    if let Err(error) = print_json(decision) {
                        eprintln!("facecmp: {error}");
                    }
                } else {
                    println!("{}", describe(decision));
                }
                if decision.allowed
                    && let Some(command) = &args.on_allow
                {
                    // Reap finished relays so a long watch leaves no zombies.
                    relays.retain_mut(|relay| matches!(relay.try_wait(), Ok(None)));
                    relays.extend(run_on_allow(command, decision));
                }
            },
            |latest| limit.is_none_or(|limit| latest < limit),
        )
        .map_err(video_error)?;
    if args.video.stats {
        print_stats(&args.source, &timings, stream.stats());
    }
    // A relay started for an allow is never cut short by our exit.
    for mut relay in relays {
        let _ = relay.wait();
    }
    Ok(Outcome::Yes)
}

fn describe(d: &WatchDecision) -> String {
    let verdict = if d.allowed { "ALLOW" } else { "DENY " };
    let person = d.person.as_deref().map(|p| format!(" {p}")).unwrap_or_default();
    format!(
        "{} {verdict} zone {}{person}: {} ({}) track {} event {}",
        facecmp_video::sheet::clock(d.time),
        d.zone,
        d.reason,
        d.detail,
        d.track,
        d.event_id
    )
}

/// Starts the relay command for an allow without waiting for it (the
/// camera keeps going); a failure is reported, never retried (the door must
/// not open twice).
fn run_on_allow(command: &str, d: &WatchDecision) -> Option<std::process::Child> {
    let spawned = Command::new("sh")
        .arg("-c")
        .arg(command)
        .env("FACECMP_ZONE", &d.zone)
        .env("FACECMP_PERSON", d.person.as_deref().unwrap_or(""))
        .env("FACECMP_SIMILARITY", d.similarity.map(|s| format!("{s:.4}")).unwrap_or_default())
        .env("FACECMP_TRACK", d.track.to_string())
        .env("FACECMP_EVENT_ID", d.event_id.to_string())
        .env("FACECMP_TIME", format!("{:.3}", d.time))
        .env("FACECMP_WALL_TIME", format!("{:.3}", d.wall_time))
        .env("FACECMP_SOURCE", &d.source)
        .stdin(Stdio::null())
        .spawn();
    match spawned {
        Ok(child) => Some(child),
        Err(error) => {
            eprintln!("facecmp: --on-allow: cannot run `{command}`: {error}");
            None
        }
    }
}

/// A camera watched inside `facecmp serve`: `NAME=SOURCE@ZONE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CameraSpec {
    pub name: String,
    pub source: String,
    pub zone: String,
}

/// Parses `NAME=SOURCE@ZONE` (the zone follows the last `@`, so a URL may
/// carry `user:password@host`). NAME is what the audit trail records as the
/// source of the camera's decisions, so it must be a name the gallery takes.
pub fn parse_camera(text: &str) -> Result<CameraSpec, String> {
    let usage = || {
        let shown: String = text.chars().take(80).collect();
        format!("{shown:?}: a camera is NAME=SOURCE@ZONE, e.g. lift=rtsp://10.0.0.5/stream@5")
    };
    let (name, rest) = text.split_once('=').ok_or_else(usage)?;
    let (source, zone) = rest.rsplit_once('@').ok_or_else(usage)?;
    if name.is_empty() || source.is_empty() || zone.is_empty() {
        return Err(usage());
    }
    parse_source_name(name)?;
    facecmp_gallery::validate_name("zone", zone).map_err(|e| e.to_string())?;
    Ok(CameraSpec { name: name.into(), source: source.into(), zone: zone.into() })
}

/// A camera's name as the audit trail will record it (checked now: the
/// gallery would refuse it at the first decision, long after start-up).
pub fn parse_source_name(name: &str) -> Result<String, String> {
    facecmp_gallery::validate_name("camera", name).map_err(|e| e.to_string())?;
    Ok(name.to_string())
}

/// Refuses two cameras of one name: their decisions could not be told apart.
pub fn check_camera_names(cameras: &[CameraSpec]) -> Result<(), String> {
    for (i, camera) in cameras.iter().enumerate() {
        if cameras[..i].iter().any(|other| other.name == camera.name) {
            return Err(format!(
                "--camera: two cameras are named {:?}; each needs its own name",
                camera.name
            ));
        }
    }
    Ok(())
}

/// Runs one camera's watch loop on its own thread until the process ends:
/// decisions go to the audit trail (and from there to the event stream)
/// and to the log; the camera is reconnected whenever it drops.
pub fn spawn_camera(
    camera: CameraSpec,
    pipeline: std::sync::Arc<Pipeline>,
    gallery: std::sync::Arc<Gallery>,
    threshold: f32,
    quality: QualityPolicy,
) -> std::io::Result<()> {
    std::thread::Builder::new().name(format!("camera {}", camera.name)).spawn(move || {
        let mut config = WatchConfig::new(&camera.zone, threshold);
        config.quality = quality;
        config.source_label = Some(camera.name.clone());
        let source = VideoSource::parse(&camera.source);
        // A file stands in for a camera (a demo, a test): played at its own
        // rate, not decoded flat out and replayed every few seconds.
        let read = ReadOptions {
            sample_fps: config.fps,
            retry_first_connection: true,
            realtime: !source.is_live(),
            ..ReadOptions::default()
        };
        loop {
            let result = FrameStream::open(&source, &read).map_err(video_error).and_then(|mut stream| {
                let mut watcher = Watcher::new(&pipeline, &gallery, config.clone()).map_err(video_error)?;
                watcher
                    .run(
                        &mut stream,
                        |d| {
                            tracing::info!(
                                camera = %camera.name,
                                zone = %d.zone,
                                allowed = d.allowed,
                                reason = %d.reason,
                                person = d.person.as_deref().unwrap_or(""),
                                track = d.track,
                                event_id = d.event_id,
                                "access decision"
                            );
                        },
                        |_| true,
                    )
                    .map_err(video_error)
            });
            let reason = match result {
                Ok(_) => "the source ended".to_string(),
                Err(error) => error.to_string(),
            };
            tracing::warn!(camera = %camera.name, %reason, "camera stopped; restarting in 5 s");
            std::thread::sleep(std::time::Duration::from_secs(5));
        }
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cameras_are_name_source_and_zone() {
        let camera = parse_camera("lift=rtsp://user:pw@10.0.0.5:554/stream@5").unwrap();
        assert_eq!(camera.name, "lift");
        assert_eq!(camera.source, "rtsp://user:pw@10.0.0.5:554/stream");
        assert_eq!(camera.zone, "5");
        assert!(parse_camera("lift").is_err());
        assert!(parse_camera("lift=clip.mp4").is_err());
        assert!(parse_camera("=clip.mp4@5").is_err());
        assert!(parse_camera("lift\u{202E}=clip.mp4@5").is_err());
        assert!(parse_camera("lift\n=clip.mp4@5").is_err());
        assert!(parse_camera(&format!("{}=clip.mp4@5", "x".repeat(201))).is_err());
        assert!(parse_camera("lift=clip.mp4@5\u{1b}").is_err());
    }

    #[test]
    fn two_cameras_may_not_share_a_name() {
        let a = parse_camera("lift=a.mp4@5").unwrap();
        let b = parse_camera("door=b.mp4@5").unwrap();
        assert!(check_camera_names(&[a.clone(), b.clone()]).is_ok());
        assert!(check_camera_names(&[a.clone(), b, a]).is_err());
    }
}
