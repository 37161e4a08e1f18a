//! Keys to actions, read from TOML: the embedded `keymap.toml`, then the user's `keymap.toml`
//! in the config directory. The help overlay is generated from the map in force.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use std::collections::HashMap;
use std::path::Path;

use super::config::{parse, read_optional, ConfigError};

const DEFAULT: &str = include_str!("keymap.toml");

macro_rules! actions {
    ($($variant:ident $name:literal $help:literal,)*) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Action { $($variant,)* }

        impl Action {
            pub const ALL: &'static [Action] = &[$(Action::$variant,)*];
            pub fn name(self) -> &'static str {
                match self { $(Action::$variant => $name,)* }
            }
            pub fn help(self) -> &'static str {
                match self { $(Action::$variant => $help,)* }
            }
        }
    };
}

actions! {
    Quit "quit" "quit (asks first while runs are in progress)",
    Help "help" "show or hide this help",
    NextScreen "next_screen" "next screen",
    PrevScreen "prev_screen" "previous screen",
    GoDatasets "go_datasets" "Datasets screen",
    GoTemplates "go_templates" "Templates screen",
    GoRuns "go_runs" "Runs screen",
    GoInspect "go_inspect" "Inspect screen (the selected run)",
    GoCompare "go_compare" "Compare screen (baseline vs selected run)",
    GoExport "go_export" "Export screen",
    Up "up" "move up",
    Down "down" "move down",
    PageUp "page_up" "page up",
    PageDown "page_down" "page down",
    Top "top" "first row",
    Bottom "bottom" "last row",
    Left "left" "previous column / choice / pane",
    Right "right" "next column / choice / pane",
    Open "open" "open the selection (dataset, run, cell, example); confirm a form",
    Back "back" "close, leave a field, clear a filter",
    Search "search" "fuzzy search datasets, labels and sentences",
    NewRun "new_run" "launch form for a new run",
    CancelRun "cancel_run" "cancel the selected run",
    ResumeRun "resume_run" "resume the selected run from its last checkpoint",
    Edit "edit" "edit the template / the selected example's gold",
    Save "save" "save the template as a new version",
    Revert "revert" "revert the template to its saved version",
    AbTest "ab_test" "A/B: score the saved and the edited template zero-shot on 50 sampled instances",
    Baseline "baseline" "make the selected run the baseline (Δ column, Compare's A)",
    Sort "sort" "sort the F1 table by the next column",
    Zoom "zoom" "loss chart: recent window or full history",
    SortRuns "sort_runs" "sort the run list by the next setting (id, created, kind, status, model, lr, steps, batch, seed)",
    Tag "tag" "tag the selected run (-tag removes one)",
    Note "note" "write the selected run's note",
    Wide "wide" "run list with each run's settings (model, config, data and bank versions, lr, steps, batch, seed, note)",
    FilterDataset "filter_dataset" "filter examples by the next dataset",
    FilterKind "filter_kind" "filter examples by the next error category",
    FilterLabel "filter_label" "filter examples by the next label",
    Confusion "confusion" "show or hide the label confusion matrix",
    ByLabel "by_label" "show or hide the per-label precision, recall and F1 of the dataset in view",
    NextSame "next_same" "jump to the next example with the same error category",
    PrevExample "prev_example" "previous preview example",
    NextExample "next_example" "next preview example",
    EditSpans "edit_spans" "edit the selected example's gold as items: relabel, delete, re-span or add (spans picked in the sentence)",
    Undo "undo" "undo the last gold correction",
    Redo "redo" "redo the last undone gold correction",
    Mark "mark" "mark or unmark a run (Runs: overlaid loss and N-run Compare; Export: its table)",
    Format "format" "next export format (Markdown, LaTeX, CSV)",
    Write "write" "write the export to a file",
    Intervals "intervals" "Export: add each marked run's difference from the first, with its 95% bootstrap interval",
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Key {
    pub code: KeyCode,
    pub mods: KeyModifiers,
}

impl Key {
    pub fn from_event(e: &KeyEvent) -> Key {
        let mut mods = e.modifiers & (KeyModifiers::CONTROL | KeyModifiers::ALT);
        // Shifted letters arrive as their upper-case character; the shift is in the char.
        if let KeyCode::Char(c) = e.code {
            if c.is_ascii_alphabetic() && mods.contains(KeyModifiers::CONTROL) {
                return Key {
                    code: KeyCode::Char(c.to_ascii_lowercase()),
                    mods,
                };
            }
        }
        if e.code == KeyCode::BackTab {
            mods = KeyModifiers::NONE;
        }
        Key { code: e.code, mods }
    }

    pub fn parse(s: &str) -> Option<Key> {
        let mut mods = KeyModifiers::NONE;
        let mut rest = s;
        loop {
            if let Some(r) = rest.strip_prefix("ctrl-") {
                mods |= KeyModifiers::CONTROL;
                rest = r;
            } else if let Some(r) = rest.strip_prefix("alt-") {
                mods |= KeyModifiers::ALT;
                rest = r;
            } else {
                break;
            }
        }
        let code = match rest {
            "enter" => KeyCode::Enter,
            "esc" => KeyCode::Esc,
            "tab" => KeyCode::Tab,
            "backtab" => KeyCode::BackTab,
            "space" => KeyCode::Char(' '),
            "backspace" => KeyCode::Backspace,
            "up" => KeyCode::Up,
            "down" => KeyCode::Down,
            "left" => KeyCode::Left,
            "right" => KeyCode::Right,
            "pgup" => KeyCode::PageUp,
            "pgdn" => KeyCode::PageDown,
            "home" => KeyCode::Home,
            "end" => KeyCode::End,
            f if f.len() >= 2 && f.starts_with('f') && f[1..].parse::<u8>().is_ok() => {
                KeyCode::F(f[1..].parse().ok()?)
            }
            c if c.chars().count() == 1 => {
                let ch = c.chars().next()?;
                KeyCode::Char(if mods.contains(KeyModifiers::CONTROL) {
                    ch.to_ascii_lowercase()
                } else {
                    ch
                })
            }
            _ => return None,
        };
        Some(Key { code, mods })
    }

    pub fn label(&self) -> String {
        let mut s = String::new();
        if self.mods.contains(KeyModifiers::CONTROL) {
            s.push_str("ctrl-");
        }
        if self.mods.contains(KeyModifiers::ALT) {
            s.push_str("alt-");
        }
        s.push_str(&match self.code {
            KeyCode::Char(' ') => "space".to_string(),
            KeyCode::Char(c) => c.to_string(),
            KeyCode::F(n) => format!("f{n}"),
            KeyCode::PageUp => "pgup".into(),
            KeyCode::PageDown => "pgdn".into(),
            other => format!("{other:?}").to_lowercase(),
        });
        s
    }
}

#[derive(Debug, Clone)]
pub struct Keymap {
    by_key: HashMap<Key, Action>,
    /// Keys per action, in the order the files list them.
    pub keys: Vec<(Action, Vec<Key>)>,
}

impl Keymap {
    pub fn default_map() -> Keymap {
        Keymap::from_tables(vec![(
            "keymap.toml (built in)".into(),
            parse("keymap.toml", DEFAULT).expect("valid"),
        )])
        .expect("the built-in keymap is valid")
    }

    /// The built-in keymap with the user's `keymap.toml` from `config_dir` over it.
    pub fn load(config_dir: Option<&Path>) -> Result<Keymap, ConfigError> {
        let mut tables = vec![(
            "keymap.toml (built in)".to_string(),
            parse("keymap.toml", DEFAULT)?,
        )];
        if let Some(dir) = config_dir {
            let path = dir.join("keymap.toml");
            if let Some(t) = read_optional(&path)? {
                tables.push((path.display().to_string(), t));
            }
        }
        Keymap::from_tables(tables)
    }

    fn from_tables(tables: Vec<(String, toml::Table)>) -> Result<Keymap, ConfigError> {
        let mut keys: Vec<(Action, Vec<Key>)> =
            Action::ALL.iter().map(|a| (*a, Vec::new())).collect();
        for (path, table) in tables {
            for (name, value) in table {
                let err = |message: String| ConfigError::Entry {
                    path: path.clone(),
                    key: name.clone(),
                    message,
                };
                let action = Action::ALL
                    .iter()
                    .find(|a| a.name() == name)
                    .ok_or_else(|| err("no such action (see the built-in keymap.toml)".into()))?;
                let list = value
                    .as_array()
                    .ok_or_else(|| err("expected a list of keys".into()))?;
                let mut parsed = Vec::new();
                for k in list {
                    let s = k.as_str().ok_or_else(|| err("keys are strings".into()))?;
                    parsed.push(Key::parse(s).ok_or_else(|| err(format!("{s:?} is not a key")))?);
                }
                if let Some(slot) = keys.iter_mut().find(|(a, _)| a == action) {
                    slot.1 = parsed;
                }
            }
        }
        let mut by_key = HashMap::new();
        for (action, ks) in &keys {
            for k in ks {
                if let Some(other) = by_key.insert(*k, *action) {
                    if other != *action {
                        return Err(ConfigError::Entry {
                            path: "keymap".into(),
                            key: action.name().into(),
                            message: format!("key {} is also bound to {}", k.label(), other.name()),
                        });
                    }
                }
            }
        }
        Ok(Keymap { by_key, keys })
    }

    pub fn action(&self, e: &KeyEvent) -> Option<Action> {
        self.by_key.get(&Key::from_event(e)).copied()
    }

    /// The first key of an action, as the footer and help show it.
    pub fn key_of(&self, a: Action) -> String {
        self.keys
            .iter()
            .find(|(x, _)| *x == a)
            .and_then(|(_, k)| k.first())
            .map(Key::label)
            .unwrap_or_else(|| "(unbound)".into())
    }

    /// Help lines: keys and what the action does, in keymap order.
    pub fn help_lines(&self) -> Vec<(String, &'static str)> {
        self.keys
            .iter()
            .map(|(a, ks)| {
                let keys: Vec<String> = ks.iter().map(Key::label).collect();
                (
                    if keys.is_empty() {
                        "(unbound)".into()
                    } else {
                        keys.join(" ")
                    },
                    a.help(),
                )
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(code: KeyCode, mods: KeyModifiers) -> KeyEvent {
        KeyEvent::new(code, mods)
    }

    #[test]
    fn the_default_map_binds_every_action() {
        let k = Keymap::default_map();
        for (a, keys) in &k.keys {
            assert!(!keys.is_empty(), "{} unbound", a.name());
        }
        assert_eq!(
            k.action(&ev(KeyCode::Char('q'), KeyModifiers::NONE)),
            Some(Action::Quit)
        );
        assert_eq!(
            k.action(&ev(KeyCode::Char('c'), KeyModifiers::CONTROL)),
            Some(Action::Quit)
        );
        assert_eq!(
            k.action(&ev(KeyCode::Char('G'), KeyModifiers::SHIFT)),
            Some(Action::Bottom)
        );
        assert_eq!(
            k.action(&ev(KeyCode::BackTab, KeyModifiers::SHIFT)),
            Some(Action::PrevScreen)
        );
        assert_eq!(
            k.action(&ev(KeyCode::Char('r'), KeyModifiers::CONTROL)),
            Some(Action::Redo)
        );
    }

    #[test]
    fn a_user_keymap_rebinds_and_bad_entries_are_named() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("keymap.toml"), "quit = [\"ctrl-q\"]\n").unwrap();
        let k = Keymap::load(Some(dir.path())).unwrap();
        assert_eq!(
            k.action(&ev(KeyCode::Char('q'), KeyModifiers::CONTROL)),
            Some(Action::Quit)
        );
        assert_eq!(k.action(&ev(KeyCode::Char('q'), KeyModifiers::NONE)), None);
        assert!(k
            .help_lines()
            .iter()
            .any(|(keys, h)| keys == "ctrl-q" && h.starts_with("quit")));
        std::fs::write(dir.path().join("keymap.toml"), "fly = [\"x\"]\n").unwrap();
        let e = Keymap::load(Some(dir.path())).unwrap_err().to_string();
        assert!(e.contains("keymap.toml: fly: no such action"), "{e}");
        std::fs::write(dir.path().join("keymap.toml"), "help = [\"q\"]\n").unwrap();
        let e = Keymap::load(Some(dir.path())).unwrap_err().to_string();
        assert!(e.contains("key q is also bound to"), "{e}");
    }
}
