//! Synthetic identities: procedurally drawn face-like images whose identity is
//! a set of shape and colour parameters, and whose every photo adds nuisance
//! (pose shift, scale, rotation, expression, lighting, noise, occlusion), so
//! that a network must learn the identity, not copy pixels.
//!
//! No registry ships a training-scale face data set, so this proves the
//! training machinery end to end. The images are already "aligned" 112×112
//! crops (the face sits roughly where the ArcFace template puts it): YuNet
//! finds no face in them, so `train`/`eval` read them with `--aligned`.

use std::path::{Path, PathBuf};

use facecmp::{AlignedFace, RgbImage};
use image::Rgb;

use facecmp_eval::crops::{Crop, Prepared};
use facecmp_eval::rng::Rng;

/// Side of the generated crops: the aligned-face size of the pipeline.
pub const SIDE: u32 = facecmp::align::ALIGNED_SIZE;

type Colour = [f32; 3];

/// What makes one synthetic person themselves.
#[derive(Debug, Clone, PartialEq)]
pub struct Identity {
    face_half_width: f32,
    face_half_height: f32,
    skin: Colour,
    hair: Colour,
    /// y of the hairline (smaller: more forehead hair); `None`: bald.
    hairline: Option<f32>,
    /// Hair reaching down the sides of the face, in pixels.
    sideburns: f32,
    eye_half_spacing: f32,
    eye_y: f32,
    eye_half_width: f32,
    eye_half_height: f32,
    iris: Colour,
    brow_thickness: f32,
    brow_tilt: f32,
    brow_gap: f32,
    nose_length: f32,
    nose_half_width: f32,
    mouth_y: f32,
    mouth_half_width: f32,
    lip_thickness: f32,
    lips: Colour,
    beard: bool,
    glasses: bool,
}

impl Identity {
    pub fn random(rng: &mut Rng) -> Identity {
        let tone = rng.unit();
        let skin = [
            lerp(95.0, 245.0, tone) + rng.range(-15.0, 15.0),
            lerp(60.0, 205.0, tone) + rng.range(-15.0, 15.0),
            lerp(40.0, 185.0, tone) + rng.range(-15.0, 15.0),
        ];
        let hair_level = rng.range(15.0, 230.0);
        let hair = [
            hair_level + rng.range(-20.0, 40.0),
            hair_level * rng.range(0.6, 1.0),
            hair_level * rng.range(0.3, 0.9),
        ];
        Identity {
            face_half_width: rng.range(30.0, 44.0),
            face_half_height: rng.range(40.0, 54.0),
            skin,
            hair,
            hairline: (!rng.chance(0.15)).then(|| rng.range(18.0, 42.0)),
            sideburns: rng.range(0.0, 30.0),
            eye_half_spacing: rng.range(13.0, 21.0),
            eye_y: rng.range(46.0, 57.0),
            eye_half_width: rng.range(4.5, 9.0),
            eye_half_height: rng.range(2.5, 5.0),
            iris: [rng.range(20.0, 160.0), rng.range(20.0, 160.0), rng.range(20.0, 200.0)],
            brow_thickness: rng.range(1.5, 4.0),
            brow_tilt: rng.range(-0.35, 0.35),
            brow_gap: rng.range(5.0, 11.0),
            nose_length: rng.range(10.0, 22.0),
            nose_half_width: rng.range(3.0, 8.0),
            mouth_y: rng.range(82.0, 96.0),
            mouth_half_width: rng.range(8.0, 18.0),
            lip_thickness: rng.range(1.5, 4.5),
            lips: [rng.range(120.0, 220.0), rng.range(40.0, 120.0), rng.range(40.0, 120.0)],
            beard: rng.chance(0.25),
            glasses: rng.chance(0.2),
        }
    }
}

/// What changes from one photo of a person to the next.
#[derive(Debug, Clone, PartialEq)]
struct Nuisance {
    shift: (f32, f32),
    scale: f32,
    rotation: f32,
    background: Colour,
    background_gradient: f32,
    gain: f32,
    light_gradient: (f32, f32),
    cast: Colour,
    smile: f32,
    eye_openness: f32,
    noise: f32,
    /// A rectangle of one colour over part of the face (a hand, a scarf).
    occlusion: Option<(f32, f32, f32, f32, Colour)>,
}

impl Nuisance {
    fn random(rng: &mut Rng) -> Nuisance {
        let side = SIDE as f32;
        Nuisance {
            shift: (rng.range(-6.0, 6.0), rng.range(-6.0, 6.0)),
            scale: rng.range(0.88, 1.12),
            rotation: rng.range(-12.0, 12.0).to_radians(),
            background: [rng.range(0.0, 255.0), rng.range(0.0, 255.0), rng.range(0.0, 255.0)],
            background_gradient: rng.range(-60.0, 60.0),
            gain: rng.range(0.65, 1.35),
            light_gradient: (rng.range(-0.35, 0.35), rng.range(-0.2, 0.2)),
            cast: [rng.range(0.9, 1.1), rng.range(0.9, 1.1), rng.range(0.9, 1.1)],
            smile: rng.range(-0.5, 1.0),
            eye_openness: rng.range(0.5, 1.0),
            noise: rng.range(0.0, 10.0),
            occlusion: rng.chance(0.25).then(|| {
                let (w, h) = (rng.range(12.0, 40.0), rng.range(12.0, 40.0));
                let (x, y) = (rng.range(0.0, side - w), rng.range(0.0, side - h));
                (x, y, w, h, [rng.range(0.0, 255.0), rng.range(0.0, 255.0), rng.range(0.0, 255.0)])
            }),
        }
    }
}

/// Draws one photo of `identity`, with nuisance drawn from `rng`.
pub fn render(identity: &Identity, rng: &mut Rng) -> RgbImage {
    let nuisance = Nuisance::random(rng);
    let centre = SIDE as f32 / 2.0;
    let (sin, cos) = nuisance.rotation.sin_cos();
    let mut image = RgbImage::new(SIDE, SIDE);
    for (x, y, pixel) in image.enumerate_pixels_mut() {
        // Photo pixel → the face's own (canonical) coordinates.
        let (px, py) =
            (x as f32 + 0.5 - centre - nuisance.shift.0, y as f32 + 0.5 - centre - nuisance.shift.1);
        let (u, v) = ((cos * px + sin * py) / nuisance.scale, (-sin * px + cos * py) / nuisance.scale);
        let colour = shade(identity, &nuisance, u + centre, v + centre, x as f32, y as f32);
        let lit = light(colour, &nuisance, px, py, rng);
        *pixel = Rgb(lit.map(|c| c.round().clamp(0.0, 255.0) as u8));
    }
    if let Some((x, y, w, h, colour)) = nuisance.occlusion {
        for (px, py, pixel) in image.enumerate_pixels_mut() {
            let (px, py) = (px as f32, py as f32);
            if px >= x && px < x + w && py >= y && py < y + h {
                *pixel = Rgb(colour.map(|c| c as u8));
            }
        }
    }
    image
}

/// The face's colour at canonical point (u, v), before lighting; the
/// background is painted in photo coordinates (x, y), not the face's.
fn shade(id: &Identity, n: &Nuisance, u: f32, v: f32, x: f32, y: f32) -> Colour {
    let (cx, cy) = (56.0, 60.0);
    let (dx, dy) = (u - cx, v - cy);
    let in_head = (dx / id.face_half_width).powi(2) + (dy / id.face_half_height).powi(2) <= 1.0;
    if !in_head {
        let ramp = n.background_gradient * (y - x) / SIDE as f32;
        return n.background.map(|c| c + ramp);
    }
    if let Some(hairline) = id.hairline {
        let wave = 2.5 * (u * 0.3).sin();
        let side_hair = dx.abs() > id.face_half_width - 6.0 && v < hairline + id.sideburns;
        if v < hairline + wave || side_hair {
            return id.hair;
        }
    }
    let (ex, ey) = (dx.abs() - id.eye_half_spacing, v - id.eye_y);
    if id.glasses
        && ((ex / (id.eye_half_width + 4.0)).powi(2) + (ey / (id.eye_half_width + 2.0)).powi(2) - 1.0).abs()
            < 0.18
    {
        return [30.0, 30.0, 30.0];
    }
    let eye_height = id.eye_half_height * n.eye_openness;
    if (ex / id.eye_half_width).powi(2) + (ey / eye_height).powi(2) <= 1.0 {
        let iris_radius = id.eye_half_height.min(id.eye_half_width) * 0.9;
        return if ex * ex + ey * ey <= iris_radius * iris_radius { id.iris } else { [235.0, 235.0, 230.0] };
    }
    // Brows: a tilted bar above each eye (the tilt mirrors left/right).
    let brow_y = id.eye_y - id.eye_half_height - id.brow_gap - id.brow_tilt * ex;
    if ex.abs() <= id.eye_half_width + 2.0 && (v - brow_y).abs() <= id.brow_thickness {
        return id.hair.map(|c| c * 0.8);
    }
    let nose_top = id.eye_y + 2.0;
    let along = (v - nose_top) / id.nose_length;
    if (0.0..=1.0).contains(&along) && dx.abs() <= id.nose_half_width * along {
        return id.skin.map(|c| c * 0.78);
    }
    let mouth_centre = id.mouth_y - n.smile * 4.0 * (1.0 - (dx / id.mouth_half_width).powi(2));
    if dx.abs() <= id.mouth_half_width && (v - mouth_centre).abs() <= id.lip_thickness {
        return id.lips;
    }
    if id.beard && v > id.mouth_y - 6.0 {
        return id.hair.map(|c| c * 0.9);
    }
    id.skin
}

fn light(colour: Colour, n: &Nuisance, px: f32, py: f32, rng: &mut Rng) -> Colour {
    let side = SIDE as f32;
    let gain = n.gain * (1.0 + n.light_gradient.0 * px / side * 2.0 + n.light_gradient.1 * py / side * 2.0);
    let noise = n.noise;
    let mut out = [0.0; 3];
    for ((o, c), cast) in out.iter_mut().zip(colour).zip(n.cast) {
        *o = c * gain * cast + noise * rng.normal();
    }
    out
}

fn lerp(a: f32, b: f32, t: f32) -> f32 {
    a + (b - a) * t
}

/// The identities of a data set: identity `i` of seed `s` is always the same
/// person, whatever the other arguments.
pub fn identity(seed: u64, index: usize) -> Identity {
    Identity::random(&mut Rng::derive(seed, index as u64 * 2))
}

/// Photo `j` of identity `i`: a pure function of (seed, i, j).
pub fn photo(seed: u64, index: usize, identity: &Identity, number: usize) -> RgbImage {
    let stream = ((index as u64) << 20 | number as u64) * 2 + 1;
    render(identity, &mut Rng::derive(seed, stream))
}

/// The name of identity `index` of `seed`. The seed is part of it: people of
/// different seeds are different people, and must not look like the same
/// names to a split check.
pub fn person_name(seed: u64, index: usize) -> String {
    format!("s{seed}_person_{index:05}")
}

/// `identities` people of `seed` with `photos` crops each, in memory: what
/// `write_dataset` then `prepare --aligned` would give, without the files.
pub fn people(seed: u64, identities: usize, photos: usize) -> Prepared {
    let people = (0..identities)
        .map(|index| {
            let person = identity(seed, index);
            let name = person_name(seed, index);
            let crops = (0..photos)
                .map(|number| Crop {
                    path: PathBuf::from(&name).join(format!("{number:03}.png")),
                    sha256: String::new(),
                    face: AlignedFace::from_crop(photo(seed, index, &person, number))
                        .expect("the generator draws SIDE×SIDE crops, SIDE being the aligned size"),
                    landmarks: None,
                })
                .collect();
            (name, crops)
        })
        .collect();
    Prepared { people, skipped: Vec::new(), from_cache: 0 }
}

/// Writes `identities` folders `s<seed>_person_NNNNN/` of `photos` PNG crops each
/// under `out`; returns the folders. Identities of different seeds are
/// different people (with overwhelming probability), which is how a test set
/// disjoint from the training set is made.
pub fn write_dataset(
    out: &Path,
    identities: usize,
    photos: usize,
    seed: u64,
) -> std::io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(out)?;
    let mut folders = Vec::with_capacity(identities);
    for index in 0..identities {
        let person = identity(seed, index);
        let folder = out.join(person_name(seed, index));
        std::fs::create_dir_all(&folder)?;
        for number in 0..photos {
            photo(seed, index, &person, number)
                .save(folder.join(format!("{number:03}.png")))
                .map_err(std::io::Error::other)?;
        }
        folders.push(folder);
    }
    Ok(folders)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mean_abs_difference(a: &RgbImage, b: &RgbImage) -> f32 {
        let total: u64 = a.as_raw().iter().zip(b.as_raw()).map(|(x, y)| u64::from(x.abs_diff(*y))).sum();
        total as f32 / a.as_raw().len() as f32
    }

    #[test]
    fn photos_are_reproducible_and_never_identical() {
        let person = identity(3, 0);
        assert_eq!(person, identity(3, 0));
        let (a, b) = (photo(3, 0, &person, 0), photo(3, 0, &person, 1));
        assert_eq!(a, photo(3, 0, &person, 0));
        assert_eq!(a.dimensions(), (SIDE, SIDE));
        // Nuisance makes two photos of one person differ substantially.
        assert!(mean_abs_difference(&a, &b) > 5.0);
        assert_ne!(identity(3, 0), identity(4, 0), "another seed, another person");
    }
}
