//! `skyql cluster scheduler|executor`: the processes of cluster mode (feature `cluster`).

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Result;
use clap::{Args, Subcommand};

/// Arguments of `skyql cluster`.
#[derive(Debug, Args)]
pub(crate) struct ClusterArgs {
    #[command(subcommand)]
    role: Role,
}

#[derive(Debug, Subcommand)]
enum Role {
    /// Run a scheduler: clients send it queries (`skyql query --cluster df://HOST:PORT`).
    Scheduler(SchedulerArgs),
    /// Run an executor: it registers with the scheduler and runs its tasks.
    Executor(ExecutorArgs),
}

#[derive(Debug, Args)]
struct SchedulerArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:50050")]
    bind: SocketAddr,
    /// Seconds without a heartbeat after which an executor is lost and its tasks run
    /// elsewhere.
    #[arg(long, default_value_t = 10)]
    executor_timeout: u64,
    /// Host name or address the executors and clients reach the scheduler at [default:
    /// the --bind address].
    #[arg(long)]
    advertise: Option<String>,
}

#[derive(Debug, Args)]
struct ExecutorArgs {
    /// The scheduler, HOST:PORT.
    #[arg(long)]
    scheduler: String,
    /// Address for Arrow Flight (results and shuffles); the gRPC port is the next one
    /// unless --grpc-port says otherwise.
    #[arg(long, default_value = "127.0.0.1:50051")]
    bind: SocketAddr,
    /// gRPC port (tasks from the scheduler).
    #[arg(long)]
    grpc_port: Option<u16>,
    /// Host name or address the scheduler and the other executors reach this executor
    /// at [default: the --bind address].
    #[arg(long)]
    advertise: Option<String>,
    /// Tasks run at once [default: the number of cores].
    #[arg(long)]
    tasks: Option<usize>,
    /// Directory for shuffle files [default: a temporary directory].
    #[arg(long)]
    work_dir: Option<PathBuf>,
    /// Directory under which image functions write; every node must see it at this path
    /// [default: skyql-products in the working directory].
    #[arg(long)]
    output_root: Option<PathBuf>,
    /// Seconds between heartbeats to the scheduler.
    #[arg(long, default_value_t = 2)]
    heartbeat: u64,
}

#[cfg(feature = "cluster")]
pub(crate) async fn run(args: ClusterArgs) -> Result<()> {
    use crate::cluster::{executor, scheduler};
    match args.role {
        Role::Scheduler(a) => {
            let liveness = scheduler::Liveness {
                executor_timeout_seconds: a.executor_timeout,
                ..Default::default()
            };
            let advertise = advertised(a.advertise, a.bind)?;
            scheduler::run_scheduler(a.bind, &advertise, liveness).await
        }
        Role::Executor(a) => {
            let (host, port) =
                crate::engine::scheduler_address::host_port(&a.scheduler, "--scheduler")?;
            executor::run_executor(executor::ExecutorOptions {
                scheduler_host: host,
                scheduler_port: port,
                advertise: advertised(a.advertise, a.bind)?,
                bind: a.bind,
                grpc_port: match a.grpc_port.or_else(|| a.bind.port().checked_add(1)) {
                    Some(p) => p,
                    None => {
                        anyhow::bail!("--bind port 65535 leaves no gRPC port: give --grpc-port")
                    }
                },
                tasks: a
                    .tasks
                    .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get())),
                work_dir: a.work_dir,
                output_root: a.output_root,
                heartbeat_seconds: a.heartbeat,
            })
            .await
        }
    }
}

/// The address others reach a node at: `--advertise`, else the bind address unless it
/// is a wildcard (0.0.0.0 or ::), which nobody can connect to.
#[cfg(feature = "cluster")]
fn advertised(advertise: Option<String>, bind: SocketAddr) -> Result<String> {
    match advertise {
        Some(a) => Ok(a),
        None if bind.ip().is_unspecified() => anyhow::bail!(
            "--bind {bind} listens on every interface: give --advertise HOST, the name the other nodes reach this one at"
        ),
        None => Ok(bind.ip().to_string()),
    }
}

#[cfg(not(feature = "cluster"))]
pub(crate) async fn run(args: ClusterArgs) -> Result<()> {
    let _ = args.role;
    anyhow::bail!("{}", crate::engine::NO_CLUSTER)
}
