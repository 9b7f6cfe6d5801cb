//! Styles the server proposes from a layer's data, so that no client picks colours or class
//! breaks of its own: categorized (the most frequent values of a field, each with a colour
//! of `categories` in `styles/defaults.json`, the rest "other") and graduated (class breaks
//! at quantiles of a numeric field, or the breaks the owner typed, coloured along `ramp`).

use std::collections::HashMap;

use serde::Deserialize;
use serde_json::{json, Value as Json};

use super::{bad, defaults, validate, Category, Look, StyleDoc, StyleError, Symbology};
use crate::model::{FieldType, Layer, Value};

/// The most categories a proposal has; the rest of the values are "other".
pub const MAX_CATEGORIES: usize = 12;

/// What the owner chose: the kind, the field, and for graduated styles optionally the
/// number of classes or the breaks themselves.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Draft {
    pub kind: String,
    #[serde(default)]
    pub field: Option<String>,
    #[serde(default)]
    pub color: Option<String>,
    #[serde(default)]
    pub classes: Option<usize>,
    /// Comma-separated class breaks, as typed.
    #[serde(default)]
    pub breaks: Option<String>,
}

fn colours(key: &str) -> Vec<String> {
    defaults()[key]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(Json::as_str)
                .map(String::from)
                .collect()
        })
        .unwrap_or_default()
}

/// A style document for `layer` from `draft` and the values of the draft's field in every
/// feature (`values`; empty for a single colour). The result passes [`validate`].
pub fn propose(layer: &Layer, draft: &Draft, values: &[Value]) -> Result<StyleDoc, StyleError> {
    let field = || {
        let name = draft
            .field
            .as_deref()
            .ok_or_else(|| StyleError(format!("a {} style needs a field", draft.kind)))?;
        layer
            .fields
            .iter()
            .find(|f| f.name == name)
            .ok_or_else(|| StyleError(format!("unknown field '{name}' for layer {}", layer.id)))
    };
    let symbology = match draft.kind.as_str() {
        "single" => Symbology::Single {
            color: draft
                .color
                .clone()
                .unwrap_or_else(|| super::default_color(&layer.id)),
            look: Look::default(),
        },
        "categorized" => Symbology::Categorized {
            field: field()?.name.clone(),
            categories: categories(values)?,
            other: defaults()["other"].as_str().unwrap_or("#9e9e9e").into(),
            look: Look::default(),
        },
        "graduated" => {
            let f = field()?;
            if !matches!(f.kind, FieldType::Integer | FieldType::Real) {
                return bad(format!(
                    "graduated styling needs a numeric field, '{}' is not",
                    f.name
                ));
            }
            let breaks = match draft.breaks.as_deref().filter(|b| !b.trim().is_empty()) {
                Some(typed) => parse_breaks(typed)?,
                None => quantile_breaks(values, draft.classes.unwrap_or(5).clamp(2, 8)),
            };
            if breaks.is_empty() {
                return bad(format!(
                    "'{}' has fewer than two distinct values: use a single colour",
                    f.name
                ));
            }
            Symbology::Graduated {
                field: f.name.clone(),
                colors: spread(&colours("ramp"), breaks.len() + 1),
                breaks,
                look: Look::default(),
            }
        }
        other => {
            return bad(format!(
                "kind must be single, categorized or graduated, not '{}'",
                other.chars().take(20).collect::<String>()
            ))
        }
    };
    let doc = StyleDoc {
        symbology: Some(symbology),
        layers: None,
        label: None,
    };
    validate(layer, &doc)?;
    Ok(doc)
}

/// The most frequent values (ties by value), each with the next colour.
fn categories(values: &[Value]) -> Result<Vec<Category>, StyleError> {
    let mut counts: HashMap<String, (Json, usize)> = HashMap::new();
    for v in values {
        let j = match v {
            Value::Null => continue,
            Value::Integer(i) => json!(i),
            Value::Real(f) if f.is_finite() => json!(f),
            Value::Real(_) => continue,
            Value::Boolean(b) => json!(b),
            Value::Text(s) | Value::Date(s) | Value::Datetime(s) if !s.is_empty() => json!(s),
            _ => continue,
        };
        counts.entry(j.to_string()).or_insert((j, 0)).1 += 1;
    }
    if counts.is_empty() {
        return bad("the field has no values to categorize");
    }
    let mut ranked: Vec<(String, Json, usize)> =
        counts.into_iter().map(|(k, (j, n))| (k, j, n)).collect();
    ranked.sort_by(|a, b| b.2.cmp(&a.2).then_with(|| a.0.cmp(&b.0)));
    let palette = colours("categories");
    Ok(ranked
        .into_iter()
        .take(MAX_CATEGORIES.min(palette.len()))
        .zip(palette)
        .map(|((_, value, _), color)| Category {
            value,
            color,
            label: None,
        })
        .collect())
}

fn parse_breaks(typed: &str) -> Result<Vec<f64>, StyleError> {
    typed
        .split(',')
        .map(|b| {
            b.trim().parse::<f64>().map_err(|_| {
                StyleError(format!(
                    "'{}' is not a number: class breaks are numbers separated by commas",
                    b.trim().chars().take(20).collect::<String>()
                ))
            })
        })
        .collect()
}

/// Breaks at the quantiles of the numeric values for `classes` classes, without repeats.
fn quantile_breaks(values: &[Value], classes: usize) -> Vec<f64> {
    let mut v: Vec<f64> = values
        .iter()
        .filter_map(|v| match v {
            Value::Integer(i) => Some(*i as f64),
            Value::Real(f) if f.is_finite() => Some(*f),
            _ => None,
        })
        .collect();
    v.sort_by(f64::total_cmp);
    let mut breaks: Vec<f64> = Vec::new();
    if v.is_empty() {
        return breaks;
    }
    for i in 1..classes {
        let b = v[(v.len() * i / classes).min(v.len() - 1)];
        // A break at the minimum would make an empty first class.
        if b > v[0] && breaks.last().is_none_or(|&last| b > last) {
            breaks.push(b);
        }
    }
    breaks
}

/// `n` colours taken evenly along `ramp`, first and last included.
fn spread(ramp: &[String], n: usize) -> Vec<String> {
    if ramp.is_empty() {
        return vec!["#1f77b4".into(); n];
    }
    (0..n)
        .map(|i| {
            let at = if n == 1 {
                0
            } else {
                i * (ramp.len() - 1) / (n - 1)
            };
            ramp[at].clone()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_skip_repeats_and_the_minimum() {
        let v: Vec<Value> = [1, 1, 1, 1, 2, 3, 4, 5, 6, 7]
            .iter()
            .map(|&i| Value::Integer(i))
            .collect();
        // Ten values, five classes: cuts at the 2nd, 4th, 6th and 8th (the first is the minimum).
        assert_eq!(quantile_breaks(&v, 5), vec![2.0, 4.0, 6.0]);
        assert!(quantile_breaks(&[Value::Integer(4), Value::Integer(4)], 5).is_empty());
    }

    #[test]
    fn categories_by_frequency() {
        let v: Vec<Value> = ["b", "a", "b", "c", "a", "b"]
            .iter()
            .map(|s| Value::Text(s.to_string()))
            .chain([Value::Null])
            .collect();
        let c = categories(&v).unwrap();
        let order: Vec<&Json> = c.iter().map(|c| &c.value).collect();
        assert_eq!(order, [&json!("b"), &json!("a"), &json!("c")]);
        assert_ne!(c[0].color, c[1].color);
    }

    #[test]
    fn spread_keeps_the_ends() {
        let ramp: Vec<String> = (0..8).map(|i| i.to_string()).collect();
        assert_eq!(spread(&ramp, 3), ["0", "3", "7"]);
        assert_eq!(spread(&ramp, 8), ramp);
    }
}
