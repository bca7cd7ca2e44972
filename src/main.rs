//! The `mcpwarden` binary: everything is in the library.

fn main() -> std::process::ExitCode {
    mcpwarden::cli::main()
}
