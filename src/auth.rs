//! API tokens and permissions. A token is shown once; the store keeps only its SHA-256, and
//! its public id (the first 12 hex digits of the hash) names it in lists, the audit log and
//! revocations. Roles: `editor` (writes its own organisation's layers and apps) and `admin`
//! (the same, and manages its organisation's tokens and reads its audit log; a metropolitan
//! admin does so for every organisation). Tokens may expire and may be revoked.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::model::METRO_ORG;
use crate::store::prelude::*;
use crate::store::{DynStore, NewToken, StoreError, TokenRecord};

pub const ROLES: &[&str] = &["editor", "admin"];

/// How long a token lookup is reused: a revocation is honoured by every process within it
/// (well inside the one second promised), at the cost of two lookups a second per token.
const TOKEN_CACHE: Duration = Duration::from_millis(500);
/// `last_used` is written at most this often per token and process.
const TOUCH_EVERY: Duration = Duration::from_secs(60);

/// A new secret token: `atl_` and 64 hex characters.
pub fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    format!("atl_{}", hex::encode(bytes))
}

pub fn hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// The public id of a token with this hash.
pub fn token_id(hash: &str) -> String {
    hash.chars().take(12).collect()
}

/// Parses a lifetime such as `90d`, `12h` or `30m` (at most ten years).
pub fn parse_lifetime(s: &str) -> Option<chrono::Duration> {
    let s = s.trim();
    let (n, unit) = s.split_at(s.len().checked_sub(1)?);
    let n: i64 = n.parse().ok().filter(|n| *n > 0)?;
    let d = match unit {
        "d" => chrono::Duration::try_days(n)?,
        "h" => chrono::Duration::try_hours(n)?,
        "m" => chrono::Duration::try_minutes(n)?,
        _ => return None,
    };
    (d <= chrono::Duration::days(3660)).then_some(d)
}

/// Creates and stores a token for `org`; returns the secret (which is not kept) and its
/// record.
pub async fn create_token(
    store: &(impl Store + ?Sized),
    org: &str,
    role: &str,
    label: &str,
    lifetime: Option<chrono::Duration>,
) -> Result<(String, TokenRecord), StoreError> {
    if !ROLES.contains(&role) {
        return Err(StoreError::Invalid(format!(
            "role must be editor or admin, not '{role}'"
        )));
    }
    if label.chars().count() > 200 || label.chars().any(char::is_control) {
        return Err(StoreError::Invalid(
            "label: at most 200 characters, no control characters".into(),
        ));
    }
    if store.org(org).await?.is_none() {
        return Err(StoreError::NotFound(format!("organisation {org}")));
    }
    let token = new_token();
    let h = hash(&token);
    let id = token_id(&h);
    let expires_at = lifetime.map(|d| {
        (chrono::Utc::now() + d)
            .format("%Y-%m-%dT%H:%M:%S%.3fZ")
            .to_string()
    });
    store
        .insert_token(&NewToken {
            hash: h.clone(),
            id: id.clone(),
            org: org.into(),
            role: role.into(),
            label: label.into(),
            expires_at,
        })
        .await?;
    let record = store
        .token(&h)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("token {id}")))?;
    Ok((token, record))
}

/// Who is calling, once a bearer token has been checked.
#[derive(Debug, Clone, PartialEq)]
pub struct Caller {
    /// The token's public id.
    pub token_id: String,
    pub org: String,
    pub role: String,
}

impl Caller {
    /// May this caller write what `org` owns?
    pub fn can_write(&self, org: &str) -> bool {
        self.org == org || self.is_metro_admin()
    }

    /// May this caller manage `org`'s tokens and read its audit log?
    pub fn can_admin(&self, org: &str) -> bool {
        (self.org == org && self.role == "admin") || self.is_metro_admin()
    }

    pub fn is_metro_admin(&self) -> bool {
        self.org == METRO_ORG && self.role == "admin"
    }
}

/// Why a presented token does not sign anyone in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denied {
    Unknown,
    Revoked,
    Expired,
}

impl Denied {
    pub fn message(self) -> &'static str {
        match self {
            Denied::Unknown => "a valid bearer token is required",
            Denied::Revoked => "this token was revoked",
            Denied::Expired => "this token has expired",
        }
    }
}

/// Resolves bearer tokens, with a half-second cache, and records their last use off the
/// request path.
pub struct Auth {
    store: DynStore,
    cache: Mutex<HashMap<String, (Instant, Option<TokenRecord>)>>,
    touched: Mutex<HashMap<String, Instant>>,
}

impl Auth {
    pub fn new(store: DynStore) -> Auth {
        Auth {
            store,
            cache: Mutex::new(HashMap::new()),
            touched: Mutex::new(HashMap::new()),
        }
    }

    /// The caller behind a token, or why there is none.
    pub async fn caller(&self, token: &str) -> Result<Result<Caller, Denied>, StoreError> {
        if !token.starts_with("atl_") || token.len() != 68 {
            return Ok(Err(Denied::Unknown));
        }
        let h = hash(token);
        let cached = self
            .cache
            .lock()
            .ok()
            .and_then(|c| c.get(&h).cloned())
            .filter(|(at, _)| at.elapsed() < TOKEN_CACHE)
            .map(|(_, r)| r);
        let record = match cached {
            Some(r) => r,
            None => {
                let r = self.store.token(&h).await?;
                if let Ok(mut c) = self.cache.lock() {
                    if c.len() > 10_000 {
                        c.retain(|_, (at, _)| at.elapsed() < TOKEN_CACHE);
                    }
                    c.insert(h, (Instant::now(), r.clone()));
                }
                r
            }
        };
        let Some(t) = record else {
            return Ok(Err(Denied::Unknown));
        };
        if t.revoked_at.is_some() {
            return Ok(Err(Denied::Revoked));
        }
        let now = chrono::Utc::now()
            .format("%Y-%m-%dT%H:%M:%S%.3fZ")
            .to_string();
        if t.expires_at.as_deref().is_some_and(|e| e <= now.as_str()) {
            return Ok(Err(Denied::Expired));
        }
        self.touch(&t.id);
        Ok(Ok(Caller {
            token_id: t.id,
            org: t.org,
            role: t.role,
        }))
    }

    /// Writes `last_used` at most once a minute per token, in the background.
    fn touch(&self, id: &str) {
        let due = self.touched.lock().is_ok_and(|mut t| {
            let due = t.get(id).is_none_or(|at| at.elapsed() >= TOUCH_EVERY);
            if due {
                t.insert(id.to_string(), Instant::now());
            }
            due
        });
        if due {
            let store = self.store.clone();
            let ids = vec![id.to_string()];
            tokio::spawn(async move {
                if let Err(e) = store.touch_tokens(&ids).await {
                    tracing::debug!(error = %e, "token last_used not written");
                }
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_and_rights() {
        let t = new_token();
        assert_eq!(t.len(), 68);
        assert_ne!(hash(&t), t);
        assert_eq!(token_id(&hash(&t)).len(), 12);
        let who = |org: &str, role: &str| Caller {
            token_id: "x".into(),
            org: org.into(),
            role: role.into(),
        };
        let editor = who("015146", "editor");
        assert!(editor.can_write("015146"));
        assert!(!editor.can_write("015002"));
        assert!(!editor.can_admin("015146"));
        assert!(who("015146", "admin").can_admin("015146"));
        assert!(!who("015146", "admin").can_admin("015002"));
        let metro = who("cmm", "admin");
        assert!(metro.can_write("015002") && metro.can_admin("015002"));
        assert!(!who("cmm", "editor").can_write("015002"));
    }

    #[test]
    fn lifetimes() {
        assert_eq!(parse_lifetime("90d"), Some(chrono::Duration::days(90)));
        assert_eq!(parse_lifetime("12h"), Some(chrono::Duration::hours(12)));
        for bad in ["", "d", "0d", "-1d", "5y", "99999d", "1.5d"] {
            assert_eq!(parse_lifetime(bad), None, "{bad}");
        }
    }
}
