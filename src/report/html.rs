//! The page: the template with its stylesheet, script and data put in.
//! Everything is inline, so the file opens from `file://` with no
//! network; the data is JSON in a `<script type="application/json">`
//! element, escaped so that no text from the cassette can end that element
//! or be read as markup.

use serde::Serialize;

const TEMPLATE: &str = include_str!("assets/report.html");
const CSS: &str = include_str!("assets/report.css");
const JS: &str = include_str!("assets/report.js");

/// Writes the page for `data` to `out`, titled after `title`.
pub fn write_page<W: std::io::Write>(
    data: &impl Serialize,
    title: &str,
    out: &mut W,
) -> std::io::Result<()> {
    let json = serde_json::to_vec(data).map_err(std::io::Error::other)?;
    let (head, rest) = split(TEMPLATE, "{{TITLE}}");
    let (mid, rest) = split(rest, "{{CSS}}");
    let (before_data, rest) = split(rest, "{{DATA}}");
    let (before_js, tail) = split(rest, "{{JS}}");
    out.write_all(head.as_bytes())?;
    out.write_all(escape_html(title).as_bytes())?;
    out.write_all(mid.as_bytes())?;
    out.write_all(CSS.as_bytes())?;
    out.write_all(before_data.as_bytes())?;
    write_script_json(&json, out)?;
    out.write_all(before_js.as_bytes())?;
    out.write_all(JS.as_bytes())?;
    out.write_all(tail.as_bytes())
}

/// The template around a placeholder, which it must have.
fn split<'a>(text: &'a str, placeholder: &str) -> (&'a str, &'a str) {
    text.split_once(placeholder)
        .unwrap_or_else(|| panic!("report.html lacks {placeholder}"))
}

/// Writes JSON text so it can sit inside a `<script>` element: every `<`
/// becomes `\u003c` (so neither `</script` nor `<!--` can appear), and
/// U+2028 and U+2029 are escaped (older JavaScript parsers end a line
/// there). All three only occur inside JSON strings, where the escapes
/// mean the same characters.
fn write_script_json<W: std::io::Write>(json: &[u8], out: &mut W) -> std::io::Result<()> {
    let mut start = 0;
    let mut i = 0;
    while i < json.len() {
        let escape: Option<(&[u8], usize)> = match json[i] {
            b'<' => Some((b"\\u003c", 1)),
            // U+2028 and U+2029 in UTF-8: E2 80 A8 / E2 80 A9.
            0xE2 if json.get(i + 1) == Some(&0x80) && json.get(i + 2) == Some(&0xA8) => {
                Some((b"\\u2028", 3))
            }
            0xE2 if json.get(i + 1) == Some(&0x80) && json.get(i + 2) == Some(&0xA9) => {
                Some((b"\\u2029", 3))
            }
            _ => None,
        };
        match escape {
            Some((with, len)) => {
                out.write_all(&json[start..i])?;
                out.write_all(with)?;
                i += len;
                start = i;
            }
            None => i += 1,
        }
    }
    out.write_all(&json[start..])
}

/// Text for an HTML element's content.
fn escape_html(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_cannot_end_its_script_element() {
        let nasty =
            serde_json::json!({"x": "</script><script>alert(1)</script><!-- \u{2028}\u{2029} é"});
        let mut page = Vec::new();
        write_page(&nasty, "<b>&", &mut page).unwrap();
        let page = String::from_utf8(page).unwrap();
        let start = page.find("id=\"resplay-data\">").unwrap();
        let end = start + page[start..].find("</script>").unwrap();
        let inside = &page[start + "id=\"resplay-data\">".len()..end];
        assert!(!inside.contains('<'), "{inside}");
        assert!(!inside.contains('\u{2028}') && !inside.contains('\u{2029}'));
        // It still reads back as the same value.
        let back: serde_json::Value = serde_json::from_str(inside).unwrap();
        assert_eq!(back, nasty);
        assert!(
            page.contains("<title>resplay report: &lt;b&gt;&amp;</title>"),
            "title escaped"
        );
    }
}
