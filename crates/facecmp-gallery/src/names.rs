//! Names that come from clients (people, zones, key labels): checked in the
//! library, at every write, so that no caller can store a 10 MB zone name or
//! one that forges a log line or reverses how text is displayed.

use crate::error::{GalleryError, Result};

/// The longest name accepted, in characters.
pub const MAX_NAME_CHARS: usize = 200;
/// The longest name of a source of footage (a file's path, a camera's
/// name), in characters.
pub const MAX_SOURCE_NAME_CHARS: usize = 512;

/// Refuses an empty name, one longer than [`MAX_NAME_CHARS`], one with a
/// control character (newline, escape, …), and one with a bidirectional
/// override or isolate (U+202A–U+202E, U+2066–U+2069), which make a name
/// display as something else. `kind` names what it is ("person", "zone").
pub fn validate_name(kind: &str, name: &str) -> Result<()> {
    validate_printable(kind, name, MAX_NAME_CHARS)
}

/// [`validate_name`] for the name a source of footage is given, which may
/// be a path: up to [`MAX_SOURCE_NAME_CHARS`].
pub fn validate_source_name(name: &str) -> Result<()> {
    validate_printable("source", name, MAX_SOURCE_NAME_CHARS)
}

fn validate_printable(kind: &str, name: &str, max_chars: usize) -> Result<()> {
    let problem = if name.trim().is_empty() {
        Some("it is empty".to_string())
    } else if name.chars().nth(max_chars).is_some() {
        Some(format!("it is longer than {max_chars} characters"))
    } else if name.chars().any(char::is_control) {
        Some("it contains a control character".to_string())
    } else if name.chars().any(is_bidi_control) {
        Some("it contains a bidirectional override".to_string())
    } else {
        None
    };
    match problem {
        None => Ok(()),
        Some(problem) => Err(GalleryError::Invalid(format!(
            "{} is not a usable {kind} name: {problem} (1 to {max_chars} printable characters)",
            quoted_prefix(name)
        ))),
    }
}

fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// The start of a refused name, escaped: the message must not carry the
/// very bytes it refuses.
fn quoted_prefix(name: &str) -> String {
    let prefix: String = name.chars().take(40).collect();
    let ellipsis = if name.chars().nth(40).is_some() { "…" } else { "" };
    format!("{:?}{ellipsis}", prefix).replace(|c: char| is_bidi_control(c), "")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_names_pass() {
        for name in ["Obama", "5", "Ada Lovelace", "Zoë", "東京", "lift-5 / north", &"x".repeat(200)] {
            validate_name("zone", name).unwrap();
        }
    }

    #[test]
    fn unusable_names_are_refused_without_echoing_them() {
        let long = "x".repeat(10_000_000);
        for name in ["", "  ", "a\nallowed=true", "\u{1b}[31mred", "evil\u{202E}gnp.exe", "a\u{2066}b", &long]
        {
            let error = validate_name("zone", name).unwrap_err();
            assert!(matches!(error, GalleryError::Invalid(_)));
            let message = error.to_string();
            assert!(message.len() < 300, "{}", message.len());
            assert!(!message.contains('\n') && !message.contains('\u{202E}'), "{message}");
        }
        assert!(validate_name("zone", &"x".repeat(201)).is_err());
    }

    #[test]
    fn source_names_may_be_longer() {
        validate_source_name(&"/recordings/".repeat(40)).unwrap();
        validate_source_name(&"x".repeat(512)).unwrap();
        assert!(validate_source_name(&"x".repeat(513)).is_err());
        assert!(validate_source_name(r"C:\videos\lift.mp4").is_ok(), "a backslash is printable");
        assert!(validate_source_name("lift\n.mp4").is_err());
    }
}
