//! The controlled vocabularies the catalogues use, as the AgID DCAT-AP_IT guidelines name
//! them: licences from the Italian national licence vocabulary, themes, frequencies and
//! file types from the EU Publications Office's authority tables. A layer stores a term's
//! code; catalogues write its URI, typed and labelled (DCAT-AP 3 checks the class of every
//! value, so a term must say what it is in the catalogue itself).

/// A term: its code (what a layer stores and the API accepts), URI and labels.
#[derive(Debug, Clone, Copy)]
pub struct Term {
    pub code: &'static str,
    pub uri: &'static str,
    pub it: &'static str,
    pub en: &'static str,
}

const fn t(code: &'static str, uri: &'static str, it: &'static str, en: &'static str) -> Term {
    Term { code, uri, it, en }
}

const THEMES_NS: &str = "http://publications.europa.eu/resource/authority/data-theme/";
const FREQ_NS: &str = "http://publications.europa.eu/resource/authority/frequency/";

/// The licence scheme (national licence vocabulary).
pub const LICENCE_SCHEME: &str = "https://w3id.org/italia/controlled-vocabulary/licences";
pub const THEME_SCHEME: &str = "http://publications.europa.eu/resource/authority/data-theme";
pub const FREQUENCY_SCHEME: &str = "http://publications.europa.eu/resource/authority/frequency";
pub const FILE_TYPE_SCHEME: &str = "http://publications.europa.eu/resource/authority/file-type";

/// Licences a layer may carry: its code is the SPDX identifier where there is one.
pub const LICENCES: &[Term] = &[
    t(
        "CC-BY-4.0",
        "https://w3id.org/italia/controlled-vocabulary/licences/A21_CCBY40",
        "Creative Commons Attribuzione 4.0 Internazionale (CC BY 4.0)",
        "Creative Commons Attribution 4.0 International (CC BY 4.0)",
    ),
    t(
        "CC0-1.0",
        "https://w3id.org/italia/controlled-vocabulary/licences/A11_CCO10",
        "Creative Commons CC0 1.0 Universale - Public Domain Dedication (CC0 1.0)",
        "Creative Commons CC0 1.0 Universal - Public Domain Dedication (CC0 1.0)",
    ),
    t(
        "IODL-2.0",
        "https://w3id.org/italia/controlled-vocabulary/licences/A29_IODL20",
        "Italian Open Data License 2.0 (IODL 2.0)",
        "Italian Open Data License 2.0 (IODL 2.0)",
    ),
    t(
        "CC-BY-SA-4.0",
        "https://w3id.org/italia/controlled-vocabulary/licences/A31_CCBYSA40",
        "Creative Commons Attribuzione-Condividi allo stesso modo 4.0 Internazionale (CC BY-SA 4.0)",
        "Creative Commons Attribution-ShareAlike 4.0 International (CC BY-SA 4.0)",
    ),
    t(
        "ODbL-1.0",
        "https://w3id.org/italia/controlled-vocabulary/licences/A310_ODBL",
        "Open Data Commons Open Database License 1.0 (ODbL)",
        "Open Data Commons Open Database License 1.0 (ODbL)",
    ),
    t(
        "ODC-By-1.0",
        "https://w3id.org/italia/controlled-vocabulary/licences/A210_ODCBY",
        "Open Data Commons Attribution License (ODC-BY)",
        "Open Data Commons Attribution License (ODC-BY)",
    ),
    t(
        "CC-BY-3.0-IT",
        "https://w3id.org/italia/controlled-vocabulary/licences/A23_CCBY30IT",
        "Creative Commons Attribuzione Italia 3.0 (CC BY 3.0 IT)",
        "Creative Commons Attribution 3.0 Italy (CC BY 3.0 IT)",
    ),
];

/// What a catalogue says of a layer with no licence yet.
pub const UNKNOWN_LICENCE: Term = t(
    "",
    "https://w3id.org/italia/controlled-vocabulary/licences/C1_Unknown",
    "Licenza sconosciuta",
    "Unknown licence",
);

/// A licence's short name, e.g. `CC BY 4.0` (the last bracket of its label).
pub fn short_name(t: &Term) -> &str {
    t.it.rsplit_once('(')
        .and_then(|(_, r)| r.strip_suffix(')'))
        .unwrap_or(t.code)
}

/// A licence's own page, for people (the vocabulary's URI is for machines).
pub fn licence_page(code: &str) -> Option<&'static str> {
    Some(match code {
        "CC-BY-4.0" => "https://creativecommons.org/licenses/by/4.0/deed.it",
        "CC0-1.0" => "https://creativecommons.org/publicdomain/zero/1.0/deed.it",
        "IODL-2.0" => "https://www.dati.gov.it/iodl/2.0/",
        "CC-BY-SA-4.0" => "https://creativecommons.org/licenses/by-sa/4.0/deed.it",
        "ODbL-1.0" => "https://opendatacommons.org/licenses/odbl/1-0/",
        "ODC-By-1.0" => "https://opendatacommons.org/licenses/by/1-0/",
        "CC-BY-3.0-IT" => "https://creativecommons.org/licenses/by/3.0/it/deed.it",
        _ => return None,
    })
}

/// The licence a new layer gets unless told otherwise.
pub const DEFAULT_LICENCE: &str = "CC-BY-4.0";

/// The EU data themes.
pub const THEMES: &[Term] = &[
    theme(
        "AGRI",
        "Agricoltura, pesca, silvicoltura e prodotti alimentari",
        "Agriculture, fisheries, forestry and food",
    ),
    theme("ECON", "Economia e finanze", "Economy and finance"),
    theme(
        "EDUC",
        "Istruzione, cultura e sport",
        "Education, culture and sport",
    ),
    theme("ENER", "Energia", "Energy"),
    theme("ENVI", "Ambiente", "Environment"),
    theme(
        "GOVE",
        "Governo e settore pubblico",
        "Government and public sector",
    ),
    theme("HEAL", "Salute", "Health"),
    theme("INTR", "Tematiche internazionali", "International issues"),
    theme(
        "JUST",
        "Giustizia, sistema giuridico e sicurezza pubblica",
        "Justice, legal system and public safety",
    ),
    theme("REGI", "Regioni e città", "Regions and cities"),
    theme("SOCI", "Popolazione e società", "Population and society"),
    theme("TECH", "Scienza e tecnologia", "Science and technology"),
    theme("TRAN", "Trasporti", "Transport"),
];

const fn theme(code: &'static str, it: &'static str, en: &'static str) -> Term {
    // The URI is the namespace and the code; spelled out by `uri_of`.
    t(code, THEMES_NS, it, en)
}

/// The EU frequencies a municipal layer is updated at.
pub const FREQUENCIES: &[Term] = &[
    freq("CONT", "continuo", "continuous"),
    freq("DAILY", "quotidiano", "daily"),
    freq("WEEKLY", "settimanale", "weekly"),
    freq("MONTHLY", "mensile", "monthly"),
    freq("QUARTERLY", "trimestrale", "quarterly"),
    freq("ANNUAL_2", "semestrale", "semiannual"),
    freq("ANNUAL", "annuale", "annual"),
    freq("BIENNIAL", "biennale", "biennial"),
    freq("IRREG", "irregolare", "irregular"),
    freq("NEVER", "mai", "never"),
    freq("UNKNOWN", "sconosciuto", "unknown"),
];

const fn freq(code: &'static str, it: &'static str, en: &'static str) -> Term {
    t(code, FREQ_NS, it, en)
}

/// What a catalogue says of a layer with no frequency yet.
pub const DEFAULT_FREQUENCY: &str = "UNKNOWN";

/// A term's full URI (themes and frequencies are held as namespace and code).
pub fn uri_of(term: &Term) -> String {
    if term.uri.ends_with('/') {
        format!("{}{}", term.uri, term.code)
    } else {
        term.uri.to_string()
    }
}

pub fn licence(code: &str) -> Option<&'static Term> {
    LICENCES.iter().find(|t| t.code.eq_ignore_ascii_case(code))
}

pub fn theme_term(code: &str) -> Option<&'static Term> {
    THEMES.iter().find(|t| t.code.eq_ignore_ascii_case(code))
}

pub fn frequency(code: &str) -> Option<&'static Term> {
    FREQUENCIES
        .iter()
        .find(|t| t.code.eq_ignore_ascii_case(code))
}

/// The codes of a list of terms, for error messages.
pub fn codes(terms: &[Term]) -> String {
    terms.iter().map(|t| t.code).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_are_the_vocabularies() {
        assert_eq!(
            uri_of(theme_term("tran").unwrap()),
            "http://publications.europa.eu/resource/authority/data-theme/TRAN"
        );
        assert_eq!(
            uri_of(frequency("ANNUAL").unwrap()),
            "http://publications.europa.eu/resource/authority/frequency/ANNUAL"
        );
        let ns = format!("{LICENCE_SCHEME}/");
        assert_eq!(
            uri_of(licence("cc-by-4.0").unwrap()),
            format!("{ns}A21_CCBY40")
        );
        assert!(LICENCES.iter().all(|l| l.uri.starts_with(&ns)));
    }
}
