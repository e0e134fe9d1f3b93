//! In-memory stand-ins for the upstream user APIs the bridge provisions: Bandwidth, in
//! either of its two dialects (`docs/bandwidth-wire.md`), and NetSapiens ns-api v2
//! (`docs/netsapiens-wire.md`, module [`ns`]), so the bridge's clients can be tested
//! against the documented wire contracts rather than against their own assumptions.

mod auth;
mod bulk;
mod config;
mod conn;
mod control;
mod dashboard;
mod directory;
mod faults;
pub mod ns;
mod state;
mod v1;
mod xml;

pub use config::{BulkSeed, Dialect, Faults, SeedUser, SimConfig, UserEdit};
pub use state::{SimSnapshot, SimStats, SnapshotUser};

use axum::{middleware, Router};
use conn::{ConnKill, KillableListener};
use state::Shared;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::sync::watch;

pub struct Simulator;

impl Simulator {
    /// Serves on the listener in a spawned task and returns at once.
    pub async fn start(
        config: SimConfig,
        listener: tokio::net::TcpListener,
    ) -> std::io::Result<SimHandle> {
        let dialect = config.dialect;
        let shared = Arc::new(Shared::new(config));
        let api = match dialect {
            Dialect::V1 => v1::router(shared.clone()),
            Dialect::Dashboard => dashboard::router(shared.clone()),
        }
        .layer(middleware::from_fn_with_state(
            shared.clone(),
            faults::count::<Shared>,
        ));
        let app = control::router(shared.clone()).merge(api);
        let served = Served::start(app, listener, "bandwidth")?;
        tracing::info!(?dialect, "bandwidth dialect");
        Ok(SimHandle { shared, served })
    }
}

/// A running server of either system: its address and its stop switch.
#[derive(Clone)]
pub(crate) struct Served {
    addr: SocketAddr,
    stop: Arc<watch::Sender<bool>>,
}

impl Served {
    pub(crate) fn start(
        app: Router,
        listener: tokio::net::TcpListener,
        system: &'static str,
    ) -> std::io::Result<Served> {
        let addr = listener.local_addr()?;
        let (stop_tx, mut stop_rx) = watch::channel(false);
        let make_service = app.into_make_service_with_connect_info::<ConnKill>();
        tokio::spawn(async move {
            let served = axum::serve(KillableListener(listener), make_service)
                .with_graceful_shutdown(async move {
                    let _ = stop_rx.wait_for(|stop| *stop).await;
                })
                .await;
            if let Err(e) = served {
                tracing::error!("{system} simulator stopped: {e}");
            }
        });
        tracing::info!(%addr, system, "simulator serving");
        Ok(Served {
            addr,
            stop: Arc::new(stop_tx),
        })
    }

    pub(crate) fn base_url(&self) -> String {
        let mut addr = self.addr;
        if addr.ip().is_unspecified() {
            addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
        }
        format!("http://{addr}")
    }

    pub(crate) fn shutdown(&self) {
        self.stop.send_replace(true);
    }
}

/// Cheap to clone; every clone drives the same simulator.
#[derive(Clone)]
pub struct SimHandle {
    shared: Arc<Shared>,
    served: Served,
}

impl SimHandle {
    /// `http://127.0.0.1:PORT`; the dashboard dialect's API is under `base_url() + "/api"`.
    pub fn base_url(&self) -> String {
        self.served.base_url()
    }

    /// The same data as `GET /_sim/state`.
    pub fn snapshot(&self) -> SimSnapshot {
        self.shared.snapshot()
    }

    pub fn set_faults(&self, faults: Faults) {
        control::set_faults(&self.shared, faults);
    }

    /// A user that exists upstream before the bridge; returns its userId.
    ///
    /// # Panics
    /// When the seed breaks upstream's invariants (see [`SimHandle::try_seed_user`]): that is a
    /// mistake in the test, not a condition to handle.
    pub fn seed_user(&self, user: SeedUser) -> String {
        match self.try_seed_user(user) {
            Ok(id) => id,
            Err(e) => panic!("bandwidth-sim: invalid seed user: {e}"),
        }
    }

    /// Fails on an empty username or email, a taken username or email, an unknown role name
    /// or account id, or a scope other than ACCOUNT / ACCOUNT_ADMIN.
    pub fn try_seed_user(&self, user: SeedUser) -> Result<String, String> {
        control::seed_user(&self.shared, user).map_err(|e| e.description)
    }

    /// Copies of a user the simulator holds, with chosen ids ([`BulkSeed`]); returns how
    /// many were made. Fails as `POST /_sim/users/bulk` refuses.
    pub fn try_seed_bulk(&self, seed: &BulkSeed) -> Result<u64, String> {
        bulk::seed_bulk(&self.shared, seed).map_err(|e| e.description)
    }

    /// Changes a user behind the bridge's back; false if the user is unknown.
    ///
    /// # Panics
    /// When the edit names an unknown role or account, an invalid scope, or takes another
    /// user's email: a mistake in the test.
    pub fn edit_user(&self, user_id: &str, edit: UserEdit) -> bool {
        match control::edit_user(&self.shared, user_id, edit) {
            Ok(_) => true,
            Err(e) if e.status == 404 => false,
            Err(e) => panic!("bandwidth-sim: invalid user edit: {}", e.description),
        }
    }

    pub fn remove_user(&self, user_id: &str) -> bool {
        control::remove_user(&self.shared, user_id)
    }

    /// Every issued token becomes invalid at once, to exercise a client's refresh-on-401.
    pub fn expire_tokens(&self) {
        control::expire_tokens(&self.shared);
    }

    /// Stops accepting, lets in-flight requests finish, then ends the server task.
    pub fn shutdown(&self) {
        self.served.shutdown();
    }
}
