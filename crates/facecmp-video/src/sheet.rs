//! A contact sheet: one picture of every appearance (face, target, time,
//! similarity), because people would rather look than read.

use ab_glyph::{Font, FontRef, PxScale, ScaleFont, point};
use facecmp_gallery::appearances::media_clock;
use image::{Rgb, RgbImage};

use crate::search::Appearance;

const CELL_WIDTH: u32 = 220;
const FACE_SIDE: u32 = 192;
const TEXT_HEIGHT: u32 = 64;
const CELL_HEIGHT: u32 = FACE_SIDE + TEXT_HEIGHT + 14;
const COLUMNS: u32 = 5;

/// Draws the sheet; `font` is the bytes of a TrueType font.
pub fn contact_sheet(appearances: &[Appearance], font: &[u8]) -> Result<RgbImage, String> {
    let font = FontRef::try_from_slice(font).map_err(|e| format!("the contact sheet's font: {e}"))?;
    let columns = COLUMNS.min(appearances.len().max(1) as u32);
    let rows = (appearances.len() as u32).div_ceil(columns).max(1);
    let mut sheet = RgbImage::from_pixel(columns * CELL_WIDTH, rows * CELL_HEIGHT, Rgb([248, 248, 248]));
    if appearances.is_empty() {
        draw_text(&mut sheet, &font, 10.0, 10.0, 18.0, "no appearances", Rgb([60, 60, 60]));
    }
    for (i, appearance) in appearances.iter().enumerate() {
        let (x, y) = ((i as u32 % columns) * CELL_WIDTH, (i as u32 / columns) * CELL_HEIGHT);
        let left = x + (CELL_WIDTH - FACE_SIDE) / 2;
        if let Some(crop) = &appearance.crop {
            let fitted = fit(crop, FACE_SIDE);
            let dx = left + (FACE_SIDE - fitted.width()) / 2;
            let dy = y + 8 + (FACE_SIDE - fitted.height()) / 2;
            image::imageops::overlay(&mut sheet, &fitted, dx.into(), dy.into());
        }
        let text_x = left as f32;
        let text_y = (y + 8 + FACE_SIDE + 4) as f32;
        let name = shorten(file_name(&appearance.target), 24);
        draw_text(&mut sheet, &font, text_x, text_y, 17.0, &name, Rgb([20, 20, 20]));
        let times = format!("{} – {}", clock(appearance.start), clock(appearance.end));
        draw_text(&mut sheet, &font, text_x, text_y + 20.0, 15.0, &times, Rgb([60, 60, 60]));
        let score = format!("similarity {:.3} · track {}", appearance.similarity, appearance.track);
        draw_text(&mut sheet, &font, text_x, text_y + 39.0, 14.0, &score, Rgb([90, 90, 90]));
    }
    Ok(sheet)
}

/// `75.25` s → `1:15.2`: [`media_clock`] for a time in seconds.
pub fn clock(seconds: f64) -> String {
    // Through whole milliseconds: `8.7 * 10.0` is 86.999…, which would cut to `8.6`.
    media_clock((seconds.max(0.0) * 1000.0).round() as i64)
}

fn file_name(target: &str) -> &str {
    target.rsplit('/').next().unwrap_or(target)
}

fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    text.chars().take(max - 1).chain(['…']).collect()
}

fn fit(image: &RgbImage, side: u32) -> RgbImage {
    let scale = side as f32 / image.width().max(image.height()) as f32;
    let width = ((image.width() as f32 * scale).round() as u32).clamp(1, side);
    let height = ((image.height() as f32 * scale).round() as u32).clamp(1, side);
    image::imageops::resize(image, width, height, image::imageops::FilterType::Triangle)
}

fn draw_text(image: &mut RgbImage, font: &FontRef, x: f32, y: f32, px: f32, text: &str, color: Rgb<u8>) {
    let scaled = font.as_scaled(PxScale::from(px));
    let mut caret = x;
    for c in text.chars() {
        let id = scaled.glyph_id(c);
        let glyph = id.with_scale_and_position(PxScale::from(px), point(caret, y + scaled.ascent()));
        caret += scaled.h_advance(id);
        let Some(outlined) = font.outline_glyph(glyph) else { continue };
        let bounds = outlined.px_bounds();
        outlined.draw(|gx, gy, coverage| {
            let (px, py) = (bounds.min.x as i64 + gx as i64, bounds.min.y as i64 + gy as i64);
            if px < 0 || py < 0 || px >= image.width() as i64 || py >= image.height() as i64 {
                return;
            }
            let pixel = image.get_pixel_mut(px as u32, py as u32);
            for channel in 0..3 {
                let (under, over) = (pixel.0[channel] as f32, color.0[channel] as f32);
                pixel.0[channel] = (under + (over - under) * coverage.clamp(0.0, 1.0)).round() as u8;
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_times_read_like_a_player() {
        assert_eq!(clock(0.0), "0:00.0");
        assert_eq!(clock(75.25), "1:15.2");
        assert_eq!(clock(3725.0), "1:02:05.0");
        assert_eq!(clock(8.7), "0:08.7");
        assert_eq!(clock(59.96), "0:59.9");
        assert_eq!(clock(-1.0), "0:00.0");
    }
}
