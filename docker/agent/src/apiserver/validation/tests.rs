//! Messages that must match the real API server's word for word.

use super::deployments::*;
use super::errors::*;
use super::names::*;
use super::services::*;
use serde_json::json;

#[test]
fn names() {
    assert!(dns1123_label("web").is_empty());
    assert_eq!(
        dns1123_label(&"a".repeat(64)),
        vec!["must be no more than 63 characters"]
    );
    assert!(dns1123_subdomain(&"a".repeat(64)).is_empty());
    assert_eq!(dns1035_label("1web").len(), 1);
    assert!(dns1123_label("1web").is_empty());
    assert_eq!(dns1123_subdomain("Web").len(), 1);
}

#[test]
fn service_port_message_matches_the_real_one() {
    let mut svc = json!({"metadata":{"name":"web"},"spec":{"selector":{"app":"web"},"ports":[{"port":70000}]}});
    default_service(&mut svc);
    let errs = validate_service(&svc);
    let s = invalid_status("Service", "web", &errs);
    assert_eq!(
        s.message,
        "Service \"web\" is invalid: [spec.ports[0].port: Invalid value: 70000: must be between 1 and 65535, inclusive, spec.ports[0].targetPort: Invalid value: 70000: must be between 1 and 65535, inclusive]"
    );
}

#[test]
fn deployment_selector_must_match() {
    let mut d = json!({"metadata":{"name":"web"},"spec":{"selector":{"matchLabels":{"app":"web"}},"template":{"metadata":{"labels":{"app":"x"}},"spec":{"containers":[{"name":"c","image":"i"}]}}}});
    default_deployment(&mut d);
    let errs = validate_deployment(&d);
    assert_eq!(errs.len(), 1);
    assert_eq!(
        errs[0].to_string(),
        "spec.template.metadata.labels: Invalid value: map[string]string{\"app\":\"x\"}: `selector` does not match template `labels`"
    );
    d["spec"]["selector"] = json!({"matchExpressions":[{"key":"app","operator":"Near"}]});
    let errs = validate_deployment(&d);
    assert_eq!(
        errs[0].to_string(),
        "spec.selector.matchExpressions[0].operator: Invalid value: \"Near\": not a valid selector operator"
    );
}
