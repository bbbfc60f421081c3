//! A request's body: one JSON object (after `negotiate` turned YAML or protobuf into JSON), or
//! the 400 kube-apiserver gives.

use serde_json::Value;

use super::errors::bad_request;
use super::errors::ApiResult;

/// The body as a JSON object.
pub(crate) fn parse_body(body: &[u8]) -> ApiResult<Value> {
    if body.is_empty() {
        return Err(bad_request("the body of the request was empty"));
    }
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| bad_request(format!("couldn't get version/kind; json parse error: {e}")))?;
    if !v.is_object() {
        return Err(bad_request(
            "couldn't get version/kind; json parse error: the body is not a JSON object",
        ));
    }
    Ok(v)
}
