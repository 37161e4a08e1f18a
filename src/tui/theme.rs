//! Themes: semantic colours read from TOML (`themes/*.toml`, embedded), with a user's
//! `theme.toml` in the config directory laid over the chosen one.

use ratatui::style::{Color, Modifier, Style};
use std::path::Path;
use std::str::FromStr;

use super::config::{layer, parse, read_optional, ConfigError};
use crate::eval::verdict::ErrorKind;

pub const BUILTIN: [(&str, &str); 3] = [
    ("dark", include_str!("../../themes/dark.toml")),
    ("light", include_str!("../../themes/light.toml")),
    ("colorblind", include_str!("../../themes/colorblind.toml")),
];

#[derive(Debug, Clone, PartialEq)]
pub struct Theme {
    pub name: String,
    pub background: Color,
    pub text: Color,
    pub dim: Color,
    pub border: Color,
    pub focus: Color,
    pub selection_bg: Color,
    pub title: Color,
    pub status: Color,
    pub warning: Color,
    pub error: Color,
    pub gold: Color,
    pub prediction: Color,
    pub correct: Color,
    pub missing: Color,
    pub spurious: Color,
    pub wrong_type: Color,
    pub wrong_boundary: Color,
    pub malformed: Color,
    pub loss: Color,
    pub smoothed: Color,
    pub dev_f1: Color,
    pub better: Color,
    pub worse: Color,
    /// One colour per run where several share a chart, in order (`[chart] runs`).
    pub runs: Vec<Color>,
}

impl Theme {
    /// A built-in theme by name, or a TOML file (laid over `dark`, so it may set only some
    /// colours); then the user's `theme.toml` from `config_dir`, if any.
    pub fn load(spec: &str, config_dir: Option<&Path>) -> Result<Theme, ConfigError> {
        let (mut table, origin) = match BUILTIN.iter().find(|(n, _)| *n == spec) {
            Some((n, text)) => (
                parse(&format!("themes/{n}.toml"), text)?,
                format!("themes/{n}.toml"),
            ),
            None => {
                let path = Path::new(spec);
                let mut base = parse("themes/dark.toml", BUILTIN[0].1)?;
                let over = read_optional(path)?.ok_or_else(|| ConfigError::Entry {
                    path: spec.to_string(),
                    key: "theme".into(),
                    message: format!(
                        "neither a built-in theme ({}) nor an existing file",
                        BUILTIN.map(|b| b.0).join(", ")
                    ),
                })?;
                layer(&mut base, over);
                (base, spec.to_string())
            }
        };
        let mut origin = origin;
        if let Some(dir) = config_dir {
            let user = dir.join("theme.toml");
            if let Some(over) = read_optional(&user)? {
                layer(&mut table, over);
                origin = user.display().to_string();
            }
        }
        Theme::from_table(&origin, &table)
    }

    fn from_table(origin: &str, t: &toml::Table) -> Result<Theme, ConfigError> {
        let get = |section: &str, key: &str| -> Result<Color, ConfigError> {
            let entry = |message: String| ConfigError::Entry {
                path: origin.to_string(),
                key: format!("{section}.{key}"),
                message,
            };
            let v = t
                .get(section)
                .and_then(|s| s.get(key))
                .ok_or_else(|| entry("missing".into()))?;
            let s = v
                .as_str()
                .ok_or_else(|| entry("expected a colour string".into()))?;
            Color::from_str(s).map_err(|_| entry(format!("{s:?} is not a colour")))
        };
        Ok(Theme {
            name: t
                .get("name")
                .and_then(|n| n.as_str())
                .unwrap_or("custom")
                .to_string(),
            background: get("ui", "background")?,
            text: get("ui", "text")?,
            dim: get("ui", "dim")?,
            border: get("ui", "border")?,
            focus: get("ui", "focus")?,
            selection_bg: get("ui", "selection_bg")?,
            title: get("ui", "title")?,
            status: get("ui", "status")?,
            warning: get("ui", "warning")?,
            error: get("ui", "error")?,
            gold: get("ie", "gold")?,
            prediction: get("ie", "prediction")?,
            correct: get("ie", "correct")?,
            missing: get("ie", "missing")?,
            spurious: get("ie", "spurious")?,
            wrong_type: get("ie", "wrong_type")?,
            wrong_boundary: get("ie", "wrong_boundary")?,
            malformed: get("ie", "malformed")?,
            loss: get("chart", "loss")?,
            smoothed: get("chart", "smoothed")?,
            dev_f1: get("chart", "dev_f1")?,
            better: get("chart", "better")?,
            worse: get("chart", "worse")?,
            runs: {
                let entry = |message: String| ConfigError::Entry {
                    path: origin.to_string(),
                    key: "chart.runs".into(),
                    message,
                };
                let list = t
                    .get("chart")
                    .and_then(|s| s.get("runs"))
                    .and_then(|v| v.as_array())
                    .filter(|a| !a.is_empty())
                    .ok_or_else(|| entry("missing: a list of colours".into()))?;
                list.iter()
                    .map(|v| {
                        let s = v
                            .as_str()
                            .ok_or_else(|| entry("expected colour strings".into()))?;
                        Color::from_str(s).map_err(|_| entry(format!("{s:?} is not a colour")))
                    })
                    .collect::<Result<Vec<Color>, ConfigError>>()?
            },
        })
    }

    pub fn dark() -> Theme {
        Theme::load("dark", None).expect("the built-in dark theme is valid")
    }

    /// A difference between two runs: bold in its direction's colour where the bootstrap
    /// finds it significant, dimmed where it does not.
    pub fn difference(&self, d: &crate::eval::significance::Difference) -> Style {
        if !d.significant {
            self.dimmed()
        } else if d.delta > 0.0 {
            Style::default()
                .fg(self.better)
                .add_modifier(Modifier::BOLD)
        } else {
            Style::default().fg(self.worse).add_modifier(Modifier::BOLD)
        }
    }

    /// The colour of the `i`th run on a shared chart (the list repeats past its end).
    pub fn series(&self, i: usize) -> Color {
        self.runs[i % self.runs.len()]
    }

    pub fn base(&self) -> Style {
        Style::default().fg(self.text).bg(self.background)
    }

    pub fn dimmed(&self) -> Style {
        Style::default().fg(self.dim)
    }

    pub fn selected(&self) -> Style {
        Style::default()
            .bg(self.selection_bg)
            .fg(self.focus)
            .add_modifier(Modifier::BOLD)
    }

    pub fn border(&self, focused: bool) -> Style {
        Style::default().fg(if focused { self.focus } else { self.border })
    }

    /// The colour of an error category.
    pub fn kind(&self, k: ErrorKind) -> Color {
        match k {
            ErrorKind::Correct => self.correct,
            ErrorKind::Missing => self.missing,
            ErrorKind::Spurious => self.spurious,
            ErrorKind::WrongType => self.wrong_type,
            ErrorKind::WrongBoundary => self.wrong_boundary,
            _ => self.malformed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_theme_sets_every_colour_and_differs() {
        let themes: Vec<Theme> = BUILTIN
            .iter()
            .map(|(n, _)| Theme::load(n, None).unwrap())
            .collect();
        assert_ne!(themes[0], themes[1]);
        assert_ne!(themes[0], themes[2]);
        // The semantic pairs a reader must tell apart are distinct in each theme.
        for t in &themes {
            assert_ne!(t.gold, t.prediction, "{}", t.name);
            assert_ne!(t.missing, t.spurious, "{}", t.name);
            assert_ne!(t.better, t.worse, "{}", t.name);
        }
    }

    #[test]
    fn a_user_file_overrides_some_colours_and_bad_ones_are_named() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("theme.toml"), "[ie]\ngold = \"#010203\"\n").unwrap();
        let t = Theme::load("light", Some(dir.path())).unwrap();
        assert_eq!(t.gold, Color::Rgb(1, 2, 3));
        assert_eq!(t.text, Theme::load("light", None).unwrap().text);
        std::fs::write(dir.path().join("theme.toml"), "[ie]\ngold = \"sparkly\"\n").unwrap();
        let e = Theme::load("dark", Some(dir.path()))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("theme.toml: ie.gold: \"sparkly\" is not a colour"),
            "{e}"
        );
        let e = Theme::load("nope", None).unwrap_err().to_string();
        assert!(e.contains("dark, light, colorblind"), "{e}");
    }
}
