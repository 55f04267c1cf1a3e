//! The workstation's modules depend on each other in one direction only: no import circle inside
//! `src/tui/` (the shell, `app`, `view` and `facade`, may use everything; nothing below them uses the
//! shell). Read from the source, so that a new `use` that closes a circle fails here.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The top-level module a file under `src/tui/` belongs to, and the source without its tests.
fn modules() -> BTreeMap<String, BTreeSet<String>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/tui");
    let mut files = Vec::new();
    let mut dirs = vec![root.clone()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    let names: BTreeSet<String> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir() || p.extension().is_some_and(|e| e == "rs"))
        .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
        .filter(|n| n != "mod")
        .collect();
    let mut deps: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in files {
        let rel = file.strip_prefix(&root).unwrap();
        let parts: Vec<String> = rel.iter().map(|p| p.to_string_lossy().into_owned()).collect();
        let top = parts[0].trim_end_matches(".rs").to_string();
        if top == "mod" {
            continue;
        }
        let text = std::fs::read_to_string(&file).unwrap();
        let text = text.split("#[cfg(test)]").next().unwrap();
        // `super::x` names a sibling of the top module from a file directly in src/tui/ or from a
        // directory's mod.rs; deeper, it names the directory's own items.
        let super_is_tui = parts.len() == 1 || (parts.len() == 2 && parts[1] == "mod.rs");
        let mut uses = BTreeSet::new();
        for name in &names {
            let by_crate = format!("crate::tui::{name}");
            let by_super = format!("super::{name}");
            let by_super2 = format!("super::super::{name}");
            let mentions = |needle: &str| {
                text.match_indices(needle).any(|(at, _)| {
                    let after = text[at + needle.len()..].chars().next().unwrap_or(' ');
                    let before = text[..at].chars().last().unwrap_or(' ');
                    !after.is_alphanumeric() && after != '_' && before != ':' && !before.is_alphanumeric()
                })
            };
            if mentions(&by_crate)
                || (super_is_tui && mentions(&by_super))
                || (parts.len() == 3 && mentions(&by_super2))
            {
                uses.insert(name.clone());
            }
        }
        uses.remove(&top);
        deps.entry(top).or_default().extend(uses);
    }
    deps
}

#[test]
fn no_import_circle_inside_the_workstation() {
    let deps = modules();
    assert!(deps.contains_key("screens") && deps.contains_key("modals"), "{deps:?}");
    // Depth-first search for a path back to where it started.
    fn back(deps: &BTreeMap<String, BTreeSet<String>>, from: &str, at: &str, path: &mut Vec<String>) -> bool {
        for next in deps.get(at).into_iter().flatten() {
            if next == from {
                path.push(next.clone());
                return true;
            }
            if path.contains(next) {
                continue;
            }
            path.push(next.clone());
            if back(deps, from, next, path) {
                return true;
            }
            path.pop();
        }
        false
    }
    for module in deps.keys() {
        let mut path = vec![module.clone()];
        assert!(!back(&deps, module, module, &mut path), "import circle: {}", path.join(" -> "));
    }
    // Only the shell knows App.
    for (module, uses) in &deps {
        if !["app", "view", "facade"].contains(&module.as_str()) {
            assert!(!uses.contains("app"), "{module} uses app.rs");
        }
    }
}
