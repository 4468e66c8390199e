//! tower-sse in an existing axum app, for one route, with the events written as an
//! ordinary axum handler: `/notifications` answers `EventSource`s with the user's
//! notifications and other requests with JSON (`page_or_events`), and the events
//! handler takes the app's state, the user from an `Authorization` extractor (a `401`
//! without one) and the `Last-Event-ID`.
//!
//! Access ends streams: a stream lasts no longer than the token that opened it
//! (`TOKEN_SECONDS`, default 3600) and ends with `event: expired`; `POST /logout` ends
//! every stream of the user, on every instance sharing the hub, with `event: revoked`.
//! The JSON answer of `/notifications` carries the hub's position (`sse-position`):
//! a stream opened with it as `Last-Event-ID` starts exactly after what the JSON held.
//!
//! Run with `cargo run --features hub --example axum_routes` (env `PORT` overrides 3000), then
//! `curl -N -H 'accept: text/event-stream' -H 'authorization: Bearer ann-token' http://127.0.0.1:3000/notifications`
//! and, in another terminal,
//! `curl -X POST -d 'for=ann&text=hi' http://127.0.0.1:3000/notify`, then
//! `curl -X POST -H 'authorization: Bearer ann-token' http://127.0.0.1:3000/logout`.

#[path = "support/stop_signal.rs"]
mod stop_signal;

use stop_signal::stop_signal;

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{
    Form, Json, Router,
    extract::{FromRequestParts, State},
    http::{StatusCode, header::AUTHORIZATION, request::Parts},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use serde::Deserialize;
use tower_sse::{
    Event, EventId, EventStream, Lifetime, Limited, Shutdown,
    hub::{Hub, SubscribeError, Subscription},
    routing::page_or_events,
};

/// The app's state: who is who, each user's notifications so far, and a hub with one
/// topic per user.
#[derive(Clone)]
struct AppState {
    tokens: Arc<HashMap<String, String>>,
    token_lifetime: Duration,
    notifications: Arc<Mutex<HashMap<String, Vec<String>>>>,
    hub: Hub,
    shutdown: Shutdown,
}

impl AppState {
    fn new() -> Self {
        // The one shutdown signal, for the hub and each stream.
        let shutdown = Shutdown::with_last_event(Event::new().retry(Duration::from_secs(2)));
        let tokens = [("ann-token", "ann"), ("bob-token", "bob")]
            .into_iter()
            .map(|(token, user)| (token.to_owned(), user.to_owned()))
            .collect();
        let seconds = std::env::var("TOKEN_SECONDS")
            .ok()
            .and_then(|s| s.parse().ok());
        Self {
            tokens: Arc::new(tokens),
            token_lifetime: Duration::from_secs(seconds.unwrap_or(3600)),
            notifications: Arc::default(),
            hub: Hub::builder().graceful_shutdown(shutdown.clone()).build(),
            shutdown,
        }
    }
}

/// The user a request's `Authorization: Bearer ...` header names: an extractor, so a
/// handler that takes one answers `401` by itself.
struct User(String);

impl FromRequestParts<AppState> for User {
    type Rejection = (StatusCode, &'static str);

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|header| header.to_str().ok())
            .and_then(|header| header.strip_prefix("Bearer "));
        match token.and_then(|token| state.tokens.get(token)) {
            Some(user) => Ok(Self(user.clone())),
            None => Err((
                StatusCode::UNAUTHORIZED,
                "send Authorization: Bearer <token>",
            )),
        }
    }
}

#[tokio::main]
async fn main() {
    let port = std::env::var("PORT").unwrap_or_else(|_| "3000".into());
    let listener = tokio::net::TcpListener::bind(format!("127.0.0.1:{port}"))
        .await
        .expect("bind the port (set PORT to use another)");
    println!("listening on http://{}/", listener.local_addr().unwrap());
    let state = AppState::new();
    let shutdown = state.shutdown.clone();
    // Ctrl-C or SIGTERM: the signal ends every stream (its clients reconnect, to another
    // instance if there is one), so the server can stop.
    axum::serve(listener, app(state))
        .with_graceful_shutdown(async move {
            stop_signal().await;
            shutdown.trigger();
        })
        .await
        .unwrap();
}

fn app(state: AppState) -> Router {
    Router::new()
        .route("/", get(|| async { "the app's home page\n" }))
        // One URL: JSON for plain requests, the user's notifications for EventSources.
        .route("/notifications", page_or_events(list, follow))
        .route("/notify", post(notify))
        .route("/logout", post(logout))
        .with_state(state)
}

/// The events of `/notifications`: the user's topic, with what it holds first, resumed
/// after the client's last event, for as long as the user's access lasts. Refusals:
/// the `User` extractor's `401` closes the `EventSource` for good; the hub's
/// `SubscribeError`, returned as it is, tells it to come back later (`200` with
/// `retry:`).
async fn follow(
    State(state): State<AppState>,
    User(user): User,
    last_event_id: Option<EventId>,
) -> Result<EventStream<Limited<Subscription>>, SubscribeError> {
    let revoked = state.hub.revocation(&user).await?;
    let subscription = state
        .hub
        .subscribe([format!("user:{user}")])
        .after(last_event_id.as_ref())
        .with_history()
        .await?;
    let lifetime = Lifetime::new()
        .expires_in(state.token_lifetime)
        .revoked_by(revoked);
    Ok(EventStream::new(lifetime.wrap(subscription)).graceful_shutdown(state.shutdown))
}

/// The plain GET of `/notifications`: the user's notifications as JSON, with the hub's
/// position in `sse-position`, to open the stream from.
async fn list(State(state): State<AppState>, User(user): User) -> Response {
    // The position first, then the state: an event in between is in both, never in
    // neither.
    let Ok(handoff) = state.hub.handoff(format!("user:{user}")).await else {
        return (StatusCode::SERVICE_UNAVAILABLE, "try again later").into_response();
    };
    let so_far = state.notifications.lock().unwrap().get(&user).cloned();
    (
        handoff,
        Json(serde_json::json!({ "notifications": so_far.unwrap_or_default() })),
    )
        .into_response()
}

/// Ends every stream of the user, with `event: revoked`.
async fn logout(State(state): State<AppState>, User(user): User) -> Response {
    match state.hub.revoke(&user, "logged out").await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(err) => (StatusCode::SERVICE_UNAVAILABLE, err.to_string()).into_response(),
    }
}

#[derive(Deserialize)]
struct Notify {
    #[serde(rename = "for")]
    user: String,
    text: String,
}

async fn notify(State(state): State<AppState>, Form(form): Form<Notify>) -> Response {
    if !state.tokens.values().any(|user| *user == form.user) {
        return (StatusCode::NOT_FOUND, "no such user").into_response();
    }
    state
        .notifications
        .lock()
        .unwrap()
        .entry(form.user.clone())
        .or_default()
        .push(form.text.clone());
    let event = Event::new().event_static("notification").data(form.text);
    match state
        .hub
        .publish(&format!("user:{}", form.user), event)
        .await
    {
        Ok(id) => id.to_string().into_response(),
        Err(err) => (StatusCode::SERVICE_UNAVAILABLE, err.to_string()).into_response(),
    }
}
