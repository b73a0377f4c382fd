//! Generated regions inside hand-written files: the lines between
//! `BEGIN GENERATED: <what> — edit the registry and run inlet gen` and the
//! next `END GENERATED`, each a comment in the file's own syntax.

/// How a file writes a comment line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Comment {
    /// `# …` (YAML, TOML, shell).
    Hash,
    /// `// …` (Rust).
    Slashes,
    /// `<!-- … -->` (Markdown).
    Html,
}

impl Comment {
    fn line(self, indent: &str, text: &str) -> String {
        match self {
            Comment::Hash => format!("{indent}# {text}"),
            Comment::Slashes => format!("{indent}// {text}"),
            Comment::Html => format!("{indent}<!-- {text} -->"),
        }
    }
}

/// The text after `BEGIN GENERATED: ` in a region's first line.
pub fn begin_text(what: &str) -> String {
    format!("BEGIN GENERATED: {what} — edit the registry and run inlet gen")
}

pub const END_TEXT: &str = "END GENERATED";

/// A whole region, markers included, for a file that has none yet.
pub fn region(comment: Comment, indent: &str, what: &str, body: &str) -> String {
    format!("{}\n{body}{}\n", comment.line(indent, &begin_text(what)), comment.line(indent, END_TEXT))
}

/// Whether `text` has the region `what`.
pub fn has(text: &str, what: &str) -> bool {
    let marker = format!("BEGIN GENERATED: {what} ");
    text.lines().any(|line| line.contains(&marker))
}

/// `text` with the lines of region `what` replaced by `body` (whole lines,
/// each ending in a newline). The markers are rewritten in their canonical
/// form, at the first marker's indentation. `path` names the file in errors.
pub fn replace(path: &str, text: &str, comment: Comment, what: &str, body: &str) -> Result<String, String> {
    let marker = format!("BEGIN GENERATED: {what} ");
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let begin = lines.iter().position(|line| line.contains(&marker)).ok_or_else(|| {
        format!("{path}: no generated region \"{what}\" (a line `{}`)", comment.line("", &begin_text(what)))
    })?;
    let end = lines[begin + 1..]
        .iter()
        .position(|line| line.contains(END_TEXT))
        .map(|offset| begin + 1 + offset)
        .ok_or_else(|| format!("{path}: the generated region \"{what}\" has no `{END_TEXT}` line"))?;
    if lines[begin + 1..].iter().filter(|line| line.contains(&marker)).count() > 0 {
        return Err(format!("{path}: the generated region \"{what}\" appears twice"));
    }
    let indent: String = lines[begin].chars().take_while(|c| c.is_whitespace() && *c != '\n').collect();
    let mut out = String::with_capacity(text.len() + body.len());
    out.extend(lines[..begin].iter().copied());
    out.push_str(&region(comment, &indent, what, body));
    out.extend(lines[end + 1..].iter().copied());
    Ok(out)
}

/// A table cell: no line breaks, no unescaped `|`, and outside code spans
/// no `<…>` that Markdown would take for an HTML tag (`/openim/<token>`).
pub fn cell(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_code = false;
    for c in text.chars() {
        match c {
            '`' => {
                in_code = !in_code;
                out.push(c);
            }
            '|' => out.push_str("\\|"),
            '\n' => out.push(' '),
            '<' if !in_code => out.push_str("&lt;"),
            '>' if !in_code => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_region_is_replaced_between_its_markers_and_nothing_else() {
        let text = "a\n  # BEGIN GENERATED: x — old words\n  old\n  # END GENERATED\nb\n";
        let out = replace("f", text, Comment::Hash, "x", "  new\n  lines\n").unwrap();
        assert_eq!(
            out,
            "a\n  # BEGIN GENERATED: x — edit the registry and run inlet gen\n  new\n  lines\n  # END GENERATED\nb\n"
        );
        assert_eq!(replace("f", &out, Comment::Hash, "x", "  new\n  lines\n").unwrap(), out, "idempotent");
        assert!(replace("f", text, Comment::Hash, "y", "").unwrap_err().contains("no generated region \"y\""));
        let html = region(Comment::Html, "", "t", "| a |\n");
        assert_eq!(
            html,
            "<!-- BEGIN GENERATED: t — edit the registry and run inlet gen -->\n| a |\n<!-- END GENERATED -->\n"
        );
        assert!(has(&html, "t") && !has(&html, "u"));
    }
}
