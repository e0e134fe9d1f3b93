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
