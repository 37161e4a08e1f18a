//! The module map holds: the two front ends (`cli`, `tui`) stand on `service` and never
//! import each other, and no circle runs between the top-level modules. Read from the source,
//! so a stray `use crate::cli::...` in the workbench fails here, not in review.

#![allow(clippy::unwrap_used)] // a panic is how a test or bench reports failure

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Top-level module → the top-level modules its files name as `crate::X`.
fn module_graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut modules = BTreeSet::new();
    for entry in std::fs::read_dir(&src).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        if name != "lib" && name != "main" {
            modules.insert(name);
        }
    }
    let mut graph = BTreeMap::new();
    for m in &modules {
        let mut files = Vec::new();
        collect(&src.join(m), &mut files);
        collect(&src.join(format!("{m}.rs")), &mut files);
        let mut uses = BTreeSet::new();
        for f in files {
            let text = std::fs::read_to_string(&f).unwrap();
            for (at, _) in text.match_indices("crate::") {
                let rest = &text[at + "crate::".len()..];
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if modules.contains(&name) && &name != m {
                    uses.insert(name);
                }
            }
        }
        graph.insert(m.clone(), uses);
    }
    graph
}

fn collect(path: &Path, out: &mut Vec<PathBuf>) {
    if path.is_dir() {
        for entry in std::fs::read_dir(path).unwrap() {
            collect(&entry.unwrap().path(), out);
        }
    } else if path.is_file() && path.extension().is_some_and(|e| e == "rs") {
        out.push(path.to_path_buf());
    }
}

#[test]
fn the_front_ends_never_import_each_other() {
    let graph = module_graph();
    for (from, to) in [("tui", "cli"), ("cli", "tui")] {
        assert!(
            !graph[from].contains(to),
            "src/{from} imports crate::{to}: both front ends go through crate::service"
        );
    }
    for front in ["tui", "cli"] {
        assert!(graph[front].contains("service"), "{front} uses the service");
    }
}

/// The workbench's screens read through `service::reads::Reads` and ask `App` for every
/// change with a message: none names the store, the engine or the holder.
#[test]
fn the_screens_never_touch_the_store() {
    let mut files = Vec::new();
    collect(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src/tui/screens"),
        &mut files,
    );
    assert!(files.len() > 5, "the screens were found");
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        for banned in ["Engine", "store::Store", ".store()", "holder", "sled::"] {
            // Whole names only (`store::StoreError` is a type a read may return).
            let named = text.match_indices(banned).any(|(i, _)| {
                !text[i + banned.len()..].starts_with(|c: char| c.is_alphanumeric() || c == '_')
            });
            assert!(
                !named,
                "{} names `{banned}`: a screen reads through Ctx::reads and writes by message",
                f.display()
            );
        }
    }
}

#[test]
fn no_circle_runs_between_top_level_modules() {
    let graph = module_graph();
    eprintln!("module graph (module -> what it uses):");
    for (m, uses) in &graph {
        eprintln!(
            "  {m} -> {}",
            uses.iter().cloned().collect::<Vec<_>>().join(" ")
        );
    }
    // Depth-first search for a back edge; the circle is named when one is found.
    fn visit<'a>(
        m: &'a str,
        graph: &'a BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<&'a str>,
        done: &mut BTreeSet<&'a str>,
    ) {
        if done.contains(m) {
            return;
        }
        if let Some(at) = path.iter().position(|p| *p == m) {
            panic!("import circle: {} -> {m}", path[at..].join(" -> "));
        }
        path.push(m);
        for next in &graph[m] {
            visit(next, graph, path, done);
        }
        path.pop();
        done.insert(m);
    }
    let mut done = BTreeSet::new();
    for m in graph.keys() {
        visit(m, &graph, &mut Vec::new(), &mut done);
    }
}
