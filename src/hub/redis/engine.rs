//! The Redis engine under the [driver](crate::hub::remote): appends by script (it
//! orders them, and a token finds a retried one), reads of a page with the head and the
//! break record in one step, and sharded pub/sub as the live feed.

use std::time::Duration;

use redis::{ConnectionInfo, ErrorKind, RedisError, Value};
use tokio::sync::mpsc;

use super::{
    Keys, RedisConfig,
    commands::Commands,
    live::{Feeds, is_lost},
    scripts::{BREAK, FIND, IDS, PUBLISH, READ, page_of, text},
    topology::{self, Topology, addr_of},
};
use crate::{
    BoxError,
    hub::{
        BoxFuture, History, IdScope, Position, SetupError,
        backend::redacted,
        remote::{
            self, Append, AppendError, Appended, Found, Notice, Page, Paged, Profile, RemoteEngine,
        },
    },
};

/// The engine: the connections commands and publishes go through, and the live feed.
pub(super) struct Engine {
    profile: Profile,
    commands: Commands,
    /// On a cluster, a connection that never resends a command by itself (a resend
    /// would skip the token look-up); the driver retries, looking first.
    publishing: Commands,
    keys: Keys,
    max_len: usize,
    /// The age bound, in ms; `0` for none.
    max_age_ms: u64,
    /// How far back a retried publish looks for its token, in ms.
    window_ms: u64,
    feeds: Feeds,
}

impl Engine {
    /// Connects to Redis (checking it answers, runs the scripts, and is a cluster if
    /// asked to be one).
    pub(super) async fn connect(config: RedisConfig, history: History) -> Result<Self, SetupError> {
        remote::refuse_byte_bound("redis", history, "a byte bound on each topic's history")?;
        let seeds = config.seeds()?;
        let profile = Profile {
            name: "redis",
            url: redacted(&config.nodes[0]),
            scope: IdScope::Topic,
            marks: IDS,
            heartbeat: config.timing.heartbeat,
            page_size: config.read_batch,
        };
        let setup = |err: RedisError| {
            let reached = !(err.is_io_error() || err.is_timeout() || err.is_connection_refusal());
            profile.setup_error(reached, err)
        };
        let (commands, publishing, topology) =
            connect_commands(&config, &seeds).await.map_err(setup)?;
        load_scripts(&commands).await.map_err(setup)?;
        let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        let window =
            (config.timing.command.saturating_mul(2)).saturating_add(Duration::from_secs(1));
        let keys = Keys::new(&config.prefix);
        let feeds = Feeds::new(&config, seeds[0].clone(), topology);
        Ok(Self {
            profile,
            commands,
            publishing,
            keys,
            max_len: history.event_limit().max(1),
            max_age_ms: history.age_limit().map_or(0, ms),
            window_ms: ms(window),
            feeds,
        })
    }
}

/// The connections commands and publishes go through, and which node serves which
/// topic.
async fn connect_commands(
    config: &RedisConfig,
    seeds: &[ConnectionInfo],
) -> Result<(Commands, Commands, Topology), RedisError> {
    let (connect, command) = (config.timing.connect, config.timing.command);
    if config.cluster {
        let mut commands = Commands::cluster(seeds.to_vec(), connect, command, 3).await?;
        let publishing = Commands::cluster(seeds.to_vec(), connect, command, 0).await?;
        let topology = topology::refresh(&mut commands, &seeds[0]).await?;
        return Ok((commands, publishing, topology));
    }
    // redis-rs's manager never resends a command by itself: one connection serves both.
    let commands = Commands::single(seeds[0].clone(), connect, command).await?;
    let topology = Topology::single(addr_of(&seeds[0]));
    Ok((commands.clone(), commands, topology))
}

/// Loads the scripts (on every master), so that a publish is one `EVALSHA`, and checks
/// that the server runs them (Redis 7: sharded pub/sub, `XINFO STREAM`'s fields).
async fn load_scripts(commands: &Commands) -> Result<(), RedisError> {
    let mut probe = commands.clone();
    for script in [&PUBLISH, &FIND, &READ, &BREAK] {
        script.prepare_invoke().load_async(&mut probe).await?;
    }
    read(
        &mut probe,
        &Keys::new("tower-sse:probe:"),
        "probe",
        Position::START,
        0,
    )
    .await?;
    Ok(())
}

/// Runs [`READ`] on `topic` after `after`, reading up to `count` entries.
async fn read(
    conn: &mut Commands,
    keys: &Keys,
    topic: &str,
    after: Position,
    count: usize,
) -> Result<Page, RedisError> {
    let reply: Value = READ
        .key(keys.stream(topic))
        .key(keys.breaks(topic))
        .arg(IDS.id_of(after))
        .arg(count)
        .invoke_async(conn)
        .await?;
    page_of(reply).ok_or_else(|| {
        RedisError::from((
            ErrorKind::TypeError,
            "unexpected reply to the history read (is this Redis 7.0 or newer?)",
        ))
    })
}

impl RemoteEngine for Engine {
    fn profile(&self) -> &Profile {
        &self.profile
    }

    fn orders_appends(&self) -> bool {
        true
    }

    fn locate(&self, id: &str) -> Option<Position> {
        // Redis never gives the greatest id, and cannot read after it.
        IDS.parse(id).filter(|&position| position != Position::END)
    }

    fn append<'a>(&'a self, append: Append<'a>) -> Appended<'a> {
        Box::pin(async move {
            let appended: Result<String, RedisError> = PUBLISH
                .key(self.keys.stream(append.topic))
                .arg(self.keys.channel(append.topic))
                .arg(append.fields)
                .arg(append.token)
                .arg(self.max_len)
                .arg(self.max_age_ms)
                .invoke_async(&mut self.publishing.clone())
                .await;
            let failed = |err: RedisError| AppendError::Failed {
                // A command written to a connection that broke or timed out may have
                // been stored; a refused connection never sent it.
                sent: is_lost(&err) && !err.is_connection_refusal(),
                err: err.into(),
            };
            let id = appended.map_err(failed)?;
            IDS.parse(&id).ok_or_else(|| AppendError::Failed {
                sent: true,
                err: format!("Redis gave the id `{id}`, not a stream id").into(),
            })
        })
    }

    fn find<'a>(&'a self, topic: &'a str, token: &'a str) -> Found<'a> {
        Box::pin(async move {
            let found: Value = FIND
                .key(self.keys.stream(topic))
                .arg(token)
                .arg(self.window_ms)
                .invoke_async(&mut self.commands.clone())
                .await?;
            Ok(text(&found).and_then(|id| IDS.parse(&id)))
        })
    }

    fn read<'a>(&'a self, topic: &'a str, after: Position, limit: usize) -> Paged<'a> {
        Box::pin(async move {
            let mut conn = self.commands.clone();
            Ok(read(&mut conn, &self.keys, topic, after, limit).await?)
        })
    }

    fn connect_live(
        &self,
        generation: u64,
        notices: mpsc::UnboundedSender<Notice>,
    ) -> BoxFuture<'_, Result<(), BoxError>> {
        Box::pin(self.feeds.connect(&self.commands, generation, notices))
    }

    fn open<'a>(&'a self, topic: &'a str) -> BoxFuture<'a, Result<(), BoxError>> {
        Box::pin(self.feeds.open(&self.commands, topic))
    }

    fn close<'a>(&'a self, topic: &'a str) -> BoxFuture<'a, Result<(), BoxError>> {
        Box::pin(self.feeds.close(topic))
    }

    /// Pings each node in the background: a silent one drops its topics itself.
    fn ping(&self) -> BoxFuture<'_, Result<(), BoxError>> {
        self.feeds.ping();
        Box::pin(async { Ok(()) })
    }

    /// Keeps the greater of the old and the new break, for the age bound (or for good).
    fn record_break<'a>(
        &'a self,
        topic: &'a str,
        through: Position,
    ) -> BoxFuture<'a, Result<(), BoxError>> {
        Box::pin(async move {
            BREAK
                .key(self.keys.breaks(topic))
                .arg(IDS.id_of(through))
                .arg(self.max_age_ms)
                .invoke_async::<i64>(&mut self.commands.clone())
                .await?;
            Ok(())
        })
    }
}
