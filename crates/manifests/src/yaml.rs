//! A small YAML writer for JSON values: block style, keys sorted, multi-line strings as literal
//! blocks (so embedded Prometheus and Alloy configurations stay readable), and any string that
//! plain YAML could misread (`"true"`, `"100m"`, `"8000"`) double-quoted.
//!
//! Written here rather than taken from a YAML crate so the bytes are fixed by this code alone:
//! the committed `k8s/` files are compared with them.

use serde_json::{Map, Value};

use crate::error::ManifestError;
use crate::object::Object;

/// The objects as one multi-document YAML stream, in the given order.
pub fn to_yaml(objects: &[Object]) -> Result<String, ManifestError> {
    let mut out = String::new();
    for (index, object) in objects.iter().enumerate() {
        if index > 0 {
            out.push_str("---\n");
        }
        out.push_str(&value_to_yaml(&object.to_json()?));
    }
    Ok(out)
}

/// One YAML document (without a `---` marker) for a JSON value.
pub(crate) fn value_to_yaml(value: &Value) -> String {
    let mut out = String::new();
    match value {
        Value::Object(map) if !map.is_empty() => write_mapping(&mut out, map, 0),
        Value::Array(items) if !items.is_empty() => write_sequence(&mut out, items, 0),
        other => {
            out.push_str(&inline(other).unwrap_or_else(|| quoted_string(other)));
            out.push('\n');
        }
    }
    out
}

fn write_mapping(out: &mut String, map: &Map<String, Value>, indent: usize) {
    let mut keys: Vec<&String> = map.keys().collect();
    keys.sort();
    for key in keys {
        push_indent(out, indent);
        out.push_str(&scalar_string(key));
        out.push(':');
        write_after_indicator(out, &map[key], indent + 2, indent);
    }
}

/// Sequences are written as kubectl does: `- ` at the parent key's indentation.
fn write_sequence(out: &mut String, items: &[Value], indent: usize) {
    for item in items {
        match item {
            Value::Object(map) if !map.is_empty() => {
                // The first key goes on the dash's line; the rest line up under it.
                let mut nested = String::new();
                write_mapping(&mut nested, map, indent + 2);
                push_indent(out, indent);
                out.push_str("- ");
                out.push_str(&nested[indent + 2..]);
            }
            _ => {
                push_indent(out, indent);
                out.push('-');
                write_after_indicator(out, item, indent + 2, indent + 2);
            }
        }
    }
}

/// Writes `value` after a `key:` or `-`: inline when it fits on the line, else on the
/// following lines at `block_indent` (mappings) or `sequence_indent` (sequences).
fn write_after_indicator(
    out: &mut String,
    value: &Value,
    block_indent: usize,
    sequence_indent: usize,
) {
    if let Some(text) = inline(value) {
        out.push(' ');
        out.push_str(&text);
        out.push('\n');
        return;
    }
    match value {
        Value::Object(map) => {
            out.push('\n');
            write_mapping(out, map, block_indent);
        }
        Value::Array(items) => {
            out.push('\n');
            write_sequence(out, items, sequence_indent);
        }
        Value::String(text) => write_literal_block(out, text, block_indent),
        _ => unreachable!("every other value is inline"),
    }
}

/// The value on one line, or `None` for non-empty collections and literal-block strings.
fn inline(value: &Value) -> Option<String> {
    match value {
        Value::Null => Some("null".to_owned()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        Value::String(text) if literal_block_fits(text) => None,
        Value::String(text) => Some(scalar_string(text)),
        Value::Array(items) if items.is_empty() => Some("[]".to_owned()),
        Value::Object(map) if map.is_empty() => Some("{}".to_owned()),
        _ => None,
    }
}

fn quoted_string(value: &Value) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

/// A string as a plain scalar when nothing can misread it, else double-quoted (JSON escapes are
/// valid YAML double-quoted escapes).
fn scalar_string(text: &str) -> String {
    if is_plain_safe(text) {
        text.to_owned()
    } else {
        serde_json::to_string(text).unwrap_or_default()
    }
}

/// Conservative: starts with a letter, '/', '_', or '-' followed by a letter or '-' (flags such
/// as `--listen`, never a negative number), uses only `[A-Za-z0-9_./:=+-]`, does not end with
/// ':' and is none of the words YAML 1.1 reads as booleans or null.
fn is_plain_safe(text: &str) -> bool {
    const RESERVED: [&str; 11] = [
        "true", "false", "yes", "no", "on", "off", "y", "n", "null", "~", "",
    ];
    let lower = text.to_ascii_lowercase();
    let mut chars = text.chars();
    let first = chars.next().unwrap_or(' ');
    let second = chars.next().unwrap_or(' ');
    let starts_well = first.is_ascii_alphabetic()
        || first == '/'
        || first == '_'
        || (first == '-' && (second == '-' || second.is_ascii_alphabetic()));
    starts_well
        && text.chars().all(|c| {
            c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '/' | ':' | '=' | '+' | '-')
        })
        && !text.ends_with(':')
        && !RESERVED.contains(&lower.as_str())
}

/// Multi-line text whose lines a literal block keeps exactly: ends in at most one newline, no
/// carriage returns or other control characters, first line not indented (YAML takes the
/// block's indentation from it).
fn literal_block_fits(text: &str) -> bool {
    let body = text.strip_suffix('\n').unwrap_or(text);
    body.contains('\n')
        && !body.ends_with('\n')
        && !body.starts_with([' ', '\t', '\n'])
        && !text
            .chars()
            .any(|c| c.is_control() && c != '\n' && c != '\t')
}

fn write_literal_block(out: &mut String, text: &str, indent: usize) {
    let (body, indicator) = match text.strip_suffix('\n') {
        Some(body) => (body, " |\n"),
        None => (text, " |-\n"),
    };
    out.push_str(indicator);
    for line in body.split('\n') {
        if !line.is_empty() {
            push_indent(out, indent);
            out.push_str(line);
        }
        out.push('\n');
    }
}

fn push_indent(out: &mut String, indent: usize) {
    out.extend(std::iter::repeat_n(' ', indent));
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn writes_block_yaml_with_sorted_keys() {
        let value = json!({
            "kind": "Thing",
            "apiVersion": "v1",
            "spec": {
                "ports": [{"port": 8000, "name": "http"}, {"port": 9000, "name": "metrics"}],
                "args": ["--listen", "0.0.0.0:8000"],
                "empty": {},
                "none": [],
                "nested": [[1, 2], []],
            },
        });
        let expected = "\
apiVersion: v1
kind: Thing
spec:
  args:
  - --listen
  - \"0.0.0.0:8000\"
  empty: {}
  nested:
  -
    - 1
    - 2
  - []
  none: []
  ports:
  - name: http
    port: 8000
  - name: metrics
    port: 9000
";
        assert_eq!(value_to_yaml(&value), expected);
    }

    #[test]
    fn quotes_what_plain_yaml_would_misread() {
        for (text, written) in [
            ("true", "\"true\""),
            ("No", "\"No\""),
            ("100m", "\"100m\""),
            ("8000", "\"8000\""),
            ("1Gi", "\"1Gi\""),
            ("", "\"\""),
            ("a: b", "\"a: b\""),
            ("key:", "\"key:\""),
            ("-x", "-x"),
            ("--listen", "--listen"),
            ("-1", "\"-1\""),
            ("-", "\"-\""),
            ("- x", "\"- x\""),
            ("#x", "\"#x\""),
            ("say \"hi\"", "\"say \\\"hi\\\"\""),
            ("app=cl-target", "app=cl-target"),
            ("prometheus.io/port", "prometheus.io/port"),
            ("/metrics", "/metrics"),
            ("computelocator/target:0.1.0", "computelocator/target:0.1.0"),
        ] {
            assert_eq!(scalar_string(text), written, "{text}");
        }
    }

    #[test]
    fn multi_line_strings_become_literal_blocks_when_they_round_trip() {
        let value = json!({"a": "line one\n  indented\n\nlast\n", "b": "no newline\nat end"});
        assert_eq!(
            value_to_yaml(&value),
            "a: |\n  line one\n    indented\n\n  last\nb: |-\n  no newline\n  at end\n"
        );
        // Leading indentation, double trailing newlines and CRs stay quoted.
        for text in ["  starts indented\nx", "two\n\n", "cr\r\nlf"] {
            let yaml = value_to_yaml(&json!({ "k": text }));
            assert!(yaml.starts_with("k: \""), "{yaml}");
        }
    }
}
