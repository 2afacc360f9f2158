//! Fixture loading and JSON comparison shared by the OpenAI test files.

#![allow(dead_code, reason = "each test file uses a subset")]

use std::path::PathBuf;

use serde_json::Value;

/// `tests/fixtures/openai/<sub>`.
pub fn fixture_dir(sub: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/openai")
        .join(sub)
}

/// `(file name, text)` of every `*.json` in `dir` whose name starts with `prefix`, sorted.
pub fn fixtures(dir: &str, prefix: &str) -> Vec<(String, String)> {
    let mut found: Vec<(String, String)> = std::fs::read_dir(fixture_dir(dir))
        .expect("read fixture dir")
        .map(|entry| entry.expect("dir entry").path())
        .filter(|path| path.extension().is_some_and(|e| e == "json"))
        .filter_map(|path| {
            let name = path.file_name()?.to_str()?.to_owned();
            name.starts_with(prefix).then_some(name)
        })
        .map(|name| {
            let text = std::fs::read_to_string(fixture_dir(dir).join(&name)).expect("read");
            (name, text)
        })
        .collect();
    found.sort();
    found
}

pub fn json(text: &str) -> Value {
    serde_json::from_str(text).expect("fixture is JSON")
}

/// Every field we wrote is in `source` with the same value (numbers compared as numbers,
/// so `60` and `60.0` agree). Fields of `source` we do not model may be missing from ours.
pub fn assert_subset(ours: &Value, source: &Value, path: &str) {
    match (ours, source) {
        (Value::Object(a), Value::Object(b)) => {
            for (key, value) in a {
                let Some(theirs) = b.get(key) else {
                    panic!("{path}.{key} was added by our serialization");
                };
                assert_subset(value, theirs, &format!("{path}.{key}"));
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            assert_eq!(a.len(), b.len(), "{path}: array length");
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                assert_subset(x, y, &format!("{path}[{i}]"));
            }
        }
        (Value::Number(a), Value::Number(b)) => {
            assert_eq!(a.as_f64(), b.as_f64(), "{path}");
        }
        _ => assert_eq!(ours, source, "{path}"),
    }
}

/// Fields of `source` missing from `ours`, as paths (what parsing dropped).
pub fn dropped_fields(ours: &Value, source: &Value, path: &str) -> Vec<String> {
    match (ours, source) {
        (Value::Object(a), Value::Object(b)) => b
            .iter()
            .flat_map(|(key, value)| match a.get(key) {
                None if !value.is_null() => vec![format!("{path}.{key}")],
                None => Vec::new(),
                Some(mine) => dropped_fields(mine, value, &format!("{path}.{key}")),
            })
            .collect(),
        (Value::Array(a), Value::Array(b)) => a
            .iter()
            .zip(b)
            .enumerate()
            .flat_map(|(i, (x, y))| dropped_fields(x, y, &format!("{path}[{i}]")))
            .collect(),
        _ => Vec::new(),
    }
}
