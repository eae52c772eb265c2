//! HTML escaping, and [`Markup`]: the only way the page is written.
//!
//! Report strings come from hubs (evidence lines, admin errors, the `stats`
//! reply) and may be hostile. So markup is built from two kinds of piece:
//! `&'static str` (literals in this crate's source: tags, attribute names,
//! the style sheet, the script) passes through as is; everything else
//! (numbers, report text, attribute values) is [`Escaped`] on the way in.
//! A report string can then never open a tag, close an attribute or start a
//! script, whatever it holds.

use std::fmt::{self, Display, Write as _};

/// Text escaped for HTML, in element content and in quoted attribute values
/// alike: `& < > " '` become entities, and control characters (other than
/// newline and tab) become U+FFFD, so a hub's raw bytes do not reach the
/// parser either.
pub struct Escaped<T>(pub T);

impl<T: Display> Display for Escaped<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(EscapeWriter(f), "{}", self.0)
    }
}

/// Escapes everything written through it into the formatter.
struct EscapeWriter<'a, 'b>(&'a mut fmt::Formatter<'b>);

impl fmt::Write for EscapeWriter<'_, '_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let mut plain = 0;
        for (i, c) in s.char_indices() {
            let entity = match c {
                '&' => "&amp;",
                '<' => "&lt;",
                '>' => "&gt;",
                '"' => "&quot;",
                '\'' => "&#39;",
                '\n' | '\t' => continue,
                c if c.is_control() => "\u{fffd}",
                _ => continue,
            };
            self.0.write_str(&s[plain..i])?;
            self.0.write_str(entity)?;
            plain = i + c.len_utf8();
        }
        self.0.write_str(&s[plain..])
    }
}

/// `s` escaped, as a `String` (tests, and callers that need one).
pub fn escape(s: &str) -> String {
    Escaped(s).to_string()
}

/// An attribute: a literal name and a value (escaped when written).
pub type Attr<'a> = (&'static str, &'a dyn Display);

/// A piece of HTML or SVG that is safe by construction (see the module
/// docs): raw text only from `&'static str`, every value escaped.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Markup {
    out: String,
}

impl Markup {
    pub fn new() -> Self {
        Markup::default()
    }

    /// A literal of this crate's source (tags, style, script), as is.
    pub fn raw(&mut self, s: &'static str) -> &mut Self {
        self.out.push_str(s);
        self
    }

    /// Text content, escaped.
    pub fn text(&mut self, t: impl Display) -> &mut Self {
        let _ = write!(self.out, "{}", Escaped(t));
        self
    }

    /// `<tag a="v" …>`, values escaped.
    pub fn open(&mut self, tag: &'static str, attrs: &[Attr]) -> &mut Self {
        self.start(tag, attrs);
        self.out.push('>');
        self
    }

    /// `<tag a="v" …/>` (SVG shapes).
    pub fn empty(&mut self, tag: &'static str, attrs: &[Attr]) -> &mut Self {
        self.start(tag, attrs);
        self.out.push_str("/>");
        self
    }

    fn start(&mut self, tag: &'static str, attrs: &[Attr]) {
        self.out.push('<');
        self.out.push_str(tag);
        for (name, value) in attrs {
            let _ = write!(self.out, " {name}=\"{}\"", Escaped(value));
        }
    }

    pub fn close(&mut self, tag: &'static str) -> &mut Self {
        let _ = write!(self.out, "</{tag}>");
        self
    }

    /// `<tag …>text</tag>`.
    pub fn el(&mut self, tag: &'static str, attrs: &[Attr], t: impl Display) -> &mut Self {
        self.open(tag, attrs).text(t).close(tag)
    }

    /// Another piece, itself built safe.
    pub fn append(&mut self, m: &Markup) -> &mut Self {
        self.out.push_str(&m.out);
        self
    }

    pub fn as_str(&self) -> &str {
        &self.out
    }

    pub fn into_string(self) -> String {
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_five_specials_and_control_bytes_are_escaped() {
        assert_eq!(
            escape(r#"<a href="x" onclick='y'>&amp;</a>"#),
            "&lt;a href=&quot;x&quot; onclick=&#39;y&#39;&gt;&amp;amp;&lt;/a&gt;"
        );
        assert_eq!(
            escape("a\u{0}b\u{1b}[31m\u{7f}\u{85}"),
            "a\u{fffd}b\u{fffd}[31m\u{fffd}\u{fffd}"
        );
        assert_eq!(escape("two\nlines\tand µs ✓"), "two\nlines\tand µs ✓");
        assert_eq!(escape(""), "");
    }

    #[test]
    fn hostile_text_stays_text_in_content_and_attributes() {
        let hostile = r#""><script>alert(1)</script><img src=x onerror="alert(2)">"#;
        let mut m = Markup::new();
        m.el(
            "td",
            &[("title", &hostile), ("data-value", &hostile)],
            hostile,
        );
        let s = m.into_string();
        assert!(!s.contains("<script") && !s.contains("<img"), "{s}");
        // The only quotes left are the attributes' own.
        assert_eq!(s.matches('"').count(), 4, "{s}");
        assert!(s.starts_with("<td title=\"&quot;&gt;&lt;script&gt;"), "{s}");
        assert!(s.ends_with("onerror=&quot;alert(2)&quot;&gt;</td>"), "{s}");
    }

    #[test]
    fn numbers_and_format_args_go_through_the_escaper() {
        let mut m = Markup::new();
        m.text(format_args!("{} < {}", 1.5, 2))
            .empty("rect", &[("x", &3), ("width", &"4")]);
        assert_eq!(m.as_str(), "1.5 &lt; 2<rect x=\"3\" width=\"4\"/>");
    }
}
