use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = scim_bridge::cli::Cli::parse();
    scim_bridge::cli::run(cli).await
}
