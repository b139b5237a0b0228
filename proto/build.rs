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
        .compile_fds_with_config(descriptors, config)?;
    Ok(())
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
