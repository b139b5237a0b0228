//! zhengqi's protobuf contracts: one package per service (`zhengqi.<service>.v1`)
//! and the shared types (`zhengqi.common.v1`), with tonic clients and servers.
#![forbid(unsafe_code)]
#![allow(clippy::large_enum_variant, clippy::doc_lazy_continuation)]

include!(concat!(env!("OUT_DIR"), "/_includes.rs"));

/// The encoded `FileDescriptorSet` of every contract and its imports, with
/// source info and the `google.api.http` annotations intact: for server
/// reflection and the gateway's JSON transcoding.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/zhengqi_descriptor.bin"));

/// Full names of the five services, as gRPC paths and health checks name them.
pub const SERVICE_NAMES: [&str; 5] = [
    "zhengqi.intake.v1.IntakeService",
    "zhengqi.routing.v1.CaseService",
    "zhengqi.policy.v1.PolicyService",
    "zhengqi.evaluation.v1.EvaluationService",
    "zhengqi.scoring.v1.ScoringService",
];
