//! The provisioning QR code of a profile.
//!
//! Where the terminal shows images (see `tui::graphics`) the code is drawn as an image sized to the
//! space, a whole number of pixels per module, so a 700–900 byte payload (version 17–20) is scannable at
//! 80×24 and over SSH. Elsewhere it is drawn with characters: half blocks (one module wide, two high per
//! cell) or compact (2×2 modules per cell); when neither fits, the screen names the size it needs and how
//! to save the code as a file. `c` goes through the drawings the terminal has.

use std::cell::RefCell;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect, Size};
use ratatui::style::{Color, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};
use ratatui_image::picker::Picker;
use ratatui_image::protocol::Protocol;
use ratatui_image::{Image, Resize};

use super::{Ctx, DrawCtx, Effect};
use crate::qr::render::Qr;
use crate::tui::action::Action;
use crate::tui::form::FormPurpose;
use crate::tui::form::{FieldId, Form, FormField};
use crate::tui::keymap::Context;
use crate::tui::theme::Theme;
use crate::tui::widgets::text::owned;

/// Fewest pixels per module for an image: below it a phone camera rarely reads a code off a screen.
pub const MIN_SCALE: usize = 2;

/// How the code is drawn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Drawing {
    /// A terminal image (sixel, kitty, iTerm2).
    Image,
    /// One module wide and two high per cell.
    HalfBlock,
    /// Two by two modules per cell.
    Compact,
}

/// Where an image of the code goes: pixels per module and the cells it covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ImageFit {
    pub scale: usize,
    pub columns: u16,
    pub rows: u16,
}

/// The largest whole number of pixels per module that fits `space` cells of `font` pixels, if at least
/// `MIN_SCALE`.
pub fn image_fit(modules: usize, font: (u16, u16), space: (u16, u16)) -> Option<ImageFit> {
    let (fw, fh) = (usize::from(font.0.max(1)), usize::from(font.1.max(1)));
    let scale = (usize::from(space.0) * fw).min(usize::from(space.1) * fh) / modules.max(1);
    if scale < MIN_SCALE {
        return None;
    }
    let side = modules * scale;
    Some(ImageFit { scale, columns: side.div_ceil(fw) as u16, rows: side.div_ceil(fh) as u16 })
}

struct Drawn {
    fit: ImageFit,
    protocol: Protocol,
}

pub struct QrState {
    pub profile: String,
    pub payload_bytes: usize,
    pub qr: Qr,
    pub drawing: Drawing,
    /// The image encoded for the terminal, kept while its size stays (encoding a sixel takes a while).
    image: RefCell<Option<Drawn>>,
}

impl std::fmt::Debug for QrState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QrState").field("profile", &self.profile).field("drawing", &self.drawing).finish()
    }
}

impl QrState {
    /// The screen for a payload, drawn as an image when the terminal can show one.
    pub fn new(profile: &str, payload: &str, graphics: bool) -> Result<QrState, String> {
        Ok(QrState {
            profile: profile.to_string(),
            payload_bytes: payload.len(),
            qr: Qr::encode(payload)?,
            drawing: if graphics { Drawing::Image } else { Drawing::HalfBlock },
            image: RefCell::new(None),
        })
    }

    fn act(&mut self, action: Action, graphics: bool) -> Effect {
        match action {
            Action::Back => Effect::Back,
            Action::Compact => {
                self.drawing = match self.drawing {
                    Drawing::Image => Drawing::HalfBlock,
                    Drawing::HalfBlock => Drawing::Compact,
                    Drawing::Compact if graphics => Drawing::Image,
                    Drawing::Compact => Drawing::HalfBlock,
                };
                Effect::None
            }
            Action::SavePng | Action::SaveSvg => {
                let png = action == Action::SavePng;
                let path =
                    format!("{}-qr.{}", crate::tui::files::file_stem(&self.profile), if png { "png" } else { "svg" });
                Effect::Form(Form::new(
                    format!("Save the QR code as {}", if png { "PNG" } else { "SVG" }),
                    FormPurpose::SaveQr { png },
                    vec![FormField::path(FieldId::File, "File", &path, "Tab completes the path")],
                ))
            }
            _ => Effect::None,
        }
    }
}

/// Cells of the QR code, with explicit black on white whatever the terminal's palette.
pub fn qr_lines(q: &Qr, compact: bool) -> Vec<Line<'static>> {
    let n = q.full_width();
    let dark = |x: usize, y: usize| q.dark(x, y);
    let black = Color::Black;
    let white = Color::White;
    if compact {
        const QUADRANTS: [char; 16] = [' ', '▘', '▝', '▀', '▖', '▌', '▞', '▛', '▗', '▚', '▐', '▜', '▄', '▙', '▟', '█'];
        (0..n.div_ceil(2))
            .map(|row| {
                let text: String = (0..n.div_ceil(2))
                    .map(|col| {
                        let (x, y) = (2 * col, 2 * row);
                        let bits = usize::from(dark(x, y))
                            | usize::from(dark(x + 1, y)) << 1
                            | usize::from(dark(x, y + 1)) << 2
                            | usize::from(dark(x + 1, y + 1)) << 3;
                        QUADRANTS[bits]
                    })
                    .collect();
                Line::from(Span::styled(text, Style::default().fg(black).bg(white)))
            })
            .collect()
    } else {
        q.half_block_cells()
            .into_iter()
            .map(|row| {
                Line::from(
                    row.into_iter()
                        .map(|c| {
                            Span::styled(
                                c.ch.to_string(),
                                Style::default().fg(if c.fg_dark { black } else { white }).bg(if c.bg_dark {
                                    black
                                } else {
                                    white
                                }),
                            )
                        })
                        .collect::<Vec<_>>(),
                )
            })
            .collect()
    }
}

/// Columns × rows the code needs drawn with characters.
pub fn qr_size(q: &Qr, compact: bool) -> (u16, u16) {
    let (w, h) = q.half_block_size();
    if compact { (h as u16, h as u16) } else { (w as u16, h as u16) }
}

/// Columns the description beside the code needs.
const INFO_WIDTH: u16 = 30;
/// Rows the description below the code needs.
const INFO_ROWS: u16 = 7;

fn info(t: &Theme, q: &QrState, how: String, next: &str) -> Vec<Line<'static>> {
    vec![
        Line::from(Span::styled(owned(&q.profile), t.title)),
        Line::from(format!("payload {} bytes", q.payload_bytes)),
        Line::from(format!("QR version {}, level {}", q.qr.version(), q.qr.ec_level())),
    ]
    .into_iter()
    .chain(how.lines().map(|l| Line::from(l.to_string())))
    .chain([
        Line::from(Span::styled(format!("c: {next}"), t.dim)),
        Line::from(Span::styled("scan with the Android setup wizard", t.dim)),
    ])
    .collect()
}

/// The code and its description side by side when there is room, else the description below.
fn place(area: Rect, size: (u16, u16)) -> (Rect, Rect) {
    let (w, h) = size;
    if area.width.saturating_sub(w) >= INFO_WIDTH + 2 || area.height.saturating_sub(h) < INFO_ROWS {
        let [c, _, i] =
            Layout::horizontal([Constraint::Length(w), Constraint::Length(2), Constraint::Min(0)]).areas(area);
        (Rect { height: h.min(c.height), ..c }, i)
    } else {
        let [c, i] = Layout::vertical([Constraint::Length(h), Constraint::Min(0)]).areas(area);
        (Rect { width: w.min(c.width), ..c }, i)
    }
}

pub fn draw(t: &Theme, q: &QrState, graphics: Option<&Picker>, area: Rect, frame: &mut Frame) {
    let next = match (q.drawing, graphics.is_some()) {
        (Drawing::Image, _) => "half-block drawing",
        (Drawing::HalfBlock, _) => "compact drawing",
        (Drawing::Compact, true) => "image",
        (Drawing::Compact, false) => "half-block drawing",
    };
    if let (Drawing::Image, Some(picker)) = (q.drawing, graphics)
        && draw_image(t, q, picker, next, area, frame)
    {
        return;
    }
    let compact = q.drawing == Drawing::Compact;
    let (w, h) = qr_size(&q.qr, compact);
    let how = format!("{} drawing, {w}x{h} cells", if compact { "compact (2x2)" } else { "half-block" });
    if w > area.width || h > area.height {
        let (cw, ch) = qr_size(&q.qr, true);
        let mut lines = vec![
            Line::from(Span::styled(
                format!(
                    "The terminal is too small for this QR code: it needs {w}x{h} cells, the space is {}x{}.",
                    area.width, area.height
                ),
                t.warn,
            )),
            Line::from(""),
            Line::from(if compact || cw > area.width || ch > area.height {
                format!("Enlarge the terminal (compact drawing needs {cw}x{ch}), or save the code as a file:")
            } else {
                format!("Switch to the compact drawing ({cw}x{ch}) with c, or save the code as a file:")
            }),
            Line::from("  p  save PNG      s  save SVG"),
            Line::from(""),
        ];
        lines.extend(info(t, q, how, next));
        frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), area);
        return;
    }
    let (code, rest) = place(area, (w, h));
    frame.render_widget(Paragraph::new(qr_lines(&q.qr, compact)), code);
    frame.render_widget(Paragraph::new(info(t, q, how, next)), rest);
}

/// Draws the code as an image; `false` when it does not fit at `MIN_SCALE` (characters are tried next).
fn draw_image(t: &Theme, q: &QrState, picker: &Picker, next: &str, area: Rect, frame: &mut Frame) -> bool {
    let modules = q.qr.full_width();
    let font = picker.font_size();
    let font = (font.width, font.height);
    let beside = Rect { width: area.width.saturating_sub(INFO_WIDTH + 2), ..area };
    let below = Rect { height: area.height.saturating_sub(INFO_ROWS), ..area };
    let fit = [beside, below, area]
        .into_iter()
        .enumerate()
        .filter_map(|(i, space)| Some((i, image_fit(modules, font, (space.width, space.height))?)))
        // The largest; of equals, the one that leaves room for the description.
        .max_by_key(|(i, f)| (f.scale, std::cmp::Reverse(*i)))
        .map(|(_, f)| f);
    let Some(fit) = fit else { return false };
    let mut cache = q.image.borrow_mut();
    if cache.as_ref().is_none_or(|d| d.fit != fit) {
        let (n, pixels) = q.qr.pixels(fit.scale);
        let Some(gray) = image::GrayImage::from_raw(n as u32, n as u32, pixels) else { return false };
        match picker.new_protocol(
            image::DynamicImage::ImageLuma8(gray),
            Size::new(fit.columns, fit.rows),
            Resize::Fit(None),
        ) {
            Ok(protocol) => *cache = Some(Drawn { fit, protocol }),
            Err(_) => return false,
        }
    }
    let Some(drawn) = cache.as_ref() else { return false };
    let (code, rest) = place(area, (fit.columns, fit.rows));
    frame.render_widget(Image::new(&drawn.protocol), code);
    let how = format!(
        "{} image, {}x{} cells\n{} pixels per module",
        crate::tui::graphics::name(picker),
        fit.columns,
        fit.rows,
        fit.scale
    );
    frame.render_widget(Paragraph::new(info(t, q, how, next)), rest);
    true
}

impl super::Unit for QrState {
    fn context(&self) -> Context {
        Context::Qr
    }

    fn action(&mut self, action: Action, cx: &mut Ctx) -> Effect {
        self.act(action, cx.graphics)
    }

    fn submit(&mut self, form: &Form, _cx: &mut Ctx) -> Result<Effect, String> {
        let FormPurpose::SaveQr { png } = form.purpose else { return Err("not a QR code form".into()) };
        let path = std::path::PathBuf::from(form.value(FieldId::File));
        let bytes = if png { self.qr.png(8)? } else { self.qr.svg().into_bytes() };
        // The code holds the token and the Wi-Fi password: the file is private (0600).
        let mut file = match super::create_for(form, &path)? {
            Ok(file) => file,
            Err(ask) => return Ok(ask),
        };
        let name = crate::files::name(&path);
        std::io::Write::write_all(&mut file, &bytes).map_err(|err| format!("{name}: {err}"))?;
        Ok(Effect::Status(super::Level::Info, format!("wrote {name}")))
    }

    fn draw(&self, cx: &DrawCtx, area: Rect, frame: &mut Frame) {
        draw(cx.theme, self, cx.graphics, area, frame)
    }
}
