//! Compiles the project's etcd-compatible `.proto` files (see `proto/`) with tonic.
//!
//! Uses `$PROTOC` if set, else the protoc binary vendored as a build dependency, so a
//! fresh machine needs nothing but a Rust toolchain.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto");
    println!("cargo:rerun-if-env-changed=PROTOC");
    let mut config = tonic_prost_build::Config::new();
    if std::env::var_os("PROTOC").is_none() {
        config.protoc_executable(protoc_bin_vendored::protoc_bin_path()?);
    }
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_with_config(
            config,
            &[
                "proto/etcdserverpb/rpc.proto",
                "proto/etcdserverpb/raft_internal.proto",
                "proto/v3lockpb/v3lock.proto",
                "proto/v3electionpb/v3election.proto",
            ],
            &["proto"],
        )?;
    Ok(())
}
