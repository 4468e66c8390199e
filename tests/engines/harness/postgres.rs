//! PostgreSQL: one server of the test's own (`initdb` in a temporary directory, as
//! `nobody` when run as root), with a proxy in front of it.

use std::time::Duration;

use tower_sse::hub::{
    Hub,
    postgres::{Postgres as PostgresEngine, PostgresConfig},
};

use super::{Data, Engine, Fault, Settings, timeout};
use crate::{
    common::proxy::Proxy,
    postgres_servers::{PgServer, available},
};

/// The one place that builds a hub over PostgreSQL.
async fn build(url: String, settings: Settings) -> Hub {
    let config = PostgresConfig::new(url)
        .prefix("test_")
        .connect_timeout(Duration::from_millis(1000))
        .command_timeout(timeout(settings))
        .heartbeat(Duration::from_millis(500));
    super::build(PostgresEngine::new(config), settings).await
}

/// A PostgreSQL 15 server, a proxy in front of it, and the last dump of `app`.
pub struct Postgres {
    server: PgServer,
    proxy: Proxy,
    dump: Option<std::path::PathBuf>,
}

impl Engine for Postgres {
    const NAME: &'static str = "postgres";
    const CURSORS: bool = true;
    const RESTORED_IDS_RESUME: bool = true;
    const FAULTS: &'static [Fault] = Fault::ALL;

    async fn start() -> Option<Self> {
        if !available() {
            return None;
        }
        let server = PgServer::start().await;
        let proxy = Proxy::start("postgres", server.port).await;
        Some(Self {
            server,
            proxy,
            dump: None,
        })
    }

    async fn hub(&self, settings: Settings) -> Hub {
        let url = if settings.through_proxy {
            format!("{}/app", self.proxy.url()).replace("://", "://postgres@")
        } else {
            self.server.url()
        };
        build(url, settings).await
    }

    async fn kill(&mut self) {
        self.server.kill();
    }

    async fn restart(&mut self, data: Data) {
        match data {
            Data::Kept => {
                self.server.kill();
                self.server.restart().await;
            }
            Data::Lost => self.server.restart_empty().await,
        }
    }

    fn freeze(&self, frozen: bool) {
        self.server.signal(if frozen { "STOP" } else { "CONT" });
    }

    /// `pg_dump` of the database.
    async fn snapshot(&mut self) {
        self.dump = Some(self.server.dump());
    }

    /// The dump restored into a new database that replaces `app`, whose connections
    /// are ended (the server itself keeps running, as in a real restore).
    async fn restore(&mut self) {
        let dump = self.dump.as_ref().expect("a snapshot before the restore");
        self.server.restore(dump);
    }

    fn proxy(&self) -> &Proxy {
        &self.proxy
    }

    async fn followers(&self, topic: &str) -> usize {
        self.server.listening("test_", topic)
    }

    fn address(&self) -> String {
        format!("127.0.0.1:{}", self.server.port)
    }
}
