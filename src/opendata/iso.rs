//! A dataset's ISO 19139 record following the RNDT profile (Regole tecniche del Repertorio
//! Nazionale dei Dati Territoriali, on ISO 19115/19139 and INSPIRE): a file identifier
//! prefixed by the owner's IPA code, Italian, UTF-8, the comune as owner and point of
//! contact, the Città Metropolitana as publisher, keywords (free and EU data themes with
//! their thesaurus), ISO topic categories, the bounding box and temporal extent, the
//! reference system, the source scale, lineage, licence and access constraints, and one
//! online resource per download and service. Every value is escaped.

use super::record::Record;
use crate::html::escape_html as esc;

/// The namespaces of a record (also declared on the CSW answers that carry records).
pub const NAMESPACES: &str = "xmlns:gmd=\"http://www.isotc211.org/2005/gmd\" \
     xmlns:gco=\"http://www.isotc211.org/2005/gco\" \
     xmlns:gml=\"http://www.opengis.net/gml\" \
     xmlns:xlink=\"http://www.w3.org/1999/xlink\"";

const CODELISTS: &str = "http://standards.iso.org/iso/19139/resources/gmxCodelists.xml";

fn cs(tag: &str, text: &str) -> String {
    format!(
        "<{tag}><gco:CharacterString>{}</gco:CharacterString></{tag}>",
        esc(text)
    )
}

fn code(tag: &str, list: &str, value: &str) -> String {
    format!(
        "<gmd:{tag}><gmd:{list} codeList=\"{CODELISTS}#{list}\" codeListValue=\"{value}\">{value}\
         </gmd:{list}></gmd:{tag}>"
    )
}

fn date(d: &str, kind: &str) -> String {
    format!(
        "<gmd:date><gmd:CI_Date><gmd:date><gco:Date>{}</gco:Date></gmd:date>{}</gmd:CI_Date>\
         </gmd:date>",
        esc(d),
        code("dateType", "CI_DateTypeCode", kind)
    )
}

/// A responsible party: name, e-mail, online resource, role.
fn party(tag: &str, name: &str, email: Option<&str>, role: &str) -> String {
    let email = email.map_or(String::new(), |e| cs("gmd:electronicMailAddress", e));
    format!(
        "<gmd:{tag}><gmd:CI_ResponsibleParty>{}<gmd:contactInfo><gmd:CI_Contact>\
         <gmd:address><gmd:CI_Address>{email}</gmd:CI_Address></gmd:address>\
         </gmd:CI_Contact></gmd:contactInfo>{}</gmd:CI_ResponsibleParty></gmd:{tag}>",
        cs("gmd:organisationName", name),
        code("role", "CI_RoleCode", role)
    )
}

/// The ISO topic category of an EU data theme.
fn topic(theme: &str) -> &'static str {
    match theme {
        "AGRI" => "farming",
        "ECON" => "economy",
        "ENER" => "utilitiesCommunication",
        "ENVI" => "environment",
        "HEAL" => "health",
        "GOVE" => "boundaries",
        "TRAN" => "transportation",
        "TECH" => "structure",
        "EDUC" | "INTR" | "JUST" | "SOCI" => "society",
        _ => "planningCadastre",
    }
}

/// ISO's maintenance frequency for an EU frequency code.
fn maintenance(frequency: &str) -> &'static str {
    match frequency {
        "CONT" => "continual",
        "DAILY" => "daily",
        "WEEKLY" => "weekly",
        "MONTHLY" => "monthly",
        "QUARTERLY" => "quarterly",
        "ANNUAL_2" => "biannually",
        "ANNUAL" | "BIENNIAL" => "annually",
        "IRREG" => "irregular",
        "NEVER" => "notPlanned",
        _ => "unknown",
    }
}

/// The `gmd:MD_Metadata` element of a record (no XML declaration: it is embedded in CSW
/// answers; `standalone` adds the declaration and the namespaces).
pub fn md_metadata(r: &Record, metro_email: Option<&str>, standalone: bool) -> String {
    let mut x = String::with_capacity(8192);
    if standalone {
        x.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        x.push_str(&format!("<gmd:MD_Metadata {NAMESPACES}>"));
    } else {
        x.push_str("<gmd:MD_Metadata>");
    }
    x.push_str(&cs("gmd:fileIdentifier", &r.identifier));
    x.push_str(
        "<gmd:language><gmd:LanguageCode codeList=\"http://www.loc.gov/standards/iso639-2/\" \
         codeListValue=\"ita\">ita</gmd:LanguageCode></gmd:language>",
    );
    x.push_str(&code("characterSet", "MD_CharacterSetCode", "utf8"));
    x.push_str(&code("hierarchyLevel", "MD_ScopeCode", "dataset"));
    x.push_str(&party(
        "contact",
        &r.org_name,
        r.email.as_deref(),
        "pointOfContact",
    ));
    x.push_str(&format!(
        "<gmd:dateStamp><gco:Date>{}</gco:Date></gmd:dateStamp>",
        esc(&r.modified)
    ));
    x.push_str(&cs("gmd:metadataStandardName", "DM - Regole tecniche RNDT"));
    x.push_str(&cs("gmd:metadataStandardVersion", "10 novembre 2011"));
    x.push_str(&format!(
        "<gmd:referenceSystemInfo><gmd:MD_ReferenceSystem><gmd:referenceSystemIdentifier>\
         <gmd:RS_Identifier>{}{}</gmd:RS_Identifier></gmd:referenceSystemIdentifier>\
         </gmd:MD_ReferenceSystem></gmd:referenceSystemInfo>",
        cs("gmd:code", "http://www.opengis.net/def/crs/EPSG/0/4326"),
        cs("gmd:codeSpace", "EPSG")
    ));

    // Identification.
    x.push_str(
        "<gmd:identificationInfo><gmd:MD_DataIdentification><gmd:citation><gmd:CI_Citation>",
    );
    x.push_str(&cs("gmd:title", &r.title));
    if !r.title_en.is_empty() {
        x.push_str(&cs("gmd:alternateTitle", &r.title_en));
    }
    x.push_str(&date(&r.created, "creation"));
    x.push_str(&date(&r.published, "publication"));
    x.push_str(&date(&r.modified, "revision"));
    x.push_str(&format!(
        "<gmd:identifier><gmd:RS_Identifier>{}{}</gmd:RS_Identifier></gmd:identifier>",
        cs("gmd:code", &r.identifier),
        cs("gmd:codeSpace", &r.ipa)
    ));
    x.push_str(&party(
        "citedResponsibleParty",
        &r.org_name,
        r.email.as_deref(),
        "owner",
    ));
    x.push_str("</gmd:CI_Citation></gmd:citation>");
    x.push_str(&cs("gmd:abstract", &r.abstract_));
    x.push_str(&party(
        "pointOfContact",
        &r.org_name,
        r.email.as_deref(),
        "pointOfContact",
    ));
    x.push_str(&party(
        "pointOfContact",
        "Città Metropolitana di Milano",
        metro_email,
        "publisher",
    ));
    x.push_str(&format!(
        "<gmd:resourceMaintenance><gmd:MD_MaintenanceInformation>{}\
         </gmd:MD_MaintenanceInformation></gmd:resourceMaintenance>",
        code(
            "maintenanceAndUpdateFrequency",
            "MD_MaintenanceFrequencyCode",
            maintenance(r.frequency.code)
        )
    ));
    if !r.keywords.is_empty() {
        x.push_str("<gmd:descriptiveKeywords><gmd:MD_Keywords>");
        for k in &r.keywords {
            x.push_str(&cs("gmd:keyword", k));
        }
        x.push_str("</gmd:MD_Keywords></gmd:descriptiveKeywords>");
    }
    if !r.themes.is_empty() {
        x.push_str("<gmd:descriptiveKeywords><gmd:MD_Keywords>");
        for t in &r.themes {
            x.push_str(&cs("gmd:keyword", t.it));
        }
        x.push_str(&code("type", "MD_KeywordTypeCode", "theme"));
        x.push_str(&format!(
            "<gmd:thesaurusName><gmd:CI_Citation>{}{}</gmd:CI_Citation></gmd:thesaurusName>",
            cs("gmd:title", "Data theme (EU Publications Office)"),
            date("2015-10-01", "publication")
        ));
        x.push_str("</gmd:MD_Keywords></gmd:descriptiveKeywords>");
    }
    // Constraints: the licence (use), no limits on public access.
    x.push_str(&format!(
        "<gmd:resourceConstraints><gmd:MD_Constraints>{}</gmd:MD_Constraints>\
         </gmd:resourceConstraints>",
        cs(
            "gmd:useLimitation",
            &format!(
                "Licenza {} ({})",
                r.licence.it,
                super::vocab::uri_of(r.licence)
            )
        )
    ));
    x.push_str(&format!(
        "<gmd:resourceConstraints><gmd:MD_LegalConstraints>{}{}{}{}</gmd:MD_LegalConstraints>\
         </gmd:resourceConstraints>",
        code(
            "accessConstraints",
            "MD_RestrictionCode",
            "otherRestrictions"
        ),
        code("useConstraints", "MD_RestrictionCode", "otherRestrictions"),
        cs(
            "gmd:otherConstraints",
            "Nessuna limitazione all'accesso pubblico"
        ),
        cs(
            "gmd:otherConstraints",
            &format!(
                "{} – {}{}",
                r.licence.it,
                super::vocab::uri_of(r.licence),
                if r.attribution.is_empty() {
                    String::new()
                } else {
                    format!(" – Attribuzione: {}", r.attribution)
                }
            )
        )
    ));
    x.push_str(&code(
        "spatialRepresentationType",
        "MD_SpatialRepresentationTypeCode",
        "vector",
    ));
    if r.scale > 0 {
        x.push_str(&format!(
            "<gmd:spatialResolution><gmd:MD_Resolution><gmd:equivalentScale>\
             <gmd:MD_RepresentativeFraction><gmd:denominator><gco:Integer>{}</gco:Integer>\
             </gmd:denominator></gmd:MD_RepresentativeFraction></gmd:equivalentScale>\
             </gmd:MD_Resolution></gmd:spatialResolution>",
            r.scale
        ));
    }
    x.push_str(
        "<gmd:language><gmd:LanguageCode codeList=\"http://www.loc.gov/standards/iso639-2/\" \
         codeListValue=\"ita\">ita</gmd:LanguageCode></gmd:language>",
    );
    x.push_str(&code("characterSet", "MD_CharacterSetCode", "utf8"));
    let mut topics: Vec<&str> = r.themes.iter().map(|t| topic(t.code)).collect();
    if topics.is_empty() {
        topics.push("planningCadastre");
    }
    topics.dedup();
    for t in topics {
        x.push_str(&format!(
            "<gmd:topicCategory><gmd:MD_TopicCategoryCode>{t}</gmd:MD_TopicCategoryCode>\
             </gmd:topicCategory>"
        ));
    }
    x.push_str("<gmd:extent><gmd:EX_Extent>");
    if let Some(b) = r.bbox {
        x.push_str(&format!(
            "<gmd:geographicElement><gmd:EX_GeographicBoundingBox>\
             <gmd:westBoundLongitude><gco:Decimal>{}</gco:Decimal></gmd:westBoundLongitude>\
             <gmd:eastBoundLongitude><gco:Decimal>{}</gco:Decimal></gmd:eastBoundLongitude>\
             <gmd:southBoundLatitude><gco:Decimal>{}</gco:Decimal></gmd:southBoundLatitude>\
             <gmd:northBoundLatitude><gco:Decimal>{}</gco:Decimal></gmd:northBoundLatitude>\
             </gmd:EX_GeographicBoundingBox></gmd:geographicElement>",
            b[0], b[2], b[1], b[3]
        ));
    }
    if !r.temporal.0.is_empty() || !r.temporal.1.is_empty() {
        x.push_str(&format!(
            "<gmd:temporalElement><gmd:EX_TemporalExtent><gmd:extent>\
             <gml:TimePeriod gml:id=\"T1\"><gml:beginPosition>{}</gml:beginPosition>\
             <gml:endPosition>{}</gml:endPosition></gml:TimePeriod></gmd:extent>\
             </gmd:EX_TemporalExtent></gmd:temporalElement>",
            esc(&r.temporal.0),
            esc(&r.temporal.1)
        ));
    }
    x.push_str("</gmd:EX_Extent></gmd:extent>");
    x.push_str("</gmd:MD_DataIdentification></gmd:identificationInfo>");

    // Distribution: one format and one online resource per download, then the services.
    x.push_str("<gmd:distributionInfo><gmd:MD_Distribution>");
    for l in r.links.iter().filter(|l| l.function == "download") {
        x.push_str(&format!(
            "<gmd:distributionFormat><gmd:MD_Format>{}{}</gmd:MD_Format></gmd:distributionFormat>",
            cs("gmd:name", l.media_type),
            cs("gmd:version", "-")
        ));
    }
    x.push_str("<gmd:transferOptions><gmd:MD_DigitalTransferOptions>");
    for l in &r.links {
        x.push_str(&format!(
            "<gmd:onLine><gmd:CI_OnlineResource><gmd:linkage><gmd:URL>{}</gmd:URL></gmd:linkage>\
             {}{}{}{}</gmd:CI_OnlineResource></gmd:onLine>",
            esc(&l.href),
            cs("gmd:protocol", l.protocol),
            cs("gmd:name", &l.title),
            cs("gmd:description", l.media_type),
            code("function", "CI_OnLineFunctionCode", l.function)
        ));
    }
    x.push_str("</gmd:MD_DigitalTransferOptions></gmd:transferOptions>");
    x.push_str("</gmd:MD_Distribution></gmd:distributionInfo>");

    // Quality: the INSPIRE conformity (not evaluated) and the lineage.
    let lineage = if r.lineage.trim().is_empty() {
        format!("Dati forniti da {}.", r.org_name)
    } else {
        r.lineage.clone()
    };
    let lineage = if r.source_crs.is_empty() {
        lineage
    } else {
        format!(
            "{lineage} Sistema di riferimento d'origine: {}; pubblicato in WGS 84 (EPSG:4326).",
            r.source_crs
        )
    };
    x.push_str(&format!(
        "<gmd:dataQualityInfo><gmd:DQ_DataQuality><gmd:scope><gmd:DQ_Scope>{}</gmd:DQ_Scope>\
         </gmd:scope><gmd:report><gmd:DQ_DomainConsistency><gmd:result>\
         <gmd:DQ_ConformanceResult><gmd:specification><gmd:CI_Citation>{}{}\
         </gmd:CI_Citation></gmd:specification>{}<gmd:pass gco:nilReason=\"unknown\"/>\
         </gmd:DQ_ConformanceResult></gmd:result></gmd:DQ_DomainConsistency></gmd:report>\
         <gmd:lineage><gmd:LI_Lineage>{}</gmd:LI_Lineage></gmd:lineage>\
         </gmd:DQ_DataQuality></gmd:dataQualityInfo>",
        code("level", "MD_ScopeCode", "dataset"),
        cs(
            "gmd:title",
            "REGOLAMENTO (UE) N. 1089/2010 DELLA COMMISSIONE del 23 novembre 2010 recante \
             attuazione della direttiva 2007/2/CE per quanto riguarda l'interoperabilità dei \
             set di dati territoriali e dei servizi di dati territoriali"
        ),
        date("2010-12-08", "publication"),
        cs("gmd:explanation", "Conformità non valutata"),
        cs("gmd:statement", &lineage)
    ));
    x.push_str("</gmd:MD_Metadata>");
    x
}
