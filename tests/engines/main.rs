//! One suite for every engine of the hub: each scenario is written once, generic over
//! an [`Engine`](harness::Engine) harness, and runs against every engine that can run
//! it, as a test named `<engine>::<scenario>` (`cargo test --all-features --test
//! engines -- nats::`). Each test starts servers of its own (free loopback ports,
//! temporary directories) and kills them when it ends. Without `redis-server`,
//! `nats-server` or PostgreSQL those tests print a line saying so and pass, except under
//! `.ci/run`.
//!
//! To add an engine, see [`harness`]; to add a scenario, write it in the file of its
//! group and list it below under each engine that can run it.
// Served through axum's integration (feature `axum`), as users serve it.
#![cfg(all(feature = "hub", feature = "axum"))]
#![allow(unreachable_pub)]
// Without an engine's feature, the scenarios only it runs are unused.
#![cfg_attr(
    not(all(feature = "redis", feature = "nats", feature = "postgres")),
    allow(dead_code)
)]

#[path = "../common/mod.rs"]
mod common;
#[cfg(feature = "nats")]
#[path = "../nats/servers.rs"]
mod nats_servers;
#[cfg(feature = "postgres")]
#[path = "../postgres/servers.rs"]
mod postgres_servers;
#[cfg(feature = "redis")]
#[path = "../redis/servers.rs"]
mod redis_servers;

mod fault_run;
mod faults;
mod harness;
mod history;
mod sharing;
mod storm;
mod support;

/// `engine!(name = Harness: group::scenario, ...)`: a module `name` with one test a
/// scenario, each running it against a fresh `Harness`. An attribute before a scenario
/// applies to its test: `#[ignore = "defect: ..."]` for a known defect of the engine,
/// until it is fixed (`cargo test -- --ignored` runs them).
macro_rules! engine {
    ($engine:ident = $harness:ty: $($(#[$meta:meta])* $group:ident::$scenario:ident),* $(,)?) => {
        mod $engine {
            $(
                $(#[$meta])*
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    use crate::harness::Engine as _;
                    if let Some(engine) = <$harness>::start().await {
                        crate::$group::$scenario(engine).await;
                    }
                }
            )*
        }
    };
}

/// `every_scenario!(name = Harness)`: [`engine!`] with every scenario, for an engine of
/// one server with a proxy in front of it, which can run them all and has no known
/// defect.
macro_rules! every_scenario {
    ($engine:ident = $harness:ty) => {
        engine!($engine = $harness:
            sharing::delivery_across_instances,
            sharing::resume_on_another_instance,
            sharing::interest_based_delivery,
            sharing::several_topics_resumed_together,
            sharing::two_publishers_keep_one_order,
            sharing::handoff_across_instances,
            sharing::revocation_across_instances,
            sharing::instances_started_together_all_come_up,
            history::history_count_bound_gives_reset,
            history::age_bound_gives_reset,
            history::restart_with_data_loses_nothing,
            history::restart_without_data_gives_reset,
            history::restore_from_an_older_snapshot_gives_reset,
            faults::publishing_while_down_fails_cleanly,
            faults::cut_off_briefly_catches_up_once_in_order,
            faults::cut_off_past_the_history_gives_reset,
            faults::a_silent_connection_is_found,
            faults::a_frozen_server_goes_on_once_in_order,
            faults::a_lost_publish_reply_is_stored_once,
            faults::uncertain_when_it_cannot_be_told,
            storm::reconnect_storm,
            fault_run::seeded_fault_run,
        );
    };
}

// In process: one process, so no interest (nothing to follow on a server) and no
// server faults; a restart is a new process.
engine!(memory = crate::harness::memory::Memory:
    sharing::delivery_across_instances,
    sharing::resume_on_another_instance,
    sharing::several_topics_resumed_together,
    sharing::two_publishers_keep_one_order,
    sharing::handoff_across_instances,
    sharing::revocation_across_instances,
    history::history_count_bound_gives_reset,
    history::age_bound_gives_reset,
    history::restart_without_data_gives_reset,
    storm::reconnect_storm,
);

#[cfg(feature = "redis")]
every_scenario!(redis = crate::harness::redis::Redis);

// No proxy in front of a cluster (it redirects clients to each node's own address):
// the cut, silent-connection and lost-reply scenarios run on one server only.
#[cfg(feature = "redis")]
engine!(cluster = crate::harness::redis::Cluster:
    sharing::delivery_across_instances,
    sharing::resume_on_another_instance,
    sharing::interest_based_delivery,
    sharing::several_topics_resumed_together,
    sharing::two_publishers_keep_one_order,
    sharing::handoff_across_instances,
    sharing::revocation_across_instances,
    sharing::instances_started_together_all_come_up,
    history::history_count_bound_gives_reset,
    history::restart_with_data_loses_nothing,
    history::restart_without_data_gives_reset,
    history::restore_from_an_older_snapshot_gives_reset,
    faults::a_frozen_server_goes_on_once_in_order,
    storm::reconnect_storm,
    fault_run::seeded_fault_run,
);

#[cfg(feature = "nats")]
every_scenario!(nats = crate::harness::nats::Nats);

// Postgres: one server, whose restore is a `pg_dump` loaded into a new database that
// replaces the old one (the server keeps running).
#[cfg(feature = "postgres")]
every_scenario!(postgres = crate::harness::postgres::Postgres);
