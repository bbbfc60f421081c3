//! The node's `/etc/resolv.conf` and `/etc/hosts`: what they must say, and writing them in place.

use std::fs::OpenOptions;
use std::io::Write;
use std::net::Ipv4Addr;
use std::path::Path;

use super::env::NodeEnv;
use super::env::CLUSTER_DNS;

/// `~/.kube/config` of a node's root, for the real kubectl: kubeadm's `admin.conf` names,
/// pointing at the lab API server (plain HTTP, no credentials: the lab has no authentication).
pub fn kubeconfig(apiserver: &str) -> String {
    format!(
        "apiVersion: v1
kind: Config
clusters:
- cluster:
    server: {apiserver}
  name: kubernetes
contexts:
- context:
    cluster: kubernetes
    user: kubernetes-admin
  name: kubernetes-admin@kubernetes
current-context: kubernetes-admin@kubernetes
preferences: {{}}
users:
- name: kubernetes-admin
  user: {{}}
"
    )
}

/// `/etc/resolv.conf` of a node: the cluster DNS.
pub fn resolv_conf() -> String {
    format!(
        "# written by kplab-node: the cluster DNS (Service kube-system/kube-dns)\n\
         search default.svc.cluster.local svc.cluster.local cluster.local\n\
         nameserver {CLUSTER_DNS}\n\
         options ndots:5\n"
    )
}

/// `/etc/hosts`: localhost, the nodes and the client (`.100` of the lab subnet, or
/// `KPLAB_CLIENT_IP`).
pub fn hosts_file(env: &NodeEnv, client_ip: Option<Ipv4Addr>) -> String {
    let mut s = String::from(
        "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n\
         fe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n",
    );
    for n in &env.nodes {
        s.push_str(&format!("{}\t{}\n", n.ip, n.name));
    }
    let client = client_ip.or_else(|| {
        env.nodes.first().map(|n| {
            let o = n.ip.octets();
            Ipv4Addr::new(o[0], o[1], o[2], 100)
        })
    });
    if let Some(c) = client {
        s.push_str(&format!("{c}\tclient\n"));
    }
    s
}

/// Whether a hosts file `text` maps every lab name of `wanted` (a hosts file: its IPv4 entries
/// other than loopback) to its address.
pub fn hosts_cover(text: &str, wanted: &str) -> bool {
    let entries = |t: &str| -> Vec<(String, String)> {
        t.lines()
            .filter(|l| !l.trim_start().starts_with('#'))
            .filter_map(|l| {
                let mut f = l.split_whitespace();
                let ip = f.next()?.to_string();
                Some(f.map(|n| (ip.clone(), n.to_string())).collect::<Vec<_>>())
            })
            .flatten()
            .collect()
    };
    let have = entries(text);
    entries(wanted)
        .iter()
        .filter(|(ip, _)| ip.parse::<Ipv4Addr>().is_ok_and(|a| !a.is_loopback()))
        .all(|e| have.contains(e))
}

/// Whether a resolv.conf `text` sends queries to the cluster DNS first, with its search path.
pub fn resolv_conf_uses_cluster_dns(text: &str) -> bool {
    let first_ns = text
        .lines()
        .find_map(|l| l.strip_prefix("nameserver"))
        .map(str::trim);
    first_ns == Some(CLUSTER_DNS)
        && text
            .lines()
            .any(|l| l.starts_with("search default.svc.cluster.local "))
}

/// Writes a file in place (truncate + write): Docker bind-mounts `/etc/hosts` and
/// `/etc/resolv.conf`, so a rename over them would fail.
pub(crate) fn write_in_place(path: &Path, text: &str) -> std::io::Result<()> {
    let mut f = OpenOptions::new()
        .write(true)
        .truncate(true)
        .create(true)
        .open(path)?;
    f.write_all(text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::super::env::{test_env as env, Role};
    use super::*;

    #[test]
    fn the_kubeconfig_points_at_the_lab_api() {
        let k = kubeconfig("http://172.28.5.10:6443");
        let v: serde_json::Value = serde_yaml_ng::from_str(&k).unwrap();
        assert_eq!(
            v.pointer("/clusters/0/cluster/server").unwrap(),
            "http://172.28.5.10:6443"
        );
        assert_eq!(v["current-context"], "kubernetes-admin@kubernetes");
    }

    #[test]
    fn hosts_and_resolv_conf() {
        let h = hosts_file(&env(Role::Worker), None);
        assert!(h.contains("172.28.5.10\tnode-1\n"));
        assert!(h.contains("172.28.5.11\tnode-2\n"));
        assert!(h.contains("172.28.5.100\tclient\n"));
        assert!(
            hosts_file(&env(Role::Worker), Some("10.0.0.9".parse().unwrap()))
                .contains("10.0.0.9\tclient")
        );
        assert!(hosts_cover(&h, &h));
        let docker = "127.0.0.1\tlocalhost\n172.28.5.11\tnode-2\n172.28.5.10 node-1\n172.28.5.11 node-2\n172.28.5.100 client\n";
        assert!(hosts_cover(docker, &h));
        assert!(!hosts_cover(
            "127.0.0.1 localhost\n172.28.5.11 node-2\n",
            &h
        ));
        let r = resolv_conf();
        assert!(resolv_conf_uses_cluster_dns(&r));
        assert!(!resolv_conf_uses_cluster_dns(
            "nameserver 127.0.0.11\noptions ndots:0\n"
        ));
        assert!(r.contains("nameserver 10.96.0.10\n"));
        assert!(r.contains("search default.svc.cluster.local svc.cluster.local cluster.local\n"));
    }
}
