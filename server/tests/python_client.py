"""The official Kubernetes Python client against a lab API server.

Usage: python_client.py SERVER NAMESPACE
Lists, creates, patches and watches Services and Pods in NAMESPACE (which must exist) and
prints one line per check; exits non-zero, naming the check, at the first one that fails.
"""

import ipaddress
import sys
import threading
import time

from kubernetes import client, watch
from kubernetes.client.rest import ApiException


def check(what, ok, detail=""):
    if not ok:
        print(f"FAIL {what} {detail}", flush=True)
        sys.exit(1)
    print(f"ok   {what}", flush=True)


def main():
    server, ns = sys.argv[1], sys.argv[2]
    cfg = client.Configuration()
    cfg.host = server
    api = client.ApiClient(cfg)
    core = client.CoreV1Api(api)

    version = client.VersionApi(api).get_code()
    check("version", version.major == "1", version)

    svc = client.V1Service(
        metadata=client.V1ObjectMeta(name="py-web", labels={"app": "py-web"}),
        spec=client.V1ServiceSpec(
            selector={"app": "py-web"},
            ports=[client.V1ServicePort(port=80, target_port=8080)],
        ),
    )
    created = core.create_namespaced_service(ns, svc)
    # The service range is 10.96.0.0/12 (10.96.0.0 to 10.111.255.255), allocated at random.
    check(
        "create service",
        ipaddress.ip_address(created.spec.cluster_ip) in ipaddress.ip_network("10.96.0.0/12"),
        created.spec.cluster_ip,
    )
    check("service uid", bool(created.metadata.uid))

    listed = core.list_namespaced_service(ns, label_selector="app=py-web")
    check("list services", [s.metadata.name for s in listed.items] == ["py-web"])
    rv = listed.metadata.resource_version

    patched = core.patch_namespaced_service(
        "py-web", ns, {"metadata": {"labels": {"tier": "backend"}}}
    )
    check("patch service (strategic merge)", patched.metadata.labels.get("tier") == "backend")
    check("patch keeps the ports", patched.spec.ports[0].port == 80)

    try:
        core.create_namespaced_service(ns, svc)
        check("duplicate create fails", False)
    except ApiException as e:
        check("duplicate create is 409 AlreadyExists", e.status == 409 and "already exists" in e.body, e.body)

    try:
        core.read_namespaced_service("nosuch", ns)
        check("missing service fails", False)
    except ApiException as e:
        check("missing service is 404", e.status == 404, e.status)

    pod = client.V1Pod(
        metadata=client.V1ObjectMeta(name="py-pod", labels={"app": "py-web"}),
        spec=client.V1PodSpec(
            containers=[
                client.V1Container(
                    name="web",
                    image="nginx",
                    ports=[client.V1ContainerPort(container_port=8080)],
                )
            ]
        ),
    )
    core.create_namespaced_pod(ns, pod)
    check("create pod", True)

    # Watch from the list's resourceVersion: the pod must come up Running, and the service's
    # deletion must arrive as a DELETED event.
    events = []

    def deleter():
        time.sleep(1)
        core.delete_namespaced_service("py-web", ns)

    w = watch.Watch()
    running = False
    for ev in w.stream(core.list_namespaced_pod, ns, label_selector="app=py-web", timeout_seconds=60):
        if ev["object"].status.phase == "Running":
            running = True
            w.stop()
    check("watch pods: the pod becomes Running", running)

    threading.Thread(target=deleter).start()
    w = watch.Watch()
    for ev in w.stream(core.list_namespaced_service, ns, resource_version=rv, timeout_seconds=20):
        events.append((ev["type"], ev["object"].metadata.name))
        if ev["type"] == "DELETED":
            w.stop()
    check("watch services from a resourceVersion", ("DELETED", "py-web") in events, events)

    pods = core.list_namespaced_pod(ns, field_selector="metadata.name=py-pod")
    check("list pods with a field selector", len(pods.items) == 1 and pods.items[0].status.pod_ip is not None)
    core.delete_namespaced_pod("py-pod", ns)
    check("delete pod", True)


if __name__ == "__main__":
    main()
