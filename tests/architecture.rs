//! The crate's layers, checked: no import runs from a lower layer to a
//! higher one, and the top-level modules import each other in no cycle.
//!
//! [`LAYERS`] is the table both checks read. It mirrors
//! `docs/architecture.md` and the crate map in `src/lib.rs`; the three must
//! agree, and the last tests here hold them to it (every module declared in
//! `src/lib.rs` has a layer, and each layer's section of the doc and of the
//! crate map names its modules).
//!
//! How a file's imports are read: every `src/**/*.rs` file of the library
//! is scanned (not the binary's: `src/main.rs`, `src/cli/` and the files
//! `src/main.rs` declares with `mod`), with comments, strings and character
//! literals blanked out, and every `crate::X` path counts, whether in a
//! `use` (also `use crate::{x::A, y}`) or inline (`crate::x::f()`). `X` is
//! a top-level module; the file belongs to the top-level module its path
//! starts with. Paths through `super::` never leave a top-level module in
//! this crate, so they are not followed.
//!
//! Test code does not count: an item under `#[cfg(test)]` (the usual
//! `mod tests { … }`) is skipped, and so is a file such an item declares
//! (`#[cfg(test)] mod tests;`). It is compiled only into the unit tests, so
//! it shapes no build of the library, and a test may well build its inputs
//! with a module above the one it tests.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// The layers, from the bottom up, and the top-level modules each holds.
/// A module may use modules of its own layer and of the layers below.
///
/// Keep in step with `docs/architecture.md` and the crate map in
/// `src/lib.rs` (the layer names are their headings).
const LAYERS: &[(&str, &[&str])] = &[
    (
        "Wire and data",
        &[
            "resp",
            "cassette",
            "command",
            "pattern",
            "selected_db",
            "pairing",
            "carried_state",
            "topology",
            "text",
        ],
    ),
    (
        "Connections",
        &["tls", "upstream", "handover", "server", "nodes"],
    ),
    ("Policies", &["fault", "redact", "exclude", "expiry"]),
    (
        "Modes",
        &["record", "replay", "cluster", "tail", "journal", "stubs"],
    ),
    (
        "Steering and front ends",
        &["control", "run", "embed", "config"],
    ),
    (
        "Cassette tools",
        &["show", "diff", "import", "conform", "report", "learn"],
    ),
];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The layer index of each top-level module.
fn layer_of() -> BTreeMap<&'static str, usize> {
    let mut map = BTreeMap::new();
    for (i, (_, modules)) in LAYERS.iter().enumerate() {
        for m in *modules {
            assert!(map.insert(*m, i).is_none(), "{m} is in two layers");
        }
    }
    map
}

/// One `crate::X` reference: where it is, and `X`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Use {
    line: usize,
    module: String,
}

/// A library source file: its path (relative to the package), the
/// top-level module it belongs to, and the modules it uses.
struct SourceFile {
    path: String,
    module: String,
    uses: Vec<Use>,
}

// ---------------------------------------------------------------------------
// Reading Rust source, just enough for paths.

/// `src` with comments, string literals and character literals replaced by
/// spaces (newlines kept, so line numbers stay right).
fn code_only(src: &str) -> String {
    let b: Vec<char> = src.chars().collect();
    let mut out = String::with_capacity(src.len());
    let blank = |c: char| if c == '\n' { '\n' } else { ' ' };
    let ident = |c: char| c.is_alphanumeric() || c == '_';
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let next = b.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < b.len() && b[i] != '\n' {
                out.push(' ');
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            // Block comments nest in Rust.
            let mut depth = 0;
            while i < b.len() {
                if b[i] == '/' && b.get(i + 1) == Some(&'*') {
                    depth += 1;
                    out.push_str("  ");
                    i += 2;
                } else if b[i] == '*' && b.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    out.push_str("  ");
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    out.push(blank(b[i]));
                    i += 1;
                }
            }
        } else if (c == 'r' || (c == 'b' && next == Some('r')))
            && (i == 0 || !ident(b[i - 1]))
            && raw_string_hashes(&b, if c == 'b' { i + 2 } else { i + 1 }).is_some()
        {
            // r"…", r#"…"#, br"…": no escapes, ends at `"` and as many `#`.
            let start = if c == 'b' { i + 2 } else { i + 1 };
            let hashes = raw_string_hashes(&b, start).unwrap_or(0);
            let mut j = start + hashes + 1;
            while j < b.len() {
                if b[j] == '"' && (0..hashes).all(|k| b.get(j + 1 + k) == Some(&'#')) {
                    j += 1 + hashes;
                    break;
                }
                j += 1;
            }
            for &ch in &b[i..j.min(b.len())] {
                out.push(blank(ch));
            }
            i = j;
        } else if c == '"' {
            out.push(' ');
            i += 1;
            while i < b.len() && b[i] != '"' {
                if b[i] == '\\' {
                    out.push(' ');
                    i += 1;
                }
                if i < b.len() {
                    out.push(blank(b[i]));
                    i += 1;
                }
            }
            out.push(' ');
            i += 1;
        } else if c == '\'' {
            // A character literal ('x', '\n', '\u{7f}', '\'') or a lifetime.
            let end = if next == Some('\\') {
                (i + 3..b.len()).find(|&j| b[j] == '\'')
            } else if b.get(i + 2) == Some(&'\'') {
                Some(i + 2)
            } else {
                None
            };
            match end {
                Some(end) => {
                    for &ch in &b[i..=end] {
                        out.push(blank(ch));
                    }
                    i = end + 1;
                }
                None => {
                    out.push(c);
                    i += 1;
                }
            }
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

/// At `at`, `#…#"` (the start of a raw string after its `r`): the number
/// of `#`.
fn raw_string_hashes(b: &[char], at: usize) -> Option<usize> {
    let hashes = b[at.min(b.len())..]
        .iter()
        .take_while(|&&c| c == '#')
        .count();
    (b.get(at + hashes) == Some(&'"')).then_some(hashes)
}

/// Code with every `#[cfg(test)]` item blanked out, and the names of the
/// modules such items declare without a body (`#[cfg(test)] mod tests;`),
/// whose files are test code too.
fn without_test_items(code: &str) -> (String, Vec<String>) {
    const ATTR: &[u8] = b"#[cfg(test)]";
    // Bytes, not chars: everything looked for is ASCII, and blanking each
    // byte of a multi-byte character with a space keeps the text UTF-8.
    let mut out = code.as_bytes().to_vec();
    let bytes = code.as_bytes();
    let mut test_mods = Vec::new();
    let mut search = 0;
    while let Some(found) = bytes[search..].windows(ATTR.len()).position(|w| w == ATTR) {
        let start = search + found;
        // The item ends at the first `;` outside braces, or at the brace
        // that closes its body.
        let mut depth = 0usize;
        let mut end = bytes.len();
        for (j, &c) in bytes.iter().enumerate().skip(start + ATTR.len()) {
            match c {
                b'{' => depth += 1,
                b'}' => {
                    depth = depth.saturating_sub(1);
                    if depth == 0 {
                        end = j + 1;
                        break;
                    }
                }
                b';' if depth == 0 => {
                    end = j + 1;
                    break;
                }
                _ => {}
            }
        }
        let item = String::from_utf8_lossy(&bytes[start + ATTR.len()..end]);
        if item.trim_end().ends_with(';') && !item.contains('{') {
            let words: Vec<&str> = item
                .split(|c: char| !(c.is_alphanumeric() || c == '_'))
                .filter(|w| !w.is_empty())
                .collect();
            if let Some(pos) = words.iter().position(|w| *w == "mod") {
                if let Some(name) = words.get(pos + 1) {
                    test_mods.push(name.to_string());
                }
            }
        }
        for c in &mut out[start..end] {
            if *c != b'\n' {
                *c = b' ';
            }
        }
        search = end;
    }
    (
        String::from_utf8(out).expect("blanked bytes stay UTF-8"),
        test_mods,
    )
}

/// Every `crate::X` in `code` (already `code_only`): `X` and its line. In
/// `crate::{a::B, c}`, each item of the group counts.
fn crate_uses(code: &str) -> Vec<Use> {
    let ident = |c: char| c.is_alphanumeric() || c == '_';
    let mut uses = Vec::new();
    let mut from = 0;
    while let Some(found) = code[from..].find("crate") {
        let at = from + found;
        from = at + "crate".len();
        if code[..at].chars().next_back().is_some_and(ident) {
            continue; // `foocrate`; `$crate` counts, as it should.
        }
        let rest = code[from..].trim_start();
        let Some(rest) = rest.strip_prefix("::") else {
            continue; // `pub(crate)`, `extern crate`
        };
        let rest = rest.trim_start();
        let line = code[..at].matches('\n').count() + 1;
        let mut names = Vec::new();
        if let Some(group) = rest.strip_prefix('{') {
            // The top-level items of the group: split at commas outside
            // nested braces, take each item's first name.
            let mut depth = 0;
            let mut item_start = true;
            let mut chars = group.char_indices();
            while let Some((k, c)) = chars.next() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => item_start = true,
                    c if item_start && ident(c) => {
                        let name: String = group[k..].chars().take_while(|&c| ident(c)).collect();
                        for _ in 1..name.chars().count() {
                            chars.next();
                        }
                        names.push(name);
                        item_start = false;
                    }
                    _ => {}
                }
            }
        } else {
            names.push(rest.chars().take_while(|&c| ident(c)).collect());
        }
        for module in names {
            if !module.is_empty() && module != "self" {
                uses.push(Use { line, module });
            }
        }
    }
    uses
}

// ---------------------------------------------------------------------------
// The crate's files.

/// `pub mod x;` / `mod x;` names declared in a file.
fn declared_modules(code: &str) -> Vec<String> {
    code.lines()
        .filter_map(|l| {
            let l = l.trim();
            let l = l.strip_prefix("pub ").unwrap_or(l);
            let name = l.strip_prefix("mod ")?.strip_suffix(';')?;
            Some(name.trim().to_string())
        })
        .collect()
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    out.sort();
}

/// The directory that a file's `mod x;` children live in.
fn child_dir(file: &Path) -> PathBuf {
    let name = file.file_name().and_then(|n| n.to_str()).unwrap_or("");
    if matches!(name, "mod.rs" | "lib.rs" | "main.rs") {
        file.parent().expect("parent").to_path_buf()
    } else {
        file.with_extension("")
    }
}

/// Every library source file, read and scanned.
fn library_files() -> Vec<SourceFile> {
    let src = root().join("src");
    // The binary's own files: main.rs, src/cli/, and what main.rs declares.
    let mut binary: Vec<PathBuf> = vec![src.join("main.rs"), src.join("lib.rs"), src.join("cli")];
    if let Ok(main) = fs::read_to_string(src.join("main.rs")) {
        for m in declared_modules(&code_only(&main)) {
            binary.push(src.join(format!("{m}.rs")));
            binary.push(src.join(&m));
        }
    }
    let mut paths = Vec::new();
    rust_files(&src, &mut paths);
    let paths: Vec<PathBuf> = paths
        .into_iter()
        .filter(|p| !binary.iter().any(|b| p.starts_with(b)))
        .collect();

    let mut scanned = Vec::new();
    let mut test_only: Vec<PathBuf> = Vec::new();
    for path in &paths {
        let text = fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let (code, test_mods) = without_test_items(&code_only(&text));
        for m in test_mods {
            let dir = child_dir(path);
            test_only.push(dir.join(format!("{m}.rs")));
            test_only.push(dir.join(m));
        }
        let rel = path.strip_prefix(&src).expect("under src");
        let module = rel
            .components()
            .next()
            .and_then(|c| c.as_os_str().to_str())
            .map(|s| s.trim_end_matches(".rs").to_string())
            .expect("a top-level module");
        scanned.push((
            path.clone(),
            SourceFile {
                path: format!("src/{}", rel.display()),
                module,
                uses: crate_uses(&code),
            },
        ));
    }
    scanned
        .into_iter()
        .filter(|(p, _)| !test_only.iter().any(|t| p.starts_with(t)))
        .map(|(_, f)| f)
        .collect()
}

/// Edges between top-level modules (self-uses left out), each with the
/// first place it is made.
fn module_graph(files: &[SourceFile]) -> BTreeMap<(String, String), String> {
    let mut edges = BTreeMap::new();
    for f in files {
        for u in &f.uses {
            if u.module != f.module {
                edges
                    .entry((f.module.clone(), u.module.clone()))
                    .or_insert_with(|| format!("{}:{}", f.path, u.line));
            }
        }
    }
    edges
}

// ---------------------------------------------------------------------------
// The checks.

#[test]
fn every_library_module_has_a_layer() {
    let lib = fs::read_to_string(root().join("src/lib.rs")).expect("src/lib.rs");
    let declared: BTreeSet<String> = declared_modules(&code_only(&lib)).into_iter().collect();
    let placed: BTreeSet<String> = layer_of().keys().map(|m| m.to_string()).collect();
    let unplaced: Vec<_> = declared.difference(&placed).collect();
    let stale: Vec<_> = placed.difference(&declared).collect();
    assert!(
        unplaced.is_empty() && stale.is_empty(),
        "LAYERS must list exactly the modules src/lib.rs declares \
         (and docs/architecture.md draw them): not placed {unplaced:?}, \
         no longer declared {stale:?}"
    );
    // Every scanned file belongs to a module with a layer: a file the
    // crate does not declare would otherwise go unchecked.
    let layers = layer_of();
    let strays: Vec<String> = library_files()
        .into_iter()
        .filter(|f| !layers.contains_key(f.module.as_str()))
        .map(|f| f.path)
        .collect();
    assert!(strays.is_empty(), "files of no known module: {strays:?}");
}

#[test]
fn imports_run_downward_only() {
    let layers = layer_of();
    let mut violations = Vec::new();
    for f in library_files() {
        let Some(&own) = layers.get(f.module.as_str()) else {
            continue; // reported by every_library_module_has_a_layer
        };
        for u in &f.uses {
            match layers.get(u.module.as_str()) {
                Some(&used) if used > own => violations.push(format!(
                    "{}:{}: {} ({}) uses {} ({})",
                    f.path, u.line, f.module, LAYERS[own].0, u.module, LAYERS[used].0
                )),
                Some(_) => {}
                None => violations.push(format!(
                    "{}:{}: {} uses crate::{}, which is no module in LAYERS",
                    f.path, u.line, f.module, u.module
                )),
            }
        }
    }
    assert!(
        violations.is_empty(),
        "imports from a lower layer to a higher one (see docs/architecture.md):\n{}",
        violations.join("\n")
    );
}

/// Within each layer, the top-level modules import each other in no cycle.
///
/// Only imports within a layer are looked at: a cycle that crosses layers
/// has an upward import in it, which `imports_run_downward_only` reports,
/// and goes with it. The two tests together leave no cycle at all.
#[test]
fn top_level_modules_import_in_no_cycle() {
    let layers = layer_of();
    let edges: BTreeMap<(String, String), String> = module_graph(&library_files())
        .into_iter()
        .filter(|((a, b), _)| {
            layers.contains_key(a.as_str()) && layers.get(a.as_str()) == layers.get(b.as_str())
        })
        .collect();
    let mut out: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (a, b) in edges.keys() {
        out.entry(a).or_default().push(b);
    }
    let reachable = |from: &str| -> BTreeSet<&str> {
        let mut seen = BTreeSet::new();
        let mut stack = vec![from];
        while let Some(m) = stack.pop() {
            for &n in out.get(m).map(Vec::as_slice).unwrap_or(&[]) {
                if seen.insert(n) {
                    stack.push(n);
                }
            }
        }
        seen
    };
    let reach: BTreeMap<&str, BTreeSet<&str>> = out.keys().map(|&m| (m, reachable(m))).collect();
    let none = BTreeSet::new();
    let reaches = |a: &str, b: &str| reach.get(a).unwrap_or(&none).contains(b);

    // Each strongly connected group of modules (every one reaches every
    // other), once, with the imports that hold it together: pairs that
    // import each other first.
    let mut groups = BTreeSet::new();
    for &m in out.keys() {
        let group: Vec<&str> = out
            .keys()
            .copied()
            .filter(|&n| n == m || (reaches(m, n) && reaches(n, m)))
            .collect();
        if group.len() > 1 {
            groups.insert(group);
        }
    }
    let mut problems = Vec::new();
    for group in groups {
        let inside =
            |a: &String, b: &String| group.contains(&a.as_str()) && group.contains(&b.as_str());
        let mut mutual = Vec::new();
        let mut one_way = Vec::new();
        for ((a, b), at) in &edges {
            if !inside(a, b) {
                continue;
            }
            match edges.get(&(b.clone(), a.clone())) {
                Some(back) if a < b => mutual.push(format!("{a} <-> {b} ({at}; {back})")),
                Some(_) => {}
                None => one_way.push(format!("{a} -> {b} ({at})")),
            }
        }
        problems.push(format!(
            "{}: {}",
            group.join(", "),
            mutual
                .into_iter()
                .chain(one_way)
                .collect::<Vec<_>>()
                .join("; ")
        ));
    }
    assert!(
        problems.is_empty(),
        "top-level modules that import each other:\n{}",
        problems.join("\n")
    );
}

/// The section of `text` under the heading (any level of `#`) or bold
/// line (`**Name.**`, the crate map's) that names `layer`, up to the next
/// one of either.
fn section<'a>(text: &'a str, layer: &str) -> Option<&'a str> {
    let is_heading = |l: &str| {
        let l = l.trim_start_matches("//!").trim();
        l.starts_with('#') || (l.starts_with("**") && l.ends_with("**"))
    };
    let names = |l: &str, layer: &str| {
        let l = l.trim_start_matches("//!").trim();
        let l = l.trim_start_matches('#').trim().trim_matches('*');
        let l = l.trim_end_matches('.').trim();
        l.eq_ignore_ascii_case(layer)
            || l.to_ascii_lowercase()
                .ends_with(&format!(": {}", layer.to_ascii_lowercase()))
    };
    let mut start = None;
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        if is_heading(line) {
            if let Some(s) = start {
                return Some(&text[s..offset]);
            }
            if names(line, layer) {
                start = Some(offset + line.len());
            }
        }
        offset += line.len();
    }
    start.map(|s| &text[s..])
}

#[test]
fn the_doc_and_the_crate_map_place_modules_as_the_table_does() {
    let doc =
        fs::read_to_string(root().join("docs/architecture.md")).expect("docs/architecture.md");
    let lib = fs::read_to_string(root().join("src/lib.rs")).expect("src/lib.rs");
    let mut wrong = Vec::new();
    for (layer, modules) in LAYERS {
        for (name, text, mention) in [
            ("docs/architecture.md", &doc, "`"),
            ("src/lib.rs", &lib, "[`"),
        ] {
            let Some(part) = section(text, layer) else {
                wrong.push(format!("{name}: no section for layer {layer:?}"));
                continue;
            };
            for m in *modules {
                let close = if mention == "`" { "`" } else { "`]" };
                if !part.contains(&format!("{mention}{m}{close}"))
                    && !part.contains(&format!("{mention}src/{m}"))
                {
                    wrong.push(format!("{name}: layer {layer:?} does not name `{m}`"));
                }
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

// ---------------------------------------------------------------------------
// The reader itself, on small inputs: a scanner that silently finds
// nothing would pass every check above.

#[test]
fn reader_finds_uses_in_every_form() {
    let src = r##"
use crate::resp::Value;
use crate::{cassette::Event, command, self};
use crate::{
    pairing::{Pairing, Reply},
    selected_db,
};
fn f() { crate::fault::check(); let _ = $crate::tls::X; }
// use crate::commented::Out;
/* crate::block::Out /* nested */ crate::still::Out */
const S: &str = "crate::string::Out";
const R: &str = r#"crate::raw::Out "quoted" "#;
const C: char = '"'; fn g<'a>(x: &'a str) -> &'a str { crate::after_char::f(x) }
pub(crate) fn h() {}
#[cfg(test)]
mod tests {
    use crate::test_only::X;
}
#[cfg(test)]
mod more_tests;
use crate::after_tests::Y;
"##;
    let (code, test_mods) = without_test_items(&code_only(src));
    let found: Vec<String> = crate_uses(&code).into_iter().map(|u| u.module).collect();
    assert_eq!(
        found,
        [
            "resp",
            "cassette",
            "command",
            "pairing",
            "selected_db",
            "fault",
            "tls",
            "after_char",
            "after_tests"
        ]
    );
    assert_eq!(test_mods, ["more_tests"]);
    let lines: Vec<usize> = crate_uses(&code).into_iter().map(|u| u.line).collect();
    assert_eq!(lines[0], 2);
    assert_eq!(lines[3], 4);
}
