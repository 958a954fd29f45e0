//! What the charts of the tools share: the embedded font and the colours. The font is
//! compiled in because the guest initramfs has no font files (and no fontconfig to find
//! them).

use plotters::style::{register_font, FontStyle, Palette, Palette99, RGBAColor, RGBColor};
use std::sync::Once;

/// Build-time dependency: Debian package fonts-dejavu-core.
static FONT: &[u8] = include_bytes!("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf");

/// Registers the embedded font as "sans-serif"; call before drawing any text.
pub fn ensure_font() -> Result<(), String> {
    static ONCE: Once = Once::new();
    let mut res = Ok(());
    ONCE.call_once(|| {
        res = register_font("sans-serif", FontStyle::Normal, FONT)
            .map_err(|_| "embedded font is not a valid TTF".to_string());
    });
    res
}

/// Okabe-Ito colours (distinct on white and for colour-blind readers), then plotters'
/// palette for any further series.
pub fn series_color(i: usize) -> RGBAColor {
    const OKABE_ITO: [(u8, u8, u8); 7] = [
        (213, 94, 0),
        (0, 114, 178),
        (0, 158, 115),
        (204, 121, 167),
        (230, 159, 0),
        (86, 180, 233),
        (0, 0, 0),
    ];
    match OKABE_ITO.get(i) {
        Some(&(r, g, b)) => RGBColor(r, g, b).into(),
        None => {
            let c = Palette99::COLORS[i % Palette99::COLORS.len()];
            RGBColor(c.0, c.1, c.2).into()
        }
    }
}
