//! `facecmp watch SOURCE --zone Z`: live access control from a camera, and
//! the same loop for `facecmp serve --camera NAME=SOURCE@ZONE`.

use std::process::{Command, Stdio};
use std::sync::Arc;

use facecmp::Pipeline;
use facecmp_gallery::{Gallery, QualityPolicy, Source};
use facecmp_server::health::CameraBoard;
use facecmp_video::{
    AppearanceWriter, FrameStream, ReadOptions, VideoSource, WatchConfig, WatchDecision, Watcher,
};

use crate::args::{GlobalArgs, WatchArgs};
use crate::commands::access::resolve_threshold;
use crate::commands::gallery::open_for;
use crate::commands::search::{print_stats, read_options, video_error};
use crate::mqtt_args::start_mqtt;
use crate::outcome::{CliError, Outcome};
use crate::pipeline::load_pipeline;
use crate::report::print_json;
use crate::value_parsers::CameraSpec;

pub fn run(global: &GlobalArgs, args: &WatchArgs) -> Result<Outcome, CliError> {
    let mqtt = args.mqtt.config()?;
    let config = global.config_for_gallery(Some(&args.db.db));
    let quality = QualityPolicy { min_face_size: config.min_face_size, ..QualityPolicy::default() };
    let pipeline = Arc::new(load_pipeline(global, config)?);
    let gallery = Arc::new(open_for(&pipeline, &args.db)?);
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
    if source.is_live() || mqtt.is_some() {
        // Reconnects, and the broker coming and going, are logged.
        facecmp_server::init_logging();
    }
    let camera_name = args.name.clone().unwrap_or_else(|| facecmp_video::watch::audit_label(&source.name));
    let cameras = CameraBoard::default();
    cameras.register(&camera_name, &args.zone);
    // Publishes until the watch ends; dropping it says `offline`.
    let _relay = start_mqtt(mqtt.as_ref(), &pipeline, &gallery, &cameras, threshold)?;
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
            |latest| {
                cameras.frame(&camera_name);
                limit.is_none_or(|limit| latest < limit)
            },
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

/// Runs one camera's watch loop on its own thread until the process ends:
/// decisions go to the audit trail (and from there to the event stream)
/// and to the log, and with `index` every confirmed track to that source
/// of the footage index; the camera is reconnected whenever it drops.
pub fn spawn_camera(
    camera: CameraSpec,
    pipeline: std::sync::Arc<Pipeline>,
    gallery: std::sync::Arc<Gallery>,
    threshold: f32,
    quality: QualityPolicy,
    board: CameraBoard,
    index: Option<Source>,
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
                if let Some(source) = &index {
                    let writer = AppearanceWriter {
                        pipeline: &pipeline,
                        gallery: &gallery,
                        threshold,
                        source: source.clone(),
                        live: true,
                    };
                    watcher = watcher.index_into(writer);
                }
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
                        |_| {
                            board.frame(&camera.name);
                            true
                        },
                    )
                    .map_err(video_error)
            });
            let reason = match result {
                Ok(_) => "the source ended".to_string(),
                Err(error) => error.to_string(),
            };
            tracing::warn!(camera = %camera.name, %reason, "camera stopped; restarting in 5 s");
            std::thread::sleep(std::time::Duration::from_secs(5));
            board.reconnect(&camera.name);
        }
    })?;
    Ok(())
}
