//! The gRPC frame reader the gateway follows request bodies with: any bytes,
//! cut into chunks anywhere. Where the cuts fall changes nothing: the same
//! message is too large, or none is, and the body ends between messages or not.
#![no_main]

use libfuzzer_sys::fuzz_target;
use zhengqi_gateway::limits::{FrameReader, first_message_length};

const LIMIT: usize = 1 << 12;

fn follow<'a>(chunks: impl Iterator<Item = &'a [u8]>) -> (Result<(), usize>, bool) {
    let mut reader = FrameReader::new(LIMIT);
    for chunk in chunks {
        if let Err(length) = reader.follow(chunk) {
            return (Err(length), false);
        }
    }
    (Ok(()), reader.at_message_boundary())
}

fuzz_target!(|input: (u8, &[u8])| {
    let (cut, body) = input;
    let whole = follow(std::iter::once(body));
    let cut = usize::from(cut).max(1);
    assert_eq!(follow(body.chunks(cut)), whole);
    assert_eq!(follow(body.chunks(1)), whole);
    if let (Some(length), Ok(())) = (first_message_length(body), whole.0) {
        assert!(length <= LIMIT);
    }
});
