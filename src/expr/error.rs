//! Errors of the expression language, worded for template authors.
//!
//! `opentime check` prints these messages next to the template file, so they
//! say where the problem is (line and column inside the condition or text) and
//! what minijinja found there, and never name the engine's internal template
//! names, which mean nothing to an author.

/// A condition or text that could not be compiled or evaluated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExprError {
    /// The source is not valid Jinja. Found when a template is loaded; the
    /// message already says "syntax error".
    #[error("{0}")]
    Syntax(String),
    /// The source is valid but failed on this request's data, or used up the
    /// work it is allowed.
    #[error("evaluation failed: {0}")]
    Eval(String),
    /// The source calls a filter, test or function the expression language
    /// does not have (`| upercase`). Found when a template is loaded; the
    /// message names it, says where it is and may suggest the name meant.
    #[error("{0}")]
    UnknownName(String),
}

impl ExprError {
    /// A compile-time failure of `source`, located inside it.
    pub(crate) fn syntax(error: &minijinja::Error, source: &str) -> ExprError {
        ExprError::Syntax(describe(error, source))
    }

    /// A run-time failure of `source`, located inside it when minijinja knows
    /// where.
    pub(crate) fn eval(error: &minijinja::Error, source: &str) -> ExprError {
        ExprError::Eval(describe(error, source))
    }
}

/// "line 1, column 12: unexpected end of input, expected ..." from an error of
/// minijinja and the source it came from.
///
/// minijinja's own `Display` appends "(in name:line)" with the generated
/// template name and no column; the byte range it records is more useful, so
/// the position is computed from it here.
fn describe(error: &minijinja::Error, source: &str) -> String {
    let what = match error.detail() {
        Some(detail) => format!("{}: {}", error.kind(), detail),
        None => error.kind().to_string(),
    };
    match (error.range(), error.line()) {
        (Some(range), _) if range.start <= source.len() => {
            let (line, column) = line_and_column(source, range.start);
            format!("line {line}, column {column}: {what}")
        }
        (_, Some(line)) => format!("line {line}: {what}"),
        _ => what,
    }
}

/// The 1-based line and column (in characters) of a byte offset.
pub(crate) fn line_and_column(source: &str, offset: usize) -> (usize, usize) {
    // An offset inside a multi-byte character would make slicing panic, so
    // step back to the character's start.
    let mut offset = offset.min(source.len());
    while !source.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &source[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |newline| newline + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_count_lines_and_characters_from_one() {
        assert_eq!(line_and_column("abc", 0), (1, 1));
        assert_eq!(line_and_column("abc", 2), (1, 3));
        assert_eq!(line_and_column("ab\ncd", 3), (2, 1));
        assert_eq!(line_and_column("ab\ncd", 4), (2, 2));
        // "é" is two bytes but one column.
        assert_eq!(line_and_column("é x", 3), (1, 3));
        assert_eq!(line_and_column("é", 1), (1, 1));
        assert_eq!(line_and_column("ab", 99), (1, 3));
    }
}
