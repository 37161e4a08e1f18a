//! One `ResultTable` model rendered as a terminal table, Markdown, CSV or LaTeX (booktabs).
//! Scores are held as fractions and shown as percentages with two decimals.

use crate::data::catalog::{paper_score, Setting};
use crate::eval::report::{Report, TaskReport};
use crate::ie::TaskKind;
use crate::text::safe_string;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Table,
    Md,
    Csv,
    Latex,
    Json,
}

impl crate::ie::Named for Format {
    const ALL: &'static [Self] = &[
        Format::Table,
        Format::Md,
        Format::Csv,
        Format::Latex,
        Format::Json,
    ];
    fn name(self) -> &'static str {
        match self {
            Format::Table => "table",
            Format::Md => "md",
            Format::Csv => "csv",
            Format::Latex => "latex",
            Format::Json => "json",
        }
    }
}

/// The paper's score for a dataset, as a cell (empty where the paper has none).
fn paper_cell(task: TaskKind, dataset: &str, setting: Setting) -> Cell {
    paper_score(task, dataset, setting).map_or(Cell::Empty, |p| Cell::Score(p / 100.0))
}

/// A column of a result table.
#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    pub name: String,
    /// Score columns take part in "best per row"; count columns do not.
    pub is_score: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Empty,
    Count(u64),
    /// A fraction in [0, 1].
    Score(f64),
    /// Words (a run's kind or status); escaped for each format like the row labels.
    Text(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub label: String,
    pub cells: Vec<Cell>,
    /// Summary rows (averages) are set apart in every format.
    pub summary: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ResultTable {
    pub title: String,
    /// The header of the row-label column.
    pub label_header: String,
    pub columns: Vec<Column>,
    pub rows: Vec<Row>,
}

impl ResultTable {
    /// One table per task of a report: dataset rows, then the unweighted average; with
    /// `paper`, the paper's published score beside matching datasets.
    pub fn from_task(
        task: TaskKind,
        t: &TaskReport,
        mode: &str,
        paper: Option<Setting>,
    ) -> ResultTable {
        let metric = match t.metric {
            crate::eval::extract::MetricKind::F1 => "F1",
            crate::eval::extract::MetricKind::Accuracy => "Acc",
        };
        let mut columns = vec![
            Column {
                name: "n".into(),
                is_score: false,
            },
            Column {
                name: "TP".into(),
                is_score: false,
            },
            Column {
                name: "FP".into(),
                is_score: false,
            },
            Column {
                name: "FN".into(),
                is_score: false,
            },
            Column {
                name: format!("{metric} ({mode})"),
                is_score: true,
            },
        ];
        if paper.is_some() {
            columns.push(Column {
                name: "Paper".into(),
                is_score: true,
            });
        }
        let count = |c: Option<u64>| c.map_or(Cell::Empty, Cell::Count);
        let mut rows: Vec<Row> = t
            .datasets
            .iter()
            .map(|(name, d)| {
                let mut cells = vec![
                    Cell::Count(d.n),
                    count(d.counts.map(|c| c.tp)),
                    count(d.counts.map(|c| c.fp)),
                    count(d.counts.map(|c| c.fn_)),
                    Cell::Score(d.score),
                ];
                if let Some(setting) = paper {
                    cells.push(paper_cell(task, name, setting));
                }
                Row {
                    label: name.clone(),
                    cells,
                    summary: false,
                }
            })
            .collect();
        // Zero-shot RE reports FewRel and Wiki-ZSL as the mean over their five folds (SPEC §5.3).
        if paper == Some(Setting::ZeroShot) {
            for fold in t.fold_means() {
                let entry = crate::data::catalog::lookup(task, &format!("{}_0", fold.group));
                let mut cells = vec![Cell::Empty, Cell::Empty, Cell::Empty, Cell::Empty];
                cells.push(Cell::Score(fold.mean));
                cells.push(
                    entry
                        .and_then(|e| e.zero_shot)
                        .map_or(Cell::Empty, |p| Cell::Score(p / 100.0)),
                );
                rows.push(Row {
                    label: format!(
                        "{} (mean of {} folds)",
                        entry.map_or(fold.group, |e| e.paper_name),
                        fold.folds
                    ),
                    cells,
                    summary: true,
                });
            }
        }
        let mut avg = vec![
            Cell::Empty,
            Cell::Empty,
            Cell::Empty,
            Cell::Empty,
            Cell::Score(t.average),
        ];
        if let Some(setting) = paper {
            // The paper column's average only where every dataset has a paper number.
            let nums: Vec<f64> = t
                .datasets
                .iter()
                .filter_map(|(n, _)| paper_score(task, n, setting))
                .collect();
            avg.push(if nums.len() == t.datasets.len() && !nums.is_empty() {
                Cell::Score(nums.iter().sum::<f64>() / nums.len() as f64 / 100.0)
            } else {
                Cell::Empty
            });
        }
        rows.push(Row {
            label: "Average".into(),
            cells: avg,
            summary: true,
        });
        ResultTable {
            title: task.to_string(),
            label_header: "Dataset".into(),
            columns,
            rows,
        }
    }

    /// Indices of the best score cells of a row, for bold in LaTeX: every cell that shows
    /// the best value (ties are compared as printed, to two decimals).
    fn best(&self, row: &Row) -> Vec<usize> {
        let shown: Vec<(usize, String)> = row
            .cells
            .iter()
            .zip(&self.columns)
            .enumerate()
            .filter_map(|(i, (c, col))| match (c, col.is_score) {
                (Cell::Score(_), true) => Some((i, cell_text(c))),
                _ => None,
            })
            .collect();
        let top = shown
            .iter()
            .filter_map(|(_, t)| t.parse::<f64>().ok())
            .fold(f64::NEG_INFINITY, f64::max);
        shown
            .into_iter()
            .filter(|(_, t)| t.parse::<f64>().ok() == Some(top))
            .map(|(i, _)| i)
            .collect()
    }
}

fn cell_text(c: &Cell) -> String {
    match c {
        Cell::Empty => String::new(),
        Cell::Count(n) => n.to_string(),
        Cell::Score(s) => format!("{:.2}", s * 100.0),
        Cell::Text(t) => t.clone(),
    }
}

/// Renders tables one after another in a text format (`json` is handled by the caller).
pub fn render(tables: &[ResultTable], format: Format) -> String {
    let parts: Vec<String> = tables
        .iter()
        .map(|t| match format {
            Format::Table => plain(t),
            Format::Md => markdown(t),
            Format::Csv => csv(t),
            Format::Latex => latex(t),
            Format::Json => unreachable!("json is rendered from the report"),
        })
        .collect();
    match format {
        // One CSV stream with a task column rather than several headers.
        Format::Csv => {
            let mut out = String::new();
            for (i, p) in parts.iter().enumerate() {
                let body = if i == 0 {
                    p.as_str()
                } else {
                    p.split_once('\n').map_or("", |x| x.1)
                };
                out.push_str(body);
            }
            out
        }
        _ => parts.join("\n"),
    }
}

fn header(t: &ResultTable) -> Vec<String> {
    std::iter::once(t.label_header.clone())
        .chain(t.columns.iter().map(|c| c.name.clone()))
        .collect()
}

/// Dataset and run names come from data: the text tables show them terminal-safe.
fn plain(t: &ResultTable) -> String {
    let head: Vec<String> = header(t).iter().map(|h| safe_string(h)).collect();
    let body: Vec<Vec<String>> = t
        .rows
        .iter()
        .map(|r| {
            std::iter::once(safe_string(&r.label))
                .chain(r.cells.iter().map(|c| safe_string(&cell_text(c))))
                .collect()
        })
        .collect();
    let widths: Vec<usize> = (0..head.len())
        .map(|i| {
            body.iter()
                .map(|r| r[i].chars().count())
                .chain([head[i].chars().count()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: &[String]| {
        cells
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let pad = widths[i] - c.chars().count();
                if i == 0 {
                    format!("{c}{}", " ".repeat(pad))
                } else {
                    format!("{}{c}", " ".repeat(pad))
                }
            })
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_string()
    };
    let rule = "-".repeat(widths.iter().sum::<usize>() + 2 * (widths.len() - 1));
    let mut out = format!("{}\n{}\n{}\n", safe_string(&t.title), line(&head), rule);
    let mut in_summary = false;
    for (r, cells) in t.rows.iter().zip(&body) {
        if r.summary && !in_summary {
            out.push_str(&rule);
            out.push('\n');
            in_summary = true;
        }
        out.push_str(&line(cells));
        out.push('\n');
    }
    out
}

fn md_escape(s: &str) -> String {
    safe_string(s).replace('|', "\\|")
}

fn markdown(t: &ResultTable) -> String {
    let head = header(t);
    let mut out = format!(
        "### {}\n\n| {} |\n|",
        md_escape(&t.title),
        head.iter()
            .map(|h| md_escape(h))
            .collect::<Vec<_>>()
            .join(" | ")
    );
    out.push_str(":---|");
    for _ in &t.columns {
        out.push_str("---:|");
    }
    out.push('\n');
    for r in &t.rows {
        let label = if r.summary {
            format!("**{}**", md_escape(&r.label))
        } else {
            md_escape(&r.label)
        };
        let cells: Vec<String> = r.cells.iter().map(|c| md_escape(&cell_text(c))).collect();
        out.push_str(&format!("| {label} | {} |\n", cells.join(" | ")));
    }
    out
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn csv(t: &ResultTable) -> String {
    let mut out = String::from("Task");
    for h in header(t) {
        out.push(',');
        out.push_str(&csv_field(&h));
    }
    out.push('\n');
    for r in &t.rows {
        out.push_str(&csv_field(&t.title));
        out.push(',');
        out.push_str(&csv_field(&r.label));
        for c in &r.cells {
            out.push(',');
            out.push_str(&csv_field(&cell_text(c)));
        }
        out.push('\n');
    }
    out
}

fn latex_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' | '%' | '$' | '#' | '_' | '{' | '}' => {
                out.push('\\');
                out.push(c);
            }
            '~' => out.push_str("\\textasciitilde{}"),
            '^' => out.push_str("\\textasciicircum{}"),
            '\\' => out.push_str("\\textbackslash{}"),
            _ => out.push(c),
        }
    }
    out
}

fn latex(t: &ResultTable) -> String {
    let spec = format!("l{}", "r".repeat(t.columns.len()));
    let mut out = format!(
        "% {}\n\\begin{{tabular}}{{{spec}}}\n\\toprule\n{} \\\\\n\\midrule\n",
        latex_escape(&t.title),
        header(t)
            .iter()
            .map(|h| latex_escape(h))
            .collect::<Vec<_>>()
            .join(" & ")
    );
    let mut in_summary = false;
    for r in &t.rows {
        if r.summary && !in_summary {
            out.push_str("\\midrule\n");
            in_summary = true;
        }
        let best = t.best(r);
        let cells: Vec<String> = r
            .cells
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let text = latex_escape(&cell_text(c));
                if best.contains(&i) {
                    format!("\\textbf{{{text}}}")
                } else {
                    text
                }
            })
            .collect();
        out.push_str(&format!(
            "{} & {} \\\\\n",
            latex_escape(&r.label),
            cells.join(" & ")
        ));
    }
    out.push_str("\\bottomrule\n\\end{tabular}\n");
    out
}

/// Tables for every task of a report.
pub fn report_tables(report: &Report, paper: Option<Setting>) -> Vec<ResultTable> {
    report
        .tasks
        .iter()
        .map(|(task, t)| ResultTable::from_task(*task, t, report.mode.as_str(), paper))
        .collect()
}

/// One table per task with a score column per run, side by side (a dataset a run lacks is
/// empty in its column), then the paper's column; the average row averages each column over
/// the datasets it has.
pub fn runs_tables(runs: &[(String, &Report)], paper: Option<Setting>) -> Vec<ResultTable> {
    let mut tasks: Vec<TaskKind> = Vec::new();
    for (_, r) in runs {
        for t in r.tasks.keys() {
            if !tasks.contains(t) {
                tasks.push(*t);
            }
        }
    }
    tasks
        .into_iter()
        .map(|task| {
            let reports: Vec<Option<&TaskReport>> =
                runs.iter().map(|(_, r)| r.tasks.get(&task)).collect();
            let mut names: Vec<String> = Vec::new();
            for t in reports.iter().flatten() {
                for (n, _) in &t.datasets {
                    if !names.contains(n) {
                        names.push(n.clone());
                    }
                }
            }
            let mut columns: Vec<Column> = runs
                .iter()
                .map(|(label, _)| Column {
                    name: label.clone(),
                    is_score: true,
                })
                .collect();
            if paper.is_some() {
                columns.push(Column {
                    name: "Paper".into(),
                    is_score: true,
                });
            }
            let score = |t: &Option<&TaskReport>, n: &str| {
                t.and_then(|t| t.datasets.iter().find(|d| d.0 == n).map(|d| d.1.score))
            };
            let mut rows: Vec<Row> = names
                .iter()
                .map(|n| {
                    let mut cells: Vec<Cell> = reports
                        .iter()
                        .map(|t| score(t, n).map_or(Cell::Empty, Cell::Score))
                        .collect();
                    if let Some(setting) = paper {
                        cells.push(paper_cell(task, n, setting));
                    }
                    Row {
                        label: n.clone(),
                        cells,
                        summary: false,
                    }
                })
                .collect();
            let columns_n = columns.len();
            let avg: Vec<Cell> = (0..columns_n)
                .map(|c| {
                    let vals: Vec<f64> = rows
                        .iter()
                        .filter_map(|r| match r.cells[c] {
                            Cell::Score(s) => Some(s),
                            _ => None,
                        })
                        .collect();
                    if vals.is_empty() {
                        Cell::Empty
                    } else {
                        Cell::Score(vals.iter().sum::<f64>() / vals.len() as f64)
                    }
                })
                .collect();
            rows.push(Row {
                label: "Average".into(),
                cells: avg,
                summary: true,
            });
            ResultTable {
                label_header: "Dataset".into(),
                title: task.to_string(),
                columns,
                rows,
            }
        })
        .collect()
}

/// One run's differences from the baseline, per `TASK/dataset`, for [`with_differences`].
pub struct Differences {
    /// The column's heading (`run 3 − run 1 (95% CI)`).
    pub label: String,
    pub by_dataset: std::collections::HashMap<String, crate::eval::significance::Difference>,
}

/// Adds a column per run of `diffs` to each task table from [`runs_tables`]: the run's
/// difference from the baseline on each dataset with its bootstrap interval (empty where
/// the two runs share no example, and on the average row).
pub fn with_differences(tables: &mut [ResultTable], diffs: &[Differences]) {
    for table in tables.iter_mut() {
        for d in diffs {
            table.columns.push(Column {
                name: d.label.clone(),
                is_score: false,
            });
            for row in &mut table.rows {
                let key = table
                    .title
                    .parse::<TaskKind>()
                    .map(|task| crate::ie::dataset_key(task, &row.label));
                let cell = match (row.summary, key) {
                    (false, Ok(key)) => d
                        .by_dataset
                        .get(&key)
                        .map_or(Cell::Empty, |x| Cell::Text(x.cell())),
                    _ => Cell::Empty,
                };
                row.cells.push(cell);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn differences_fill_their_datasets_and_leave_the_average_empty() {
        use crate::eval::significance::Difference;
        let d = Difference {
            n: 10,
            a: 0.5,
            b: 0.6,
            delta: 0.1,
            low: 0.02,
            high: 0.2,
            p: 0.01,
            significant: true,
        };
        let mut tables = vec![ResultTable {
            title: "NER".into(),
            label_header: "Dataset".into(),
            columns: vec![],
            rows: vec![
                Row {
                    label: "CoNLL".into(),
                    cells: vec![],
                    summary: false,
                },
                Row {
                    label: "WNUT".into(),
                    cells: vec![],
                    summary: false,
                },
                Row {
                    label: "Average".into(),
                    cells: vec![],
                    summary: true,
                },
            ],
        }];
        let diffs = Differences {
            label: "run 2 − run 1 (95% CI)".into(),
            by_dataset: [("NER/CoNLL".to_string(), d)].into_iter().collect(),
        };
        with_differences(&mut tables, &[diffs]);
        let cells: Vec<&Cell> = tables[0].rows.iter().map(|r| &r.cells[0]).collect();
        assert_eq!(
            cells,
            [
                &Cell::Text("+10.00 [+2.00, +20.00]".into()),
                &Cell::Empty,
                &Cell::Empty
            ]
        );
    }

    #[test]
    fn latex_bolds_every_tied_best_score() {
        let col = |name: &str| Column {
            name: name.into(),
            is_score: true,
        };
        let t = ResultTable {
            title: "NER".into(),
            label_header: "Dataset".into(),
            columns: vec![col("run 1"), col("run 2"), col("run 3")],
            rows: vec![Row {
                label: "CoNLL".into(),
                // 0.91234 and 0.9123 both print as 91.23.
                cells: vec![Cell::Score(0.91234), Cell::Score(0.5), Cell::Score(0.9123)],
                summary: false,
            }],
        };
        let out = render(&[t], Format::Latex);
        assert!(
            out.contains("CoNLL & \\textbf{91.23} & 50.00 & \\textbf{91.23} \\\\"),
            "{out}"
        );
    }
}
