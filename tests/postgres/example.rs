//! The chat example over PostgreSQL, run as a user runs it.

use crate::common::connect_events;
use crate::common::engine::take;

/// `examples/chat.rs --postgres`: a message sent on one instance shows on another, and
/// one posted from SQL inside a transaction shows on both.
#[tokio::test]
async fn the_chat_example_shares_its_room_through_postgres() {
    let Some(pg) = crate::started().await else {
        return;
    };
    let url = pg.url();
    let one = crate::common::Example::start("chat", &[("POSTGRES_URL", &url)]);
    let two = crate::common::Example::start("chat", &[("POSTGRES_URL", &url)]);
    let mut on_two = connect_events(two.addr, "/", None).await;
    let status = post_form(one.addr, "name=ann&text=hello").await;
    assert_eq!(status, http::StatusCode::OK);
    let got = take(&mut on_two, 1).await;
    assert_eq!(got[0].1, r#"{"name":"ann","text":"hello"}"#);
    let mut on_one = connect_events(one.addr, "/", None).await;
    assert_eq!(take(&mut on_one, 1).await, got, "the history, shared");
    pg.psql(
        "app",
        r#"BEGIN; SELECT chat_publish('room', '{"name":"sql","text":"hi"}', 'message'); COMMIT;"#,
    );
    let from_sql = take(&mut on_two, 1).await;
    assert_eq!(from_sql[0].1, r#"{"name":"sql","text":"hi"}"#);
    assert_eq!(take(&mut on_one, 1).await, from_sql);
}

/// POSTs a form to the chat's `/send`; its status.
async fn post_form(addr: std::net::SocketAddr, form: &'static str) -> http::StatusCode {
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let io = hyper_util::rt::TokioIo::new(stream);
    let (mut sender, connection) = hyper::client::conn::http1::handshake(io).await.unwrap();
    tokio::spawn(connection);
    let request = http::Request::post("/send")
        .header("host", "test")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(http_body_util::Full::new(bytes::Bytes::from_static(
            form.as_bytes(),
        )))
        .unwrap();
    sender.send_request(request).await.unwrap().status()
}
