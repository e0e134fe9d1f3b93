use clap::Parser;

/// mimalloc rather than the system allocator: a SCIM read allocates a few hundred small
/// objects (the JSON tree, headers, log fields) on one runtime thread and frees many of
/// them on another; glibc's malloc and free were about a third of the instructions of
/// a lookup (measured with callgrind) and contend across the runtime's threads.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = scim_bridge::cli::Cli::parse();
    scim_bridge::cli::run(cli).await
}
