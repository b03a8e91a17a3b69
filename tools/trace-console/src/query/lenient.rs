//! The SDK's HTTP client with one repair: moto (the AWS stand-in the tests use)
//! answers GetTraceSummaries with `"Users": {}` where X-Ray sends a list, which
//! the SDK's strict deserializer refuses. Empty objects in list-typed summary
//! fields become empty lists; real X-Ray answers pass through unchanged.

use aws_sdk_xray::config::{HttpClient, SharedHttpClient};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::connector_metadata::ConnectorMetadata;
use aws_smithy_runtime_api::client::http::{
    HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::{RuntimeComponents, RuntimeComponentsBuilder};
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::config_bag::ConfigBag;
use bytes::Bytes;
use http_body_util::BodyExt;
use serde_json::Value;

/// The path of GetTraceSummaries (REST-JSON).
const SUMMARIES_PATH: &str = "/TraceSummaries";
/// `TraceSummary` members that are lists.
const LIST_FIELDS: [&str; 8] = [
    "Users",
    "ServiceIds",
    "ResourceARNs",
    "InstanceIds",
    "AvailabilityZones",
    "FaultRootCauses",
    "ErrorRootCauses",
    "ResponseTimeRootCauses",
];

/// Wraps `inner` (see the module doc).
#[derive(Debug, Clone)]
pub(crate) struct Lenient(pub(crate) SharedHttpClient);

impl HttpClient for Lenient {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(LenientConnector(self.0.http_connector(settings, components)))
    }

    fn validate_base_client_config(
        &self,
        runtime_components: &RuntimeComponentsBuilder,
        cfg: &ConfigBag,
    ) -> Result<(), BoxError> {
        self.0.validate_base_client_config(runtime_components, cfg)
    }

    fn connector_metadata(&self) -> Option<ConnectorMetadata> {
        self.0.connector_metadata()
    }
}

#[derive(Debug)]
struct LenientConnector(SharedHttpConnector);

impl HttpConnector for LenientConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let summaries = request
            .uri()
            .split('?')
            .next()
            .is_some_and(|path| path.ends_with(SUMMARIES_PATH));
        let answer = self.0.call(request);
        if !summaries {
            return answer;
        }
        HttpConnectorFuture::new(async move {
            let mut response = answer.await?;
            let body = response
                .take_body()
                .collect()
                .await
                .map_err(ConnectorError::io)?
                .to_bytes();
            *response.body_mut() = SdkBody::from(mend_summaries(body));
            Ok(response)
        })
    }
}

/// Replaces objects in the list-typed members of each summary with empty lists.
fn mend_summaries(body: Bytes) -> Bytes {
    let Ok(mut answer) = serde_json::from_slice::<Value>(&body) else {
        return body;
    };
    let mut mended = false;
    for summary in answer
        .get_mut("TraceSummaries")
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
    {
        for field in LIST_FIELDS {
            if let Some(value) = summary.get_mut(field).filter(|v| v.is_object()) {
                *value = Value::Array(Vec::new());
                mended = true;
            }
        }
    }
    if mended {
        serde_json::to_vec(&answer).map_or(body, Bytes::from)
    } else {
        body
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_in_list_fields_become_lists_and_the_rest_is_untouched() {
        let moto = Bytes::from_static(
            br#"{"TraceSummaries": [{"Id": "1-a-b", "Users": {}, "Http": {}, "Annotations": {}}]}"#,
        );
        let mended: Value = serde_json::from_slice(&mend_summaries(moto)).unwrap();
        assert_eq!(
            mended,
            serde_json::json!({"TraceSummaries": [{"Id": "1-a-b", "Users": [], "Http": {}, "Annotations": {}}]})
        );
        let aws = Bytes::from_static(br#"{"TraceSummaries": [{"Id": "1-a-b", "Users": []}]}"#);
        assert_eq!(mend_summaries(aws.clone()), aws);
        let garbage = Bytes::from_static(b"<html>");
        assert_eq!(mend_summaries(garbage.clone()), garbage);
    }
}
