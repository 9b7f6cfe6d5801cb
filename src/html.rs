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
/// control, TileJSON, generated apps): the comune's text escaped, and a link only where
/// Atlante makes one from a checked `attribution_url`; then the licence, linked to its
/// page, unless the text names it already. A comune never puts markup into anyone's map.
pub fn attribution_html(layer: &crate::model::Layer) -> String {
    let text = escape_html(&layer.attribution);
    let credit =
        if layer.attribution_url.is_empty() || !crate::store::valid_link(&layer.attribution_url) {
            text
        } else {
            let label = if text.is_empty() {
                escape_html(&layer.attribution_url)
            } else {
                text
            };
            format!(
                "<a href=\"{}\" target=\"_blank\" rel=\"noopener noreferrer\">{label}</a>",
                escape_html(&layer.attribution_url)
            )
        };
    let Some(term) = crate::opendata::vocab::licence(&layer.licence) else {
        return credit;
    };
    let short = crate::opendata::vocab::short_name(term);
    if layer.attribution.contains(short) {
        return credit;
    }
    let licence = match crate::opendata::vocab::licence_page(term.code) {
        Some(page) => format!(
            "<a href=\"{page}\" target=\"_blank\" rel=\"license noopener noreferrer\">{}</a>",
            escape_html(short)
        ),
        None => escape_html(short),
    };
    if credit.is_empty() {
        licence
    } else {
        format!("{credit} · {licence}")
    }
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

    #[test]
    fn the_licence_follows_the_credit_once() {
        let mut l = Layer::sketch("x", GeomType::Point, vec![]);
        l.licence = "IODL-2.0".into();
        l.attribution = "Comune di Rho".into();
        assert_eq!(
            attribution_html(&l),
            "Comune di Rho · <a href=\"https://www.dati.gov.it/iodl/2.0/\" target=\"_blank\" \
             rel=\"license noopener noreferrer\">IODL 2.0</a>"
        );
        l.attribution = "Comune di Rho (IODL 2.0)".into();
        assert_eq!(attribution_html(&l), "Comune di Rho (IODL 2.0)");
    }
}
