//! Compiles every `.proto` under `zhengqi/` with protox (pure Rust, no `protoc`).
//!
//! The descriptor set is written as protox encodes it: decoding it into
//! `prost_types::FileDescriptorSet` and encoding it again would drop the
//! `google.api.http` options that the gateway transcodes from.

use std::path::{Path, PathBuf};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?);
    let out = PathBuf::from(std::env::var("OUT_DIR")?);

    let mut files = Vec::new();
    collect_protos(&root.join("zhengqi"), &mut files)?;
    files.sort();
    println!("cargo:rerun-if-changed=zhengqi");
    println!("cargo:rerun-if-changed=google");
    for file in &files {
        println!("cargo:rerun-if-changed={}", file.display());
    }

    let mut compiler = protox::Compiler::new([&root])?;
    compiler.include_imports(true).include_source_info(true);
    for file in &files {
        compiler.open_file(file.strip_prefix(&root)?)?;
    }
    let encoded = compiler.encode_file_descriptor_set();
    std::fs::write(out.join("zhengqi_descriptor.bin"), &encoded)?;

    let descriptors = compiler.file_descriptor_set();
    let mut config = prost_build::Config::new();
    // `prost::Name` on every message: events carry their payload as `Any`.
    config.enable_type_names();
    tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        // Methods a service has not implemented yet answer UNIMPLEMENTED.
        .generate_default_stubs(true)
        // A request that does not decode is INVALID_ARGUMENT, not INTERNAL.
        .codec_path("crate::codec::Codec")
        .include_file("_includes.rs")
        .compile_fds_with_config(descriptors.clone(), config)?;
    std::fs::write(out.join("_events.rs"), event_envelopes(&descriptors))?;
    Ok(())
}

/// Rust for every log's envelope: a top-level `<Name>Event` message whose
/// fields are all in one oneof named `event`, each field one event message of
/// the same package. Generated from the contracts, so the envelope, the
/// messages that may be logged and the decoding by type name cannot drift.
fn event_envelopes(set: &prost_types::FileDescriptorSet) -> String {
    let mut code = String::new();
    for file in &set.file {
        let package = file.package();
        if !package.starts_with("zhengqi.") {
            continue;
        }
        let module = format!("crate::{}", package.replace('.', "::"));
        for message in &file.message_type {
            let name = message.name();
            let envelope = name.ends_with("Event")
                && message.oneof_decl.len() == 1
                && message.oneof_decl[0].name() == "event"
                && !message.field.is_empty()
                && message.field.iter().all(|f| f.oneof_index == Some(0));
            if !envelope {
                continue;
            }
            let oneof = format!("{module}::{}::Event", snake(name));
            let mut names = String::new();
            let mut encode = String::new();
            let mut decode = String::new();
            let mut logged = String::new();
            for field in &message.field {
                let type_name = field.type_name().trim_start_matches('.');
                let rust = format!(
                    "{module}::{}",
                    type_name.rsplit('.').next().unwrap_or(type_name)
                );
                let variant = camel(field.name());
                names.push_str(&format!(
                    "            {oneof}::{variant}(_) => <{rust} as ::prost::Name>::full_name(),\n"
                ));
                encode.push_str(&format!(
                    "            {oneof}::{variant}(m) => ::prost::Message::encode_to_vec(m),\n"
                ));
                decode.push_str(&format!(
                    "        if type_name == <{rust} as ::prost::Name>::full_name() {{\n            \
                     return <{rust} as ::prost::Message>::decode(payload).map(|m| Some({oneof}::{variant}(m)));\n        }}\n"
                ));
                logged.push_str(&format!(
                    "impl Logged for {rust} {{\n    type Envelope = {oneof};\n    \
                     fn into_envelope(self) -> {oneof} {{\n        {oneof}::{variant}(self)\n    }}\n}}\n\n"
                ));
            }
            code.push_str(&format!(
                "impl Envelope for {oneof} {{\n    \
                 fn type_name(&self) -> String {{\n        match self {{\n{names}        }}\n    }}\n\n    \
                 fn encode_payload(&self) -> Vec<u8> {{\n        match self {{\n{encode}        }}\n    }}\n\n    \
                 fn decode(type_name: &str, payload: &[u8]) -> Result<Option<Self>, ::prost::DecodeError> {{\n{decode}        Ok(None)\n    }}\n}}\n\n{logged}"
            ));
        }
    }
    code
}

/// `case_opened` → `CaseOpened`, as prost names a oneof's variants.
fn camel(field: &str) -> String {
    field
        .split('_')
        .map(|part| {
            let mut chars = part.chars();
            chars
                .next()
                .map(|first| first.to_ascii_uppercase().to_string() + chars.as_str())
                .unwrap_or_default()
        })
        .collect()
}

/// `RoutingEvent` → `routing_event`, as prost names a message's module.
fn snake(name: &str) -> String {
    let mut out = String::new();
    for (i, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

fn collect_protos(dir: &Path, files: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            collect_protos(&path, files)?;
        } else if path.extension().is_some_and(|ext| ext == "proto") {
            files.push(path);
        }
    }
    Ok(())
}
