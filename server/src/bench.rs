//! `kplab bench cluster-up`: how long `kplab cluster up` takes to all nodes Ready, compared
//! with three bare `docker run -d` of the node image measured in the same run, and how much
//! host memory an idle lab with some pods holds.

use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde::Serialize;

use crate::sandbox::{image, plan, Driver, LabName, LabOptions};

/// The benchmark's figures.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Runs of each measurement.
    pub runs: usize,
    /// Every baseline run: three sequential `docker run -d` (create + start), seconds.
    pub bare_runs_secs: Vec<f64>,
    /// p50 of the baseline, seconds.
    pub bare_p50_secs: f64,
    /// Every `kplab cluster up` to Ready, seconds.
    pub up_runs_secs: Vec<f64>,
    /// p50 of `cluster up`, seconds.
    pub up_p50_secs: f64,
    /// `up_p50 / bare_p50`.
    pub ratio: f64,
    /// Pods in the idle lab.
    pub pods: usize,
    /// Sum of the lab containers' cgroup memory (usage minus cache), MiB.
    pub idle_cgroup_mib: Option<f64>,
    /// What the lab's files hold in its tmpfs mounts (charged to its memory limit, but counted
    /// as cache by cgroup v1), MiB.
    pub idle_tmpfs_mib: Option<f64>,
    /// Proportional set size (PSS: private pages plus a fair share of the shared binary) of
    /// their `containerd-shim` processes, MiB.
    pub idle_shim_mib: Option<f64>,
}

impl Report {
    /// A few human-readable lines.
    pub fn render(&self) -> String {
        let mut s = format!(
            "3 x bare docker run -d (create+start): p50 {:.3} s over {} runs\n\
             kplab cluster up to all nodes Ready:   p50 {:.3} s over {} runs\n\
             ratio: {:.2} (target <= 1.5)\n",
            self.bare_p50_secs, self.runs, self.up_p50_secs, self.runs, self.ratio
        );
        if let (Some(cg), Some(tmpfs), Some(shim)) = (
            self.idle_cgroup_mib,
            self.idle_tmpfs_mib,
            self.idle_shim_mib,
        ) {
            s += &format!(
                "idle lab with {} pods: {:.1} MiB in the containers' cgroups + {:.1} MiB in their tmpfs + {:.1} MiB of shims (PSS) = {:.1} MiB (target < 60)\n",
                self.pods,
                cg,
                tmpfs,
                shim,
                cg + tmpfs + shim
            );
        }
        s
    }
}

/// Median of a sample (mean of the two middle values for an even count).
pub fn p50(samples: &[f64]) -> f64 {
    if samples.is_empty() {
        return f64::NAN;
    }
    let mut v = samples.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Runs the benchmark. Labs are named `bench-<pid>-<run>` and removed after each run.
pub async fn cluster_up(driver: &Driver, runs: usize, pods: usize) -> anyhow::Result<Report> {
    if runs == 0 {
        bail!("--runs must be at least 1");
    }
    let tag = plan::DEFAULT_IMAGE;
    image::ensure(driver, tag).await?;
    // One untimed lab first, so that the isolation rules and caches are warm for both sides.
    let pid = std::process::id();
    let warm: LabName = format!("bench-{pid}-warm").parse()?;
    crate::engine::cluster::cluster_up(driver, &warm, &LabOptions::default()).await?;
    driver.down(&warm).await?;

    let mut bare = Vec::new();
    for run in 0..runs {
        let names: Vec<String> = (0..3)
            .map(|i| format!("kplab-bench-{pid}-{run}-{i}"))
            .collect();
        let t = Instant::now();
        let mut result = Ok(());
        for name in &names {
            result = driver.run_bare(tag, name).await;
            if result.is_err() {
                break;
            }
        }
        let elapsed = t.elapsed().as_secs_f64();
        for name in &names {
            driver.remove_container(name).await?;
        }
        result?;
        bare.push(elapsed);
    }

    let mut up = Vec::new();
    for run in 0..runs {
        let lab: LabName = format!("bench-{pid}-{run}").parse()?;
        let t = Instant::now();
        let result = crate::engine::cluster::cluster_up(driver, &lab, &LabOptions::default()).await;
        let elapsed = t.elapsed().as_secs_f64();
        if result.is_ok() {
            driver.down(&lab).await?;
        }
        result.with_context(|| format!("benchmark run {run}"))?;
        up.push(elapsed);
    }

    let (idle_cgroup_mib, idle_tmpfs_mib, idle_shim_mib) = if pods > 0 {
        let lab: LabName = format!("bench-{pid}-mem").parse()?;
        let info = crate::engine::cluster::cluster_up(driver, &lab, &LabOptions::default()).await?;
        let measured = idle_memory(driver, &info, pods).await;
        driver.down(&lab).await?;
        let (cg, tmpfs, shim) = measured?;
        (Some(cg), Some(tmpfs), Some(shim))
    } else {
        (None, None, None)
    };

    let bare_p50_secs = p50(&bare);
    let up_p50_secs = p50(&up);
    Ok(Report {
        runs,
        bare_runs_secs: bare,
        bare_p50_secs,
        up_runs_secs: up,
        up_p50_secs,
        ratio: up_p50_secs / bare_p50_secs,
        pods,
        idle_cgroup_mib,
        idle_tmpfs_mib,
        idle_shim_mib,
    })
}

async fn idle_memory(
    driver: &Driver,
    info: &crate::sandbox::LabInfo,
    pods: usize,
) -> anyhow::Result<(f64, f64, f64)> {
    let node1 = &info.nodes[0].container;
    let replicas = format!("--replicas={pods}");
    let out = driver
        .exec(
            node1,
            &[
                "kubectl",
                "create",
                "deployment",
                "idle",
                "--image=nginx",
                &replicas,
            ],
            None,
        )
        .await?;
    if !out.success() {
        bail!("kubectl create deployment failed: {}", out.stderr.trim());
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let out = driver
            .exec(
                node1,
                &["kubectl", "get", "pods", "-l", "app=idle", "-o", "json"],
                None,
            )
            .await?;
        let running = serde_json::from_str::<serde_json::Value>(&out.stdout)
            .ok()
            .and_then(|v| {
                v["items"].as_array().map(|items| {
                    items
                        .iter()
                        .filter(|p| p["status"]["phase"] == "Running")
                        .count()
                })
            })
            .unwrap_or(0);
        if running >= pods {
            break;
        }
        if Instant::now() > deadline {
            bail!("only {running} of {pods} pods Running after 120 s");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // Let start-up garbage settle before measuring the idle state.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let mut cgroup = 0u64;
    let mut tmpfs = 0u64;
    let mut shims = 0u64;
    let containers = info
        .nodes
        .iter()
        .map(|n| n.container.as_str())
        .chain(std::iter::once(info.client.container.as_str()));
    for c in containers {
        cgroup += driver.memory(c).await?.bytes;
        tmpfs += tmpfs_bytes(driver, c).await?;
        let id = driver.container_id(c).await?;
        shims += shim_memory_bytes(&id);
    }
    let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
    Ok((mib(cgroup), mib(tmpfs), mib(shims)))
}

/// Bytes the files in a lab container's tmpfs mounts (its writable places and `/dev/shm`) hold.
async fn tmpfs_bytes(
    driver: &Driver,
    container: &str,
) -> Result<u64, crate::sandbox::SandboxError> {
    let mut argv = vec!["df", "-k", "--output=used"];
    argv.extend(plan::WRITABLE.iter().map(|(path, _)| *path));
    argv.push("/dev/shm");
    let out = driver.exec(container, &argv, None).await?;
    Ok(out
        .stdout
        .lines()
        .filter_map(|l| l.trim().parse::<u64>().ok())
        .sum::<u64>()
        * 1024)
}

/// Memory of the `containerd-shim` process serving a container: its PSS from
/// `/proc/PID/smaps_rollup` (its RSS when that file is missing; 0 if no shim is found).
pub fn shim_memory_bytes(container_id: &str) -> u64 {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let Ok(cmdline) = std::fs::read(path.join("cmdline")) else {
            continue;
        };
        let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
        let is_shim = args
            .first()
            .map(|a| String::from_utf8_lossy(a).contains("containerd-shim"))
            .unwrap_or(false);
        let serves = args
            .windows(2)
            .any(|w| w[0] == b"-id" && w[1] == container_id.as_bytes());
        if is_shim && serves {
            let kib = |file: &str, key: &str| {
                std::fs::read_to_string(path.join(file))
                    .unwrap_or_default()
                    .lines()
                    .find_map(|l| l.strip_prefix(key))
                    .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            };
            return kib("smaps_rollup", "Pss:")
                .or_else(|| kib("status", "VmRSS:"))
                .map(|kb| kb * 1024)
                .unwrap_or(0);
        }
    }
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_and_even_samples() {
        assert_eq!(p50(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(p50(&[4.0, 1.0, 3.0, 2.0]), 2.5);
        assert!(p50(&[]).is_nan());
    }
}
