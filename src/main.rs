//! The `mcpwarden` binary: everything is in the library.

/// mimalloc instead of the C library's allocator: classifying, crawling and reporting
/// allocate and free many small strings, often on different threads, where glibc's
/// malloc showed up as ~40 % of a classify profile.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    mcpwarden::cli::main()
}
