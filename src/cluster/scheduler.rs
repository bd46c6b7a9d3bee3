//! `skyql cluster scheduler`: Ballista's scheduler with skyql's functions, executor loss
//! noticed within seconds.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::{Context, Result};
use ballista_scheduler::cluster::BallistaCluster;
use ballista_scheduler::config::SchedulerConfig;
use ballista_scheduler::scheduler_server::SessionBuilder;
use datafusion::execution::FunctionRegistry;
use datafusion::execution::session_state::SessionStateBuilder;
use datafusion::logical_expr::{AggregateUDF, ScalarUDF};
use datafusion::prelude::SessionConfig;

use crate::engine::visible_rows::SafeFiltersBelow;
use crate::engine::visible_rows::exec::{BarrierQueryPlanner, DropVisibleRows};
use crate::engine::visible_rows::plan_codec::{BarrierCodec, BarrierExecCodec};

/// How the scheduler watches its executors.
#[derive(Debug, Clone, Copy)]
pub struct Liveness {
    /// An executor without a heartbeat for this long is lost (its tasks run elsewhere).
    pub executor_timeout_seconds: u64,
    /// With no executor left, running jobs fail after this long.
    pub no_executors_grace_seconds: u64,
}

impl Default for Liveness {
    fn default() -> Self {
        Liveness {
            executor_timeout_seconds: 10,
            no_executors_grace_seconds: 10,
        }
    }
}

/// The session every job is planned in: DataFusion's defaults with skyql's functions
/// (their names are what the client's plan refers to) and the barrier between row rules
/// and queries, built once for every job. The
/// scheduler only plans: its image functions never write.
fn session_builder() -> Result<SessionBuilder> {
    let (scalars, aggregates) = super::node_functions(None)?;
    let scalars: Vec<Arc<ScalarUDF>> = scalars.into_iter().map(Arc::new).collect();
    let aggregates: Vec<Arc<AggregateUDF>> = aggregates.into_iter().map(Arc::new).collect();
    Ok(Arc::new(move |config: SessionConfig| {
        // Tables on object stores (s3://, http(s)://) are listed where jobs are planned.
        let runtime = datafusion::execution::runtime_env::RuntimeEnvBuilder::new()
            .with_object_store_registry(Arc::new(crate::object_stores::SessionStores::new()))
            .build_arc()?;
        // The barrier between row rules and queries that the client's plans hold
        // (`engine::visible_rows`): planned, and dropped once filters are pushed down.
        let mut state = SessionStateBuilder::new()
            .with_config(config)
            .with_runtime_env(runtime)
            .with_default_features()
            .with_optimizer_rule(Arc::new(SafeFiltersBelow))
            .with_query_planner(Arc::new(BarrierQueryPlanner))
            .with_physical_optimizer_rule(Arc::new(DropVisibleRows))
            .build();
        for f in &scalars {
            state.register_udf(f.clone())?;
        }
        for f in &aggregates {
            state.register_udaf(f.clone())?;
        }
        Ok(state)
    }))
}

/// Runs a scheduler on `bind` (reached at `advertise`) until the process is stopped.
pub async fn run_scheduler(bind: SocketAddr, advertise: &str, liveness: Liveness) -> Result<()> {
    super::node_log::init();
    let config = SchedulerConfig {
        bind_host: bind.ip().to_string(),
        external_host: advertise.to_string(),
        bind_port: bind.port(),
        executor_timeout_seconds: liveness.executor_timeout_seconds,
        expire_dead_executor_interval_seconds: 1,
        no_executors_grace_period_seconds: liveness.no_executors_grace_seconds,
        override_session_builder: Some(session_builder()?),
        override_logical_codec: Some(Arc::new(BarrierCodec::default())),
        override_physical_codec: Some(Arc::new(BarrierExecCodec::default())),
        ..Default::default()
    };
    let cluster = BallistaCluster::new_from_config(&config)
        .await
        .context("cannot start the scheduler's cluster state")?;
    eprintln!("skyql scheduler listening on df://{bind}");
    ballista_scheduler::scheduler_process::start_server(cluster, bind, Arc::new(config))
        .await
        .with_context(|| format!("scheduler on {bind} stopped"))
}
