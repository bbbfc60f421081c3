//! `kplab doctor`: what an operator checks before handing labs to strangers. It reads the host
//! (kernel, cgroup version, AppArmor, the `vxlan` module), the Docker engine (version, cgroup
//! driver, security options), the host isolation rules, and then tries the confinement for real
//! in a throwaway container with a lab's settings: the escape primitives must fail there and
//! what pods need must work. Every running lab container is checked for the same settings
//! (labs started by an older kplab keep theirs until restarted).

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::isolation;
use crate::sandbox::{seccomp, Driver};

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// As it should be.
    Ok,
    /// Works, but weaker than it could be, or worth knowing.
    Warn,
    /// Labs are not safe (or do not work) on this host as it is.
    Fail,
}

impl Verdict {
    /// `Ok` when `ok`, else `otherwise`.
    fn ok_if(ok: bool, otherwise: Verdict) -> Verdict {
        if ok {
            Verdict::Ok
        } else {
            otherwise
        }
    }
}

/// One line of the report.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    /// What was checked.
    pub what: String,
    /// How it came out.
    pub verdict: Verdict,
    /// What was found.
    pub detail: String,
}

fn check(what: &str, verdict: Verdict, detail: impl Into<String>) -> Check {
    Check {
        what: what.to_string(),
        verdict,
        detail: detail.into(),
    }
}

/// Attacks tried in the probe container: each must fail.
const MUST_FAIL: &[(&str, &str)] = &[
    ("mount a tmpfs", "mount -t tmpfs none /mnt"),
    (
        "mount a cgroup v1 hierarchy",
        "mkdir -p /tmp/cg && mount -t cgroup -o memory cgroup /tmp/cg",
    ),
    ("mount proc", "mount -t proc proc /mnt"),
    ("a new user namespace", "unshare -U -r true"),
    ("a new mount namespace", "unshare -m true"),
    ("write to the root filesystem", "echo x > /kplab-doctor"),
    (
        "run a binary from /tmp",
        "cp /bin/true /tmp/t && chmod +x /tmp/t && /tmp/t",
    ),
    (
        "write past the /tmp bound",
        "dd if=/dev/zero of=/tmp/fill bs=1M count=100 2>/dev/null",
    ),
];

/// What pods need: each must work.
const MUST_WORK: &[(&str, &str)] = &[
    ("a network namespace (a pod)", "unshare -n true"),
    ("iptables-save", "iptables-save -t nat >/dev/null"),
    ("nft", "nft list ruleset >/dev/null"),
];

/// The SHA-256 of the seccomp profile labs run under, as hex (its first 12 characters name it).
pub fn profile_sha256() -> String {
    data_encoding::HEXLOWER.encode(&Sha256::digest(seccomp::PROFILE.as_bytes()))
}

/// A check of a yes/no property of the host: `Ok` with `yes`, or `otherwise` with `no`.
fn yes_no(what: &str, on: bool, otherwise: Verdict, yes: &str, no: &str) -> Check {
    check(
        what,
        Verdict::ok_if(on, otherwise),
        if on { yes } else { no },
    )
}

fn host_checks() -> Vec<Check> {
    let mut out = Vec::new();
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    out.push(check("kernel", Verdict::Ok, kernel.trim()));
    let v2 = std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
    out.push(yes_no(
        "cgroup version",
        v2,
        Verdict::Warn,
        "v2 (unified)",
        "v1: a mounted cgroup's release_agent reaches host root; the seccomp profile refuses every mount",
    ));
    let apparmor = std::fs::read_to_string("/sys/module/apparmor/parameters/enabled")
        .is_ok_and(|s| s.trim() == "Y");
    out.push(yes_no(
        "AppArmor",
        apparmor,
        Verdict::Warn,
        "enabled: Docker's docker-default profile confines labs too",
        "not enabled: the seccomp profile and the read-only root are the only confinement beyond capabilities",
    ));
    let vxlan = std::path::Path::new("/sys/module/vxlan").exists();
    out.push(yes_no(
        "vxlan module",
        vxlan,
        Verdict::Fail,
        "loaded",
        "not loaded: `modprobe vxlan` (pods on different nodes cannot talk)",
    ));
    match isolation::detect_backend().and_then(|b| Ok((isolation::missing(&b)?, b))) {
        Ok((None, b)) => out.push(check(
            "host isolation rules",
            Verdict::Ok,
            format!(
                "{} INPUT -i {} -j {} in place",
                b.v4,
                isolation::BRIDGE_MATCH,
                isolation::CHAIN
            ),
        )),
        Ok((Some(missing), _)) => out.push(check(
            "host isolation rules",
            Verdict::Fail,
            format!(
                "{missing} (`kplab serve` and `kplab cluster up` install them; they need root)"
            ),
        )),
        Err(e) => out.push(check("host isolation rules", Verdict::Fail, e.to_string())),
    }
    out
}

async fn docker_checks(driver: &Driver, image: &str) -> Vec<Check> {
    let mut out = Vec::new();
    match driver.engine_info().await {
        Ok(info) => {
            out.push(check("Docker", Verdict::Ok, info.summary.clone()));
            let seccomp_on = info.security_options.iter().any(|o| o.contains("seccomp"));
            out.push(check(
                "Docker security options",
                Verdict::ok_if(seccomp_on, Verdict::Fail),
                if info.security_options.is_empty() {
                    "none".to_string()
                } else {
                    info.security_options.join(", ")
                },
            ));
        }
        Err(e) => {
            out.push(check("Docker", Verdict::Fail, e.to_string()));
            return out;
        }
    }
    match driver.image_exists(image).await {
        Ok(true) => {}
        Ok(false) => {
            out.push(check(
                "node image",
                Verdict::Fail,
                format!("{image} is missing: `kplab image build`"),
            ));
            return out;
        }
        Err(e) => {
            out.push(check("node image", Verdict::Fail, e.to_string()));
            return out;
        }
    }
    let name = format!("kplab-doctor-{}", std::process::id());
    let scripts: Vec<&str> = MUST_FAIL.iter().chain(MUST_WORK).map(|(_, s)| *s).collect();
    match driver.probe_confinement(image, &name, &scripts).await {
        Ok(results) => {
            let (fail, work) = results.split_at(MUST_FAIL.len().min(results.len()));
            let held: Vec<&str> = MUST_FAIL
                .iter()
                .zip(fail)
                .filter(|(_, o)| o.success())
                .map(|((what, _), _)| *what)
                .collect();
            out.push(check(
                "a lab container refuses escapes",
                Verdict::ok_if(held.is_empty(), Verdict::Fail),
                if held.is_empty() {
                    format!(
                        "{} attempts refused (seccomp profile {}, read-only root, noexec tmpfs)",
                        MUST_FAIL.len(),
                        &profile_sha256()[..12]
                    )
                } else {
                    format!("these worked: {}", held.join(", "))
                },
            ));
            let broken: Vec<String> = MUST_WORK
                .iter()
                .zip(work)
                .filter(|(_, o)| !o.success())
                .map(|((what, _), o)| format!("{what}: {}", o.stderr.trim()))
                .collect();
            out.push(check(
                "a lab container can run pods",
                Verdict::ok_if(broken.is_empty(), Verdict::Fail),
                if broken.is_empty() {
                    "network namespaces, iptables and nft work".to_string()
                } else {
                    broken.join("; ")
                },
            ));
        }
        Err(e) => out.push(check(
            "a lab container refuses escapes",
            Verdict::Fail,
            format!("the probe container did not run: {e}"),
        )),
    }
    match driver.lab_confinement().await {
        Ok(labs) if labs.is_empty() => {
            out.push(check("running labs", Verdict::Ok, "none"));
        }
        Ok(labs) => {
            let weak: Vec<String> = labs
                .iter()
                .filter(|c| !c.confined)
                .map(|c| c.container.clone())
                .collect();
            out.push(check(
                "running labs",
                Verdict::ok_if(weak.is_empty(), Verdict::Warn),
                if weak.is_empty() {
                    format!("{} containers, every one confined as planned", labs.len())
                } else {
                    format!(
                        "started without today's confinement (restart them): {}",
                        weak.join(", ")
                    )
                },
            ));
        }
        Err(e) => out.push(check("running labs", Verdict::Warn, e.to_string())),
    }
    out
}

/// Runs every check.
pub async fn run(image: &str) -> Vec<Check> {
    let mut checks = host_checks();
    match Driver::connect().await {
        Ok(driver) => checks.extend(docker_checks(&driver, image).await),
        Err(e) => checks.push(check("Docker", Verdict::Fail, e.to_string())),
    }
    checks
}

/// The report as text, one line per check.
pub fn render(checks: &[Check]) -> String {
    let mut s = String::new();
    for c in checks {
        let tag = match c.verdict {
            Verdict::Ok => "ok  ",
            Verdict::Warn => "warn",
            Verdict::Fail => "FAIL",
        };
        s.push_str(&format!("{tag}  {:<34} {}\n", c.what, c.detail));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_report_names_every_check_with_its_verdict() {
        let text = render(&[
            check("kernel", Verdict::Ok, "6.1"),
            check("cgroup version", Verdict::Warn, "v1"),
            check("vxlan module", Verdict::Fail, "not loaded"),
        ]);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(lines[0].starts_with("ok    kernel"), "{text}");
        assert!(lines[1].starts_with("warn  cgroup version"), "{text}");
        assert!(lines[2].starts_with("FAIL  vxlan module"), "{text}");
    }

    #[test]
    fn the_probe_tries_what_the_issue_names() {
        let scripts: Vec<&str> = MUST_FAIL.iter().map(|(_, s)| *s).collect();
        assert!(scripts.iter().any(|s| s.contains("mount -t cgroup")));
        assert!(scripts.iter().any(|s| s.contains("unshare -U")));
        assert!(MUST_WORK.iter().any(|(_, s)| s.contains("unshare -n")));
        assert_eq!(profile_sha256().len(), 64);
    }
}
