//! docs/ARCHITECTURE.md says the modules of `src/` (and of `udfs/src/`) import one another
//! without a cycle. This test reads the sources and checks it at every level of the module
//! tree: among the children of one module (`catalog::summary` and `catalog::version`, say),
//! a file under one child that names the other counts as an edge, and the edges must form
//! no cycle. Unit tests (`#[cfg(test)]` onwards) are left out: they may name anything.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// One source file: its module path (`["catalog", "summary"]`) and its text without
/// comments and unit tests.
struct SourceFile {
    module: Vec<String>,
    code: String,
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn module_of(root: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(root).unwrap();
    let mut parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    let last = parts.pop().unwrap();
    let stem = last.trim_end_matches(".rs");
    if !matches!(stem, "mod" | "lib" | "main") {
        parts.push(stem.to_string());
    }
    parts
}

fn without_comments_and_tests(text: &str) -> String {
    let mut code = String::new();
    for line in text.lines() {
        if line.trim_start().starts_with("#[cfg(test)]") {
            break;
        }
        let line = match line.find("//") {
            Some(at) => &line[..at],
            None => line,
        };
        code.push_str(line);
        code.push('\n');
    }
    code
}

fn sources(root: &Path) -> Vec<SourceFile> {
    let mut files = Vec::new();
    rust_files(root, &mut files);
    files
        .iter()
        .map(|f| SourceFile {
            module: module_of(root, f),
            code: without_comments_and_tests(&std::fs::read_to_string(f).unwrap()),
        })
        .collect()
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// The paths a use tree starting at `text` names, each as its segments (`{a::b, c}` gives
/// `a::b` and `c`).
fn use_tree(text: &str, prefix: &[String], out: &mut Vec<Vec<String>>) -> usize {
    let bytes: Vec<char> = text.chars().collect();
    let mut i = 0;
    let mut path = prefix.to_vec();
    loop {
        while i < bytes.len() && bytes[i].is_whitespace() {
            i += 1;
        }
        if i < bytes.len() && bytes[i] == '{' {
            i += 1;
            loop {
                let rest: String = bytes[i..].iter().collect();
                i += use_tree(&rest, &path, out);
                while i < bytes.len() && (bytes[i].is_whitespace() || bytes[i] == ',') {
                    i += 1;
                }
                if i >= bytes.len() || bytes[i] == '}' {
                    return i + 1;
                }
            }
        }
        let start = i;
        while i < bytes.len() && is_ident(bytes[i]) {
            i += 1;
        }
        if i == start {
            out.push(path);
            return i;
        }
        path.push(bytes[start..i].iter().collect());
        if bytes.get(i) == Some(&':') && bytes.get(i + 1) == Some(&':') {
            i += 2;
        } else {
            out.push(path);
            return i;
        }
    }
}

/// Every module path a file names through `crate::`, `super::` or `self::`, resolved from
/// the file's own module.
fn named_paths(file: &SourceFile) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let code = &file.code;
    for (at, _) in code.match_indices("::") {
        // The word before `::` must be crate, super or self, and start a path.
        let before = &code[..at];
        let word_start = before
            .rfind(|c: char| !is_ident(c))
            .map(|p| p + 1)
            .unwrap_or(0);
        let word = &before[word_start..];
        if word_start >= 2 && &before[word_start - 2..word_start] == "::" {
            continue;
        }
        let base: Vec<String> = match word {
            "crate" => Vec::new(),
            "self" => file.module.clone(),
            "super" => {
                let mut base = file.module.clone();
                base.pop();
                // super::super::...
                let mut rest = &code[at + 2..];
                while let Some(r) = rest.strip_prefix("super::") {
                    base.pop();
                    rest = r;
                }
                let offset = code.len() - rest.len();
                use_tree(&code[offset..], &base, &mut out);
                continue;
            }
            _ => continue,
        };
        use_tree(&code[at + 2..], &base, &mut out);
    }
    out
}

/// The cycles among the children of each module: each as the children's names in order.
fn cycles(root: &Path) -> Vec<String> {
    let files = sources(root);
    let modules: BTreeSet<Vec<String>> = files.iter().map(|f| f.module.clone()).collect();
    // Edges between the children of one parent: parent -> (from child -> to children).
    let mut edges: BTreeMap<Vec<String>, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
    for file in &files {
        for path in named_paths(file) {
            // The longest prefix of the path that is a module.
            let target = (0..=path.len())
                .rev()
                .map(|n| path[..n].to_vec())
                .find(|p| modules.contains(p))
                .unwrap_or_default();
            let common = file
                .module
                .iter()
                .zip(&target)
                .take_while(|(a, b)| a == b)
                .count();
            // Siblings under the common ancestor (not a module naming its own ancestor or
            // descendant).
            if common < file.module.len() && common < target.len() {
                edges
                    .entry(file.module[..common].to_vec())
                    .or_default()
                    .entry(file.module[common].clone())
                    .or_default()
                    .insert(target[common].clone());
            }
        }
    }
    let mut found = Vec::new();
    for (parent, graph) in &edges {
        // Depth-first search for a back edge; report the cycle it closes.
        let mut state: BTreeMap<&str, u8> = BTreeMap::new();
        fn visit<'a>(
            node: &'a str,
            graph: &'a BTreeMap<String, BTreeSet<String>>,
            state: &mut BTreeMap<&'a str, u8>,
            stack: &mut Vec<&'a str>,
            found: &mut Vec<Vec<String>>,
        ) {
            state.insert(node, 1);
            stack.push(node);
            for next in graph.get(node).into_iter().flatten() {
                match state.get(next.as_str()) {
                    Some(1) => {
                        let from = stack.iter().position(|n| *n == next).unwrap();
                        let mut cycle: Vec<String> =
                            stack[from..].iter().map(|s| s.to_string()).collect();
                        cycle.push(next.clone());
                        found.push(cycle);
                    }
                    Some(_) => {}
                    None => visit(next, graph, state, stack, found),
                }
            }
            stack.pop();
            state.insert(node, 2);
        }
        let mut cycles_here = Vec::new();
        for node in graph.keys() {
            if !state.contains_key(node.as_str()) {
                visit(node, graph, &mut state, &mut Vec::new(), &mut cycles_here);
            }
        }
        for cycle in cycles_here {
            let prefix = if parent.is_empty() {
                String::new()
            } else {
                format!("{}::", parent.join("::"))
            };
            found.push(
                cycle
                    .iter()
                    .map(|c| format!("{prefix}{c}"))
                    .collect::<Vec<_>>()
                    .join(" -> "),
            );
        }
    }
    found
}

#[test]
fn the_modules_of_src_import_one_another_without_a_cycle() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let found = cycles(&root);
    assert!(
        found.is_empty(),
        "import cycles in src/:\n{}",
        found.join("\n")
    );
}

#[test]
fn the_modules_of_udfs_import_one_another_without_a_cycle() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("udfs/src");
    let found = cycles(&root);
    assert!(
        found.is_empty(),
        "import cycles in udfs/src/:\n{}",
        found.join("\n")
    );
}

#[test]
fn the_checker_sees_a_cycle_when_there_is_one() {
    let dir = std::env::temp_dir().join(format!("skyql-cycles-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("a")).unwrap();
    std::fs::write(dir.join("lib.rs"), "mod a;\nmod b;\n").unwrap();
    std::fs::write(dir.join("a/mod.rs"), "mod x;\nmod y;\n").unwrap();
    std::fs::write(dir.join("a/x.rs"), "use super::{y::Thing, other};\n").unwrap();
    std::fs::write(dir.join("a/y.rs"), "fn f() { crate::a::x::g(); }\n").unwrap();
    std::fs::write(
        dir.join("b.rs"),
        "// use crate::a::x;\nuse crate::a::y::Thing;\n",
    )
    .unwrap();
    let found = cycles(&dir);
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(found, vec!["a::x -> a::y -> a::x".to_string()]);
}
