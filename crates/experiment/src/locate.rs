//! From a field path to the place in the spec text where it is written, and back.
//!
//! Spec types stay plain data; positions come from re-reading the source as a spanned TOML tree
//! only when an error needs one.

use std::fmt;
use std::ops::Range;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use crate::error::Position;

/// One step into a TOML document: a table key or an array index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Segment {
    Key(String),
    Index(usize),
}

/// A field's path as users read it, e.g. `functions[2].payload.epochs`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct FieldPath(Vec<Segment>);

impl FieldPath {
    pub(crate) fn root() -> Self {
        Self::default()
    }

    pub(crate) fn key(&self, key: &str) -> Self {
        let mut segments = self.0.clone();
        segments.push(Segment::Key(key.to_owned()));
        Self(segments)
    }

    pub(crate) fn index(&self, index: usize) -> Self {
        let mut segments = self.0.clone();
        segments.push(Segment::Index(index));
        Self(segments)
    }

    pub(crate) fn is_root(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, segment) in self.0.iter().enumerate() {
            match segment {
                Segment::Key(key) if i == 0 => f.write_str(key)?,
                Segment::Key(key) => write!(f, ".{key}")?,
                Segment::Index(index) => write!(f, "[{index}]")?,
            }
        }
        Ok(())
    }
}

/// The spec text parsed once more, keeping every value's byte range.
pub(crate) struct SpannedSource<'a> {
    text: &'a str,
    root: Option<Spanned<DeTable<'a>>>,
}

impl<'a> SpannedSource<'a> {
    pub(crate) fn new(text: &'a str) -> Self {
        Self {
            text,
            root: DeTable::parse(text).ok(),
        }
    }

    /// Where the value at `path` is written: the deepest part of the path found in the text.
    pub(crate) fn position_of(&self, path: &FieldPath) -> Option<Position> {
        let root = self.root.as_ref()?;
        let mut span = root.span();
        let mut current: Option<&DeValue<'_>> = None;
        let mut table = Some(root.get_ref());
        for segment in &path.0 {
            let next = match (segment, table, current) {
                (Segment::Key(key), Some(table), _) => table
                    .iter()
                    .find(|(name, _)| name.get_ref().as_ref() == key.as_str())
                    .map(|(_, value)| value),
                (Segment::Index(index), _, Some(DeValue::Array(items))) => items.get(*index),
                _ => None,
            };
            let Some(next) = next else { break };
            span = next.span();
            current = Some(next.get_ref());
            table = next.get_ref().as_table();
        }
        Some(position_at(self.text, span.start))
    }

    /// The path of the innermost key or value whose text contains `span`, for errors that come
    /// with a byte range but no field name. Every node is visited: the span of a table written
    /// with `[header]` / `[[header]]` does not enclose its keys.
    pub(crate) fn path_at(&self, span: &Range<usize>) -> FieldPath {
        let mut best = None;
        if let Some(root) = &self.root {
            search_table(root.get_ref(), span, &FieldPath::root(), &mut best);
        }
        best.map(|(path, _)| path).unwrap_or_default()
    }
}

/// The best match so far: its path and the length of its span.
type Best = Option<(FieldPath, usize)>;

fn consider(candidate: &Range<usize>, span: &Range<usize>, path: &FieldPath, best: &mut Best) {
    // An empty span (an error at a single point) is treated as one byte wide.
    let end = candidate.end.max(candidate.start + 1);
    let inside = candidate.start <= span.start && span.end <= end;
    let len = end - candidate.start;
    if inside && best.as_ref().is_none_or(|(_, best_len)| len <= *best_len) {
        *best = Some((path.clone(), len));
    }
}

fn search_table(table: &DeTable<'_>, span: &Range<usize>, at: &FieldPath, best: &mut Best) {
    for (key, value) in table.iter() {
        let path = at.key(key.get_ref());
        consider(&key.span(), span, &path, best);
        search_value(value, span, &path, best);
    }
}

fn search_value(
    value: &Spanned<DeValue<'_>>,
    span: &Range<usize>,
    at: &FieldPath,
    best: &mut Best,
) {
    consider(&value.span(), span, at, best);
    match value.get_ref() {
        DeValue::Table(table) => search_table(table, span, at, best),
        DeValue::Array(items) => {
            for (index, item) in items.iter().enumerate() {
                search_value(item, span, &at.index(index), best);
            }
        }
        _ => {}
    }
}

/// 1-based line and column (in characters) of a byte offset.
pub(crate) fn position_at(text: &str, offset: usize) -> Position {
    let offset = floor_char_boundary(text, offset.min(text.len()));
    let before = &text[..offset];
    let line_start = before.rfind('\n').map_or(0, |newline| newline + 1);
    Position {
        line: before.matches('\n').count() + 1,
        column: before[line_start..].chars().count() + 1,
    }
}

fn floor_char_boundary(text: &str, mut offset: usize) -> usize {
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    offset
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "name = \"x\"\n\n[[functions]]\nfunction = \"ml\"\n\n[[functions]]\nfunction = \"video\"\npayload.profile = [0, 7]\n";

    #[test]
    fn paths_read_as_written() {
        let path = FieldPath::root()
            .key("functions")
            .index(2)
            .key("payload")
            .key("epochs");
        assert_eq!(path.to_string(), "functions[2].payload.epochs");
    }

    #[test]
    fn finds_the_line_of_a_nested_field_and_an_element() {
        let source = SpannedSource::new(TEXT);
        let profile = FieldPath::root()
            .key("functions")
            .index(1)
            .key("payload")
            .key("profile");
        assert_eq!(
            source.position_of(&profile),
            Some(Position {
                line: 8,
                column: 19
            })
        );
        assert_eq!(
            source.position_of(&profile.index(1)),
            Some(Position {
                line: 8,
                column: 23
            })
        );
        let function = FieldPath::root().key("functions").index(0).key("function");
        assert_eq!(source.position_of(&function).map(|p| p.line), Some(4));
    }

    #[test]
    fn maps_a_byte_range_back_to_its_path() {
        let source = SpannedSource::new(TEXT);
        let seven = TEXT.find('7').unwrap();
        assert_eq!(
            source.path_at(&(seven..seven + 1)).to_string(),
            "functions[1].payload.profile[1]"
        );
    }

    #[test]
    fn columns_count_characters() {
        assert_eq!(
            position_at("a = \"é\"\nb", 9),
            Position { line: 2, column: 1 }
        );
        assert_eq!(
            position_at("a = \"é\" x", 9),
            Position { line: 1, column: 9 }
        );
    }
}
