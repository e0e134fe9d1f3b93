//! The NetSapiens ns-api v2 side of the simulator (docs/netsapiens-wire.md): domains,
//! users keyed by extension, API keys and password-grant tokens, 202 writes readable
//! after a delay, behind the same fault guard as the Bandwidth side.

mod api;
pub mod config;
mod control;
mod state;

pub use config::{
    ApiKey, NsConfig, NsUser, PortalLogin, DOMAIN_KEY, READ_ONLY_KEY, SUPER_KEY, USER_SCOPES,
};
pub use state::{DomainState, NsSnapshot};

use crate::config::Faults;
use crate::faults;
use crate::Served;
use axum::middleware;
use state::NsShared;
use std::sync::Arc;

pub struct NsSimulator;

impl NsSimulator {
    /// Serves on the listener in a spawned task and returns at once.
    pub async fn start(
        config: NsConfig,
        listener: tokio::net::TcpListener,
    ) -> std::io::Result<NsSimHandle> {
        let shared = Arc::new(NsShared::new(config));
        let app = control::router(shared.clone()).merge(api::router(shared.clone()).layer(
            middleware::from_fn_with_state(shared.clone(), faults::count::<NsShared>),
        ));
        let served = Served::start(app, listener, "netsapiens")?;
        Ok(NsSimHandle { shared, served })
    }
}

/// Cheap to clone; every clone drives the same simulator.
#[derive(Clone)]
pub struct NsSimHandle {
    shared: Arc<NsShared>,
    served: Served,
}

impl NsSimHandle {
    /// `http://127.0.0.1:PORT`; the API is under `base_url() + "/ns-api/v2"`.
    pub fn base_url(&self) -> String {
        self.served.base_url()
    }

    /// The same data as `GET /_sim/state`.
    pub fn snapshot(&self) -> NsSnapshot {
        self.shared.snapshot()
    }

    pub fn set_faults(&self, faults: Faults) {
        self.shared.lock().gate.faults = faults;
    }

    /// A user that exists upstream before the bridge (readable at once).
    ///
    /// # Panics
    /// When the seed breaks upstream's invariants: a mistake in the test.
    pub fn seed_user(&self, user: NsUser) -> NsUser {
        match control::seed_user(&self.shared, user) {
            Ok(u) => u,
            Err(e) => panic!("netsapiens sim: invalid seed user: {}", e.description),
        }
    }

    /// Every access token becomes invalid at once (refresh tokens stay valid).
    pub fn expire_tokens(&self) {
        self.shared.lock().tokens.clear();
    }

    /// Stops accepting, lets in-flight requests finish, then ends the server task.
    pub fn shutdown(&self) {
        self.served.shutdown();
    }
}
