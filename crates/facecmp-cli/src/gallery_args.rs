//! Arguments of the gallery, access-control and service commands.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Subcommand, ValueEnum};
use facecmp_gallery::GalleryLocation;

use crate::mqtt_args::MqttArgs;
use crate::value_parsers::{
    CameraSpec, MAX_THREADS, parse_camera, parse_cosine, parse_rate, parse_retention, parse_source_name,
};

/// The gallery every gallery command works on.
#[derive(Debug, Args)]
pub struct DbArg {
    /// The gallery: an SQLite file made by `facecmp gallery init`, or a
    /// PostgreSQL database, `postgres://user@host/db` (the password is best
    /// given in PGPASSWORD, not on the command line).
    #[arg(long, env = "FACECMP_DB", value_name = "DB")]
    pub db: GalleryLocation,
}

/// How the match threshold is chosen.
#[derive(Debug, Args)]
pub struct ThresholdArgs {
    /// Target false-accept rate: the threshold is the one calibrated for it
    /// (see `models/sface-calibration.json`).
    #[arg(long, value_name = "RATE", default_value_t = facecmp::compare::DEFAULT_FAR, conflicts_with = "threshold",
          value_parser = parse_rate)]
    pub far: f64,
    /// An explicit cosine-similarity threshold instead of a FAR target.
    #[arg(long, value_name = "T", allow_negative_numbers = true, value_parser = parse_cosine)]
    pub threshold: Option<f32>,
}

impl ThresholdArgs {
    /// What was asked for: `--far` always has a value here (its default is
    /// the access commands' rate), so a threshold is never the published one.
    pub fn choice(&self) -> facecmp::ThresholdChoice {
        facecmp::ThresholdChoice { threshold: self.threshold, far: Some(self.far) }
    }
}

#[derive(Debug, Subcommand)]
pub enum GalleryCommand {
    /// Create an empty gallery, pinned to the embedder in use: an SQLite
    /// file, or the schema in an empty PostgreSQL database (a URL).
    Init {
        #[arg(value_name = "DB")]
        db: GalleryLocation,
    },
    /// What a gallery holds and is pinned to, and what moving it to another
    /// embedder would take (loads no model).
    Info {
        #[arg(value_name = "DB")]
        db: GalleryLocation,
        #[arg(long)]
        json: bool,
    },
    /// Copy a gallery into a new one for the embedder that `--embedder`
    /// names: each sample's kept face thumbnail is embedded again; zones and
    /// grants are copied. The old gallery is not changed.
    Migrate {
        #[arg(value_name = "DB")]
        db: GalleryLocation,
        /// The new gallery (an SQLite file or an empty PostgreSQL database).
        #[arg(long, value_name = "NEW_DB")]
        to: GalleryLocation,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Args)]
pub struct EnrollArgs {
    #[command(flatten)]
    pub db: DbArg,
    /// The person's name (created on their first accepted photo).
    #[arg(long)]
    pub name: String,
    /// An identifier from another system (badge number, HR id).
    #[arg(long, value_name = "ID")]
    pub external_id: Option<String>,
    /// Also grant the person these zones.
    #[arg(long = "zone", value_name = "ZONE")]
    pub zones: Vec<String>,
    /// Also refuse a photo that looks more like another enrolled person than
    /// like this one.
    #[arg(long)]
    pub strict: bool,
    /// Print one JSON object per photo.
    #[arg(long)]
    pub json: bool,
    #[arg(required = true, value_name = "IMG")]
    pub images: Vec<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    #[command(flatten)]
    pub db: DbArg,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct RemoveArgs {
    #[command(flatten)]
    pub db: DbArg,
    /// The person to erase, with every sample, grant and trace in the audit trail.
    pub name: String,
}

#[derive(Debug, Args)]
pub struct GrantArgs {
    #[command(flatten)]
    pub db: DbArg,
    pub name: String,
    /// The zone (created if new), e.g. a floor.
    #[arg(long)]
    pub zone: String,
    /// Valid from this instant (RFC 3339, e.g. 2026-12-01T08:00:00Z).
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    pub from: Option<i64>,
    /// Valid until this instant (RFC 3339).
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    pub until: Option<i64>,
}

#[derive(Debug, Args)]
pub struct RevokeArgs {
    #[command(flatten)]
    pub db: DbArg,
    pub name: String,
    #[arg(long)]
    pub zone: String,
}

#[derive(Debug, Args)]
pub struct ZoneArgs {
    #[command(flatten)]
    pub db: DbArg,
    /// The zone (created if new).
    pub name: String,
    /// Whether a photo with several usable faces is judged by its largest
    /// face (true) or denied as `multiple_faces` (false, the default).
    #[arg(long, value_name = "BOOL", default_value_t = false, action = clap::ArgAction::Set)]
    pub allow_multiple_faces: bool,
    /// Keep the face crop of each access decision for this long (e.g. `7d`,
    /// `24h`; 1 minute to 365 days), to review in the console; `off` (the
    /// default) keeps none. Crops are biometric data: erasing a person
    /// deletes theirs, and turning this off deletes the zone's.
    #[arg(long, value_name = "DURATION", value_parser = parse_crop_retention)]
    pub keep_probe_crops: Option<Retention>,
}

/// How long a zone keeps probe crops: `off`, or a duration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention(pub Option<i64>);

fn parse_crop_retention(text: &str) -> Result<Retention, String> {
    if text.eq_ignore_ascii_case("off") {
        return Ok(Retention(None));
    }
    let duration = humantime::parse_duration(text)
        .map_err(|error| format!("`{text}` is neither `off` nor a duration like 7d or 24h: {error}"))?;
    let seconds = i64::try_from(duration.as_secs()).map_err(|_| format!("{text} is far too long"))?;
    facecmp_gallery::crops::validate_retention(Some(seconds))?;
    Ok(Retention(Some(seconds)))
}

#[derive(Debug, Args)]
pub struct EventsArgs {
    #[command(flatten)]
    pub db: DbArg,
    #[arg(long)]
    pub zone: Option<String>,
    #[arg(long, value_enum)]
    pub decision: Option<DecisionFilter>,
    /// Only events at or after this instant (RFC 3339).
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    pub since: Option<i64>,
    /// Only events before this instant (RFC 3339).
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    pub until: Option<i64>,
    /// At most this many, newest first.
    #[arg(long, default_value_t = 50)]
    pub limit: usize,
    /// Print JSON Lines instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DecisionFilter {
    Allow,
    Deny,
}

#[derive(Debug, Args)]
pub struct IdentifyArgs {
    #[command(flatten)]
    pub db: DbArg,
    #[arg(value_name = "IMG")]
    pub image: PathBuf,
    /// Only consider people with a valid grant for this zone.
    #[arg(long)]
    pub zone: Option<String>,
    /// How many candidates to list per face.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u16).range(1..=1000))]
    pub top: u16,
    #[command(flatten)]
    pub threshold: ThresholdArgs,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct AccessArgs {
    #[command(flatten)]
    pub db: DbArg,
    /// The zone asked for (e.g. the floor).
    #[arg(long)]
    pub zone: String,
    #[arg(value_name = "IMG")]
    pub image: PathBuf,
    #[command(flatten)]
    pub threshold: ThresholdArgs,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub db: DbArg,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Images analysed at once (default: the number of cores).
    #[arg(long, value_name = "N",
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=MAX_THREADS as u64))]
    pub workers: Option<usize>,
    /// Largest request body accepted, in MiB.
    #[arg(long, value_name = "MIB", default_value_t = 20,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=1024))]
    pub max_body_mib: usize,
    /// Target false-accept rate for access decisions.
    #[arg(long, value_name = "RATE", default_value_t = facecmp::compare::DEFAULT_FAR,
          value_parser = parse_rate)]
    pub far: f64,
    /// Time a connection has for a complete request head, from its opening or
    /// its previous response (so also the keep-alive idle timeout).
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_timeout)]
    pub header_timeout: std::time::Duration,
    /// Time a request has for its whole body, from its head.
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = parse_timeout)]
    pub body_timeout: std::time::Duration,
    /// Connections open at once (lowered to fit under the open-file limit).
    #[arg(long, value_name = "N", default_value_t = 1024,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=65_536))]
    pub max_connections: usize,
    /// Connections open at once from one IP address (0: no per-address cap).
    #[arg(long, value_name = "N", default_value_t = 64,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(0..=65_536))]
    pub max_connections_per_client: usize,
    /// On Ctrl-C or SIGTERM, how long requests in flight may take to finish
    /// before the remaining connections are dropped.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_grace)]
    pub shutdown_grace: std::time::Duration,
    /// Watch a camera inside the service, like `facecmp watch` (repeatable):
    /// NAME=SOURCE@ZONE, e.g. lift=rtsp://10.0.0.5/stream@5. NAME is recorded
    /// as the source of the camera's decisions; a file is played at its own rate.
    #[arg(long = "camera", value_name = "NAME=SOURCE@ZONE", value_parser = parse_camera)]
    pub cameras: Vec<CameraSpec>,
    /// Index this camera too (repeatable; the NAME of a --camera): every
    /// face it sees is kept as an appearance, for `facecmp find` and
    /// `GET /v1/appearances`. Off unless asked for: it is surveillance data.
    #[arg(long = "index", value_name = "CAMERA", value_parser = parse_source_name)]
    pub indexed_cameras: Vec<String>,
    /// Keep each appearance of an indexed camera this long after it was
    /// seen (e.g. 30d, 12h); default: until the source is removed.
    #[arg(long, value_name = "DURATION", value_parser = parse_retention, requires = "indexed_cameras")]
    pub index_retention: Option<std::time::Duration>,
    #[command(flatten)]
    pub mqtt: MqttArgs,
}

/// A timeout between 100 ms and one hour, e.g. `10s`, `500ms`, `2m`.
fn parse_timeout(text: &str) -> Result<std::time::Duration, String> {
    parse_duration_within(text, std::time::Duration::from_millis(100))
}

/// A grace period between 0 and one hour.
fn parse_grace(text: &str) -> Result<std::time::Duration, String> {
    parse_duration_within(text, std::time::Duration::ZERO)
}

fn parse_duration_within(text: &str, least: std::time::Duration) -> Result<std::time::Duration, String> {
    let most = std::time::Duration::from_secs(3600);
    let duration = humantime::parse_duration(text)
        .map_err(|error| format!("`{text}` is not a duration like 10s or 500ms: {error}"))?;
    if duration < least || duration > most {
        return Err(format!(
            "{text} is outside {} to {}",
            humantime::format_duration(least),
            humantime::format_duration(most)
        ));
    }
    Ok(duration)
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Create an API key; the token is printed once.
    Create {
        #[command(flatten)]
        db: DbArg,
        #[arg(long, value_enum)]
        role: KeyRole,
        /// A label for the key (e.g. the camera's location).
        #[arg(long, default_value = "")]
        name: String,
        /// Limit a camera key to this zone (repeat for several); a camera
        /// key without one may ask about every zone.
        #[arg(long = "zone", value_name = "ZONE")]
        zones: Vec<String>,
    },
    /// List the keys (never their secrets).
    List(ListArgs),
    /// Revoke a key for good.
    Revoke {
        #[command(flatten)]
        db: DbArg,
        id: i64,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum KeyRole {
    /// Manages people, zones, grants; reads the audit trail.
    Admin,
    /// May only call access and identify.
    Camera,
}

/// An RFC 3339 instant as unix seconds.
fn parse_time(text: &str) -> Result<i64, String> {
    let time = humantime::parse_rfc3339_weak(text)
        .map_err(|e| format!("`{text}` is not an RFC 3339 time such as 2026-12-01T08:00:00Z ({e})"))?;
    Ok(time.duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64))
}
