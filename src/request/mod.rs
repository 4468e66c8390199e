//! The request path: the layer and its service, which tell an event-stream request
//! from the rest ([`accept`]), call the factory ([`factory`]) and build the response
//! ([`future`], [`response`]) from the layer's settings
//! ([`config`](crate::body::config)).

pub(crate) mod accept;
pub(crate) mod factory;
pub(crate) mod future;
pub(crate) mod layer;
pub(crate) mod predicate;
pub(crate) mod response;
pub(crate) mod service;
