// A build script reports failure by panicking; cargo shows the message.
#![allow(clippy::unwrap_used)]

//! Embeds `sample-data/` into the binary, so `ie-bench` has real data to show even when run far
//! from its source tree.

use std::fmt::Write;
use std::path::Path;

fn walk(dir: &Path, root: &Path, out: &mut Vec<String>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(Result::ok)
        .collect();
    entries.sort_by_key(std::fs::DirEntry::path);
    for e in entries {
        let p = e.path();
        if p.is_dir() {
            walk(&p, root, out);
        } else {
            out.push(
                p.strip_prefix(root)
                    .unwrap()
                    .to_string_lossy()
                    .replace('\\', "/"),
            );
        }
    }
}

fn main() {
    let manifest = std::env::var("CARGO_MANIFEST_DIR").unwrap();
    let root = Path::new(&manifest).join("sample-data");
    println!("cargo:rerun-if-changed=sample-data");
    let mut files = Vec::new();
    if root.is_dir() {
        walk(&root, &root, &mut files);
    }
    let mut code = String::from("pub const SAMPLE_FILES: &[(&str, &[u8])] = &[\n");
    for f in &files {
        let abs = root.join(f);
        writeln!(
            code,
            "    ({f:?}, include_bytes!({:?})),",
            abs.to_string_lossy()
        )
        .unwrap();
    }
    code.push_str("];\n");
    let out = Path::new(&std::env::var("OUT_DIR").unwrap()).join("sample_files.rs");
    std::fs::write(out, code).unwrap();
}
