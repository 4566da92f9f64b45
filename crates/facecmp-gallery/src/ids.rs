//! The names the gallery makes up and the digests it refers to images by:
//! random hex for secrets and tombstones, SHA-256 for image bytes it does
//! not keep.

/// The hex SHA-256 of an image file's bytes: how samples and events refer
/// to an image without keeping it.
pub fn image_sha256(bytes: &[u8]) -> String {
    facecmp::digest::sha256_hex(bytes)
}

pub(crate) fn random_hex(bytes: usize) -> String {
    let mut buffer = vec![0u8; bytes];
    getrandom::fill(&mut buffer).expect("the operating system provides randomness");
    buffer.iter().map(|b| format!("{b:02x}")).collect()
}
