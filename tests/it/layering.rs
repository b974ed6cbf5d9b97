//! The code's shape, checked. The import graph of `src/`, file by file, has no cycle; the
//! contract (`src/contract/`) imports nothing of mttd but itself, `error` and `time`; the domain
//! modules know nothing of the command line or of step programs; and every path an Argo template
//! reads or writes under a step's folder is one of the names in `contract::layout`.
//!
//! The graph is read from the source text: every `crate::…`, `super::…` and child-module path
//! outside comments, resolved to the deepest module file it names.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use mttd::contract::layout::STEP_FOLDERS;

type Module = Vec<String>;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every library source file and its module path (`src/replay/hpa.rs` → `replay::hpa`).
fn modules() -> BTreeMap<Module, String> {
    fn walk(dir: &Path, prefix: &[String], out: &mut BTreeMap<Module, String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_stem().unwrap().to_string_lossy().to_string();
            if path.is_dir() {
                let mut p = prefix.to_vec();
                p.push(path.file_name().unwrap().to_string_lossy().to_string());
                walk(&path, &p, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let mut module = prefix.to_vec();
                if !(name == "mod" || (prefix.is_empty() && name == "lib")) {
                    module.push(name.clone());
                }
                if prefix.is_empty() && name == "main" {
                    continue; // the `mttd` program, not the library
                }
                out.insert(module, std::fs::read_to_string(&path).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(&root().join("src"), &[], &mut out);
    out
}

/// The text without comments (doc comments name modules they do not import) and without the
/// unit tests at the end of a file (inside `mod tests`, `super` is the file itself).
fn code(text: &str) -> String {
    let text = text.split("#[cfg(test)]\nmod tests").next().unwrap_or_default();
    text.lines()
        .map(|line| line.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n")
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// The paths a `use` tree or an inline path names, from `text` at the start of its segments:
/// `a::b::{c, d::e}` → [a, b, c], [a, b, d, e].
fn paths_at(text: &str) -> Vec<Vec<String>> {
    let chars: Vec<char> = text.chars().collect();
    fn tree(chars: &[char], mut i: usize, prefix: Vec<String>, out: &mut Vec<Vec<String>>) -> usize {
        let mut path = prefix;
        loop {
            let start = i;
            while i < chars.len() && is_ident(chars[i]) {
                i += 1;
            }
            if i > start {
                path.push(chars[start..i].iter().collect());
            }
            if i + 1 < chars.len() && chars[i] == ':' && chars[i + 1] == ':' {
                i += 2;
                if i < chars.len() && chars[i] == '{' {
                    i += 1;
                    loop {
                        while i < chars.len() && (chars[i].is_whitespace() || chars[i] == ',') {
                            i += 1;
                        }
                        if i >= chars.len() || chars[i] == '}' {
                            return i + 1;
                        }
                        i = tree(chars, i, path.clone(), out);
                    }
                }
                continue;
            }
            out.push(path);
            return i;
        }
    }
    let mut out = Vec::new();
    tree(&chars, 0, Vec::new(), &mut out);
    out
}

/// The module files `module` (with source `text`) refers to.
fn references(module: &Module, text: &str, all: &BTreeMap<Module, String>) -> BTreeSet<Module> {
    let text = code(text);
    let children: Vec<String> = all
        .keys()
        .filter(|m| m.len() == module.len() + 1 && m.starts_with(module))
        .map(|m| m.last().unwrap().clone())
        .collect();
    let mut found = BTreeSet::new();
    let bytes: Vec<char> = text.chars().collect();
    let s: String = bytes.iter().collect();
    for (at, _) in s.match_indices("::") {
        // The first segment of a path: the identifier before this `::`, not itself after `::`.
        let mut start = at;
        while start > 0 && is_ident(s[..start].chars().last().unwrap()) {
            start -= s[..start].chars().last().unwrap().len_utf8();
        }
        if start == at || s[..start].ends_with("::") {
            continue;
        }
        let first = &s[start..at];
        let base: Option<Module> = match first {
            "crate" => Some(Vec::new()),
            "super" => {
                // `super` of a file is its parent module (for `a/mod.rs` and `a.rs` alike).
                Some(module[..module.len().saturating_sub(1)].to_vec())
            }
            "self" => Some(module.clone()),
            name if children.contains(&name.to_string()) && !s[..start].ends_with('.') => {
                let mut m = module.clone();
                m.push(name.to_string());
                Some(m)
            }
            _ => None,
        };
        let Some(base) = base else { continue };
        let rest = if first == "crate" || first == "super" || first == "self" {
            &s[at + 2..]
        } else {
            &s[start..]
        };
        let base_for_rest = if first == "crate" || first == "super" || first == "self" {
            base
        } else {
            module.clone()
        };
        for path in paths_at(rest) {
            let mut full = base_for_rest.clone();
            full.extend(path);
            // The deepest module file the path names.
            let target = (0..=full.len())
                .rev()
                .map(|n| full[..n].to_vec())
                .find(|m| all.contains_key(m))
                .unwrap();
            if &target != module {
                found.insert(target);
            }
        }
    }
    found
}

fn graph() -> BTreeMap<Module, BTreeSet<Module>> {
    let all = modules();
    all.iter()
        .map(|(m, text)| (m.clone(), references(m, text, &all)))
        .collect()
}

fn show(m: &Module) -> String {
    if m.is_empty() {
        "crate".into()
    } else {
        m.join("::")
    }
}

#[test]
fn the_import_graph_of_src_has_no_cycle() {
    let graph = graph();
    // The crate root declares every module; it is not an import.
    let graph: BTreeMap<Module, BTreeSet<Module>> = graph
        .into_iter()
        .map(|(m, refs)| (m, refs.into_iter().filter(|r| !r.is_empty()).collect()))
        .collect();
    assert!(graph.len() > 30, "the scan found the source files: {}", graph.len());
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        Open,
        Done,
    }
    fn visit(
        m: &Module,
        graph: &BTreeMap<Module, BTreeSet<Module>>,
        marks: &mut BTreeMap<Module, Mark>,
        stack: &mut Vec<Module>,
    ) {
        match marks.get(m) {
            Some(Mark::Done) => return,
            Some(Mark::Open) => {
                let from = stack.iter().position(|s| s == m).unwrap();
                let cycle: Vec<String> = stack[from..].iter().chain([m]).map(show).collect();
                panic!("import cycle: {}", cycle.join(" → "));
            }
            None => {}
        }
        marks.insert(m.clone(), Mark::Open);
        stack.push(m.clone());
        for next in &graph[m] {
            visit(next, graph, marks, stack);
        }
        stack.pop();
        marks.insert(m.clone(), Mark::Done);
    }
    let mut marks = BTreeMap::new();
    for m in graph.keys() {
        visit(m, &graph, &mut marks, &mut Vec::new());
    }
}

#[test]
fn the_scan_sees_imports() {
    // The checks below are only as good as the scan: it must find what a file imports.
    let graph = graph();
    let of = |m: &str| &graph[&m.split("::").map(String::from).collect::<Module>()];
    let has = |m: &str, target: &str| of(m).contains(&target.split("::").map(String::from).collect::<Module>());
    assert!(
        has("replay", "replay::hpa"),
        "a child by its bare name: {:?}",
        of("replay")
    );
    assert!(
        has("contract::workload", "contract::capacity"),
        "`super::`: {:?}",
        of("contract::workload")
    );
    assert!(
        has("steps::train", "train"),
        "`crate::` in a use tree: {:?}",
        of("steps::train")
    );
    assert!(has("gate", "contract::gate"), "{:?}", of("gate"));
}

#[test]
fn the_contract_imports_nothing_above_it() {
    let allowed = |m: &Module| {
        m.first()
            .is_some_and(|f| f == "contract" || f == "error" || f == "time")
    };
    for (module, refs) in graph() {
        if module.first().is_some_and(|f| f == "contract") {
            let above: Vec<String> = refs.iter().filter(|r| !allowed(r)).map(show).collect();
            assert!(
                above.is_empty(),
                "{}: the contract imports {above:?}; it may import only contract, error and time",
                show(&module)
            );
        }
    }
}

#[test]
fn the_domain_knows_nothing_of_steps_or_the_command_line() {
    let all = modules();
    for (module, refs) in graph() {
        let layer = module.first().map(String::as_str).unwrap_or("");
        if module.is_empty() || layer == "steps" || layer == "cli" {
            continue;
        }
        let above: Vec<String> = refs
            .iter()
            .filter(|r| r.first().is_some_and(|f| f == "steps" || f == "cli"))
            .map(show)
            .collect();
        assert!(above.is_empty(), "{}: imports {above:?}", show(&module));
        assert!(
            !code(&all[&module]).contains("clap::"),
            "{}: uses clap (arguments belong to src/steps/ and src/cli/)",
            show(&module)
        );
    }
}

/// Every `/work/in/<folder>/…` and `/work/out/<folder>/…` in the Argo templates and workflows.
fn template_step_paths() -> Vec<(String, String)> {
    let mut found = Vec::new();
    for dir in ["templates", "workflows"] {
        for entry in std::fs::read_dir(root().join(dir)).unwrap() {
            let path = entry.unwrap().path();
            let text = std::fs::read_to_string(&path).unwrap();
            for marker in ["/work/in/", "/work/out/"] {
                for (at, _) in text.match_indices(marker) {
                    let rest: String = text[at + marker.len()..]
                        .chars()
                        .take_while(|c| c.is_ascii_alphanumeric() || "._/-".contains(*c))
                        .collect();
                    found.push((path.display().to_string(), rest.trim_end_matches('/').to_string()));
                }
            }
        }
    }
    found
}

#[test]
fn every_step_path_in_the_templates_is_named_in_the_layout() {
    let paths = template_step_paths();
    assert!(
        paths.len() > 40,
        "the templates name their step folders: {}",
        paths.len()
    );
    let mut folders_used = BTreeSet::new();
    for (file, path) in paths {
        let (folder, inside) = path.split_once('/').unwrap_or((&path, ""));
        let Some(known) = STEP_FOLDERS.iter().find(|f| f.name == folder) else {
            panic!(
                "{file}: /work/…/{path}: folder `{folder}` is not a step folder of contract::layout ({:?})",
                STEP_FOLDERS.iter().map(|f| f.name).collect::<Vec<_>>()
            );
        };
        assert!(
            inside.is_empty() || known.files.contains(&inside),
            "{file}: /work/…/{path}: `{inside}` is not a file the {} step writes in {folder}/ ({:?})",
            known.step,
            known.files
        );
        folders_used.insert(folder.to_string());
    }
    for folder in STEP_FOLDERS {
        assert!(
            folders_used.contains(folder.name),
            "the templates never use the {} folder",
            folder.name
        );
    }
}
