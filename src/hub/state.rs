//! [`State`]: what a hub's handles and subscriptions share.

use std::sync::{Arc, atomic::AtomicU64};

use super::{
    backend::{Backend, fanout::Fanout, flight::Flights},
    config::Config,
};

/// One hub: its engine, its local fan-out, its settings and its counters. Every
/// [`Hub`](super::Hub) clone and every [`Subscription`](super::Subscription) holds it.
pub(crate) struct State {
    pub(crate) backend: Arc<dyn Backend>,
    pub(crate) fanout: Arc<Fanout>,
    pub(crate) config: Config,
    /// History reads shared by subscribers that resume together.
    pub(crate) flights: Flights,
    pub(crate) published: AtomicU64,
    pub(crate) lag_disconnects: AtomicU64,
    pub(crate) lag_skips: AtomicU64,
    /// Numbers each subscription's watches, for the backend.
    pub(crate) next_watcher: AtomicU64,
}

impl State {
    pub(crate) fn new(backend: Arc<dyn Backend>, fanout: Arc<Fanout>, config: Config) -> Self {
        Self {
            backend,
            fanout,
            config,
            flights: Flights::default(),
            published: AtomicU64::new(0),
            lag_disconnects: AtomicU64::new(0),
            lag_skips: AtomicU64::new(0),
            next_watcher: AtomicU64::new(0),
        }
    }
}
