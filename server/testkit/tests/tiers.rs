//! Every ignored test in the workspace names one of the tiers of `kplab_testkit::tier`, spelled
//! exactly, so that `--include-ignored` and the README describe every test there is.

use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        let name = e.file_name();
        if name == "target" || name.to_string_lossy().starts_with('.') {
            continue;
        }
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

#[test]
fn every_ignore_names_a_tier() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut files = Vec::new();
    for dir in ["server", "docker", "crates"] {
        rust_files(&root.join(dir), &mut files);
    }
    assert!(files.len() > 100, "found only {} Rust files", files.len());
    let mut ignored = 0;
    let mut wrong = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if !line.starts_with("#[ignore") {
                continue;
            }
            ignored += 1;
            let ok = kplab_testkit::tier::ALL
                .iter()
                .any(|r| line == format!("#[ignore = {r:?}]"));
            if !ok {
                wrong.push(format!("{}:{}: {line}", f.display(), i + 1));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "ignore reasons must be one of {:?}:\n{}",
        kplab_testkit::tier::ALL,
        wrong.join("\n")
    );
    assert!(ignored > 30, "found only {ignored} ignored tests");
}
