//! Waiting for the signal that stops an example: Ctrl-C, or SIGTERM (what a container's
//! stop sends). Shared by the examples, each of which includes this file.

/// Ctrl-C, or SIGTERM.
pub(crate) async fn stop_signal() {
    let terminate = async {
        #[cfg(unix)]
        if let Ok(mut term) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            term.recv().await;
            return;
        }
        std::future::pending::<()>().await
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = terminate => {}
    }
}
