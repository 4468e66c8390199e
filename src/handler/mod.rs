//! What an axum app uses beside the layer: the handler type ([`event_stream`]), routes
//! that serve a page and its events on one URL ([`routing`]), and the browser script
//! that reopens a closed `EventSource` ([`script`]).

#[cfg(feature = "axum")]
pub(crate) mod event_stream;
#[cfg(feature = "axum")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
pub mod routing;
pub(crate) mod script;
