//! Cluster mode on Apache DataFusion Ballista (feature `cluster`): skyql's own scheduler
//! and executor processes, built on Ballista's libraries with skyql's functions, and the
//! client side (`Engine::cluster_session`, with `engine::scheduler_address`). Deployment and limits: docs/CLUSTER.md.
//!
//! Functions travel by name: the scheduler (to plan what the client sends) and every
//! executor (to decode the tasks) rebuild them from their own registries, which start
//! from DataFusion's built-ins. The image functions carry their output root: an
//! executor's comes from its `--output-root`, a directory every node sees at one path.

pub mod executor;
pub mod loopback;
pub mod node_log;
pub mod scheduler;

use std::path::PathBuf;
use std::sync::Arc;

use datafusion::logical_expr::{AggregateUDF, ScalarUDF};

use crate::engine::{Engine, EngineOptions};

/// skyql's scalar and aggregate functions as a node builds them (the engine's lists):
/// the image functions write under `output_root`.
pub fn node_functions(
    output_root: Option<PathBuf>,
) -> anyhow::Result<(Vec<ScalarUDF>, Vec<AggregateUDF>)> {
    let options = EngineOptions {
        output_root,
        ..EngineOptions::default()
    };
    let engine = Engine::new(None, options)?;
    // DataFusion's functions that build large values run with their limits on the
    // executors too: the bounded ones take the plain ones' names.
    let mut scalars = engine.scalar_functions();
    scalars.extend(skyql_udfs::functions::bounded::bounded_functions());
    Ok((scalars, engine.aggregate_functions()))
}

/// Names under which a function is found: its name and its aliases.
fn names_of(name: &str, aliases: &[String]) -> Vec<String> {
    std::iter::once(name.to_string())
        .chain(aliases.iter().cloned())
        .collect()
}

/// Ballista's function registry (DataFusion's built-ins) with skyql's functions added.
pub fn function_registry(
    output_root: Option<PathBuf>,
) -> anyhow::Result<Arc<ballista_core::registry::BallistaFunctionRegistry>> {
    let mut registry = ballista_core::registry::BallistaFunctionRegistry::default();
    let (scalars, aggregates) = node_functions(output_root)?;
    for f in scalars {
        let f = Arc::new(f);
        for n in names_of(f.name(), f.aliases()) {
            registry.scalar_functions.insert(n, f.clone());
        }
    }
    for f in aggregates {
        let f = Arc::new(f);
        for n in names_of(f.name(), f.aliases()) {
            registry.aggregate_functions.insert(n, f.clone());
        }
    }
    Ok(Arc::new(registry))
}
