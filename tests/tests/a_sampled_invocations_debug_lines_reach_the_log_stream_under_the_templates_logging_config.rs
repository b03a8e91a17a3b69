//! Debug log sampling as deployed: the function runs with exactly the environment Lambda
//! gives it under template.yaml (`Globals.Function.Environment.Variables`, and
//! `AWS_LAMBDA_LOG_LEVEL`/`AWS_LAMBDA_LOG_FORMAT` from `Globals.Function.LoggingConfig`),
//! and its stdout goes through Lambda's advanced logging controls (ALC) as it would on
//! its way to CloudWatch Logs. A sampled invocation's DEBUG line must reach the log
//! stream; with sampling off, no DEBUG line may.
//!
//! This fails while the template sets `ApplicationLogLevel: INFO`: Lambda then drops the
//! DEBUG lines that sampling writes. The fix is in the template and the telemetry, both
//! owned elsewhere: the template lets DEBUG through (`ApplicationLogLevel: DEBUG`) and
//! sets the function's own level with `POWERTOOLS_LOG_LEVEL` (INFO), as Powertools
//! documents for ALC; the telemetry gives `POWERTOOLS_LOG_LEVEL` precedence over
//! `AWS_LAMBDA_LOG_LEVEL`, so that unsampled invocations stay at INFO.

use std::fs;

use anyhow::{anyhow, bail, Context as _};
use cruddur_tests::alc::{self, LogLevel};
use cruddur_tests::{events::rest_api_event, function::workspace_root, Behaviour, MotoServer, Stack};
use serde_json::Value;
use serde_yaml::Value as Yaml;

/// The SSM parameter the template names for the Honeycomb key (put into moto).
const HONEYCOMB_KEY: &str = "hcaik_alc_test_key";

/// What the template's `Globals.Function` gives every function's process.
struct TemplateLogging {
    /// `LoggingConfig.ApplicationLogLevel` (Lambda's default is INFO).
    application_level: LogLevel,
    /// `LoggingConfig.LogFormat` (ALC filters only JSON).
    format: String,
    /// `Environment.Variables`, with `Ref`s to parameters resolved to their defaults (and
    /// those a condition leaves out, as it evaluates with the defaults, left out).
    variables: Vec<(String, String)>,
}

fn read_template() -> anyhow::Result<TemplateLogging> {
    let path = workspace_root().join("template.yaml");
    let template: Yaml = serde_yaml::from_str(&fs::read_to_string(&path)?)
        .with_context(|| format!("{} is not YAML", path.display()))?;
    let globals = &template["Globals"]["Function"];
    let logging = &globals["LoggingConfig"];
    let application_level = match logging["ApplicationLogLevel"].as_str() {
        Some(level) => level.parse().map_err(|e: String| anyhow!(e))?,
        None => LogLevel::Info,
    };
    let format = logging["LogFormat"].as_str().unwrap_or("Text").to_owned();
    let mut variables = Vec::new();
    if let Some(mapping) = globals["Environment"]["Variables"].as_mapping() {
        for (name, value) in mapping {
            let name = name.as_str().context("a variable name is not a string")?;
            if let Some(value) = resolve(&template, name, value)? {
                variables.push((name.to_owned(), value));
            }
        }
    }
    Ok(TemplateLogging {
        application_level,
        format,
        variables,
    })
}

/// A variable's value as CloudFormation would set it with the parameters' defaults; `None`
/// where a condition leaves it out (`Fn::If` to `AWS::NoValue`).
fn resolve(template: &Yaml, name: &str, value: &Yaml) -> anyhow::Result<Option<String>> {
    let scalar = |value: &Yaml| -> Option<String> {
        match value {
            Yaml::String(s) => Some(s.clone()),
            Yaml::Number(n) => Some(n.to_string()),
            Yaml::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    };
    if let Some(text) = scalar(value) {
        return Ok(Some(text));
    }
    if value["Ref"].as_str() == Some("AWS::NoValue") {
        return Ok(None);
    }
    if let Some(parameter) = value["Ref"].as_str() {
        let default = &template["Parameters"][parameter]["Default"];
        return scalar(default)
            .map(Some)
            .ok_or_else(|| anyhow!("{name}: parameter {parameter} has no default to deploy with"));
    }
    if let Some([condition, then, otherwise]) = value["Fn::If"].as_sequence().map(Vec::as_slice) {
        let condition = condition.as_str().context("Fn::If names its condition")?;
        let chosen = if holds(template, name, condition)? {
            then
        } else {
            otherwise
        };
        return resolve(template, name, chosen);
    }
    bail!("{name}: cannot resolve {value:?} (only plain values, Ref to a parameter and Fn::If)")
}

/// Whether a named condition holds with the parameters' defaults.
fn holds(template: &Yaml, name: &str, condition: &str) -> anyhow::Result<bool> {
    evaluate(template, name, &template["Conditions"][condition])
}

/// A condition expression (`Fn::Equals`, `Fn::Not`, or `{Condition: name}`), evaluated as
/// CloudFormation would with the parameters' defaults.
fn evaluate(template: &Yaml, name: &str, expression: &Yaml) -> anyhow::Result<bool> {
    if let Some([left, right]) = expression["Fn::Equals"].as_sequence().map(Vec::as_slice) {
        return Ok(resolve(template, name, left)? == resolve(template, name, right)?);
    }
    if let Some([inner]) = expression["Fn::Not"].as_sequence().map(Vec::as_slice) {
        return Ok(!evaluate(template, name, inner)?);
    }
    if let Some(condition) = expression["Condition"].as_str() {
        return holds(template, name, condition);
    }
    bail!("{name}: cannot evaluate condition {expression:?}")
}

/// Runs powertools-parity's `/debug` (one DEBUG line, "a debug line") under the template's
/// settings with `POWERTOOLS_LOGGER_SAMPLE_RATE=rate`; returns every stdout line, the lines
/// ALC lets through, and the invocation's request id.
async fn debug_invocation(
    moto: &MotoServer,
    template: &TemplateLogging,
    rate: &str,
) -> anyhow::Result<(Vec<String>, Vec<String>, String)> {
    let mut env: Vec<(String, String)> = template
        .variables
        .iter()
        // The stack points the function at its own OTLP collector.
        .filter(|(name, _)| name != "OTEL_EXPORTER_OTLP_ENDPOINT")
        .cloned()
        .collect();
    // What Lambda sets from LoggingConfig.
    env.push((
        "AWS_LAMBDA_LOG_LEVEL".into(),
        template.application_level.to_string(),
    ));
    env.push(("AWS_LAMBDA_LOG_FORMAT".into(), template.format.to_uppercase()));
    // The Honeycomb key's SSM parameter lives in moto.
    env.extend(moto.env());
    env.push(("POWERTOOLS_LOGGER_SAMPLE_RATE".into(), rate.into()));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();

    let stack = Stack::start_example("powertools-parity", Behaviour::Healthy, &env).await?;
    let traced = stack
        .invoke(rest_api_event("GET", "/debug", "/debug", None, None, None))
        .await?;
    assert_eq!(traced.json()["statusCode"], 200, "{}", traced.invocation.text());
    stack.settled(traced.request_id()).await?;
    let written = stack.function.stdout_lines();
    let shipped = alc::filter(&written, template.application_level);
    Ok((written, shipped, traced.request_id().to_owned()))
}

/// The JSON lines of one request among `lines`.
fn lines_of(lines: &[String], request_id: &str) -> Vec<Value> {
    lines
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|l| l["requestId"] == request_id)
        .collect()
}

fn is_debug(line: &Value) -> bool {
    line["level"]
        .as_str()
        .is_some_and(|level| level.eq_ignore_ascii_case("DEBUG"))
}

#[tokio::test]
async fn a_sampled_invocations_debug_lines_reach_the_log_stream_under_the_templates_logging_config(
) -> anyhow::Result<()> {
    let template = read_template()?;
    assert_eq!(
        template.format, "JSON",
        "ALC filters by level only with LogFormat JSON"
    );
    let moto = MotoServer::start().await?;
    if let Some((_, parameter)) = template
        .variables
        .iter()
        .find(|(name, _)| name == "HONEYCOMB_API_KEY_PARAMETER")
    {
        moto.put_secure_string(parameter, HONEYCOMB_KEY).await?;
    }
    let level = template.application_level;

    // Sampled: its DEBUG line reaches the log stream.
    let (written, shipped, id) = debug_invocation(&moto, &template, "1").await?;
    let in_stream = lines_of(&shipped, &id);
    if !in_stream.iter().any(is_debug) {
        let wrote_it = lines_of(&written, &id).into_iter().any(|l| is_debug(&l));
        if wrote_it {
            bail!(
                "the sampled invocation wrote its DEBUG line, but Lambda's ApplicationLogLevel \
                 {level} (template.yaml Globals LoggingConfig) drops it before CloudWatch Logs: \
                 let DEBUG through (ApplicationLogLevel: DEBUG) and set the function's own level \
                 with POWERTOOLS_LOG_LEVEL. Lines that reached the stream: {in_stream:#?}"
            );
        }
        bail!(
            "the sampled invocation wrote no DEBUG line at all under the template's environment \
             (AWS_LAMBDA_LOG_LEVEL={level}, POWERTOOLS_LOGGER_SAMPLE_RATE=1): {:#?}",
            lines_of(&written, &id)
        );
    }
    let debug = in_stream.iter().find(|l| is_debug(l)).unwrap();
    assert_eq!(debug["message"], "a debug line", "{debug}");
    assert!(
        in_stream.iter().any(|l| l.get("_aws").is_some()),
        "the EMF line (no level: INFO) reaches the stream too: {in_stream:#?}"
    );

    // Not sampled: no DEBUG line reaches the log stream.
    let (_, shipped, id) = debug_invocation(&moto, &template, "0").await?;
    let leaked: Vec<Value> = lines_of(&shipped, &id).into_iter().filter(is_debug).collect();
    assert!(
        leaked.is_empty(),
        "an unsampled invocation's DEBUG line reached the log stream (ApplicationLogLevel \
         {level}): the function's own level (POWERTOOLS_LOG_LEVEL) must keep DEBUG out when \
         Lambda lets it through: {leaked:#?}"
    );
    Ok(())
}
