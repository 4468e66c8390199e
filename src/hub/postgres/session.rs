//! The engine's two connections: one for statements (prepared once per connection,
//! reconnected when lost) and one that listens for the followed topics' notices.

use std::{
    future::Future,
    sync::{Arc, Mutex},
    time::Duration,
};

use futures_util::StreamExt;
use tokio::sync::mpsc;
use tokio_postgres::{AsyncMessage, Client, NoTls, Statement};

use crate::{
    BoxError,
    hub::remote::{AppendError, Notice},
};

use super::{
    ids::{position, topic_of_stored},
    schema::Sql,
};

/// A connection for statements, with the engine's statements prepared on it.
pub(super) struct Session {
    pub(super) client: Client,
    pub(super) append: Statement,
    pub(super) read: Statement,
    pub(super) head: Statement,
    pub(super) find: Statement,
}

/// Why a statement failed.
pub(super) enum Failure {
    /// No connection could be had: the statement was not sent.
    Connect(BoxError),
    /// The server refused it (an error reply): its transaction rolled back.
    Refused(BoxError),
    /// The connection broke or timed out with it: it may have run.
    Lost(BoxError),
}

impl Failure {
    pub(super) fn into_error(self) -> BoxError {
        match self {
            Self::Connect(err) | Self::Refused(err) | Self::Lost(err) => err,
        }
    }

    pub(super) fn into_append_error(self) -> AppendError {
        let sent = matches!(self, Self::Lost(_));
        AppendError::Failed {
            sent,
            err: self.into_error(),
        }
    }
}

/// The statement connection, made again when lost.
pub(super) struct Commands {
    config: tokio_postgres::Config,
    sql: Sql,
    timeout: Duration,
    session: tokio::sync::Mutex<Option<Arc<Session>>>,
    /// The schema's SQL, once [`create_schema`](Self::create_schema) ran it: run again
    /// by a new connection that finds the tables gone (the database came back empty).
    setup: Mutex<Option<String>>,
}

impl Commands {
    pub(super) fn new(config: tokio_postgres::Config, sql: Sql, timeout: Duration) -> Self {
        Self {
            config,
            sql,
            timeout,
            session: tokio::sync::Mutex::new(None),
            setup: Mutex::new(None),
        }
    }

    /// Runs `statement` on the session, within the command timeout; a connection that
    /// broke or timed out is given up, so the next statement connects anew.
    pub(super) async fn run<T, F, Fut>(&self, statement: F) -> Result<T, Failure>
    where
        F: FnOnce(Arc<Session>) -> Fut,
        Fut: Future<Output = Result<T, tokio_postgres::Error>>,
    {
        let session = self.session().await.map_err(Failure::Connect)?;
        match tokio::time::timeout(self.timeout, statement(session.clone())).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(err)) if err.as_db_error().is_some() => Err(Failure::Refused(err.into())),
            Ok(Err(err)) => {
                self.discard(&session).await;
                Err(Failure::Lost(err.into()))
            }
            Err(_) => {
                self.discard(&session).await;
                Err(Failure::Lost(
                    format!("no answer within {:?}", self.timeout).into(),
                ))
            }
        }
    }

    async fn session(&self) -> Result<Arc<Session>, BoxError> {
        let mut slot = self.session.lock().await;
        if let Some(session) = slot.as_ref().filter(|s| !s.client.is_closed()) {
            return Ok(session.clone());
        }
        let session = tokio::time::timeout(self.timeout, self.connect())
            .await
            .map_err(|_| format!("no connection within {:?}", self.timeout))??;
        let session = Arc::new(session);
        *slot = Some(session.clone());
        Ok(session)
    }

    async fn discard(&self, session: &Arc<Session>) {
        let mut slot = self.session.lock().await;
        if slot.as_ref().is_some_and(|s| Arc::ptr_eq(s, session)) {
            *slot = None;
        }
    }

    /// A new session; when the hub's tables or functions are missing, the schema is
    /// created again first.
    async fn connect(&self) -> Result<Session, BoxError> {
        let client = connect(&self.config).await?;
        if let Err(err) = client.prepare(&self.sql.append()).await {
            let setup = self.setup.lock().unwrap_or_else(|e| e.into_inner()).clone();
            match setup {
                Some(setup) if missing(&err) => {
                    tracing::warn!(
                        "the hub's tables are gone from the database: creating them again"
                    );
                    client.batch_execute(&setup).await?;
                }
                _ => return Err(err.into()),
            }
        }
        Ok(Session {
            append: client.prepare(&self.sql.append()).await?,
            read: client.prepare(&self.sql.read()).await?,
            head: client.prepare(&self.sql.head()).await?,
            find: client.prepare(&self.sql.find()).await?,
            client,
        })
    }

    /// Creates the schema, under the prefix's advisory lock; tries again when another
    /// instance's creation raced this one's (which the lock should prevent).
    pub(super) async fn create_schema(&self, setup: &str) -> Result<(), Failure> {
        let mut tries = 0;
        loop {
            let client = tokio::time::timeout(self.timeout, connect(&self.config))
                .await
                .map_err(|_| format!("no connection within {:?}", self.timeout).into())
                .and_then(|connected| connected)
                .map_err(Failure::Connect)?;
            match tokio::time::timeout(self.timeout * 4, client.batch_execute(setup)).await {
                Ok(Ok(())) => {
                    *self.setup.lock().unwrap_or_else(|e| e.into_inner()) = Some(setup.into());
                    return Ok(());
                }
                Ok(Err(err)) if tries < 5 && raced(&err) => {
                    tries += 1;
                    tracing::debug!(error = %err, "creating the hub's tables raced another instance; again");
                }
                Ok(Err(err)) => return Err(Failure::Refused(err.into())),
                Err(_) => {
                    return Err(Failure::Lost(
                        "creating the hub's tables took too long".into(),
                    ));
                }
            }
        }
    }
}

/// Whether an error is a table or function of the hub's missing.
fn missing(err: &tokio_postgres::Error) -> bool {
    use tokio_postgres::error::SqlState;
    err.code().is_some_and(|code| {
        [SqlState::UNDEFINED_TABLE, SqlState::UNDEFINED_FUNCTION].contains(code)
    })
}

/// Whether an error is two creations of one object at once.
fn raced(err: &tokio_postgres::Error) -> bool {
    use tokio_postgres::error::SqlState;
    err.code().is_some_and(|code| {
        [
            SqlState::UNIQUE_VIOLATION,
            SqlState::DUPLICATE_OBJECT,
            SqlState::DUPLICATE_TABLE,
        ]
        .contains(code)
            || code.code() == "XX000"
    })
}

/// A new connection, driven by a task of its own.
async fn connect(config: &tokio_postgres::Config) -> Result<Client, BoxError> {
    let (client, connection) = config.connect(NoTls).await?;
    tokio::spawn(async move {
        if let Err(err) = connection.await {
            tracing::debug!(error = %err, "a PostgreSQL connection of the hub ended");
        }
    });
    Ok(client)
}

/// The listening connection.
pub(super) struct Listener {
    config: tokio_postgres::Config,
    sql: Sql,
    timeout: Duration,
    client: Mutex<Option<Arc<Client>>>,
}

impl Listener {
    pub(super) fn new(config: tokio_postgres::Config, sql: Sql, timeout: Duration) -> Self {
        Self {
            config,
            sql,
            timeout,
            client: Mutex::new(None),
        }
    }

    /// Connects anew (the old connection closes), forwarding notifications to
    /// `notices` and, when it ends, [`Notice::Lost`] of `generation`.
    pub(super) async fn connect(
        &self,
        generation: u64,
        notices: mpsc::UnboundedSender<Notice>,
    ) -> Result<(), BoxError> {
        let connecting = self.config.connect(NoTls);
        let (client, mut connection) = tokio::time::timeout(self.timeout, connecting)
            .await
            .map_err(|_| format!("no connection within {:?}", self.timeout))??;
        tokio::spawn(async move {
            let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
            while let Some(message) = messages.next().await {
                match message {
                    Ok(AsyncMessage::Notification(notification)) => {
                        let Some(notice) = notice_of(notification.payload()) else {
                            continue;
                        };
                        if notices.send(notice).is_err() {
                            return;
                        }
                    }
                    Ok(_) => {}
                    Err(err) => {
                        tracing::debug!(error = %err, "the hub's listening connection broke");
                        break;
                    }
                }
            }
            let _ = notices.send(Notice::Lost { generation });
        });
        *self.client.lock().unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(client));
        Ok(())
    }

    fn client(&self) -> Result<Arc<Client>, BoxError> {
        let client = self
            .client
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        client.ok_or_else(|| "the listening connection is not open".into())
    }

    pub(super) async fn listen(&self, topic: &str, on: bool) -> Result<(), BoxError> {
        let client = self.client()?;
        let statement = if on {
            self.sql.listen()
        } else {
            self.sql.unlisten()
        };
        tokio::time::timeout(self.timeout, client.execute(&statement, &[&topic]))
            .await
            .map_err(|_| "no answer to LISTEN in time")??;
        Ok(())
    }

    pub(super) async fn ping(&self) -> Result<(), BoxError> {
        self.client()?.batch_execute("SELECT 1").await?;
        Ok(())
    }
}

/// The notice of a notification's payload: `<sequence>:<mark>:<topic as stored>`.
fn notice_of(payload: &str) -> Option<Notice> {
    let (sequence, rest) = payload.split_once(':')?;
    let (mark, topic) = rest.split_once(':')?;
    Some(Notice::Event {
        topic: topic_of_stored(topic)?.into(),
        position: position(sequence.parse().ok()?, mark.parse().ok()?),
        entry: None,
    })
}
