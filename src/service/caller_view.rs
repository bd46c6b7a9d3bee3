//! The catalogue as one caller may see it: without the tables the read grants keep from
//! them (docs/ACCESS.md, "Read grants").
//!
//! A [`CallerView`] is a session whose catalogue list answers as if the hidden tables
//! did not exist: their names are not listed, not resolved, not offered as a "did you
//! mean" hint, and TAP_SCHEMA and the VOSI documents describe only the others. The table
//! a hidden published table is a view of (`images` for `eros2.images`) is hidden under
//! every name, and a visible view that reads it (`ivoa.obscore`) reads no row of it:
//! [`crate::access::RowFilter::hiding_tables`] turns those scans into empty relations. A hidden view of
//! several tables hides its own name only. Views are built once per snapshot for each set of hidden tables.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use anyhow::Result;
use async_trait::async_trait;
use datafusion::catalog::{CatalogProvider, MemorySchemaProvider, SchemaProvider, TableProvider};
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::datasource::{MemTable, source_as_provider};
use datafusion::execution::SessionStateBuilder;
use datafusion::logical_expr::LogicalPlan;
use datafusion::prelude::SessionContext;

use super::default_catalog::WrappedDefault;
use super::table_sources::ConeColumns;
use super::tap_schema::{self, PublishedTable};
use super::vosi;
use crate::access::row_filter::provider_address;

/// What one caller sees of a snapshot.
pub struct CallerView {
    /// The session their queries are planned in.
    pub ctx: SessionContext,
    /// With `--cluster`: the cluster's session, hiding the same tables.
    pub cluster: Option<SessionContext>,
    /// The capabilities, tableset and table documents they may read.
    pub documents: Arc<vosi::Documents>,
    /// The providers of the hidden tables in both sessions
    /// ([`crate::access::RowFilter::hiding_tables`]).
    pub hidden_tables: Arc<HashSet<usize>>,
    /// The published tables hidden from them (`schema.table`, lower case).
    pub hidden: Vec<String>,
    /// The tables with a cone search they may read.
    pub cones: Vec<(String, ConeColumns)>,
}

impl CallerView {
    /// Whether the published table `schema.table` is hidden.
    pub fn hides(&self, qualified: &str) -> bool {
        self.hidden
            .iter()
            .any(|h| h.eq_ignore_ascii_case(qualified))
    }
}

/// What a view with hidden tables is built from: the snapshot's parts.
pub struct ViewSource<'a> {
    /// The service's session.
    pub ctx: &'a SessionContext,
    /// The cluster's session.
    pub cluster: Option<&'a SessionContext>,
    /// The catalogue's published schema.
    pub schema: &'a str,
    /// Every published table (the catalogue's, then those beside it).
    pub published: &'a [PublishedTable],
    /// The tables published beside the catalogue and `ivoa.obscore`.
    pub extra: &'a [PublishedTable],
    /// Every table with a cone search.
    pub cones: &'a [(String, ConeColumns)],
    /// The base URL clients use.
    pub base_url: &'a str,
    /// The service's configuration.
    pub config: &'a super::config::ServiceConfig,
}

/// Builds the view hiding `hidden` (published names, lower case).
pub async fn build(source: &ViewSource<'_>, hidden: Vec<String>) -> Result<CallerView> {
    let visible = |t: &PublishedTable| !hidden.contains(&t.qualified().to_ascii_lowercase());
    let published: Vec<PublishedTable> = source
        .published
        .iter()
        .filter(|t| visible(t))
        .cloned()
        .collect();
    let extra: Vec<PublishedTable> = source
        .extra
        .iter()
        .filter(|t| visible(t))
        .cloned()
        .collect();
    let mut addresses = HashSet::new();
    let ctx = hiding_session(
        source.ctx,
        &hidden,
        source.schema,
        &published,
        &mut addresses,
    )
    .await?;
    let cluster = match source.cluster {
        Some(c) => {
            Some(hiding_session(c, &hidden, source.schema, &published, &mut addresses).await?)
        }
        None => None,
    };
    let documents =
        vosi::Documents::render(&ctx, source.schema, &extra, source.base_url, source.config)
            .await?;
    let cones = source
        .cones
        .iter()
        .filter(|(name, _)| !hidden.contains(&name.to_ascii_lowercase()))
        .cloned()
        .collect();
    Ok(CallerView {
        ctx,
        cluster,
        documents: Arc::new(documents),
        hidden_tables: Arc::new(addresses),
        hidden,
        cones,
    })
}

/// A session like `ctx` without the tables `hidden` names, nor those they read; adds
/// the providers it hides to `addresses`.
async fn hiding_session(
    ctx: &SessionContext,
    hidden: &[String],
    schema: &str,
    published: &[PublishedTable],
    addresses: &mut HashSet<usize>,
) -> Result<SessionContext> {
    let state = ctx.state();
    let default_catalog = state.config().options().catalog.default_catalog.clone();
    let mut here = HashSet::new();
    for name in hidden {
        // A table published only in the service's session (`ivoa.obscore`, the tables
        // beside the catalogue) is not in the cluster's.
        if let Ok(provider) = ctx.table_provider(name.as_str()).await {
            // A published table that reads one table (`eros2.images` reads `images`) is
            // that table: its rows are hidden wherever they are read. A view of several
            // (`ivoa.obscore`) hides its name only, not the tables others may read.
            let mut read = HashSet::new();
            read_by(&provider, &mut read);
            if read.len() == 1 {
                here.extend(read);
            }
        }
    }
    // Every name of the default catalogue that is hidden or reads a hidden provider
    // directly (`images` for `eros2.images`).
    let mut names: HashMap<String, HashSet<String>> = HashMap::new();
    if let Some(catalog) = ctx.catalog(&default_catalog) {
        for schema_name in catalog.schema_names() {
            let Some(provider) = catalog.schema(&schema_name) else {
                continue;
            };
            for table in provider.table_names() {
                let qualified = format!("{schema_name}.{table}").to_ascii_lowercase();
                let hide = hidden.contains(&qualified)
                    || provider
                        .table(&table)
                        .await?
                        .is_some_and(|p| here.contains(&provider_address(&p)));
                if hide {
                    names.entry(schema_name.clone()).or_default().insert(table);
                }
            }
        }
    }
    let tap = Arc::new(MemorySchemaProvider::new());
    for (name, batch) in tap_schema::tap_schema_batches(schema, published)? {
        let table = MemTable::try_new(batch.schema(), vec![vec![batch]])?;
        tap.register_table(name, Arc::new(table))?;
    }
    addresses.extend(here);
    let hidden = Arc::new(names);
    let list = Arc::new(WrappedDefault::new(
        Arc::clone(state.catalog_list()),
        default_catalog,
        move |shared| {
            Arc::new(HidingCatalog {
                shared,
                hidden: Arc::clone(&hidden),
                tap_schema: Arc::clone(&tap),
            })
        },
    ));
    let state = SessionStateBuilder::new_from_existing(state)
        .with_catalog_list(list)
        .build();
    Ok(SessionContext::new_with_state(state))
}

/// Adds the providers `provider` reads to `out`: itself, or the tables a view scans
/// (views within it followed).
fn read_by(provider: &Arc<dyn TableProvider>, out: &mut HashSet<usize>) {
    let Some(plan) = provider.get_logical_plan() else {
        out.insert(provider_address(provider));
        return;
    };
    let _ = plan.apply_with_subqueries(|node| {
        if let LogicalPlan::TableScan(scan) = node
            && let Ok(inner) = source_as_provider(&scan.source)
        {
            read_by(&inner, out);
        }
        Ok(TreeNodeRecursion::Continue)
    });
}

/// The default catalogue without the hidden tables, and with the visible tables' own
/// TAP_SCHEMA.
#[derive(Debug)]
struct HidingCatalog {
    shared: Arc<dyn CatalogProvider>,
    hidden: Arc<HashMap<String, HashSet<String>>>,
    tap_schema: Arc<MemorySchemaProvider>,
}

impl HidingCatalog {
    /// Whether every table of the schema `name` is hidden (the schema then is too).
    fn all_hidden(&self, name: &str, schema: &dyn SchemaProvider) -> bool {
        self.hidden
            .get(name)
            .is_some_and(|h| schema.table_names().iter().all(|t| h.contains(t)))
    }
}

impl CatalogProvider for HidingCatalog {
    fn schema_names(&self) -> Vec<String> {
        self.shared
            .schema_names()
            .into_iter()
            .filter(|s| {
                self.shared
                    .schema(s)
                    .is_some_and(|p| !self.all_hidden(s, p.as_ref()))
            })
            .collect()
    }

    fn schema(&self, name: &str) -> Option<Arc<dyn SchemaProvider>> {
        if name == "tap_schema" {
            return Some(Arc::clone(&self.tap_schema) as Arc<dyn SchemaProvider>);
        }
        let shared = self.shared.schema(name)?;
        match self.hidden.get(name) {
            None => Some(shared),
            Some(_) if self.all_hidden(name, shared.as_ref()) => None,
            Some(hidden) => Some(Arc::new(HidingSchema {
                shared,
                hidden: hidden.clone(),
            })),
        }
    }
}

#[derive(Debug)]
struct HidingSchema {
    shared: Arc<dyn SchemaProvider>,
    hidden: HashSet<String>,
}

#[async_trait]
impl SchemaProvider for HidingSchema {
    fn table_names(&self) -> Vec<String> {
        self.shared
            .table_names()
            .into_iter()
            .filter(|t| !self.hidden.contains(t))
            .collect()
    }

    async fn table(&self, name: &str) -> datafusion::error::Result<Option<Arc<dyn TableProvider>>> {
        if self.hidden.contains(name) {
            return Ok(None);
        }
        self.shared.table(name).await
    }

    fn table_exist(&self, name: &str) -> bool {
        !self.hidden.contains(name) && self.shared.table_exist(name)
    }
}
