//! The instruction bank (`instruction_config.json`, SPEC §2.1) and the choice of an instruction
//! per record.

use indexmap::IndexMap;
use serde_json::Value;
use std::path::{Path, PathBuf};

use crate::data::error::{json_error, read_text};
use crate::data::DataError;
use crate::ie::TaskKind;
use crate::pyrandom::PyRandom;

const BUILTIN: &str = include_str!("../data/builtin/instruction_config.json");

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct InstructionBank {
    pub origin: String,
    /// Zero-shot instructions per task name, in file order (task names other than the nine,
    /// such as the unused `RC`, are kept but never read).
    pub zero_shot: IndexMap<String, Vec<String>>,
    pub few_shot: IndexMap<String, Vec<String>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum InstructionStrategy {
    /// Always the task's first instruction (the official default).
    #[default]
    Single,
    /// A uniformly random instruction per record, drawn from the split's generator.
    Multiple,
}

impl crate::ie::Named for InstructionStrategy {
    const ALL: &'static [Self] = &[InstructionStrategy::Single, InstructionStrategy::Multiple];
    fn name(self) -> &'static str {
        match self {
            InstructionStrategy::Single => "single",
            InstructionStrategy::Multiple => "multiple",
        }
    }
}

impl InstructionBank {
    /// The official bank, verbatim (the data archive does not carry it).
    pub fn builtin() -> InstructionBank {
        parse(Path::new("builtin:instruction_config.json"), BUILTIN)
            .expect("the built-in instruction bank is valid")
    }

    /// The official bank's JSON text.
    pub fn builtin_text() -> &'static str {
        BUILTIN
    }

    /// A bank from JSON text; `origin` names it in errors.
    pub fn from_text(origin: &Path, text: &str) -> Result<InstructionBank, DataError> {
        parse(origin, text)
    }

    /// The same bank as JSON text in the release's shape, with the zero-shot instructions of
    /// `task` replaced (the editor's "save as a new version").
    pub fn with_instructions(text: &str, task: TaskKind, list: &[String]) -> Option<String> {
        let mut v: serde_json::Value = serde_json::from_str(text).ok()?;
        let entries = list
            .iter()
            .map(|i| serde_json::json!({"instruction_type": "zero-shot", "instruction": i}))
            .collect::<Vec<_>>();
        let obj = v.as_object_mut()?;
        let mut kept: Vec<serde_json::Value> = obj
            .get(task.as_str())
            .and_then(|x| x.as_array())
            .map(|a| {
                a.iter()
                    .filter(|e| e["instruction_type"] != "zero-shot")
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        let mut all = entries;
        all.append(&mut kept);
        obj.insert(task.as_str().to_string(), serde_json::Value::Array(all));
        serde_json::to_string_pretty(&v).ok()
    }

    pub fn read(path: &Path) -> Result<InstructionBank, DataError> {
        let text = read_text(
            path,
            "a JSON object {TASK: [{instruction_type, instruction}]}",
        )?;
        parse(path, &text)
    }

    pub fn instructions(&self, task: TaskKind) -> &[String] {
        self.zero_shot
            .get(task.as_str())
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    /// Picks the instruction for one record. `multiple` consumes the generator exactly as
    /// Python's `random.choice` does, even for a task with a single instruction.
    pub fn choose(
        &self,
        task: TaskKind,
        strategy: InstructionStrategy,
        rng: &mut PyRandom,
    ) -> Option<&str> {
        let list = self.instructions(task);
        if list.is_empty() {
            return None;
        }
        let i = match strategy {
            InstructionStrategy::Single => 0,
            InstructionStrategy::Multiple => rng.choice_index(list.len()),
        };
        Some(&list[i])
    }
}

fn parse(path: &Path, text: &str) -> Result<InstructionBank, DataError> {
    let err = |message: String| DataError::Config {
        path: PathBuf::from(path),
        message,
    };
    let value: Value = serde_json::from_str(text).map_err(|e| json_error(path, &e))?;
    let Value::Object(tasks) = value else {
        return Err(err(
            "expected an object {TASK: [{instruction_type, instruction}]}".into(),
        ));
    };
    let mut bank = InstructionBank {
        origin: path.display().to_string(),
        zero_shot: IndexMap::new(),
        few_shot: IndexMap::new(),
    };
    for (task, list) in tasks {
        let Value::Array(list) = list else {
            return Err(err(format!("{task}: expected an array of instructions")));
        };
        for (i, item) in list.iter().enumerate() {
            let field = |key: &str| match item.get(key) {
                Some(Value::String(s)) => Ok(s.clone()),
                _ => Err(err(format!("{task}[{i}]: \"{key}\" must be a string"))),
            };
            let kind = field("instruction_type")?;
            let text = field("instruction")?;
            let target = match kind.as_str() {
                "zero-shot" => &mut bank.zero_shot,
                "few-shot" => &mut bank.few_shot,
                other => {
                    return Err(err(format!(
                        "{task}[{i}]: invalid instruction_type {other:?} (expected \"zero-shot\" or \"few-shot\")"
                    )))
                }
            };
            target.entry(task.clone()).or_default().push(text);
        }
    }
    Ok(bank)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_bank_has_the_official_counts_and_bytes() {
        let b = InstructionBank::builtin();
        let n = |t| b.instructions(t).len();
        assert_eq!(
            (n(TaskKind::Ner), n(TaskKind::Re), n(TaskKind::Ee)),
            (3, 3, 2)
        );
        for t in TaskKind::ALL.into_iter().filter(|t| !t.is_main()) {
            assert_eq!(n(t), 1, "{t}");
        }
        assert!(b.instructions(TaskKind::Eet)[0].ends_with("\"type: trigger\". "));
        assert!(b.instructions(TaskKind::Ner)[0].contains("category.Output format"));
    }

    #[test]
    fn invalid_instruction_type_is_an_error() {
        let e = parse(
            Path::new("i.json"),
            r#"{"NER": [{"instruction_type": "one-shot", "instruction": "x"}]}"#,
        )
        .unwrap_err();
        assert!(
            e.to_string()
                .contains("NER[0]: invalid instruction_type \"one-shot\""),
            "{e}"
        );
    }

    #[test]
    fn multiple_strategy_follows_python_choice() {
        let b = InstructionBank::builtin();
        let mut rng = PyRandom::new(42);
        // python3 -c "import random; random.seed(42); print([random.choice([0,1,2]) for _ in range(5)])"
        let got: Vec<usize> = (0..5)
            .map(|_| {
                let s = b
                    .choose(TaskKind::Ner, InstructionStrategy::Multiple, &mut rng)
                    .unwrap();
                b.instructions(TaskKind::Ner)
                    .iter()
                    .position(|x| x == s)
                    .unwrap()
            })
            .collect();
        assert_eq!(got, PY_CHOICES);
    }
    const PY_CHOICES: [usize; 5] = [2, 0, 0, 2, 1];
}
