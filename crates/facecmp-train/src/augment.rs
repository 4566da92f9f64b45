//! The network's input: an aligned crop at the model's input size as CHW
//! floats in [−1, 1], optionally augmented (training only) with a flip, a
//! small affine jitter and brightness/contrast changes.

use facecmp::RgbImage;

use facecmp_eval::rng::Rng;

/// How pixel values become network inputs; recorded in `model.json`.
pub const PREPROCESSING: &str = "aligned-112-rgb, area-resized to input_size, (v/255-0.5)/0.5, CHW";

#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Augmentation {
    pub flip: bool,
    /// Largest rotation, degrees.
    pub rotation: f32,
    /// Largest relative scale change.
    pub scale: f32,
    /// Largest shift, as a fraction of the side.
    pub shift: f32,
    /// Largest brightness offset, in [−1, 1] input units.
    pub brightness: f32,
    /// Largest relative contrast change.
    pub contrast: f32,
}

impl Augmentation {
    pub const STANDARD: Augmentation =
        Augmentation { flip: true, rotation: 8.0, scale: 0.06, shift: 0.04, brightness: 0.2, contrast: 0.2 };
}

/// Writes `crop` (already at the input size) into `out` (3·side² floats).
pub fn to_input(crop: &RgbImage, out: &mut [f32], augmentation: Option<(&Augmentation, &mut Rng)>) {
    let side = crop.width() as usize;
    let plane = side * side;
    debug_assert_eq!(out.len(), 3 * plane);
    let Some((aug, rng)) = augmentation else {
        for (i, pixel) in crop.pixels().enumerate() {
            for (c, &v) in pixel.0.iter().enumerate() {
                out[c * plane + i] = normalise(f32::from(v));
            }
        }
        return;
    };
    let flip = aug.flip && rng.chance(0.5);
    let (sin, cos) = rng.range(-aug.rotation, aug.rotation).to_radians().sin_cos();
    let scale = 1.0 + rng.range(-aug.scale, aug.scale);
    let shift =
        (rng.range(-aug.shift, aug.shift) * side as f32, rng.range(-aug.shift, aug.shift) * side as f32);
    let brightness = rng.range(-aug.brightness, aug.brightness);
    let contrast = 1.0 + rng.range(-aug.contrast, aug.contrast);
    let centre = side as f32 / 2.0;
    for y in 0..side {
        for x in 0..side {
            // Output pixel → source point: the inverse of rotate-scale-shift.
            let (mut dx, dy) = (x as f32 + 0.5 - centre - shift.0, y as f32 + 0.5 - centre - shift.1);
            if flip {
                dx = -dx;
            }
            let sx = (cos * dx + sin * dy) / scale + centre - 0.5;
            let sy = (-sin * dx + cos * dy) / scale + centre - 0.5;
            let rgb = bilinear(crop, sx, sy);
            for (c, v) in rgb.iter().enumerate() {
                out[c * plane + y * side + x] = (normalise(*v) * contrast + brightness).clamp(-1.5, 1.5);
            }
        }
    }
}

fn normalise(v: f32) -> f32 {
    (v / 255.0 - 0.5) / 0.5
}

/// Bilinear sample with edge clamping (a jittered crop repeats its border
/// rather than showing black corners the real crops never have).
fn bilinear(image: &RgbImage, x: f32, y: f32) -> [f32; 3] {
    let max = image.width() as f32 - 1.0;
    let (x, y) = (x.clamp(0.0, max), y.clamp(0.0, max));
    let (x0, y0) = (x.floor(), y.floor());
    let (fx, fy) = (x - x0, y - y0);
    let (x0, y0) = (x0 as u32, y0 as u32);
    let (x1, y1) = ((x0 + 1).min(max as u32), (y0 + 1).min(max as u32));
    let p = |xi, yi| image.get_pixel(xi, yi).0.map(f32::from);
    let (a, b, c, d) = (p(x0, y0), p(x1, y0), p(x0, y1), p(x1, y1));
    std::array::from_fn(|i| {
        (a[i] * (1.0 - fx) + b[i] * fx) * (1.0 - fy) + (c[i] * (1.0 - fx) + d[i] * fx) * fy
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_input_is_chw_in_minus_one_to_one() {
        let crop =
            RgbImage::from_fn(2, 2, |x, y| image::Rgb([0, 255, if x == 1 && y == 0 { 255 } else { 0 }]));
        let mut out = vec![0.0; 12];
        to_input(&crop, &mut out, None);
        assert_eq!(&out[0..4], &[-1.0; 4]);
        assert_eq!(&out[4..8], &[1.0; 4]);
        assert_eq!(&out[8..12], &[-1.0, 1.0, -1.0, -1.0]);
    }

    #[test]
    fn augmentation_without_change_reproduces_the_crop() {
        let crop = RgbImage::from_fn(8, 8, |x, y| image::Rgb([x as u8 * 30, y as u8 * 30, 7]));
        let none = Augmentation {
            flip: false,
            rotation: 0.0,
            scale: 0.0,
            shift: 0.0,
            brightness: 0.0,
            contrast: 0.0,
        };
        let (mut plain, mut augmented) = (vec![0.0; 192], vec![0.0; 192]);
        to_input(&crop, &mut plain, None);
        to_input(&crop, &mut augmented, Some((&none, &mut Rng::new(1))));
        for (a, b) in plain.iter().zip(&augmented) {
            assert!((a - b).abs() < 1e-5);
        }
    }
}
