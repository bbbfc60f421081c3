//! Negotiation and conversion, as kube-apiserver answers kubectl and client-go.

use std::collections::HashMap;

use axum::http::{header, HeaderMap, HeaderValue};
use serde_json::json;

use super::*;
use crate::kube::client::{EventType, PODS};

fn accept(v: &str) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(header::ACCEPT, HeaderValue::from_str(v).unwrap());
    h
}

fn q(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

const KUBECTL: &str = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json";

#[test]
fn negotiates_as_kube_apiserver() {
    let none = q(&[]);
    assert_eq!(
        negotiate(&accept(KUBECTL), &none, true).unwrap(),
        Shape::Table {
            version: "v1",
            include: Include::Metadata
        }
    );
    assert_eq!(
        negotiate(
            &accept("application/json;as=Table;v=v1beta1;g=meta.k8s.io"),
            &q(&[("includeObject", "Object")]),
            true
        )
        .unwrap(),
        Shape::Table {
            version: "v1beta1",
            include: Include::Object
        }
    );
    assert_eq!(
        negotiate(&HeaderMap::new(), &none, true).unwrap(),
        Shape::Json
    );
    assert_eq!(
        negotiate(&accept("application/vnd.kubernetes.protobuf"), &none, true).unwrap(),
        Shape::Json
    );
    let meta = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json";
    assert_eq!(
        negotiate(&accept(meta), &none, true).unwrap(),
        Shape::PartialList { version: "v1" }
    );
    // A list media type for one object is skipped, the plain JSON after it wins.
    assert_eq!(negotiate(&accept(meta), &none, false).unwrap(), Shape::Json);
    let err = negotiate(
        &accept("application/json;as=Table;v=v2;g=meta.k8s.io"),
        &none,
        true,
    )
    .unwrap_err();
    assert_eq!(err.0.code, 406);
    assert_eq!(err.0.reason, "NotAcceptable");
    let err = negotiate(&accept(KUBECTL), &q(&[("includeObject", "All")]), true).unwrap_err();
    assert_eq!(err.0.message, "unrecognized includeObject value: \"All\"");
}

fn pod(name: &str) -> serde_json::Value {
    json!({"kind": "Pod", "apiVersion": "v1",
        "metadata": {"name": name, "namespace": "default", "labels": {"app": "web"}, "resourceVersion": "7",
            "creationTimestamp": "2026-12-07T11:00:00Z"},
        "spec": {"containers": [{"name": "c"}]}, "status": {"phase": "Pending"}})
}

#[test]
fn lists_become_tables_with_partial_metadata() {
    let list = json!({"kind": "PodList", "apiVersion": "v1",
        "metadata": {"resourceVersion": "9", "continue": "abc"}, "items": [pod("a"), pod("b")]});
    let t = list_as(
        Shape::Table {
            version: "v1",
            include: Include::Metadata,
        },
        &PODS,
        list.clone(),
    );
    assert_eq!(t["kind"], "Table");
    assert_eq!(t["apiVersion"], "meta.k8s.io/v1");
    assert_eq!(
        t["metadata"],
        json!({"resourceVersion": "9", "continue": "abc"})
    );
    assert_eq!(t["columnDefinitions"][0]["name"], "Name");
    assert_eq!(t["columnDefinitions"][0]["format"], "name");
    assert_eq!(t["columnDefinitions"][5]["priority"], 1);
    assert_eq!(t["rows"][1]["cells"][0], "b");
    assert_eq!(t["rows"][1]["cells"][2], "Pending");
    assert_eq!(t["rows"][0]["object"]["kind"], "PartialObjectMetadata");
    assert_eq!(t["rows"][0]["object"]["metadata"]["labels"]["app"], "web");
    assert!(t["rows"][0]["object"].get("spec").is_none());
    let t = list_as(
        Shape::Table {
            version: "v1beta1",
            include: Include::None,
        },
        &PODS,
        list.clone(),
    );
    assert_eq!(t["apiVersion"], "meta.k8s.io/v1beta1");
    assert!(t["rows"][0].get("object").is_none());
    let t = list_as(
        Shape::Table {
            version: "v1",
            include: Include::Object,
        },
        &PODS,
        list.clone(),
    );
    assert_eq!(t["rows"][0]["object"]["spec"]["containers"][0]["name"], "c");
    let p = list_as(Shape::PartialList { version: "v1" }, &PODS, list);
    assert_eq!(p["kind"], "PartialObjectMetadataList");
    assert_eq!(p["items"][1]["metadata"]["name"], "b");
    assert_eq!(p["metadata"]["resourceVersion"], "9");
}

#[test]
fn objects_and_watch_events() {
    let t = object_as(
        Shape::Table {
            version: "v1",
            include: Include::Metadata,
        },
        &PODS,
        pod("a"),
    );
    assert_eq!(t["metadata"]["resourceVersion"], "7");
    assert_eq!(t["rows"].as_array().unwrap().len(), 1);
    let p = object_as(Shape::Partial { version: "v1" }, &PODS, pod("a"));
    assert_eq!(p["kind"], "PartialObjectMetadata");
    let mut w = WatchShaper::new(
        Shape::Table {
            version: "v1",
            include: Include::Metadata,
        },
        &PODS,
    );
    let first = w.shape(EventType::Added, &pod("a"));
    let second = w.shape(EventType::Modified, &pod("a"));
    assert!(first["columnDefinitions"].is_array());
    assert!(second["columnDefinitions"].is_null());
    assert_eq!(second["rows"][0]["cells"][0], "a");
    let status = json!({"kind": "Status", "code": 410});
    assert_eq!(w.shape(EventType::Error, &status), status);
}
