//! tower-sse in an existing axum app, for one route, with the events written as an
//! ordinary axum handler: `/notifications` answers `EventSource`s with the user's
//! notifications and other requests with JSON (`page_or_events`), and the events
//! handler takes the app's state, the user from an `Authorization` extractor (a `401`
//! without one) and the `Last-Event-ID`.
//!
//! Run with `cargo run --features hub --example axum_routes` (env `PORT` overrides 3000), then
//! `curl -N -H 'accept: text/event-stream' -H 'authorization: Bearer ann-token' http://127.0.0.1:3000/notifications`
//! and, in another terminal,
//! `curl -X POST -d 'for=ann&text=hi' http://127.0.0.1:3000/notify`.

#[path = "support/stop_signal.rs"]
mod stop_signal;

use stop_signal::stop_signal;

use std::{collections::HashMap, sync::Arc};

use axum::{
    Form, Json, Router,
    extract::{FromRequestParts, State},
    http::{StatusCode, header::AUTHORIZATION, request::Parts},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use serde::Deserialize;
use tower_sse::{
    Event, EventId, EventStream,
    hub::{Hub, Subscription},
    routing::page_or_events,
};

/// The app's state: who is who, and a hub with one topic per user.
#[derive(Clone)]
struct AppState {
    tokens: Arc<HashMap<String, String>>,
    hub: Hub,
}

impl AppState {
    fn new() -> Self {
        let tokens = [("ann-token", "ann"), ("bob-token", "bob")]
            .into_iter()
            .map(|(token, user)| (token.to_owned(), user.to_owned()))
            .collect();
        Self {
            tokens: Arc::new(tokens),
            hub: Hub::new(),
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
    let hub = state.hub.clone();
    // Ctrl-C or SIGTERM: the hub ends every stream (its clients reconnect, to another
    // instance if there is one), so the server can stop.
    axum::serve(listener, app(state))
        .with_graceful_shutdown(async move {
            stop_signal().await;
            hub.shutdown();
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
        .with_state(state)
}

/// The events of `/notifications`: the user's topic, with what it holds first, resumed
/// after the client's last event.
async fn follow(
    State(state): State<AppState>,
    User(user): User,
    last_event_id: Option<EventId>,
) -> Result<EventStream<Subscription>, Response> {
    let topic = format!("user:{user}");
    let subscription = state
        .hub
        .subscribe_with_history([topic], last_event_id.as_ref())
        .await
        .map_err(|_| (StatusCode::SERVICE_UNAVAILABLE, "try again later").into_response())?;
    Ok(EventStream::new(subscription))
}

/// The plain GET of `/notifications`: a JSON answer for clients that don't want events.
async fn list() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "hint": "ask for text/event-stream to follow notifications" }))
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
