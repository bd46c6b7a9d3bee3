//! The one engine every front builds its sessions from: the CLI (`query`, `shell`,
//! `describe`, `plot`), the demo, the benchmarks, and later the VO service and the
//! cluster's scheduler and executors.
//!
//! An [`Engine`] holds an opened catalogue (or none) and the session options; it builds
//! DataFusion's `SessionState` with the configuration, the memory pool and spill
//! directory, every function of `skyql-udfs`, the optimizer rules with the star-id
//! convention named by the catalogue, the COPY formats, and registers the catalogue's
//! tables and any extra files. In [read-only mode](EngineOptions::read_only) nothing a
//! query does can write: no DDL, DML or COPY, and no file-writing functions.

pub mod cluster_guard;
pub mod column_names;
pub mod cone_fields_rule;
pub mod counted_text_table;
pub mod counts_rule;
pub mod depth;
pub mod fits_table;
pub mod following;
pub mod hats_join_rule;
pub mod large_constants;
pub mod manifest_statistics;
pub mod manifest_store;
pub mod parameters;
pub mod partition_scalars_rule;
pub mod positioned;
pub mod scheduler_address;
pub mod tables;
pub mod user_error;
pub mod visible_rows;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use datafusion::dataframe::DataFrame;
use datafusion::execution::SessionState;
use datafusion::execution::cache::cache_manager::CacheManagerConfig;
use datafusion::execution::disk_manager::{DiskManagerBuilder, DiskManagerMode};
use datafusion::execution::memory_pool::FairSpillPool;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::execution::session_state::SessionStateBuilder;
use datafusion::logical_expr::{AggregateUDF, LogicalPlan, ScalarUDF};
use datafusion::optimizer::OptimizerRule;
use datafusion::prelude::{SQLOptions, SessionConfig, SessionContext};
use skyql_udfs::images::ImageOutput;
use skyql_udfs::rules::{CooperativeJoins, FieldOfStar, KeyListPages, SortedSamplesAggregate};

use crate::catalog::Catalog;
use crate::conventions::Conventions;
pub use positioned::positioned_table;
pub use tables::ExtraTable;

/// What a build without cluster mode says when asked for it.
pub const NO_CLUSTER: &str = "this skyql was built without cluster mode: build it with `cargo build --release --features cluster` (docs/CLUSTER.md)";

/// The most distinct keys of a join's build side passed to the probe side's scan as a
/// list of values (read by `KeyListPages`); beyond, DataFusion passes its hash table.
pub const JOIN_KEY_LIST_LIMIT: usize = 50_000;

/// Functions that open a file their arguments name: not offered in read-only sessions.
pub const FILE_READING_FUNCTIONS: [&str; 1] = ["wcs_from_fits"];

/// How sessions are built.
#[derive(Debug, Clone, Default)]
pub struct EngineOptions {
    /// Memory limit for query execution in bytes (spilling operators spill beyond it).
    pub memory_limit: Option<usize>,
    /// Directory for spill files (default: the system's temporary directory).
    pub spill_dir: Option<PathBuf>,
    /// Most bytes spilled at once (DataFusion's default, 100 GiB, when absent).
    pub spill_limit: Option<u64>,
    /// Where image functions write (default: `products/` in the catalogue directory, or
    /// `./skyql-products` without a catalogue).
    pub output_root: Option<PathBuf>,
    /// Whether image functions may replace existing files.
    pub overwrite: bool,
    /// Read-only sessions: no DDL, DML or COPY, no file-writing functions (the service).
    pub read_only: bool,
    /// Partitions a plan runs in (default: DataFusion's, the number of cores).
    pub target_partitions: Option<usize>,
    /// The Ballista cluster sessions run on (`df://HOST:PORT`): the catalogue's
    /// dictionary-encoded text columns are then declared plain, and plans Ballista 55
    /// answers wrongly are refused (docs/CLUSTER.md).
    pub cluster: Option<String>,
    /// The process runs one statement or one short script and exits (`skyql query`,
    /// `skyql plot`): DataFusion's file-listing cache is then off, since it lists every
    /// field's directory on first use where a scan pruned to one field lists one (each
    /// statement of a script lists its own). Long-lived sessions (service, shell) keep it.
    pub one_query: bool,
    /// Catalogue files read without their block checksums: only for `skyql bench
    /// checksums`, which measures what the checks cost.
    pub unchecked_reads: bool,
    /// What a bad line of a `--table` text file does (`--bad-lines`).
    pub bad_lines: crate::formats::text_lines::BadLines,
}

/// A catalogue (or none) and the options of every session built from it.
#[derive(Debug, Clone)]
pub struct Engine {
    catalog: Option<Catalog>,
    conventions: Option<Conventions>,
    options: EngineOptions,
}

impl Engine {
    /// An engine over the catalogue at `dir` (opened and checked), or over no catalogue.
    pub fn open(dir: Option<&Path>, options: EngineOptions) -> Result<Self> {
        let catalog = dir.map(Catalog::open).transpose()?;
        Self::new(catalog, options)
    }

    /// An engine over an already opened catalogue.
    pub fn new(catalog: Option<Catalog>, options: EngineOptions) -> Result<Self> {
        if let (Some(root), Some(c)) = (&options.output_root, &catalog) {
            check_output_root(root, &c.dir, options.overwrite)?;
        }
        let conventions = match &catalog {
            Some(c) => c.conventions()?,
            None => None,
        };
        Ok(Engine {
            catalog,
            conventions,
            options,
        })
    }

    /// The catalogue, if any.
    pub fn catalog(&self) -> Option<&Catalog> {
        self.catalog.as_ref()
    }

    /// The output root of image functions: `products` in a local catalogue, else
    /// `skyql-products` in the working directory (a remote catalogue is not written by
    /// queries).
    pub fn output_root(&self) -> PathBuf {
        match (&self.options.output_root, &self.catalog) {
            (Some(root), _) => root.clone(),
            (None, Some(c)) if c.remote.is_none() => c.dir.join("products"),
            (None, _) => PathBuf::from("skyql-products"),
        }
    }

    /// Every scalar function a session has: those of `skyql-udfs`, and the image functions
    /// (which write files) unless read-only.
    pub fn scalar_functions(&self) -> Vec<ScalarUDF> {
        let mut udfs = skyql_udfs::all_scalar_udfs();
        if self.options.read_only {
            // A read-only session (the service) opens no file a query names.
            udfs.retain(|u| !FILE_READING_FUNCTIONS.contains(&u.name()));
        } else {
            let mut images = ImageOutput::new(self.output_root());
            images.overwrite = self.options.overwrite;
            udfs.extend(skyql_udfs::images::image_udfs(images));
        }
        udfs
    }

    /// Every aggregate function of `skyql-udfs`.
    pub fn aggregate_functions(&self) -> Vec<AggregateUDF> {
        skyql_udfs::all_aggregate_udfs()
    }

    /// DataFusion's optimizer rules with skyql's pruning rules; the star-id rule follows
    /// the catalogue's conventions (none without a catalogue or a known convention); with
    /// a catalogue that has `measurement_counts`, counts by field, colour, CCD and quarter
    /// come from it (`counts_rule`); with the stars' HEALPix ranges in the manifest, cones
    /// skip the fields they cannot touch (`cone_fields_rule`); spatial joins read only the
    /// HATS pixels the other side can reach (`hats_join_rule`); in cluster sessions, plans
    /// Ballista 55 answers wrongly are refused last (`cluster_guard`).
    pub fn optimizer_rules(&self) -> Vec<Arc<dyn OptimizerRule + Send + Sync>> {
        let field_of_star: Option<FieldOfStar> = self.conventions.clone().map(|c| {
            let f: FieldOfStar = Arc::new(move |id: &str| c.parse_star_id(id).map(|p| p.field));
            f
        });
        let mut rules = skyql_udfs::rules::optimizer_rules(field_of_star);
        let at = rules
            .iter()
            .position(|r| r.name() == "simplify_expressions")
            .map_or(0, |i| i + 1);
        let summary = self.catalog.as_ref().and_then(|c| {
            tables::catalog_table(c, "measurement_counts", self.options.cluster.is_some())
                .ok()
                .flatten()
        });
        let url = |name: &str| {
            let c = self.catalog.as_ref()?;
            tables::catalog_table_url(c, name).ok().flatten()
        };
        if let (Some(summary), Some(measurements)) = (summary, url("measurements")) {
            let source = datafusion::datasource::provider_as_source(summary);
            let rule = counts_rule::CountsFromSummary::new(source, measurements.to_string());
            rules.insert(at, Arc::new(rule));
        }
        let cone_fields = self.catalog.as_ref().and_then(|c| {
            let stars = c.manifest.tables.get("stars")?;
            cone_fields_rule::ConeFieldPruning::from_stars(stars, url("stars")?.to_string())
        });
        if let Some(rule) = cone_fields {
            rules.insert(at, Arc::new(rule));
        }
        let stars = self.catalog.as_ref().and_then(|c| {
            let entry = c.manifest.tables.get("stars")?;
            Some((entry, url("stars")?.to_string()))
        });
        let after_spatial_join = rules
            .iter()
            .position(|r| r.name() == "spatial_join")
            .map_or(rules.len(), |i| i + 1);
        let hats_join = hats_join_rule::HatsJoinPruning::new(stars);
        rules.insert(after_spatial_join, Arc::new(hats_join));
        rules.push(Arc::new(large_constants::RefuseLargeConstants));
        // Row rules' filters and the query's: what crosses the barrier between them.
        let after_push_down = rules
            .iter()
            .position(|r| r.name() == "push_down_filter")
            .map_or(rules.len(), |i| i + 1);
        rules.insert(after_push_down, Arc::new(visible_rows::SafeFiltersBelow));
        if self.options.cluster.is_some() {
            rules.push(Arc::new(cluster_guard::RefuseKnownWrongPlans));
        }
        rules
    }

    /// The scalar subqueries over the catalogue tables' partition columns and exact column
    /// ranges that the manifest answers (`partition_scalars_rule`).
    fn partition_scalars(&self) -> partition_scalars_rule::PartitionScalars {
        let mut rule = partition_scalars_rule::PartitionScalars::default();
        if let Some(c) = &self.catalog {
            for (name, entry) in &c.manifest.tables {
                if let Ok(Some(url)) = tables::catalog_table_url(c, name) {
                    rule.add(url.to_string(), entry);
                }
            }
        }
        rule
    }

    /// What SQL a session accepts: everything, or only queries in read-only mode.
    pub fn sql_options(&self) -> SQLOptions {
        let writable = !self.options.read_only;
        SQLOptions::new()
            .with_allow_ddl(writable)
            .with_allow_dml(writable)
            .with_allow_statements(writable)
    }

    /// The session state: configuration, memory pool, spill directory, functions, rules.
    pub fn state(&self) -> Result<SessionState> {
        let mut config = SessionConfig::new();
        if let Some(n) = self.options.target_partitions {
            config = config.with_target_partitions(n);
        }
        let config = config
            // DataFusion's own catalogue views (settings included) stay out of read-only
            // sessions: the service publishes TAP_SCHEMA instead.
            .with_information_schema(!self.options.read_only)
            .with_parquet_pruning(true)
            .set_bool("datafusion.execution.parquet.pushdown_filters", true)
            // A join's keys reach the scan as a list (which `KeyListPages` turns into the
            // pages to read) up to 50,000 distinct keys, where DataFusion stops at 150.
            .set_usize(
                "datafusion.optimizer.hash_join_inlist_pushdown_max_distinct_values",
                JOIN_KEY_LIST_LIMIT,
            )
            .set_usize(
                "datafusion.optimizer.hash_join_inlist_pushdown_max_size",
                4 << 20,
            );
        // On a cluster, the plans sent to the scheduler carry the barrier between row
        // rules and queries.
        #[cfg(feature = "cluster")]
        let config = match self.options.cluster {
            Some(_) => {
                use ballista_core::extension::SessionConfigExt;
                config.with_ballista_logical_extension_codec(Arc::new(
                    visible_rows::plan_codec::BarrierCodec::default(),
                ))
            }
            None => config,
        };
        let mut runtime = RuntimeEnvBuilder::new()
            .with_object_store_registry(Arc::new(crate::object_stores::SessionStores::new()));
        if let Some(limit) = self.options.memory_limit {
            runtime = runtime.with_memory_pool(Arc::new(FairSpillPool::new(limit)));
        }
        let mut disk = DiskManagerBuilder::default();
        if let Some(dir) = &self.options.spill_dir {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create spill directory {}", dir.display()))?;
            disk = disk.with_mode(DiskManagerMode::Directories(vec![dir.clone()]));
        }
        if let Some(limit) = self.options.spill_limit {
            disk = disk.with_max_temp_directory_size(limit);
        }
        runtime = runtime.with_disk_manager_builder(disk);
        if self.options.one_query {
            runtime = runtime.with_cache_manager(Self::one_query_caches());
        }
        let runtime = runtime.build_arc()?;
        // Inside the catalogue's version directory, only the manifest's files exist.
        if let Some(catalog) = &self.catalog
            && let Some((store, url)) =
                manifest_store::ManifestStore::new(catalog, !self.options.unchecked_reads)?
        {
            runtime.register_object_store(&url, Arc::new(store));
        }
        let mut state = SessionStateBuilder::new()
            .with_config(config)
            .with_runtime_env(runtime)
            .with_default_features()
            .with_optimizer_rules(self.optimizer_rules());
        let scalars = self.partition_scalars();
        if !scalars.is_empty() {
            state = state.with_analyzer_rule(Arc::new(scalars));
        }
        // Embedded plans only: on a cluster the merged single pass would be one task, and
        // Ballista's plan codec does not carry the cooperative wrapper. (The barrier
        // between row rules and queries goes to the scheduler in the logical plan, which
        // it plans itself: `cluster::scheduler`.)
        if self.options.cluster.is_none() {
            state = state
                .with_query_planner(Arc::new(visible_rows::exec::BarrierQueryPlanner))
                .with_physical_optimizer_rule(Arc::new(visible_rows::exec::DropVisibleRows))
                .with_physical_optimizer_rule(Arc::new(SortedSamplesAggregate))
                .with_physical_optimizer_rule(Arc::new(CooperativeJoins))
                .with_physical_optimizer_rule(Arc::new(KeyListPages));
        }
        let mut state = state.build();
        // `||` and wrapped functions put in plans without their wrapper get the limits.
        datafusion::execution::FunctionRegistry::register_function_rewrite(
            &mut state,
            Arc::new(skyql_udfs::rules::BoundedValues::default()),
        )?;
        Ok(state)
    }

    /// DataFusion's caches for one query: without the file-listing cache, which lists
    /// the whole table directory (every field) on its first use, where a scan pruned to
    /// one field lists one directory.
    fn one_query_caches() -> CacheManagerConfig {
        CacheManagerConfig::default().with_list_files_cache_limit(0)
    }

    /// A session with the functions, the COPY formats (unless read-only), the catalogue's
    /// tables and the extra files; on the engine's cluster when it has one.
    pub async fn session(&self, extra: &[ExtraTable]) -> Result<SessionContext> {
        match &self.options.cluster {
            None => {
                let ctx = SessionContext::new_with_state(self.state()?);
                self.register(&ctx, extra).await?;
                Ok(ctx)
            }
            #[cfg(feature = "cluster")]
            Some(url) => self.cluster_session(url, extra).await,
            #[cfg(not(feature = "cluster"))]
            Some(_) => bail!("{NO_CLUSTER}"),
        }
    }

    /// A session whose queries run on a Ballista cluster (`df://HOST:PORT`): the same
    /// state, rules, functions and tables; the scheduler is asked first, so that an
    /// unreachable one is an error within seconds rather than a hang.
    #[cfg(feature = "cluster")]
    async fn cluster_session(&self, url: &str, extra: &[ExtraTable]) -> Result<SessionContext> {
        use ballista::extension::SessionContextExt;
        scheduler_address::check_scheduler(url).await?;
        let ctx = SessionContext::remote_with_state(url, self.state()?).await?;
        // Ballista gives the remote state its own function lists: ours go in after.
        self.register(&ctx, extra).await?;
        Ok(ctx)
    }

    /// Registers the functions, COPY formats, catalogue tables and extra files on `ctx`.
    async fn register(&self, ctx: &SessionContext, extra: &[ExtraTable]) -> Result<()> {
        for udf in self.scalar_functions() {
            ctx.register_udf(udf);
        }
        for udaf in self.aggregate_functions() {
            ctx.register_udaf(udaf);
        }
        // DataFusion's functions that build values far larger than their arguments, and
        // the `||` operator's, with a limit on what they build
        // (skyql_udfs::functions::bounded; the state's BoundedValues rewrite uses them).
        for udf in skyql_udfs::functions::bounded::bounded_functions() {
            ctx.register_udf(udf);
        }
        skyql_udfs::register_table_functions(ctx);
        if !self.options.read_only {
            crate::export::copy_format::register_copy_formats(ctx)?;
        }
        if let Some(catalog) = &self.catalog {
            tables::register_catalog(ctx, catalog, self.options.cluster.is_some())?;
        }
        for t in extra {
            if ctx.table_exist(t.name.as_str())? {
                bail!(
                    "--table {}: the catalogue has a table of that name; give the file another name",
                    t.name
                );
            }
            tables::register_file(
                ctx,
                &t.name,
                &t.path,
                self.options.cluster.is_some(),
                self.options.bad_lines,
            )
            .await?;
        }
        Ok(())
    }

    /// Plans `sql` in `ctx` under this engine's SQL options; a `COPY` into the
    /// catalogue directory is refused.
    pub async fn sql(&self, ctx: &SessionContext, sql: &str) -> Result<DataFrame> {
        // One parse for skyql's own checks; a statement the parser rejects is left to the
        // planner, whose error `user_error` words.
        if let Ok(statements) = datafusion::sql::parser::DFParser::parse_sql(sql) {
            let statements = Vec::from(statements);
            depth::check_statement_shape(&statements)?;
            let no_catalogue = self.catalog.is_none();
            if let Some(message) = user_error::unknown_table(ctx, &statements, no_catalogue) {
                bail!("{message}");
            }
        }
        let df = match ctx.sql_with_options(sql, self.sql_options()).await {
            Ok(df) => df,
            Err(e) => match user_error::planning_message(&e, sql) {
                Some(message) => bail!("{message}"),
                None => return Err(e.into()),
            },
        };
        if let (LogicalPlan::Copy(copy), Some(catalog)) = (df.logical_plan(), &self.catalog)
            && is_inside(Path::new(&copy.output_url), &catalog.dir)
        {
            bail!(
                "COPY TO '{}' is inside the catalogue {}: write results elsewhere",
                copy.output_url,
                catalog.dir.display()
            );
        }
        Ok(column_names::readable(df)?)
    }
}

/// The statements of `sql` (one, as written, unless it holds several separated by `;`).
pub fn split_statements(sql: &str) -> Vec<String> {
    match datafusion::sql::parser::DFParser::parse_sql(sql) {
        Ok(statements) if statements.len() > 1 => {
            statements.iter().map(|s| s.to_string()).collect()
        }
        _ => vec![sql.to_string()],
    }
}

/// The file a `COPY ... TO` statement writes, if the plan is one.
pub fn copy_target(df: &DataFrame) -> Option<PathBuf> {
    match df.logical_plan() {
        LogicalPlan::Copy(copy) => Some(PathBuf::from(
            copy.output_url
                .strip_prefix("file://")
                .unwrap_or(&copy.output_url),
        )),
        _ => None,
    }
}

/// Whether `path` is `dir` or lies inside it, after resolving links and `..` of the part
/// that exists (a file not yet created is judged by its directory).
pub fn is_inside(path: &Path, dir: &Path) -> bool {
    let Ok(dir) = dir.canonicalize() else {
        return false;
    };
    resolved(path).is_some_and(|p| p.starts_with(&dir))
}

/// `path` made absolute, its longest existing ancestor resolved (links and `..`), the rest
/// appended as given; none when no ancestor can be resolved.
fn resolved(path: &Path) -> Option<PathBuf> {
    let absolute = std::path::absolute(path).ok()?;
    let mut existing = absolute.as_path();
    let mut rest = Vec::new();
    while !existing.exists() {
        rest.push(existing.file_name()?.to_os_string());
        existing = existing.parent()?;
    }
    let mut out = existing.canonicalize().ok()?;
    out.extend(rest.iter().rev());
    Some(out)
}

/// Refuses an image output root where image functions could write over the catalogue:
/// the catalogue directory itself or anything inside it but `products/`, and, with
/// `--overwrite`, a directory that contains the catalogue.
fn check_output_root(root: &Path, catalog: &Path, overwrite: bool) -> Result<()> {
    let resolve = |p: &Path| resolved(p).unwrap_or_else(|| p.to_path_buf());
    let (root, catalog) = (resolve(root), resolve(catalog));
    let products = catalog.join("products");
    if root.starts_with(&catalog) && !root.starts_with(&products) {
        anyhow::bail!(
            "--output-root {} lies inside the catalogue {}: image functions could write over its files; give a directory outside it (or its products/, the default)",
            root.display(),
            catalog.display()
        );
    }
    if overwrite && catalog.starts_with(&root) {
        anyhow::bail!(
            "--output-root {} contains the catalogue {}: with --overwrite, image functions could replace its files; give a directory beside it",
            root.display(),
            catalog.display()
        );
    }
    Ok(())
}
