//! Builds the node image: a base image with the lab's tools (from `debootstrap` + `docker
//! import`, needing no container registry, or from `debian:bookworm-slim` when it can be had),
//! tagged with a hash of its package list so it is rebuilt only when that list changes; then the
//! node image proper, whose build context is only the static agent and its links (a tar built in
//! memory), so a rebuild after an agent change takes seconds.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use bollard::query_parameters::{BuildImageOptionsBuilder, CreateImageOptionsBuilder};
use futures_util::StreamExt;
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::driver::Driver;
use super::error::SandboxError;
use super::kubectl::KubectlSpec;
use super::plan::DEFAULT_IMAGE;

/// Debian packages of the base image.
pub const BASE_PACKAGES: &[&str] = &[
    "iptables",
    "nftables",
    "iproute2",
    "conntrack",
    "curl",
    "netcat-openbsd",
    "tcpdump",
    "procps",
    "iputils-ping",
    "less",
    "jq",
    // nslookup, dig and host: `kubectl exec POD -- nslookup web` as the source documents teach.
    "bind9-dnsutils",
    // An editor for `kubectl edit`.
    "vim-tiny",
];
/// Debian release of the base image.
pub const SUITE: &str = "bookworm";
/// Repository of the base image; its tag is a hash of the package list.
pub const BASE_REPO: &str = "kplab-base";
/// The public image the `pull` method starts from.
pub const DEBIAN_IMAGE: &str = "debian:bookworm-slim";
/// Names under which the agent is linked in `/usr/local/bin`.
pub const AGENT_LINKS: &[&str] = &[
    "kube-proxy",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kubelet",
    "calico-node",
    "coredns",
    "kplab-node",
    "kplab-pod",
];
/// Image label holding the SHA-256 of the agent binary inside.
pub const LABEL_AGENT_SHA: &str = "kplab.agent-sha256";
/// Image label holding the SHA-256 of the whole build context (Dockerfile, agent, links, rootfs).
pub const LABEL_CONTEXT_SHA: &str = "kplab.context-sha256";
/// Image label holding the real kubectl's version (`v1.33.1`).
pub const LABEL_KUBECTL: &str = "kplab.kubectl";
/// Image label holding the base image it was built on.
pub const LABEL_BASE: &str = "kplab.base";
/// The musl target the agent is built for.
pub const AGENT_TARGET: &str = "x86_64-unknown-linux-musl";
/// Debian mirror used by `debootstrap` unless `KPLAB_DEBIAN_MIRROR` says otherwise.
pub const DEFAULT_MIRROR: &str = "http://deb.debian.org/debian";

/// How to make the base image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BaseMethod {
    /// `debian:bookworm-slim` if present locally or pullable within a few seconds, else debootstrap.
    Auto,
    /// `debootstrap --variant=minbase` into a temp dir, then `docker import` (no registry).
    Debootstrap,
    /// `docker/Dockerfile.base`: `FROM debian:bookworm-slim` + apt-get.
    Pull,
}

/// What to build.
#[derive(Debug, Clone)]
pub struct BuildOptions {
    /// The repository checkout (holds `Cargo.toml` and `docker/`).
    pub repo: PathBuf,
    /// Base method.
    pub base: BaseMethod,
    /// Tag of the node image.
    pub tag: String,
    /// Rebuild even if the labels say the image is current.
    pub force: bool,
    /// The real kubectl the image carries as `kubectl`.
    pub kubectl: KubectlSpec,
}

/// What a build did.
#[derive(Debug, Clone, Serialize)]
pub struct BuildReport {
    /// Base image tag.
    pub base: String,
    /// How the base was made this time (`None` when it already existed).
    pub base_built_with: Option<BaseMethod>,
    /// Seconds spent on the base.
    pub base_secs: f64,
    /// Seconds spent compiling the agent.
    pub agent_secs: f64,
    /// Node image tag.
    pub image: String,
    /// Whether the node image was (re)built.
    pub image_built: bool,
    /// Seconds spent building the node image.
    pub image_secs: f64,
    /// SHA-256 of the agent inside.
    pub agent_sha256: String,
    /// The real kubectl inside: its version and where it came from.
    pub kubectl: String,
}

/// The base image tag: `kplab-base:<12 hex of sha256(suite + packages)>`.
pub fn base_tag() -> String {
    let mut h = Sha256::new();
    h.update(SUITE.as_bytes());
    for p in BASE_PACKAGES {
        h.update(b"\n");
        h.update(p.as_bytes());
    }
    let hex = data_encoding::HEXLOWER.encode(&h.finalize());
    format!("{BASE_REPO}:{}", &hex[..12])
}

/// Finds the repository checkout: `KPLAB_REPO`, else the first ancestor of the current
/// directory holding `docker/Dockerfile`, else the checkout this binary was built from.
pub fn find_repo() -> Result<PathBuf, SandboxError> {
    if let Ok(repo) = std::env::var("KPLAB_REPO") {
        return Ok(PathBuf::from(repo));
    }
    let has_dockerfile =
        |p: &Path| p.join("docker/Dockerfile").is_file() && p.join("Cargo.toml").is_file();
    if let Ok(cwd) = std::env::current_dir() {
        if let Some(found) = cwd.ancestors().find(|p| has_dockerfile(p)) {
            return Ok(found.to_path_buf());
        }
    }
    let built_from = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    if has_dockerfile(&built_from) {
        return Ok(built_from);
    }
    Err(SandboxError::Build(
        "cannot find the kplab repository (no docker/Dockerfile above the current directory); \
         run from the checkout or set KPLAB_REPO"
            .into(),
    ))
}

/// Builds the image if it does not exist yet (what `cluster up` does).
pub async fn ensure(driver: &Driver, tag: &str) -> Result<Option<BuildReport>, SandboxError> {
    if driver.image_exists(tag).await? {
        return Ok(None);
    }
    tracing::info!(image = tag, "node image missing, building it");
    let options = BuildOptions {
        repo: find_repo()?,
        base: BaseMethod::Auto,
        tag: tag.to_string(),
        force: false,
        kubectl: KubectlSpec::from_env()?,
    };
    build(driver, &options).await.map(Some)
}

/// `kplab image build`: base (if its tag is missing), agent, node image (unless its labels
/// already name this agent and base).
pub async fn build(driver: &Driver, options: &BuildOptions) -> Result<BuildReport, SandboxError> {
    let base = base_tag();
    let t = Instant::now();
    let base_built_with = if driver.image_exists(&base).await? && !options.force {
        None
    } else {
        Some(build_base(driver, &options.repo, options.base, &base).await?)
    };
    let base_secs = t.elapsed().as_secs_f64();

    let t = Instant::now();
    let agent = compile_agent(&options.repo).await?;
    let agent_secs = t.elapsed().as_secs_f64();
    let agent_bytes = tokio::fs::read(&agent)
        .await
        .map_err(SandboxError::io(format!("reading {}", agent.display())))?;
    let agent_sha256 = data_encoding::HEXLOWER.encode(&Sha256::digest(&agent_bytes));

    let kubectl = super::kubectl::resolve(&options.kubectl).await?;
    let kubectl_bytes = tokio::fs::read(&kubectl.path)
        .await
        .map_err(SandboxError::io(format!(
            "reading {}",
            kubectl.path.display()
        )))?;

    let t = Instant::now();
    let dockerfile_path = options.repo.join("docker/Dockerfile");
    let dockerfile = tokio::fs::read(&dockerfile_path)
        .await
        .map_err(SandboxError::io(format!(
            "reading {}",
            dockerfile_path.display()
        )))?;
    let rootfs = options.repo.join("docker/rootfs");
    let context = node_build_context(
        &dockerfile,
        &agent_bytes,
        &kubectl_bytes,
        rootfs.is_dir().then_some(rootfs.as_path()),
    )?;
    let context_sha256 = data_encoding::HEXLOWER.encode(&Sha256::digest(&context));
    let current = image_labels(driver, &options.tag).await?;
    let up_to_date = current.get(LABEL_CONTEXT_SHA) == Some(&context_sha256)
        && current.get(LABEL_BASE) == Some(&base)
        && base_built_with.is_none();
    if !up_to_date || options.force {
        let args = HashMap::from([("BASE".to_string(), base.clone())]);
        let labels = HashMap::from([
            (LABEL_AGENT_SHA.to_string(), agent_sha256.clone()),
            (LABEL_CONTEXT_SHA.to_string(), context_sha256),
            (LABEL_BASE.to_string(), base.clone()),
            (LABEL_KUBECTL.to_string(), kubectl.version.clone()),
        ]);
        run_build(driver, context, &options.tag, &args, &labels).await?;
    }
    Ok(BuildReport {
        base,
        base_built_with,
        base_secs,
        agent_secs,
        image: options.tag.clone(),
        image_built: !up_to_date || options.force,
        image_secs: t.elapsed().as_secs_f64(),
        agent_sha256,
        kubectl: format!(
            "{} ({}: {})",
            kubectl.version,
            kubectl.source,
            kubectl.path.display()
        ),
    })
}

async fn image_labels(driver: &Driver, tag: &str) -> Result<HashMap<String, String>, SandboxError> {
    match driver.docker().inspect_image(tag).await {
        Ok(i) => Ok(i.config.and_then(|c| c.labels).unwrap_or_default()),
        Err(e) if super::error::status_code(&e) == Some(404) => Ok(HashMap::new()),
        Err(e) => Err(SandboxError::docker(format!("inspecting image {tag}"))(e)),
    }
}

/// Compiles the static agent: `cargo build --release --target x86_64-unknown-linux-musl -p kplab-agent`.
pub async fn compile_agent(repo: &Path) -> Result<PathBuf, SandboxError> {
    ensure_musl_target().await;
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let output = tokio::process::Command::new(&cargo)
        .args([
            "build",
            "--release",
            "--target",
            AGENT_TARGET,
            "-p",
            "kplab-agent",
        ])
        .current_dir(repo)
        .output()
        .await
        .map_err(SandboxError::io(format!(
            "running {cargo} build for the agent"
        )))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let hint = if stderr.contains("target may not be installed")
            || stderr.contains("can't find crate for `std`")
        {
            format!("\nthe musl target is missing: run `rustup target add {AGENT_TARGET}`")
        } else {
            String::new()
        };
        let tail: Vec<&str> = stderr.lines().rev().take(30).collect();
        return Err(SandboxError::Build(format!(
            "compiling kplab-agent for {AGENT_TARGET} failed:\n{}{hint}",
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        )));
    }
    let target_dir = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| repo.join("target"));
    let path = target_dir.join(AGENT_TARGET).join("release/kplab-agent");
    if !path.is_file() {
        return Err(SandboxError::Build(format!(
            "cargo succeeded but {} is missing",
            path.display()
        )));
    }
    Ok(path)
}

/// Adds the musl target with rustup when rustup is there and the target is not, so that a
/// newcomer's first `kplab serve` needs no extra step. Without rustup nothing happens and the
/// build's own error (with its hint) says what is missing.
async fn ensure_musl_target() {
    let installed = tokio::process::Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .await;
    let Ok(out) = installed else { return };
    if !out.status.success()
        || String::from_utf8_lossy(&out.stdout)
            .lines()
            .any(|l| l.trim() == AGENT_TARGET)
    {
        return;
    }
    tracing::info!(
        target = AGENT_TARGET,
        "adding the rust target the agent is built for"
    );
    match tokio::process::Command::new("rustup")
        .args(["target", "add", AGENT_TARGET])
        .status()
        .await
    {
        Ok(status) if status.success() => {}
        other => tracing::warn!(target = AGENT_TARGET, result = ?other, "rustup target add failed"),
    }
}

async fn build_base(
    driver: &Driver,
    repo: &Path,
    method: BaseMethod,
    tag: &str,
) -> Result<BaseMethod, SandboxError> {
    let method = match method {
        BaseMethod::Auto => {
            if driver.image_exists(DEBIAN_IMAGE).await? || try_pull(driver).await {
                BaseMethod::Pull
            } else {
                BaseMethod::Debootstrap
            }
        }
        m => m,
    };
    tracing::info!(base = tag, method = ?method, "building the base image");
    match method {
        BaseMethod::Pull => {
            if !driver.image_exists(DEBIAN_IMAGE).await? && !try_pull(driver).await {
                return Err(SandboxError::Build(format!(
                    "{DEBIAN_IMAGE} is not available and cannot be pulled; use --base debootstrap"
                )));
            }
            build_base_from_dockerfile(driver, repo, tag).await?
        }
        _ => build_base_with_debootstrap(driver, tag).await?,
    }
    Ok(method)
}

/// Tries to pull `debian:bookworm-slim`, giving up after 20 seconds.
async fn try_pull(driver: &Driver) -> bool {
    let options = CreateImageOptionsBuilder::default()
        .from_image("debian")
        .tag("bookworm-slim")
        .build();
    let pull = async {
        let mut stream = driver.docker().create_image(Some(options), None, None);
        while let Some(item) = stream.next().await {
            if let Err(e) = item {
                tracing::info!(error = %e, "cannot pull {DEBIAN_IMAGE}");
                return false;
            }
        }
        true
    };
    tokio::time::timeout(Duration::from_secs(20), pull)
        .await
        .unwrap_or(false)
}

async fn build_base_from_dockerfile(
    driver: &Driver,
    repo: &Path,
    tag: &str,
) -> Result<(), SandboxError> {
    let dockerfile_path = repo.join("docker/Dockerfile.base");
    let dockerfile = tokio::fs::read(&dockerfile_path)
        .await
        .map_err(SandboxError::io(format!(
            "reading {}",
            dockerfile_path.display()
        )))?;
    let mut context = tar::Builder::new(Vec::new());
    append_file(&mut context, "Dockerfile", &dockerfile, 0o644)?;
    let context = finish(context)?;
    let args = HashMap::from([("PACKAGES".to_string(), BASE_PACKAGES.join(" "))]);
    run_build(driver, context, tag, &args, &HashMap::new()).await
}

async fn build_base_with_debootstrap(driver: &Driver, tag: &str) -> Result<(), SandboxError> {
    let debootstrap = [
        "/usr/sbin/debootstrap",
        "/sbin/debootstrap",
        "/usr/bin/debootstrap",
    ]
    .into_iter()
    .find(|p| Path::new(p).is_file())
    .ok_or_else(|| {
        SandboxError::Build(
            "debootstrap is not installed (apt-get install debootstrap), and debian:bookworm-slim \
                 is not available"
                .into(),
        )
    })?;
    let mirror =
        std::env::var("KPLAB_DEBIAN_MIRROR").unwrap_or_else(|_| DEFAULT_MIRROR.to_string());
    let dir = tempfile::Builder::new()
        .prefix("kplab-rootfs-")
        .tempdir()
        .map_err(SandboxError::io("creating a temp dir for debootstrap"))?;
    let rootfs = dir.path().join("rootfs");
    let include = format!("--include={}", BASE_PACKAGES.join(","));
    let out = tokio::process::Command::new(debootstrap)
        .args(["--variant=minbase", &include, SUITE])
        .arg(&rootfs)
        .arg(&mirror)
        .output()
        .await
        .map_err(SandboxError::io("running debootstrap"))?;
    if !out.status.success() {
        let log =
            std::fs::read_to_string(rootfs.join("debootstrap/debootstrap.log")).unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(15).collect();
        return Err(SandboxError::Build(format!(
            "debootstrap {SUITE} from {mirror} failed (needs root and the Debian mirror; set KPLAB_DEBIAN_MIRROR): {}\n{}",
            String::from_utf8_lossy(&out.stderr).trim(),
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        )));
    }
    for junk in [
        "var/cache/apt/archives",
        "var/lib/apt/lists",
        "usr/share/doc",
        "usr/share/man",
        "usr/share/info",
    ] {
        let p = rootfs.join(junk);
        if p.is_dir() {
            let _ = std::fs::remove_dir_all(&p);
            let _ = std::fs::create_dir_all(&p);
        }
    }
    let tarball = dir.path().join("rootfs.tar");
    let out = tokio::process::Command::new("tar")
        .args(["--numeric-owner", "--xattrs", "-C"])
        .arg(&rootfs)
        .arg("-cf")
        .arg(&tarball)
        .arg(".")
        .output()
        .await
        .map_err(SandboxError::io("running tar over the debootstrap root"))?;
    if !out.status.success() {
        return Err(SandboxError::Build(format!(
            "tar of the debootstrap root failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    let bytes = tokio::fs::read(&tarball)
        .await
        .map_err(SandboxError::io(format!("reading {}", tarball.display())))?;
    let (repo_name, tag_name) = tag.split_once(':').unwrap_or((tag, "latest"));
    let options = CreateImageOptionsBuilder::default()
        .from_src("-")
        .repo(repo_name)
        .tag(tag_name)
        .changes(vec![
            "CMD [\"/bin/bash\"]".to_string(),
            "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".to_string(),
        ])
        .build();
    let mut stream =
        driver
            .docker()
            .create_image(Some(options), Some(bollard::body_full(bytes.into())), None);
    while let Some(item) = stream.next().await {
        item.map_err(SandboxError::docker(format!(
            "importing the debootstrap root as {tag}"
        )))?;
    }
    Ok(())
}

/// The node image's build context: `Dockerfile`, `kubectl/kubectl` (the real one, 0755, its own
/// layer), `bin/kplab-agent` (0755), a symlink `bin/<component> -> kplab-agent` per
/// [`AGENT_LINKS`], and `rootfs/` (empty when absent).
pub fn node_build_context(
    dockerfile: &[u8],
    agent: &[u8],
    kubectl: &[u8],
    rootfs: Option<&Path>,
) -> Result<Vec<u8>, SandboxError> {
    let mut context = tar::Builder::new(Vec::new());
    append_file(&mut context, "Dockerfile", dockerfile, 0o644)?;
    append_file(&mut context, "kubectl/kubectl", kubectl, 0o755)?;
    append_file(&mut context, "bin/kplab-agent", agent, 0o755)?;
    for link in AGENT_LINKS {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Symlink);
        header.set_size(0);
        header.set_mode(0o777);
        header.set_mtime(0);
        context
            .append_link(&mut header, format!("bin/{link}"), "kplab-agent")
            .map_err(SandboxError::io("adding links to the build context"))?;
    }
    match rootfs {
        Some(dir) => context
            .append_dir_all("rootfs", dir)
            .map_err(SandboxError::io(format!(
                "adding {} to the build context",
                dir.display()
            )))?,
        None => {
            let mut header = tar::Header::new_gnu();
            header.set_entry_type(tar::EntryType::Directory);
            header.set_size(0);
            header.set_mode(0o755);
            header.set_mtime(0);
            context
                .append_data(&mut header, "rootfs/", std::io::empty())
                .map_err(SandboxError::io("adding rootfs/ to the build context"))?;
        }
    }
    finish(context)
}

fn append_file(
    builder: &mut tar::Builder<Vec<u8>>,
    path: &str,
    data: &[u8],
    mode: u32,
) -> Result<(), SandboxError> {
    let mut header = tar::Header::new_gnu();
    header.set_size(data.len() as u64);
    header.set_mode(mode);
    header.set_mtime(0);
    header.set_cksum();
    builder
        .append_data(&mut header, path, data)
        .map_err(SandboxError::io(format!(
            "adding {path} to the build context"
        )))
}

fn finish(builder: tar::Builder<Vec<u8>>) -> Result<Vec<u8>, SandboxError> {
    builder
        .into_inner()
        .map_err(SandboxError::io("finishing the build context"))
}

async fn run_build(
    driver: &Driver,
    context: Vec<u8>,
    tag: &str,
    args: &HashMap<String, String>,
    labels: &HashMap<String, String>,
) -> Result<(), SandboxError> {
    let options = BuildImageOptionsBuilder::default()
        .dockerfile("Dockerfile")
        .t(tag)
        .rm(true)
        .forcerm(true)
        .buildargs(args)
        .labels(labels)
        .build();
    let mut stream =
        driver
            .docker()
            .build_image(options, None, Some(bollard::body_full(context.into())));
    let mut log = Vec::new();
    while let Some(item) = stream.next().await {
        let info = item
            .map_err(|e| SandboxError::Build(format!("building {tag}: {e}\n{}", log.join(""))))?;
        if let Some(detail) = info.error_detail {
            return Err(SandboxError::Build(format!(
                "building {tag}: {}\n{}",
                detail.message.unwrap_or_default(),
                log.join("")
            )));
        }
        if let Some(line) = info.stream {
            tracing::debug!(image = tag, "{}", line.trim_end());
            log.push(line);
        }
    }
    Ok(())
}

/// The node image tag used when none is given.
pub fn default_tag() -> &'static str {
    DEFAULT_IMAGE
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_tag_is_a_hash_of_the_package_list() {
        let tag = base_tag();
        assert!(tag.starts_with("kplab-base:"));
        assert_eq!(tag.len(), "kplab-base:".len() + 12);
        assert_eq!(tag, base_tag());
    }

    #[test]
    fn the_build_context_holds_only_kubectl_the_agent_its_links_and_rootfs() {
        let ctx = node_build_context(b"FROM x\n", b"\x7fELF", b"\x7fELF kubectl", None).unwrap();
        let mut archive = tar::Archive::new(ctx.as_slice());
        let mut entries = Vec::new();
        for e in archive.entries().unwrap() {
            let e = e.unwrap();
            let path = e.path().unwrap().to_string_lossy().into_owned();
            let link = e
                .link_name()
                .unwrap()
                .map(|l| l.to_string_lossy().into_owned());
            entries.push((path, e.header().mode().unwrap(), link));
        }
        assert_eq!(entries[0].0, "Dockerfile");
        assert_eq!(entries[1], ("kubectl/kubectl".to_string(), 0o755, None));
        assert_eq!(entries[2], ("bin/kplab-agent".to_string(), 0o755, None));
        for link in AGENT_LINKS {
            assert!(
                entries.contains(&(
                    format!("bin/{link}"),
                    0o777,
                    Some("kplab-agent".to_string())
                )),
                "bin/{link} -> kplab-agent"
            );
        }
        assert_eq!(entries.last().unwrap().0, "rootfs/");
        assert_eq!(entries.len(), 4 + AGENT_LINKS.len());
    }

    #[test]
    fn every_component_is_linked() {
        assert!(
            !AGENT_LINKS.contains(&"kubectl"),
            "`kubectl` is the real one, not a link to the agent"
        );
        for c in [
            "kube-proxy",
            "kubelet",
            "kplab-node",
            "kplab-pod",
            "coredns",
        ] {
            assert!(AGENT_LINKS.contains(&c), "{c}");
        }
    }
}
