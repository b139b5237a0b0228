//! HTTP/JSON to protobuf: any path, query and body against every binding of
//! the contracts. A request either builds a message of the method's input type
//! or is refused with INVALID_ARGUMENT; it never panics.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use prost_reflect::{DescriptorPool, ReflectMessage};
use zhengqi_gateway::transcode::request;
use zhengqi_gateway::transcode::rules::{self, Binding};

static BINDINGS: LazyLock<Vec<Binding>> = LazyLock::new(|| {
    let pool = DescriptorPool::decode(zhengqi_proto::FILE_DESCRIPTOR_SET).expect("the contracts");
    rules::bindings(&pool).expect("the contracts' HTTP rules")
});

fuzz_target!(|input: (u16, &str, &str, &[u8])| {
    let (which, path, query, body) = input;
    let binding = &BINDINGS[usize::from(which) % BINDINGS.len()];
    let values = binding.template.matches(path).unwrap_or_default();
    match request::build(binding, values, Some(query), body) {
        Ok(message) => assert_eq!(message.descriptor(), binding.method.input()),
        Err(error) => {
            let status = tonic::Status::from(error);
            assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
        }
    }
});
