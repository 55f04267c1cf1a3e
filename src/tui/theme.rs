//! Colours. The selection is always marked with a symbol too, so it shows without colour (`NO_COLOR`).

use ratatui::style::{Color, Modifier, Style};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ThemeName {
    Dark,
    Light,
    NoColor,
}

impl ThemeName {
    /// `NO_COLOR` (any non-empty value, see no-color.org) wins over the configured theme.
    pub fn choose(configured: Option<&str>, no_color: Option<&str>) -> Result<ThemeName, String> {
        if no_color.is_some_and(|v| !v.is_empty()) {
            return Ok(ThemeName::NoColor);
        }
        match configured.unwrap_or("dark") {
            "dark" => Ok(ThemeName::Dark),
            "light" => Ok(ThemeName::Light),
            "none" => Ok(ThemeName::NoColor),
            other => Err(format!("theme {other:?} is not one of dark, light, none")),
        }
    }
}

#[derive(Clone, Copy, Debug)]
pub struct Theme {
    pub name: ThemeName,
    pub base: Style,
    pub title: Style,
    pub header: Style,
    pub selected: Style,
    pub marked: Style,
    pub dim: Style,
    pub key: Style,
    pub error: Style,
    pub ok: Style,
    pub warn: Style,
    pub border: Style,
    pub input: Style,
}

/// The marker in front of the row under the cursor, and of a multi-selected row.
pub const CURSOR: &str = "> ";
pub const MARK: &str = "* ";

impl Theme {
    pub fn new(name: ThemeName) -> Theme {
        let plain = Style::default();
        match name {
            ThemeName::NoColor => Theme {
                name,
                base: plain,
                title: plain.add_modifier(Modifier::BOLD),
                header: plain.add_modifier(Modifier::BOLD),
                selected: plain.add_modifier(Modifier::BOLD),
                marked: plain,
                dim: plain,
                key: plain.add_modifier(Modifier::BOLD),
                error: plain.add_modifier(Modifier::BOLD),
                ok: plain,
                warn: plain.add_modifier(Modifier::BOLD),
                border: plain,
                input: plain.add_modifier(Modifier::UNDERLINED),
            },
            ThemeName::Dark => Theme {
                name,
                base: plain.fg(Color::Gray),
                title: plain.fg(Color::Cyan).add_modifier(Modifier::BOLD),
                header: plain.fg(Color::Yellow).add_modifier(Modifier::BOLD),
                selected: plain.fg(Color::Black).bg(Color::Cyan),
                marked: plain.fg(Color::LightGreen),
                dim: plain.fg(Color::DarkGray),
                key: plain.fg(Color::Cyan).add_modifier(Modifier::BOLD),
                error: plain.fg(Color::LightRed).add_modifier(Modifier::BOLD),
                ok: plain.fg(Color::LightGreen),
                warn: plain.fg(Color::Yellow).add_modifier(Modifier::BOLD),
                border: plain.fg(Color::DarkGray),
                input: plain.fg(Color::White).bg(Color::DarkGray),
            },
            ThemeName::Light => Theme {
                name,
                base: plain.fg(Color::Black),
                title: plain.fg(Color::Blue).add_modifier(Modifier::BOLD),
                header: plain.fg(Color::Magenta).add_modifier(Modifier::BOLD),
                selected: plain.fg(Color::White).bg(Color::Blue),
                marked: plain.fg(Color::Green),
                dim: plain.fg(Color::DarkGray),
                key: plain.fg(Color::Blue).add_modifier(Modifier::BOLD),
                error: plain.fg(Color::Red).add_modifier(Modifier::BOLD),
                ok: plain.fg(Color::Green),
                warn: plain.fg(Color::Red),
                border: plain.fg(Color::Gray),
                input: plain.fg(Color::Black).bg(Color::Gray),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_color_wins_and_unknown_themes_are_refused() {
        assert_eq!(ThemeName::choose(Some("light"), Some("1")).unwrap(), ThemeName::NoColor);
        assert_eq!(ThemeName::choose(Some("light"), Some("")).unwrap(), ThemeName::Light);
        assert_eq!(ThemeName::choose(None, None).unwrap(), ThemeName::Dark);
        assert!(ThemeName::choose(Some("pink"), None).unwrap_err().contains("pink"));
        let t = Theme::new(ThemeName::NoColor);
        assert_eq!(t.selected.fg, None, "no colours at all");
        assert_eq!(t.selected.bg, None);
    }
}
