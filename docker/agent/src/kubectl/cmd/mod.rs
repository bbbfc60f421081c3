//! The kubectl commands, one file each, and the dispatcher that picks one by name (exec, logs
//! and wait live in `exec.rs` and `wait.rs` next to this folder).

mod api_resources;
mod apply;
mod cluster_info;
mod common;
mod config;
mod create;
mod delete;
mod describe;
mod edit;
mod expose;
mod get;
mod label;
mod patch;
mod rollout;
mod run;
mod scale;
mod version;

use super::args::Args;
use super::ctx::R;
use super::ctx::{Ctx, Fail};

const HELP: &str = "kubectl controls the Kubernetes cluster manager (kplab: the lab's API server).

Basic Commands (Beginner):
  create          Create a resource from a file or from stdin
  expose          Take a deployment, pod or service and expose it as a new Kubernetes service
  run             Run a particular image on the cluster

Basic Commands (Intermediate):
  get             Display one or many resources
  delete          Delete resources by file names, stdin, resources and names, or by label selector

Deploy Commands:
  scale           Set a new size for a deployment
  rollout         Wait for a deployment's rollout (rollout status)

Cluster Management Commands:
  cluster-info    Display cluster information

Troubleshooting and Debugging Commands:
  describe        Show details of a specific resource or group of resources
  logs            Print the logs for a container in a pod
  exec            Execute a command in a container

Advanced Commands:
  apply           Apply a configuration to a resource by file name or stdin
  patch           Update fields of a resource (strategic merge patches are applied as JSON merge patches here)
  edit            Edit a resource on the server with $KUBE_EDITOR or $EDITOR (default vi)
  wait            Experimental: Wait for a specific condition on one or many resources

Settings Commands:
  label           Update the labels on a resource

Other Commands:
  api-resources   Print the supported API resources on the server
  config          Modify kubeconfig files (view, current-context, set-context --current --namespace)
  version         Print the client and server version information

Usage:
  kubectl [flags] [options]

Use \"kubectl <command> --help\" for more information about a given command.";

fn help_for(cmd: &str) -> &'static str {
    match cmd {
        "get" => "Display one or many resources.\n\n Prints a table of the most important information about the specified resources. You can filter\nthe list using a label selector and the --selector flag.\n\nExamples:\n  kubectl get pods -o wide\n  kubectl get svc,ep -n kube-system\n  kubectl get pod web-xxx -o yaml\n  kubectl get pods -o jsonpath='{range .items[*]}{.metadata.name}{\"\\t\"}{.status.podIP}{\"\\n\"}{end}'\n  kubectl get all -A\n\nOptions:\n  -A, --all-namespaces  -l, --selector  --field-selector  -o, --output=wide|yaml|json|name|jsonpath=...|custom-columns=HEADER:PATH,...\n  --show-labels  --no-headers\n\nUsage:\n  kubectl get [(-o|--output=)json|yaml|name|wide|jsonpath=...] (TYPE[.VERSION][.GROUP] [NAME | -l label] | TYPE[.VERSION][.GROUP]/NAME ...) [flags] [options]",
        "describe" => "Show details of a specific resource or group of resources.\n\nExamples:\n  kubectl describe svc web\n  kubectl describe pods -l app=web\n  kubectl describe netpol deny-all\n\nUsage:\n  kubectl describe (-f FILENAME | TYPE [NAME_PREFIX | -l label] | TYPE/NAME) [options]",
        "apply" => "Apply a configuration to a resource by file name or stdin. The resource name must be specified.\nThis resource will be created if it doesn't exist yet. Every document is parsed and validated\nbefore any is sent: an invalid document changes nothing.\n\nExamples:\n  kubectl apply -f web.yaml\n  cat web.yaml | kubectl apply -f -\n\nUsage:\n  kubectl apply (-f FILENAME) [options]",
        "create" => "Create a resource from a file or from stdin.\n\nAvailable Commands:\n  deployment  Create a deployment with the specified name (--image, --replicas, --port)\n  namespace   Create a namespace with the specified name\n\nExamples:\n  kubectl create -f web.yaml\n  kubectl create deployment web --image=nginx --replicas=3 --port=80\n  kubectl create deployment web --image=nginx --dry-run=client -o yaml\n\nUsage:\n  kubectl create -f FILENAME [options]",
        "expose" => "Expose a resource as a new Kubernetes service (deployment, pod or service), using the\nselector of that resource.\n\nExamples:\n  kubectl expose deployment web --port=80 --target-port=8080 --type=NodePort\n\nUsage:\n  kubectl expose (-f FILENAME | TYPE NAME) [--port=port] [--protocol=TCP|UDP|SCTP] [--target-port=number-or-name] [--name=name] [--type=type] [options]",
        "scale" => "Set a new size for a deployment.\n\nExamples:\n  kubectl scale deployment web --replicas=3\n\nUsage:\n  kubectl scale --replicas=COUNT (-f FILENAME | TYPE NAME) [options]",
        "delete" => "Delete resources by file names, stdin, resources and names, or by resources and label selector.\nFor pods, kubectl waits until the object is gone unless --wait=false.\n\nExamples:\n  kubectl delete pod web-xxx\n  kubectl delete svc,deploy -l app=web\n  kubectl delete -f web.yaml\n  kubectl delete pods --all\n\nUsage:\n  kubectl delete ([-f FILENAME] | TYPE [(NAME | -l label | --all)]) [options]",
        "wait" => "Experimental: Wait for a specific condition on one or many resources.\n\nThe command takes multiple resources and waits until the specified condition is seen in the\nStatus field of every given resource. With --for=delete it waits for the resources to be deleted.\nA successful message is printed for each resource when its condition has been met.\n\nExamples:\n  kubectl wait --for=condition=Ready pod/busybox1\n  kubectl wait --for=condition=Ready=false pod/busybox1\n  kubectl wait --for=condition=Ready pod -l app=web --timeout=60s\n  kubectl wait --for=condition=Available deployment/web\n  kubectl wait --for=jsonpath='{.status.phase}'=Running pod/busybox1\n  kubectl wait --for=delete pod/busybox1 --timeout=60s\n\nOptions:\n  --for='': delete | condition=NAME[=VALUE] (default value True, compared ignoring case) | jsonpath='{EXPR}'[=VALUE]\n  --timeout=30s: per resource; 0 checks once, a negative duration waits for a week\n  -l, --selector  --all  -A, --all-namespaces  --field-selector\n\nUsage:\n  kubectl wait ([-f FILENAME] | resource.group/resource.name | resource.group [(-l label | --all)]) [--for=delete|--for condition=available|--for=jsonpath='{}'[=value]] [options]",
        "rollout" => "Show the status of a rollout (kplab: deployments, `status` only).\n\nExamples:\n  kubectl rollout status deployment/web\n  kubectl rollout status deployment web --timeout=60s\n\nUsage:\n  kubectl rollout status (TYPE NAME | TYPE/NAME) [--watch=false] [--timeout=DURATION] [options]",
        "label" => "Update the labels on a resource.\n\nExamples:\n  kubectl label pods web-xxx tier=frontend\n  kubectl label pods web-xxx tier=backend --overwrite\n  kubectl label pods web-xxx tier-\n\nUsage:\n  kubectl label [--overwrite] (-f FILENAME | TYPE NAME) KEY_1=VAL_1 ... KEY_N=VAL_N [options]",
        "patch" => "Update fields of a resource using a patch (JSON or YAML).\n\nNote (kplab): --type strategic (the default) is applied as a JSON merge patch (RFC 7386):\nlists in the patch replace whole lists instead of being merged by key. --type merge is the\nsame; --type json applies an RFC 6902 JSON patch.\n\nExamples:\n  kubectl patch svc web -p '{\"spec\":{\"type\":\"NodePort\"}}'\n  kubectl patch deploy web --type merge -p '{\"spec\":{\"replicas\":2}}'\n\nUsage:\n  kubectl patch (-f FILENAME | TYPE NAME) [-p PATCH] [--type strategic|merge|json] [options]",
        "exec" => "Execute a command in a pod (its network namespace on the pod's node).\n\nExamples:\n  kubectl exec web-xxx -- curl -s 10.96.0.10\n  kubectl exec -it web-xxx -- sh\n\nUsage:\n  kubectl exec (POD | TYPE/NAME) [-c CONTAINER] [flags] -- COMMAND [args...] [options]",
        "logs" => "Print the logs of a pod (kplab's echo server log). kube-system component pods that are\nnot API objects in kplab (kube-proxy-<node>, kube-apiserver-<node>, kube-controller-manager-<node>,\nkube-scheduler-<node>) print that component's log on <node>.\n\nExamples:\n  kubectl logs web-xxx\n  kubectl logs -n kube-system kube-proxy-node-2 --tail=20\n\nUsage:\n  kubectl logs [-f] [-p] (POD | TYPE/NAME) [-c CONTAINER] [options]",
        "run" => "Create and run a particular image in a pod.\n\nExamples:\n  kubectl run nginx --image=nginx --port=80\n\nUsage:\n  kubectl run NAME --image=image [--env=\"key=value\"] [--port=port] [--labels=k=v] [--dry-run=server|client] [options]",
        _ => HELP,
    }
}

/// Runs the command named by the first positional argument.
pub fn dispatch(ctx: &mut Ctx, a: &Args) -> R {
    let Some(cmd) = a.pos.first().map(String::as_str) else {
        let _ = writeln!(ctx.out, "{HELP}");
        return Ok(());
    };
    if a.bool("help") || cmd == "help" {
        let topic = if cmd == "help" {
            a.pos.get(1).map(String::as_str).unwrap_or("")
        } else {
            cmd
        };
        let _ = writeln!(ctx.out, "{}", help_for(topic));
        return Ok(());
    }
    match cmd {
        "get" => get::get(ctx, a),
        "describe" => describe::describe_cmd(ctx, a),
        "apply" => apply::apply(ctx, a),
        "create" => create::create(ctx, a),
        "delete" => delete::delete(ctx, a),
        "scale" => scale::scale(ctx, a),
        "rollout" => rollout::rollout(ctx, a),
        "label" => label::label(ctx, a),
        "patch" => patch::patch(ctx, a),
        "edit" => edit::edit(ctx, a),
        "expose" => expose::expose(ctx, a),
        "run" => run::run_pod(ctx, a),
        "exec" => super::exec::exec(ctx, a),
        "logs" => super::exec::logs(ctx, a),
        "version" => version::version(ctx, a),
        "cluster-info" => cluster_info::cluster_info(ctx, a),
        "api-resources" => api_resources::api_resources(ctx, a),
        "config" => config::config(ctx, a),
        "wait" => super::wait::wait(ctx, a),
        other => Err(Fail::Raw(format!(
            "error: unknown command \"{other}\" for \"kubectl\"\nRun 'kubectl --help' for usage."
        ))),
    }
}
