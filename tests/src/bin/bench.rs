//! The benchmark (run by hand with `scripts/bench`, not in CI): the home route's real
//! release binaries under the Runtime API emulator, in one run, against two baselines.
//!
//! Builds (in the bench directory, stripped copies, as `cargo lambda build --release`
//! deploys them):
//! - `bare-home`: the bare limit: a plain `lambda_http` function answering the same JSON,
//!   with no telemetry, no store, no AWS SDK (`tools/bare-home`);
//! - `home-activities-no-telemetry`: home-activities built with `--no-default-features`;
//! - `home-activities`: the function as deployed.
//!
//! Each function runs on a core of its own, the harness (emulator, stand-ins, moto) on
//! another, as on Lambda (see `pin_harness`).
//!
//! One invocation at a time (Lambda on demand: frozen between invocations), scenarios:
//! both baselines; the telemetry build with a healthy collector (answering at once, and
//! 5 ms away as a real one is), a 200 ms slow and a failing (503) collector; and with the
//! Honeycomb key in SSM (`HONEYCOMB_API_KEY_PARAMETER`), served by moto behind a proxy that
//! adds 25 ms (init must not pay it: a cold start that reaches SSM fails the run). Figures:
//! - init: spawn to the first `next`, the median of cold starts; init CPU: the CPU time of
//!   all the process's threads by then (on a 128 MB Lambda, a fraction of a vCPU, that is
//!   what init costs); RSS after init;
//! - latency p50/p99: event handed out to response posted; billed after the response:
//!   response posted to the next `next`; CPU per invocation (the function's process only);
//! - peak RSS (VmHWM), and the anonymous RSS at the end (heap, stacks, written data; the
//!   rest of RSS is the binary's pages, shared with the page cache, which vary more);
//! - the stripped binary's size.
//!
//! The same once more for the three builds (the telemetry one with a healthy collector)
//! with the CPU caches cleared during each freeze: on Lambda other tenants run while a
//! function is frozen, where the emulator's freezes last microseconds with nothing else
//! running.
//!
//! Many at once (Lambda Managed Instances: `AWS_LAMBDA_MAX_CONCURRENCY` = 8 and 64, no
//! freeze, events queued ahead, each response acknowledged after a small delay so the
//! invocations overlap; the overlap is checked and printed): latency p50/p99, CPU per
//! invocation and RSS of the three builds, the telemetry one with a healthy collector.
//!
//! Every figure is the median over trials (trials interleave the scenarios, and within a
//! trial the cold starts take turns, so drift on the machine hits them alike), printed as
//! is, against the build without telemetry and against the bare limit (ratio and
//! difference), and with its spread over the trials (max - min: the noise).
//!
//! Usage: `scripts/bench [invocations] [trials] [NAME=value…]` (builds the binaries), or
//! `bench <dir> [invocations per run, 1000] [trials, 4] [NAME=value…]`; `NAME=value` goes
//! to every function's environment. To compare two builds of the function in one run, put
//! them in a directory as `home-activities-no-telemetry` (A) and `home-activities` (B): the
//! healthy-collector row against the build without telemetry is then B against A.

use std::{
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use anyhow::{ensure, Context as _};
use cruddur_tests::{
    cpu, events::home_activities_event, trace_header, Behaviour, FunctionProcess, LatencyProxy, MotoServer,
    OtlpCollector, RuntimeApi, XrayDaemon,
};

/// Cold starts measured per run (their median is the run's init time).
const INIT_SAMPLES: usize = 30;
/// Attempts at one cold start sample (one that races the emulator is taken again).
const MAX_COLD_START_ATTEMPTS: usize = 10;
/// Cold starts per run with the binary evicted from the page cache first.
const UNCACHED_INIT_SAMPLES: usize = 10;
/// Invocations before the measured ones (first-invocation work, warm caches).
const WARM_UP: usize = 50;
/// How far the proxy puts SSM (an AWS endpoint across a region).
const SSM_LATENCY: Duration = Duration::from_millis(25);
/// How long a healthy collector takes to answer in the scenario that stands for a real one
/// (Honeycomb from a Lambda in its region: a round trip and the collector's own work). Its
/// answers then arrive while the function is frozen, not within the flush, as they do
/// from the stand-in that answers at once.
const REMOTE_COLLECTOR_LATENCY: Duration = Duration::from_millis(5);
/// The Honeycomb key's parameter and value in moto.
const KEY_PARAMETER: &str = "/cruddur/honeycomb-api-key";
const KEY: &str = "hcaik_bench_key";
/// In-flight invocations measured under Lambda Managed Instances.
const CONCURRENCY: [u32; 2] = [8, 64];
/// How long the emulator holds each response's acknowledgement there, so that
/// invocations overlap (the runtime keeps its slot until the 202 comes).
const ACK_DELAY: Duration = Duration::from_millis(2);
/// What each core writes while the function is frozen, in the cold-cache scenarios: four
/// times this machine's per-core L2 (2 MiB), so nothing of the last invocation is left in
/// L1 or L2 (a shared L3 this size cannot be cleared).
const CACHE_CLEARING_BYTES: usize = 8 << 20;

/// The binaries, by file name in the bench directory.
const BARE: &str = "bare-home";
const NO_TELEMETRY: &str = "home-activities-no-telemetry";
const TELEMETRY: &str = "home-activities";

/// One run's figures: times in microseconds, RSS in KiB.
#[derive(Clone, Copy, Default)]
struct Figures {
    init: f64,
    /// Init when the binary is not in the page cache yet.
    init_uncached: f64,
    /// CPU time of all the process's threads by the end of init (on a 128 MB Lambda, which
    /// gets a fraction of a vCPU, init is bound by it, not by the wall time measured here).
    init_cpu: f64,
    /// RSS at the end of init (before any invocation).
    init_rss_kib: f64,
    /// Anonymous RSS at the end (heap, stacks, written data: what the process itself holds,
    /// unlike the binary's pages, which are shared with the page cache).
    anon_kib: f64,
    /// The most invocations in flight at once (Managed Instances).
    in_flight: f64,
    /// CPU time of the function's process per measured invocation (all its threads: the
    /// handler, the runtime, telemetry's delivery), whatever the emulator and collector spend.
    cpu_per_invocation: f64,
    p50: f64,
    p99: f64,
    billed_p50: f64,
    billed_p99: f64,
    rss_kib: f64,
}

#[derive(Clone)]
struct Scenario {
    label: String,
    binary: &'static str,
    collector: Behaviour,
    /// The Honeycomb key read from SSM (moto behind the latency proxy).
    ssm: bool,
    /// `AWS_LAMBDA_MAX_CONCURRENCY` under Lambda Managed Instances; `None`: on demand.
    concurrency: Option<u32>,
    /// On demand, the CPU caches cleared during each freeze (see [`clear_cpu_caches`]).
    cold_caches: bool,
}

impl Scenario {
    fn on_demand(label: &str, binary: &'static str, collector: Behaviour) -> Self {
        Scenario {
            label: label.to_owned(),
            binary,
            collector,
            ssm: false,
            concurrency: None,
            cold_caches: false,
        }
    }
}

/// One cold start's figures (microseconds, KiB).
struct ColdStart {
    wall: f64,
    cpu: f64,
    rss_kib: f64,
}

/// What a scenario's function talks to, and its environment (beside the emulator's Lambda
/// variables).
struct Stand {
    _xray: XrayDaemon,
    otlp: OtlpCollector,
    env: Vec<(String, String)>,
}

impl Stand {
    fn env(&self) -> Vec<(&str, &str)> {
        self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
    }
}

/// What every run shares: the binaries, the settings, moto and its proxy.
struct Bench {
    dir: PathBuf,
    /// The harness's core and the functions' (see [`pin_harness`]), when there are two.
    cpus: Option<(usize, usize)>,
    invocations: usize,
    extra_env: Vec<(String, String)>,
    moto: MotoServer,
    ssm: LatencyProxy,
}

impl Bench {
    /// Starts the function at `path` against `runtime`, on its own core.
    fn spawn(
        &self,
        path: &Path,
        runtime: &RuntimeApi,
        env: &[(&str, &str)],
    ) -> anyhow::Result<FunctionProcess> {
        let function = FunctionProcess::spawn_path(path, "home-activities", runtime, env, &[])?;
        if let Some((_, cpu)) = self.cpus {
            function.pin_to_cpu(cpu)?;
        }
        Ok(function)
    }

    /// A fresh X-Ray daemon and collector for a scenario, and its function's environment.
    async fn stand(&self, scenario: &Scenario) -> Stand {
        let xray = XrayDaemon::start().await;
        let otlp = OtlpCollector::start(scenario.collector.clone()).await;
        let mut env = vec![
            ("AWS_XRAY_DAEMON_ADDRESS".to_owned(), xray.address()),
            ("OTEL_EXPORTER_OTLP_ENDPOINT".to_owned(), otlp.endpoint()),
        ];
        if scenario.ssm {
            env.extend(self.moto.env().into_iter().map(|(name, value)| {
                let value = if name == "AWS_ENDPOINT_URL" {
                    self.ssm.endpoint()
                } else {
                    value
                };
                (name, value)
            }));
            env.push(("HONEYCOMB_API_KEY_PARAMETER".into(), KEY_PARAMETER.into()));
        }
        env.extend(self.extra_env.iter().cloned());
        Stand {
            _xray: xray,
            otlp,
            env,
        }
    }

    async fn measure(&self, scenario: &Scenario, stand: &Stand) -> anyhow::Result<Figures> {
        match scenario.concurrency {
            None => self.measure_on_demand(scenario, stand).await,
            Some(max) => self.measure_concurrent(scenario, stand, max).await,
        }
    }

    /// One cold start: spawn to the first `next` (wall and CPU time) and the RSS then.
    /// `uncached`: the binary's pages are evicted from the page cache first, so they are
    /// read from disk as they are touched (a sandbox that has never run the function).
    async fn cold_start(
        &self,
        scenario: &Scenario,
        stand: &Stand,
        uncached: bool,
    ) -> anyhow::Result<ColdStart> {
        let path = self.dir.join(scenario.binary);
        let env = stand.env();
        let ssm_connections = self.ssm.connections();
        // Races are rare but not independent of load: the harness has one core to itself.
        for _ in 0..MAX_COLD_START_ATTEMPTS {
            if uncached {
                evict_from_page_cache(&path)?;
            }
            let runtime = RuntimeApi::start().await;
            let function = self.spawn(&path, &runtime, &env)?;
            runtime.wait_for_next_poll(1, Duration::from_secs(10)).await?;
            // Frozen as Lambda freezes it once init is done, its CPU time and RSS hold still.
            // The emulator freezes at the first `next` of a process it knows; under load the
            // poll can come before `spawn_path` registered the process (and took its spawn
            // instant, so the wall time would be short): such a sample is taken again.
            if runtime
                .wait_for_freeze(1, Duration::from_millis(500))
                .await
                .is_err()
            {
                continue;
            }
            ensure!(
                self.ssm.connections() == ssm_connections,
                "{}: init reached SSM (the key must be read after init)",
                scenario.label
            );
            return Ok(ColdStart {
                wall: micros(runtime.next_poll_times()[0].duration_since(function.spawned_at())),
                cpu: cpu_micros(function.pid()).context("reading the init's CPU time")?,
                rss_kib: function.rss_kib().unwrap_or(0) as f64,
            });
        }
        anyhow::bail!(
            "{}: {MAX_COLD_START_ATTEMPTS} cold starts in a row raced the emulator",
            scenario.label
        )
    }

    /// Lambda on demand: one invocation at a time, frozen in between (as Lambda does; both
    /// baselines are frozen alike, so background work between invocations is not free here).
    async fn measure_on_demand(&self, scenario: &Scenario, stand: &Stand) -> anyhow::Result<Figures> {
        let path = self.dir.join(scenario.binary);
        let env = stand.env();
        let otlp = &stand.otlp;
        let runtime = RuntimeApi::start().await;
        let function = self.spawn(&path, &runtime, &env)?;
        runtime.wait_for_next_poll(1, Duration::from_secs(10)).await?;
        let event = home_activities_event();
        let (mut latency, mut billed) = (Vec::new(), Vec::new());
        let mut cpu_before = 0.0;
        for n in 0..WARM_UP + self.invocations {
            if n == WARM_UP {
                cpu_before = cpu_micros(function.pid())?;
            }
            let (header, _, _) = trace_header(true);
            let invocation = runtime.invoke(event.clone(), Some(&header)).await?;
            let next = runtime.next_after(&invocation.request_id).await?;
            if scenario.cold_caches {
                clear_cpu_caches(self.cpus)?;
            }
            ensure!(
                invocation.json()["statusCode"] == 200,
                "bad response: {}",
                invocation.text()
            );
            if n >= WARM_UP {
                latency.push(micros(invocation.handler_duration()));
                billed.push(micros(next.duration_since(invocation.answered_at)));
            }
        }
        let cpu_per_invocation = (cpu_micros(function.pid())? - cpu_before) / self.invocations as f64;
        let rss_kib = function.peak_rss_kib().unwrap_or(0) as f64;
        let anon_kib = anon_kib(function.pid())?;
        // Lambda's shutdown: SIGTERM (the telemetry registers an extension), SIGKILL after 500 ms.
        runtime.shutdown();
        let _ = function.wait_exit(Duration::from_secs(5)).await;
        if scenario.ssm {
            // The key came (every export carries it): the figures include its read.
            let exports = otlp.requests();
            ensure!(
                !exports.is_empty() && exports.iter().all(|e| e.header("x-honeycomb-team") == Some(KEY)),
                "{}: {} exports, not all with the key from SSM\n{}",
                scenario.label,
                exports.len(),
                function.output_tail(20)
            );
        }
        Ok(Figures {
            p50: percentile(&mut latency, 0.50),
            p99: percentile(&mut latency, 0.99),
            billed_p50: percentile(&mut billed, 0.50),
            billed_p99: percentile(&mut billed, 0.99),
            rss_kib,
            anon_kib,
            cpu_per_invocation,
            ..Figures::default()
        })
    }

    /// Lambda Managed Instances: `max` invocations in flight at once, never frozen.
    async fn measure_concurrent(
        &self,
        scenario: &Scenario,
        stand: &Stand,
        max: u32,
    ) -> anyhow::Result<Figures> {
        let path = self.dir.join(scenario.binary);
        let env = stand.env();
        let runtime = RuntimeApi::builder()
            .concurrency(max)
            .ack_delay(ACK_DELAY)
            .start()
            .await;
        let function = self.spawn(&path, &runtime, &env)?;
        runtime
            .wait_for_next_poll(max as usize, Duration::from_secs(10))
            .await
            .with_context(|| format!("{}: not {max} workers polling", scenario.label))?;
        let event = home_activities_event();
        let batch = |n: usize| {
            (0..n)
                .map(|_| runtime.enqueue(event.clone(), Some(&trace_header(true).0)))
                .collect::<Vec<_>>()
        };
        let wait = |ids: Vec<String>| {
            let runtime = &runtime;
            async move {
                let mut answers = Vec::new();
                for id in ids {
                    answers.push(runtime.wait_for_answer(&id, Duration::from_secs(30)).await?);
                }
                anyhow::Ok(answers)
            }
        };
        // Warm-up: every worker's first invocation, twice over.
        wait(batch(2 * max as usize)).await?;
        let cpu_before = cpu_micros(function.pid())?;
        let mut latency = Vec::new();
        let answers = wait(batch(self.invocations)).await?;
        // Delivery may still be exporting the last invocations' spans (nothing waits for it
        // under Managed Instances): give it a moment, so their CPU time is counted too.
        tokio::time::sleep(Duration::from_millis(200)).await;
        let cpu_per_invocation = (cpu_micros(function.pid())? - cpu_before) / self.invocations as f64;
        for invocation in answers {
            ensure!(
                invocation.json()["statusCode"] == 200,
                "bad response: {}",
                invocation.text()
            );
            latency.push(micros(invocation.handler_duration()));
        }
        // Every worker held an invocation at once (or nearly: one may be between its
        // acknowledgement and its next `next` at the busiest moment).
        let in_flight = runtime.max_in_flight();
        ensure!(
            in_flight >= max as usize - max as usize / 8,
            "{}: at most {in_flight} invocations overlapped, not {max}",
            scenario.label
        );
        let rss_kib = function.peak_rss_kib().unwrap_or(0) as f64;
        let anon_kib = anon_kib(function.pid())?;
        runtime.shutdown();
        let _ = function.wait_exit(Duration::from_secs(5)).await;
        Ok(Figures {
            p50: percentile(&mut latency, 0.50),
            p99: percentile(&mut latency, 0.99),
            rss_kib,
            anon_kib,
            cpu_per_invocation,
            in_flight: in_flight as f64,
            ..Figures::default()
        })
    }
}

/// CPU time (user and system) of every thread of process `pid`, in microseconds, from
/// `/proc/<pid>/task/*/schedstat` (nanosecond resolution, unlike `/proc/<pid>/stat`).
fn cpu_micros(pid: u32) -> anyhow::Result<f64> {
    let mut nanos = 0u64;
    for task in std::fs::read_dir(format!("/proc/{pid}/task"))? {
        let schedstat = std::fs::read_to_string(task?.path().join("schedstat"))?;
        nanos += schedstat
            .split_whitespace()
            .next()
            .and_then(|n| n.parse::<u64>().ok())
            .context("schedstat without a run time")?;
    }
    Ok(nanos as f64 / 1e3)
}

/// Writes [`CACHE_CLEARING_BYTES`] from a thread on each core, as other tenants' work
/// does while Lambda keeps a function frozen: the emulator's freezes last microseconds with
/// nothing else running, so without this every build finds its last invocation's code and
/// data still in the caches.
///
/// `cpus`: the harness's core and the functions' (each writer pinned to one), or `None`
/// (two writers wherever the scheduler puts them).
fn clear_cpu_caches(cpus: Option<(usize, usize)>) -> anyhow::Result<()> {
    let writers = match cpus {
        Some((harness, function)) => [Some(harness), Some(function)],
        None => [None, None],
    };
    std::thread::scope(|scope| {
        let writing: Vec<_> = writers
            .into_iter()
            .map(|cpu| {
                scope.spawn(move || {
                    if let Some(cpu) = cpu {
                        cpu::pin_thread(0, cpu)?;
                    }
                    let mut buffer = vec![0u8; CACHE_CLEARING_BYTES];
                    for (i, byte) in buffer.iter_mut().enumerate().step_by(64) {
                        *byte = i as u8;
                    }
                    std::hint::black_box(&buffer);
                    std::io::Result::Ok(())
                })
            })
            .collect();
        for writer in writing {
            writer
                .join()
                .map_err(|_| anyhow::anyhow!("a cache-clearing thread panicked"))?
                .context("pinning a cache-clearing thread")?;
        }
        anyhow::Ok(())
    })
}

/// Drops the file's pages from the page cache (`posix_fadvise(DONTNEED)`: only this file,
/// only pages no process maps), so the next process reads them from disk again.
fn evict_from_page_cache(path: &Path) -> anyhow::Result<()> {
    use std::os::fd::AsRawFd as _;
    let file = std::fs::File::open(path)?;
    // SAFETY: posix_fadvise on a file descriptor we own, over the whole file.
    let rc = unsafe { libc::posix_fadvise(file.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) };
    ensure!(rc == 0, "posix_fadvise({}): error {rc}", path.display());
    Ok(())
}

/// `RssAnon` of process `pid`, in KiB.
fn anon_kib(pid: u32) -> anyhow::Result<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("RssAnon:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
        .context("no RssAnon in /proc/<pid>/status")
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn percentile(values: &mut [f64], q: f64) -> f64 {
    values.sort_by(f64::total_cmp);
    values[((values.len() - 1) as f64 * q).round() as usize]
}

fn median(mut values: Vec<f64>) -> f64 {
    percentile(&mut values, 0.5)
}

/// A figure: its name, how to read it, its unit, the scale from the raw value to the unit.
#[derive(Clone, Copy)]
struct Column {
    name: &'static str,
    get: fn(&Figures) -> f64,
    unit: &'static str,
    scale: f64,
    decimals: usize,
    /// Compared cold start by cold start (see [`Paired`]), not median against median.
    paired: bool,
}

impl Column {
    /// `value` (raw) in this column's unit, e.g. "1.234 ms".
    fn show(&self, value: f64, sign: bool) -> String {
        let value = value / self.scale;
        let number = if sign {
            format!("{value:+.*}", self.decimals)
        } else {
            format!("{value:.*}", self.decimals)
        };
        if self.unit.is_empty() {
            number
        } else {
            format!("{number} {}", self.unit)
        }
    }
}

const INIT: Column = Column {
    name: "init",
    get: |f| f.init,
    unit: "ms",
    scale: 1000.0,
    decimals: 3,
    paired: true,
};
const INIT_UNCACHED: Column = Column {
    name: "init, binary not in page cache",
    get: |f| f.init_uncached,
    unit: "ms",
    scale: 1000.0,
    decimals: 3,
    paired: true,
};
const INIT_CPU: Column = Column {
    name: "init CPU",
    get: |f| f.init_cpu,
    unit: "ms",
    scale: 1000.0,
    decimals: 3,
    paired: true,
};
const INIT_RSS: Column = Column {
    name: "RSS after init",
    get: |f| f.init_rss_kib,
    unit: "MiB",
    scale: 1024.0,
    decimals: 3,
    paired: true,
};
const P50: Column = Column {
    name: "latency p50",
    get: |f| f.p50,
    unit: "ms",
    scale: 1000.0,
    decimals: 3,
    paired: false,
};
const P99: Column = Column {
    name: "latency p99",
    get: |f| f.p99,
    unit: "ms",
    scale: 1000.0,
    decimals: 3,
    paired: false,
};
const BILLED_P50: Column = Column {
    name: "billed after response p50",
    get: |f| f.billed_p50,
    unit: "ms",
    scale: 1000.0,
    decimals: 3,
    paired: false,
};
const BILLED_P99: Column = Column {
    name: "billed after response p99",
    get: |f| f.billed_p99,
    unit: "ms",
    scale: 1000.0,
    decimals: 3,
    paired: false,
};
const ANON: Column = Column {
    name: "anon RSS at the end",
    get: |f| f.anon_kib,
    unit: "MiB",
    scale: 1024.0,
    decimals: 3,
    paired: false,
};
const IN_FLIGHT: Column = Column {
    name: "most in flight",
    get: |f| f.in_flight,
    unit: "",
    scale: 1.0,
    decimals: 0,
    paired: false,
};
const CPU: Column = Column {
    name: "CPU per invocation",
    get: |f| f.cpu_per_invocation,
    unit: "ms",
    scale: 1000.0,
    decimals: 3,
    paired: false,
};
const RSS: Column = Column {
    name: "peak RSS",
    get: |f| f.rss_kib,
    unit: "MiB",
    scale: 1024.0,
    decimals: 3,
    paired: false,
};

/// A table's row: its label, its medians, its spread over trials, and its two baselines.
struct Row<'a> {
    label: &'a str,
    median: Figures,
    spread: Figures,
    size: f64,
    no_telemetry: (Figures, f64),
    bare: (Figures, f64),
    /// The cold starts against each baseline's, round by round.
    paired_no_telemetry: Option<Paired>,
    paired_bare: Option<Paired>,
}

/// Cold starts compared with a baseline's of the same round (they ran within milliseconds
/// of each other, so the machine's load, which drifts over seconds, cancels out): the
/// median difference and the median ratio of each init figure.
#[derive(Clone, Copy)]
struct Paired {
    difference: Figures,
    ratio: Figures,
}

/// `scenario`'s cold starts against `base`'s, round by round (both lists hold one cold start
/// of each round, in order).
fn paired(scenario: &Samples, base: &Samples) -> Paired {
    let stat = |get: fn(&ColdStart) -> f64, op: fn(f64, f64) -> f64| {
        median(
            scenario
                .cold
                .iter()
                .zip(&base.cold)
                .map(|(s, b)| op(get(s), get(b)))
                .collect(),
        )
    };
    let uncached = |op: fn(f64, f64) -> f64| {
        median(
            scenario
                .uncached
                .iter()
                .zip(&base.uncached)
                .map(|(s, b)| op(*s, *b))
                .collect(),
        )
    };
    let figures = |op: fn(f64, f64) -> f64| Figures {
        init: stat(|c| c.wall, op),
        init_cpu: stat(|c| c.cpu, op),
        init_rss_kib: stat(|c| c.rss_kib, op),
        init_uncached: uncached(op),
        ..Figures::default()
    };
    Paired {
        difference: figures(|s, b| s - b),
        ratio: figures(|s, b| s / b),
    }
}

/// Every cold start of a scenario over all trials, round by round.
#[derive(Default)]
struct Samples {
    cold: Vec<ColdStart>,
    uncached: Vec<f64>,
}

/// Prints the absolute figures, then both comparisons, then the spread, as Markdown.
fn print_tables(title: &str, columns: &[Column], with_size: bool, rows: &[Row<'_>]) {
    let header = |first: &str| {
        let mut names: Vec<&str> = columns.iter().map(|c| c.name).collect();
        if with_size {
            names.push("stripped binary");
        }
        println!("| {first} | {} |", names.join(" | "));
        println!("|---|{}", "---|".repeat(names.len()));
    };
    println!("{title}\n");
    header("medians");
    for row in rows {
        let mut cells: Vec<String> = columns
            .iter()
            .map(|c| c.show((c.get)(&row.median), false))
            .collect();
        if with_size {
            cells.push(format!("{:.2} MB", row.size / 1e6));
        }
        println!("| {} | {} |", row.label, cells.join(" | "));
    }
    type Pick = fn(&Row<'_>) -> ((Figures, f64), Option<Paired>);
    for (against, pick) in [
        (
            "against the build without telemetry",
            (|r| (r.no_telemetry, r.paired_no_telemetry)) as Pick,
        ),
        ("against the bare limit", |r| (r.bare, r.paired_bare)),
    ] {
        println!();
        header(against);
        for row in rows {
            let ((base, base_size), paired) = pick(row);
            let mut cells: Vec<String> = columns
                .iter()
                .map(|c| match paired.filter(|_| c.paired) {
                    Some(p) => format!(
                        "x{:.2}, {}",
                        (c.get)(&p.ratio),
                        c.show((c.get)(&p.difference), true)
                    ),
                    None => {
                        let (value, base) = ((c.get)(&row.median), (c.get)(&base));
                        format!("x{:.2}, {}", value / base, c.show(value - base, true))
                    }
                })
                .collect();
            if with_size {
                cells.push(format!(
                    "x{:.2}, {:+.2} MB",
                    row.size / base_size,
                    (row.size - base_size) / 1e6
                ));
            }
            println!("| {} | {} |", row.label, cells.join(" | "));
        }
    }
    println!();
    header("spread over trials (max - min)");
    for row in rows {
        let mut cells: Vec<String> = columns
            .iter()
            .map(|c| c.show((c.get)(&row.spread), false))
            .collect();
        if with_size {
            cells.push("-".into());
        }
        println!("| {} | {} |", row.label, cells.join(" | "));
    }
    println!();
}

/// Median and spread (max - min) of each figure over the trials.
fn summarize(trials: &[Figures]) -> (Figures, Figures) {
    let each = |get: fn(&Figures) -> f64| {
        let values: Vec<f64> = trials.iter().map(get).collect();
        let (min, max) = values
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
                (lo.min(*v), hi.max(*v))
            });
        (median(values), max - min)
    };
    let (init, init_cpu, init_rss_kib) = (each(|f| f.init), each(|f| f.init_cpu), each(|f| f.init_rss_kib));
    let init_uncached = each(|f| f.init_uncached);
    let cpu_per_invocation = each(|f| f.cpu_per_invocation);
    let anon_kib = each(|f| f.anon_kib);
    let in_flight = each(|f| f.in_flight);
    let (p50, p99, billed_p50, billed_p99, rss_kib) = (
        each(|f| f.p50),
        each(|f| f.p99),
        each(|f| f.billed_p50),
        each(|f| f.billed_p99),
        each(|f| f.rss_kib),
    );
    (
        Figures {
            init: init.0,
            init_uncached: init_uncached.0,
            init_cpu: init_cpu.0,
            init_rss_kib: init_rss_kib.0,
            p50: p50.0,
            p99: p99.0,
            billed_p50: billed_p50.0,
            billed_p99: billed_p99.0,
            rss_kib: rss_kib.0,
            cpu_per_invocation: cpu_per_invocation.0,
            anon_kib: anon_kib.0,
            in_flight: in_flight.0,
        },
        Figures {
            init: init.1,
            init_uncached: init_uncached.1,
            init_cpu: init_cpu.1,
            init_rss_kib: init_rss_kib.1,
            p50: p50.1,
            p99: p99.1,
            billed_p50: billed_p50.1,
            billed_p99: billed_p99.1,
            rss_kib: rss_kib.1,
            cpu_per_invocation: cpu_per_invocation.1,
            anon_kib: anon_kib.1,
            in_flight: in_flight.1,
        },
    )
}

fn file_size(dir: &Path, binary: &str) -> anyhow::Result<f64> {
    let path = dir.join(binary);
    let metadata = std::fs::metadata(&path)
        .with_context(|| format!("{}: build it first (scripts/bench does)", path.display()))?;
    Ok(metadata.len() as f64)
}

/// Keeps this process (the emulator, the stand-ins, moto, and every thread and child
/// started from here on) on one core and returns another for the functions, when there
/// are two: on Lambda the function has its vCPU to itself while the Runtime API, the
/// X-Ray daemon and the collector run elsewhere. Sharing cores, the stand-ins' handling of
/// one invocation's telemetry (decoding its export, parsing its datagram and log lines)
/// delayed the emulator's reading of the next response, and the build with telemetry was
/// charged for it (measured by interleaved runs of the two builds, 8 to 24 rounds of 1,000
/// invocations: p50 +22 to +27 us against the build without telemetry unpinned, +0 to +15
/// pinned).
fn pin_harness() -> anyhow::Result<Option<(usize, usize)>> {
    let cpus = cpu::allowed_cpus().context("reading this thread's CPUs")?;
    match (cpus.first(), cpus.last()) {
        (Some(&harness), Some(&function)) if harness != function => {
            cpu::pin_thread(0, harness).context("pinning the harness")?;
            Ok(Some((harness, function)))
        }
        _ => Ok(None),
    }
}

fn main() -> anyhow::Result<()> {
    // Before the runtime starts its threads, so that they inherit the harness's core.
    let cpus = pin_harness()?;
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?
        .block_on(run(cpus))
}

async fn run(cpus: Option<(usize, usize)>) -> anyhow::Result<()> {
    let started = Instant::now();
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(args.next().unwrap_or_else(|| "target/bench".into()));
    let invocations: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(1000);
    let trials: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(4);
    // Any further `NAME=value` arguments go to the functions' environment.
    let extra_env: Vec<(String, String)> = args
        .filter_map(|a| a.split_once('=').map(|(k, v)| (k.to_owned(), v.to_owned())))
        .collect();
    let sizes = [
        file_size(&dir, BARE)?,
        file_size(&dir, NO_TELEMETRY)?,
        file_size(&dir, TELEMETRY)?,
    ];
    let size_of = |binary: &str| match binary {
        BARE => sizes[0],
        NO_TELEMETRY => sizes[1],
        _ => sizes[2],
    };

    let moto = MotoServer::start().await?;
    moto.put_secure_string(KEY_PARAMETER, KEY).await?;
    let ssm = LatencyProxy::start(moto.port(), SSM_LATENCY).await?;
    let bench = Bench {
        dir,
        cpus,
        invocations,
        extra_env,
        moto,
        ssm,
    };

    let mut scenarios = vec![
        Scenario::on_demand("bare limit (lambda_http only)", BARE, Behaviour::Healthy),
        Scenario::on_demand("no telemetry", NO_TELEMETRY, Behaviour::Healthy),
        Scenario::on_demand("telemetry, healthy collector", TELEMETRY, Behaviour::Healthy),
        Scenario::on_demand(
            "telemetry, healthy collector 5 ms away",
            TELEMETRY,
            Behaviour::Slow(REMOTE_COLLECTOR_LATENCY),
        ),
        Scenario::on_demand(
            "telemetry, collector 200 ms slow",
            TELEMETRY,
            Behaviour::Slow(Duration::from_millis(200)),
        ),
        Scenario::on_demand(
            "telemetry, collector failing (503)",
            TELEMETRY,
            Behaviour::Failing(503),
        ),
        Scenario {
            ssm: true,
            ..Scenario::on_demand("telemetry, key in SSM 25 ms away", TELEMETRY, Behaviour::Healthy)
        },
    ];
    let on_demand = scenarios.len();
    // The three builds (the telemetry one with a healthy collector), for the tables that
    // compare only them.
    let builds = [
        ("bare limit", BARE),
        ("no telemetry", NO_TELEMETRY),
        ("telemetry, healthy collector", TELEMETRY),
    ];
    let cold_caches = on_demand;
    for (label, binary) in builds {
        scenarios.push(Scenario {
            label: format!("caches cleared: {label}"),
            cold_caches: true,
            ..Scenario::on_demand(label, binary, Behaviour::Healthy)
        });
    }
    for max in CONCURRENCY {
        for (label, binary) in builds {
            scenarios.push(Scenario {
                label: format!("{max} in flight: {label}"),
                concurrency: Some(max),
                ..Scenario::on_demand(label, binary, Behaviour::Healthy)
            });
        }
    }

    // Trials interleave the scenarios, so drift on the machine hits all of them alike; within
    // a trial, so do the cold starts (one of each scenario in turn).
    let mut runs: Vec<Vec<Figures>> = vec![Vec::new(); scenarios.len()];
    let mut samples: Vec<Samples> = (0..on_demand).map(|_| Samples::default()).collect();
    for trial in 0..trials {
        let mut stands = Vec::new();
        for scenario in &scenarios {
            stands.push(bench.stand(scenario).await);
        }
        eprintln!("trial {}/{trials}: cold starts", trial + 1);
        // Rounds of one cold start of each scenario, in a new random order each (what ran
        // just before changes what is still in the CPU caches), the binaries in the page
        // cache (as after `cargo lambda build`, or an unzip, wrote them). Then rounds with
        // the binary evicted from the page cache first, so its pages are read from disk.
        let mut cold: Vec<Vec<ColdStart>> = (0..on_demand).map(|_| Vec::new()).collect();
        let mut uncached: Vec<Vec<f64>> = vec![Vec::new(); on_demand];
        let mut order: Vec<usize> = (0..on_demand).collect();
        for _ in 0..INIT_SAMPLES {
            fastrand::shuffle(&mut order);
            for &i in &order {
                cold[i].push(bench.cold_start(&scenarios[i], &stands[i], false).await?);
            }
        }
        for _ in 0..UNCACHED_INIT_SAMPLES {
            fastrand::shuffle(&mut order);
            for &i in &order {
                uncached[i].push(bench.cold_start(&scenarios[i], &stands[i], true).await?.wall);
            }
        }
        // The warm invocations find every binary in the page cache again, as the cached cold
        // starts did: otherwise the first scenario of each binary after the evictions paid
        // disk reads for code its warm-up had not touched yet (the telemetry build's
        // healthy-collector row, measured first, ran 20 to 30 us slower at p50 than its
        // other rows, and its p99 up to 150 us).
        for binary in [BARE, NO_TELEMETRY, TELEMETRY] {
            let path = bench.dir.join(binary);
            std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        }
        // In a new random order each trial too: what ran just before (the cold starts, a
        // scenario that left the machine busy) must not always land on the same scenario
        // (in a fixed order the healthy-collector row, first after the baselines, ran 20 us
        // slower at p50 than the other telemetry rows, run after run).
        let mut measured: Vec<usize> = (0..scenarios.len()).collect();
        fastrand::shuffle(&mut measured);
        for i in measured {
            let scenario = &scenarios[i];
            eprintln!("trial {}/{trials}: {}", trial + 1, scenario.label);
            let mut figures = bench.measure(scenario, &stands[i]).await?;
            if let Some(cold) = cold.get(i) {
                figures.init_uncached = median(uncached[i].clone());
                figures.init = median(cold.iter().map(|c| c.wall).collect());
                figures.init_cpu = median(cold.iter().map(|c| c.cpu).collect());
                figures.init_rss_kib = median(cold.iter().map(|c| c.rss_kib).collect());
            }
            runs[i].push(figures);
        }
        for (i, (cold, uncached)) in cold.into_iter().zip(uncached).enumerate() {
            samples[i].cold.extend(cold);
            samples[i].uncached.extend(uncached);
        }
    }
    let summaries: Vec<(Figures, Figures)> = runs.iter().map(|r| summarize(r)).collect();

    let rows = |range: std::ops::Range<usize>, bare: usize, no_telemetry: usize| {
        range
            .map(|i| Row {
                label: &scenarios[i].label,
                median: summaries[i].0,
                spread: summaries[i].1,
                size: size_of(scenarios[i].binary),
                no_telemetry: (summaries[no_telemetry].0, size_of(NO_TELEMETRY)),
                bare: (summaries[bare].0, size_of(BARE)),
                paired_no_telemetry: samples.get(i).map(|s| paired(s, &samples[no_telemetry])),
                paired_bare: samples.get(i).map(|s| paired(s, &samples[bare])),
            })
            .collect::<Vec<_>>()
    };
    match cpus {
        Some((harness, function)) => println!(
            "Each function on CPU {function}; the emulator, the stand-ins and moto on CPU {harness}."
        ),
        None => println!("One CPU: the functions and the harness share it."),
    }
    println!(
        "home-activities, release builds (fat LTO), stripped copies (`strip --strip-all`); \
         medians of {trials} trials, {invocations} measured invocations a run after {WARM_UP} \
         (on demand) or 2 x concurrency (Managed Instances) to warm up; init: median of \
         {INIT_SAMPLES} cold starts a run ({UNCACHED_INIT_SAMPLES} without the binary in the page \
         cache), compared with the baselines' cold starts of the same round (median of the \
         differences and of the ratios)\n"
    );
    print_tables(
        "One invocation at a time (Lambda on demand, frozen between invocations)",
        &[
            INIT,
            INIT_CPU,
            INIT_UNCACHED,
            P50,
            P99,
            BILLED_P50,
            BILLED_P99,
            CPU,
            INIT_RSS,
            RSS,
            ANON,
        ],
        true,
        &rows(0..on_demand, 0, 1),
    );
    print_tables(
        &format!(
            "One invocation at a time, the CPU caches cleared during each freeze ({} MiB written \
             from each core, as other tenants' work would)",
            CACHE_CLEARING_BYTES >> 20
        ),
        &[P50, P99, BILLED_P50, BILLED_P99, CPU],
        false,
        &rows(cold_caches..cold_caches + 3, cold_caches, cold_caches + 1),
    );
    for (k, max) in CONCURRENCY.iter().enumerate() {
        let first = cold_caches + 3 + 3 * k;
        print_tables(
            &format!(
                "{max} invocations in flight (Lambda Managed Instances, AWS_LAMBDA_MAX_CONCURRENCY={max}, \
                 responses acknowledged after {} ms; overlap checked)",
                ACK_DELAY.as_millis()
            ),
            &[IN_FLIGHT, P50, P99, CPU, RSS, ANON],
            false,
            &rows(first..first + 3, first, first + 1),
        );
    }
    eprintln!("benchmark took {:.0} s", started.elapsed().as_secs_f64());
    Ok(())
}
