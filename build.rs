//! Compiles the wire contract with protox (so building never needs `protoc`),
//! generates the tonic client/server, and the proto3-JSON serde impls (pbjson)
//! that the REST surface speaks.

use prost::Message;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto = "proto/containarium/v1/backup.proto";
    println!("cargo:rerun-if-changed={proto}");
    let fds = protox::compile([proto], ["proto"])?;
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR")?);
    let descriptors = fds.encode_to_vec();
    std::fs::write(out.join("descriptors.bin"), &descriptors)?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_fds(fds)?;
    pbjson_build::Builder::new()
        .register_descriptors(&descriptors)?
        .emit_fields()
        // A newer daemon's extra fields must not break an older client; the
        // REST server rejects unknown input itself (src/rest/json.rs).
        .ignore_unknown_fields()
        .build(&[".containarium.v1"])?;
    Ok(())
}
