//! Nothing drifts: every knob declared in `whatbreaks-spec` (each key of each attribute, the
//! common keys and the old spellings) is documented and works.
//!
//! - The rustdoc of each macro in `src/lib.rs` has an arguments table with one row per key: its
//!   declared default and its declared meaning, followed by "(old spelling: `x`)" for a
//!   renamed key; no row for anything else.
//! - `tests/ui/pass/every_macro.rs` uses every key of every attribute by its current name. The
//!   file is included below, so in this test build each key expands into a builder call: a key
//!   that is not a builder method does not compile.
//! - `tests/ui/pass/old_spellings.rs` uses every old spelling.

use whatbreaks_spec::{ATTRIBUTES, Attribute, Key};

const LIB: &str = include_str!("../src/lib.rs");
const EVERY_MACRO: &str = include_str!("ui/pass/every_macro.rs");
const OLD_SPELLINGS: &str = include_str!("ui/pass/old_spellings.rs");

/// `every_macro.rs`, compiled as tests (ignored ones: they exist to be compiled).
#[allow(dead_code, unused_imports)]
mod every_macro {
    include!("ui/pass/every_macro.rs");
}

/// One row of a macro's arguments table.
#[derive(Debug)]
struct Row {
    key: String,
    default: String,
    meaning: String,
}

/// The rustdoc above `pub use whatbreaks_macros::<name>;`, without the `/// ` prefixes.
fn macro_docs<'a>(lib: &'a str, name: &str) -> Option<Vec<&'a str>> {
    let lines: Vec<&str> = lib.lines().collect();
    let reexport = format!("pub use whatbreaks_macros::{name};");
    let at = lines.iter().position(|l| l.trim() == reexport)?;
    let mut docs: Vec<&str> = lines[..at]
        .iter()
        .rev()
        .map_while(|l| l.trim_start().strip_prefix("///"))
        .map(|d| d.strip_prefix(' ').unwrap_or(d))
        .collect();
    docs.reverse();
    Some(docs)
}

/// The rows of the `| argument | default | meaning |` table in `docs`.
fn table(docs: &[&str]) -> Result<Vec<Row>, String> {
    let header = docs
        .iter()
        .position(|l| l.trim() == "| argument | default | meaning |")
        .ok_or("no `| argument | default | meaning |` table")?;
    let mut rows = Vec::new();
    for line in docs[header + 2..].iter().map(|l| l.trim()) {
        let Some(inner) = line.strip_prefix('|').and_then(|l| l.strip_suffix('|')) else {
            break;
        };
        let cells: Vec<&str> = inner.split('|').map(str::trim).collect();
        let [key, default, meaning] = cells[..] else {
            return Err(format!("row `{line}` does not have 3 cells"));
        };
        let key = key
            .strip_prefix('`')
            .and_then(|k| k.strip_suffix('`'))
            .filter(|k| !k.contains('`'))
            .ok_or_else(|| format!("row `{line}`: the first cell must be one `key`"))?;
        rows.push(Row {
            key: key.to_string(),
            default: default.to_string(),
            meaning: meaning.to_string(),
        });
    }
    Ok(rows)
}

/// The row the docs must have for `key`.
fn expected_meaning(key: &Key) -> String {
    match key.aliases {
        [] => key.doc.to_string(),
        [one] => format!("{} (old spelling: `{one}`)", key.doc),
        many => format!(
            "{} (old spellings: {})",
            key.doc,
            many.iter()
                .map(|a| format!("`{a}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

fn expected_row(key: &Key) -> String {
    let default = if key.default.starts_with(['"', '[']) {
        format!("`{}`", key.default)
    } else {
        key.default.to_string()
    };
    format!("| `{}` | {default} | {} |", key.name, expected_meaning(key))
}

/// Defaults compare without their code marks: `"20ms"` is the docs' `` `"20ms"` ``.
fn plain(text: &str) -> String {
    text.replace('`', "").trim().to_string()
}

/// What is wrong with the docs of `attr` in `lib` (the text of `src/lib.rs`).
fn docs_problems(lib: &str, attr: &Attribute) -> Vec<String> {
    let name = attr.name;
    let Some(docs) = macro_docs(lib, name) else {
        return vec![format!(
            "#[{name}]: src/lib.rs has no documented `pub use whatbreaks_macros::{name};`"
        )];
    };
    let rows = match table(&docs) {
        Ok(rows) => rows,
        Err(e) => return vec![format!("#[{name}]: the docs in src/lib.rs: {e}")],
    };
    let mut problems = Vec::new();
    for key in attr.all_keys() {
        let k = key.name;
        let found: Vec<&Row> = rows.iter().filter(|r| r.key == k).collect();
        let Some(row) = found.first() else {
            problems.push(format!(
                "#[{name}] `{k}`: no row in its docs table in src/lib.rs; add `{}`",
                expected_row(key)
            ));
            continue;
        };
        if found.len() > 1 {
            problems.push(format!(
                "#[{name}] `{k}`: {} rows in its docs table",
                found.len()
            ));
        }
        if plain(&row.default) != plain(key.default) {
            problems.push(format!(
                "#[{name}] `{k}`: the docs say the default is {}, whatbreaks-spec declares {}",
                row.default, key.default
            ));
        }
        if row.meaning != expected_meaning(key) {
            problems.push(format!(
                "#[{name}] `{k}`: the docs say `{}`, whatbreaks-spec declares `{}`",
                row.meaning,
                expected_meaning(key)
            ));
        }
    }
    for row in &rows {
        match attr.key(&row.key) {
            None => problems.push(format!(
                "#[{name}] `{}`: a row in its docs table, but not a key of the attribute",
                row.key
            )),
            Some(key) if key.name != row.key => problems.push(format!(
                "#[{name}] `{}`: the old spelling of `{}` has a row of its own; mention it in \
                 the row of `{}`",
                row.key, key.name, key.name
            )),
            Some(_) => {}
        }
    }
    problems
}

/// The `key = value` arguments of `#[whatbreaks::<name>(…)]` in a test file, or `None`.
fn invocation_keys(source: &str, name: &str) -> Option<Vec<String>> {
    let start = source.find(&format!("#[whatbreaks::{name}("))? + name.len() + 15;
    let mut keys = Vec::new();
    let mut current = String::new();
    let (mut depth, mut in_string) = (0usize, false);
    for c in source[start..].chars() {
        if in_string {
            in_string = c != '"';
            current.push(c);
            continue;
        }
        match c {
            '"' => in_string = true,
            '(' | '[' => depth += 1,
            ')' if depth == 0 => break,
            ')' | ']' => depth -= 1,
            ',' if depth == 0 => {
                keys.push(std::mem::take(&mut current));
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    keys.push(current);
    Some(
        keys.iter()
            .filter_map(|arg| arg.split_once('=').map(|(k, _)| k.trim().to_string()))
            .collect(),
    )
}

fn usage_problems(attr: &Attribute) -> Vec<String> {
    let name = attr.name;
    let mut problems = Vec::new();
    match invocation_keys(EVERY_MACRO, name) {
        None => problems.push(format!(
            "#[{name}]: tests/ui/pass/every_macro.rs does not use it"
        )),
        Some(used) => {
            for key in attr.all_keys() {
                if !used.iter().any(|u| u == key.name) {
                    problems.push(format!(
                        "#[{name}] `{}`: not used in tests/ui/pass/every_macro.rs",
                        key.name
                    ));
                }
            }
            for u in &used {
                if let Some(key) = attr.key(u).filter(|k| k.name != u) {
                    problems.push(format!(
                        "#[{name}] `{u}`: tests/ui/pass/every_macro.rs uses the old spelling; \
                         use `{}`",
                        key.name
                    ));
                }
            }
        }
    }
    let old: Vec<&str> = attr.all_keys().flat_map(|k| k.aliases).copied().collect();
    if !old.is_empty() {
        let used = invocation_keys(OLD_SPELLINGS, name).unwrap_or_default();
        for alias in old {
            if !used.iter().any(|u| u == alias) {
                problems.push(format!(
                    "#[{name}] `{alias}`: the old spelling is not used in \
                     tests/ui/pass/old_spellings.rs"
                ));
            }
        }
    }
    problems
}

#[test]
fn every_knob_is_documented_with_its_default() {
    let problems: Vec<String> = ATTRIBUTES
        .iter()
        .flat_map(|a| docs_problems(LIB, a))
        .collect();
    assert!(problems.is_empty(), "\n{}\n", problems.join("\n"));
}

#[test]
fn every_knob_is_used_by_its_current_name() {
    let problems: Vec<String> = ATTRIBUTES.iter().flat_map(|a| usage_problems(a)).collect();
    assert!(problems.is_empty(), "\n{}\n", problems.join("\n"));
}

/// Macros without knobs (only `crate = "…"`): not scenario attributes, so not in
/// `ATTRIBUTES`; their argument check is `whatbreaks-macros/src/<name>.rs`.
const WITHOUT_KNOBS: [&str; 1] = ["audit"];

#[test]
fn every_macro_of_the_facade_is_declared() {
    for line in LIB.lines() {
        if let Some(name) = line
            .trim()
            .strip_prefix("pub use whatbreaks_macros::")
            .and_then(|n| n.strip_suffix(';'))
            .filter(|n| !WITHOUT_KNOBS.contains(n))
        {
            assert!(
                ATTRIBUTES.iter().any(|a| a.name == name),
                "`{name}` is re-exported by src/lib.rs but not declared in whatbreaks_spec::ATTRIBUTES"
            );
        }
    }
}

/// The check itself: a knob missing from the docs fails, naming the macro and the key.
#[test]
fn a_missing_or_stale_row_is_named() {
    let row = whatbreaks_spec::HERD.key("clients").unwrap();
    let expected = expected_row(row);
    let line = format!("/// {expected}\n");
    assert!(LIB.contains(&line), "{expected}");
    let without = LIB.replacen(&line, "", 1);
    let problems = docs_problems(&without, &whatbreaks_spec::HERD);
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].starts_with("#[herd_test] `clients`: no row"),
        "{problems:?}"
    );
    let stale = LIB.replacen(&line, &line.replace("| 1000 |", "| 100 |"), 1);
    let problems = docs_problems(&stale, &whatbreaks_spec::HERD);
    assert!(
        problems[0].contains("the default is 100, whatbreaks-spec declares 1000"),
        "{problems:?}"
    );
}
