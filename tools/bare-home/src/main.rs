//! `bare-home`: the benchmark's bare limit (`scripts/bench`).
//!
//! GET /api/activities/home as the plainest Rust Lambda function can serve it: lambda_http
//! and the JSON home-activities answers with the seed data and the default front page
//! (andrewbrown's timeline: three activities, one reply, times relative to the process
//! start as the memory store seeds them), with the same headers. No telemetry, no store,
//! no AWS SDK, no TLS: whatever home-activities spends beyond this is what our layers cost.
//!
//! It picks its tokio runtime as `telemetry::block_on` does: one thread where Lambda runs
//! one invocation at a time, a worker per CPU under Lambda Managed Instances
//! (`AWS_LAMBDA_MAX_CONCURRENCY` above 1).

use std::{
    convert::Infallible,
    time::{SystemTime, UNIX_EPOCH},
};

use lambda_http::{service_fn, Body, Error, Request, Response};
use serde::Serialize;

const HOUR: i64 = 3_600;
const DAY: i64 = 24 * HOUR;

/// One seed activity: uuid, handle, display name, message, created and expiry offsets
/// from the seed time (seconds), likes.
type Seed = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    i64,
    i64,
    u32,
);

const ANDREW_POST: Seed = (
    "68f126b0-1ceb-4a33-88be-d90fa7109eee",
    "andrewbrown",
    "Andrew Brown",
    "Cloud is fun!",
    -2 * DAY,
    5 * DAY,
    5,
);
const WORF_REPLY: Seed = (
    "26e12864-1c26-5c3a-9658-97a10f8fea67",
    "worf",
    "Worf",
    "This post has no honor!",
    -2 * DAY,
    5 * DAY,
    0,
);
const WORF_POST: Seed = (
    "66e12864-8c26-4c3a-9658-95a10f8fea67",
    "worf",
    "Worf",
    "I am out of prune juice",
    -7 * DAY,
    9 * DAY,
    0,
);
const GAREK_POST: Seed = (
    "248959df-3079-4947-b847-9e0892d1bab4",
    "garek",
    "Garek",
    "My dear doctor, I am just simple tailor",
    -HOUR,
    12 * HOUR,
    0,
);

/// Seconds and nanoseconds since the Unix epoch.
#[derive(Clone, Copy)]
struct Instant(i64, u32);

/// An activity as home-activities' JSON shows it (the same fields, in the same order).
#[derive(Serialize)]
struct Activity {
    uuid: &'static str,
    handle: &'static str,
    display_name: &'static str,
    message: &'static str,
    created_at: String,
    expires_at: String,
    likes_count: u32,
    replies_count: usize,
    reposts_count: u32,
    replies: Vec<Activity>,
}

fn activity(seed: Seed, at: Instant, replies: Vec<Activity>) -> Activity {
    let (uuid, handle, display_name, message, created, expires, likes_count) = seed;
    Activity {
        uuid,
        handle,
        display_name,
        message,
        created_at: rfc3339(Instant(at.0 + created, at.1)),
        expires_at: rfc3339(Instant(at.0 + expires, at.1)),
        likes_count,
        replies_count: replies.len(),
        reposts_count: 0,
        replies,
    }
}

/// The home feed as home-activities answers it (newest first, replies under their post).
fn feed(seeded_at: Instant) -> Vec<Activity> {
    vec![
        activity(
            ANDREW_POST,
            seeded_at,
            vec![activity(WORF_REPLY, seeded_at, Vec::new())],
        ),
        activity(WORF_POST, seeded_at, Vec::new()),
        activity(GAREK_POST, seeded_at, Vec::new()),
    ]
}

/// RFC 3339 in UTC as the `time` crate writes it: `2023-02-18T12:00:00.5Z` (fraction
/// without trailing zeros, none when zero).
fn rfc3339(Instant(seconds, nanos): Instant) -> String {
    let (days, second_of_day) = (seconds.div_euclid(DAY), seconds.rem_euclid(DAY));
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let mut text = format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}",
        second_of_day / HOUR,
        second_of_day % HOUR / 60,
        second_of_day % 60
    );
    if nanos > 0 {
        let fraction = format!("{nanos:09}");
        text.push('.');
        text.push_str(fraction.trim_end_matches('0'));
    }
    text.push('Z');
    text
}

async fn home(seeded_at: Instant, _request: Request) -> Result<Response<Body>, Infallible> {
    let body = serde_json::to_string(&feed(seeded_at)).unwrap_or_else(|_| "null".into());
    Ok(Response::builder()
        .status(200)
        .header("content-type", "application/json")
        .header("access-control-allow-origin", "*")
        .body(Body::Text(body))
        .expect("static response parts are valid"))
}

fn main() -> Result<(), Error> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("the clock is after 1970");
    let seeded_at = Instant(now.as_secs() as i64, now.subsec_nanos());
    let concurrent = std::env::var("AWS_LAMBDA_MAX_CONCURRENCY")
        .ok()
        .and_then(|v| v.trim().parse::<u32>().ok())
        .is_some_and(|n| n > 1);
    let runtime = if concurrent {
        tokio::runtime::Builder::new_multi_thread().enable_all().build()
    } else {
        tokio::runtime::Builder::new_current_thread().enable_all().build()
    }?;
    runtime.block_on(lambda_http::run_concurrent(service_fn(move |request| {
        home(seeded_at, request)
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_like_the_time_crate() {
        assert_eq!(rfc3339(Instant(0, 0)), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(Instant(1_676_721_600, 0)), "2023-02-18T12:00:00Z");
        assert_eq!(
            rfc3339(Instant(1_709_208_000, 500_000_000)),
            "2024-02-29T12:00:00.5Z"
        );
        assert_eq!(
            rfc3339(Instant(951_782_400 - 1, 123)),
            "2000-02-28T23:59:59.000000123Z"
        );
    }
}
