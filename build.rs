//! Compiles the project's etcd-compatible `.proto` files (see `proto/`) with tonic.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto");
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_protos(
            &[
                "proto/etcdserverpb/rpc.proto",
                "proto/etcdserverpb/raft_internal.proto",
            ],
            &["proto"],
        )?;
    Ok(())
}
