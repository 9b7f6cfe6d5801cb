//! API tokens and permissions. A token is shown once; the store keeps only its SHA-256.
//! Roles: `editor` (writes its own organisation's layers and apps) and `admin` (the same,
//! and a metropolitan admin writes every organisation's).

use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::model::METRO_ORG;
use crate::store::{Store, StoreError, TokenRecord};

pub const ROLES: &[&str] = &["editor", "admin"];

/// A new secret token: `atl_` and 64 hex characters.
pub fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    format!("atl_{}", hex::encode(bytes))
}

pub fn hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Creates and stores a token for `org`; returns the secret, which is not kept.
pub async fn create_token(
    store: &dyn Store,
    org: &str,
    role: &str,
    label: &str,
) -> Result<String, StoreError> {
    if !ROLES.contains(&role) {
        return Err(StoreError::Conflict(format!(
            "role must be editor or admin, not '{role}'"
        )));
    }
    if store.org(org).await?.is_none() {
        return Err(StoreError::NotFound(format!("organisation {org}")));
    }
    let token = new_token();
    store.insert_token(&hash(&token), org, role, label).await?;
    Ok(token)
}

/// Who is calling, once a bearer token has been checked.
#[derive(Debug, Clone, PartialEq)]
pub struct Caller {
    pub org: String,
    pub role: String,
}

impl From<TokenRecord> for Caller {
    fn from(t: TokenRecord) -> Self {
        Caller {
            org: t.org,
            role: t.role,
        }
    }
}

impl Caller {
    /// May this caller write what `org` owns?
    pub fn can_write(&self, org: &str) -> bool {
        self.org == org || (self.org == METRO_ORG && self.role == "admin")
    }

    /// May this caller see a private layer of `org`?
    pub fn can_read_private(&self, org: &str) -> bool {
        self.can_write(org)
    }
}

/// The one visibility rule: public layers to everyone, private ones to their organisation
/// (and a metropolitan admin). Catalog, tiles, features and /api all ask this.
pub fn may_see(layer: &crate::model::Layer, who: Option<&Caller>) -> bool {
    layer.is_public() || who.is_some_and(|c| c.can_read_private(&layer.org))
}

/// Resolves a bearer token to its caller, or None for unknown tokens.
pub async fn caller(store: &dyn Store, token: &str) -> Result<Option<Caller>, StoreError> {
    if !token.starts_with("atl_") || token.len() != 68 {
        return Ok(None);
    }
    Ok(store.token(&hash(token)).await?.map(Caller::from))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_and_rights() {
        let t = new_token();
        assert_eq!(t.len(), 68);
        assert_ne!(hash(&t), t);
        let editor = Caller {
            org: "015146".into(),
            role: "editor".into(),
        };
        assert!(editor.can_write("015146"));
        assert!(!editor.can_write("015002"));
        let metro = Caller {
            org: "cmm".into(),
            role: "admin".into(),
        };
        assert!(metro.can_write("015002"));
        let metro_editor = Caller {
            org: "cmm".into(),
            role: "editor".into(),
        };
        assert!(!metro_editor.can_write("015002"));
    }
}
