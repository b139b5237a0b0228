//! Verified tokens, remembered so a reused token skips the signature check.
//!
//! Like Envoy's jwt_authn cache: keyed by the token's SHA-256 (the token itself is
//! never stored), bounded, and a hit still has its `exp` and `nbf` checked by the
//! caller.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use super::principal::Principal;

pub(crate) type TokenDigest = [u8; 32];

#[derive(Clone)]
pub(crate) struct CachedToken {
    pub principal: Arc<Principal>,
    pub not_before: Option<i64>,
    /// The key epoch the token was verified under; a change of keys makes the entry
    /// stale.
    pub key_epoch: u64,
}

pub(crate) struct TokenCache {
    capacity: usize,
    entries: Mutex<HashMap<TokenDigest, CachedToken>>,
}

impl TokenCache {
    pub fn new(capacity: usize) -> Self {
        TokenCache {
            capacity,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// The entry for `digest` if it was verified under `key_epoch`.
    pub fn get(&self, digest: &TokenDigest, key_epoch: u64) -> Option<CachedToken> {
        self.lock()
            .get(digest)
            .filter(|entry| entry.key_epoch == key_epoch)
            .cloned()
    }

    /// Remembers a verified token. When full, entries that expired before
    /// `expired_before` go first, then arbitrary ones, down to 7/8 of the capacity so
    /// the sweep is paid once per many inserts.
    pub fn insert(&self, digest: TokenDigest, entry: CachedToken, expired_before: i64) {
        if self.capacity == 0 {
            return;
        }
        let mut entries = self.lock();
        if entries.len() >= self.capacity && !entries.contains_key(&digest) {
            entries.retain(|_, cached| cached.principal.expires_at >= expired_before);
            let target = self.capacity - self.capacity / 8 - 1;
            if entries.len() > target {
                let excess = entries.len() - target;
                let victims: Vec<TokenDigest> = entries.keys().take(excess).copied().collect();
                for victim in victims {
                    entries.remove(&victim);
                }
            }
        }
        entries.insert(digest, entry);
    }

    pub fn remove(&self, digest: &TokenDigest) {
        self.lock().remove(digest);
    }

    pub fn clear(&self) {
        self.lock().clear();
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<TokenDigest, CachedToken>> {
        // The map holds no invariant a panicking holder could break.
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(expires_at: i64) -> CachedToken {
        CachedToken {
            principal: Arc::new(Principal {
                sub: "u".to_owned(),
                roles: Vec::new(),
                jurisdiction: None,
                department: None,
                uscc: None,
                name: None,
                expires_at,
            }),
            not_before: None,
            key_epoch: 0,
        }
    }

    fn digest(n: u32) -> TokenDigest {
        let mut digest = [0; 32];
        digest[..4].copy_from_slice(&n.to_be_bytes());
        digest
    }

    #[test]
    fn a_full_cache_evicts_expired_entries_before_live_ones() {
        let cache = TokenCache::new(16);
        for n in 0..8 {
            cache.insert(digest(n), entry(100), 0);
        }
        for n in 8..16 {
            cache.insert(digest(n), entry(1_000), 0);
        }
        cache.insert(digest(99), entry(1_000), 500);
        assert_eq!(cache.len(), 9);
        assert!((8..16).all(|n| cache.get(&digest(n), 0).is_some()));
        assert!(cache.get(&digest(99), 0).is_some());
    }

    #[test]
    fn a_full_cache_of_live_entries_stays_within_its_capacity() {
        let cache = TokenCache::new(16);
        for n in 0..1_000 {
            cache.insert(digest(n), entry(1_000), 0);
            assert!(cache.len() <= 16);
        }
        assert!(cache.get(&digest(999), 0).is_some());
    }

    #[test]
    fn an_entry_from_an_earlier_key_epoch_is_not_a_hit() {
        let cache = TokenCache::new(16);
        cache.insert(digest(1), entry(1_000), 0);
        assert!(cache.get(&digest(1), 1).is_none());
    }
}
