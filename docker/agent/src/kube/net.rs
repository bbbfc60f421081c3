//! Pod and node networking, Calico style: a veth per pod (`cali…` on the node, `eth0` in the
//! pod), `/32` routes, a permanent neighbour for the pod's gateway 169.254.1.1, and the
//! `vxlan.calico` overlay between nodes with static FDB, neighbour and route entries.
//!
//! Everything is done by batched `ip -batch -` / `bridge -batch -` runs; the pod side runs
//! through `nsenter --net=/proc/PID/ns/net` (setns, no mount), so nothing here needs `ip netns
//! add`. The batch texts are built by pure functions so they can be read and tested.

use std::io::Write;
use std::net::Ipv4Addr;
use std::process::{Command, Stdio};

use sha1::{Digest, Sha1};

use super::iptables::{Iptables, IptablesError, JumpRule};

/// The overlay device, as Calico names it.
pub const VXLAN_DEV: &str = "vxlan.calico";
/// Calico's VXLAN network identifier.
pub const VXLAN_VNI: u32 = 4096;
/// IANA VXLAN port.
pub const VXLAN_PORT: u16 = 4789;
/// MTU of the overlay (1500 minus the 50 bytes of VXLAN encapsulation).
pub const VXLAN_MTU: u32 = 1450;
/// The node side of every pod's veth has this MAC (Calico does the same).
pub const CALI_MAC: &str = "ee:ee:ee:ee:ee:ee";
/// The pod's default gateway: a link-local address answered by the node side of the veth.
pub const POD_GATEWAY: Ipv4Addr = Ipv4Addr::new(169, 254, 1, 1);
pub use super::contract::CLUSTER_CIDR;

/// A failure of one networking step, with the command's own error output.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    /// The command could not be started (missing binary, …).
    #[error("cannot run {cmd}: {source}")]
    Spawn {
        /// The command line.
        cmd: String,
        /// Why it could not start.
        source: std::io::Error,
    },
    /// The command ran and failed.
    #[error("{cmd} failed ({status}): {stderr}\n--- input ---\n{input}")]
    Failed {
        /// The command line.
        cmd: String,
        /// Exit status.
        status: String,
        /// What it printed on stderr.
        stderr: String,
        /// The batch it was given.
        input: String,
    },
}

/// `cali` + the first 11 hex characters of sha1(`<ns>.<pod>`), as Calico names the host side.
/// This node's name: `KPLAB_NODE_NAME` when set and not empty, else `/etc/hostname` (trimmed);
/// `None` when neither can be read.
pub fn this_node_name() -> Option<String> {
    std::env::var("KPLAB_NODE_NAME")
        .ok()
        .filter(|s| !s.is_empty())
        .or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .ok()
                .map(|s| s.trim().to_string())
        })
}

pub fn veth_name(namespace: &str, pod: &str) -> String {
    let digest = Sha1::digest(format!("{namespace}.{pod}").as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("cali{}", &hex[..11])
}

/// `10.244.N.0`: the network address of node N's pod CIDR, used as its VXLAN tunnel address.
pub fn tunnel_addr(node_index: u32) -> Ipv4Addr {
    Ipv4Addr::new(10, 244, node_index as u8, 0)
}

/// `10.244.N.0/24`.
pub fn pod_cidr(node_index: u32) -> String {
    format!("{}/24", tunnel_addr(node_index))
}

/// The VXLAN tunnel endpoint MAC of node N: derived from N alone, so every node knows every
/// other node's MAC from `KPLAB_NODES` without asking the API (locally administered unicast).
pub fn vtep_mac(node_index: u32) -> String {
    format!(
        "66:6b:70:6c:{:02x}:{:02x}",
        (node_index >> 8) & 0xff,
        node_index & 0xff
    )
}

/// The MAC of a pod's `eth0`: `0a:58` + the IPv4 address, as the bridge CNI plugin does.
pub fn pod_mac(ip: Ipv4Addr) -> String {
    let o = ip.octets();
    format!("0a:58:{:02x}:{:02x}:{:02x}:{:02x}", o[0], o[1], o[2], o[3])
}

/// The node-side batch: create the veth with the pod end directly in the pod's namespace
/// (`netns PID`), bring it up, route the pod's `/32` to it and pin the pod's MAC.
pub fn node_side_batch(veth: &str, pid: u32, ip: Ipv4Addr) -> String {
    format!(
        "link add {veth} address {CALI_MAC} type veth peer name eth0 address {pmac} netns {pid}\n\
         link set {veth} up\n\
         route replace {ip}/32 dev {veth} scope link\n\
         neigh replace {ip} lladdr {pmac} dev {veth} nud permanent\n",
        pmac = pod_mac(ip)
    )
}

/// The pod-side batch (run through `nsenter --net=/proc/PID/ns/net`): loopback up, the
/// address, the link-scope route to the gateway, the default route and the gateway's MAC
/// (no proxy-ARP sysctl is needed: `/proc/sys` is read-only in a container).
pub fn pod_side_batch(ip: Ipv4Addr) -> String {
    format!(
        "link set lo up\n\
         addr add {ip}/32 dev eth0\n\
         link set eth0 up\n\
         route add {POD_GATEWAY} dev eth0 scope link\n\
         route add default via {POD_GATEWAY} dev eth0\n\
         neigh replace {POD_GATEWAY} lladdr {CALI_MAC} dev eth0 nud permanent\n"
    )
}

/// Runs `program args… ` with `input` on stdin and fails with its stderr.
pub fn run_batch(program: &str, args: &[&str], input: &str) -> Result<String, NetError> {
    let cmd = format!("{program} {}", args.join(" "));
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| NetError::Spawn {
            cmd: cmd.clone(),
            source,
        })?;
    if let Some(mut stdin) = child.stdin.take() {
        // A write error shows up as the command's failure below.
        let _ = stdin.write_all(input.as_bytes());
    }
    let out = child.wait_with_output().map_err(|source| NetError::Spawn {
        cmd: cmd.clone(),
        source,
    })?;
    if !out.status.success() {
        return Err(NetError::Failed {
            cmd,
            status: out.status.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
            input: input.to_string(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Runs one command without input; returns stdout.
pub fn run(program: &str, args: &[&str]) -> Result<String, NetError> {
    run_batch(program, args, "")
}

/// Wires a pod whose process (and network namespace) is `pid`: veth, addresses, routes.
pub fn setup_pod(veth: &str, pid: u32, ip: Ipv4Addr) -> Result<(), NetError> {
    let batch = node_side_batch(veth, pid, ip);
    if let Err(e) = run_batch("ip", &["-batch", "-"], &batch) {
        // A leftover veth from an earlier incarnation of the pod: remove it and try again.
        if !link_exists(veth) {
            return Err(e);
        }
        run("ip", &["link", "del", veth])?;
        run_batch("ip", &["-batch", "-"], &batch)?;
    }
    let netns = format!("--net=/proc/{pid}/ns/net");
    run_batch(
        "nsenter",
        &[&netns, "--", "ip", "-batch", "-"],
        &pod_side_batch(ip),
    )?;
    Ok(())
}

/// Removes a pod's veth (and with it its route and neighbour entry); the route is removed
/// explicitly too in case the device is already gone. Missing pieces are not an error.
pub fn teardown_pod(veth: &str, ip: Ipv4Addr) -> Result<(), NetError> {
    // The kernel removes the veth (and its route) by itself once the pod's namespace is gone,
    // which can happen between the look and the delete: a delete that fails because the thing
    // is gone by then is a success.
    if link_exists(veth) {
        if let Err(e) = run("ip", &["link", "del", veth]) {
            if link_exists(veth) {
                return Err(e);
            }
        }
    }
    let prefix = format!("{ip}/32");
    let route_exists = || {
        !run("ip", &["-o", "route", "show", "exact", &prefix])
            .unwrap_or_default()
            .trim()
            .is_empty()
    };
    if route_exists() {
        if let Err(e) = run("ip", &["route", "del", &prefix]) {
            if route_exists() {
                return Err(e);
            }
        }
    }
    Ok(())
}

/// Whether a link with this name exists in the caller's network namespace.
pub fn link_exists(name: &str) -> bool {
    Command::new("ip")
        .args(["-o", "link", "show", "dev", name])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Another node of the overlay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peer {
    /// Node name.
    pub name: String,
    /// N in `node-N`.
    pub index: u32,
    /// Its lab network address (the VXLAN underlay destination).
    pub ip: Ipv4Addr,
    /// Its VTEP MAC.
    pub mac: String,
}

impl Peer {
    /// A peer whose MAC is the one derived from its index.
    pub fn new(name: &str, index: u32, ip: Ipv4Addr) -> Peer {
        Peer {
            name: name.to_string(),
            index,
            ip,
            mac: vtep_mac(index),
        }
    }
}

/// `node-3` → 3.
pub fn index_from_name(name: &str) -> Option<u32> {
    name.rsplit('-')
        .next()?
        .parse()
        .ok()
        .filter(|n| (1..=254).contains(n))
}

/// Parses `KPLAB_NODES` (`node-1=172.28.5.10,node-2=172.28.5.11`).
pub fn parse_nodes(spec: &str) -> Result<Vec<Peer>, String> {
    let mut out = Vec::new();
    for item in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (name, ip) = item
            .split_once('=')
            .ok_or_else(|| format!("KPLAB_NODES: {item:?} is not NAME=IP"))?;
        let index = index_from_name(name)
            .ok_or_else(|| format!("KPLAB_NODES: node name {name:?} does not end in -N"))?;
        let ip: Ipv4Addr = ip
            .parse()
            .map_err(|_| format!("KPLAB_NODES: {ip:?} (for {name}) is not an IPv4 address"))?;
        out.push(Peer::new(name, index, ip));
    }
    Ok(out)
}

/// The batch creating this node's VXLAN device (only when it does not exist yet).
pub fn overlay_device_batch(index: u32, node_ip: Ipv4Addr, underlay_dev: &str) -> String {
    format!(
        "link add {VXLAN_DEV} address {mac} type vxlan id {VXLAN_VNI} local {node_ip} dev {underlay_dev} dstport {VXLAN_PORT} nolearning\n\
         link set {VXLAN_DEV} mtu {VXLAN_MTU} up\n",
        mac = vtep_mac(index)
    )
}

/// The `ip` batch for the overlay's address and the peers' neighbours and routes.
pub fn overlay_ip_batch(index: u32, peers: &[Peer]) -> String {
    let mut s = format!("addr replace {}/32 dev {VXLAN_DEV}\n", tunnel_addr(index));
    for p in peers.iter().filter(|p| p.index != index) {
        let t = tunnel_addr(p.index);
        s.push_str(&format!(
            "neigh replace {t} lladdr {mac} dev {VXLAN_DEV} nud permanent\n\
             route replace {cidr} via {t} dev {VXLAN_DEV} onlink\n",
            mac = p.mac,
            cidr = pod_cidr(p.index)
        ));
    }
    s
}

/// The `bridge` batch of static FDB entries: remote VTEP MAC → remote node address.
pub fn overlay_fdb_batch(index: u32, peers: &[Peer]) -> String {
    peers
        .iter()
        .filter(|p| p.index != index)
        .map(|p| {
            format!(
                "fdb replace {} dev {VXLAN_DEV} dst {} self permanent\n",
                p.mac, p.ip
            )
        })
        .collect()
}

/// Creates (if needed) and configures `vxlan.calico` for node `index` at `node_ip`, with an
/// entry set for each peer; routes to pod CIDRs of nodes no longer listed are removed.
pub fn ensure_overlay(
    index: u32,
    node_ip: Ipv4Addr,
    underlay_dev: &str,
    peers: &[Peer],
) -> Result<(), NetError> {
    if !link_exists(VXLAN_DEV) {
        if let Err(e) = run_batch(
            "ip",
            &["-batch", "-"],
            &overlay_device_batch(index, node_ip, underlay_dev),
        ) {
            // Someone else (kplab-node or the kubelet) created it in the meantime.
            if !link_exists(VXLAN_DEV) {
                return Err(e);
            }
        }
    }
    run_batch("ip", &["-batch", "-"], &overlay_ip_batch(index, peers))?;
    let fdb = overlay_fdb_batch(index, peers);
    if !fdb.is_empty() {
        run_batch("bridge", &["-batch", "-"], &fdb)?;
    }
    // Stale routes (a node that left).
    let wanted: Vec<String> = peers
        .iter()
        .filter(|p| p.index != index)
        .map(|p| pod_cidr(p.index))
        .collect();
    let routes = run("ip", &["-o", "route", "show", "dev", VXLAN_DEV]).unwrap_or_default();
    for line in routes.lines() {
        let Some(dst) = line.split_whitespace().next() else {
            continue;
        };
        if dst.starts_with("10.244.") && dst.ends_with("/24") && !wanted.iter().any(|w| w == dst) {
            let _ = run("ip", &["route", "del", dst, "dev", VXLAN_DEV]);
        }
    }
    Ok(())
}

/// Calico's rule comment of the jump from `POSTROUTING` to `cali-POSTROUTING`.
const NAT_JUMP_COMMENT: &str = "cali:O3lYWMrLQYEMJtB5";

/// The `iptables-restore --noflush` text of Calico's outgoing NAT (`natOutgoing: true` on the
/// pod pool): pod traffic to anything outside the pod network (another node's address, the
/// client, …) leaves masqueraded, while pod-to-pod traffic keeps its real addresses. Without
/// it such packets would leave the node with a pod source address that the lab network
/// drops. (Calico matches ipsets of its pools; one CIDR stands for them here.)
pub fn nat_outgoing_restore(cluster_cidr: &str) -> String {
    format!(
        "*nat\n\
         :cali-POSTROUTING - [0:0]\n\
         :cali-nat-outgoing - [0:0]\n\
         -A cali-POSTROUTING -m comment --comment \"cali:nYKhEzDlr11Jccal\" -j cali-nat-outgoing\n\
         -A cali-nat-outgoing -m comment --comment \"cali:flqWnvo8yq4ULQLa\" -s {cluster_cidr} ! -d {cluster_cidr} -j MASQUERADE\n\
         COMMIT\n"
    )
}

/// Installs (idempotently) the outgoing NAT chains and the jump to them at the top of
/// `POSTROUTING`.
pub fn ensure_nat_outgoing(cluster_cidr: &str) -> Result<(), NetError> {
    let ipt = Iptables::default();
    let input = nat_outgoing_restore(cluster_cidr);
    let failed = |e: IptablesError, input: &str| NetError::Failed {
        cmd: e.command,
        status: e.status,
        stderr: e.stderr,
        input: input.to_string(),
    };
    ipt.restore_noflush_wait(&input)
        .map_err(|e| failed(e, &input))?;
    let jump = JumpRule {
        table: "nat".into(),
        chain: "POSTROUTING".into(),
        args: ["-m", "comment", "--comment", NAT_JUMP_COMMENT]
            .map(String::from)
            .to_vec(),
        target: "cali-POSTROUTING".into(),
    };
    ipt.ensure_jump(&jump).map_err(|e| failed(e, ""))?;
    Ok(())
}

/// Whether `/proc/net/route` (its text given) has an IPv4 default route.
pub fn has_default_route(proc_net_route: &str) -> bool {
    proc_net_route.lines().skip(1).any(|l| {
        let mut f = l.split_whitespace();
        let _iface = f.next();
        f.next() == Some("00000000") && l.split_whitespace().nth(7) == Some("00000000")
    })
}

/// The lab network's gateway: `.1` of the node's /24 (`docker/agent/CONTRACTS.md`).
pub fn lab_gateway(node_ip: Ipv4Addr) -> Ipv4Addr {
    let [a, b, c, _] = node_ip.octets();
    Ipv4Addr::new(a, b, c, 1)
}

/// Gives the node a default route via the lab network's gateway when it has none: Docker 25
/// and later add none on an `--internal` network, and without one a node's own connection to
/// a ClusterIP fails its route lookup before kube-proxy's nat OUTPUT rules can DNAT it. (The
/// host drops what the route would carry out of the lab: the lab network is internal and the
/// host's isolation rules refuse connections to itself.) Returns whether a route was added.
pub fn ensure_default_route(node_ip: Ipv4Addr) -> Result<bool, NetError> {
    let table = std::fs::read_to_string("/proc/net/route").unwrap_or_default();
    if has_default_route(&table) {
        return Ok(false);
    }
    let gw = lab_gateway(node_ip).to_string();
    let dev = underlay_device(node_ip);
    run(
        "ip",
        &["route", "replace", "default", "via", &gw, "dev", &dev],
    )?;
    Ok(true)
}

/// The device carrying the node's address (`eth0` in a lab container).
pub fn underlay_device(node_ip: Ipv4Addr) -> String {
    let out = run("ip", &["-o", "-4", "addr", "show"]).unwrap_or_default();
    let needle = format!(" {node_ip}/");
    out.lines()
        .find(|l| l.contains(&needle))
        .and_then(|l| l.split_whitespace().nth(1))
        .map(|d| d.split('@').next().unwrap_or(d).to_string())
        .unwrap_or_else(|| "eth0".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_routes_are_found_in_proc_net_route() {
        let with =
            "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
                    eth0\t00000000\t01051CAC\t0003\t0\t0\t0\t00000000\t0\t0\t0\n\
                    eth0\t00051CAC\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n";
        assert!(has_default_route(with));
        let without =
            "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
                       eth0\t00051CAC\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n";
        assert!(!has_default_route(without));
        assert!(!has_default_route(""));
        assert_eq!(
            lab_gateway("172.28.5.11".parse().unwrap()).to_string(),
            "172.28.5.1"
        );
    }

    #[test]
    fn veth_names_follow_calico() {
        let n = veth_name("default", "web-1");
        assert_eq!(n.len(), 15, "{n}: IFNAMSIZ allows 15");
        assert!(n.starts_with("cali"));
        let digest = Sha1::digest(b"default.web-1");
        assert_eq!(&n[4..6], format!("{:02x}", digest[0]));
        assert_ne!(veth_name("default", "web-1"), veth_name("default", "web-2"));
    }

    #[test]
    fn sha1_is_the_real_one() {
        let d = Sha1::digest(b"abc");
        let hex: String = d.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, "a9993e364706816aba3e25717850c26c9cd0d89d");
    }

    #[test]
    fn addresses_derive_from_the_node_index() {
        assert_eq!(tunnel_addr(2).to_string(), "10.244.2.0");
        assert_eq!(pod_cidr(1), "10.244.1.0/24");
        assert_eq!(vtep_mac(2), "66:6b:70:6c:00:02");
        assert_eq!(pod_mac("10.244.2.5".parse().unwrap()), "0a:58:0a:f4:02:05");
    }

    #[test]
    fn parses_kplab_nodes() {
        let p = parse_nodes("node-1=172.28.5.10, node-2=172.28.5.11").unwrap();
        assert_eq!(p.len(), 2);
        assert_eq!(p[1], Peer::new("node-2", 2, "172.28.5.11".parse().unwrap()));
        assert!(parse_nodes("node-1").unwrap_err().contains("NAME=IP"));
        assert!(parse_nodes("alpha=1.2.3.4").unwrap_err().contains("-N"));
        assert!(parse_nodes("node-1=x").unwrap_err().contains("IPv4"));
    }

    #[test]
    fn overlay_batches_skip_self() {
        let peers = parse_nodes("node-1=172.28.5.10,node-2=172.28.5.11").unwrap();
        let ip = overlay_ip_batch(1, &peers);
        assert_eq!(
            ip,
            "addr replace 10.244.1.0/32 dev vxlan.calico\n\
             neigh replace 10.244.2.0 lladdr 66:6b:70:6c:00:02 dev vxlan.calico nud permanent\n\
             route replace 10.244.2.0/24 via 10.244.2.0 dev vxlan.calico onlink\n"
        );
        assert_eq!(
            overlay_fdb_batch(1, &peers),
            "fdb replace 66:6b:70:6c:00:02 dev vxlan.calico dst 172.28.5.11 self permanent\n"
        );
        assert!(
            overlay_device_batch(1, "172.28.5.10".parse().unwrap(), "eth0")
                .contains("id 4096 local 172.28.5.10 dev eth0 dstport 4789")
        );
    }

    #[test]
    fn pod_batches_configure_both_sides() {
        let ip: Ipv4Addr = "10.244.1.5".parse().unwrap();
        let node = node_side_batch("cali0123456789a", 4242, ip);
        assert!(node.contains("peer name eth0 address 0a:58:0a:f4:01:05 netns 4242"));
        assert!(node.contains("route replace 10.244.1.5/32 dev cali0123456789a scope link"));
        let pod = pod_side_batch(ip);
        assert!(pod.contains("route add default via 169.254.1.1 dev eth0"));
        assert!(pod.contains("neigh replace 169.254.1.1 lladdr ee:ee:ee:ee:ee:ee"));
    }
}
