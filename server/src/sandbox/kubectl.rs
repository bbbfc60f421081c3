//! The real `kubectl` of the node image: found on this host or downloaded with a pinned
//! checksum, never silently replaced by another version.
//!
//! `kplab image build --kubectl SPEC` (or `KPLAB_KUBECTL=SPEC`, else [`DEFAULT_KUBECTL`]) names
//! it. SPEC is a file (it contains a `/`) or a version, `1.33` or `1.33.2` (a leading `v` is
//! fine). A version is looked for on the host first: every `kubectl` and `kubectl.<1.MINOR>` on
//! the `PATH` and beside the file each of them links to, whose `kubectl version --client`
//! reports that version (a version dispatcher, such as the Google Cloud SDK's `kubectl`, is not
//! a kubectl and is skipped). Failing that, a full version with a checksum in
//! [`PINNED_SHA256`] is downloaded from the official release URL into the user's cache and
//! checked. Anything else is an error that says where it looked. Versions older than
//! [`MIN_MINOR`] are refused: the lab API server speaks the WebSocket exec protocol and the
//! discovery formats of 1.29 and later.

use std::path::{Path, PathBuf};
use std::time::Duration;

use sha2::{Digest, Sha256};

use super::error::SandboxError;

/// The kubectl a build takes when nothing names one.
pub const DEFAULT_KUBECTL: &str = "1.33";
/// The oldest kubectl minor version the lab serves.
pub const MIN_MINOR: u32 = 29;
/// SHA-256 of the official `linux/amd64` kubectl releases a build may download
/// (`https://dl.k8s.io/release/v<VERSION>/bin/linux/amd64/kubectl`).
pub const PINNED_SHA256: &[(&str, &str)] = &[
    (
        "1.33.1",
        "5de4e9f2266738fd112b721265a0c1cd7f4e5208b670f811861f699474a100a3",
    ),
    (
        "1.33.2",
        "33d0cdec6967817468f0a4a90f537dfef394dcf815d91966ca651cc118393eea",
    ),
    (
        "1.33.3",
        "2fcf65c64f352742dc253a25a7c95617c2aba79843d1b74e585c69fe4884afb0",
    ),
    (
        "1.33.4",
        "c2ba72c115d524b72aaee9aab8df8b876e1596889d2f3f27d68405262ce86ca1",
    ),
];

/// What the builder asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KubectlSpec {
    /// A file.
    File(PathBuf),
    /// `1.MINOR` or `1.MINOR.PATCH`.
    Version {
        /// The minor version.
        minor: u32,
        /// The patch version, when named.
        patch: Option<u32>,
    },
}

impl std::str::FromStr for KubectlSpec {
    type Err = SandboxError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s.contains('/') {
            return Ok(KubectlSpec::File(PathBuf::from(s)));
        }
        let bad = || {
            SandboxError::Build(format!(
                "--kubectl {s:?} is neither a file (give a path with a '/') nor a version such as 1.33 or 1.33.2"
            ))
        };
        let v = s.strip_prefix('v').unwrap_or(s);
        let parts: Vec<&str> = v.split('.').collect();
        if parts.len() < 2 || parts.len() > 3 || parts[0] != "1" {
            return Err(bad());
        }
        let minor: u32 = parts[1].parse().map_err(|_| bad())?;
        let patch = match parts.get(2) {
            Some(p) => Some(p.parse().map_err(|_| bad())?),
            None => None,
        };
        if minor < MIN_MINOR {
            return Err(SandboxError::Build(format!(
                "kubectl 1.{minor} is too old for the lab: 1.{MIN_MINOR} or newer"
            )));
        }
        Ok(KubectlSpec::Version { minor, patch })
    }
}

impl std::fmt::Display for KubectlSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KubectlSpec::File(p) => write!(f, "{}", p.display()),
            KubectlSpec::Version { minor, patch: None } => write!(f, "1.{minor}"),
            KubectlSpec::Version {
                minor,
                patch: Some(p),
            } => write!(f, "1.{minor}.{p}"),
        }
    }
}

impl KubectlSpec {
    /// `KPLAB_KUBECTL`, else [`DEFAULT_KUBECTL`].
    pub fn from_env() -> Result<KubectlSpec, SandboxError> {
        match std::env::var("KPLAB_KUBECTL") {
            Ok(s) if !s.trim().is_empty() => s.parse(),
            _ => DEFAULT_KUBECTL.parse(),
        }
    }

    /// Whether a `gitVersion` such as `v1.33.1` is what this spec names.
    fn matches(&self, git_version: &str) -> bool {
        let KubectlSpec::Version { minor, patch } = self else {
            return true;
        };
        match parse_git_version(git_version) {
            Some((m, p)) => m == *minor && patch.is_none_or(|want| want == p),
            None => false,
        }
    }
}

/// The kubectl a build puts in the image.
#[derive(Debug, Clone)]
pub struct Kubectl {
    /// Where it was found or downloaded to.
    pub path: PathBuf,
    /// Its `gitVersion` (`v1.33.1`).
    pub version: String,
    /// How it was found (`host`, `file`, `download`).
    pub source: &'static str,
}

/// `(minor, patch)` of a plain release `gitVersion` (`v1.33.1`); `None` for anything else
/// (`v1.32.4-dispatcher`, a pre-release, garbage).
pub fn parse_git_version(v: &str) -> Option<(u32, u32)> {
    let rest = v.strip_prefix("v1.")?;
    let (minor, patch) = rest.split_once('.')?;
    Some((minor.parse().ok()?, patch.parse().ok()?))
}

/// Runs `FILE version --client -o json` and returns its `gitVersion`.
async fn client_version(path: &Path) -> Result<String, String> {
    let out = tokio::time::timeout(
        Duration::from_secs(20),
        tokio::process::Command::new(path)
            .args(["version", "--client", "-o", "json"])
            .env("KUBECONFIG", "/dev/null")
            .kill_on_drop(true)
            .output(),
    )
    .await
    .map_err(|_| "`version --client` did not answer within 20 s".to_string())?
    .map_err(|e| format!("cannot run it: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "`version --client` failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)
        .map_err(|e| format!("`version --client -o json` printed no JSON: {e}"))?;
    v.pointer("/clientVersion/gitVersion")
        .and_then(|g| g.as_str())
        .map(str::to_string)
        .ok_or_else(|| "`version --client -o json` has no clientVersion.gitVersion".to_string())
}

/// The files a version is looked for in, in order, without duplicates.
pub fn host_candidates(minor: u32, path_var: &str) -> Vec<PathBuf> {
    let names = ["kubectl".to_string(), format!("kubectl.1.{minor}")];
    let mut dirs: Vec<PathBuf> = Vec::new();
    for dir in std::env::split_paths(path_var) {
        if !dirs.contains(&dir) {
            dirs.push(dir.clone());
        }
        if let Ok(real) = std::fs::canonicalize(dir.join("kubectl")) {
            if let Some(parent) = real.parent() {
                if !dirs.iter().any(|d| d == parent) {
                    dirs.push(parent.to_path_buf());
                }
            }
        }
    }
    let mut out: Vec<PathBuf> = Vec::new();
    for dir in dirs {
        for name in &names {
            let p = dir.join(name);
            if p.is_file() && !out.contains(&p) {
                out.push(p);
            }
        }
    }
    out
}

/// Finds (or downloads) the kubectl `spec` names, looking on this process's `PATH`.
pub async fn resolve(spec: &KubectlSpec) -> Result<Kubectl, SandboxError> {
    resolve_in(spec, &std::env::var("PATH").unwrap_or_default()).await
}

/// [`resolve`] with the host search on `path_var` (a `PATH`-style list).
pub async fn resolve_in(spec: &KubectlSpec, path_var: &str) -> Result<Kubectl, SandboxError> {
    match spec {
        KubectlSpec::File(path) => {
            let version = client_version(path)
                .await
                .map_err(|e| SandboxError::Build(format!("--kubectl {}: {e}", path.display())))?;
            match parse_git_version(&version) {
                Some((minor, _)) if minor >= MIN_MINOR => Ok(Kubectl {
                    path: path.clone(),
                    version,
                    source: "file",
                }),
                Some(_) => Err(SandboxError::Build(format!(
                    "--kubectl {} is kubectl {version}, too old for the lab: 1.{MIN_MINOR} or newer",
                    path.display()
                ))),
                None => Err(SandboxError::Build(format!(
                    "--kubectl {} reports version {version:?}, which is not a kubectl release (a version dispatcher?): name the real binary",
                    path.display()
                ))),
            }
        }
        KubectlSpec::Version { minor, patch } => {
            let candidates = host_candidates(*minor, path_var);
            let mut seen = Vec::new();
            for c in &candidates {
                match client_version(c).await {
                    Ok(v) if spec.matches(&v) => {
                        return Ok(Kubectl {
                            path: c.clone(),
                            version: v,
                            source: "host",
                        })
                    }
                    Ok(v) => seen.push(format!("{} is {v}", c.display())),
                    Err(e) => seen.push(format!("{}: {e}", c.display())),
                }
            }
            let looked = if seen.is_empty() {
                "no kubectl on the PATH".to_string()
            } else {
                seen.join("; ")
            };
            let Some(patch) = patch else {
                return Err(SandboxError::Build(format!(
                    "kubectl {spec} is not on this host ({looked}); name a file with --kubectl PATH, \
                     or a full version to download ({})",
                    pinned_versions()
                )));
            };
            let full = format!("1.{minor}.{patch}");
            let Some((_, sha)) = PINNED_SHA256.iter().find(|(v, _)| *v == full) else {
                return Err(SandboxError::Build(format!(
                    "kubectl {full} is not on this host ({looked}) and has no pinned checksum to download it with \
                     (pinned: {}); name a file with --kubectl PATH",
                    pinned_versions()
                )));
            };
            download(&full, sha)
                .await
                .map_err(|e| {
                    SandboxError::Build(format!(
                        "kubectl {full} is not on this host ({looked}) and its download failed: {e}"
                    ))
                })
                .map(|path| Kubectl {
                    path,
                    version: format!("v{full}"),
                    source: "download",
                })
        }
    }
}

fn pinned_versions() -> String {
    PINNED_SHA256
        .iter()
        .map(|(v, _)| *v)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Downloads the official release into `~/.cache/kplab/kubectl-v<VERSION>` (or reuses it there)
/// and checks its SHA-256.
async fn download(version: &str, sha: &str) -> Result<PathBuf, String> {
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir)
        .join("kplab");
    let dest = cache.join(format!("kubectl-v{version}"));
    if let Ok(bytes) = tokio::fs::read(&dest).await {
        if hex(&Sha256::digest(&bytes)) == sha {
            return Ok(dest);
        }
    }
    tokio::fs::create_dir_all(&cache)
        .await
        .map_err(|e| format!("cannot create {}: {e}", cache.display()))?;
    let url = format!("https://dl.k8s.io/release/v{version}/bin/linux/amd64/kubectl");
    let part = cache.join(format!("kubectl-v{version}.part"));
    let out = tokio::process::Command::new("curl")
        .args(["-fsSL", "--max-time", "300", "-o"])
        .arg(&part)
        .arg(&url)
        .kill_on_drop(true)
        .output()
        .await
        .map_err(|e| format!("cannot run curl: {e}"))?;
    if !out.status.success() {
        let _ = tokio::fs::remove_file(&part).await;
        return Err(format!(
            "curl {url}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let bytes = tokio::fs::read(&part)
        .await
        .map_err(|e| format!("reading {}: {e}", part.display()))?;
    let got = hex(&Sha256::digest(&bytes));
    if got != sha {
        let _ = tokio::fs::remove_file(&part).await;
        return Err(format!(
            "{url} has SHA-256 {got}, not the pinned {sha}: refusing it"
        ));
    }
    tokio::fs::rename(&part, &dest)
        .await
        .map_err(|e| format!("moving it to {}: {e}", dest.display()))?;
    Ok(dest)
}

fn hex(bytes: &[u8]) -> String {
    data_encoding::HEXLOWER.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse_as_files_or_versions() {
        assert_eq!(
            "1.33".parse::<KubectlSpec>().unwrap(),
            KubectlSpec::Version {
                minor: 33,
                patch: None
            }
        );
        assert_eq!(
            "v1.31.9".parse::<KubectlSpec>().unwrap(),
            KubectlSpec::Version {
                minor: 31,
                patch: Some(9)
            }
        );
        assert_eq!(
            "./bin/kubectl".parse::<KubectlSpec>().unwrap(),
            KubectlSpec::File("./bin/kubectl".into())
        );
        let old = "1.28".parse::<KubectlSpec>().unwrap_err().to_string();
        assert!(old.contains("too old"), "{old}");
        let bad = "latest".parse::<KubectlSpec>().unwrap_err().to_string();
        assert!(bad.contains("neither a file"), "{bad}");
        assert!("2.1".parse::<KubectlSpec>().is_err());
        assert!("1.x".parse::<KubectlSpec>().is_err());
    }

    #[test]
    fn a_dispatcher_is_not_a_release() {
        assert_eq!(parse_git_version("v1.33.1"), Some((33, 1)));
        assert_eq!(parse_git_version("v1.32.4-dispatcher"), None);
        assert_eq!(parse_git_version("v1.30.0-rc.1"), None);
        let spec: KubectlSpec = "1.32".parse().unwrap();
        assert!(spec.matches("v1.32.5"));
        assert!(!spec.matches("v1.32.4-dispatcher"));
        assert!(!spec.matches("v1.33.1"));
        let exact: KubectlSpec = "1.32.5".parse().unwrap();
        assert!(exact.matches("v1.32.5"));
        assert!(!exact.matches("v1.32.4"));
    }

    #[test]
    fn candidates_include_the_siblings_of_a_linked_kubectl() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("sdk");
        let bin = dir.path().join("bin");
        std::fs::create_dir_all(&real).unwrap();
        std::fs::create_dir_all(&bin).unwrap();
        for name in ["kubectl", "kubectl.1.31", "kubectl.1.33"] {
            std::fs::write(real.join(name), b"").unwrap();
        }
        std::os::unix::fs::symlink(real.join("kubectl"), bin.join("kubectl")).unwrap();
        let got = host_candidates(33, bin.to_str().unwrap());
        assert_eq!(
            got,
            vec![
                bin.join("kubectl"),
                real.join("kubectl"),
                real.join("kubectl.1.33")
            ]
        );
    }

    #[tokio::test]
    async fn a_missing_version_is_an_error_that_says_where_it_looked() {
        let spec: KubectlSpec = "1.99".parse().unwrap();
        let e = resolve_in(&spec, "").await.unwrap_err().to_string();
        assert!(e.contains("kubectl 1.99 is not on this host"), "{e}");
        let spec: KubectlSpec = "1.99.0".parse().unwrap();
        let e = resolve_in(&spec, "").await.unwrap_err().to_string();
        assert!(e.contains("no pinned checksum"), "{e}");
    }

    #[tokio::test]
    async fn a_file_that_is_no_kubectl_is_refused() {
        let spec = KubectlSpec::File("/bin/true".into());
        let e = resolve(&spec).await.unwrap_err().to_string();
        assert!(e.contains("--kubectl /bin/true"), "{e}");
    }

    fn fake_kubectl(dir: &Path, name: &str, git_version: &str) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let p = dir.join(name);
        std::fs::write(
            &p,
            format!(
                "#!/bin/sh\necho '{{\"clientVersion\":{{\"gitVersion\":\"{git_version}\"}}}}'\n"
            ),
        )
        .unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        p
    }

    #[tokio::test]
    async fn files_are_checked_by_the_version_they_report() {
        let dir = tempfile::tempdir().unwrap();
        let good = fake_kubectl(dir.path(), "good", "v1.33.1");
        let k = resolve(&KubectlSpec::File(good.clone())).await.unwrap();
        assert_eq!((k.version.as_str(), k.source), ("v1.33.1", "file"));
        let old = fake_kubectl(dir.path(), "old", "v1.27.16");
        let e = resolve(&KubectlSpec::File(old))
            .await
            .unwrap_err()
            .to_string();
        assert!(e.contains("too old"), "{e}");
        let dispatcher = fake_kubectl(dir.path(), "dispatcher", "v1.32.4-dispatcher");
        let e = resolve(&KubectlSpec::File(dispatcher))
            .await
            .unwrap_err()
            .to_string();
        assert!(e.contains("dispatcher"), "{e}");
    }

    #[tokio::test]
    async fn a_version_is_found_beside_a_dispatcher() {
        let dir = tempfile::tempdir().unwrap();
        let sdk = dir.path().join("sdk");
        let bin = dir.path().join("bin");
        std::fs::create_dir_all(&sdk).unwrap();
        std::fs::create_dir_all(&bin).unwrap();
        let dispatcher = fake_kubectl(&sdk, "kubectl", "v1.32.4-dispatcher");
        fake_kubectl(&sdk, "kubectl.1.32", "v1.32.5");
        let real = fake_kubectl(&sdk, "kubectl.1.33", "v1.33.1");
        std::os::unix::fs::symlink(&dispatcher, bin.join("kubectl")).unwrap();
        let path = bin.to_str().unwrap();
        let k = resolve_in(&"1.33".parse().unwrap(), path).await.unwrap();
        assert_eq!((k.path, k.source), (real, "host"));
        // Another patch release is not silently replaced by the one on the host.
        let e = resolve_in(&"1.33.9".parse().unwrap(), path)
            .await
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("v1.33.1") && e.contains("no pinned checksum"),
            "{e}"
        );
        let e = resolve_in(&"1.30".parse().unwrap(), path)
            .await
            .unwrap_err()
            .to_string();
        assert!(e.contains("v1.32.4-dispatcher"), "{e}");
    }

    #[test]
    fn a_version_matches_only_its_release() {
        let v: KubectlSpec = "1.33".parse().unwrap();
        assert!(v.matches("v1.33.4"));
        assert!(!v.matches("v1.3.3"));
    }
}
