//! The page-token parser: any token text against any filters. A token it
//! accepts encodes back to a token that decodes to the same cursor, and no
//! token is accepted for filters other than those it was made for.
#![no_main]

use libfuzzer_sys::fuzz_target;
use zhengqi_shared::ids::PageToken;

fuzz_target!(|input: &str| {
    let (token, filters) = input.split_once('\n').unwrap_or((input, ""));
    if let Ok(Some(cursor)) = PageToken::decode(token, filters) {
        let again = PageToken::decode(&cursor.encode(filters), filters)
            .expect("an encoded token decodes")
            .expect("and is not empty");
        assert_eq!(again, cursor);
        let other = format!("{filters}&other");
        assert!(PageToken::decode(&cursor.encode(filters), &other).is_err());
    }
});
