//! Step markdown to safe HTML: pulldown-cmark renders, ammonia sanitises. Fenced code blocks
//! get a "Copy" button and, when the info string says `run` or `run=HOST`, a "Run in terminal"
//! button (the page's script does the rest); the block is focusable (`tabindex="0"`) so a
//! keyboard can scroll a long line. [`inline`] renders one line (a summary, a task
//! title, a hint) to inline HTML only, through the same sanitiser.

use pulldown_cmark::{html, CodeBlockKind, Event, Options, Parser, Tag, TagEnd};

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Renders markdown to sanitised HTML.
pub fn render(markdown: &str) -> String {
    let mut events = Vec::new();
    let mut in_code: Option<(String, String)> = None; // (info, text)
    for ev in Parser::new_ext(
        markdown,
        Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH,
    ) {
        match ev {
            Event::Start(Tag::CodeBlock(kind)) => {
                let info = match kind {
                    CodeBlockKind::Fenced(info) => info.to_string(),
                    CodeBlockKind::Indented => String::new(),
                };
                in_code = Some((info, String::new()));
            }
            Event::Text(t) if in_code.is_some() => {
                if let Some((_, text)) = in_code.as_mut() {
                    text.push_str(&t);
                }
            }
            Event::End(TagEnd::CodeBlock) => {
                if let Some((info, text)) = in_code.take() {
                    let lang = info
                        .split_whitespace()
                        .next()
                        .filter(|w| !w.starts_with("run"))
                        .unwrap_or("");
                    let mut buttons =
                        String::from(r#"<button type="button" class="copy">Copy</button>"#);
                    if let Some(host) = labkit::content::run_marker(&info) {
                        buttons.push_str(&format!(
                            r#"<button type="button" class="run" data-host="{}">Run in terminal{}</button>"#,
                            escape(host.unwrap_or("")),
                            host.map(|h| format!(" ({})", escape(h))).unwrap_or_default()
                        ));
                    }
                    let class = if lang.is_empty() {
                        String::new()
                    } else {
                        format!(r#" class="language-{}""#, escape(lang))
                    };
                    events.push(Event::Html(
                        format!(r#"<div class="code"><pre tabindex="0"><code{class}>{}</code></pre><div class="code-buttons">{buttons}</div></div>"#, escape(&text)).into(),
                    ));
                }
            }
            other => events.push(other),
        }
    }
    let mut out = String::new();
    html::push_html(&mut out, events.into_iter());
    sanitize(&out)
}

/// Renders one line of markdown to sanitised inline HTML: code spans, emphasis, strong,
/// strikethrough and links; no paragraph around it. Block syntax is not rendered as blocks (a
/// leading `#`, `-`, `>` or `1.` stays text, a raw HTML tag is escaped) and lines are joined
/// with spaces, so the result fits inside a `<p>`, `<li>` or `<summary>`.
pub fn inline(md: &str) -> String {
    let mut out = String::new();
    let line = md.split_whitespace().collect::<Vec<_>>().join(" ");
    // Escape what would start a block so the parser sees one paragraph of inline text.
    let line = match line.chars().next() {
        Some('#' | '-' | '+' | '*' | '>' | '=' | '|' | '`' | '~') if block_start(&line) => {
            format!("\\{line}")
        }
        Some(c) if c.is_ascii_digit() => escape_ordered(&line),
        _ => line,
    };
    let events = Parser::new_ext(&line, Options::ENABLE_STRIKETHROUGH).filter_map(|ev| match ev {
        Event::Start(Tag::Paragraph) | Event::End(TagEnd::Paragraph) => None,
        Event::Html(h) | Event::InlineHtml(h) => Some(Event::Text(h)),
        Event::SoftBreak | Event::HardBreak => Some(Event::Text(" ".into())),
        other => Some(other),
    });
    html::push_html(&mut out, events);
    let mut b = ammonia::Builder::default();
    b.tags(["code", "em", "strong", "del", "a"].into_iter().collect());
    b.link_rel(Some("noopener noreferrer"));
    b.clean(out.trim()).to_string()
}

/// Whether `line` (starting with one of the block markers) would parse as a block rather than
/// a paragraph: a heading, a list item, a quote, a rule, a fence, a table or setext underline.
fn block_start(line: &str) -> bool {
    let mut events = Parser::new_ext(line, Options::ENABLE_STRIKETHROUGH);
    !matches!(events.next(), Some(Event::Start(Tag::Paragraph)))
}

/// `1. text` would be an ordered list: escape its dot.
fn escape_ordered(line: &str) -> String {
    let digits = line.chars().take_while(char::is_ascii_digit).count();
    match line[digits..].chars().next() {
        Some(c @ ('.' | ')')) if block_start(line) => {
            format!("{}\\{c}{}", &line[..digits], &line[digits + 1..])
        }
        _ => line.to_string(),
    }
}

/// A step's markdown without its leading `# Title` when that title is the step's own (the
/// page shows the title once, above the text).
pub fn without_title<'a>(body: &'a str, title: &str) -> &'a str {
    let trimmed = body.trim_start();
    let Some(rest) = trimmed.strip_prefix("# ") else {
        return body;
    };
    let (line, after) = rest.split_once('\n').unwrap_or((rest, ""));
    if line.trim().eq_ignore_ascii_case(title.trim()) {
        after
    } else {
        body
    }
}

fn sanitize(html: &str) -> String {
    let mut b = ammonia::Builder::default();
    b.add_tags(["button"]);
    b.add_generic_attributes(["class"]);
    b.add_tag_attributes("button", ["type", "data-host"]);
    b.add_tag_attributes("pre", ["tabindex"]);
    b.link_rel(Some("noopener noreferrer"));
    b.clean(html).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_blocks_get_buttons_and_html_is_sanitised() {
        let html = render("# T\n\n<script>alert(1)</script>\n\n```sh run=node-2\necho <hi>\n```\n\n```\nplain\n```\n");
        assert!(!html.contains("<script"), "{html}");
        assert!(
            html.contains(r#"<code class="language-sh">echo &lt;hi&gt;"#),
            "{html}"
        );
        assert!(html.contains(r#"<button type="button" class="run" data-host="node-2">Run in terminal (node-2)</button>"#), "{html}");
        assert_eq!(html.matches(r#"class="copy""#).count(), 2, "{html}");
        assert_eq!(html.matches(r#"<pre tabindex="0">"#).count(), 2, "{html}");
        assert_eq!(html.matches(r#"class="run""#).count(), 1, "{html}");
    }

    #[test]
    fn inline_renders_code_emphasis_and_links_without_a_paragraph() {
        assert_eq!(
            inline("Learn what `iptables -L` leaves *out*, **fast**"),
            "Learn what <code>iptables -L</code> leaves <em>out</em>, <strong>fast</strong>"
        );
        assert_eq!(
            inline("see [the docs](https://kubernetes.io/docs/)"),
            r#"see <a href="https://kubernetes.io/docs/" rel="noopener noreferrer">the docs</a>"#
        );
        assert_eq!(inline("two\nlines"), "two lines");
        assert_eq!(inline("a < b && c > d"), "a &lt; b &amp;&amp; c &gt; d");
        assert_eq!(inline(""), "");
    }

    #[test]
    fn inline_keeps_block_syntax_and_html_as_text() {
        assert_eq!(inline("# not a heading"), "# not a heading");
        assert_eq!(inline("- not a list"), "- not a list");
        assert_eq!(inline("> not a quote"), "&gt; not a quote");
        assert_eq!(inline("1. not a list"), "1. not a list");
        assert_eq!(inline("2024 was a year"), "2024 was a year");
        assert_eq!(inline("```sh"), "```sh");
        assert_eq!(
            inline("<script>alert(1)</script> <b>x</b>"),
            "&lt;script&gt;alert(1)&lt;/script&gt; &lt;b&gt;x&lt;/b&gt;"
        );
        let html = inline("[x](javascript:alert(1)) ![img](https://example.org/a.png)");
        assert!(!html.contains("javascript:"), "{html}");
        assert!(!html.contains("<img"), "{html}");
    }

    #[test]
    fn the_leading_title_goes_when_it_is_the_steps() {
        assert_eq!(
            without_title("# Measure the spread\n\nText", "Measure the spread"),
            "\nText"
        );
        assert_eq!(without_title("# Other\nText", "Measure"), "# Other\nText");
        assert_eq!(without_title("Text", "Text"), "Text");
    }

    #[test]
    fn links_are_safe() {
        let html = render("[x](javascript:alert(1)) [y](https://example.org)");
        assert!(!html.contains("javascript:"), "{html}");
        assert!(html.contains("noopener"), "{html}");
    }
}
