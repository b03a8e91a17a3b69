//! template.yaml's X-Ray choices (issue 15): XrayTransport daemon (the default) or otlp,
//! which sets CRUDDUR_XRAY_OTLP_ENDPOINT to the region's endpoint for every function and
//! grants every function's role the two actions X-Ray's OTLP endpoint needs and no more;
//! EnableTransactionSearch turns Transaction Search on (account-wide, so off by default)
//! with the CloudWatch Logs resource policy it needs first.

use anyhow::Context as _;
use serde_yaml::Value;

fn template() -> anyhow::Result<Value> {
    let path = cruddur_tests::function::workspace_root().join("template.yaml");
    let text = std::fs::read_to_string(&path).with_context(|| path.display().to_string())?;
    Ok(serde_yaml::from_str(&text)?)
}

fn yaml(text: &str) -> Value {
    serde_yaml::from_str(text).unwrap()
}

#[test]
fn the_template_offers_xrays_otlp_endpoint_and_transaction_search() -> anyhow::Result<()> {
    let template = template()?;
    let parameters = &template["Parameters"];
    assert_eq!(parameters["XrayTransport"]["Default"], yaml("daemon"));
    assert_eq!(
        parameters["XrayTransport"]["AllowedValues"],
        yaml("[daemon, otlp]")
    );
    assert_eq!(parameters["EnableTransactionSearch"]["Default"], yaml("'false'"));
    assert_eq!(
        template["Conditions"]["UseXrayOtlp"],
        yaml("Fn::Equals: [{Ref: XrayTransport}, otlp]")
    );

    // Every function: the endpoint of its own region, only with otlp.
    assert_eq!(
        template["Globals"]["Function"]["Environment"]["Variables"]["CRUDDUR_XRAY_OTLP_ENDPOINT"],
        yaml(
            "Fn::If: [UseXrayOtlp, {Fn::Sub: 'https://xray.${AWS::Region}.${AWS::URLSuffix}/v1/traces'}, \
             {Ref: AWS::NoValue}]"
        )
    );
    // Every function's role: the endpoint's permission, only with otlp.
    let grant = yaml("Fn::If: [UseXrayOtlp, {Ref: XrayOtlpPolicy}, {Ref: AWS::NoValue}]");
    let resources = template["Resources"].as_mapping().context("Resources")?;
    let mut functions = 0;
    for (name, resource) in resources {
        if resource["Type"] == yaml("AWS::Serverless::Function") {
            functions += 1;
            let policies = resource["Properties"]["Policies"]
                .as_sequence()
                .with_context(|| format!("{name:?} has no Policies"))?;
            assert!(policies.contains(&grant), "{name:?}: {policies:?}");
        }
    }
    assert!(functions >= 11, "{functions} functions");

    // Scoped: the two X-Ray OTLP actions, nothing else, only with otlp.
    let policy = &template["Resources"]["XrayOtlpPolicy"];
    assert_eq!(policy["Condition"], yaml("UseXrayOtlp"));
    assert_eq!(
        policy["Properties"]["PolicyDocument"]["Statement"],
        yaml(
            "- Sid: PutSpansToXrayOtlpEndpoint\n  Effect: Allow\n  Action: [xray:PutSpans, \
             xray:PutSpansForIndexing]\n  Resource: '*'"
        )
    );

    // Transaction Search, account-wide, behind its condition, after the logs policy.
    let config = &template["Resources"]["TransactionSearchConfig"];
    assert_eq!(config["Type"], yaml("AWS::XRay::TransactionSearchConfig"));
    assert_eq!(config["Condition"], yaml("CreateTransactionSearch"));
    assert_eq!(config["DependsOn"], yaml("TransactionSearchLogsPolicy"));
    let logs_policy = &template["Resources"]["TransactionSearchLogsPolicy"];
    assert_eq!(logs_policy["Type"], yaml("AWS::Logs::ResourcePolicy"));
    assert_eq!(logs_policy["Condition"], yaml("CreateTransactionSearch"));
    let document = logs_policy["Properties"]["PolicyDocument"]["Fn::Sub"]
        .as_str()
        .context("the resource policy is a Fn::Sub string")?;
    for needed in [
        "\"Service\": \"xray.amazonaws.com\"",
        "\"Action\": \"logs:PutLogEvents\"",
        "log-group:aws/spans:*",
        "\"aws:SourceAccount\": \"${AWS::AccountId}\"",
    ] {
        assert!(document.contains(needed), "{needed} in {document}");
    }
    Ok(())
}
