//! template.yaml's Rollbar (issue 14): off by default (no token parameter); with one, every
//! function gets ROLLBAR_ACCESS_TOKEN_PARAMETER (the token is read from SSM off the init
//! path, never written in the template) and its role may read that parameter and no other.

use anyhow::Context as _;
use serde_yaml::Value;

fn yaml(text: &str) -> Value {
    serde_yaml::from_str(text).unwrap()
}

#[test]
fn the_template_reads_rollbars_token_from_ssm_only_when_asked() -> anyhow::Result<()> {
    let path = cruddur_tests::function::workspace_root().join("template.yaml");
    let template: Value = serde_yaml::from_str(&std::fs::read_to_string(&path)?)?;
    assert_eq!(
        template["Parameters"]["RollbarAccessTokenParameter"]["Default"],
        yaml("''")
    );
    assert_eq!(
        template["Conditions"]["HasRollbar"],
        yaml("Fn::Not: [{Fn::Equals: [{Ref: RollbarAccessTokenParameter}, '']}]")
    );
    let variables = &template["Globals"]["Function"]["Environment"]["Variables"];
    assert_eq!(
        variables["ROLLBAR_ACCESS_TOKEN_PARAMETER"],
        yaml("Fn::If: [HasRollbar, {Ref: RollbarAccessTokenParameter}, {Ref: AWS::NoValue}]")
    );
    assert!(
        variables.get("ROLLBAR_ACCESS_TOKEN").is_none(),
        "never the token itself"
    );
    let grant = yaml(
        "Fn::If: [HasRollbar, {SSMParameterWithSlashPrefixReadPolicy: {ParameterName: {Ref: RollbarAccessTokenParameter}}}, \
         {Ref: AWS::NoValue}]",
    );
    let resources = template["Resources"].as_mapping().context("Resources")?;
    let functions: Vec<_> = resources
        .iter()
        .filter(|(_, r)| r["Type"] == yaml("AWS::Serverless::Function"))
        .collect();
    assert!(functions.len() >= 11);
    for (name, function) in functions {
        let policies = function["Properties"]["Policies"]
            .as_sequence()
            .context("Policies")?;
        assert!(
            policies.contains(&grant),
            "{name:?} cannot read the Rollbar token: {policies:?}"
        );
    }
    Ok(())
}
