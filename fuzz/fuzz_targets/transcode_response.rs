//! Protobuf to HTTP/JSON: any bytes decoded as the output message of every
//! binding of the contracts. What decodes is written as JSON that parses
//! (or a download), never a panic.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use prost_reflect::{DescriptorPool, DynamicMessage};
use zhengqi_gateway::transcode::rules::{self, Binding};
use zhengqi_gateway::transcode::to_json;

static BINDINGS: LazyLock<Vec<Binding>> = LazyLock::new(|| {
    let pool = DescriptorPool::decode(zhengqi_proto::FILE_DESCRIPTOR_SET).expect("the contracts");
    rules::bindings(&pool).expect("the contracts' HTTP rules")
});

fuzz_target!(|input: (u16, &[u8])| {
    let (which, bytes) = input;
    let binding = &BINDINGS[usize::from(which) % BINDINGS.len()];
    let Ok(message) = DynamicMessage::decode(binding.method.output(), bytes) else {
        return;
    };
    if let Ok(json) = to_json(binding, &message) {
        serde_json::from_slice::<serde_json::Value>(&json).expect("the gateway writes JSON");
    }
});
