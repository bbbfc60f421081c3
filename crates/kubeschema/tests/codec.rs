//! The codec against k8s-pb's typed prost messages, both ways, and the generated table
//! against the k8s-pb sources.

use k8s_pb::api::apps::v1 as apps;
use k8s_pb::api::core::v1 as core;
use k8s_pb::apimachinery::pkg::apis::meta::v1 as meta;
use k8s_pb::apimachinery::pkg::util::intstr::IntOrString;
use prost::Message as _;
use serde_json::json;
use serde_json::Value;

/// The raw message inside our envelope, checking its type meta.
fn raw_of(bytes: &[u8], api_version: &str, kind: &str) -> Vec<u8> {
    let env = kubeschema::codec::open_envelope(bytes).expect("envelope");
    assert_eq!(env.api_version, api_version);
    assert_eq!(env.kind, kind);
    env.raw.to_vec()
}

fn sealed<M: prost::Message>(api_version: &str, kind: &str, m: &M) -> Vec<u8> {
    kubeschema::codec::seal_envelope(api_version, kind, &m.encode_to_vec())
}

fn service_json() -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": "web",
            "namespace": "default",
            "labels": {"app": "web"},
            "creationTimestamp": "2024-05-01T10:00:00Z",
            "resourceVersion": "42"
        },
        "spec": {
            "clusterIP": "10.96.0.10",
            "clusterIPs": ["10.96.0.10"],
            "type": "NodePort",
            "selector": {"app": "web"},
            "ports": [
                {"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP", "nodePort": 30080},
                {"name": "alt", "port": 81, "targetPort": "http-alt", "protocol": "UDP"}
            ],
            "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 10800}}
        },
        "status": {"loadBalancer": {}}
    })
}

#[test]
fn a_service_encodes_to_what_prost_reads() {
    let bytes = kubeschema::encode(&service_json()).unwrap();
    let svc = core::Service::decode(raw_of(&bytes, "v1", "Service").as_slice()).unwrap();
    let md = svc.metadata.unwrap();
    assert_eq!(md.name.as_deref(), Some("web"));
    assert_eq!(md.labels.get("app").map(String::as_str), Some("web"));
    assert_eq!(md.creation_timestamp.unwrap().seconds, Some(1_714_557_600));
    let spec = svc.spec.unwrap();
    assert_eq!(spec.cluster_ip.as_deref(), Some("10.96.0.10"));
    assert_eq!(spec.cluster_ips, vec!["10.96.0.10"]);
    assert_eq!(spec.r#type.as_deref(), Some("NodePort"));
    assert_eq!(spec.ports.len(), 2);
    assert_eq!(spec.ports[0].port, Some(80));
    assert_eq!(spec.ports[0].node_port, Some(30080));
    assert_eq!(
        spec.ports[0].target_port,
        Some(IntOrString {
            r#type: Some(0),
            int_val: Some(8080),
            str_val: Some(String::new())
        })
    );
    assert_eq!(
        spec.ports[1]
            .target_port
            .as_ref()
            .unwrap()
            .str_val
            .as_deref(),
        Some("http-alt")
    );
    assert_eq!(
        spec.session_affinity_config
            .unwrap()
            .client_ip
            .unwrap()
            .timeout_seconds,
        Some(10800)
    );
}

#[test]
fn a_service_round_trips() {
    let v = service_json();
    let back = kubeschema::decode(&kubeschema::encode(&v).unwrap()).unwrap();
    assert_eq!(back, v);
}

#[test]
fn a_deployment_from_prost_decodes_to_the_json_kubectl_would_send() {
    // What a Go client writes: non-pointer strings always (empty ones too), the zero time.
    let d = apps::Deployment {
        metadata: Some(meta::ObjectMeta {
            name: Some("web".into()),
            namespace: Some(String::new()),
            creation_timestamp: Some(meta::Time {
                seconds: Some(-62_135_596_800),
                nanos: Some(0),
            }),
            labels: [("app".to_string(), "web".to_string())].into(),
            ..Default::default()
        }),
        spec: Some(apps::DeploymentSpec {
            replicas: Some(0),
            selector: Some(meta::LabelSelector {
                match_labels: [("app".to_string(), "web".to_string())].into(),
                ..Default::default()
            }),
            template: Some(core::PodTemplateSpec {
                metadata: Some(meta::ObjectMeta {
                    // Go's zero Time is an empty message; an unset generation is written as 0.
                    creation_timestamp: Some(meta::Time::default()),
                    generation: Some(0),
                    labels: [("app".to_string(), "web".to_string())].into(),
                    ..Default::default()
                }),
                spec: Some(core::PodSpec {
                    host_network: Some(false),
                    containers: vec![core::Container {
                        ports: vec![core::ContainerPort {
                            container_port: Some(80),
                            host_port: Some(0),
                            ..Default::default()
                        }],
                        name: Some("nginx".into()),
                        image: Some("nginx".into()),
                        resources: Some(core::ResourceRequirements {
                            limits: [(
                                "cpu".to_string(),
                                k8s_pb::apimachinery::pkg::api::resource::Quantity {
                                    string: Some("500m".into()),
                                },
                            )]
                            .into(),
                            ..Default::default()
                        }),
                        ..Default::default()
                    }],
                    ..Default::default()
                }),
            }),
            strategy: Some(apps::DeploymentStrategy::default()),
            ..Default::default()
        }),
        status: Some(apps::DeploymentStatus::default()),
    };
    let v = kubeschema::decode(&sealed("apps/v1", "Deployment", &d)).unwrap();
    assert_eq!(
        v,
        json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web", "labels": {"app": "web"}},
            "spec": {
                "replicas": 0,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [{
                        "name": "nginx",
                        "image": "nginx",
                        "ports": [{"containerPort": 80}],
                        "resources": {"limits": {"cpu": "500m"}}
                    }]}
                },
                "strategy": {}
            },
            "status": {}
        })
    );
}

#[test]
fn secret_bytes_are_base64_and_delete_options_keep_a_zero_grace() {
    let s = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"},
        "data": {"password": "aHVudGVyMg=="}, "type": "Opaque"});
    let bytes = kubeschema::encode(&s).unwrap();
    let typed = core::Secret::decode(raw_of(&bytes, "v1", "Secret").as_slice()).unwrap();
    assert_eq!(
        typed.data.get("password").map(Vec::as_slice),
        Some(b"hunter2".as_slice())
    );
    assert_eq!(kubeschema::decode(&bytes).unwrap(), s);

    let opts = meta::DeleteOptions {
        grace_period_seconds: Some(0),
        propagation_policy: Some("Background".into()),
        ..Default::default()
    };
    let v = kubeschema::decode(&sealed("v1", "DeleteOptions", &opts)).unwrap();
    assert_eq!(v["gracePeriodSeconds"], 0);
    assert_eq!(v["propagationPolicy"], "Background");
}

#[test]
fn micro_time_duration_and_fields_v1_keep_their_json_forms() {
    let ev = json!({"apiVersion": "events.k8s.io/v1", "kind": "Event",
        "metadata": {"name": "e", "managedFields": [{"manager": "kubectl", "operation": "Update",
            "fieldsType": "FieldsV1", "fieldsV1": {"f:data": {".": {}}}, "time": "2024-05-01T10:00:00Z"}]},
        "eventTime": "2024-05-01T10:00:00.123456Z", "reason": "Scheduled"});
    let bytes = kubeschema::encode(&ev).unwrap();
    let typed = k8s_pb::api::events::v1::Event::decode(
        raw_of(&bytes, "events.k8s.io/v1", "Event").as_slice(),
    )
    .unwrap();
    assert_eq!(typed.event_time.unwrap().nanos, Some(123_456_000));
    let mf = &typed.metadata.unwrap().managed_fields[0];
    assert_eq!(
        mf.fields_v1.as_ref().unwrap().raw.as_deref(),
        Some(br#"{"f:data":{".":{}}}"#.as_slice())
    );
    assert_eq!(kubeschema::decode(&bytes).unwrap(), ev);

    assert_eq!(
        kubeschema::codec::format_duration(3_723_500_000_000),
        "1h2m3.5s"
    );
    assert_eq!(kubeschema::codec::format_duration(300_000_000), "300ms");
    assert_eq!(
        kubeschema::codec::parse_duration("1h2m3.5s").unwrap(),
        3_723_500_000_000
    );
}

#[test]
fn lists_status_and_watch_frames() {
    let list = json!({"apiVersion": "v1", "kind": "ServiceList", "metadata": {"resourceVersion": "7"},
        "items": [{"metadata": {"name": "a"}, "spec": {"clusterIP": "10.96.0.2"}}]});
    let bytes = kubeschema::encode(&list).unwrap();
    let typed = core::ServiceList::decode(raw_of(&bytes, "v1", "ServiceList").as_slice()).unwrap();
    assert_eq!(
        typed.items[0].metadata.as_ref().unwrap().name.as_deref(),
        Some("a")
    );

    let status = json!({"apiVersion": "v1", "kind": "Status", "metadata": {}, "status": "Failure",
        "message": "services \"x\" not found", "reason": "NotFound",
        "details": {"name": "x", "kind": "services"}, "code": 404});
    let bytes = kubeschema::encode(&status).unwrap();
    let typed = meta::Status::decode(raw_of(&bytes, "v1", "Status").as_slice()).unwrap();
    assert_eq!(typed.code, Some(404));
    assert_eq!(typed.details.unwrap().kind.as_deref(), Some("services"));

    let obj = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "a"}});
    let frame = kubeschema::codec::encode_watch_frame("v1", "ADDED", &obj).unwrap();
    let len = u32::from_be_bytes(frame[..4].try_into().unwrap()) as usize;
    assert_eq!(len + 4, frame.len());
    // The frame is the bare WatchEvent (client-go's raw stream serializer); the object inside
    // carries its envelope.
    assert_ne!(&frame[4..8], b"k8s\0");
    let we = meta::WatchEvent::decode(&frame[4..]).unwrap();
    assert_eq!(we.r#type.as_deref(), Some("ADDED"));
    let inner = we.object.unwrap().raw.unwrap();
    let svc = core::Service::decode(raw_of(&inner, "v1", "Service").as_slice()).unwrap();
    assert_eq!(svc.metadata.unwrap().name.as_deref(), Some("a"));
    let (ev, used) = kubeschema::codec::decode_watch_frame(&frame)
        .unwrap()
        .unwrap();
    assert_eq!(used, frame.len());
    assert_eq!(ev, json!({"type": "ADDED", "object": obj}));
    assert_eq!(
        kubeschema::codec::decode_watch_frame(&frame[..frame.len() - 1]).unwrap(),
        None
    );
}

#[test]
fn every_kind_round_trips_a_minimal_object() {
    for k in kubeschema::kinds() {
        let v = json!({"apiVersion": k.api_version(), "kind": k.kind, "metadata": {"name": "x", "labels": {"a": ""}}});
        let v = if k.plural.is_empty() && k.kind != "PartialObjectMetadata" {
            json!({"apiVersion": k.api_version(), "kind": k.kind})
        } else {
            v
        };
        let back = kubeschema::decode(&kubeschema::encode(&v).unwrap()).unwrap();
        assert_eq!(back, v, "{}", k.kind);
    }
}

#[test]
fn wrong_types_are_errors_and_unknown_fields_are_dropped() {
    let bad =
        json!({"apiVersion": "v1", "kind": "Service", "spec": {"ports": [{"port": "eighty"}]}});
    let e = kubeschema::encode(&bad).unwrap_err();
    assert!(e.0.contains("port: expected an int32, got string"), "{e}");
    let extra = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "a"}, "spec": {"bogus": 1}});
    let back = kubeschema::decode(&kubeschema::encode(&extra).unwrap()).unwrap();
    assert_eq!(
        back,
        json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "a"}, "spec": {}})
    );
    assert!(kubeschema::decode(b"{}")
        .unwrap_err()
        .0
        .contains("expected prefix"));
    let unknown_kind = kubeschema::codec::seal_envelope("v1", "Gadget", b"");
    assert!(kubeschema::decode(&unknown_kind)
        .unwrap_err()
        .0
        .contains("no kind \"Gadget\""));
}

#[test]
fn the_table_answers_lookups_by_kind_and_path() {
    let svc = kubeschema::message_for("v1", "Service").unwrap();
    assert_eq!(svc.name, "k8s.io.api.core.v1.Service");
    assert_eq!(svc.openapi_name(), "io.k8s.api.core.v1.Service");
    let ports = kubeschema::walk_dotted(svc, "spec.ports").unwrap().field;
    assert_eq!(ports.patch_merge_key, Some("port"));
    assert_eq!(ports.patch_strategy, Some("merge"));
    assert_eq!(ports.list_type, Some("map"));
    assert_eq!(ports.list_map_keys, ["port", "protocol"]);
    let c = kubeschema::walk_dotted(
        kubeschema::message_for("apps/v1", "Deployment").unwrap(),
        "spec.template.spec.containers.ports",
    )
    .unwrap()
    .field;
    assert_eq!(c.patch_merge_key, Some("containerPort"));
    assert!(kubeschema::walk_dotted(svc, "spec.nope").is_none());
    assert_eq!(
        kubeschema::kind("v1", "Service").unwrap().plural,
        "services"
    );
    assert!(kubeschema::kind("networking.k8s.io/v1", "ServiceCIDR").is_some());
    assert_eq!(
        kubeschema::kind("apps/v1", "DeleteOptions").unwrap().kind,
        "DeleteOptions"
    );
    assert!(
        kubeschema::kind_by_plural("apps", "v1", "deployments")
            .unwrap()
            .namespaced
    );
}

#[test]
fn embedded_structs_are_inline_in_json() {
    let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
    "spec": {
        "containers": [{"name": "c", "image": "nginx",
            "env": [{"name": "MODE", "valueFrom": {"configMapKeyRef": {"name": "kube-proxy", "key": "mode"}}}]}],
        "volumes": [{"name": "cfg", "configMap": {"name": "kube-proxy", "defaultMode": 420}}]
    }});
    let bytes = kubeschema::encode(&pod).unwrap();
    let typed = core::Pod::decode(raw_of(&bytes, "v1", "Pod").as_slice()).unwrap();
    let spec = typed.spec.unwrap();
    let vol = &spec.volumes[0];
    let cm = vol
        .volume_source
        .as_ref()
        .unwrap()
        .config_map
        .as_ref()
        .unwrap();
    assert_eq!(
        cm.local_object_reference.as_ref().unwrap().name.as_deref(),
        Some("kube-proxy")
    );
    assert_eq!(cm.default_mode, Some(420));
    let sel = spec.containers[0].env[0]
        .value_from
        .as_ref()
        .unwrap()
        .config_map_key_ref
        .as_ref()
        .unwrap();
    assert_eq!(
        sel.local_object_reference.as_ref().unwrap().name.as_deref(),
        Some("kube-proxy")
    );
    assert_eq!(sel.key.as_deref(), Some("mode"));
    assert_eq!(kubeschema::decode(&bytes).unwrap(), pod);
    let vols = kubeschema::walk_dotted(
        kubeschema::message_for("v1", "Pod").unwrap(),
        "spec.volumes.configMap.name",
    );
    assert_eq!(vols.unwrap().field.json, "name");
}

#[test]
fn unknown_fields_are_named_as_strict_decoding_names_them() {
    let v = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d", "bogus": 1},
        "spec": {"selector": {"matchLabels": {"a": "b"}}, "replicaz": 2,
            "template": {"metadata": {"creationTimestamp": null}, "spec": {"containers": [
                {"name": "c", "image": "nginx", "ports": [{"containerPort": 80, "nmae": "x"}],
                 "resources": {"limits": {"cpu": "1"}}}],
                "volumes": [{"name": "v", "configMap": {"name": "cm"}}]}}}});
    assert_eq!(
        kubeschema::unknown_fields(&v).unwrap(),
        [
            "metadata.bogus",
            "spec.replicaz",
            "spec.template.spec.containers[0].ports[0].nmae"
        ]
    );
    let patch = json!({"apiVersion": "v1", "kind": "Service", "spec": {"$setElementOrder/ports": [{"port": 80}], "ports": [{"port": 80, "$patch": "replace"}]}});
    assert_eq!(
        kubeschema::unknown_fields(&patch).unwrap(),
        Vec::<String>::new()
    );
    assert!(kubeschema::unknown_fields(&json!({"apiVersion": "x/v1", "kind": "Gadget"})).is_none());
}

#[test]
fn wrong_json_types_are_named_as_go_decoding_names_them() {
    let np = kubeschema::message_for("networking.k8s.io/v1", "NetworkPolicy").unwrap();
    let bad = json!({"spec": {"ingress": [{"from": [{"namespaceSelector": {"matchExpressions": [
        {"key": "kubernetes.io/metadata.name", "operator": "NotIn", "values": [true]}]}}]}]}});
    assert_eq!(
        kubeschema::type_error(np, &bad).unwrap(),
        "json: cannot unmarshal bool into Go struct field LabelSelectorRequirement.spec.ingress.from.namespaceSelector.matchExpressions.values of type string"
    );
    let svc = kubeschema::message_for("v1", "Service").unwrap();
    let cases = [
        (json!({"spec": {"ports": [{"port": "80"}]}}),
         "json: cannot unmarshal string into Go struct field ServicePort.spec.ports.port of type int32"),
        (json!({"spec": {"ports": [{"port": 80.5}]}}),
         "json: cannot unmarshal number 80.5 into Go struct field ServicePort.spec.ports.port of type int32"),
        (json!({"spec": {"ports": {"port": 80}}}),
         "json: cannot unmarshal object into Go struct field ServiceSpec.spec.ports of type []v1.ServicePort"),
        (json!({"spec": "x"}),
         "json: cannot unmarshal string into Go struct field Service.spec of type v1.ServiceSpec"),
        (json!({"metadata": {"name": true}}),
         "json: cannot unmarshal bool into Go struct field ObjectMeta.metadata.name of type string"),
        (json!({"metadata": {"labels": {"a": 1}}}),
         "json: cannot unmarshal number into Go struct field ObjectMeta.metadata.labels of type string"),
        (json!({"metadata": {"labels": ["a"]}}),
         "json: cannot unmarshal array into Go struct field ObjectMeta.metadata.labels of type map[string]string"),
    ];
    for (v, want) in cases {
        assert_eq!(
            kubeschema::type_error(svc, &v).as_deref(),
            Some(want),
            "{v}"
        );
    }
    // What fits: nulls, IntOrString either way, times as text.
    let fine = json!({"metadata": {"name": "web", "labels": null, "creationTimestamp": "2026-01-01T00:00:00Z"},
        "spec": {"ports": [{"port": 80, "targetPort": "http"}, {"port": 81, "targetPort": 8081}]}});
    assert_eq!(kubeschema::type_error(svc, &fine), None);
}

#[test]
fn a_probes_handler_is_inline_in_json_and_field_1_in_protobuf() {
    // Probe embeds ProbeHandler (`json:",inline"`, proto field `handler`): httpGet sits in the
    // probe in JSON. It was read as a field `handler` and httpGet was lost or refused.
    let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
        "spec": {"containers": [{"name": "c", "image": "x",
            "readinessProbe": {"httpGet": {"path": "/healthz", "port": 8081}, "periodSeconds": 2}}]}});
    let bytes = kubeschema::encode(&pod).unwrap();
    let typed = core::Pod::decode(raw_of(&bytes, "v1", "Pod").as_slice()).unwrap();
    let probe = typed.spec.unwrap().containers[0]
        .readiness_probe
        .clone()
        .unwrap();
    assert_eq!(probe.period_seconds, Some(2));
    let get = probe.handler.unwrap().http_get.unwrap();
    assert_eq!(get.path.as_deref(), Some("/healthz"));
    assert_eq!(kubeschema::decode(&bytes).unwrap(), pod);
    assert_eq!(
        kubeschema::unknown_fields(&pod).unwrap(),
        Vec::<String>::new()
    );
}
