//! template.yaml, transformed by the SAM translator (`tests/template/transform.py`, PyPI
//! aws-sam-translator, what `sam` runs), makes a REST API that API Gateway accepts and that
//! serves exactly the api crate's route table, protected and browsable:
//!
//! - the routes derived from the generated OpenAPI body (path, method, the function its
//!   integration invokes, its authorizer) are `api::ROUTES`, no more, no less;
//! - every path obeys API Gateway's path-part rule and one-variable-among-siblings rule,
//!   and moto's API Gateway accepts every resource (CreateResource) and method (PutMethod);
//! - the signed-in routes, and only those, carry the Cognito user pool authorizer;
//! - every path has a preflight (OPTIONS) allowing the headers the front end sends, and
//!   API Gateway's own answers carry the allowed origin;
//! - the stage is traced and throttled, and its JSON access log carries the X-Ray trace id
//!   under the key the functions' log lines use, so the saved Logs Insights query, which
//!   reads the access log group too, finds it beside them;
//! - every function lets sampled DEBUG lines through Lambda's log controls and takes its
//!   own level from `LogLevel`; none can be given a local user; `OtlpEndpoint` is https only.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

use anyhow::{anyhow, bail, ensure, Context as _};
use api::{routes::path_problems, Access, ROUTES};
use cruddur_tests::{function::workspace_root, MotoServer};
use serde_json::{json, Value};

/// One route as the generated REST API serves it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Served {
    method: String,
    path: String,
    binary: String,
    authorizer: Option<String>,
}

#[tokio::test]
async fn the_template_deploys_a_protected_rest_api() -> anyhow::Result<()> {
    let moto = MotoServer::start().await?;
    let out = transform(Some(&moto.endpoint()))?;
    let template = &out["template"];
    let resources = template["Resources"]
        .as_object()
        .ok_or_else(|| anyhow!("the transformed template has no Resources"))?;
    let of_type = |kind: &str| -> Vec<(&String, &Value)> {
        resources.iter().filter(|(_, r)| r["Type"] == kind).collect()
    };

    let apis = of_type("AWS::ApiGateway::RestApi");
    ensure!(apis.len() == 1, "one REST API, not {}", apis.len());
    let (api_id, api) = apis[0];
    let body = &api["Properties"]["Body"];
    let paths = body["paths"]
        .as_object()
        .ok_or_else(|| anyhow!("{api_id} has no OpenAPI paths"))?;

    // The routes, derived from the generated API, are the route table.
    let cognito = cognito_authorizers(body);
    ensure!(
        cognito.len() == 1,
        "one Cognito user pool authorizer, not {cognito:?}"
    );
    let cognito = cognito.into_iter().next().unwrap_or_default();
    let mut served = BTreeSet::new();
    for (path, operations) in paths {
        for (method, operation) in operations.as_object().into_iter().flatten() {
            if method == "options" {
                continue;
            }
            let integration = &operation["x-amazon-apigateway-integration"];
            assert_eq!(integration["type"], "aws_proxy", "{method} {path}");
            let function = invoked_function(integration)
                .ok_or_else(|| anyhow!("{method} {path}: no function in {integration}"))?;
            let binary = resources[&function]["Metadata"]["BuildProperties"]["Binary"]
                .as_str()
                .ok_or_else(|| anyhow!("{function} has no Metadata.BuildProperties.Binary"))?;
            let security: Vec<String> = operation["security"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_object)
                .flat_map(|item| item.keys().cloned())
                .collect();
            ensure!(
                security.len() <= 1,
                "{method} {path}: several authorizers {security:?}"
            );
            served.insert(Served {
                method: method.to_ascii_uppercase(),
                path: path.clone(),
                binary: binary.to_owned(),
                authorizer: security.into_iter().next(),
            });
        }
    }
    let expected: BTreeSet<Served> = ROUTES
        .iter()
        .map(|route| Served {
            method: route.method().to_string(),
            path: route.template().to_owned(),
            binary: route.binary().to_owned(),
            authorizer: (route.access() == Access::SignedIn).then(|| cognito.clone()),
        })
        .collect();
    assert_eq!(
        served, expected,
        "the generated REST API vs api::ROUTES (authorizer on the signed-in routes only)"
    );

    // API Gateway's path rules, and moto's API Gateway builds it.
    let problems = path_problems(paths.keys().map(String::as_str));
    assert!(problems.is_empty(), "API Gateway would refuse: {problems:#?}");
    let built = &out["moto"][api_id.as_str()];
    assert_eq!(built["errors"], json!([]), "moto refused: {built:#}");
    let created: BTreeSet<&str> = strings(&built["created"]).collect();
    for path in paths.keys() {
        assert!(created.contains(path.as_str()), "moto has no resource {path}");
    }
    let methods: BTreeSet<&str> = strings(&built["methods"]).collect();
    for route in ROUTES {
        let authorization = match route.access() {
            Access::SignedIn => "COGNITO_USER_POOLS",
            Access::Anyone => "NONE",
        };
        let method = format!("{} {} {authorization}", route.method(), route.template());
        assert!(methods.contains(method.as_str()), "moto has no method {method}");
    }

    // The authorizer: the stack's user pool or the given one, on the ID token.
    let scheme = &body["components"]["securitySchemes"][&cognito];
    assert_eq!(scheme["name"], "Authorization", "{scheme}");
    let provider = &scheme["x-amazon-apigateway-authorizer"]["providerARNs"][0]["Fn::If"];
    assert_eq!(provider[0], "CreateUserPool", "{scheme}");
    assert_eq!(
        provider[1],
        json!({"Fn::GetAtt": "CruddurUserPool.Arn"}),
        "{scheme}"
    );
    let pool = &resources["CruddurUserPool"];
    assert_eq!(pool["Type"], "AWS::Cognito::UserPool");
    assert_eq!(pool["Condition"], "CreateUserPool");
    assert_eq!(
        pool["Properties"]["AdminCreateUserConfig"]["AllowAdminCreateUserOnly"],
        true
    );
    let client = &resources["CruddurUserPoolClient"]["Properties"];
    assert_eq!(client["GenerateSecret"], false, "a browser keeps no secret");
    assert!(
        !strings(&client["WriteAttributes"]).any(|a| a == "preferred_username"),
        "users must not choose the handle their tokens name: {client}"
    );

    // A preflight on every path, allowing the front end's headers and the path's methods.
    let origin = json!({"Fn::Sub": "'${AllowedOrigin}'"});
    for (path, operations) in paths {
        let options = &operations["options"];
        let integration = &options["x-amazon-apigateway-integration"];
        ensure!(
            integration["type"] == "mock",
            "{path} has no preflight: {operations:#}"
        );
        let headers = &integration["responses"]["default"]["responseParameters"];
        assert_eq!(
            headers["method.response.header.Access-Control-Allow-Origin"], origin,
            "{path}"
        );
        let allowed = header_list(&headers["method.response.header.Access-Control-Allow-Headers"]);
        for header in api::cors::ALLOW_HEADERS {
            assert!(
                allowed.iter().any(|a| a.eq_ignore_ascii_case(header)),
                "{path}'s preflight does not allow {header}: {allowed:?}"
            );
        }
        let methods = header_list(&headers["method.response.header.Access-Control-Allow-Methods"]);
        for method in operations.as_object().into_iter().flatten().map(|(m, _)| m) {
            assert!(
                methods.iter().any(|a| a.eq_ignore_ascii_case(method)),
                "{path}'s preflight does not allow {method}: {methods:?}"
            );
        }
    }

    // API Gateway's own answers (its 4xx and 5xx, the authorizer's 401) carry the origin.
    let responses = body["x-amazon-apigateway-gateway-responses"]
        .as_object()
        .ok_or_else(|| anyhow!("no gateway responses"))?;
    for family in ["DEFAULT_4XX", "DEFAULT_5XX", "UNAUTHORIZED"] {
        ensure!(responses.contains_key(family), "no {family} gateway response");
    }
    for (kind, response) in responses {
        assert_eq!(
            response["responseParameters"]["gatewayresponse.header.Access-Control-Allow-Origin"], origin,
            "{kind}"
        );
        let shape = response["responseTemplates"]["application/json"]
            .as_str()
            .unwrap_or_default();
        assert!(
            shape.starts_with(r#"{"error":""#),
            "{kind} answers Cruddur's error shape: {shape}"
        );
    }
    assert_eq!(responses["UNAUTHORIZED"]["statusCode"], "401");

    // The stage: traced, throttled, logging access as JSON with the trace id.
    let stages = of_type("AWS::ApiGateway::Stage");
    ensure!(stages.len() == 1, "one stage, not {}", stages.len());
    let stage = &stages[0].1["Properties"];
    assert_eq!(stage["StageName"], "prod");
    assert_eq!(stage["TracingEnabled"], true);
    let settings = &stage["MethodSettings"][0];
    assert_eq!(
        (settings["ResourcePath"].as_str(), settings["HttpMethod"].as_str()),
        (Some("/*"), Some("*"))
    );
    for (setting, parameter) in [
        ("ThrottlingRateLimit", "ThrottlingRateLimit"),
        ("ThrottlingBurstLimit", "ThrottlingBurstLimit"),
    ] {
        assert_eq!(settings[setting], json!({"Ref": parameter}));
        assert_eq!(template["Parameters"][parameter]["Type"], "Number");
    }
    let access_log = &stage["AccessLogSetting"];
    let log_group = access_log["DestinationArn"]["Fn::GetAtt"]
        .as_str()
        .and_then(|attribute| attribute.strip_suffix(".Arn"))
        .ok_or_else(|| anyhow!("the access log goes to no log group: {access_log}"))?;
    assert_eq!(resources[log_group]["Type"], "AWS::Logs::LogGroup");
    assert!(
        !resources[log_group]["Properties"]["RetentionInDays"].is_null(),
        "{log_group} keeps its logs forever"
    );
    let format = access_log_keys(access_log["Format"].as_str().unwrap_or_default())?;
    for variable in [
        "$context.requestId",
        "$context.extendedRequestId",
        "$context.xrayTraceId",
        "$context.status",
        "$context.responseLatency",
        "$context.integrationLatency",
    ] {
        ensure!(
            format.values().any(|v| v == variable),
            "the access log format lacks {variable}: {format:?}"
        );
    }
    // The functions' log lines name the trace `xray_trace_id` and API Gateway's request id
    // `correlation_id`: the access log uses the same keys, so one filter finds both.
    assert_eq!(format["xray_trace_id"], "$context.xrayTraceId");
    assert_eq!(format["correlation_id"], "$context.requestId");

    // The saved query reads the access log beside every function's log group, by trace id.
    let queries = of_type("AWS::Logs::QueryDefinition");
    let (_, query) = queries
        .iter()
        .find(|(_, q)| {
            q["Properties"]["QueryString"]
                .as_str()
                .is_some_and(|s| s.contains("xray_trace_id"))
        })
        .ok_or_else(|| anyhow!("no saved query filters on xray_trace_id"))?;
    let groups: BTreeSet<&str> = query["Properties"]["LogGroupNames"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|g| g["Ref"].as_str())
        .collect();
    assert!(
        groups.contains(log_group),
        "the saved query does not read {log_group}"
    );

    // Every function: the template's log controls and nothing that switches a local user on.
    let functions = of_type("AWS::Lambda::Function");
    assert_eq!(functions.len(), ROUTES.len());
    for (id, function) in functions {
        let properties = &function["Properties"];
        assert_eq!(
            properties["LoggingConfig"]["ApplicationLogLevel"], "DEBUG",
            "{id}: Lambda must let a sampled invocation's DEBUG lines through"
        );
        let variables = &properties["Environment"]["Variables"];
        assert_eq!(
            variables["POWERTOOLS_LOG_LEVEL"],
            json!({"Ref": "LogLevel"}),
            "{id}"
        );
        assert_eq!(
            variables["CRUDDUR_ALLOWED_ORIGIN"],
            json!({"Ref": "AllowedOrigin"}),
            "{id}"
        );
        assert!(
            variables.get(api::settings::CRUDDUR_LOCAL_USER).is_none(),
            "{id} sets a local user"
        );
        let group = properties["LoggingConfig"]["LogGroup"]["Ref"]
            .as_str()
            .unwrap_or_default();
        assert!(groups.contains(group), "the saved query does not read {group}");
    }
    assert_eq!(template["Parameters"]["LogLevel"]["Default"], "INFO");

    // OtlpEndpoint: https only (the Honeycomb key travels in a header).
    let pattern = template["Parameters"]["OtlpEndpoint"]["AllowedPattern"]
        .as_str()
        .unwrap_or_default();
    let matches = python_regex(
        pattern,
        &[
            "https://api.honeycomb.io",
            "https://otel.example.com:4318",
            "http://api.honeycomb.io",
            "api.honeycomb.io",
            "https://",
        ],
    )?;
    assert_eq!(
        matches,
        [true, true, false, false, false],
        "OtlpEndpoint {pattern}"
    );
    Ok(())
}

/// Runs tests/template/transform.py on template.yaml (building the API in moto at
/// `moto_endpoint`) and returns its JSON.
fn transform(moto_endpoint: Option<&str>) -> anyhow::Result<Value> {
    let root = workspace_root();
    let mut command = Command::new("python3");
    command
        .arg(root.join("tests/template/transform.py"))
        .arg(root.join("template.yaml"));
    if let Some(endpoint) = moto_endpoint {
        command.args(["--moto-endpoint", endpoint]);
    }
    let output = command.output().context(
        "running python3 tests/template/transform.py (install its packages with \
         `python3 -m pip install -r .ci/requirements.txt`)",
    )?;
    if !output.status.success() {
        bail!(
            "transform.py failed ({}):\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    serde_json::from_slice(&output.stdout).context("transform.py printed no JSON")
}

/// The names of the OpenAPI body's Cognito user pool authorizers.
fn cognito_authorizers(body: &Value) -> BTreeSet<String> {
    body["components"]["securitySchemes"]
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(_, scheme)| scheme["x-amazon-apigateway-authorizer"]["type"] == "cognito_user_pools")
        .map(|(name, _)| name.clone())
        .collect()
}

/// The logical id of the function an `aws_proxy` integration invokes
/// (`arn:...:functions/${CreateActivityFunction.Arn}/invocations`).
fn invoked_function(integration: &Value) -> Option<String> {
    let uri = integration["uri"]["Fn::Sub"].as_str()?;
    let (_, rest) = uri.split_once("functions/${")?;
    let (id, _) = rest.split_once(".Arn}")?;
    Some(id.to_owned())
}

fn strings(value: &Value) -> impl Iterator<Item = &str> {
    value.as_array().into_iter().flatten().filter_map(Value::as_str)
}

/// A static header value's list: `'GET,OPTIONS'` -> ["GET", "OPTIONS"].
fn header_list(value: &Value) -> Vec<String> {
    value
        .as_str()
        .unwrap_or_default()
        .trim_matches('\'')
        .split(',')
        .map(|s| s.trim().to_owned())
        .collect()
}

/// The access log format's keys and the `$context` variable each holds; fails unless the
/// format is one JSON object once its variables are filled in (quoted or not).
fn access_log_keys(format: &str) -> anyhow::Result<BTreeMap<String, String>> {
    let mut filled = String::new();
    let mut variables = Vec::new();
    let mut rest = format;
    while let Some(start) = rest.find("$context.") {
        filled.push_str(&rest[..start]);
        let end = rest[start..]
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '.' || c == '$'))
            .map_or(rest.len(), |n| start + n);
        let variable = rest[start..end].trim_end_matches('.');
        filled.push_str(&format!("{}", 1_000_000 + variables.len()));
        variables.push(variable.to_owned());
        rest = &rest[start + variable.len()..];
    }
    filled.push_str(rest);
    let parsed: Value = serde_json::from_str(&filled)
        .with_context(|| format!("the access log format is not JSON once filled in: {filled}"))?;
    let object = parsed
        .as_object()
        .ok_or_else(|| anyhow!("the access log format is not a JSON object"))?;
    let mut keys = BTreeMap::new();
    for (key, value) in object {
        let number = match value {
            Value::String(text) => text.parse::<usize>().ok(),
            Value::Number(n) => n.as_u64().map(|n| n as usize),
            _ => None,
        };
        if let Some(index) = number.and_then(|n| n.checked_sub(1_000_000)) {
            keys.insert(key.clone(), variables[index].clone());
        }
    }
    Ok(keys)
}

/// Whether each of `values` fully matches the CloudFormation `pattern` (Python's `re`,
/// a Java-like dialect close enough for these patterns).
fn python_regex(pattern: &str, values: &[&str]) -> anyhow::Result<Vec<bool>> {
    let script = "import json, re, sys\n\
                  pattern, values = json.loads(sys.argv[1])\n\
                  print(json.dumps([re.fullmatch(pattern, v) is not None for v in values]))";
    let output = Command::new("python3")
        .args(["-c", script, &json!([pattern, values]).to_string()])
        .output()?;
    ensure!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(serde_json::from_slice(&output.stdout)?)
}

#[test]
fn the_access_log_reader_maps_keys_to_variables() -> anyhow::Result<()> {
    let keys = access_log_keys(r#"{"a":"$context.requestId","b":$context.status,"c":"x $context.path y"}"#)?;
    assert_eq!(keys["a"], "$context.requestId");
    assert_eq!(keys["b"], "$context.status");
    assert!(
        !keys.contains_key("c"),
        "a variable inside text is not the key's value"
    );
    assert!(access_log_keys(r#"{"a":$context.requestId"#).is_err());
    Ok(())
}
