//! `--draw`: the photo with each face's box and landmarks painted on.

use facecmp::{Photo, RgbImage};
use image::Rgb;

const BOX_COLOUR: Rgb<u8> = Rgb([0, 230, 64]);
/// Right eye, left eye, nose, right and left mouth corner.
const LANDMARK_COLOURS: [Rgb<u8>; 5] =
    [Rgb([255, 0, 0]), Rgb([0, 0, 255]), Rgb([0, 255, 255]), Rgb([255, 0, 255]), Rgb([255, 255, 0])];

pub fn annotate(photo: &Photo) -> RgbImage {
    let mut canvas = photo.image.clone();
    // Lines thick enough to see on a large photo, thin on a small one.
    let thickness = (canvas.width().max(canvas.height()) / 400).max(2) as i64;
    for face in &photo.faces {
        let b = face.bbox;
        let (left, top) = (b.x.round() as i64, b.y.round() as i64);
        let (right, bottom) = ((b.x + b.width).round() as i64, (b.y + b.height).round() as i64);
        fill(&mut canvas, left, top, right, top + thickness, BOX_COLOUR);
        fill(&mut canvas, left, bottom - thickness, right, bottom, BOX_COLOUR);
        fill(&mut canvas, left, top, left + thickness, bottom, BOX_COLOUR);
        fill(&mut canvas, right - thickness, top, right, bottom, BOX_COLOUR);
        let radius = thickness + 1;
        for (point, colour) in face.landmarks.iter().zip(LANDMARK_COLOURS) {
            let (x, y) = (point.x.round() as i64, point.y.round() as i64);
            fill(&mut canvas, x - radius, y - radius, x + radius + 1, y + radius + 1, colour);
        }
    }
    canvas
}

/// Paints the rectangle [x0, x1) × [y0, y1), clipped to the image.
fn fill(canvas: &mut RgbImage, x0: i64, y0: i64, x1: i64, y1: i64, colour: Rgb<u8>) {
    let clip = |v: i64, max: u32| v.clamp(0, i64::from(max)) as u32;
    for y in clip(y0, canvas.height())..clip(y1, canvas.height()) {
        for x in clip(x0, canvas.width())..clip(x1, canvas.width()) {
            canvas.put_pixel(x, y, colour);
        }
    }
}
