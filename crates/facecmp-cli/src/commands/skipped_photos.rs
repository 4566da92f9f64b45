//! How `eval` and `train` tell the user which photos of a data set they
//! could not use. Its own module so that neither command imports the other.

use facecmp_eval::crops::Skipped;

/// At most this many skipped photos are listed one per line.
const SKIPPED_SHOWN: usize = 20;

/// Lists the photos that could not be used (no face, several faces,
/// unreadable), the first [`SKIPPED_SHOWN`] one per line.
pub fn report_skipped(skipped: &[Skipped], aligned: bool) {
    for photo in skipped.iter().take(SKIPPED_SHOWN) {
        eprintln!("facecmp: skipped {}: {}", photo.path.display(), photo.reason);
    }
    if skipped.len() > SKIPPED_SHOWN {
        eprintln!("facecmp: … and {} more skipped photos", skipped.len() - SKIPPED_SHOWN);
    }
    if aligned && !skipped.is_empty() {
        eprintln!(
            "facecmp: with --aligned every photo must be an aligned square crop; drop it to detect faces"
        );
    }
}
