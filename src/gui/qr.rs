//! QR codes drawn for the screens: the stall's payment code and the kiosk's basket.

use slint::{Image, Rgb8Pixel, SharedPixelBuffer};

/// A QR code of `payload` as an image, four pixels a module with a quiet zone.
pub fn qr_image(payload: &str) -> Image {
    let Ok(code) = qrcode::QrCode::new(payload.as_bytes()) else {
        return Image::default();
    };
    let width = code.width();
    let colors = code.to_colors();
    let scale = 4;
    let quiet = 4;
    let side = (width + 2 * quiet) * scale;
    let mut buffer = SharedPixelBuffer::<Rgb8Pixel>::new(side as u32, side as u32);
    let pixels = buffer.make_mut_slice();
    for (i, px) in pixels.iter_mut().enumerate() {
        let (x, y) = (i % side / scale, i / side / scale);
        let dark = x >= quiet
            && y >= quiet
            && x < width + quiet
            && y < width + quiet
            && colors[(y - quiet) * width + (x - quiet)] == qrcode::Color::Dark;
        let v = if dark { 0 } else { 255 };
        *px = Rgb8Pixel { r: v, g: v, b: v };
    }
    Image::from_rgb8(buffer)
}
