//! Compiles the wire contract with protox, so building never needs `protoc`.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto = "proto/containarium/v1/backup.proto";
    println!("cargo:rerun-if-changed={proto}");
    let fds = protox::compile([proto], ["proto"])?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_fds(fds)?;
    Ok(())
}
