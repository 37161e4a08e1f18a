//! The paper's datasets: task, domain, label count, Table 7 sizes and published scores
//! (SPEC §1.5, §6). Keyed by the IE INSTRUCTIONS directory name.

use super::config::base_dataset_name;
use crate::ie::TaskKind;

#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct CatalogEntry {
    /// Directory name in IE INSTRUCTIONS (without any `_sample_N` suffix).
    pub name: &'static str,
    /// Name used in the paper's tables.
    pub paper_name: &'static str,
    pub task: TaskKind,
    pub domain: &'static str,
    /// Entity/relation types, or event types for EE.
    pub labels: u32,
    /// Argument roles (EE only).
    pub roles: Option<u32>,
    /// Table 7 train/dev/test sentence counts; `None` where the paper gives none.
    pub sizes: Option<[u32; 3]>,
    /// Supervised score in percent: Table 1 (NER), Table 2 (RE), Table 3 trigger (EE).
    pub supervised: Option<f64>,
    /// Table 3 argument F1 (EE only).
    pub argument: Option<f64>,
    /// Zero-shot score in percent (Table 4, Table 5 as the mean over 5 folds).
    pub zero_shot: Option<f64>,
}

// One row of the paper's tables; positional arguments keep the table below readable.
#[allow(clippy::too_many_arguments)]
const fn e(
    name: &'static str,
    paper_name: &'static str,
    task: TaskKind,
    domain: &'static str,
    labels: u32,
    sizes: [u32; 3],
    supervised: Option<f64>,
    zero_shot: Option<f64>,
) -> CatalogEntry {
    CatalogEntry {
        name,
        paper_name,
        task,
        domain,
        labels,
        roles: None,
        sizes: Some(sizes),
        supervised,
        argument: None,
        zero_shot,
    }
}

use TaskKind::{Ee, Ner, Re};

#[rustfmt::skip]
pub const CATALOG: &[CatalogEntry] = &[
    e("ACE 2004", "ACE2004", Ner, "news", 7, [6202, 745, 812], None, None),
    e("ACE 2005", "ACE2005", Ner, "news", 7, [7299, 971, 1060], Some(86.66), None),
    e("AnatEM", "AnatEM", Ner, "biomedical", 1, [5861, 2118, 3830], Some(90.89), None),
    e("bc2gm", "bc2gm", Ner, "biomedical", 1, [12500, 2500, 5000], Some(85.16), None),
    e("bc4chemd", "bc4chemd", Ner, "biomedical", 1, [30682, 30639, 26364], Some(90.30), None),
    e("bc5cdr", "bc5cdr", Ner, "biomedical", 2, [4560, 4581, 4797], Some(89.59), None),
    e("Broad Tweet Corpus", "Broad Twitter", Ner, "social media", 3, [5334, 2000, 2001], Some(83.14), None),
    e("CoNLL 2003", "CoNLL2003", Ner, "news", 4, [14041, 3250, 3453], Some(92.94), None),
    e("CrossNER_AI", "AI", Ner, "artificial intelligence", 14, [100, 350, 431], None, Some(49.00)),
    e("CrossNER_literature", "Literature", Ner, "literature", 12, [100, 400, 416], None, Some(47.21)),
    e("CrossNER_music", "Music", Ner, "music", 13, [100, 380, 465], None, Some(53.16)),
    e("CrossNER_politics", "Politics", Ner, "politics", 9, [199, 540, 650], None, Some(48.15)),
    e("CrossNER_science", "Science", Ner, "science", 17, [200, 450, 543], None, Some(49.30)),
    e("FabNER", "FabNER", Ner, "manufacturing", 12, [9435, 2182, 2064], Some(76.20), None),
    e("FindVehicle", "FindVehicle", Ner, "traffic", 21, [21565, 20777, 20777], Some(89.47), None),
    e("GENIA_NER", "GENIA-Ent", Ner, "biomedical", 5, [15023, 1669, 1854], Some(74.71), None),
    e("HarveyNER", "HarveyNER", Ner, "social media", 4, [3967, 1301, 1303], Some(88.79), None),
    e("mit-movie", "MIT Movie", Ner, "movie queries", 12, [9774, 2442, 2442], Some(89.01), Some(63.00)),
    e("mit-restaurant", "MIT Restaurant", Ner, "restaurant queries", 8, [7659, 1520, 1520], Some(82.55), Some(20.99)),
    e("MultiNERD", "MultiNERD", Ner, "wikipedia", 16, [134144, 10000, 10000], Some(92.32), None),
    e("ncbi", "ncbi-disease", Ner, "biomedical", 1, [5432, 923, 940], Some(90.23), None),
    e("Ontonotes", "Ontonotes", Ner, "general", 18, [59924, 8528, 8262], Some(90.19), None),
    e("PolyglotNER", "Polyglot-NER", Ner, "wikipedia", 3, [393982, 10000, 10000], Some(70.15), None),
    e("TweetNER7", "tweetNER7", Ner, "social media", 7, [7111, 886, 576], Some(64.97), None),
    e("WikiANN en", "WikiANN", Ner, "wikipedia", 3, [20000, 10000, 10000], Some(85.13), None),
    e("WikiNeural", "WikiNeural", Ner, "wikipedia", 3, [92720, 11590, 11597], Some(91.36), None),
    e("ADE_corpus", "ADE corpus", Re, "biomedical", 1, [3417, 427, 428], Some(82.31), None),
    e("conll04", "CoNLL2004", Re, "news", 5, [922, 231, 288], Some(78.48), None),
    e("GIDS", "GIDS", Re, "news", 4, [8526, 1417, 4307], Some(81.98), None),
    e("kbp37", "kbp37", Re, "news", 18, [15917, 1724, 3405], Some(36.14), None),
    e("New-York-Times-RE", "NYT", Re, "news", 24, [56196, 5000, 5000], Some(90.47), None),
    e("NYT11", "NYT11 HRL", Re, "news", 12, [62648, 149, 369], Some(56.06), None),
    e("SciERC", "SciERC", Re, "scientific", 7, [1366, 187, 397], Some(45.15), None),
    e("semval-RE", "semeval RE", Re, "general", 10, [6507, 1493, 2717], Some(73.23), None),
    zero_shot_re("fewrel", "FewRel", 39.55),
    zero_shot_re("wiki", "Wiki-ZSL", 35.20),
    ee("ACE05", "ACE2005", "news", 33, 22, [3342, 327, 293], Some((77.13, 72.94))),
    ee("CASIE", "CASIE", "cybersecurity", 5, 26, [3751, 788, 1500], Some((67.80, 63.53))),
    ee("GENIA", "GENIA-Evt", "biomedical", 5, 0, [15023, 1669, 1854], None),
    ee("PHEE", "PHEE", "pharmacovigilance", 2, 16, [2898, 961, 968], Some((70.14, 62.91))),
];

const fn ee(
    name: &'static str,
    paper_name: &'static str,
    domain: &'static str,
    types: u32,
    roles: u32,
    sizes: [u32; 3],
    scores: Option<(f64, f64)>,
) -> CatalogEntry {
    let (trigger, argument) = match scores {
        Some((t, a)) => (Some(t), Some(a)),
        None => (None, None),
    };
    CatalogEntry {
        name,
        paper_name,
        task: Ee,
        domain,
        labels: types,
        roles: Some(roles),
        sizes: Some(sizes),
        supervised: trigger,
        argument,
        zero_shot: None,
    }
}

/// FewRel / Wiki-ZSL: 5 unseen labels per fold, Table 5 score as the mean over 5 folds.
const fn zero_shot_re(name: &'static str, paper_name: &'static str, score: f64) -> CatalogEntry {
    CatalogEntry {
        name,
        paper_name,
        task: Re,
        domain: "wikipedia",
        labels: 5,
        roles: None,
        sizes: None,
        supervised: None,
        argument: None,
        zero_shot: Some(score),
    }
}

/// Which of the paper's protocols a score belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Setting {
    Supervised,
    ZeroShot,
}

/// Finds the catalog entry of a directory name: `_sample_N` variants map to their base set and
/// the zero-shot folds `fewrel_K` / `wiki_K` to their benchmark.
pub fn lookup(task: TaskKind, dataset: &str) -> Option<&'static CatalogEntry> {
    let base = fold_group(dataset).unwrap_or_else(|| base_dataset_name(dataset));
    let main = task.main_task();
    CATALOG.iter().find(|c| c.task == main && c.name == base)
}

/// `fewrel_3` → `fewrel`, `wiki_0` → `wiki` (the zero-shot RE folds, SPEC §5.3).
pub fn fold_group(dataset: &str) -> Option<&'static str> {
    let (stem, fold) = dataset.rsplit_once('_')?;
    if fold.len() != 1 || !fold.as_bytes()[0].is_ascii_digit() {
        return None;
    }
    match stem {
        "fewrel" => Some("fewrel"),
        "wiki" => Some("wiki"),
        _ => None,
    }
}

/// The paper's score (percent) for a task on a dataset. EET is the trigger score and EEA the
/// argument score of Table 3 (SPEC §6). Zero-shot folds have no per-fold number.
pub fn paper_score(task: TaskKind, dataset: &str, setting: Setting) -> Option<f64> {
    let entry = lookup(task, dataset)?;
    match setting {
        Setting::ZeroShot if fold_group(dataset).is_some() => None,
        Setting::ZeroShot => entry.zero_shot,
        Setting::Supervised => match task {
            TaskKind::Ner | TaskKind::Re | TaskKind::Eet => entry.supervised,
            TaskKind::Eea => entry.argument,
            _ => None,
        },
    }
}

/// Guesses the protocol of a set of datasets: any zero-shot-only test set means zero-shot.
pub fn infer_setting<'a>(datasets: impl IntoIterator<Item = &'a str>) -> Setting {
    let zero_only = |d: &str| fold_group(d).is_some() || d.starts_with("CrossNER_");
    if datasets.into_iter().any(zero_only) {
        Setting::ZeroShot
    } else {
        Setting::Supervised
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paper_averages_recompute() {
        let mean = |task: TaskKind, pick: fn(&CatalogEntry) -> Option<f64>| {
            let v: Vec<f64> = CATALOG
                .iter()
                .filter(|c| c.task == task)
                .filter_map(pick)
                .collect();
            (v.iter().sum::<f64>() / v.len() as f64, v.len())
        };
        let (ner, n) = mean(Ner, |c| c.supervised);
        assert_eq!(n, 20);
        assert!((ner - 85.188).abs() < 1e-3, "{ner}");
        let (re, n) = mean(Re, |c| c.supervised);
        assert_eq!(n, 8);
        assert!((re - 67.98).abs() < 5e-3, "{re}");
        let (trig, _) = mean(Ee, |c| c.supervised);
        let (arg, _) = mean(Ee, |c| c.argument);
        assert!((trig - 71.69).abs() < 5e-3 && (arg - 66.46).abs() < 5e-3);
    }

    #[test]
    fn lookup_handles_samples_folds_and_aux_tasks() {
        assert_eq!(
            paper_score(
                TaskKind::Ner,
                "CoNLL 2003_sample_15000",
                Setting::Supervised
            ),
            Some(92.94)
        );
        assert_eq!(
            paper_score(TaskKind::Eea, "ACE05", Setting::Supervised),
            Some(72.94)
        );
        assert_eq!(
            paper_score(TaskKind::Eet, "ACE05", Setting::Supervised),
            Some(77.13)
        );
        assert_eq!(
            paper_score(TaskKind::Ner, "mit-movie", Setting::ZeroShot),
            Some(63.00)
        );
        assert_eq!(
            paper_score(TaskKind::Re, "fewrel_2", Setting::ZeroShot),
            None
        );
        assert_eq!(
            lookup(TaskKind::Re, "wiki_4").unwrap().zero_shot,
            Some(35.20)
        );
        assert_eq!(
            lookup(TaskKind::Es, "ncbi").unwrap().paper_name,
            "ncbi-disease"
        );
        assert_eq!(infer_setting(["conll04", "fewrel_0"]), Setting::ZeroShot);
        assert_eq!(infer_setting(["conll04", "mit-movie"]), Setting::Supervised);
    }
}
