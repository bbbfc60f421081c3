//! `kplab bench kubectl`: how long `kubectl get pods` takes against a lab with many pods, end
//! to end (the real kubectl inside node-1) and on the server alone (the same list request as
//! a Table, by curl), each beside a baseline measured in the same run: `kubectl version
//! --client` (a kubectl process that asks the server nothing) and `GET /version`.

use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde::Serialize;

use crate::bench::p50;
use crate::sandbox::{image, plan, Driver, LabName, LabOptions};

/// The benchmark's figures (milliseconds).
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Pods in the lab.
    pub pods: usize,
    /// Samples of each measurement.
    pub runs: usize,
    /// `kubectl get pods` in node-1, p50.
    pub get_pods_p50_ms: f64,
    /// `kubectl version --client` in node-1, p50.
    pub client_only_p50_ms: f64,
    /// The list request kubectl makes (`as=Table`), server time by curl, p50.
    pub list_table_p50_ms: f64,
    /// `GET /version`, by curl, p50.
    pub version_p50_ms: f64,
}

impl Report {
    /// A few human-readable lines.
    pub fn render(&self) -> String {
        format!(
            "kubectl get pods ({} pods), end to end in node-1: p50 {:.1} ms over {} runs\n\
             kubectl version --client (baseline):             p50 {:.1} ms  -> ratio {:.2}\n\
             GET pods as Table, server side (curl):           p50 {:.1} ms\n\
             GET /version (baseline):                         p50 {:.1} ms  -> ratio {:.2}\n",
            self.pods,
            self.get_pods_p50_ms,
            self.runs,
            self.client_only_p50_ms,
            self.get_pods_p50_ms / self.client_only_p50_ms,
            self.list_table_p50_ms,
            self.version_p50_ms,
            self.list_table_p50_ms / self.version_p50_ms,
        )
    }
}

/// Times `cmd` `runs` times inside `container`, in milliseconds, with the node's own clock
/// (no `docker exec` round trip in the figures).
async fn time_in(
    driver: &Driver,
    container: &str,
    cmd: &str,
    runs: usize,
) -> anyhow::Result<Vec<f64>> {
    let script = format!(
        "for i in $(seq {runs}); do s=$(date +%s%N); {cmd} >/dev/null || exit 1; e=$(date +%s%N); echo $(( (e - s) / 1000 )); done"
    );
    let out = driver
        .exec(container, &["bash", "-c", &script], None)
        .await?;
    if !out.success() {
        bail!("`{cmd}` failed in {container}: {}", out.stderr.trim());
    }
    Ok(out
        .stdout
        .lines()
        .filter_map(|l| l.trim().parse::<f64>().ok())
        .map(|us| us / 1000.0)
        .collect())
}

/// curl's own `time_total` of a request, `runs` times, in milliseconds (no process start-up).
async fn curl_times(
    driver: &Driver,
    container: &str,
    args: &str,
    runs: usize,
) -> anyhow::Result<Vec<f64>> {
    let script = format!(
        "for i in $(seq {runs}); do curl -sf -o /dev/null -w '%{{time_total}}\\n' {args} || exit 1; done"
    );
    let out = driver
        .exec(container, &["bash", "-c", &script], None)
        .await?;
    if !out.success() {
        bail!("curl {args} failed in {container}: {}", out.stderr.trim());
    }
    Ok(out
        .stdout
        .lines()
        .filter_map(|l| l.trim().parse::<f64>().ok())
        .map(|s| s * 1000.0)
        .collect())
}

/// Runs the benchmark on a lab named `bench-kubectl-<pid>`, removed afterwards.
pub async fn run(driver: &Driver, pods: usize, runs: usize) -> anyhow::Result<Report> {
    if runs == 0 || pods == 0 {
        bail!("--runs and --pods must be at least 1");
    }
    image::ensure(driver, plan::DEFAULT_IMAGE).await?;
    let lab: LabName = format!("bench-kubectl-{}", std::process::id()).parse()?;
    let info = crate::engine::cluster::cluster_up(driver, &lab, &LabOptions::default()).await?;
    let result = measure(driver, &info, pods, runs).await;
    driver.down(&lab).await?;
    result
}

async fn measure(
    driver: &Driver,
    info: &crate::sandbox::LabInfo,
    pods: usize,
    runs: usize,
) -> anyhow::Result<Report> {
    let node1 = &info.nodes[0].container;
    let replicas = format!("--replicas={pods}");
    let out = driver
        .exec(
            node1,
            &[
                "kubectl",
                "create",
                "deployment",
                "many",
                "--image=nginx",
                &replicas,
            ],
            None,
        )
        .await?;
    if !out.success() {
        bail!("kubectl create deployment failed: {}", out.stderr.trim());
    }
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let out = driver
            .exec(
                node1,
                &[
                    "kubectl",
                    "get",
                    "pods",
                    "-l",
                    "app=many",
                    "--field-selector=status.phase=Running",
                    "-o",
                    "name",
                ],
                None,
            )
            .await?;
        let running = out.stdout.lines().count();
        if running >= pods {
            break;
        }
        if Instant::now() > deadline {
            bail!("only {running} of {pods} pods Running after 300 s");
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let api = format!("http://{}:6443", info.nodes[0].ip);
    // Warm kubectl's discovery cache, as a learner's second command would find it.
    time_in(driver, node1, "kubectl get pods", 2).await?;
    let get = time_in(driver, node1, "kubectl get pods", runs)
        .await
        .context("kubectl get pods")?;
    let client = time_in(driver, node1, "kubectl version --client", runs).await?;
    let table = curl_times(
        driver,
        node1,
        &format!(
            "-H 'Accept: application/json;as=Table;v=v1;g=meta.k8s.io,application/json' '{api}/api/v1/namespaces/default/pods?limit=500'"
        ),
        runs,
    )
    .await?;
    let version = curl_times(driver, node1, &format!("'{api}/version'"), runs).await?;
    Ok(Report {
        pods,
        runs,
        get_pods_p50_ms: p50(&get),
        client_only_p50_ms: p50(&client),
        list_table_p50_ms: p50(&table),
        version_p50_ms: p50(&version),
    })
}
