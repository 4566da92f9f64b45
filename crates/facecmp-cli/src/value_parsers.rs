//! The parsers clap runs on flag values (numbers in range, `--camera
//! NAME=SOURCE@ZONE`, camera names), and the values they give. Below
//! args.rs, gallery_args.rs, video_args.rs and the commands, which all use
//! them, so that the argument modules need nothing from each other or from
//! the commands.

/// A cosine similarity threshold: a number in [−1, 1].
pub fn parse_cosine(text: &str) -> Result<f32, String> {
    let value: f32 = text.parse().map_err(|_| format!("`{text}` is not a number"))?;
    if (-1.0..=1.0).contains(&value) {
        Ok(value)
    } else {
        Err(format!("{value} is outside [-1, 1], the range of cosine similarity"))
    }
}

/// More inference threads than this only cost memory: no machine facecmp
/// runs on has more cores.
pub const MAX_THREADS: usize = 256;

/// A finite number, or a clear refusal (`nan`, `inf` parse as floats).
fn parse_finite(text: &str) -> Result<f32, String> {
    let value: f32 = text.parse().map_err(|_| format!("`{text}` is not a number"))?;
    if value.is_finite() { Ok(value) } else { Err(format!("`{text}` is not a finite number")) }
}

/// A detector score in [0, 1].
pub fn parse_score(text: &str) -> Result<f32, String> {
    let value = parse_finite(text)?;
    if (0.0..=1.0).contains(&value) {
        Ok(value)
    } else {
        Err(format!("{value} is outside [0, 1], the range of detector scores"))
    }
}

/// A face size in pixels, in [0, 16384] (the largest photo side).
pub fn parse_face_size(text: &str) -> Result<f32, String> {
    let value = parse_finite(text)?;
    if (0.0..=16_384.0).contains(&value) {
        Ok(value)
    } else {
        Err(format!("{value} is outside [0, 16384] pixels"))
    }
}

/// A rate in (0, 1).
pub fn parse_rate(text: &str) -> Result<f64, String> {
    let value: f64 = text.parse().map_err(|_| format!("`{text}` is not a number"))?;
    if value > 0.0 && value < 1.0 { Ok(value) } else { Err(format!("{value} is not a rate in (0, 1)")) }
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

/// How long indexed appearances are kept: a minute to a year.
pub fn parse_retention(text: &str) -> Result<std::time::Duration, String> {
    let duration = humantime::parse_duration(text).map_err(|e| format!("{text:?}: {e} (e.g. 30d, 12h)"))?;
    let (least, most) = (facecmp_gallery::MIN_RETENTION_S, facecmp_gallery::MAX_RETENTION_S);
    if duration.as_secs() < least as u64 || duration.as_secs() > most as u64 {
        return Err(format!("a retention from {least} s to {} days", most / 86_400));
    }
    Ok(duration)
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

/// Every `--index CAMERA` must name one of the `--camera`s.
pub fn check_indexed_cameras(cameras: &[CameraSpec], indexed: &[String]) -> Result<(), String> {
    match indexed.iter().find(|name| !cameras.iter().any(|camera| &camera.name == *name)) {
        Some(name) => Err(format!("--index {name:?}: no --camera is named so")),
        None => Ok(()),
    }
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
    fn retention_is_bounded() {
        assert_eq!(parse_retention("30d"), Ok(std::time::Duration::from_secs(30 * 86_400)));
        assert!(parse_retention("1s").is_err());
        assert!(parse_retention("2years").is_err());
        assert!(parse_retention("soon").is_err());
    }

    #[test]
    fn only_a_named_camera_is_indexed() {
        let cameras = [parse_camera("lift=a.mp4@5").unwrap()];
        assert!(check_indexed_cameras(&cameras, &["lift".into()]).is_ok());
        assert!(check_indexed_cameras(&cameras, &["door".into()]).is_err());
    }

    #[test]
    fn two_cameras_may_not_share_a_name() {
        let a = parse_camera("lift=a.mp4@5").unwrap();
        let b = parse_camera("door=b.mp4@5").unwrap();
        assert!(check_camera_names(&[a.clone(), b.clone()]).is_ok());
        assert!(check_camera_names(&[a.clone(), b, a]).is_err());
    }
}
