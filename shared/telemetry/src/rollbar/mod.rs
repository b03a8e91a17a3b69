//! Rollbar, the seed's error tracker: every fault (a 5xx answer, a handler error, a
//! panic) as one item through Rollbar's item API. Off unless a token is configured.
//!
//! Arrows: `item` is a pure encoder over the model (a fault's errors and request line
//! into Rollbar's item JSON, scrubbed); `http` is the transport (one POST per item, the
//! token in `X-Rollbar-Access-Token`), owning its outcome. Delivery sends the items
//! after the response, bounded, retried and counted like OTLP.
//!
//! Nothing secret may reach an item (the seed's author dropped Rollbar after Rollbar's own
//! breach): the request is its method and route template only (no path values, query,
//! headers or body), messages are scrubbed ([`item::scrub`]), and the caller is not named.

mod http;
pub mod item;

pub(crate) use http::{Outcome, Sender};
