//! The launch form: one field per `ie-bench run` flag that matters for a first run, the
//! backbones it offers with their settings, the datasets its config resolves to, and its
//! drawing. What it gives is a [`RunSpec`], checked as the command line checks it.

use super::*;
use crate::ie::Named;
use crate::model::predict::DecodeWeights;
use crate::prompt::TargetOrder;
use crate::tui::message::first_line;

/// A launch form field: a choice among fixed values, or free text.
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    pub name: &'static str,
    pub flag: &'static str,
    pub choices: Vec<String>,
    pub choice: usize,
    pub input: TextInput,
}

impl Field {
    fn text(name: &'static str, flag: &'static str, value: &str) -> Field {
        Field {
            name,
            flag,
            choices: Vec::new(),
            choice: 0,
            input: TextInput::new(value),
        }
    }

    fn choice(
        name: &'static str,
        flag: &'static str,
        choices: Vec<String>,
        choice: usize,
    ) -> Field {
        Field {
            name,
            flag,
            choices,
            choice,
            input: TextInput::default(),
        }
    }

    pub fn value(&self) -> String {
        if self.choices.is_empty() {
            self.input.text.trim().to_string()
        } else {
            self.choices[self.choice].clone()
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct LaunchForm {
    pub fields: Vec<Field>,
    pub cursor: usize,
    /// The `--instructions` file behind each choice of the `instructions` field.
    pub bank_files: Vec<Option<String>>,
    /// What the data holds of the config's datasets, per split the run reads; or why the
    /// config cannot be read.
    pub resolution: Result<Vec<(Split, SplitResolution)>, String>,
    /// The model the `default tiny T5` backbone stands for.
    pub default_model: String,
}

/// The `missing` field's choices: the first adds no flag.
const MISSING: [&str; 2] = ["skip with a note", "fail the run"];

pub const KINDS: [&str; 3] = ["train", "eval", "zero-shot"];

const DEFAULT_BACKBONE: &str = "default tiny T5";
/// The `answers` field's choices (decoders only): the second adds `--constrain`.
const ANSWERS: [&str; 2] = ["free text", "constrained to options and sentence"];
/// Fields that are a flag alone, given when their second choice is picked.
const SWITCHES: [&str; 2] = ["--require-all", "--constrain"];
/// Choices whose first is the command line's default, left unsaid.
const DEFAULT_FIRST: [&str; 2] = ["--decode-weights", "--target-order"];

/// A choice field's values: the names the command line takes.
fn names<T: Named>(all: &[T]) -> Vec<String> {
    all.iter().map(|c| c.name().to_string()).collect()
}

/// The tiny T5 learns the whole sample config from scratch at a high rate.
const T5_SETTINGS: &[(&str, &str)] = &[
    ("config", "supervised"),
    ("max steps", "40"),
    ("learning rate", "1e-3"),
    ("batch size", "8"),
    ("save every", "20"),
    ("max test", "50"),
];
/// A pretrained decoder fine-tunes on CoNLL 2003 alone (`ner-demo`) at a low rate in small
/// batches; its checkpoints are large, so it saves once at the end; its answers are
/// constrained, so that a short run already scores.
const DECODER_SETTINGS: &[(&str, &str)] = &[
    ("config", "ner-demo"),
    ("max steps", "60"),
    ("learning rate", "1e-4"),
    ("batch size", "4"),
    ("save every", "0"),
    ("max test", "100"),
];

impl LaunchForm {
    /// `backbones` are the installed pretrained models by name (`ie-bench model fetch`); when
    /// there are any, the form starts on the first, with settings for fine-tuning it.
    pub fn new(
        model: &str,
        data: &str,
        banks: &[(u32, String)],
        backbones: &[(String, std::path::PathBuf)],
    ) -> LaunchForm {
        let mut bank_names = vec!["data's own / built-in".to_string()];
        let mut bank_files = vec![None];
        for (v, file) in banks {
            bank_names.push(format!("stored v{v}"));
            bank_files.push(Some(file.clone()));
        }
        let newest = bank_names.len() - 1;
        let mut backbone_names = vec![DEFAULT_BACKBONE.to_string()];
        backbone_names.extend(backbones.iter().map(|(n, _)| n.clone()));
        let mut form = LaunchForm {
            fields: vec![
                Field::choice(
                    "kind",
                    "",
                    KINDS.iter().map(std::string::ToString::to_string).collect(),
                    0,
                ),
                Field::text("model", "--model", model),
                Field::text("data", "--data", data),
                // `supervised`, `zeroshot`, `builtin:NAME` or a task-config directory.
                Field::text("config", "--config", "supervised"),
                Field::choice(
                    "missing datasets",
                    "--require-all",
                    MISSING
                        .iter()
                        .map(std::string::ToString::to_string)
                        .collect(),
                    0,
                ),
                Field::choice("instructions", "--instructions", bank_names, newest),
                Field::text("max steps", "--max-steps", "40"),
                Field::text("learning rate", "--lr", "1e-3"),
                Field::text("batch size", "--batch-size", "8"),
                Field::text("save every", "--save-every", "20"),
                Field::choice("target order", "--target-order", names(TargetOrder::ALL), 0),
                // A quick look: dev and test capped per dataset (the CLI's defaults are 200
                // and all).
                Field::text("max dev", "--max-eval", "20"),
                Field::text("max test", "--max-test", "50"),
            ],
            cursor: 0,
            bank_files,
            resolution: Ok(Vec::new()),
            default_model: model.to_string(),
        };
        if !backbones.is_empty() {
            // Not a flag of its own: picking one fills in the model and its settings.
            form.fields
                .insert(1, Field::choice("backbone", "", backbone_names, 0));
            let answers = ANSWERS
                .iter()
                .map(std::string::ToString::to_string)
                .collect();
            form.fields
                .insert(2, Field::choice("answers", "--constrain", answers, 0));
            // `--decode-weights` values (decoders only); the command line's default is left
            // unsaid.
            form.fields.insert(
                3,
                Field::choice(
                    "decode weights",
                    "--decode-weights",
                    names(DecodeWeights::ALL),
                    0,
                ),
            );
            form.pick_backbone(1);
        }
        form
    }

    /// Selects backbone `i` (0: the default T5) and the settings that suit it
    /// (`T5_SETTINGS`, `DECODER_SETTINGS`).
    pub fn pick_backbone(&mut self, i: usize) {
        let Some(b) = self.fields.iter_mut().find(|f| f.name == "backbone") else {
            return;
        };
        b.choice = i.min(b.choices.len() - 1);
        let decoder = b.choice != 0;
        let (model, settings) = if decoder {
            (b.choices[b.choice].clone(), DECODER_SETTINGS)
        } else {
            (self.default_model.clone(), T5_SETTINGS)
        };
        self.set("model", &model);
        for (name, value) in settings {
            self.set(name, value);
        }
        // A pretrained decoder's answers are constrained, and its targets go in the
        // sentence's order: with LoRA on CoNLL 2003 that scored 80.49-81.69 strict against
        // 78.08-78.99 in the data's (README, "Targets in sentence order").
        for flag in ["--constrain", "--target-order"] {
            if let Some(a) = self.fields.iter_mut().find(|f| f.flag == flag) {
                a.choice = usize::from(decoder);
            }
        }
        if !decoder {
            // T5 decodes with its own weights only.
            if let Some(d) = self
                .fields
                .iter_mut()
                .find(|f| f.flag == "--decode-weights")
            {
                d.choice = 0;
            }
        }
    }

    fn set(&mut self, name: &str, value: &str) {
        if let Some(f) = self.fields.iter_mut().find(|f| f.name == name) {
            f.input = TextInput::new(value);
        }
    }

    /// Works out again which datasets the data and config give (after either changes).
    pub fn resolve(&mut self) {
        let value = |name| self.get(name).map(Field::value).unwrap_or_default();
        let root = std::path::PathBuf::from(value("data"));
        let splits: &[Split] = if value("kind") == "train" {
            &[Split::Train, Split::Dev, Split::Test]
        } else {
            &[Split::Test]
        };
        let config = value("config");
        let config = crate::service::runs::run_config(value("kind") == "zero-shot", &config);
        self.resolution = if !root.is_dir() {
            Err(format!("data: {} is not a directory", root.display()))
        } else {
            crate::service::workspace::task_config(config, &root)
                .map(|c| {
                    splits
                        .iter()
                        .map(|s| (*s, SplitResolution::of(&root, &c.split(*s).entries, *s)))
                        .collect()
                })
                .map_err(|e| format!("config: {e:#}"))
        };
    }

    /// Why the form cannot launch as it stands, in words.
    pub fn problem(&self) -> Option<String> {
        let value = |name| self.get(name).map(Field::value).unwrap_or_default();
        if value("model").is_empty() {
            return Some(
                "model: type a model directory (or a Hugging Face id), or make one with `ie-bench model init --data DIR --out DIR`".into(),
            );
        }
        if let Err(e) = &self.resolution {
            return Some(e.clone());
        }
        for f in self.fields.iter().filter(|f| self.applies(f)) {
            let numeric = matches!(
                f.flag,
                "--max-steps" | "--batch-size" | "--save-every" | "--max-eval" | "--max-test"
            );
            if numeric && f.value().parse::<usize>().is_err() {
                return Some(format!(
                    "{}: expected a whole number, got {:?}",
                    f.name,
                    f.value()
                ));
            }
            if f.flag == "--lr"
                && !f
                    .value()
                    .parse::<f64>()
                    .is_ok_and(|v| v > 0.0 && v.is_finite())
            {
                return Some(format!(
                    "{}: expected a positive number, got {:?}",
                    f.name,
                    f.value()
                ));
            }
        }
        None
    }

    pub fn get(&self, name: &str) -> Option<&Field> {
        self.fields.iter().find(|f| f.name == name)
    }

    /// Whether a field applies to the kind chosen (evaluations take no optimiser settings).
    pub fn applies(&self, f: &Field) -> bool {
        self.fields[0].value() == "train"
            || !matches!(
                f.flag,
                "--max-steps"
                    | "--lr"
                    | "--batch-size"
                    | "--save-every"
                    | "--max-test"
                    | "--target-order"
            )
    }

    /// The run the form describes, checked as the command line checks it (a number field
    /// that does not parse is named here).
    pub fn spec(&self) -> Result<RunSpec, String> {
        RunSpec::from_words(&self.words()).map_err(|e| first_line(&e.to_string()))
    }

    /// The words after `ie-bench run`, exactly what the CLI would take.
    pub fn words(&self) -> Vec<String> {
        let mut w = vec![self.fields[0].value()];
        for f in &self.fields[1..] {
            if !self.applies(f) || f.flag.is_empty() {
                continue;
            }
            let value = if f.flag == "--instructions" {
                match &self.bank_files[f.choice] {
                    Some(file) => file.clone(),
                    None => continue,
                }
            } else if SWITCHES.contains(&f.flag) {
                if f.choice == 1 {
                    w.push(f.flag.to_string());
                }
                continue;
            } else if DEFAULT_FIRST.contains(&f.flag) && f.choice == 0 {
                continue;
            } else {
                f.value()
            };
            if !value.is_empty() {
                w.push(f.flag.to_string());
                w.push(value);
            }
        }
        w
    }

    pub(super) fn key(&mut self, k: &KeyEvent) -> Edit {
        let f = &mut self.fields[self.cursor];
        match k.code {
            KeyCode::Up | KeyCode::BackTab => {
                self.cursor = self.cursor.checked_sub(1).unwrap_or(self.fields.len() - 1);
                Edit::Moved
            }
            KeyCode::Down | KeyCode::Tab => {
                self.cursor = (self.cursor + 1) % self.fields.len();
                Edit::Moved
            }
            KeyCode::Left | KeyCode::Right if !f.choices.is_empty() => {
                let n = f.choices.len();
                f.choice = if k.code == KeyCode::Left {
                    (f.choice + n - 1) % n
                } else {
                    (f.choice + 1) % n
                };
                Edit::Changed
            }
            KeyCode::Char(' ') if !f.choices.is_empty() => {
                f.choice = (f.choice + 1) % f.choices.len();
                Edit::Changed
            }
            _ if !f.choices.is_empty() => match k.code {
                KeyCode::Enter => Edit::Submit,
                KeyCode::Esc => Edit::Cancel,
                _ => Edit::Ignored,
            },
            _ => f.input.key(k),
        }
    }
}

pub(super) fn draw_form(f: &mut Frame, area: Rect, form: &LaunchForm, t: &Theme) {
    let w = area.width.saturating_sub(4).min(90);
    let inner = w.saturating_sub(2) as usize;
    let mut lines = Vec::new();
    for (i, field) in form.fields.iter().enumerate() {
        let focused = i == form.cursor;
        let value = if !field.choices.is_empty() {
            format!("‹ {} ›", field.value())
        } else if focused {
            field.input.with_cursor()
        } else {
            field.input.text.clone()
        };
        let style = if !form.applies(field) {
            t.dimmed()
        } else if focused {
            t.selected()
        } else {
            t.base()
        };
        lines.push(Line::from(vec![
            Span::styled(
                format!("{:>16}  ", field.name),
                if focused {
                    Style::default().fg(t.focus)
                } else {
                    t.dimmed()
                },
            ),
            Span::styled(fit(&value, inner.saturating_sub(18)), style),
        ]));
    }
    // What the config will use of the data, before anything starts: counts per split, then
    // the names (each once, whichever tasks and splits name it), wrapped to the form.
    match &form.resolution {
        Ok(splits) => {
            let mut based = std::collections::BTreeSet::new();
            let mut missing = std::collections::BTreeSet::new();
            for (split, r) in splits {
                let warn = !r.missing.is_empty();
                lines.push(Line::styled(
                    fit(
                        &format!(
                            "{split}: {} found · {} from a base · {} missing",
                            r.found.len(),
                            r.from_base.len(),
                            r.missing.len()
                        ),
                        inner,
                    ),
                    if warn {
                        Style::default().fg(t.warning)
                    } else {
                        t.dimmed()
                    },
                ));
                for (key, dir) in &r.from_base {
                    based.insert(format!("{} → {dir}", crate::ie::dataset_of_key(key)));
                }
                missing.extend(r.missing.iter().map(|k| crate::ie::dataset_of_key(k)));
            }
            let mut list = |what: &str, names: Vec<String>, style: Style| {
                if names.is_empty() {
                    return;
                }
                let text = crate::tui::screens::safe(&format!("{what}: {}", names.join(", ")));
                for l in wrap(&text, inner) {
                    lines.push(Line::styled(l, style));
                }
            };
            list("from a base", based.into_iter().collect(), t.dimmed());
            list(
                "missing (skipped with a note, or the run fails, as chosen above)",
                missing.into_iter().map(str::to_string).collect(),
                Style::default().fg(t.warning),
            );
        }
        Err(e) => {
            for l in wrap(&crate::tui::screens::safe(e), inner) {
                lines.push(Line::styled(l, Style::default().fg(t.error)));
            }
        }
    }
    lines.push(Line::styled(
        fit(
            "↑↓ field · ←→ choice · type to edit · enter launch · esc close · ? keys",
            inner,
        ),
        t.dimmed(),
    ));
    let h = (lines.len() as u16 + 2).min(area.height);
    // Taller than the screen: the focused field stays in the middle, so moving down to the
    // last fields brings the lines under them into view.
    let visible = h.saturating_sub(2) as usize;
    let scroll = form
        .cursor
        .saturating_sub(visible / 2)
        .min(lines.len().saturating_sub(visible)) as u16;
    let rect = crate::tui::view::centered(area, w, h);
    f.render_widget(Clear, rect);
    f.render_widget(
        Paragraph::new(lines)
            .block(block("New run", true, t))
            .style(t.base())
            .scroll((scroll, 0)),
        rect,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flag(words: &[String], name: &str) -> Option<String> {
        let at = words.iter().position(|w| w == name)?;
        words.get(at + 1).cloned()
    }

    #[test]
    fn an_installed_backbone_is_offered_with_settings_for_fine_tuning_it() {
        let plain = LaunchForm::new("models/tiny", "data", &[], &[]);
        assert!(
            plain.get("backbone").is_none(),
            "no choice without an installed backbone"
        );
        let gemma = (
            "gemma-3-270m".to_string(),
            std::path::PathBuf::from("g.gguf"),
        );
        let mut form = LaunchForm::new("models/tiny", "data", &[], &[gemma]);
        let w = form.words();
        assert_eq!(flag(&w, "--model").as_deref(), Some("gemma-3-270m"));
        assert_eq!(flag(&w, "--lr").as_deref(), Some("1e-4"));
        assert_eq!(flag(&w, "--batch-size").as_deref(), Some("4"));
        assert_eq!(flag(&w, "--config").as_deref(), Some("ner-demo"));
        assert!(w.iter().any(|x| x == "--constrain"), "{w:?}");
        assert_eq!(flag(&w, "--target-order").as_deref(), Some("sentence"));
        assert!(
            !w.iter().any(std::string::String::is_empty),
            "the choice adds no word: {w:?}"
        );
        form.pick_backbone(0);
        let w = form.words();
        assert_eq!(flag(&w, "--model").as_deref(), Some("models/tiny"));
        assert_eq!(flag(&w, "--lr").as_deref(), Some("1e-3"));
        assert_eq!(flag(&w, "--config").as_deref(), Some("supervised"));
        assert!(!w.iter().any(|x| x == "--constrain"), "{w:?}");
        assert_eq!(
            flag(&w, "--target-order"),
            None,
            "the official order is unsaid"
        );
        // The form gives the spec the CLI would parse, switch included.
        form.pick_backbone(1);
        let spec = form.spec().expect("the form's words parse");
        let crate::spec::RunSpec::Train(t) = &spec else {
            panic!("{spec:?}")
        };
        assert!(t.constrain && t.model == "gemma-3-270m", "{spec:?}");
        assert_eq!(t.prompts.target_order, TargetOrder::Sentence);
        // An evaluation has no training targets to order.
        form.fields[0].choice = 1;
        assert_eq!(flag(&form.words(), "--target-order"), None);
        form.fields[0].choice = 0;
        // Int8 decoding is said only when picked, and a T5 drops it.
        assert_eq!(flag(&form.words(), "--decode-weights"), None);
        let at = form.fields.iter().position(|f| f.name == "decode weights");
        form.fields[at.expect("a decode weights field")].choice = 1;
        assert_eq!(
            flag(&form.words(), "--decode-weights").as_deref(),
            Some("q8")
        );
        let spec = form.spec().expect("the form's words parse");
        let crate::spec::RunSpec::Train(t) = &spec else {
            panic!("{spec:?}")
        };
        assert_eq!(t.decode_weights, crate::model::predict::DecodeWeights::Q8);
        form.pick_backbone(0);
        assert_eq!(flag(&form.words(), "--decode-weights"), None);
    }
}
