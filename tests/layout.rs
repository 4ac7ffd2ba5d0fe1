//! The source's layout: no two modules import each other, file by file and folder by folder, so
//! the data path reads downward (docs/design.md). Read from the source text: the imports of a
//! file are the paths it names (`crate::…`, `super::…`, `self::…`, a child module's name),
//! each resolved to the module file that defines it. A `pub use` re-export is a module's face,
//! not an import, and is left out; so are a file's own tests (after its `#[cfg(test)]`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// A module's path from the crate root: `["stream", "consume"]`; the root is empty.
type ModPath = Vec<String>;

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

/// The module a file defines: `src/stream/consume.rs` → stream::consume, `src/wire/mod.rs` → wire.
fn module_of(src: &Path, file: &Path) -> ModPath {
    let rel = file.strip_prefix(src).unwrap().with_extension("");
    let mut parts: ModPath = rel.iter().map(|p| p.to_string_lossy().into_owned()).collect();
    if matches!(parts.last().map(String::as_str), Some("mod" | "lib" | "main")) {
        parts.pop();
    }
    parts
}

/// The code of a file without comments and string literals (which name paths in prose).
fn code(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        let line = line.split("//").next().unwrap_or("");
        let mut in_str = false;
        let mut prev = ' ';
        for c in line.chars() {
            if c == '"' && prev != '\\' && prev != '\'' {
                in_str = !in_str;
            } else if !in_str {
                out.push(c);
            }
            prev = c;
        }
        out.push('\n');
    }
    out
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Every path the code names, as segments, with `{a, b::c}` groups expanded one level.
fn paths(code: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let chars: Vec<char> = code.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        if !is_ident(chars[i]) || (i > 0 && (is_ident(chars[i - 1]) || chars[i - 1] == ':')) {
            i += 1;
            continue;
        }
        let mut segs = Vec::new();
        let mut j = i;
        loop {
            let start = j;
            while j < chars.len() && is_ident(chars[j]) {
                j += 1;
            }
            segs.push(chars[start..j].iter().collect::<String>());
            if j + 2 < chars.len() && chars[j] == ':' && chars[j + 1] == ':' {
                j += 2;
                if chars[j] == '{' {
                    let end = chars[j..].iter().position(|&c| c == '}').map_or(chars.len(), |p| j + p);
                    let inner: String = chars[j + 1..end].iter().collect();
                    for item in inner.split(',') {
                        let mut full = segs.clone();
                        full.extend(item.trim().split("::").map(|s| s.trim().to_string()).filter(|s| !s.is_empty()));
                        out.push(full);
                    }
                    segs.clear();
                    j = end;
                    break;
                }
                if !is_ident(chars[j]) {
                    break;
                }
            } else {
                break;
            }
        }
        if segs.len() > 1 {
            out.push(segs);
        }
        i = j.max(i + 1);
    }
    out
}

/// The module a path names, if it is one of ours: the longest prefix that is a module.
fn resolve(
    path: &[String],
    from: &ModPath,
    children: &BTreeSet<String>,
    modules: &BTreeSet<ModPath>,
) -> Option<ModPath> {
    let (mut base, rest): (ModPath, &[String]) = match path.first().map(String::as_str) {
        Some("crate") => (Vec::new(), &path[1..]),
        Some("self") => (from.clone(), &path[1..]),
        Some("super") => {
            let mut base = from.clone();
            let mut rest = path;
            while rest.first().is_some_and(|s| s == "super") {
                base.pop();
                rest = &rest[1..];
            }
            (base, rest)
        }
        Some(first) if children.contains(first) => (from.clone(), path),
        _ => return None,
    };
    let mut best = base.clone();
    for seg in rest {
        base.push(seg.clone());
        if modules.contains(&base) {
            best = base.clone();
        } else {
            break;
        }
    }
    Some(best)
}

/// Module → the modules it imports.
fn imports() -> BTreeMap<ModPath, BTreeSet<ModPath>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let modules: BTreeSet<ModPath> = files.iter().map(|f| module_of(&src, f)).collect();
    let mut graph = BTreeMap::new();
    for file in &files {
        let from = module_of(&src, file);
        let full = std::fs::read_to_string(file).unwrap();
        // A file's own tests come last and may import what they check against.
        let text = code(full.split("#[cfg(test)]").next().unwrap_or(""));
        let children: BTreeSet<String> = modules
            .iter()
            .filter(|m| m.len() == from.len() + 1 && m.starts_with(&from))
            .map(|m| m.last().unwrap().clone())
            .collect();
        let body: String = text
            .lines()
            .filter(|l| {
                let l = l.trim_start();
                !(l.starts_with("pub use ")
                    || l.starts_with("pub(crate) use ")
                    || l.starts_with("mod ")
                    || l.starts_with("pub mod "))
            })
            .collect::<Vec<_>>()
            .join("\n");
        let targets: BTreeSet<ModPath> =
            paths(&body).iter().filter_map(|p| resolve(p, &from, &children, &modules)).filter(|m| *m != from).collect();
        graph.insert(from, targets);
    }
    graph
}

fn name(m: &ModPath) -> String {
    if m.is_empty() { "crate".into() } else { m.join("::") }
}

#[test]
fn no_two_modules_import_each_other() {
    let graph = imports();
    let mut both = Vec::new();
    for (a, targets) in &graph {
        for b in targets {
            if a < b && graph.get(b).is_some_and(|t| t.contains(a)) {
                both.push(format!("{} <-> {}", name(a), name(b)));
            }
        }
    }
    assert!(both.is_empty(), "modules that import each other: {both:?}");
}

#[test]
fn no_two_folders_import_each_other() {
    // The crate's own top-level modules: stream, train, model, ...
    let mut top: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (a, targets) in imports() {
        let Some(from) = a.first() else { continue };
        for b in targets {
            if let Some(to) = b.first().filter(|to| *to != from) {
                top.entry(from.clone()).or_default().insert(to.clone());
            }
        }
    }
    let both: Vec<String> = top
        .iter()
        .flat_map(|(a, ts)| {
            ts.iter()
                .filter(|b| *a < **b && top.get(*b).is_some_and(|t| t.contains(a)))
                .map(move |b| format!("{a} <-> {b}"))
        })
        .collect();
    assert!(both.is_empty(), "top-level modules that import each other: {both:?}");
}

#[test]
fn the_reader_finds_the_imports_it_should() {
    // Guards the reader itself: a test that finds nothing would pass on any layout.
    let graph = imports();
    let of = |m: &str| graph.get(&m.split("::").map(String::from).collect::<ModPath>()).cloned().unwrap_or_default();
    let has = |m: &str, t: &str| of(m).contains(&t.split("::").map(String::from).collect::<ModPath>());
    assert!(has("stream::consume", "stream::commit"), "{:?}", of("stream::consume"));
    assert!(has("stream::at_least_once", "stream::commit"));
    assert!(has("decision::policy", "decision"), "super:: resolves to the parent: {:?}", of("decision::policy"));
    assert!(has("wire::parse", "wire::layouts"), "a sibling through super::: {:?}", of("wire::parse"));
    assert!(has("run", "cli"));
    assert!(!has("model", "train"), "model does not import train");
    assert!(graph.len() > 40, "only {} modules read", graph.len());
}
