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
    fn links_are_safe() {
        let html = render("[x](javascript:alert(1)) [y](https://example.org)");
        assert!(!html.contains("javascript:"), "{html}");
        assert!(html.contains("noopener"), "{html}");
    }
}
