//! The catalog's organisations: the Città Metropolitana di Milano and its 133 comuni, with
//! ISTAT code, Belfiore code, zona omogenea and boundary, from the real data bundled in
//! `demo/cmm/` (ISTAT boundaries via openpolis, CC BY 4.0; zone membership compiled, not
//! official). Embedded in the binary so every store starts with the same organisations.

use serde_json::Value as Json;

use crate::model::{Org, METRO_ORG};

const COMUNI: &str = include_str!("../demo/cmm/comuni_cmm_openpolis.geojson");
const MEMBERSHIP: &str = include_str!("../demo/cmm/zone_omogenee_membership.csv");

/// The 134 organisations: the Città Metropolitana first, then the comuni.
pub fn organisations() -> Result<Vec<Org>, String> {
    let zones = membership()?;
    let doc: Json = serde_json::from_str(COMUNI).map_err(|e| e.to_string())?;
    let features = doc["features"]
        .as_array()
        .ok_or("no features in the comuni file")?;
    let mut metro_bbox: Option<[f64; 4]> = None;
    let mut orgs = Vec::with_capacity(features.len() + 1);
    for f in features {
        let p = &f["properties"];
        let istat = p["com_istat_code"]
            .as_str()
            .ok_or("a comune without ISTAT code")?;
        let bbox = json_bbox(&f["geometry"]);
        if let Some(b) = &bbox {
            crate::geom::extend_bbox(&mut metro_bbox, b);
        }
        let zone = zones.iter().find(|z| z.0 == istat);
        orgs.push(Org {
            id: istat.to_string(),
            name: p["name"].as_str().unwrap_or(istat).to_string(),
            kind: "comune".into(),
            istat_code: Some(istat.to_string()),
            catasto_code: p["com_catasto_code"].as_str().map(str::to_string),
            zona_omogenea: zone.map(|z| z.1.clone()),
            zona_code: zone.map(|z| z.2.clone()),
            bbox,
            boundary: Some(f["geometry"].clone()),
            ipa_override: None,
            email: None,
        });
    }
    orgs.sort_by(|a, b| a.name.cmp(&b.name));
    orgs.insert(
        0,
        Org {
            id: METRO_ORG.into(),
            name: "Città Metropolitana di Milano".into(),
            kind: "metro".into(),
            istat_code: Some("015".into()),
            catasto_code: None,
            zona_omogenea: None,
            zona_code: None,
            bbox: metro_bbox,
            boundary: None,
            ipa_override: None,
            email: None,
        },
    );
    Ok(orgs)
}

/// (ISTAT code, zona omogenea, zona code) rows of the membership table.
fn membership() -> Result<Vec<(String, String, String)>, String> {
    let mut lines = MEMBERSHIP.lines();
    let header: Vec<&str> = lines
        .next()
        .ok_or("empty membership table")?
        .split(',')
        .collect();
    let col = |n: &str| {
        header
            .iter()
            .position(|h| *h == n)
            .ok_or(format!("no column {n}"))
    };
    let (ci, cz, cc) = (
        col("com_istat_code")?,
        col("zona_omogenea")?,
        col("zona_code")?,
    );
    Ok(lines
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let c: Vec<&str> = l.split(',').collect();
            let get = |i: usize| c.get(i).unwrap_or(&"").trim_matches('"').to_string();
            (get(ci), get(cz), get(cc))
        })
        .collect())
}

fn json_bbox(g: &Json) -> Option<[f64; 4]> {
    fn walk(v: &Json, acc: &mut Option<[f64; 4]>) {
        match v.as_array() {
            Some(a) if a.len() >= 2 && a[0].is_number() => {
                if let (Some(x), Some(y)) = (a[0].as_f64(), a[1].as_f64()) {
                    crate::geom::extend_bbox(acc, &[x, y, x, y]);
                }
            }
            Some(a) => a.iter().for_each(|x| walk(x, acc)),
            None => {}
        }
    }
    let mut acc = None;
    walk(&g["coordinates"], &mut acc);
    acc
}

#[cfg(test)]
mod tests {
    #[test]
    fn seeds_133_comuni_in_zones() {
        let orgs = super::organisations().unwrap();
        assert_eq!(orgs.len(), 134);
        let milano = orgs.iter().find(|o| o.id == "015146").unwrap();
        assert_eq!(milano.name, "Milano");
        assert_eq!(milano.zona_code.as_deref(), Some("MIL"));
        let zoned = orgs.iter().filter(|o| o.zona_omogenea.is_some()).count();
        assert_eq!(zoned, 133);
    }
}
