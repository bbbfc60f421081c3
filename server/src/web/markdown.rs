//! Step markdown to safe HTML: pulldown-cmark renders, ammonia sanitises. Fenced code blocks
//! get a "Copy" button and, when the info string says `run` or `run=HOST`, a "Run in terminal"
//! button (the page's script does the rest).

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
                        format!(r#"<div class="code"><pre><code{class}>{}</code></pre><div class="code-buttons">{buttons}</div></div>"#, escape(&text)).into(),
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

/// Renders one line of markdown (a task title, a hint, a catalog summary) to sanitised inline
/// HTML: code, emphasis and links; no paragraphs or blocks around it.
pub fn inline(md: &str) -> String {
    let mut out = String::new();
    let events = Parser::new_ext(md, Options::ENABLE_STRIKETHROUGH).filter(|e| {
        !matches!(
            e,
            Event::Start(Tag::Paragraph | Tag::Heading { .. })
                | Event::End(TagEnd::Paragraph | TagEnd::Heading(_))
        )
    });
    html::push_html(&mut out, events);
    let mut b = ammonia::Builder::default();
    b.tags(
        ["code", "em", "strong", "a", "del", "kbd", "br"]
            .into_iter()
            .collect(),
    );
    b.link_rel(Some("noopener noreferrer"));
    b.clean(out.trim_end()).to_string()
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
        assert_eq!(html.matches(r#"class="run""#).count(), 1, "{html}");
    }

    #[test]
    fn inline_markdown_has_no_blocks_and_no_scripts() {
        assert_eq!(
            inline("Run `iptables-save` *now*"),
            "Run <code>iptables-save</code> <em>now</em>"
        );
        assert_eq!(inline("a < b & c"), "a &lt; b &amp; c");
        let h = inline("<script>x</script>[l](javascript:alert(1)) <img src=x onerror=y>");
        assert!(
            !h.contains("<script") && !h.contains("href=\"javascript") && !h.contains("<img"),
            "{h}"
        );
        let link = inline("[ok](https://example.org) [bad](javascript:alert(1))");
        assert!(
            link.contains(r#"href="https://example.org""#) && !link.contains("href=\"javascript"),
            "{link}"
        );
        assert!(!inline("# big\n\npara").contains("<h1"));
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
