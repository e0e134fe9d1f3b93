//! A `scim-bridge` process started by a test, and a free loopback port for it.
use std::process::Child;

/// Kills the bridge process (SIGKILL) when dropped, also when the test panics.
pub struct Bridge(pub Child);

impl Drop for Bridge {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap()
}

/// Runs `scim-bridge ARGS --config CONFIG` to its end (asynchronously: the simulator it
/// may call runs in the test's runtime).
pub async fn cli(args: &[&str], config: &std::path::Path) -> std::process::Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_scim-bridge"))
        .args(args)
        .arg("--config")
        .arg(config)
        .output()
        .await
        .unwrap()
}

/// [`cli`], which must succeed; returns its standard output.
pub async fn cli_ok(args: &[&str], config: &std::path::Path) -> String {
    let output = cli(args, config).await;
    assert!(
        output.status.success(),
        "scim-bridge {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}
