//! kplab's host side: the command line (`kplab image build`, `kplab cluster up/down/ls`,
//! `kplab bench cluster-up`), the Docker sandbox driver and the host isolation rules.

pub mod bench;
pub mod bench_kubectl;
pub mod bench_workshop;
pub mod doctor;
pub mod domain;
pub mod engine;
pub mod isolation;
pub mod labs;
pub mod sandbox;
pub mod store;
pub mod web;

pub use engine::cluster::cluster_up;

use clap::{Parser, Subcommand};

use sandbox::image::{self, BaseMethod, BuildOptions};
use sandbox::{Driver, LabName, LabOptions};

/// The `kplab` command line.
#[derive(Debug, Parser)]
#[command(
    name = "kplab",
    version,
    about = "kplab: hands-on Kubernetes Service networking labs"
)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Top-level commands.
// Parsed once per run: the size of the `serve` flags does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// The node image.
    #[command(subcommand)]
    Image(ImageCommand),
    /// Bare lab clusters, without the web server.
    #[command(subcommand)]
    Cluster(ClusterCommand),
    /// Benchmarks.
    #[command(subcommand)]
    Bench(BenchCommand),
    /// The web platform (http://127.0.0.1:8080 by default; SQLite under --data-dir unless
    /// DATABASE_URL names Postgres).
    Serve {
        /// Server flags.
        #[command(flatten)]
        args: domain::config::ServeArgs,
        /// Workshop flags (instructor token).
        #[command(flatten)]
        workshop: domain::config::WorkshopArgs,
        /// The server's defences (trusted proxies, limits, metrics access).
        #[command(flatten)]
        guard: domain::config::guard::GuardArgs,
    },
    /// Lab content.
    #[command(subcommand)]
    Labs(LabsCommand),
    /// Checks this host before labs are handed to strangers: cgroup version, AppArmor, the
    /// Docker engine, the host isolation rules, and a lab container's confinement tried for
    /// real (escapes must fail, pods must work). Exits 1 when a check fails.
    Doctor {
        /// Node image the probe container runs.
        #[arg(long, default_value = sandbox::plan::DEFAULT_IMAGE)]
        image: String,
        /// Print the checks as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// `kplab labs …`
#[derive(Debug, Subcommand)]
pub enum LabsCommand {
    /// Checks lab content; prints every error with file and line.
    Validate {
        /// Content directory.
        #[arg(default_value = "labs")]
        dir: std::path::PathBuf,
    },
    /// Runs every lab's reference solution on a fresh lab cluster: per step, setup, the
    /// checks before (a task without an answer check that passes then fails the lab, unless
    /// it is `observe: true`), the runnable code blocks, the solution and reference answers,
    /// then every check must pass. Exits non-zero on any failure; each lab cluster is removed
    /// afterwards.
    Test {
        /// Content directory.
        #[arg(default_value = "labs")]
        dir: std::path::PathBuf,
        /// Only this lab (repeatable).
        #[arg(long = "lab", value_name = "ID")]
        labs: Vec<String>,
        /// Labs tested at once.
        #[arg(long, default_value_t = 2)]
        jobs: usize,
        /// Seconds a failing runnable block is retried and the final checks are polled.
        #[arg(long, default_value_t = 60)]
        settle: u64,
        /// Node image.
        #[arg(long, default_value = sandbox::plan::DEFAULT_IMAGE)]
        image: String,
        /// Print the report as JSON (the human report goes to stderr).
        #[arg(long)]
        json: bool,
    },
    /// Lists the labs with their steps and task counts.
    List {
        /// Content directory.
        #[arg(default_value = "labs")]
        dir: std::path::PathBuf,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
}

/// `kplab image …`
#[derive(Debug, Subcommand)]
pub enum ImageCommand {
    /// Build the node image (base image if missing, static agent, node image).
    Build {
        /// How to make the base image.
        #[arg(long, value_enum, default_value = "auto")]
        base: BaseMethod,
        /// Tag of the node image.
        #[arg(long, default_value = sandbox::plan::DEFAULT_IMAGE)]
        tag: String,
        /// Rebuild the base and node images even if they are current.
        #[arg(long)]
        force: bool,
        /// The real kubectl the image carries: a file (a path with a '/'), or a version
        /// (`1.33`, `1.33.2`) found on this host or downloaded with a pinned checksum.
        #[arg(long, env = "KPLAB_KUBECTL", default_value = sandbox::kubectl::DEFAULT_KUBECTL)]
        kubectl: String,
    },
}

/// `kplab cluster …`
#[derive(Debug, Subcommand)]
pub enum ClusterCommand {
    /// Start a lab; prints its containers and addresses as JSON once every node is Ready.
    Up {
        /// Lab name (lowercase letters, digits, '-').
        name: String,
        /// Number of nodes.
        #[arg(long, default_value_t = 2)]
        nodes: u8,
        /// Node image.
        #[arg(long, default_value = sandbox::plan::DEFAULT_IMAGE)]
        image: String,
    },
    /// Remove a lab: its containers, network and volumes.
    Down {
        /// Lab name.
        name: String,
    },
    /// List labs.
    Ls {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
}

/// `kplab bench …`
#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// `kplab cluster up` to all nodes Ready, p50, as a ratio to three bare `docker run -d`;
    /// then the host memory of an idle lab with some pods.
    ClusterUp {
        /// Runs of each measurement.
        #[arg(long, default_value_t = 10)]
        runs: usize,
        /// Pods in the idle lab whose memory is measured (0 skips the measurement).
        #[arg(long, default_value_t = 10)]
        pods: usize,
    },
    /// `kubectl get pods` against a lab with many pods, end to end and server side, p50, each
    /// as a ratio to a baseline of the same run.
    Kubectl {
        /// Pods in the lab.
        #[arg(long, default_value_t = 100)]
        pods: usize,
        /// Samples of each measurement.
        #[arg(long, default_value_t = 30)]
        runs: usize,
    },
    /// A classroom workshop: N learners join at once; time to every learner's first prompt
    /// with and without a warm pool, host memory per lab, dashboard update latency.
    Workshop(bench_workshop::Args),
}

/// Runs a parsed command line.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Image(ImageCommand::Build {
            base,
            tag,
            force,
            kubectl,
        }) => {
            let driver = Driver::connect().await?;
            let options = BuildOptions {
                repo: image::find_repo()?,
                base,
                tag,
                force,
                kubectl: kubectl.parse()?,
            };
            let report = image::build(&driver, &options).await?;
            println!("{}", serde_json::to_string_pretty(&report)?);
        }
        Command::Cluster(ClusterCommand::Up { name, nodes, image }) => {
            let lab: LabName = name.parse()?;
            let driver = Driver::connect().await?;
            let options = LabOptions {
                nodes,
                image,
                ..LabOptions::default()
            };
            let info = cluster_up(&driver, &lab, &options).await?;
            println!("{}", serde_json::to_string_pretty(&info)?);
        }
        Command::Cluster(ClusterCommand::Down { name }) => {
            let lab: LabName = name.parse()?;
            let driver = Driver::connect().await?;
            let report = driver.down(&lab).await?;
            println!("{}", serde_json::to_string_pretty(&report)?);
        }
        Command::Cluster(ClusterCommand::Ls { json }) => {
            let driver = Driver::connect().await?;
            let labs = driver.ls().await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&labs)?);
            } else {
                println!("{:<24} {:<30} CONTAINERS", "NAME", "NETWORK");
                for lab in labs {
                    let containers: Vec<String> = lab
                        .containers
                        .iter()
                        .map(|(name, state)| format!("{name}({state})"))
                        .collect();
                    println!(
                        "{:<24} {:<30} {}",
                        lab.name,
                        lab.network.as_deref().unwrap_or("-"),
                        containers.join(" ")
                    );
                }
            }
        }
        Command::Serve {
            args,
            workshop,
            guard,
        } => {
            let mut config =
                domain::config::Config::from_args(args, std::env::var("DATABASE_URL").ok())?;
            workshop.apply(&mut config)?;
            guard.apply(&mut config)?;
            web::run(config).await?;
        }
        Command::Doctor { image, json } => {
            let checks = doctor::run(&image).await;
            if json {
                println!("{}", serde_json::to_string_pretty(&checks)?);
            } else {
                print!("{}", doctor::render(&checks));
            }
            if checks.iter().any(|c| c.verdict == doctor::Verdict::Fail) {
                anyhow::bail!("a check failed");
            }
        }
        Command::Labs(LabsCommand::Validate { dir }) => match labkit::Catalog::load(&dir) {
            Ok(c) => {
                let steps: usize = c.labs.iter().map(|l| l.steps.len()).sum();
                println!(
                    "{}: {} lab(s), {steps} step(s), no errors",
                    dir.display(),
                    c.labs.len()
                );
            }
            Err(d) => {
                eprintln!("{d}");
                anyhow::bail!("{} error(s) in {}", d.len(), dir.display());
            }
        },
        Command::Labs(LabsCommand::List { dir, json }) => {
            let entries = labs::list::entries(&labs::load(&dir)?);
            if json {
                println!("{}", serde_json::to_string_pretty(&entries)?);
            } else {
                print!("{}", labs::list::table(&entries));
            }
        }
        Command::Labs(LabsCommand::Test {
            dir,
            labs: ids,
            jobs,
            settle,
            image,
            json,
        }) => {
            let catalog = labs::load(&dir)?;
            let selected: Vec<labkit::Lab> = labs::test::select(&catalog, &ids)?
                .into_iter()
                .cloned()
                .collect();
            let options = labs::test::Options {
                jobs,
                image,
                settle: std::time::Duration::from_secs(settle),
                json,
                ..labs::test::Options::default()
            };
            let report = labs::test::run(selected, &options).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            }
            let summary = labs::test::render_summary(&report);
            eprintln!("{summary}");
            if !report.passed {
                anyhow::bail!("{summary}");
            }
        }
        Command::Bench(BenchCommand::ClusterUp { runs, pods }) => {
            let driver = Driver::connect().await?;
            let report = bench::cluster_up(&driver, runs, pods).await?;
            println!("{}", report.render());
            println!("{}", serde_json::to_string_pretty(&report)?);
        }
        Command::Bench(BenchCommand::Kubectl { pods, runs }) => {
            let driver = Driver::connect().await?;
            let report = bench_kubectl::run(&driver, pods, runs).await?;
            println!("{}", report.render());
            println!("{}", serde_json::to_string_pretty(&report)?);
        }
        Command::Bench(BenchCommand::Workshop(args)) => {
            let report = bench_workshop::run(args, |config, runtime| {
                Box::pin(web::start_in_process(config, runtime))
            })
            .await?;
            println!("{}", report.render());
            println!("{}", serde_json::to_string_pretty(&report)?);
        }
    }
    Ok(())
}
