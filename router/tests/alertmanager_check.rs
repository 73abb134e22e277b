//! `harrier check` on Alertmanager configs: every file of the shared Alertmanager conformance
//! folder gets the verdict its `EXPECTED.tsv` row gives in the `harrier` column (columns:
//! file, upstream verdict, harrier verdict, note). Rows whose note reads `unsupported
//! receiver: a, b` must fail with a message naming one of those receiver types.

use std::path::{Path, PathBuf};

use harrier_router::route::load_file;

const FOLDER: &str = "../../shared/conformance/alertmanager";

fn folder() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(FOLDER)
}

#[test]
fn alertmanager_configs_get_expected_verdicts() {
    let dir = folder();
    let Ok(table) = std::fs::read_to_string(dir.join("EXPECTED.tsv")) else {
        eprintln!("skipping: {} not found", dir.display());
        return;
    };
    let mut failures = Vec::new();
    let mut total = 0;
    for line in table.lines().skip(1).filter(|l| !l.trim().is_empty()) {
        let cols: Vec<&str> = line.split('\t').collect();
        let (file, expected) = (cols[0], cols.get(2).copied().unwrap_or(""));
        let note = cols.get(3).copied().unwrap_or("");
        total += 1;
        let result = load_file(&dir.join(file));
        match (expected, &result) {
            ("ok", Ok(_)) => {}
            ("error", Err(e)) => {
                let message = e.to_string();
                assert!(message.contains(file), "{file}: the error names the file: {message}");
                if let Some(kinds) = note.strip_prefix("unsupported receiver: ") {
                    let named = kinds
                        .split(", ")
                        .any(|k| message.contains(&format!("{}_configs is not supported", k.trim())));
                    if !named {
                        failures.push(format!(
                            "{file}: expected an unsupported-receiver error ({kinds}), got {message}"
                        ));
                    }
                }
                println!("{file}: {message}");
            }
            (_, Ok(_)) => failures.push(format!("{file}: expected {expected}, got ok")),
            (_, Err(e)) => failures.push(format!("{file}: expected {expected}, got error: {e}")),
        }
    }
    println!("{}/{total} alertmanager configs pass", total - failures.len());
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
