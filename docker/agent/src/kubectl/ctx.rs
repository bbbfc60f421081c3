//! What every kubectl command runs with: the streams and settings ([`Ctx`]) and how it fails
//! ([`Fail`]), with the API errors in kubectl's words.

use std::io::{Read, Write};

use crate::kube::client::{ApiClient, ClientError};

/// The version kubectl reports (the Kubernetes release whose output kplab reproduces).
pub const CLIENT_VERSION: &str = crate::kube::contract::KUBERNETES_VERSION;

/// Why a command failed, already in kubectl's words.
#[derive(Debug)]
pub enum Fail {
    /// Printed as `error: <msg>`.
    Msg(String),
    /// Printed exactly as given (kubectl's multi-line and `Error from server` forms).
    Raw(String),
    /// An API call failed.
    Client(ClientError),
    /// A command-line problem: `Error: <msg>` + `See 'kubectl <cmd> --help' for usage.`
    Usage(String, String),
    /// Exit with this code, nothing more to print (exec's remote exit code).
    Exit(u8),
}

impl From<ClientError> for Fail {
    fn from(e: ClientError) -> Self {
        Fail::Client(e)
    }
}

/// The text kubectl prints for a failed API call.
pub fn client_error_text(e: &ClientError) -> String {
    match e {
        ClientError::Api(st) => {
            if st.reason == "Invalid" {
                if let Some(d) = &st.details {
                    let kind = d.get("kind").and_then(|v| v.as_str()).unwrap_or("");
                    let name = d.get("name").and_then(|v| v.as_str()).unwrap_or("");
                    let causes: Vec<String> = d
                        .get("causes")
                        .and_then(|c| c.as_array())
                        .map(|a| {
                            a.iter()
                                .map(|c| {
                                    let f = c.get("field").and_then(|v| v.as_str()).unwrap_or("");
                                    let m = c.get("message").and_then(|v| v.as_str()).unwrap_or("");
                                    if f.is_empty() {
                                        m.to_string()
                                    } else {
                                        format!("{f}: {m}")
                                    }
                                })
                                .collect()
                        })
                        .unwrap_or_default();
                    if !kind.is_empty() && !causes.is_empty() {
                        let joined = if causes.len() == 1 {
                            causes[0].clone()
                        } else {
                            format!("[{}]", causes.join(", "))
                        };
                        return format!("The {kind} \"{name}\" is invalid: {joined}");
                    }
                }
            }
            if st.reason.is_empty() {
                format!("Error from server: {}", st.message)
            } else {
                format!("Error from server ({}): {}", st.reason, st.message)
            }
        }
        ClientError::Connect { url, detail } => {
            let host = url
                .split("://")
                .nth(1)
                .unwrap_or(url)
                .split('/')
                .next()
                .unwrap_or(url);
            if detail.to_ascii_lowercase().contains("refused") {
                format!("The connection to the server {host} was refused - did you specify the right host or port?")
            } else {
                format!("Unable to connect to the server: dial tcp {host}: {detail}")
            }
        }
        ClientError::Decode { .. } => format!("error: {e}"),
    }
}

/// The streams and settings a command runs with.
pub struct Ctx<'a> {
    /// The lab API.
    pub client: ApiClient,
    /// The namespace from `-n`, the kubeconfig context, or `default`.
    pub namespace: String,
    /// Whether `-n` was given.
    pub namespace_explicit: bool,
    /// Standard output.
    pub out: &'a mut dyn Write,
    /// Standard error.
    pub err: &'a mut dyn Write,
    /// Standard input (`apply -f -`, `exec -i`).
    pub stdin: &'a mut dyn Read,
}

/// What a command returns.
pub(crate) type R = Result<(), Fail>;
