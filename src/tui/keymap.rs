//! Key bindings: the defaults from `assets/keymap.toml`, the user's `[keys]` from config.toml over them.

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::action::Action;

pub const DEFAULTS: &str = include_str!("../../assets/keymap.toml");

/// Where a binding applies. Several are active at once (e.g. `Detail`, `Table`, `Global`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Context {
    Global,
    Table,
    Profiles,
    Detail,
    Qr,
    Dep,
    DepDevice,
    Users,
    Catalog,
    Audit,
    Scan,
    Search,
    CheckIn,
    Dialog,
}

impl Context {
    pub const ALL: [Context; 14] = [
        Context::Global,
        Context::Table,
        Context::Profiles,
        Context::Detail,
        Context::Qr,
        Context::Dep,
        Context::DepDevice,
        Context::Users,
        Context::Catalog,
        Context::Audit,
        Context::Scan,
        Context::Search,
        Context::CheckIn,
        Context::Dialog,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Context::Global => "global",
            Context::Table => "table",
            Context::Profiles => "profiles",
            Context::Detail => "detail",
            Context::Qr => "qr",
            Context::Dep => "dep",
            Context::DepDevice => "dep_device",
            Context::Users => "users",
            Context::Catalog => "catalog",
            Context::Audit => "audit",
            Context::Scan => "scan",
            Context::Search => "search",
            Context::CheckIn => "checkin",
            Context::Dialog => "dialog",
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            Context::Global => "Everywhere",
            Context::Table => "Tables",
            Context::Profiles => "Profiles",
            Context::Detail => "Profile detail",
            Context::Qr => "QR code",
            Context::Dep => "DEP devices",
            Context::DepDevice => "DEP device",
            Context::Users => "Users",
            Context::Catalog => "Catalog",
            Context::Audit => "Audit",
            Context::Scan => "Scan station",
            Context::Search => "Find a device",
            Context::CheckIn => "Check-in",
            Context::Dialog => "Dialogs and forms",
        }
    }

    fn from_name(name: &str) -> Option<Context> {
        Context::ALL.into_iter().find(|c| c.name() == name)
    }
}

/// A key with its modifiers, as written in the keymap ("Ctrl-r", "G", "PageDown").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Key {
    pub code: KeyCode,
    pub mods: KeyModifiers,
}

impl Key {
    /// Normalises a terminal key event: Shift is part of the character for printable keys.
    pub fn from_event(e: &KeyEvent) -> Key {
        let mut mods = e.modifiers & (KeyModifiers::CONTROL | KeyModifiers::ALT);
        let code = match e.code {
            KeyCode::Char(c) if mods.contains(KeyModifiers::CONTROL) => KeyCode::Char(c.to_ascii_lowercase()),
            KeyCode::BackTab => {
                mods.remove(KeyModifiers::SHIFT);
                KeyCode::BackTab
            }
            other => other,
        };
        Key { code, mods }
    }

    pub fn parse(text: &str) -> Result<Key, String> {
        let mut mods = KeyModifiers::NONE;
        let mut rest = text;
        loop {
            if let Some(r) = rest.strip_prefix("Ctrl-").or_else(|| rest.strip_prefix("ctrl-")) {
                mods |= KeyModifiers::CONTROL;
                rest = r;
            } else if let Some(r) = rest.strip_prefix("Alt-").or_else(|| rest.strip_prefix("alt-")) {
                mods |= KeyModifiers::ALT;
                rest = r;
            } else {
                break;
            }
        }
        let code = match rest {
            "Enter" => KeyCode::Enter,
            "Esc" => KeyCode::Esc,
            "Tab" => KeyCode::Tab,
            "BackTab" => KeyCode::BackTab,
            "Space" => KeyCode::Char(' '),
            "Backspace" => KeyCode::Backspace,
            "Delete" => KeyCode::Delete,
            "Up" => KeyCode::Up,
            "Down" => KeyCode::Down,
            "Left" => KeyCode::Left,
            "Right" => KeyCode::Right,
            "PageUp" => KeyCode::PageUp,
            "PageDown" => KeyCode::PageDown,
            "Home" => KeyCode::Home,
            "End" => KeyCode::End,
            f if f.starts_with('F') && f.len() > 1 => {
                KeyCode::F(f[1..].parse().map_err(|_| format!("unknown key {text:?}"))?)
            }
            c if c.chars().count() == 1 => {
                let ch = c.chars().next().expect("one character");
                KeyCode::Char(if mods.contains(KeyModifiers::CONTROL) { ch.to_ascii_lowercase() } else { ch })
            }
            _ => return Err(format!("unknown key {text:?}")),
        };
        Ok(Key { code, mods })
    }

    pub fn label(self) -> String {
        let base = match self.code {
            KeyCode::Enter => "Enter".to_string(),
            KeyCode::Esc => "Esc".to_string(),
            KeyCode::Tab => "Tab".to_string(),
            KeyCode::BackTab => "Shift-Tab".to_string(),
            KeyCode::Char(' ') => "Space".to_string(),
            KeyCode::Backspace => "Backspace".to_string(),
            KeyCode::Delete => "Del".to_string(),
            KeyCode::Up => "↑".to_string(),
            KeyCode::Down => "↓".to_string(),
            KeyCode::Left => "←".to_string(),
            KeyCode::Right => "→".to_string(),
            KeyCode::PageUp => "PgUp".to_string(),
            KeyCode::PageDown => "PgDn".to_string(),
            KeyCode::Home => "Home".to_string(),
            KeyCode::End => "End".to_string(),
            KeyCode::F(n) => format!("F{n}"),
            KeyCode::Char(c) => c.to_string(),
            other => format!("{other:?}"),
        };
        let mut out = String::new();
        if self.mods.contains(KeyModifiers::CONTROL) {
            out.push_str("Ctrl-");
        }
        if self.mods.contains(KeyModifiers::ALT) {
            out.push_str("Alt-");
        }
        out + &base
    }
}

/// The bindings of every context, in the keymap file's order.
#[derive(Clone, Debug)]
pub struct Keymap {
    bindings: Vec<(Context, Action, Vec<Key>)>,
}

impl Keymap {
    /// The defaults with `overrides` (config.toml's `[keys]` table) applied over them.
    pub fn load(overrides: &toml::Table) -> Result<Keymap, String> {
        let defaults: toml::Table = DEFAULTS.parse().map_err(|e| format!("assets/keymap.toml: {e}"))?;
        let mut map = Keymap { bindings: Vec::new() };
        map.apply(&defaults, "assets/keymap.toml", true)?;
        map.apply(overrides, "config.toml [keys]", false)?;
        Ok(map)
    }

    fn apply(&mut self, table: &toml::Table, source: &str, defaults: bool) -> Result<(), String> {
        for (section, actions) in table {
            let context = Context::from_name(section).ok_or_else(|| {
                let known: Vec<&str> = Context::ALL.iter().map(|c| c.name()).collect();
                format!("{source}: unknown section {section:?}; the sections are {}", known.join(", "))
            })?;
            let actions = actions.as_table().ok_or_else(|| format!("{source}: [{section}] must be a table"))?;
            for (name, keys) in actions {
                let action = Action::from_name(name)
                    .ok_or_else(|| format!("{source}: [{section}] has an unknown action {name:?}"))?;
                let keys = keys
                    .as_array()
                    .ok_or_else(|| format!("{source}: {section}.{name} must be a list of keys"))?
                    .iter()
                    .map(|k| {
                        k.as_str()
                            .ok_or_else(|| format!("{source}: {section}.{name}: keys are strings"))
                            .and_then(|k| Key::parse(k).map_err(|e| format!("{source}: {section}.{name}: {e}")))
                    })
                    .collect::<Result<Vec<Key>, String>>()?;
                match self.bindings.iter_mut().find(|(c, a, _)| *c == context && *a == action) {
                    Some(b) => b.2 = keys,
                    None if defaults => self.bindings.push((context, action, keys)),
                    None => {
                        return Err(format!(
                            "{source}: {name} is not an action of [{section}] (see assets/keymap.toml)"
                        ));
                    }
                }
            }
        }
        Ok(())
    }

    /// The action bound to `key` in the first of `contexts` that binds it.
    pub fn lookup(&self, contexts: &[Context], key: Key) -> Option<Action> {
        contexts
            .iter()
            .find_map(|c| self.bindings.iter().find(|(bc, _, keys)| bc == c && keys.contains(&key)).map(|(_, a, _)| *a))
    }

    /// The bindings of one context: action and its keys.
    pub fn bindings(&self, context: Context) -> impl Iterator<Item = (Action, &[Key])> {
        self.bindings.iter().filter(move |(c, _, _)| *c == context).map(|(_, a, k)| (*a, k.as_slice()))
    }

    /// The first key of an action in a context, as a label ("d", "Ctrl-r").
    pub fn key_label(&self, context: Context, action: Action) -> Option<String> {
        self.bindings
            .iter()
            .find(|(c, a, _)| *c == context && *a == action)
            .and_then(|(_, _, k)| k.first())
            .map(|k| k.label())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(code: KeyCode) -> Key {
        Key { code, mods: KeyModifiers::NONE }
    }

    #[test]
    fn defaults_load_and_every_binding_has_a_description() {
        let map = Keymap::load(&toml::Table::new()).unwrap();
        assert_eq!(map.lookup(&[Context::Table, Context::Global], key(KeyCode::Char('j'))), Some(Action::Down));
        assert_eq!(map.lookup(&[Context::Global], key(KeyCode::Char('q'))), Some(Action::Quit));
        let ctrl_r = Key { code: KeyCode::Char('r'), mods: KeyModifiers::CONTROL };
        assert_eq!(map.lookup(&[Context::Global], ctrl_r), Some(Action::Refresh));
        for context in Context::ALL {
            for (action, keys) in map.bindings(context) {
                assert!(!keys.is_empty(), "{} has no key", action.name());
                assert!(action.description().len() > 4);
            }
        }
    }

    #[test]
    fn user_keys_replace_the_defaults_of_that_action_only() {
        let overrides: toml::Table = "[profiles]\ndelete = [\"x\"]\n".parse().unwrap();
        let map = Keymap::load(&overrides).unwrap();
        assert_eq!(map.lookup(&[Context::Profiles], key(KeyCode::Char('x'))), Some(Action::Delete));
        assert_eq!(map.lookup(&[Context::Profiles], key(KeyCode::Char('d'))), None);
        assert_eq!(map.lookup(&[Context::Profiles], key(KeyCode::Enter)), Some(Action::Open));
    }

    #[test]
    fn bad_overrides_are_refused_with_where_and_what() {
        let bad: toml::Table = "[profiles]\nfly = [\"f\"]\n".parse().unwrap();
        assert!(Keymap::load(&bad).unwrap_err().contains("unknown action \"fly\""));
        let bad: toml::Table = "[nowhere]\nquit = [\"f\"]\n".parse().unwrap();
        assert!(Keymap::load(&bad).unwrap_err().contains("unknown section \"nowhere\""));
        let bad: toml::Table = "[global]\nquit = [\"Hyper-x\"]\n".parse().unwrap();
        assert!(Keymap::load(&bad).unwrap_err().contains("global.quit"));
        let bad: toml::Table = "[qr]\nquit = [\"z\"]\n".parse().unwrap();
        assert!(Keymap::load(&bad).unwrap_err().contains("not an action of [qr]"));
    }

    #[test]
    fn keys_parse_and_label() {
        assert_eq!(Key::parse("Ctrl-R").unwrap(), Key { code: KeyCode::Char('r'), mods: KeyModifiers::CONTROL });
        assert_eq!(Key::parse("G").unwrap().label(), "G");
        assert_eq!(Key::parse("PageDown").unwrap().label(), "PgDn");
        assert_eq!(Key::parse("F5").unwrap(), key(KeyCode::F(5)));
        let shift_g = KeyEvent::new(KeyCode::Char('G'), KeyModifiers::SHIFT);
        assert_eq!(Key::from_event(&shift_g), key(KeyCode::Char('G')));
    }
}
