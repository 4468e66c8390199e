//! tower-sse in an existing axum app, scoped to some routes with `route_layer`: only
//! `/notifications` serves events (its plain GET still returns JSON), and the factory
//! uses the app's state and the request's `Authorization` header, answering 401 itself.
//!
//! Run with `cargo run --example axum_routes` (env `PORT` overrides 3000), then
//! `curl -N -H 'accept: text/event-stream' -H 'authorization: Bearer ann-token' http://127.0.0.1:3000/notifications`
//! and, in another terminal,
//! `curl -X POST -d 'for=ann&text=hi' http://127.0.0.1:3000/notify`.

use std::{collections::HashMap, sync::Arc};

use axum::{
    Form, Json, Router,
    body::Body,
    extract::State,
    http::{StatusCode, header::AUTHORIZATION},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use http::Request;
use serde::Deserialize;
use tower_sse::{Event, LastEventId, SseLayer, hub::Hub};

/// The app's state: who is who, and a hub with one topic per user.
#[derive(Clone)]
pub(crate) struct AppState {
    tokens: Arc<HashMap<String, String>>,
    hub: Hub,
}

impl AppState {
    pub(crate) fn new() -> Self {
        let tokens = [("ann-token", "ann"), ("bob-token", "bob")]
            .into_iter()
            .map(|(token, user)| (token.to_owned(), user.to_owned()))
            .collect();
        Self {
            tokens: Arc::new(tokens),
            hub: Hub::new(),
        }
    }

    /// The user a request's `Authorization: Bearer ...` header names, if any.
    fn user(&self, request: &Request<Body>) -> Option<String> {
        let header = request.headers().get(AUTHORIZATION)?.to_str().ok()?;
        let token = header.strip_prefix("Bearer ")?;
        self.tokens.get(token).cloned()
    }
}

#[allow(dead_code)] // the tests include this file for `app`
#[tokio::main]
async fn main() {
    let port = std::env::var("PORT").unwrap_or_else(|_| "3000".into());
    let listener = tokio::net::TcpListener::bind(format!("127.0.0.1:{port}"))
        .await
        .expect("bind the port (set PORT to use another)");
    println!("listening on http://{}/", listener.local_addr().unwrap());
    axum::serve(listener, app(AppState::new())).await.unwrap();
}

pub(crate) fn app(state: AppState) -> Router {
    let events = {
        let state = state.clone();
        move |request: Request<Body>, last_event_id: Option<LastEventId>| {
            let state = state.clone();
            async move {
                let Some(user) = state.user(&request) else {
                    return Err((
                        StatusCode::UNAUTHORIZED,
                        "send Authorization: Bearer <token>",
                    ));
                };
                let topic = format!("user:{user}");
                let subscription = state
                    .hub
                    .subscribe_with_history([topic], last_event_id.as_ref())
                    .await;
                subscription.map_err(|_| (StatusCode::SERVICE_UNAVAILABLE, "try again later"))
            }
        }
    };
    // Only the routes above `route_layer` get events; `/` and `/notify` never do.
    let notifications = Router::new()
        .route("/notifications", get(list))
        .route_layer(SseLayer::new(events));
    Router::new()
        .route("/", get(|| async { "the app's home page\n" }))
        .route("/notify", post(notify))
        .merge(notifications)
        .with_state(state)
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
    let event = Event::new()
        .event("notification")
        .expect("a fixed, valid type")
        .data(form.text);
    match state
        .hub
        .publish(&format!("user:{}", form.user), event)
        .await
    {
        Ok(id) => id.to_string().into_response(),
        Err(err) => (StatusCode::SERVICE_UNAVAILABLE, err.to_string()).into_response(),
    }
}
