//! Resource ids and list paging.
//!
//! Ids are ULIDs prefixed with the owning jurisdiction's code (`510821-01JD…`), so
//! any part, the gateway included, can tell from an id alone which deployment
//! owns the resource.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::error::{Error, Why};
use crate::fields::Problem;

/// A new id owned by `jurisdiction_code`.
pub fn new_id(jurisdiction_code: &str) -> String {
    format!("{jurisdiction_code}-{}", ulid::Ulid::generate())
}

/// The jurisdiction prefix of an id or acceptance number, when it has one.
pub fn jurisdiction_of(id: &str) -> Option<&str> {
    let (prefix, _) = id.split_once('-')?;
    (prefix.len() == 6 && prefix.bytes().all(|b| b.is_ascii_digit())).then_some(prefix)
}

/// Default and largest page of a List method (AIP-158).
pub const DEFAULT_PAGE_SIZE: i64 = 50;
pub const MAX_PAGE_SIZE: i64 = 500;

/// The page size to use for a request's `page_size`.
pub fn page_size(requested: i32) -> Result<i64, Error> {
    match requested {
        0 => Ok(DEFAULT_PAGE_SIZE),
        n if n < 0 => Err(Error::invalid("page_size", Problem::Negative)),
        n => Ok(i64::from(n).min(MAX_PAGE_SIZE)),
    }
}

/// An opaque keyset cursor: the sort key and id of the last item of a page,
/// bound to the query's filters so a token cannot be replayed on another query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageToken {
    pub sort_key: i64,
    pub id: String,
}

impl PageToken {
    pub fn encode(&self, filters: &str) -> String {
        URL_SAFE_NO_PAD.encode(format!(
            "{}|{}|{}",
            self.sort_key,
            self.id,
            fingerprint(filters)
        ))
    }

    /// `None` for an empty token (the first page).
    pub fn decode(token: &str, filters: &str) -> Result<Option<PageToken>, Error> {
        if token.is_empty() {
            return Ok(None);
        }
        let bad = || {
            Error::invalid(
                "page_token",
                Why::new(
                    "is not a token this list returned",
                    "翻页标记无效，请从第一页重新查询",
                ),
            )
        };
        let bytes = URL_SAFE_NO_PAD.decode(token).map_err(|_| bad())?;
        let text = String::from_utf8(bytes).map_err(|_| bad())?;
        let mut parts = text.splitn(3, '|');
        let sort_key = parts.next().and_then(|p| p.parse().ok()).ok_or_else(bad)?;
        // An id is text the store can compare; a forged control character
        // (PostgreSQL refuses NUL in text) is refused here instead.
        let id = parts
            .next()
            .filter(|id| !id.chars().any(char::is_control))
            .ok_or_else(bad)?
            .to_owned();
        let print = parts.next().ok_or_else(bad)?;
        if print != fingerprint(filters) {
            return Err(Error::invalid(
                "page_token",
                Why::new(
                    "belongs to a list with other filters; start again without it",
                    "翻页标记属于筛选条件不同的列表，请从第一页重新查询",
                ),
            ));
        }
        Ok(Some(PageToken { sort_key, id }))
    }
}

/// Splits the `limit + 1` items a list query fetched into the page to return
/// and the token of the next page (empty on the last page).
pub fn paginate<T>(
    mut items: Vec<T>,
    limit: i64,
    filters: &str,
    token_of: impl Fn(&T) -> PageToken,
) -> (Vec<T>, String) {
    let more = items.len() as i64 > limit;
    items.truncate(limit.max(0) as usize);
    let next_page_token = match (more, items.last()) {
        (true, Some(last)) => token_of(last).encode(filters),
        _ => String::new(),
    };
    (items, next_page_token)
}

fn fingerprint(filters: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(filters.as_bytes());
    digest[..6].iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_carry_their_jurisdiction() {
        let id = new_id("510821");
        assert_eq!(jurisdiction_of(&id), Some("510821"));
        assert_eq!(jurisdiction_of("510821-20261127-0007"), Some("510821"));
        assert_eq!(jurisdiction_of("nonsense"), None);
    }

    #[test]
    fn page_tokens_round_trip_and_refuse_other_filters() {
        let token = PageToken {
            sort_key: 42,
            id: "510821-01J".into(),
        };
        let text = token.encode("uscc=1");
        assert_eq!(PageToken::decode(&text, "uscc=1").unwrap(), Some(token));
        assert!(PageToken::decode(&text, "uscc=2").is_err());
        assert!(PageToken::decode("%%%", "").is_err());
        assert_eq!(PageToken::decode("", "").unwrap(), None);
        let forged = PageToken {
            sort_key: 1,
            id: "510821-\0".into(),
        };
        assert!(PageToken::decode(&forged.encode("f"), "f").is_err());
    }

    #[test]
    fn a_page_holds_limit_items_and_a_token_only_when_more_follow() {
        let token = |n: &i64| PageToken {
            sort_key: *n,
            id: n.to_string(),
        };
        let (page, next) = paginate(vec![1, 2, 3], 2, "f", token);
        assert_eq!(page, [1, 2]);
        assert_eq!(PageToken::decode(&next, "f").unwrap(), Some(token(&2)));
        let (page, next) = paginate(vec![1, 2], 2, "f", token);
        assert_eq!(page, [1, 2]);
        assert!(next.is_empty());
    }

    #[test]
    fn page_size_defaults_and_caps() {
        assert_eq!(page_size(0).unwrap(), DEFAULT_PAGE_SIZE);
        assert_eq!(page_size(10_000).unwrap(), MAX_PAGE_SIZE);
        assert!(page_size(-1).is_err());
    }
}
