//! template.yaml deploys exactly the crates under functions/, each as its own function on
//! its route from the api crate's table (`api::ROUTES`), built by cargo-lambda from the
//! workspace, on the one REST API, with the Cognito authorizer if (and only if) the route
//! is for signed-in callers, logging to its own log group.
//! (the_template_deploys_a_protected_rest_api.rs checks the REST API SAM makes of it.)

use std::collections::{BTreeMap, BTreeSet};
use std::fs;

use anyhow::{anyhow, bail, ensure, Context as _};
use api::{Access, ROUTES};
use cruddur_tests::function::workspace_root;
use serde_yaml::Value;

#[test]
fn every_function_crate_is_in_the_template() -> anyhow::Result<()> {
    let crates = function_crates()?;
    let template: Value = serde_yaml::from_str(&fs::read_to_string(workspace_root().join("template.yaml"))?)
        .context("template.yaml is not YAML (or uses CloudFormation short tags: write `Ref:`/`Fn::Sub:`)")?;
    let resources = template["Resources"]
        .as_mapping()
        .ok_or_else(|| anyhow!("template.yaml has no Resources"))?;
    let of_type = |kind: &str| -> Vec<(String, &Value)> {
        resources
            .iter()
            .filter(|(_, r)| r["Type"].as_str() == Some(kind))
            .map(|(id, r)| (id.as_str().unwrap_or_default().to_owned(), r))
            .collect()
    };
    let apis = of_type("AWS::Serverless::Api");
    ensure!(apis.len() == 1, "one AWS::Serverless::Api, not {}", apis.len());
    let (api_id, api) = &apis[0];
    assert_eq!(api["Properties"]["StageName"].as_str(), Some("prod"));
    assert_eq!(api["Properties"]["TracingEnabled"].as_bool(), Some(true));

    let mut deployed = BTreeMap::new();
    for (id, function) in of_type("AWS::Serverless::Function") {
        let binary = function["Metadata"]["BuildProperties"]["Binary"]
            .as_str()
            .ok_or_else(|| anyhow!("{id}: no Metadata.BuildProperties.Binary"))?
            .to_owned();
        let properties = &function["Properties"];
        assert_eq!(
            function["Metadata"]["BuildMethod"].as_str(),
            Some("rust-cargolambda"),
            "{id}"
        );
        let function_name = format!("${{AWS::StackName}}-{binary}");
        assert_eq!(
            properties["FunctionName"]["Fn::Sub"].as_str(),
            Some(function_name.as_str()),
            "{id}"
        );

        let events: Vec<&Value> = properties["Events"]
            .as_mapping()
            .map(|events| events.values().collect())
            .unwrap_or_default();
        ensure!(events.len() == 1, "{id}: one event, not {}", events.len());
        let event = events[0];
        assert_eq!(event["Type"].as_str(), Some("Api"), "{id}");
        assert_eq!(
            event["Properties"]["RestApiId"]["Ref"].as_str(),
            Some(api_id.as_str()),
            "{id}"
        );
        let method = event["Properties"]["Method"]
            .as_str()
            .unwrap_or_default()
            .to_ascii_uppercase();
        let path = event["Properties"]["Path"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let authorizer = event["Properties"]["Auth"]["Authorizer"]
            .as_str()
            .map(str::to_owned);

        let log_group_id = properties["LoggingConfig"]["LogGroup"]["Ref"]
            .as_str()
            .ok_or_else(|| anyhow!("{id}: LoggingConfig.LogGroup is not a Ref to a log group"))?;
        let log_group = &template["Resources"][log_group_id];
        assert_eq!(
            log_group["Type"].as_str(),
            Some("AWS::Logs::LogGroup"),
            "{log_group_id}"
        );
        let log_group_name = format!("/aws/lambda/{function_name}");
        assert_eq!(
            log_group["Properties"]["LogGroupName"]["Fn::Sub"].as_str(),
            Some(log_group_name.as_str()),
            "{log_group_id}"
        );
        assert!(
            !log_group["Properties"]["RetentionInDays"].is_null(),
            "{log_group_id}"
        );

        if deployed
            .insert(binary.clone(), (method, path, authorizer))
            .is_some()
        {
            bail!("binary {binary} is deployed twice");
        }
    }

    let in_template: BTreeSet<&str> = deployed.keys().map(String::as_str).collect();
    let in_table: BTreeSet<&str> = ROUTES.iter().map(api::Route::binary).collect();
    assert_eq!(
        in_template,
        crates.iter().map(String::as_str).collect(),
        "template vs functions/"
    );
    assert_eq!(
        in_table,
        crates.iter().map(String::as_str).collect(),
        "api::ROUTES vs functions/"
    );
    let authorizers = api["Properties"]["Auth"]["Authorizers"]
        .as_mapping()
        .ok_or_else(|| anyhow!("{api_id} has no Auth.Authorizers"))?;
    ensure!(
        authorizers.len() == 1,
        "one authorizer, not {}",
        authorizers.len()
    );
    let (cognito, authorizer) = authorizers.iter().next().expect("one");
    ensure!(
        !authorizer["UserPoolArn"].is_null(),
        "{cognito:?} is not a Cognito user pool authorizer"
    );
    for route in ROUTES {
        let (method, path, authorizer) = &deployed[route.binary()];
        let expected = (route.access() == Access::SignedIn).then(|| cognito.as_str().unwrap_or_default());
        assert_eq!(
            (method.as_str(), path.as_str(), authorizer.as_deref()),
            (route.method().as_str(), route.template(), expected),
            "{}",
            route.binary()
        );
    }
    Ok(())
}

/// The package names of functions/*/Cargo.toml, each of which must have a src/main.rs.
fn function_crates() -> anyhow::Result<BTreeSet<String>> {
    let mut crates = BTreeSet::new();
    for entry in fs::read_dir(workspace_root().join("functions"))? {
        let dir = entry?.path();
        let manifest = dir.join("Cargo.toml");
        if !manifest.is_file() {
            continue;
        }
        let text = fs::read_to_string(&manifest)?;
        let name = package_name(&text).ok_or_else(|| anyhow!("no package name in {}", manifest.display()))?;
        ensure!(dir.join("src/main.rs").is_file(), "{name} has no src/main.rs");
        crates.insert(name);
    }
    ensure!(!crates.is_empty(), "no crates under functions/");
    Ok(crates)
}

/// The `name` of a manifest's `[package]` table.
fn package_name(manifest: &str) -> Option<String> {
    let mut in_package = false;
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            in_package = line == "[package]";
        } else if let (true, Some(value)) = (in_package, line.strip_prefix("name")) {
            let value = value.trim_start().strip_prefix('=')?.trim();
            return Some(value.trim_matches('"').to_owned());
        }
    }
    None
}
