//! API keys: `sk_test_…`/`sk_live_…` secrets shown once, stored as SHA-256 only, scoped,
//! revocable with effect on the very next request.

use super::model::{ApiKey, ApiKeyView, Environment, Scope};
use super::validate::check_text;
use super::{env_key, Esign, EsignError};
use crate::ids::IdKind;
use crate::store::{get_json, list_newest_first, put_json, Page};
use rand::distributions::{Alphanumeric, DistString};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use utoipa::ToSchema;

/// A key is its prefix plus at least this many base62 characters.
pub const KEY_MIN_RANDOM_CHARS: usize = 32;
/// How many random base62 characters new keys get (≈238 bits).
const KEY_RANDOM_CHARS: usize = 40;
/// `lastUsedAt` is written at most this often per key, so reads stay reads.
const LAST_USED_GRANULARITY_SECS: i64 = 60;

/// `POST /keys` body.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewKey {
    /// A label for people. Default `API key`.
    #[schema(
        max_length = 100,
        pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F\\u202A-\\u202E\\u2066-\\u2069]*$"
    )]
    pub name: Option<String>,
    /// `test` or `live`; default: the calling key's environment (the only one it may create in).
    pub environment: Option<Environment>,
    /// Default: all the calling key's scopes. Never more than the calling key has.
    #[schema(min_items = 1)]
    pub scopes: Option<Vec<Scope>>,
}

/// A newly created key: the only time its secret is shown.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreatedKey {
    #[serde(flatten)]
    pub key: ApiKeyView,
    /// The secret. Shown once; only its hash is kept.
    pub secret: String,
}

/// Why a request carries no usable key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthFailure {
    Missing,
    Malformed,
    Unknown,
    Revoked,
}

fn hash_secret(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

/// Extracts the key from an `Authorization` value: `Bearer <key>` or the bare key.
pub fn parse_authorization(value: &str) -> Result<(&str, Environment), AuthFailure> {
    let value = value.trim();
    if value.is_empty() {
        return Err(AuthFailure::Missing);
    }
    let key = match value.split_once(' ') {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("bearer") => rest.trim(),
        Some(_) => return Err(AuthFailure::Malformed),
        None => value,
    };
    let (environment, random) = if let Some(rest) = key.strip_prefix("sk_test_") {
        (Environment::Test, rest)
    } else if let Some(rest) = key.strip_prefix("sk_live_") {
        (Environment::Live, rest)
    } else {
        return Err(AuthFailure::Malformed);
    };
    if random.len() < KEY_MIN_RANDOM_CHARS || !random.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(AuthFailure::Malformed);
    }
    Ok((key, environment))
}

impl Esign {
    /// True once any key exists (the first start creates a bootstrap key otherwise).
    pub fn has_any_key(&self) -> Result<bool, EsignError> {
        Ok(!self.store.keys.is_empty()?)
    }

    /// Creates a key in `environment` with `scopes` (operator path: CLI and bootstrap).
    pub fn create_key(
        &self,
        environment: Environment,
        name: Option<&str>,
        scopes: &[Scope],
    ) -> Result<CreatedKey, EsignError> {
        let name = match name.map(str::trim) {
            Some(name) if !name.is_empty() => {
                check_text("name", name, 100, false)
                    .map_err(|issue| EsignError::Invalid(vec![issue]))?;
                name.to_string()
            }
            _ => "API key".to_string(),
        };
        let mut scopes_sorted: Vec<Scope> = Vec::new();
        for scope in Scope::ALL {
            if scopes.contains(&scope) {
                scopes_sorted.push(scope);
            }
        }
        if scopes_sorted.is_empty() {
            return Err(EsignError::invalid(
                "scopes",
                "a key needs at least one scope",
            ));
        }
        let prefix = match environment {
            Environment::Test => "sk_test_",
            Environment::Live => "sk_live_",
        };
        let random = Alphanumeric.sample_string(&mut rand::rngs::OsRng, KEY_RANDOM_CHARS);
        let secret = format!("{prefix}{random}");
        let hash = hash_secret(&secret);
        let key = ApiKey {
            id: self.ids.next(IdKind::ApiKey),
            name,
            environment,
            prefix: prefix.to_string(),
            last4: secret[secret.len() - 4..].to_string(),
            scopes: scopes_sorted,
            secret_sha256: hex::encode(hash),
            created_at: self.clock.now(),
            last_used_at: None,
            revoked_at: None,
        };
        let record = crate::store::encode(&key)?;
        let location = env_key(environment, &key.id);
        self.store.transaction(
            (&self.store.keys, &self.store.key_hashes),
            |(keys, hashes)| {
                keys.insert(location.as_slice(), record.as_slice())?;
                hashes.insert(&hash[..], location.as_slice())?;
                Ok(())
            },
        )?;
        Ok(CreatedKey {
            key: ApiKeyView::from(&key),
            secret,
        })
    }

    /// `POST /keys` on behalf of a caller: same environment only, never more scopes than it has.
    pub fn create_key_for(
        &self,
        caller: &ApiKey,
        request: &NewKey,
    ) -> Result<CreatedKey, EsignError> {
        let environment = request.environment.unwrap_or(caller.environment);
        if environment != caller.environment {
            return Err(EsignError::Forbidden {
                code: "environment_mismatch",
                message: format!(
                    "a {} key can only create {} keys",
                    caller.environment.as_str(),
                    caller.environment.as_str()
                ),
            });
        }
        let scopes = request
            .scopes
            .clone()
            .unwrap_or_else(|| caller.scopes.clone());
        if let Some(missing) = scopes.iter().find(|scope| !caller.scopes.contains(scope)) {
            return Err(EsignError::Forbidden {
                code: "insufficient_scope",
                message: format!(
                    "cannot grant {} : the calling key does not have it",
                    missing.as_str()
                ),
            });
        }
        self.create_key(environment, request.name.as_deref(), &scopes)
    }

    pub fn list_keys(
        &self,
        environment: Environment,
        page: u64,
        limit: u64,
    ) -> Result<Page<ApiKeyView>, EsignError> {
        let page: Page<ApiKey> = list_newest_first(
            &self.store.keys,
            &environment.prefix(IdKind::ApiKey.prefix()),
            page,
            limit,
            |_| true,
            false,
        )?;
        Ok(Page {
            items: page.items.iter().map(ApiKeyView::from).collect(),
            total: page.total,
        })
    }

    /// Revokes a key; it fails with 401 from its next request on. Revoking twice is harmless.
    pub fn revoke_key(&self, environment: Environment, id: &str) -> Result<ApiKeyView, EsignError> {
        let location = env_key(environment, id);
        let mut key: ApiKey =
            get_json(&self.store.keys, &location)?.ok_or_else(|| EsignError::NotFound {
                kind: "API key",
                id: id.to_string(),
            })?;
        if key.revoked_at.is_none() {
            key.revoked_at = Some(self.clock.now());
            put_json(&self.store.keys, &location, &key)?;
        }
        Ok(ApiKeyView::from(&key))
    }

    /// Finds the live key behind an `Authorization` header value.
    pub fn authenticate(&self, authorization: &str) -> Result<ApiKey, AuthFailure> {
        let (secret, _) = parse_authorization(authorization)?;
        let hash = hash_secret(secret);
        let location = self
            .store
            .key_hashes
            .get(hash)
            .map_err(|_| AuthFailure::Unknown)?
            .ok_or(AuthFailure::Unknown)?;
        let stored = self
            .store
            .keys
            .get(&location)
            .ok()
            .flatten()
            .ok_or(AuthFailure::Unknown)?;
        let mut key: ApiKey = self
            .decoded_keys
            .get_or_make(&location, &stored, crate::store::decode)
            .map_err(|_| AuthFailure::Unknown)?;
        let stored = hex::decode(&key.secret_sha256).map_err(|_| AuthFailure::Unknown)?;
        if !bool::from(stored.as_slice().ct_eq(&hash[..])) {
            return Err(AuthFailure::Unknown);
        }
        if key.revoked_at.is_some() {
            return Err(AuthFailure::Revoked);
        }
        let now = self.clock.now();
        let stale = key
            .last_used_at
            .is_none_or(|at| (now - at).num_seconds() >= LAST_USED_GRANULARITY_SECS);
        if stale {
            key.last_used_at = Some(now);
            // Best effort: a lost `lastUsedAt` update is not worth failing a request for.
            let _ = put_json(&self.store.keys, &location, &key);
        }
        Ok(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authorization_forms() {
        let key = format!("sk_test_{}", "a".repeat(32));
        assert_eq!(
            parse_authorization(&format!("Bearer {key}")).unwrap().0,
            key
        );
        assert_eq!(
            parse_authorization(&format!("bearer  {key} ")).unwrap().0,
            key
        );
        assert_eq!(parse_authorization(&key).unwrap().1, Environment::Test);
        assert_eq!(parse_authorization(""), Err(AuthFailure::Missing));
        assert_eq!(
            parse_authorization("Basic abc"),
            Err(AuthFailure::Malformed)
        );
        assert_eq!(
            parse_authorization("sk_test_short"),
            Err(AuthFailure::Malformed)
        );
        assert_eq!(
            parse_authorization(&format!("ck_live_{}", "a".repeat(32))),
            Err(AuthFailure::Malformed)
        );
        assert_eq!(
            parse_authorization(&format!("sk_live_{}!", "a".repeat(32))),
            Err(AuthFailure::Malformed)
        );
    }
}
