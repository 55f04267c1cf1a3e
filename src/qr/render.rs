//! Drawing a QR code: half blocks for a terminal (explicit dark-on-light, 4-module quiet zone), SVG, PNG.

use qrcode::{Color, EcLevel, QrCode};

pub const QUIET_ZONE: usize = 4;

/// An encoded QR code with its modules.
pub struct Qr {
    code: QrCode,
    modules: Vec<bool>,
    width: usize,
}

impl std::fmt::Debug for Qr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Qr(version {}, level {}, {} modules)", self.version(), self.ec_level(), self.width())
    }
}

/// One terminal cell of a drawn code: a character drawn in `fg` over `bg`; `true` means dark.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cell {
    pub ch: char,
    pub fg_dark: bool,
    pub bg_dark: bool,
}

impl Qr {
    /// Encodes the payload at error-correction level L (the smallest code; see README).
    pub fn encode(payload: &str) -> Result<Qr, String> {
        let code = QrCode::with_error_correction_level(payload.as_bytes(), EcLevel::L)
            .map_err(|e| format!("the payload ({} bytes) does not fit in a QR code: {e}", payload.len()))?;
        let width = code.width();
        let modules = code.to_colors().into_iter().map(|c| c == Color::Dark).collect();
        Ok(Qr { code, modules, width })
    }

    pub fn version(&self) -> i16 {
        match self.code.version() {
            qrcode::Version::Normal(v) | qrcode::Version::Micro(v) => v,
        }
    }

    pub fn ec_level(&self) -> &'static str {
        match self.code.error_correction_level() {
            EcLevel::L => "L",
            EcLevel::M => "M",
            EcLevel::Q => "Q",
            EcLevel::H => "H",
        }
    }

    /// Modules per side, without the quiet zone.
    pub fn width(&self) -> usize {
        self.width
    }

    /// Modules per side including the quiet zone on both sides.
    pub fn full_width(&self) -> usize {
        self.width + 2 * QUIET_ZONE
    }

    /// Whether the module at (x, y) of the full square (quiet zone included) is dark.
    pub fn dark(&self, x: usize, y: usize) -> bool {
        let (Some(x), Some(y)) = (x.checked_sub(QUIET_ZONE), y.checked_sub(QUIET_ZONE)) else {
            return false;
        };
        x < self.width && y < self.width && self.modules[y * self.width + x]
    }

    /// Columns × rows needed in half-block mode (one module wide, two modules tall per cell).
    pub fn half_block_size(&self) -> (usize, usize) {
        let n = self.full_width();
        (n, n.div_ceil(2))
    }

    /// Whether the half-block drawing and one line of text under it fit a terminal of `width` × `height`
    /// cells. A code is never drawn clipped: the refusal names the size needed and the alternatives.
    pub fn fits(&self, width: u16, height: u16) -> Result<(), String> {
        let (cols, rows) = self.half_block_size();
        if usize::from(width) >= cols && usize::from(height) > rows {
            Ok(())
        } else {
            Err(format!(
                "terminal too small for the QR code: it needs {cols}x{} (columns x rows), the terminal is \
                 {width}x{height}; enlarge it, or use --png FILE / --svg FILE",
                rows + 1
            ))
        }
    }

    /// The code as terminal cells, two modules stacked per cell with '▀' (upper module in fg).
    pub fn half_block_cells(&self) -> Vec<Vec<Cell>> {
        let n = self.full_width();
        (0..n.div_ceil(2))
            .map(|row| {
                (0..n)
                    .map(|x| {
                        let top = self.dark(x, 2 * row);
                        let bottom = self.dark(x, 2 * row + 1);
                        Cell { ch: '▀', fg_dark: top, bg_dark: bottom }
                    })
                    .collect()
            })
            .collect()
    }

    /// The half-block drawing as text with explicit colours: black (30/40) on bright white (97/107).
    /// Colours are set on every line and reset at its end, whatever the terminal's own palette.
    pub fn ansi_half_blocks(&self) -> String {
        let mut out = String::new();
        for row in self.half_block_cells() {
            let mut current: Option<(bool, bool)> = None;
            for cell in row {
                let style = (cell.fg_dark, cell.bg_dark);
                if current != Some(style) {
                    let fg = if cell.fg_dark { 30 } else { 97 };
                    let bg = if cell.bg_dark { 40 } else { 107 };
                    out.push_str(&format!("\x1b[{fg};{bg}m"));
                    current = Some(style);
                }
                out.push(cell.ch);
            }
            out.push_str("\x1b[0m\n");
        }
        out
    }

    /// An SVG with the quiet zone, `scale` units per module.
    pub fn svg(&self) -> String {
        self.code
            .render::<qrcode::render::svg::Color<'_>>()
            .quiet_zone(true)
            .module_dimensions(8, 8)
            .dark_color(qrcode::render::svg::Color("#000000"))
            .light_color(qrcode::render::svg::Color("#ffffff"))
            .build()
    }

    /// The code with its quiet zone as greyscale pixels (0 dark, 255 light), `scale` pixels per module:
    /// the side in pixels and the rows top to bottom.
    pub fn pixels(&self, scale: usize) -> (usize, Vec<u8>) {
        let n = self.full_width() * scale;
        let mut pixels = Vec::with_capacity(n * n);
        for y in 0..n {
            for x in 0..n {
                pixels.push(if self.dark(x / scale, y / scale) { 0u8 } else { 255u8 });
            }
        }
        (n, pixels)
    }

    /// A greyscale PNG with the quiet zone, `scale` pixels per module.
    pub fn png(&self, scale: usize) -> Result<Vec<u8>, String> {
        let (n, pixels) = self.pixels(scale);
        let mut out = Vec::new();
        {
            let mut enc = png::Encoder::new(&mut out, n as u32, n as u32);
            enc.set_color(png::ColorType::Grayscale);
            enc.set_depth(png::BitDepth::Eight);
            let mut w = enc.write_header().map_err(|e| e.to_string())?;
            w.write_image_data(&pixels).map_err(|e| e.to_string())?;
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn size_follows_the_version_and_never_clips() {
        let payload = "x".repeat(700);
        let qr = Qr::encode(&payload).unwrap();
        let v = qr.version() as usize;
        assert_eq!(qr.half_block_size(), (4 * v + 25, 2 * v + 13), "quiet zone included");
        let (cols, rows) = qr.half_block_size();
        let (c, r) = (cols as u16, rows as u16);
        assert!(qr.fits(c, r + 1).is_ok());
        let err = qr.fits(c - 1, r + 1).unwrap_err();
        assert!(err.contains(&format!("needs {cols}x{}", rows + 1)) && err.contains("--png"), "{err}");
        assert!(qr.fits(c, r).is_err(), "the text line under the code needs a row too");
        assert!(qr.fits(80, 24).is_err(), "a 700-byte payload does not fit 80x24");
    }

    #[test]
    fn quiet_zone_is_light_and_modules_match() {
        let qr = Qr::encode("hello").unwrap();
        let n = qr.full_width();
        for i in 0..n {
            for q in 0..QUIET_ZONE {
                assert!(!qr.dark(i, q) && !qr.dark(q, i) && !qr.dark(i, n - 1 - q) && !qr.dark(n - 1 - q, i));
            }
        }
        // The finder pattern's corner module is dark.
        assert!(qr.dark(QUIET_ZONE, QUIET_ZONE));
    }
}
