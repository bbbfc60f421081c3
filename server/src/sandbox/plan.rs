//! The pure lab plan: from a lab name, options and a subnet to the exact network and containers
//! the Docker executor creates. No I/O here, so every security-relevant setting (capabilities,
//! limits, labels, no Docker socket) is unit-tested without Docker.

use std::collections::BTreeMap;
use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

use sha2::{Digest, Sha256};

/// Label naming the lab on every container and network.
pub const LABEL_LAB: &str = "kplab.lab";
/// Label naming the object's role: `control-plane`, `worker`, `client` or `network`.
pub const LABEL_ROLE: &str = "kplab.role";
/// Label naming the learner who owns the lab (empty for labs started from the CLI).
pub const LABEL_LEARNER: &str = "kplab.learner";
/// Label naming the `kplab serve` that created the lab (its persistent server id), so each
/// server's orphan sweep removes only its own labs. Absent on labs started from the CLI.
pub const LABEL_SERVER: &str = "kplab.server";
/// Label naming the node (`node-1`, …, `client`) a container plays.
pub const LABEL_NODE: &str = "kplab.node";
/// Label on a lab's network listing every host the lab was planned with (`node-1,node-2,client`),
/// so a lab missing a container is seen as broken, not as a smaller healthy lab.
pub const LABEL_HOSTS: &str = "kplab.hosts";
/// The image every lab container runs unless the options say otherwise.
pub const DEFAULT_IMAGE: &str = "kplab-node:latest";
/// Prefix of every lab's Linux bridge, so host firewall rules match `-i kplab+`.
pub const BRIDGE_PREFIX: &str = "kplab-";
/// Longest lab name accepted (it appears in container and network names).
pub const MAX_LAB_NAME: usize = 40;
/// Most nodes a lab may have (the addresses `.10` … are fixed, `.100` is the client).
pub const MAX_NODES: u8 = 9;
/// Host octet of `node-1`; `node-N` is `NODE_OCTET_BASE + N - 1`.
pub const NODE_OCTET_BASE: u8 = 10;
/// Host octet of the `client` container.
pub const CLIENT_OCTET: u8 = 100;
/// Host octet of the network's gateway (the bridge's address on the host).
pub const GATEWAY_OCTET: u8 = 1;
/// Linux capabilities a lab container gets on top of Docker's defaults: pod network namespaces
/// and iptables (NET_ADMIN), `unshare`/`nsenter` (SYS_ADMIN, held in check by
/// [`super::seccomp::PROFILE`]), ping and tcpdump (NET_RAW).
pub const CAPABILITIES: [&str; 3] = ["NET_ADMIN", "SYS_ADMIN", "NET_RAW"];
/// Where the driver keeps the nodes' `/etc/resolv.conf` on the host (bind-mounted read-only:
/// the root filesystem is read-only, so the node cannot write its own).
pub const RESOLV_CONF_HOST_PATH: &str = "/run/kplab/node-resolv.conf";
/// The cluster DNS Service's address (`kube-system/kube-dns`, see `docker/agent/CONTRACTS.md`).
pub const CLUSTER_DNS: Ipv4Addr = Ipv4Addr::new(10, 96, 0, 10);
/// The writable places of a lab container, each a size-bounded tmpfs (counted against the
/// container's memory limit): everything else is the image's read-only layer, so a learner who
/// fills the disk gets "No space left on device" inside the lab and costs the host nothing, and
/// the programs the grader runs (`kplab-agent`, `iptables-save`, `kubectl`, `conntrack`) cannot
/// be replaced. `noexec` everywhere: a binary brought into the lab does not run.
pub const WRITABLE: &[(&str, &str)] = &[
    ("/tmp", "rw,nosuid,nodev,noexec,mode=1777,size=64m"),
    ("/var/tmp", "rw,nosuid,nodev,noexec,mode=1777,size=16m"),
    ("/root", "rw,nosuid,nodev,noexec,mode=0700,size=32m"),
    ("/run", "rw,nosuid,nodev,noexec,mode=0755,size=16m"),
    (
        "/var/lib/kplab",
        "rw,nosuid,nodev,noexec,mode=0755,size=64m",
    ),
    ("/var/log", "rw,nosuid,nodev,noexec,mode=0755,size=64m"),
];
/// `oom_score_adj` of what a learner runs (terminal shells) and of every command the server runs
/// in a lab: under memory pressure the kernel kills those before the lab's control plane, which
/// keeps the container's default (0).
pub const LEARNER_OOM_SCORE_ADJ: i32 = 1000;

/// The nodes' `/etc/resolv.conf`: the cluster DNS, as a kubelet writes it for pods.
pub fn node_resolv_conf() -> String {
    format!(
        "# kplab: the cluster DNS (Service kube-system/kube-dns)\n\
         search default.svc.cluster.local svc.cluster.local cluster.local\n\
         nameserver {CLUSTER_DNS}\n\
         options ndots:5\n"
    )
}

/// A lab name that was checked: lowercase letters, digits and `-`, starting with a letter or digit.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LabName(String);

/// Why a lab name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// The name was empty.
    #[error("lab name must not be empty")]
    Empty,
    /// The name was longer than [`MAX_LAB_NAME`].
    #[error("lab name {0:?} is too long: at most {MAX_LAB_NAME} characters")]
    TooLong(String),
    /// The name had a character outside `[a-z0-9-]` or started/ended with `-`.
    #[error("lab name {0:?} is invalid: use lowercase letters, digits and '-', starting and ending with a letter or digit")]
    Invalid(String),
}

impl FromStr for LabName {
    type Err = NameError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.is_empty() {
            return Err(NameError::Empty);
        }
        if s.len() > MAX_LAB_NAME {
            return Err(NameError::TooLong(s.to_string()));
        }
        let ok_chars = s
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !ok_chars || s.starts_with('-') || s.ends_with('-') {
            return Err(NameError::Invalid(s.to_string()));
        }
        Ok(LabName(s.to_string()))
    }
}

impl LabName {
    /// The name as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for LabName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An IPv4 /24 subnet, the size of every lab network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Subnet24 {
    base: Ipv4Addr,
}

impl Subnet24 {
    /// The /24 that contains `addr`.
    pub fn containing(addr: Ipv4Addr) -> Self {
        let [a, b, c, _] = addr.octets();
        Subnet24 {
            base: Ipv4Addr::new(a, b, c, 0),
        }
    }

    /// The address with host octet `host` in this subnet.
    pub fn host(&self, host: u8) -> Ipv4Addr {
        let [a, b, c, _] = self.base.octets();
        Ipv4Addr::new(a, b, c, host)
    }

    /// The network address (`x.y.z.0`).
    pub fn base(&self) -> Ipv4Addr {
        self.base
    }
}

impl fmt::Display for Subnet24 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/24", self.base)
    }
}

/// An IPv4 network of any prefix length, as Docker reports existing subnets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv4Net {
    /// First address.
    pub addr: Ipv4Addr,
    /// Prefix length, 0–32.
    pub prefix: u8,
}

impl Ipv4Net {
    fn range(&self) -> (u32, u32) {
        let mask = if self.prefix == 0 {
            0
        } else {
            u32::MAX << (32 - u32::from(self.prefix.min(32)))
        };
        let start = u32::from(self.addr) & mask;
        (start, start | !mask)
    }

    /// Whether the two networks share any address.
    pub fn overlaps(&self, other: &Ipv4Net) -> bool {
        let (a0, a1) = self.range();
        let (b0, b1) = other.range();
        a0 <= b1 && b0 <= a1
    }
}

impl FromStr for Ipv4Net {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (addr, prefix) = s
            .split_once('/')
            .ok_or_else(|| format!("{s:?} is not an IPv4 CIDR"))?;
        let addr: Ipv4Addr = addr
            .parse()
            .map_err(|_| format!("{s:?} is not an IPv4 CIDR"))?;
        let prefix: u8 = prefix
            .parse()
            .ok()
            .filter(|p| *p <= 32)
            .ok_or_else(|| format!("{s:?} has an invalid prefix length"))?;
        Ok(Ipv4Net { addr, prefix })
    }
}

impl From<Subnet24> for Ipv4Net {
    fn from(s: Subnet24) -> Self {
        Ipv4Net {
            addr: s.base,
            prefix: 24,
        }
    }
}

/// The pool lab subnets are taken from: 172.28.0.0/14 (1024 /24s).
pub const SUBNET_POOL: Ipv4Net = Ipv4Net {
    addr: Ipv4Addr::new(172, 28, 0, 0),
    prefix: 14,
};

/// Picks a /24 from [`SUBNET_POOL`] that overlaps none of `taken`, starting at a position
/// derived from the lab name (so concurrent `up`s of different labs rarely race for the same
/// subnet) and scanning forward. `None` when the pool is exhausted.
pub fn pick_subnet(lab: &LabName, taken: &[Ipv4Net]) -> Option<Subnet24> {
    let (start, end) = SUBNET_POOL.range();
    let count = (end - start + 1) >> 8;
    let first = u32::from_be_bytes(digest(lab.as_str())[..4].try_into().ok()?) % count;
    (0..count)
        .map(|i| Subnet24 {
            base: Ipv4Addr::from(start + (((first + i) % count) << 8)),
        })
        .find(|candidate| {
            let net = Ipv4Net::from(*candidate);
            !taken.iter().any(|t| t.overlaps(&net))
        })
}

fn digest(s: &str) -> [u8; 32] {
    Sha256::digest(s.as_bytes()).into()
}

/// What a lab container does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// `node-1`: the lab API server, controllers, DNS, and a worker's components.
    ControlPlane,
    /// `node-2` …: kubelet, kube-proxy, policy enforcer.
    Worker,
    /// `client`: an outside host with tools only.
    Client,
}

impl Role {
    /// The value of `KPLAB_ROLE` and of the `kplab.role` label.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::ControlPlane => "control-plane",
            Role::Worker => "worker",
            Role::Client => "client",
        }
    }
}

/// Resource limits of one container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Memory limit in bytes (swap included: no extra swap).
    pub memory_bytes: i64,
    /// Most processes/threads.
    pub pids: i64,
    /// CPU quota in billionths of a CPU.
    pub nano_cpus: i64,
}

/// Options of a lab.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabOptions {
    /// Number of nodes (`node-1` … `node-N`), 1–[`MAX_NODES`].
    pub nodes: u8,
    /// Image of every container.
    pub image: String,
    /// The learner who owns the lab, recorded in a label.
    pub learner: Option<String>,
    /// The id of the server that creates the lab, recorded in the [`LABEL_SERVER`] label
    /// (`None`: no such label, as for the CLI's labs).
    pub server: Option<String>,
    /// Limits of each node container.
    pub node_limits: Limits,
    /// Limits of the client container.
    pub client_limits: Limits,
}

impl Default for LabOptions {
    fn default() -> Self {
        LabOptions {
            nodes: 2,
            image: DEFAULT_IMAGE.to_string(),
            learner: None,
            server: None,
            node_limits: Limits {
                memory_bytes: 768 << 20,
                pids: 1024,
                nano_cpus: 1_000_000_000,
            },
            client_limits: Limits {
                memory_bytes: 384 << 20,
                pids: 256,
                nano_cpus: 500_000_000,
            },
        }
    }
}

/// Why options were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// Node count out of range.
    #[error("a lab has 1 to {MAX_NODES} nodes, not {0}")]
    Nodes(u8),
}

/// The lab's network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkPlan {
    /// Docker network name, `kplab-<lab>`.
    pub name: String,
    /// Linux bridge name, `kplab-<9 hex chars>` (15 characters, the kernel's limit).
    pub bridge: String,
    /// The lab's /24.
    pub subnet: Subnet24,
    /// The bridge's address on the host.
    pub gateway: Ipv4Addr,
    /// Always true: Docker adds no route out and no NAT.
    pub internal: bool,
    /// Labels on the network.
    pub labels: BTreeMap<String, String>,
}

/// One container of the lab.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerPlan {
    /// Docker container name, `kplab-<lab>-<hostname>`.
    pub name: String,
    /// Hostname and node name: `node-1` … or `client`.
    pub hostname: String,
    /// What it runs.
    pub role: Role,
    /// Fixed address on the lab network.
    pub ip: Ipv4Addr,
    /// Image.
    pub image: String,
    /// Command (`kplab-node`, PID 2 under Docker's init).
    pub cmd: Vec<String>,
    /// Environment, as in `docker/agent/CONTRACTS.md`.
    pub env: BTreeMap<String, String>,
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// Capabilities added to Docker's default set.
    pub cap_add: Vec<String>,
    /// Namespaced sysctls set at start (`/proc/sys` is read-only inside).
    pub sysctls: BTreeMap<String, String>,
    /// Run Docker's init as PID 1 (signals, zombie reaping, fast stop).
    pub init: bool,
    /// Never true: listed so tests can assert it.
    pub privileged: bool,
    /// Bind mounts (`host:container[:ro]`): only the nodes' read-only `/etc/resolv.conf`, in
    /// particular no Docker socket.
    pub binds: Vec<String>,
    /// The image's root filesystem is mounted read-only.
    pub read_only_rootfs: bool,
    /// tmpfs mounts (path -> mount options), the only writable places: [`WRITABLE`].
    pub tmpfs: BTreeMap<String, String>,
    /// Docker security options: `no-new-privileges` and the seccomp profile.
    pub security_opt: Vec<String>,
    /// `/etc/hosts` lines (`name:ip`): every node and the client.
    pub extra_hosts: Vec<String>,
    /// Resource limits.
    pub limits: Limits,
}

/// Everything the executor creates for a lab.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabPlan {
    /// The lab.
    pub lab: LabName,
    /// Its network.
    pub network: NetworkPlan,
    /// Nodes first (`node-1` …), then `client`.
    pub containers: Vec<ContainerPlan>,
}

/// Docker network name of a lab.
pub fn network_name(lab: &LabName) -> String {
    format!("kplab-{lab}")
}

/// Linux bridge name of a lab: `kplab-` + 9 hex characters of the name's SHA-256.
pub fn bridge_name(lab: &LabName) -> String {
    let hex = data_encoding::HEXLOWER.encode(&digest(lab.as_str()));
    format!("{BRIDGE_PREFIX}{}", &hex[..9])
}

/// Plans a lab: pure, deterministic in its inputs.
pub fn plan(lab: &LabName, options: &LabOptions, subnet: Subnet24) -> Result<LabPlan, PlanError> {
    if options.nodes == 0 || options.nodes > MAX_NODES {
        return Err(PlanError::Nodes(options.nodes));
    }
    let learner = options.learner.clone().unwrap_or_default();
    let labels = |role: &str, node: Option<&str>| {
        let mut l = BTreeMap::new();
        l.insert(LABEL_LAB.to_string(), lab.to_string());
        l.insert(LABEL_ROLE.to_string(), role.to_string());
        l.insert(LABEL_LEARNER.to_string(), learner.clone());
        if let Some(server) = options.server.as_deref().filter(|s| !s.is_empty()) {
            l.insert(LABEL_SERVER.to_string(), server.to_string());
        }
        if let Some(node) = node {
            l.insert(LABEL_NODE.to_string(), node.to_string());
        }
        l
    };
    let network = NetworkPlan {
        name: network_name(lab),
        bridge: bridge_name(lab),
        subnet,
        gateway: subnet.host(GATEWAY_OCTET),
        internal: true,
        labels: labels("network", None),
    };
    let node_ip = |n: u8| subnet.host(NODE_OCTET_BASE + n - 1);
    let nodes_env = (1..=options.nodes)
        .map(|n| format!("node-{n}={}", node_ip(n)))
        .collect::<Vec<_>>()
        .join(",");
    let apiserver = format!("http://{}:6443", node_ip(1));
    let extra_hosts: Vec<String> = (1..=options.nodes)
        .map(|n| format!("node-{n}:{}", node_ip(n)))
        .chain(std::iter::once(format!(
            "client:{}",
            subnet.host(CLIENT_OCTET)
        )))
        .collect();
    let tmpfs: BTreeMap<String, String> = WRITABLE
        .iter()
        .map(|(path, opts)| (path.to_string(), opts.to_string()))
        .collect();
    let security_opt = vec![
        "no-new-privileges:true".to_string(),
        format!("seccomp={}", super::seccomp::PROFILE),
    ];
    let sysctls: BTreeMap<String, String> = [
        ("net.ipv4.ip_forward", "1"),
        ("net.ipv4.conf.all.route_localnet", "1"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();

    let mut containers = Vec::new();
    let hosts = (1..=options.nodes)
        .map(|n| (format!("node-{n}"), n))
        .chain(std::iter::once(("client".to_string(), 0)));
    for (hostname, index) in hosts {
        let (role, ip, limits) = match index {
            0 => (
                Role::Client,
                subnet.host(CLIENT_OCTET),
                options.client_limits,
            ),
            1 => (Role::ControlPlane, node_ip(1), options.node_limits),
            n => (Role::Worker, node_ip(n), options.node_limits),
        };
        let mut env = BTreeMap::new();
        env.insert("KPLAB_LAB".to_string(), lab.to_string());
        env.insert("KPLAB_ROLE".to_string(), role.as_str().to_string());
        env.insert("KPLAB_NODE_NAME".to_string(), hostname.clone());
        env.insert("KPLAB_NODE_INDEX".to_string(), index.to_string());
        env.insert("KPLAB_NODE_IP".to_string(), ip.to_string());
        env.insert("KPLAB_APISERVER".to_string(), apiserver.clone());
        env.insert("KPLAB_NODES".to_string(), nodes_env.clone());
        containers.push(ContainerPlan {
            name: format!("kplab-{lab}-{hostname}"),
            labels: labels(role.as_str(), Some(&hostname)),
            hostname,
            role,
            ip,
            image: options.image.clone(),
            cmd: vec!["kplab-node".to_string()],
            env,
            cap_add: CAPABILITIES.iter().map(|c| c.to_string()).collect(),
            sysctls: sysctls.clone(),
            init: true,
            privileged: false,
            binds: match role {
                Role::Client => Vec::new(),
                _ => vec![format!("{RESOLV_CONF_HOST_PATH}:/etc/resolv.conf:ro")],
            },
            read_only_rootfs: true,
            tmpfs: tmpfs.clone(),
            security_opt: security_opt.clone(),
            extra_hosts: extra_hosts.clone(),
            limits,
        });
    }
    let mut network = network;
    network.labels.insert(
        LABEL_HOSTS.to_string(),
        containers
            .iter()
            .map(|c| c.hostname.as_str())
            .collect::<Vec<_>>()
            .join(","),
    );
    Ok(LabPlan {
        lab: lab.clone(),
        network,
        containers,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(s: &str) -> LabName {
        s.parse().unwrap()
    }

    fn subnet() -> Subnet24 {
        Subnet24::containing(Ipv4Addr::new(172, 28, 5, 0))
    }

    #[test]
    fn lab_names_are_checked() {
        assert!("demo".parse::<LabName>().is_ok());
        assert!("lab-2".parse::<LabName>().is_ok());
        assert_eq!("".parse::<LabName>(), Err(NameError::Empty));
        assert!(matches!(
            "Demo".parse::<LabName>(),
            Err(NameError::Invalid(_))
        ));
        assert!(matches!(
            "-x".parse::<LabName>(),
            Err(NameError::Invalid(_))
        ));
        assert!(matches!(
            "a_b".parse::<LabName>(),
            Err(NameError::Invalid(_))
        ));
        assert!(matches!(
            "a".repeat(41).parse::<LabName>(),
            Err(NameError::TooLong(_))
        ));
        let msg = "a b".parse::<LabName>().unwrap_err().to_string();
        assert!(
            msg.contains("\"a b\"") && msg.contains("lowercase"),
            "{msg}"
        );
    }

    #[test]
    fn default_lab_has_two_nodes_and_a_client_at_fixed_addresses() {
        let p = plan(&name("demo"), &LabOptions::default(), subnet()).unwrap();
        let got: Vec<_> = p
            .containers
            .iter()
            .map(|c| {
                (
                    c.name.as_str(),
                    c.hostname.as_str(),
                    c.role,
                    c.ip.to_string(),
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                (
                    "kplab-demo-node-1",
                    "node-1",
                    Role::ControlPlane,
                    "172.28.5.10".to_string()
                ),
                (
                    "kplab-demo-node-2",
                    "node-2",
                    Role::Worker,
                    "172.28.5.11".to_string()
                ),
                (
                    "kplab-demo-client",
                    "client",
                    Role::Client,
                    "172.28.5.100".to_string()
                ),
            ]
        );
        assert_eq!(p.network.name, "kplab-demo");
        assert_eq!(p.network.gateway, Ipv4Addr::new(172, 28, 5, 1));
        assert!(p.network.internal);
        assert_eq!(p.network.subnet.to_string(), "172.28.5.0/24");
    }

    #[test]
    fn environment_follows_the_contract() {
        let options = LabOptions {
            nodes: 3,
            ..LabOptions::default()
        };
        let p = plan(&name("demo"), &options, subnet()).unwrap();
        let node2 = &p.containers[1];
        let env: Vec<_> = node2.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
        assert_eq!(
            env,
            vec![
                "KPLAB_APISERVER=http://172.28.5.10:6443",
                "KPLAB_LAB=demo",
                "KPLAB_NODES=node-1=172.28.5.10,node-2=172.28.5.11,node-3=172.28.5.12",
                "KPLAB_NODE_INDEX=2",
                "KPLAB_NODE_IP=172.28.5.11",
                "KPLAB_NODE_NAME=node-2",
                "KPLAB_ROLE=worker",
            ]
        );
        let client = p.containers.last().unwrap();
        assert_eq!(client.env["KPLAB_ROLE"], "client");
        assert_eq!(client.env["KPLAB_NODE_INDEX"], "0");
        assert_eq!(client.env["KPLAB_NODE_IP"], "172.28.5.100");
    }

    #[test]
    fn containers_are_confined() {
        let p = plan(&name("demo"), &LabOptions::default(), subnet()).unwrap();
        for c in &p.containers {
            assert!(!c.privileged, "{} must not be privileged", c.name);
            assert!(c.init, "{} needs --init", c.name);
            assert_eq!(c.cap_add, vec!["NET_ADMIN", "SYS_ADMIN", "NET_RAW"]);
            let expected_binds = match c.role {
                Role::Client => Vec::<String>::new(),
                _ => vec![format!("{RESOLV_CONF_HOST_PATH}:/etc/resolv.conf:ro")],
            };
            assert_eq!(
                c.binds, expected_binds,
                "{} mounts only resolv.conf",
                c.name
            );
            assert!(!c.binds.iter().any(|b| b.contains("docker.sock")));
            assert!(c.read_only_rootfs, "{} has a read-only root", c.name);
            assert_eq!(c.tmpfs.len(), WRITABLE.len());
            for (path, opts) in &c.tmpfs {
                assert!(opts.contains("size="), "{path} is bounded: {opts}");
                assert!(
                    opts.contains("noexec") && opts.contains("nosuid"),
                    "{path}: {opts}"
                );
            }
            assert_eq!(c.security_opt[0], "no-new-privileges:true");
            assert!(c.security_opt[1].starts_with("seccomp={"));
            assert_eq!(
                c.extra_hosts,
                vec![
                    "node-1:172.28.5.10",
                    "node-2:172.28.5.11",
                    "client:172.28.5.100"
                ]
            );
            assert_eq!(c.sysctls["net.ipv4.ip_forward"], "1");
            assert_eq!(c.sysctls["net.ipv4.conf.all.route_localnet"], "1");
            assert!(c.limits.memory_bytes > 0 && c.limits.pids > 0 && c.limits.nano_cpus > 0);
            assert_eq!(c.cmd, vec!["kplab-node"]);
        }
    }

    #[test]
    fn every_object_is_labelled_with_the_lab() {
        let options = LabOptions {
            learner: Some("alice".into()),
            ..LabOptions::default()
        };
        let p = plan(&name("demo"), &options, subnet()).unwrap();
        assert_eq!(p.network.labels[LABEL_LAB], "demo");
        assert_eq!(p.network.labels[LABEL_ROLE], "network");
        assert_eq!(p.network.labels[LABEL_HOSTS], "node-1,node-2,client");
        for c in &p.containers {
            assert_eq!(c.labels[LABEL_LAB], "demo");
            assert_eq!(c.labels[LABEL_ROLE], c.role.as_str());
            assert_eq!(c.labels[LABEL_LEARNER], "alice");
            assert_eq!(c.labels[LABEL_NODE], c.hostname);
            assert!(!c.labels.contains_key(LABEL_SERVER), "{:?}", c.labels);
        }
        assert!(!p.network.labels.contains_key(LABEL_SERVER));
    }

    #[test]
    fn a_servers_labs_carry_its_id_on_every_object() {
        let options = LabOptions {
            learner: Some("alice".into()),
            server: Some("5e7f00d1".into()),
            ..LabOptions::default()
        };
        let p = plan(&name("kpl-abc"), &options, subnet()).unwrap();
        assert_eq!(p.network.labels[LABEL_SERVER], "5e7f00d1");
        assert_eq!(p.containers.len(), 3);
        for c in &p.containers {
            assert_eq!(c.labels[LABEL_SERVER], "5e7f00d1", "{}", c.name);
        }
        // An empty id is no id.
        let options = LabOptions {
            server: Some(String::new()),
            ..options
        };
        let p = plan(&name("kpl-abc"), &options, subnet()).unwrap();
        assert!(!p.network.labels.contains_key(LABEL_SERVER));
    }

    #[test]
    fn bridge_names_fit_the_kernel_limit_and_match_the_host_rule() {
        for lab in ["a", "demo", &"z".repeat(MAX_LAB_NAME)] {
            let b = bridge_name(&name(lab));
            assert_eq!(b.len(), 15, "{b}");
            assert!(b.starts_with("kplab-"));
        }
        assert_ne!(bridge_name(&name("a")), bridge_name(&name("b")));
    }

    #[test]
    fn node_count_is_bounded() {
        for n in [0, MAX_NODES + 1] {
            let options = LabOptions {
                nodes: n,
                ..LabOptions::default()
            };
            assert_eq!(
                plan(&name("demo"), &options, subnet()),
                Err(PlanError::Nodes(n))
            );
        }
    }

    #[test]
    fn subnets_avoid_every_taken_network() {
        let lab = name("demo");
        let first = pick_subnet(&lab, &[]).unwrap();
        assert!(Ipv4Net::from(first).overlaps(&SUBNET_POOL));
        let second = pick_subnet(&lab, &[first.into()]).unwrap();
        assert_ne!(first, second);
        // A wide network covering the whole pool leaves nothing.
        let all: Ipv4Net = "172.16.0.0/12".parse().unwrap();
        assert_eq!(pick_subnet(&lab, &[all]), None);
        // Docker's default bridge does not collide with the pool.
        let docker0: Ipv4Net = "172.17.0.0/16".parse().unwrap();
        assert_eq!(pick_subnet(&lab, &[docker0]), Some(first));
    }

    #[test]
    fn cidr_parsing_and_overlap() {
        let a: Ipv4Net = "10.0.0.0/8".parse().unwrap();
        let b: Ipv4Net = "10.1.2.0/24".parse().unwrap();
        let c: Ipv4Net = "11.0.0.0/24".parse().unwrap();
        assert!(a.overlaps(&b) && b.overlaps(&a));
        assert!(!a.overlaps(&c));
        assert!("10.0.0.0".parse::<Ipv4Net>().is_err());
        assert!("10.0.0.0/33".parse::<Ipv4Net>().is_err());
    }
}
