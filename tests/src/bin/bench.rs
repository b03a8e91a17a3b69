//! The delivery benchmark: the real home-activities binary, built with and without
//! telemetry, under the Runtime API emulator, in one run, with a healthy, a slow
//! (200 ms) and a failing (503) collector. Prints medians over trials of: init
//! time, latency p50/p99 (event received to response posted), time billed after
//! the response (response posted to the next `next`), and peak RSS.
//!
//! Usage: `scripts/bench` (builds both binaries), or
//! `bench <dir with home-activities and home-activities-bare> [invocations] [trials] [NAME=value…]`.

use std::{path::PathBuf, time::Duration};

use cruddur_tests::{
    events::home_activities_event, trace_header, Behaviour, FunctionProcess, OtlpCollector, RuntimeApi,
    XrayDaemon,
};

/// Cold starts measured per run (their median is the run's init time).
const INIT_SAMPLES: usize = 15;

/// One measured run's figures, in microseconds (RSS in KiB).
#[derive(Clone, Copy, Default)]
struct Figures {
    init: f64,
    p50: f64,
    p99: f64,
    billed_p50: f64,
    billed_p99: f64,
    rss_kib: f64,
}

/// A table row: its name, how to read it from the figures, its unit and scale.
type Row = (&'static str, fn(&Figures) -> f64, &'static str, f64);

#[derive(Clone)]
struct Variant {
    label: &'static str,
    binary: &'static str,
    collector: Behaviour,
}

async fn measure(
    dir: &std::path::Path,
    variant: &Variant,
    invocations: usize,
    extra_env: &[(String, String)],
) -> anyhow::Result<Figures> {
    // The emulator freezes the process between invocations, as Lambda does. The figures
    // are about Lambda: telemetry that leaned on background work between invocations
    // (a delivery thread finishing an export after `next`) would look cheaper without the
    // freeze than it is in Lambda. Both builds are frozen alike, so the comparison holds.
    let runtime = RuntimeApi::start().await;
    let xray = XrayDaemon::start().await;
    let otlp = OtlpCollector::start(variant.collector.clone()).await;
    let (daemon, endpoint) = (xray.address(), otlp.endpoint());
    let mut env = vec![
        ("AWS_XRAY_DAEMON_ADDRESS", daemon.as_str()),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
    ];
    env.extend(extra_env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    // Init: the median of several cold starts (one sample is at the mercy of the scheduler).
    let mut inits = Vec::new();
    for _ in 0..INIT_SAMPLES {
        let runtime = RuntimeApi::start().await;
        let function =
            FunctionProcess::spawn_path(&dir.join(variant.binary), "home-activities", &runtime, &env, &[])?;
        runtime.wait_for_next_poll(1, Duration::from_secs(10)).await?;
        inits.push(
            runtime.next_poll_times()[0]
                .duration_since(function.spawned_at())
                .as_secs_f64()
                * 1e6,
        );
    }
    let init = median(inits);
    let function =
        FunctionProcess::spawn_path(&dir.join(variant.binary), "home-activities", &runtime, &env, &[])?;
    runtime.wait_for_next_poll(1, Duration::from_secs(10)).await?;

    let event = home_activities_event();
    let (mut latency, mut billed) = (Vec::new(), Vec::new());
    for n in 0..invocations + 50 {
        let (header, _, _) = trace_header(true);
        let invocation = runtime.invoke(event.clone(), Some(&header)).await?;
        let next = runtime.next_after(&invocation.request_id).await?;
        anyhow::ensure!(
            invocation.json()["statusCode"] == 200,
            "bad response: {}",
            invocation.text()
        );
        if n >= 50 {
            latency.push(
                invocation
                    .answered_at
                    .duration_since(invocation.delivered_at)
                    .as_secs_f64()
                    * 1e6,
            );
            billed.push(next.duration_since(invocation.answered_at).as_secs_f64() * 1e6);
        }
    }
    let rss_kib = function.peak_rss_kib().unwrap_or(0) as f64;
    // Lambda's shutdown: SIGTERM (the telemetry registers an extension), SIGKILL after 500 ms.
    runtime.shutdown();
    let _ = function.wait_exit(Duration::from_secs(5)).await;
    Ok(Figures {
        init,
        p50: percentile(&mut latency, 0.50),
        p99: percentile(&mut latency, 0.99),
        billed_p50: percentile(&mut billed, 0.50),
        billed_p99: percentile(&mut billed, 0.99),
        rss_kib,
    })
}

fn percentile(values: &mut [f64], q: f64) -> f64 {
    values.sort_by(f64::total_cmp);
    values[((values.len() - 1) as f64 * q).round() as usize]
}

fn median(mut values: Vec<f64>) -> f64 {
    percentile(&mut values, 0.5)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(args.next().unwrap_or_else(|| "target/bench".into()));
    let invocations: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(1000);
    let trials: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(4);
    // Any further `NAME=value` arguments go to the functions' environment.
    let extra_env: Vec<(String, String)> = args
        .filter_map(|a| a.split_once('=').map(|(k, v)| (k.to_owned(), v.to_owned())))
        .collect();
    let variants = [
        Variant {
            label: "no telemetry",
            binary: "home-activities-bare",
            collector: Behaviour::Healthy,
        },
        Variant {
            label: "telemetry, healthy collector",
            binary: "home-activities",
            collector: Behaviour::Healthy,
        },
        Variant {
            label: "telemetry, collector 200 ms slow",
            binary: "home-activities",
            collector: Behaviour::Slow(Duration::from_millis(200)),
        },
        Variant {
            label: "telemetry, collector failing (503)",
            binary: "home-activities",
            collector: Behaviour::Failing(503),
        },
    ];
    // Trials interleave the variants, so drift on the machine hits all of them alike.
    let mut runs: Vec<Vec<Figures>> = vec![Vec::new(); variants.len()];
    for trial in 0..trials {
        for (i, variant) in variants.iter().enumerate() {
            eprintln!("trial {}/{trials}: {}", trial + 1, variant.label);
            runs[i].push(measure(&dir, variant, invocations, &extra_env).await?);
        }
    }
    let medians: Vec<Figures> = runs
        .iter()
        .map(|r| Figures {
            init: median(r.iter().map(|f| f.init).collect()),
            p50: median(r.iter().map(|f| f.p50).collect()),
            p99: median(r.iter().map(|f| f.p99).collect()),
            billed_p50: median(r.iter().map(|f| f.billed_p50).collect()),
            billed_p99: median(r.iter().map(|f| f.billed_p99).collect()),
            rss_kib: median(r.iter().map(|f| f.rss_kib).collect()),
        })
        .collect();

    println!("home-activities, {invocations} warm invocations a run, medians of {trials} trials\n");
    let bare = medians[0];
    println!(
        "| | no telemetry | {} |",
        variants[1..]
            .iter()
            .map(|v| v.label)
            .collect::<Vec<_>>()
            .join(" | ")
    );
    println!("|---|---|{}", "---|".repeat(variants.len() - 1));
    let rows: [Row; 6] = [
        ("init", |f| f.init, "ms", 1000.0),
        ("latency p50", |f| f.p50, "ms", 1000.0),
        ("latency p99", |f| f.p99, "ms", 1000.0),
        ("billed after response p50", |f| f.billed_p50, "ms", 1000.0),
        ("billed after response p99", |f| f.billed_p99, "ms", 1000.0),
        ("peak RSS", |f| f.rss_kib, "MiB", 1024.0),
    ];
    for (name, get, unit, scale) in rows {
        let base = get(&bare);
        let cells: Vec<String> = medians[1..]
            .iter()
            .map(|f| {
                let value = get(f);
                format!(
                    "{:.3} {unit} (x{:.2}, {:+.3} {unit})",
                    value / scale,
                    value / base,
                    (value - base) / scale
                )
            })
            .collect();
        println!("| {name} | {:.3} {unit} | {} |", base / scale, cells.join(" | "));
    }
    Ok(())
}
