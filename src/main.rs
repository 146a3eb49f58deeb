//! The `containarium` binary: parse flags, dispatch. Everything else lives in
//! the library.

fn main() -> std::process::ExitCode {
    containarium::cli::main()
}
