//! HTML text escaping, shared by the server's HTML pages and the generated apps.

/// Escapes text for HTML element content and attribute values.
pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A layer's attribution as the HTML that map clients render (MapLibre's attribution
/// control, TileJSON): the comune's text escaped, and a link only where Atlante makes one
/// from a checked `attribution_url`. A comune never puts markup into anyone's map.
pub fn attribution_html(layer: &crate::model::Layer) -> String {
    let text = escape_html(&layer.attribution);
    if layer.attribution_url.is_empty() || !crate::store::valid_link(&layer.attribution_url) {
        return text;
    }
    let label = if text.is_empty() {
        escape_html(&layer.attribution_url)
    } else {
        text
    };
    format!(
        "<a href=\"{}\" target=\"_blank\" rel=\"noopener noreferrer\">{label}</a>",
        escape_html(&layer.attribution_url)
    )
}

/// The attributions of several layers, each once, as HTML.
pub fn attributions_html<'a>(layers: impl IntoIterator<Item = &'a crate::model::Layer>) -> String {
    let mut seen: Vec<String> = Vec::new();
    for l in layers {
        let a = attribution_html(l);
        if !a.is_empty() && !seen.contains(&a) {
            seen.push(a);
        }
    }
    seen.join(" · ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{GeomType, Layer};

    #[test]
    fn attribution_is_text_and_our_link() {
        let mut l = Layer::sketch("x", GeomType::Point, vec![]);
        l.attribution = "ISTAT <a href=\"http://example.invalid/login\">Accedi con SPID</a>".into();
        let h = attribution_html(&l);
        assert!(!h.contains("<a"), "{h}");
        assert!(h.contains("&lt;a href="));
        l.attribution = "CC BY 4.0".into();
        l.attribution_url = "https://creativecommons.org/licenses/by/4.0/".into();
        assert_eq!(
            attribution_html(&l),
            "<a href=\"https://creativecommons.org/licenses/by/4.0/\" target=\"_blank\" rel=\"noopener noreferrer\">CC BY 4.0</a>"
        );
        l.attribution_url = "javascript:alert(1)".into();
        assert_eq!(attribution_html(&l), "CC BY 4.0");
    }
}
