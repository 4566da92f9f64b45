//! The arguments of `facecmp index` and `facecmp find`: footage indexed
//! once into the gallery, searched afterwards without decoding it again.

use std::path::PathBuf;
use std::time::Duration;

use clap::{ArgGroup, Args};

use crate::gallery_args::{DbArg, ThresholdArgs};
use crate::value_parsers::{parse_retention, parse_source_name};
use crate::video_args::VideoArgs;

#[derive(Debug, Args)]
pub struct IndexArgs {
    /// Video files, folders (their videos and photos, recursively), photos,
    /// rtsp:// (and other stream) URLs or /dev/videoN webcams.
    #[arg(required = true, value_name = "SOURCE")]
    pub sources: Vec<String>,
    #[command(flatten)]
    pub db: DbArg,
    /// Keep each appearance this long after it was seen (e.g. 30d, 12h);
    /// default: until its source is removed. Applies to every SOURCE given.
    #[arg(long, value_name = "DURATION", value_parser = parse_retention)]
    pub retention: Option<Duration>,
    /// A stream's name in the index (default: its URL without user and password).
    #[arg(long, value_name = "NAME", value_parser = parse_source_name)]
    pub name: Option<String>,
    /// Frames analysed per second of video.
    #[arg(long, value_name = "FPS", default_value_t = 5.0, value_parser = crate::video_args::parse_positive)]
    pub fps: f64,
    /// How an appearance is matched to an enrolled person (erasing the
    /// person erases the appearances matched to them).
    #[command(flatten)]
    pub threshold: ThresholdArgs,
    #[command(flatten)]
    pub video: VideoArgs,
    /// One JSON object per appearance indexed.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("query").required(true).args(["faces", "person"])))]
pub struct FindArgs {
    /// Find the largest face of this photo (repeatable: any of them).
    #[arg(long = "face", value_name = "IMG")]
    pub faces: Vec<PathBuf>,
    /// Find this enrolled person (their samples are the query).
    #[arg(long, value_name = "NAME")]
    pub person: Option<String>,
    #[command(flatten)]
    pub db: DbArg,
    /// Only this source: its id, or its name as indexed.
    #[arg(long, value_name = "SOURCE")]
    pub source: Option<String>,
    /// Only appearances from this time on: seconds or H:MM:SS into the
    /// video, or a wall-clock time (2026-12-06T09:00:00Z, cameras).
    #[arg(long, value_name = "TIME", value_parser = parse_find_time)]
    pub from: Option<FindTime>,
    /// Only appearances before this time (as --from).
    #[arg(long, value_name = "TIME", value_parser = parse_find_time)]
    pub until: Option<FindTime>,
    /// At most this many appearances.
    #[arg(long, value_name = "N", default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub limit: u32,
    #[command(flatten)]
    pub threshold: ThresholdArgs,
    /// Also list the closest appearances below the threshold.
    #[arg(long)]
    pub all: bool,
    /// Draw the appearances found (face, source, time, similarity) into one PNG.
    #[arg(long, value_name = "OUT.png")]
    pub contact_sheet: Option<PathBuf>,
    /// One JSON object per appearance.
    #[arg(long)]
    pub json: bool,
}

/// A time filter of `find`: into the media, or on the wall clock.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FindTime {
    /// Milliseconds from the start of the source.
    Media(i64),
    /// Unix milliseconds.
    Wall(i64),
}

fn parse_find_time(text: &str) -> Result<FindTime, String> {
    if let Ok(time) = humantime::parse_rfc3339_weak(text) {
        let ms = time.duration_since(std::time::UNIX_EPOCH).map_err(|_| "a time before 1970".to_string())?;
        return Ok(FindTime::Wall(ms.as_millis() as i64));
    }
    media_seconds(text).map(|s| FindTime::Media((s * 1000.0).round() as i64)).ok_or_else(|| {
        format!("{text:?} is neither seconds, H:MM:SS nor a date and time (2026-12-06T09:00:00Z)")
    })
}

/// `90`, `1:30`, `0:01:30.5` → seconds.
fn media_seconds(text: &str) -> Option<f64> {
    let mut seconds = 0.0;
    for part in text.split(':') {
        let value: f64 = part.parse().ok().filter(|v: &f64| v.is_finite() && *v >= 0.0)?;
        seconds = seconds * 60.0 + value;
    }
    (text.split(':').count() <= 3).then_some(seconds)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn find_times_are_media_seconds_or_wall_clock() {
        assert_eq!(parse_find_time("90"), Ok(FindTime::Media(90_000)));
        assert_eq!(parse_find_time("1:30.5"), Ok(FindTime::Media(90_500)));
        assert_eq!(parse_find_time("1:00:00"), Ok(FindTime::Media(3_600_000)));
        assert_eq!(parse_find_time("2026-12-06T09:00:00Z"), Ok(FindTime::Wall(1_796_547_600_000)));
        for bad in ["", "-1", "1:2:3:4", "yesterday", "nan"] {
            assert!(parse_find_time(bad).is_err(), "{bad}");
        }
    }
}

/// `facecmp clusters`: the unknown people of the indexed footage.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("action").args(["name", "merge", "not_a_face"])))]
pub struct ClustersArgs {
    #[command(flatten)]
    pub db: DbArg,
    /// Name cluster ID after PERSON: its best faces are enrolled as PERSON's
    /// samples (each through the enrolment review).
    #[arg(long, num_args = 2, value_names = ["ID", "PERSON"])]
    pub name: Option<Vec<String>>,
    /// Merge the clusters FROM... into INTO.
    #[arg(long, num_args = 2.., value_names = ["INTO", "FROM"])]
    pub merge: Option<Vec<i64>>,
    /// Mark cluster ID as not a face: its appearances leave searches and listings.
    #[arg(long, value_name = "ID")]
    pub not_a_face: Option<i64>,
    /// Cluster with this false-accept rate's threshold, stricter than
    /// matching: a false match here joins two strangers for good.
    #[arg(long, value_name = "FAR", default_value_t = 1e-4, value_parser = crate::value_parsers::parse_rate)]
    pub far: f64,
    /// One JSON object per cluster.
    #[arg(long)]
    pub json: bool,
}
