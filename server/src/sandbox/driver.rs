//! The Docker executor: turns a [`LabPlan`] into an internal network and running containers
//! through bollard, removes labs by label, lists them, and runs commands in them.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use bollard::container::LogOutput;
use bollard::exec::{StartExecOptions, StartExecResults};
use bollard::models::{
    ContainerCreateBody, EndpointIpamConfig, EndpointSettings, ExecConfig, HostConfig, Ipam,
    IpamConfig, NetworkCreateRequest, NetworkingConfig,
};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, ListContainersOptionsBuilder, ListNetworksOptionsBuilder,
    ListVolumesOptionsBuilder, RemoveContainerOptionsBuilder, RemoveVolumeOptions,
    StatsOptionsBuilder,
};
use bollard::Docker;
use futures_util::future::{join_all, try_join_all};
use futures_util::{StreamExt, TryStreamExt};
use serde::Serialize;
use tokio::io::AsyncWriteExt;

use super::error::{status_code, SandboxError};
use super::plan::{
    self, ContainerPlan, Ipv4Net, LabName, LabOptions, LabPlan, Role, Subnet24, LABEL_LAB,
    LABEL_NODE, LABEL_ROLE, LABEL_SERVER, SUBNET_POOL,
};

/// How long `up` waits for every node to be Ready (passed to `kplab-node --wait-ready`).
pub const READY_TIMEOUT_SECS: u64 = 60;

/// A connection to the Docker engine, with the API version negotiated.
#[derive(Clone)]
pub struct Driver {
    docker: Docker,
}

/// A lab node as printed by `kplab cluster up`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct NodeInfo {
    /// Node name, `node-N`.
    pub name: String,
    /// Docker container name.
    pub container: String,
    /// Address on the lab network.
    pub ip: String,
}

/// The client container of a lab.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct ClientInfo {
    /// Docker container name.
    pub container: String,
    /// Address on the lab network.
    pub ip: String,
}

/// A running lab, the JSON object `kplab cluster up` prints.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct LabInfo {
    /// Lab name.
    pub name: String,
    /// Docker network name.
    pub network: String,
    /// The lab's subnet.
    pub subnet: String,
    /// The bridge's address on the host (the network's gateway).
    pub gateway: String,
    /// Linux bridge device on the host.
    pub bridge: String,
    /// Nodes, `node-1` first.
    pub nodes: Vec<NodeInfo>,
    /// The client container.
    pub client: ClientInfo,
}

impl LabInfo {
    fn from_plan(p: &LabPlan) -> Self {
        let nodes = p
            .containers
            .iter()
            .filter(|c| c.role != Role::Client)
            .map(|c| NodeInfo {
                name: c.hostname.clone(),
                container: c.name.clone(),
                ip: c.ip.to_string(),
            })
            .collect();
        let client = p
            .containers
            .iter()
            .find(|c| c.role == Role::Client)
            .map(|c| ClientInfo {
                container: c.name.clone(),
                ip: c.ip.to_string(),
            })
            .unwrap_or(ClientInfo {
                container: String::new(),
                ip: String::new(),
            });
        LabInfo {
            name: p.lab.to_string(),
            network: p.network.name.clone(),
            subnet: p.network.subnet.to_string(),
            gateway: p.network.gateway.to_string(),
            bridge: p.network.bridge.clone(),
            nodes,
            client,
        }
    }
}

/// One row of `kplab cluster ls`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LabSummary {
    /// Lab name.
    pub name: String,
    /// Docker network name, if the network exists.
    pub network: Option<String>,
    /// Container names with their state (`running`, `exited`, …).
    pub containers: BTreeMap<String, String>,
    /// The hosts the lab was planned with (its network's label; empty for labs made before
    /// the label existed).
    pub hosts: Vec<String>,
    /// The `kplab.server` label of its objects: the id of the server that created it (`None`
    /// for the CLI's labs and labs made before servers had ids).
    pub server: Option<String>,
}

impl LabSummary {
    /// A lab with nothing known of it yet but its name.
    fn named(name: String) -> LabSummary {
        LabSummary {
            name,
            network: None,
            containers: BTreeMap::new(),
            hosts: Vec::new(),
            server: None,
        }
    }
}

/// What `down` removed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DownReport {
    /// Containers removed.
    pub containers: Vec<String>,
    /// Networks removed.
    pub networks: Vec<String>,
    /// Volumes removed.
    pub volumes: Vec<String>,
}

/// Most bytes of standard output, and of standard error, kept from a command run in a lab:
/// the learner is root there and can make any program print without end. Past it the server
/// stops reading and kills the command. Large enough for `iptables-save -c` of a node with
/// 10,000 Services.
pub const EXEC_MAX_OUTPUT: usize = 32 << 20;
/// Longest a command the server runs in a lab may take: `timeout -s KILL` in the image's
/// read-only layer ends it there, whatever the server does.
pub const EXEC_MAX_SECS: u64 = 600;
/// `PATH` of every command the server runs in a lab: only the image's read-only directories.
pub const EXEC_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The argv that runs `argv` in a lab as the server runs every command there: ended by `timeout`
/// after [`EXEC_MAX_SECS`] (in its own process group, which [`Driver::exec`] kills when the
/// output passes [`EXEC_MAX_OUTPUT`]), and first in line for the OOM killer
/// ([`plan::LEARNER_OOM_SCORE_ADJ`]), so a command a learner made heavy cannot take the lab's
/// control plane down with it. Every program is named by its absolute path in the read-only
/// image.
pub fn confined_argv(argv: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = vec![
        "/usr/bin/timeout".into(),
        "-s".into(),
        "KILL".into(),
        EXEC_MAX_SECS.to_string(),
    ];
    v.extend(oom_first_argv(argv));
    v
}

/// `argv` under `choom`, with the learner's `oom_score_adj`.
pub fn oom_first_argv(argv: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = vec![
        "/usr/bin/choom".into(),
        "-n".into(),
        plan::LEARNER_OOM_SCORE_ADJ.to_string(),
        "--".into(),
    ];
    v.extend(argv.iter().map(|s| s.to_string()));
    v
}

/// The Docker engine as `kplab doctor` reports it.
#[derive(Debug, Clone)]
pub struct EngineInfo {
    /// Version, storage driver, cgroup version and driver, runtime.
    pub summary: String,
    /// Docker's security options (`name=seccomp,profile=default`, `name=apparmor`, …).
    pub security_options: Vec<String>,
}

/// Whether one running lab container carries the plan's confinement.
#[derive(Debug, Clone, Serialize)]
pub struct Confinement {
    /// Container name.
    pub container: String,
    /// Read-only root, `no-new-privileges` and this build's seccomp profile.
    pub confined: bool,
}

/// Output of a command run in a container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecOutput {
    /// Exit code (-1 if Docker did not report one, as when the command was killed for printing
    /// more than [`EXEC_MAX_OUTPUT`]).
    pub code: i64,
    /// Standard output, lossily decoded.
    pub stdout: String,
    /// Standard error, lossily decoded.
    pub stderr: String,
    /// The command printed more than [`EXEC_MAX_OUTPUT`] on a stream: it was killed and the
    /// output cut there.
    pub truncated: bool,
}

impl ExecOutput {
    /// Whether the command exited 0.
    pub fn success(&self) -> bool {
        self.code == 0
    }
}

/// Memory a container uses, from the stats API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct MemoryUsage {
    /// cgroup usage minus page cache (v1: `usage - cache`; v2: `usage - inactive_file`).
    pub bytes: u64,
}

/// The non-empty `kplab.server` label among `labels`.
fn server_label(labels: Option<&HashMap<String, String>>) -> Option<String> {
    labels
        .and_then(|l| l.get(LABEL_SERVER))
        .filter(|s| !s.is_empty())
        .cloned()
}

fn label_filter(lab: &LabName) -> HashMap<String, Vec<String>> {
    HashMap::from([("label".to_string(), vec![format!("{LABEL_LAB}={lab}")])])
}

impl Driver {
    /// Connects to the local Docker engine (`DOCKER_HOST` or `/var/run/docker.sock`) and
    /// negotiates the API version (bollard speaks a newer one than Debian's Docker 20.10).
    pub async fn connect() -> Result<Self, SandboxError> {
        let socket =
            std::env::var("DOCKER_HOST").unwrap_or_else(|_| "/var/run/docker.sock".to_string());
        let unavailable = |cause| SandboxError::DockerUnavailable {
            socket: socket.clone(),
            cause,
        };
        let docker = Docker::connect_with_local_defaults().map_err(unavailable)?;
        let docker = docker
            .with_timeout(Duration::from_secs(600))
            .negotiate_version()
            .await
            .map_err(unavailable)?;
        docker.ping().await.map_err(unavailable)?;
        Ok(Driver { docker })
    }

    /// The bollard client, for the other modules of the sandbox.
    pub(crate) fn docker(&self) -> &Docker {
        &self.docker
    }

    /// Whether an image exists locally.
    pub async fn image_exists(&self, image: &str) -> Result<bool, SandboxError> {
        match self.docker.inspect_image(image).await {
            Ok(_) => Ok(true),
            Err(e) if status_code(&e) == Some(404) => Ok(false),
            Err(e) => Err(SandboxError::docker(format!("inspecting image {image}"))(e)),
        }
    }

    /// Subnets of every existing Docker network.
    async fn taken_subnets(&self) -> Result<Vec<Ipv4Net>, SandboxError> {
        let networks = self
            .docker
            .list_networks(None::<bollard::query_parameters::ListNetworksOptions>)
            .await
            .map_err(SandboxError::docker("listing Docker networks"))?;
        Ok(networks
            .iter()
            .filter_map(|n| n.ipam.as_ref()?.config.as_ref())
            .flatten()
            .filter_map(|c| c.subnet.as_deref()?.parse().ok())
            .collect())
    }

    /// Creates the lab's network with a free /24, retrying on "pool overlaps" races.
    async fn create_network(
        &self,
        lab: &LabName,
        options: &LabOptions,
    ) -> Result<LabPlan, SandboxError> {
        let mut taken = self.taken_subnets().await?;
        for _attempt in 0..8 {
            let subnet: Subnet24 = plan::pick_subnet(lab, &taken).ok_or_else(|| {
                SandboxError::SubnetsExhausted(SUBNET_POOL.addr.to_string() + "/14")
            })?;
            let p = plan::plan(lab, options, subnet)?;
            let n = &p.network;
            let request = NetworkCreateRequest {
                name: n.name.clone(),
                driver: Some("bridge".into()),
                internal: Some(n.internal),
                ipam: Some(Ipam {
                    driver: Some("default".into()),
                    config: Some(vec![IpamConfig {
                        subnet: Some(n.subnet.to_string()),
                        gateway: Some(n.gateway.to_string()),
                        ..Default::default()
                    }]),
                    options: None,
                }),
                options: Some(HashMap::from([(
                    "com.docker.network.bridge.name".to_string(),
                    n.bridge.clone(),
                )])),
                labels: Some(n.labels.clone().into_iter().collect()),
                ..Default::default()
            };
            match self.docker.create_network(request).await {
                Ok(_) => return Ok(p),
                Err(e) if e.to_string().contains("overlap") => {
                    tracing::debug!(lab = %lab, subnet = %subnet, "subnet taken meanwhile, retrying");
                    taken.push(subnet.into());
                }
                Err(e) if status_code(&e) == Some(409) => {
                    return Err(SandboxError::LabExists(lab.to_string()))
                }
                Err(e) => {
                    return Err(SandboxError::docker(format!(
                        "creating network {} ({subnet})",
                        n.name
                    ))(e))
                }
            }
        }
        Err(SandboxError::SubnetsExhausted(
            "subnets kept overlapping after 8 attempts".into(),
        ))
    }

    async fn create_and_start(&self, network: &str, c: &ContainerPlan) -> Result<(), SandboxError> {
        let host_config = host_config(c, network);
        let endpoint = EndpointSettings {
            ipam_config: Some(EndpointIpamConfig {
                ipv4_address: Some(c.ip.to_string()),
                ..Default::default()
            }),
            ..Default::default()
        };
        let body = ContainerCreateBody {
            image: Some(c.image.clone()),
            hostname: Some(c.hostname.clone()),
            cmd: Some(c.cmd.clone()),
            env: Some(c.env.iter().map(|(k, v)| format!("{k}={v}")).collect()),
            labels: Some(c.labels.clone().into_iter().collect()),
            host_config: Some(host_config),
            networking_config: Some(NetworkingConfig {
                endpoints_config: Some(HashMap::from([(network.to_string(), endpoint)])),
            }),
            ..Default::default()
        };
        let options = CreateContainerOptionsBuilder::default()
            .name(&c.name)
            .build();
        match self.docker.create_container(Some(options), body).await {
            Ok(_) => {}
            Err(e) if status_code(&e) == Some(409) => {
                return Err(SandboxError::docker(format!(
                    "creating container {}: a container with that name exists",
                    c.name
                ))(e))
            }
            Err(e) if status_code(&e) == Some(404) => {
                return Err(SandboxError::ImageMissing(c.image.clone()))
            }
            Err(e) => {
                return Err(SandboxError::docker(format!(
                    "creating container {}",
                    c.name
                ))(e))
            }
        }
        self.docker
            .start_container(
                &c.name,
                None::<bollard::query_parameters::StartContainerOptions>,
            )
            .await
            .map_err(SandboxError::docker(format!(
                "starting container {}",
                c.name
            )))
    }

    /// Starts a lab: network, containers (concurrently, fixed addresses), then waits until
    /// `kubectl get nodes` shows every node Ready. On failure everything created is removed.
    pub async fn up(&self, lab: &LabName, options: &LabOptions) -> Result<LabInfo, SandboxError> {
        let started = std::time::Instant::now();
        let (image, exists) = tokio::join!(self.image_exists(&options.image), self.exists(lab));
        if !image? {
            return Err(SandboxError::ImageMissing(options.image.clone()));
        }
        if exists? {
            return Err(SandboxError::LabExists(lab.to_string()));
        }
        write_resolv_conf()?;
        let p = self.create_network(lab, options).await?;
        tracing::debug!(lab = %lab, ms = started.elapsed().as_millis() as u64, "network created");
        let result = async {
            try_join_all(
                p.containers
                    .iter()
                    .map(|c| self.create_and_start(&p.network.name, c)),
            )
            .await?;
            tracing::debug!(lab = %lab, ms = started.elapsed().as_millis() as u64, "containers started");
            self.wait_ready(&p).await?;
            tracing::debug!(lab = %lab, ms = started.elapsed().as_millis() as u64, "nodes ready");
            Ok(())
        }
        .await;
        match result {
            Ok(()) => Ok(LabInfo::from_plan(&p)),
            Err(e) => {
                if let Err(cleanup) = self.down(lab).await {
                    tracing::warn!(lab = %lab, error = %cleanup, "cleanup after a failed up failed");
                }
                Err(e)
            }
        }
    }

    async fn wait_ready(&self, p: &LabPlan) -> Result<(), SandboxError> {
        let node1 = &p.containers[0];
        let timeout = READY_TIMEOUT_SECS.to_string();
        let out = match self
            .exec(
                &node1.name,
                &[
                    "kplab-agent",
                    "kplab-node",
                    "--wait-ready",
                    "--timeout",
                    &timeout,
                ],
                None,
            )
            .await
        {
            Ok(out) => out,
            Err(e) => {
                let mut detail = e.to_string();
                for c in &p.containers {
                    if let Some(exited) = self.exited(&c.name).await {
                        detail = format!("{}: {exited}", c.name);
                        break;
                    }
                }
                return Err(SandboxError::NotReady {
                    lab: p.lab.to_string(),
                    detail,
                });
            }
        };
        if out.success() {
            Ok(())
        } else {
            Err(SandboxError::NotReady {
                lab: p.lab.to_string(),
                detail: format!(
                    "`kplab-agent kplab-node --wait-ready` in {} exited {}: {}{}",
                    node1.name,
                    out.code,
                    out.stderr.trim(),
                    out.stdout.trim()
                ),
            })
        }
    }

    /// `docker inspect` of a container (without its size).
    async fn inspect(
        &self,
        container: &str,
    ) -> Result<bollard::models::ContainerInspectResponse, bollard::errors::Error> {
        self.docker
            .inspect_container(
                container,
                None::<bollard::query_parameters::InspectContainerOptions>,
            )
            .await
    }

    /// If the container is not running: its exit code and the last lines of its log.
    async fn exited(&self, container: &str) -> Option<String> {
        let inspect = self.inspect(container).await.ok()?;
        let state = inspect.state?;
        if state.running == Some(true) {
            return None;
        }
        let options = bollard::query_parameters::LogsOptionsBuilder::default()
            .stdout(true)
            .stderr(true)
            .tail("15")
            .build();
        let logs: Vec<String> = self
            .docker
            .logs(container, Some(options))
            .filter_map(|l| async move { l.ok().map(|l| l.to_string()) })
            .collect()
            .await;
        Some(format!(
            "exited with code {} ({}); last log lines:\n{}",
            state.exit_code.unwrap_or(-1),
            state
                .error
                .filter(|e| !e.is_empty())
                .unwrap_or_else(|| "no error from Docker".into()),
            logs.concat().trim_end()
        ))
    }

    /// Whether any container or network of the lab exists.
    pub async fn exists(&self, lab: &LabName) -> Result<bool, SandboxError> {
        let containers = self.lab_containers(lab).await?;
        if !containers.is_empty() {
            return Ok(true);
        }
        Ok(!self.lab_networks(lab).await?.is_empty())
    }

    async fn lab_containers(
        &self,
        lab: &LabName,
    ) -> Result<Vec<bollard::models::ContainerSummary>, SandboxError> {
        let options = ListContainersOptionsBuilder::default()
            .all(true)
            .filters(&label_filter(lab))
            .build();
        self.docker
            .list_containers(Some(options))
            .await
            .map_err(SandboxError::docker(format!(
                "listing containers of lab {lab}"
            )))
    }

    async fn lab_networks(&self, lab: &LabName) -> Result<Vec<String>, SandboxError> {
        let options = ListNetworksOptionsBuilder::default()
            .filters(&label_filter(lab))
            .build();
        let nets = self
            .docker
            .list_networks(Some(options))
            .await
            .map_err(SandboxError::docker(format!(
                "listing networks of lab {lab}"
            )))?;
        Ok(nets.into_iter().filter_map(|n| n.name).collect())
    }

    /// Removes every container (forced), network and volume labelled with the lab.
    /// Reports every failure, not only the first.
    pub async fn down(&self, lab: &LabName) -> Result<DownReport, SandboxError> {
        let mut report = DownReport::default();
        let containers = self.lab_containers(lab).await?;
        let names: Vec<String> = containers.iter().filter_map(container_name).collect();
        let removals = join_all(names.iter().map(|name| async move {
            let options = RemoveContainerOptionsBuilder::default()
                .force(true)
                .v(true)
                .build();
            match self.docker.remove_container(name, Some(options)).await {
                Ok(()) => Ok(()),
                Err(e) if status_code(&e) == Some(404) => Ok(()),
                Err(e) => Err(format!("removing container {name}: {e}")),
            }
        }))
        .await;
        let mut failures: Vec<String> = removals.into_iter().filter_map(Result::err).collect();
        report.containers = names;

        for net in self.lab_networks(lab).await? {
            match self.docker.remove_network(&net).await {
                Ok(()) => report.networks.push(net),
                Err(e) if status_code(&e) == Some(404) => {}
                Err(e) => failures.push(format!("removing network {net}: {e}")),
            }
        }
        let volumes = self
            .docker
            .list_volumes(Some(
                ListVolumesOptionsBuilder::default()
                    .filters(&label_filter(lab))
                    .build(),
            ))
            .await
            .map_err(SandboxError::docker(format!(
                "listing volumes of lab {lab}"
            )))?;
        for v in volumes.volumes.unwrap_or_default() {
            match self
                .docker
                .remove_volume(&v.name, Some(RemoveVolumeOptions { force: true }))
                .await
            {
                Ok(()) => report.volumes.push(v.name),
                Err(e) => failures.push(format!("removing volume {}: {e}", v.name)),
            }
        }
        if !failures.is_empty() {
            return Err(SandboxError::Io {
                what: format!("removing lab {lab}"),
                cause: std::io::Error::other(failures.join("; ")),
            });
        }
        if report.containers.is_empty() && report.networks.is_empty() && report.volumes.is_empty() {
            return Err(SandboxError::LabNotFound(lab.to_string()));
        }
        Ok(report)
    }

    /// Every lab with at least one container or network, by the `kplab.lab` label.
    pub async fn ls(&self) -> Result<Vec<LabSummary>, SandboxError> {
        let filter = HashMap::from([("label".to_string(), vec![LABEL_LAB.to_string()])]);
        let containers = self
            .docker
            .list_containers(Some(
                ListContainersOptionsBuilder::default()
                    .all(true)
                    .filters(&filter)
                    .build(),
            ))
            .await
            .map_err(SandboxError::docker("listing lab containers"))?;
        let networks = self
            .docker
            .list_networks(Some(
                ListNetworksOptionsBuilder::default()
                    .filters(&filter)
                    .build(),
            ))
            .await
            .map_err(SandboxError::docker("listing lab networks"))?;
        let mut labs: BTreeMap<String, LabSummary> = BTreeMap::new();
        for n in networks {
            let Some(lab) = n.labels.as_ref().and_then(|l| l.get(LABEL_LAB)).cloned() else {
                continue;
            };
            let hosts = n
                .labels
                .as_ref()
                .and_then(|l| l.get(crate::sandbox::plan::LABEL_HOSTS))
                .map(|h| h.split(',').map(str::to_string).collect())
                .unwrap_or_default();
            let server = server_label(n.labels.as_ref());
            let entry = labs
                .entry(lab.clone())
                .or_insert_with(|| LabSummary::named(lab));
            entry.network = n.name;
            entry.hosts = hosts;
            entry.server = entry.server.take().or(server);
        }
        for c in containers {
            let Some(lab) = c.labels.as_ref().and_then(|l| l.get(LABEL_LAB)).cloned() else {
                continue;
            };
            let name = container_name(&c).unwrap_or_default();
            let state = c.state.map(|s| s.to_string()).unwrap_or_default();
            let server = server_label(c.labels.as_ref());
            let entry = labs
                .entry(lab.clone())
                .or_insert_with(|| LabSummary::named(lab));
            entry.containers.insert(name, state);
            entry.server = entry.server.take().or(server);
        }
        Ok(labs.into_values().collect())
    }

    /// Rebuilds the [`LabInfo`] of an existing lab from its containers' labels and addresses.
    pub async fn info(&self, lab: &LabName) -> Result<LabInfo, SandboxError> {
        let containers = self.lab_containers(lab).await?;
        if containers.is_empty() {
            return Err(SandboxError::LabNotFound(lab.to_string()));
        }
        let network = plan::network_name(lab);
        let net = self
            .docker
            .inspect_network(
                &network,
                None::<bollard::query_parameters::InspectNetworkOptions>,
            )
            .await
            .map_err(SandboxError::docker(format!(
                "inspecting network {network}"
            )))?;
        let ipam = net
            .ipam
            .and_then(|i| i.config)
            .and_then(|c| c.into_iter().next())
            .unwrap_or_default();
        let mut nodes = Vec::new();
        let mut client = ClientInfo {
            container: String::new(),
            ip: String::new(),
        };
        for c in &containers {
            let labels = c.labels.clone().unwrap_or_default();
            let name = container_name(c).unwrap_or_default();
            let ip = c
                .network_settings
                .as_ref()
                .and_then(|s| s.networks.as_ref())
                .and_then(|n| n.get(&network))
                .and_then(|e| e.ip_address.clone())
                .unwrap_or_default();
            match labels.get(LABEL_ROLE).map(String::as_str) {
                Some("client") => {
                    client = ClientInfo {
                        container: name,
                        ip,
                    }
                }
                _ => nodes.push(NodeInfo {
                    name: labels.get(LABEL_NODE).cloned().unwrap_or_default(),
                    container: name,
                    ip,
                }),
            }
        }
        nodes.sort_by_key(|n| {
            n.name
                .trim_start_matches("node-")
                .parse::<u32>()
                .unwrap_or(u32::MAX)
        });
        Ok(LabInfo {
            name: lab.to_string(),
            network,
            subnet: ipam.subnet.unwrap_or_default(),
            gateway: ipam.gateway.unwrap_or_default(),
            bridge: plan::bridge_name(lab),
            nodes,
            client,
        })
    }

    /// Runs `argv` in a container (as `docker exec` does, environment inherited from the
    /// container but `PATH` only the image's read-only directories), feeding `stdin` if given,
    /// and collects its output and exit code, confined as [`confined_argv`] says: at most
    /// [`EXEC_MAX_OUTPUT`] bytes per stream are kept, and past that the command is killed.
    pub async fn exec(
        &self,
        container: &str,
        argv: &[&str],
        stdin: Option<&[u8]>,
    ) -> Result<ExecOutput, SandboxError> {
        self.exec_capped(container, argv, stdin, EXEC_MAX_OUTPUT)
            .await
    }

    /// [`Driver::exec`] with its own output cap (tests use a small one).
    pub async fn exec_capped(
        &self,
        container: &str,
        argv: &[&str],
        stdin: Option<&[u8]>,
        max_output: usize,
    ) -> Result<ExecOutput, SandboxError> {
        let what = || format!("running {:?} in {container}", argv.join(" "));
        let config = ExecConfig {
            attach_stdin: Some(stdin.is_some()),
            attach_stdout: Some(true),
            attach_stderr: Some(true),
            env: Some(vec![EXEC_PATH.to_string()]),
            cmd: Some(confined_argv(argv)),
            ..Default::default()
        };
        let created = match self.docker.create_exec(container, config).await {
            Ok(c) => c,
            Err(e) if status_code(&e) == Some(404) => {
                return Err(SandboxError::docker(format!(
                    "{}: no such container",
                    what()
                ))(e))
            }
            Err(e) => return Err(SandboxError::docker(what())(e)),
        };
        let started = self
            .docker
            .start_exec(
                &created.id,
                Some(StartExecOptions {
                    detach: false,
                    tty: false,
                    output_capacity: None,
                }),
            )
            .await
            .map_err(SandboxError::docker(what()))?;
        let mut stdout = Vec::new();
        let mut stderr = Vec::new();
        let mut truncated = false;
        if let StartExecResults::Attached {
            mut output,
            mut input,
        } = started
        {
            if let Some(data) = stdin {
                input
                    .write_all(data)
                    .await
                    .map_err(SandboxError::io(format!("writing stdin of {}", what())))?;
                input
                    .shutdown()
                    .await
                    .map_err(SandboxError::io(format!("closing stdin of {}", what())))?;
            }
            while let Some(chunk) = output.next().await {
                let (buf, message) = match chunk.map_err(SandboxError::docker(what()))? {
                    LogOutput::StdOut { message } | LogOutput::Console { message } => {
                        (&mut stdout, message)
                    }
                    LogOutput::StdErr { message } => (&mut stderr, message),
                    LogOutput::StdIn { .. } => continue,
                };
                let room = max_output.saturating_sub(buf.len());
                buf.extend_from_slice(&message[..message.len().min(room)]);
                if message.len() > room {
                    truncated = true;
                    break;
                }
            }
        }
        let inspect = self
            .docker
            .inspect_exec(&created.id)
            .await
            .map_err(SandboxError::docker(what()))?;
        if truncated && inspect.running == Some(true) {
            tracing::warn!(container, command = %argv.join(" "), max_output, "a command in a lab printed past the cap: killed");
            if let Some(pid) = inspect.pid.filter(|p| *p > 1) {
                kill_process_group(pid);
            }
        }
        Ok(ExecOutput {
            code: if truncated {
                -1
            } else {
                inspect.exit_code.unwrap_or(-1)
            },
            stdout: String::from_utf8_lossy(&stdout).into_owned(),
            stderr: String::from_utf8_lossy(&stderr).into_owned(),
            truncated,
        })
    }

    /// Starts a throwaway container named `name` with a lab client's confinement (capabilities,
    /// seccomp profile, read-only root, tmpfs, limits) but no network, runs `checks` in it (each
    /// `sh -c` script, through [`Driver::exec`]), removes it and returns each check's output.
    /// `kplab doctor` uses it to see what holds on this host, not what the plan says.
    pub async fn probe_confinement(
        &self,
        image: &str,
        name: &str,
        checks: &[&str],
    ) -> Result<Vec<ExecOutput>, SandboxError> {
        let lab: LabName = "doctor".parse().map_err(|e| SandboxError::Io {
            what: "planning the probe".into(),
            cause: std::io::Error::other(e),
        })?;
        let options = LabOptions {
            image: image.to_string(),
            ..LabOptions::default()
        };
        let subnet = Subnet24::containing(std::net::Ipv4Addr::new(192, 0, 2, 0));
        let p = plan::plan(&lab, &options, subnet).map_err(|e| SandboxError::Io {
            what: "planning the probe".into(),
            cause: std::io::Error::other(e),
        })?;
        let Some(c) = p.containers.iter().find(|c| c.role == Role::Client) else {
            return Ok(Vec::new());
        };
        let _ = self.remove_container(name).await;
        self.create_sleeper(
            image,
            name,
            ("kplab.doctor", "probe"),
            host_config(c, "none"),
        )
        .await?;
        let result = async {
            self.docker
                .start_container(
                    name,
                    None::<bollard::query_parameters::StartContainerOptions>,
                )
                .await
                .map_err(SandboxError::docker(format!("starting container {name}")))?;
            let mut outputs = Vec::new();
            for check in checks {
                outputs.push(self.exec(name, &["sh", "-c", check], None).await?);
            }
            Ok(outputs)
        }
        .await;
        if let Err(e) = self.remove_container(name).await {
            tracing::warn!(container = name, error = %e, "removing the probe container");
        }
        result
    }

    /// The engine, in one line, and its security options (`name=seccomp,profile=default`, …).
    pub async fn engine_info(&self) -> Result<EngineInfo, SandboxError> {
        let info = self
            .docker
            .info()
            .await
            .map_err(SandboxError::docker("reading Docker's info"))?;
        let summary = format!(
            "{} (storage {}, cgroup {} with the {} driver, {})",
            info.server_version.as_deref().unwrap_or("?"),
            info.driver.as_deref().unwrap_or("?"),
            info.cgroup_version
                .map(|v| v.to_string())
                .unwrap_or_else(|| "?".into()),
            info.cgroup_driver
                .map(|v| v.to_string())
                .unwrap_or_else(|| "?".into()),
            info.default_runtime.as_deref().unwrap_or("?"),
        );
        Ok(EngineInfo {
            summary,
            security_options: info.security_options.unwrap_or_default(),
        })
    }

    /// Every running lab container, and whether it carries the plan's confinement today
    /// (read-only root, `no-new-privileges`, this build's seccomp profile).
    pub async fn lab_confinement(&self) -> Result<Vec<Confinement>, SandboxError> {
        let options = ListContainersOptionsBuilder::default()
            .filters(&HashMap::from([("label", vec![LABEL_LAB])]))
            .build();
        let list = self
            .docker
            .list_containers(Some(options))
            .await
            .map_err(SandboxError::docker("listing lab containers"))?;
        let wanted = format!("seccomp={}", super::seccomp::PROFILE);
        let mut out = Vec::new();
        for c in list {
            let Some(id) = c.id else { continue };
            let name = c
                .names
                .and_then(|n| n.first().cloned())
                .unwrap_or_else(|| id.clone())
                .trim_start_matches('/')
                .to_string();
            let inspect = self
                .inspect(&id)
                .await
                .map_err(SandboxError::docker(format!("inspecting {name}")))?;
            let hc = inspect.host_config.unwrap_or_default();
            let opts = hc.security_opt.unwrap_or_default();
            let confined = hc.readonly_rootfs == Some(true)
                && opts.iter().any(|o| o.starts_with("no-new-privileges"))
                && opts.iter().any(|o| o.trim() == wanted.trim());
            out.push(Confinement {
                container: name,
                confined,
            });
        }
        Ok(out)
    }

    /// Bytes in a container's writable layer on the host's disk (Docker's `SizeRw`): zero for a
    /// lab, whose root filesystem is read-only.
    pub async fn writable_layer_bytes(&self, container: &str) -> Result<i64, SandboxError> {
        let options = bollard::query_parameters::InspectContainerOptionsBuilder::default()
            .size(true)
            .build();
        let c = self
            .docker
            .inspect_container(container, Some(options))
            .await
            .map_err(SandboxError::docker(format!("inspecting {container}")))?;
        Ok(c.size_rw.unwrap_or(0))
    }

    /// Memory a container uses now (cgroup usage minus page cache).
    pub async fn memory(&self, container: &str) -> Result<MemoryUsage, SandboxError> {
        let options = StatsOptionsBuilder::default().stream(false).build();
        let stats = self
            .docker
            .stats(container, Some(options))
            .try_next()
            .await
            .map_err(SandboxError::docker(format!(
                "reading stats of {container}"
            )))?
            .ok_or_else(|| SandboxError::Io {
                what: format!("reading stats of {container}"),
                cause: std::io::Error::other("Docker returned no stats"),
            })?;
        let mem = stats.memory_stats.unwrap_or_default();
        let usage = mem.usage.unwrap_or(0);
        let s = mem.stats.unwrap_or_default();
        let cache = s
            .get("cache")
            .or_else(|| s.get("total_cache"))
            .or_else(|| s.get("inactive_file"))
            .copied()
            .unwrap_or(0);
        Ok(MemoryUsage {
            bytes: usage.saturating_sub(cache),
        })
    }

    /// Full container id of a container name.
    pub async fn container_id(&self, container: &str) -> Result<String, SandboxError> {
        let c = self
            .inspect(container)
            .await
            .map_err(SandboxError::docker(format!(
                "inspecting container {container}"
            )))?;
        Ok(c.id.unwrap_or_default())
    }

    /// Creates (does not start) container `name` of `image`, labelled `label`, that sleeps
    /// until it is removed.
    async fn create_sleeper(
        &self,
        image: &str,
        name: &str,
        label: (&str, &str),
        host_config: HostConfig,
    ) -> Result<(), SandboxError> {
        let body = ContainerCreateBody {
            image: Some(image.to_string()),
            cmd: Some(vec!["sleep".into(), "infinity".into()]),
            labels: Some(HashMap::from([(label.0.to_string(), label.1.to_string())])),
            host_config: Some(host_config),
            ..Default::default()
        };
        let options = CreateContainerOptionsBuilder::default().name(name).build();
        self.docker
            .create_container(Some(options), body)
            .await
            .map_err(SandboxError::docker(format!("creating container {name}")))?;
        Ok(())
    }

    /// `docker run -d` of a bare container (create + start, default bridge, `--init`,
    /// `sleep infinity`): the benchmark's baseline.
    pub async fn run_bare(&self, image: &str, name: &str) -> Result<(), SandboxError> {
        let init = HostConfig {
            init: Some(true),
            ..Default::default()
        };
        self.create_sleeper(image, name, ("kplab.bench", "bare"), init)
            .await?;
        self.docker
            .start_container(
                name,
                None::<bollard::query_parameters::StartContainerOptions>,
            )
            .await
            .map_err(SandboxError::docker(format!("starting container {name}")))
    }

    /// Removes one container by name (forced); a missing container is not an error.
    pub async fn remove_container(&self, name: &str) -> Result<(), SandboxError> {
        let options = RemoveContainerOptionsBuilder::default().force(true).build();
        match self.docker.remove_container(name, Some(options)).await {
            Ok(()) => Ok(()),
            Err(e) if status_code(&e) == Some(404) => Ok(()),
            Err(e) => Err(SandboxError::docker(format!("removing container {name}"))(
                e,
            )),
        }
    }
}

/// Docker's host configuration of a planned container on `network` (a network name, or `none`).
fn host_config(c: &ContainerPlan, network: &str) -> HostConfig {
    HostConfig {
        network_mode: Some(network.to_string()),
        cap_add: Some(c.cap_add.clone()),
        sysctls: Some(c.sysctls.clone().into_iter().collect()),
        init: Some(c.init),
        privileged: Some(c.privileged),
        binds: Some(c.binds.clone()),
        readonly_rootfs: Some(c.read_only_rootfs),
        tmpfs: Some(c.tmpfs.clone().into_iter().collect()),
        security_opt: Some(c.security_opt.clone()),
        extra_hosts: Some(c.extra_hosts.clone()),
        memory: Some(c.limits.memory_bytes),
        memory_swap: Some(c.limits.memory_bytes),
        pids_limit: Some(c.limits.pids),
        nano_cpus: Some(c.limits.nano_cpus),
        ..Default::default()
    }
}

/// Writes the nodes' read-only `/etc/resolv.conf` on the host ([`plan::RESOLV_CONF_HOST_PATH`])
/// unless it already holds [`plan::node_resolv_conf`]: by rename, so a running lab never reads
/// half a file.
fn write_resolv_conf() -> Result<(), SandboxError> {
    let path = std::path::Path::new(plan::RESOLV_CONF_HOST_PATH);
    let text = plan::node_resolv_conf();
    if std::fs::read_to_string(path).is_ok_and(|t| t == text) {
        return Ok(());
    }
    let what = || format!("writing {}", path.display());
    let dir = path.parent().unwrap_or(std::path::Path::new("/"));
    std::fs::create_dir_all(dir).map_err(SandboxError::io(what()))?;
    let tmp = dir.join(format!(".node-resolv.conf.{}", std::process::id()));
    std::fs::write(&tmp, &text).map_err(SandboxError::io(what()))?;
    std::fs::rename(&tmp, path).map_err(SandboxError::io(what()))
}

/// Kills the process group `pgid` (a host PID: `timeout` leads its own group) from the host;
/// where the server cannot (not root, another PID namespace), `timeout` still ends it after
/// [`EXEC_MAX_SECS`].
fn kill_process_group(pgid: i64) {
    use nix::sys::signal::{killpg, Signal};
    let Ok(raw) = i32::try_from(pgid) else {
        return;
    };
    if let Err(e) = killpg(nix::unistd::Pid::from_raw(raw), Signal::SIGKILL) {
        tracing::warn!(pgid, error = %e, "could not kill a runaway lab command; timeout will end it");
    }
}

/// A container's first name, without Docker's leading `/`.
fn container_name(c: &bollard::models::ContainerSummary) -> Option<String> {
    c.names
        .as_ref()?
        .first()
        .map(|n| n.trim_start_matches('/').to_string())
}
