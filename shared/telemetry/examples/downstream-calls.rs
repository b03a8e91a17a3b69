//! Downstream calls as child spans that carry the trace onward: an HTTP call
//! (to `DOWNSTREAM_URL`) and an AWS SDK call (SSM `GetParameter` of
//! `PARAMETER_NAME`), both inside the invocation. Clients are built once, in main.

use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use lambda_http::{http, Body, Request, Response};

struct Clients {
    http: Client<HttpConnector, Empty<Bytes>>,
    ssm: aws_sdk_ssm::Client,
    downstream_url: String,
    parameter: String,
}

async fn handler(clients: Arc<Clients>, _request: Request) -> Result<Response<Body>, String> {
    let request = http::Request::get(clients.downstream_url.as_str())
        .body(Empty::new())
        .map_err(|e| e.to_string())?;
    let response = telemetry::outgoing::send(request, |r| clients.http.request(r))
        .await
        .map_err(|e| e.to_string())?;
    let status = response.status().as_u16();
    let _ = response.into_body().collect().await;
    let found = clients
        .ssm
        .get_parameter()
        .name(&clients.parameter)
        .with_decryption(true)
        .send()
        .await
        .is_ok_and(|output| output.parameter.and_then(|p| p.value).is_some());
    Ok(Response::new(Body::from(format!(
        r#"{{"downstream_status":{status},"parameter_found":{found}}}"#
    ))))
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    let clients = Arc::new(Clients {
        http: Client::builder(hyper_util::rt::TokioExecutor::new()).build_http(),
        ssm: telemetry::aws::ssm_client(&telemetry::aws::sdk_config().await),
        downstream_url: std::env::var("DOWNSTREAM_URL").unwrap_or_else(|_| "http://127.0.0.1:9/".into()),
        parameter: std::env::var("PARAMETER_NAME").unwrap_or_else(|_| "/cruddur/example".into()),
    });
    telemetry::run_http(move |request| handler(clients.clone(), request)).await
}
