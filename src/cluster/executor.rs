//! `skyql cluster executor`: Ballista's executor with skyql's function registry.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result};
use ballista_executor::executor_process::{ExecutorProcessConfig, start_executor_process};

/// What an executor is told at start.
#[derive(Debug, Clone)]
pub struct ExecutorOptions {
    /// The scheduler to register with: host name or address.
    pub scheduler_host: String,
    /// Its port.
    pub scheduler_port: u16,
    /// Where this executor serves Arrow Flight (results and shuffles).
    pub bind: SocketAddr,
    /// The host the scheduler and the other executors reach it at.
    pub advertise: String,
    /// Its gRPC port (task launch from the scheduler).
    pub grpc_port: u16,
    /// Tasks run at once.
    pub tasks: usize,
    /// Shuffle files.
    pub work_dir: Option<PathBuf>,
    /// Where image functions write (a directory every node sees at this path).
    pub output_root: Option<PathBuf>,
    /// Seconds between heartbeats.
    pub heartbeat_seconds: u64,
}

/// The runtime of each task: Ballista's own (spill files in the work directory) with
/// the object stores of skyql's sessions, so that tables on S3 and web servers are read
/// by the executors as by a local session.
fn runtime_producer(work_dir: Option<std::path::PathBuf>) -> ballista_core::RuntimeProducer {
    let spill = work_dir.unwrap_or_else(std::env::temp_dir);
    Arc::new(move |_| {
        let runtime = datafusion::execution::runtime_env::RuntimeEnvBuilder::new()
            .with_temp_file_path(spill.clone())
            .with_object_store_registry(Arc::new(crate::object_stores::SessionStores::new()))
            .build()?;
        Ok(Arc::new(runtime))
    })
}

/// Runs an executor until the process is stopped.
pub async fn run_executor(o: ExecutorOptions) -> Result<()> {
    super::node_log::init();
    if let Some(dir) = &o.work_dir {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create the work directory {}", dir.display()))?;
    }
    let config = ExecutorProcessConfig {
        bind_host: o.bind.ip().to_string(),
        external_host: Some(o.advertise.clone()),
        port: o.bind.port(),
        grpc_port: o.grpc_port,
        scheduler_host: o.scheduler_host.clone(),
        scheduler_port: o.scheduler_port,
        scheduler_connect_timeout_seconds: 10,
        vcores: o.tasks.max(1),
        work_dir: o.work_dir.as_ref().map(|d| d.display().to_string()),
        executor_heartbeat_interval_seconds: o.heartbeat_seconds,
        override_function_registry: Some(super::function_registry(o.output_root.clone())?),
        override_runtime_producer: Some(runtime_producer(o.work_dir.clone())),
        // Tasks may hold the barrier between row rules and queries (`engine::visible_rows`).
        override_physical_codec: Some(Arc::new(
            crate::engine::visible_rows::plan_codec::BarrierExecCodec::default(),
        )),
        ..Default::default()
    };
    eprintln!(
        "skyql executor on {} (gRPC {}), scheduler {}:{}",
        o.bind, o.grpc_port, o.scheduler_host, o.scheduler_port
    );
    start_executor_process(Arc::new(config))
        .await
        .with_context(|| format!("executor on {} stopped", o.bind))
}
