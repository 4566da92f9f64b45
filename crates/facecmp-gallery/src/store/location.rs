//! Where a gallery lives, as the command line and the configuration name
//! it: a file path or a PostgreSQL URL, shown without its password.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// Where a gallery lives: an SQLite file, or a PostgreSQL database named by
/// its URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GalleryLocation {
    Sqlite(PathBuf),
    Postgres(String),
}

impl GalleryLocation {
    /// A `postgres://` or `postgresql://` URL, or else a file path.
    pub fn parse(text: &str) -> GalleryLocation {
        let lower = text.get(..13).unwrap_or(text).to_ascii_lowercase();
        if lower.starts_with("postgres://") || lower.starts_with("postgresql://") {
            GalleryLocation::Postgres(text.to_string())
        } else {
            GalleryLocation::Sqlite(PathBuf::from(text))
        }
    }
}

impl FromStr for GalleryLocation {
    type Err = std::convert::Infallible;

    fn from_str(text: &str) -> std::result::Result<Self, Self::Err> {
        Ok(GalleryLocation::parse(text))
    }
}

/// Shown in messages: a path as is, a URL without its password.
impl fmt::Display for GalleryLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GalleryLocation::Sqlite(path) => write!(f, "{}", path.display()),
            GalleryLocation::Postgres(url) => f.write_str(&redact_password(url)),
        }
    }
}

impl From<&Path> for GalleryLocation {
    fn from(path: &Path) -> Self {
        GalleryLocation::Sqlite(path.to_path_buf())
    }
}

impl From<&PathBuf> for GalleryLocation {
    fn from(path: &PathBuf) -> Self {
        GalleryLocation::Sqlite(path.clone())
    }
}

impl From<PathBuf> for GalleryLocation {
    fn from(path: PathBuf) -> Self {
        GalleryLocation::Sqlite(path)
    }
}

impl From<&str> for GalleryLocation {
    fn from(text: &str) -> Self {
        GalleryLocation::parse(text)
    }
}

impl From<&GalleryLocation> for GalleryLocation {
    fn from(location: &GalleryLocation) -> Self {
        location.clone()
    }
}

/// `postgres://user:secret@host/db` → `postgres://user@host/db`.
pub(crate) fn redact_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_string() };
    let (authority, tail) = match rest.find('/') {
        Some(slash) => rest.split_at(slash),
        None => (rest, ""),
    };
    match authority.rsplit_once('@') {
        Some((credentials, host)) => {
            let user = credentials.split(':').next().unwrap_or_default();
            format!("{scheme}://{user}@{host}{tail}")
        }
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_are_urls_or_paths() {
        assert_eq!(GalleryLocation::parse("g.db"), GalleryLocation::Sqlite("g.db".into()));
        assert!(matches!(GalleryLocation::parse("postgres://u@h/db"), GalleryLocation::Postgres(_)));
        assert!(matches!(GalleryLocation::parse("PostgreSQL://u@h/db"), GalleryLocation::Postgres(_)));
        assert_eq!(
            GalleryLocation::parse("postgres://me:s3cret@host:5432/g").to_string(),
            "postgres://me@host:5432/g"
        );
        assert_eq!(redact_password("postgresql://host/g"), "postgresql://host/g");
    }
}
