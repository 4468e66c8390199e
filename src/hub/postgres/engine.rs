//! The PostgreSQL engine under the [driver](crate::hub::remote): statements and the
//! listening connection.

use std::{str::FromStr, sync::Arc};

use bytes::Bytes;
use tokio::sync::mpsc;
use tokio_postgres::Row;

use crate::{
    BoxError,
    hub::{
        BoxFuture, History, IdScope, Position, SetupError,
        remote::{
            self, Append, AppendError, Appended, Entry, Found, Notice, Page, Paged, Profile,
            RemoteEngine,
        },
    },
};

use super::{
    config::PostgresConfig,
    ids::{IDS, position, stored_topic},
    schema::Sql,
    session::{Commands, Failure, Listener, Session},
};

/// The engine: its settings, and its two connections.
pub(super) struct Engine {
    profile: Profile,
    sql: Sql,
    commands: Commands,
    listener: Listener,
}

impl Engine {
    /// The engine of `config`, connected to nothing yet.
    pub(super) fn new(config: &PostgresConfig) -> Result<Self, SetupError> {
        let invalid = |reason: String| remote::invalid("postgres", reason);
        config.check().map_err(|err| invalid(err.to_string()))?;
        let mut settings = tokio_postgres::Config::from_str(&config.url).map_err(|err| {
            invalid(format!(
                "`{}` is not a PostgreSQL URL: {err}",
                crate::hub::backend::redacted(&config.url)
            ))
        })?;
        settings
            .connect_timeout(config.connect_timeout)
            .application_name("tower-sse hub");
        let sql = Sql::new(&config.prefix);
        let profile = Profile {
            name: "postgres",
            url: crate::hub::backend::redacted(&config.url),
            scope: IdScope::Topic,
            marks: IDS,
            heartbeat: config.heartbeat,
            page_size: config.read_batch,
        };
        Ok(Self {
            profile,
            commands: Commands::new(settings.clone(), sql.clone(), config.command_timeout),
            listener: Listener::new(settings, sql.clone(), config.command_timeout),
            sql,
        })
    }
}

fn seq(position: Position) -> i64 {
    i64::try_from(position.parts().0).unwrap_or(i64::MAX)
}

fn first_position(rows: &[Row]) -> Result<Option<Position>, tokio_postgres::Error> {
    match rows.first() {
        Some(row) => Ok(Some(position(row.try_get(0)?, row.try_get(1)?))),
        None => Ok(None),
    }
}

/// A page from the rows of the read statement.
fn page_of(rows: &[Row]) -> Result<Page, tokio_postgres::Error> {
    let mut page = Page {
        head: Position::START,
        entries: Vec::with_capacity(rows.len()),
        broken_at: None,
        unproven: false,
    };
    for row in rows {
        page.head = position(row.try_get(0)?, row.try_get(1)?);
        let Some(sequence) = row.try_get::<_, Option<i64>>(2)? else {
            continue;
        };
        let mark: i64 = row.try_get(3)?;
        let fields: &[u8] = row.try_get(6)?;
        page.entries.push(Entry {
            position: position(sequence, mark),
            previous: position(row.try_get(4)?, row.try_get(5)?),
            fields: Bytes::copy_from_slice(fields),
        });
    }
    Ok(page)
}

impl RemoteEngine for Engine {
    fn profile(&self) -> &Profile {
        &self.profile
    }

    fn setup(&mut self, history: History) -> BoxFuture<'_, Result<(), SetupError>> {
        Box::pin(async move {
            let what = "a byte bound on each topic's history";
            remote::refuse_byte_bound("postgres", history, what)?;
            match self.commands.create_schema(&self.sql.setup(history)).await {
                Ok(()) => Ok(()),
                Err(Failure::Connect(source)) => Err(self.profile.setup_error(false, source)),
                Err(Failure::Refused(source) | Failure::Lost(source)) => {
                    Err(self.profile.setup_error(true, source))
                }
            }
        })
    }

    fn orders_appends(&self) -> bool {
        true
    }

    fn append<'a>(&'a self, append: Append<'a>) -> Appended<'a> {
        Box::pin(async move {
            let stored = stored_topic(append.topic);
            let topic: &str = &stored;
            let run = |s: Arc<Session>| async move {
                let rows = s
                    .client
                    .query(&s.append, &[&topic, &append.fields, &append.token])
                    .await?;
                first_position(&rows)
            };
            match self.commands.run(run).await {
                Ok(Some(position)) => Ok(position),
                Ok(None) => Err(AppendError::Failed {
                    sent: false,
                    err: "the append function returned nothing".into(),
                }),
                Err(failure) => Err(failure.into_append_error()),
            }
        })
    }

    fn find<'a>(&'a self, topic: &'a str, token: &'a str) -> Found<'a> {
        Box::pin(async move {
            let stored = stored_topic(topic);
            let topic: &str = &stored;
            let run = |s: Arc<Session>| async move {
                first_position(&s.client.query(&s.find, &[&topic, &token]).await?)
            };
            self.commands.run(run).await.map_err(|f| f.into_error())
        })
    }

    fn head<'a>(&'a self, topic: &'a str) -> BoxFuture<'a, Result<Position, BoxError>> {
        Box::pin(async move {
            let stored = stored_topic(topic);
            let topic: &str = &stored;
            let run = |s: Arc<Session>| async move {
                first_position(&s.client.query(&s.head, &[&topic]).await?)
            };
            let head = self.commands.run(run).await.map_err(|f| f.into_error())?;
            Ok(head.unwrap_or(Position::START))
        })
    }

    fn read<'a>(&'a self, topic: &'a str, after: Position, limit: usize) -> Paged<'a> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        Box::pin(async move {
            let stored = stored_topic(topic);
            let topic: &str = &stored;
            let run = |s: Arc<Session>| async move {
                page_of(
                    &s.client
                        .query(&s.read, &[&topic, &seq(after), &limit])
                        .await?,
                )
            };
            self.commands.run(run).await.map_err(|f| f.into_error())
        })
    }

    fn connect_live(
        &self,
        generation: u64,
        notices: mpsc::UnboundedSender<Notice>,
    ) -> BoxFuture<'_, Result<(), BoxError>> {
        Box::pin(self.listener.connect(generation, notices))
    }

    fn open<'a>(&'a self, topic: &'a str) -> BoxFuture<'a, Result<(), BoxError>> {
        Box::pin(async move { self.listener.listen(&stored_topic(topic), true).await })
    }

    fn close<'a>(&'a self, topic: &'a str) -> BoxFuture<'a, Result<(), BoxError>> {
        Box::pin(async move { self.listener.listen(&stored_topic(topic), false).await })
    }

    fn ping(&self) -> BoxFuture<'_, Result<(), BoxError>> {
        Box::pin(self.listener.ping())
    }
}
