//! The service follows the catalogue: each query runs on one snapshot of it (a version
//! leased from the writers, its engine, session, TAP_SCHEMA, VOSI documents and cone
//! path), and a new snapshot is built when an ingest publishes a new version.
//!
//! Every request compares the manifest's identity (inode, size, modification time: one
//! `stat`) with its snapshot's; when they differ, the first request builds the snapshot of
//! the new version while the others wait for it, then every request takes the new one.
//! A query keeps the snapshot it started with to its end, and that snapshot's lease keeps
//! its version's directory on disk ([`crate::catalog::lease`]): a query that started on
//! version N finishes on N, new queries see N+1, none answers from a mixture.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use anyhow::{Context, Result};
use datafusion::execution::SessionState;
use datafusion::prelude::SessionContext;

use super::caller_view::{self, CallerView, ViewSource};
use super::cone_path::ConePath;
use super::config::ServiceConfig;
use super::image_index::ImageIndex;
use super::lightcurve_path::LightCurvePath;
use super::reference_images::ReferenceImages;
use super::star_path::StarPath;
use super::table_files::TableFiles;
use super::table_sources::{self, ConeColumns, TableSource};
use super::tap_schema::PublishedTable;
use super::{obscore, tap_schema, vosi};
use crate::access::table_grants::HiddenTables;
use crate::catalog::lease::{ManifestStamp, VersionLease};
use crate::engine::{Engine, EngineOptions};

/// The catalogue as one version of it is served.
pub struct Snapshot {
    /// The engine (read-only) on the leased version.
    pub engine: Engine,
    /// The session every query of this version runs in.
    pub ctx: SessionContext,
    /// That session's state, for expressions planned outside a query (the row rules of
    /// the fixed cone plan).
    pub state: Arc<SessionState>,
    /// The schema the catalogue's tables are published under (the survey's name).
    pub schema: String,
    /// Cones without SQL planning: on the stars, when the manifest allows, and on the
    /// HATS tables published from a local disk.
    pub cone_paths: Vec<ConePath>,
    /// One star by its id without SQL planning, when the manifest allows.
    pub star_path: Option<StarPath>,
    /// One star's light curve without SQL planning.
    pub lightcurve_path: Option<LightCurvePath>,
    /// The reference images of each field, CCD and quarter.
    pub references: ReferenceImages,
    /// Every image by file name, read on the first lookup ([`Snapshot::images`]).
    images: tokio::sync::OnceCell<ImageIndex>,
    /// With `--cluster`: the engine and session whose queries run on the cluster.
    pub cluster: Option<(Engine, SessionContext)>,
    /// The catalogue version.
    pub version: u64,
    /// Where the release's public images are, when the configuration says
    /// (`public_images_dir`; else `products/public` in the catalogue).
    pub public_images_dir: Option<PathBuf>,
    /// The publisher DIDs of this catalogue without their local id
    /// (`ivo://AUTHORITY/SCHEMA?`).
    pub did_prefix: String,
    /// The tables published beside the catalogue with a position: their qualified
    /// names and cone search columns.
    pub cones: Vec<(String, ConeColumns)>,
    /// With `ivoa.obscore`: the largest distance from a row's position to its region, in
    /// degrees, which region searches widen their position test by.
    pub obscore_margin: Option<f64>,
    /// Every published table (the catalogue's, then `extra`).
    published: Vec<PublishedTable>,
    /// `ivoa.obscore` and the tables published beside the catalogue.
    extra: Vec<PublishedTable>,
    /// What this snapshot was built from (for the views of callers with hidden tables).
    base_url: String,
    config: ServiceConfig,
    /// The view of callers from whom no table is hidden.
    full: Arc<CallerView>,
    /// The views of callers with hidden tables, by the tables hidden.
    views: std::sync::Mutex<HashMap<Vec<String>, Arc<CallerView>>>,
    stamp: ManifestStamp,
    _lease: VersionLease,
}

/// Views with hidden tables kept per snapshot at most (one per combination of grants a
/// caller holds; beyond, a view is built for its request and not kept).
const VIEWS_KEPT: usize = 64;

/// What a snapshot is built from.
#[derive(Debug, Clone)]
pub struct Source {
    /// The catalogue directory.
    pub catalog: PathBuf,
    /// The service's limits.
    pub config: ServiceConfig,
    /// The base URL clients use.
    pub base_url: String,
    /// A Ballista cluster for the catalogue's queries.
    pub cluster: Option<String>,
    /// The tables published beside the catalogue.
    pub tables: Vec<TableSource>,
}

impl Snapshot {
    /// The snapshot of the version the catalogue's manifest names now.
    pub async fn build(source: &Source) -> Result<Snapshot> {
        let before = ManifestStamp::of(&source.catalog);
        let (catalog, lease) = VersionLease::open(&source.catalog)?;
        let stamp = ManifestStamp::opened(&catalog, before);
        let version = catalog.manifest.version;
        let engine = Engine::new(
            Some(catalog),
            // No pool of its own: each query runs with its pool in front of the
            // service's (`query_memory`).
            EngineOptions {
                read_only: true,
                ..EngineOptions::default()
            },
        )?;
        let ctx = engine.session(&[]).await?;
        let schema = tap_schema::schema_name(&engine);
        let did_prefix = source.config.did_prefix(&schema);
        let obscore = obscore::register(
            &ctx,
            &engine.catalog().context("no catalogue")?.manifest,
            &did_prefix,
            &source.base_url,
        )
        .await?;
        let sources = table_sources::register(&ctx, &source.tables).await?;
        let hats_tables: Vec<_> = sources
            .iter()
            .filter_map(|s| Some((s.published.qualified(), s.hats.clone()?)))
            .collect();
        let extra: Vec<_> = obscore
            .iter()
            .map(|o| o.published.clone())
            .chain(sources.iter().map(|s| s.published.clone()))
            .collect();
        let catalogue = tap_schema::register(&ctx, &engine, &schema, &extra).await?;
        // Cone searches: the tables published beside the catalogue, and the catalogue's
        // own tables ingested from files (`stars` has its own).
        let cones: Vec<(String, ConeColumns)> = catalogue
            .iter()
            .filter(|t| !crate::schema::TABLES.contains(&t.name.as_str()))
            .filter_map(|t| Some((t.qualified(), ConeColumns::find(&t.columns)?)))
            .chain(
                sources
                    .into_iter()
                    .filter_map(|s| Some((s.published.qualified(), s.cone?))),
            )
            .collect();
        let cluster = match &source.cluster {
            None => None,
            Some(url) => {
                let remote = Engine::open(
                    Some(&source.catalog),
                    EngineOptions {
                        read_only: true,
                        cluster: Some(url.clone()),
                        ..EngineOptions::default()
                    },
                )?;
                let remote_ctx = remote.session(&[]).await?;
                // `ivoa.obscore` stays in the service's session: its light curves' rows
                // read an in-memory table, so its queries run here (`plan`).
                tap_schema::register(&remote_ctx, &remote, &schema, &extra).await?;
                Some((remote, remote_ctx))
            }
        };
        let documents = Arc::new(
            vosi::Documents::render(&ctx, &schema, &extra, &source.base_url, &source.config)
                .await?,
        );
        let published: Vec<PublishedTable> =
            catalogue.iter().chain(extra.iter()).cloned().collect();
        let full = Arc::new(CallerView {
            ctx: ctx.clone(),
            cluster: cluster.as_ref().map(|(_, c)| c.clone()),
            documents,
            hidden_tables: Arc::default(),
            hidden: Vec::new(),
            cones: cones.clone(),
        });
        let stars = TableFiles::stars(&engine, &ctx, &schema)
            .await
            .map(Arc::new);
        let mut cone_paths: Vec<ConePath> =
            stars.clone().map(ConePath::stars).into_iter().collect();
        for (name, hats) in &hats_tables {
            if let Some(files) = TableFiles::hats(&ctx, name, hats).await {
                cone_paths.push(ConePath::hats(files, hats.position.clone()));
            }
        }
        let star_path = stars.map(StarPath::new);
        let lightcurve_path = LightCurvePath::new(&engine, &ctx).await;
        let references = ReferenceImages::read(&ctx).await?;
        // The stamp read before the manifest: if a write came between, the next request
        // sees a difference and builds again.
        Ok(Snapshot {
            engine,
            state: Arc::new(ctx.state()),
            ctx,
            schema,
            cone_paths,
            star_path,
            lightcurve_path,
            references,
            images: tokio::sync::OnceCell::new(),
            cluster,
            version,
            obscore_margin: obscore.map(|o| o.margin_deg),
            cones,
            did_prefix,
            public_images_dir: source.config.public_images_dir.clone(),
            published,
            extra,
            base_url: source.base_url.clone(),
            config: source.config.clone(),
            full,
            views: std::sync::Mutex::new(HashMap::new()),
            stamp: stamp.context("the catalogue has no manifest")?,
            _lease: lease,
        })
    }
}

impl Snapshot {
    /// What a caller may see of this version: everything, or a view without the tables
    /// the read grants keep from them (built on the first request of each set of hidden
    /// tables).
    pub async fn view(&self, tables: &HiddenTables) -> Result<Arc<CallerView>> {
        if tables.is_empty() {
            return Ok(Arc::clone(&self.full));
        }
        let mut hidden: Vec<String> = self
            .published
            .iter()
            .filter(|t| tables.hides(&t.schema, &t.name))
            .map(|t| t.qualified().to_ascii_lowercase())
            .collect();
        hidden.sort();
        if hidden.is_empty() {
            return Ok(Arc::clone(&self.full));
        }
        if let Some(v) = self.kept_views().get(&hidden) {
            return Ok(Arc::clone(v));
        }
        let source = ViewSource {
            ctx: &self.ctx,
            cluster: self.cluster.as_ref().map(|(_, c)| c),
            schema: &self.schema,
            published: &self.published,
            extra: &self.extra,
            cones: &self.cones,
            base_url: &self.base_url,
            config: &self.config,
        };
        let view = Arc::new(caller_view::build(&source, hidden.clone()).await?);
        let mut kept = self.kept_views();
        if kept.len() < VIEWS_KEPT {
            kept.insert(hidden, Arc::clone(&view));
        }
        Ok(view)
    }

    fn kept_views(&self) -> std::sync::MutexGuard<'_, HashMap<Vec<String>, Arc<CallerView>>> {
        self.views.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The fixed cone plan of the table `name` (qualified, lower case), when it has one.
    pub fn cone_path(&self, name: &str) -> Option<&ConePath> {
        self.cone_paths.iter().find(|p| p.name() == name)
    }

    /// Every image of this version by file name (read on the first call).
    pub async fn images(&self) -> Result<&ImageIndex> {
        self.images
            .get_or_try_init(|| ImageIndex::read(&self.ctx))
            .await
    }
}

/// The current snapshot, and its replacement when the catalogue changes.
pub struct Versions {
    source: RwLock<Source>,
    current: RwLock<Arc<Snapshot>>,
    rebuilding: tokio::sync::Mutex<()>,
    /// For a remote catalogue: when its manifest was last asked for, and what it was.
    remote_stamp: std::sync::Mutex<Option<(std::time::Instant, Option<ManifestStamp>)>>,
}

/// How long a remote manifest's stamp is trusted before it is asked for again (one
/// `HEAD` request at most per interval, not one per request).
const REMOTE_STAMP_INTERVAL: std::time::Duration = std::time::Duration::from_secs(1);

impl Versions {
    /// Starts on the catalogue's current version.
    pub async fn open(source: Source) -> Result<Versions> {
        let first = Snapshot::build(&source).await?;
        Ok(Versions {
            source: RwLock::new(source),
            current: RwLock::new(Arc::new(first)),
            rebuilding: tokio::sync::Mutex::new(()),
            remote_stamp: std::sync::Mutex::new(None),
        })
    }

    /// The ObsCore region margin of the snapshot held now (a query parsed now runs on
    /// it, or on a later version of the same survey, whose CCDs have the same size).
    pub fn obscore_margin(&self) -> Option<f64> {
        self.held().obscore_margin
    }

    fn source(&self) -> Source {
        match self.source.read() {
            Ok(s) => s.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Publishes `tables` from now on (SIGHUP): a snapshot with them is built at once and
    /// replaces the held one; queries running keep the one they started on. When the
    /// tables cannot be read, nothing changes and the reason is returned.
    pub async fn reload(&self, tables: Vec<TableSource>) -> Result<u64> {
        let _one_builder = self.rebuilding.lock().await;
        let mut source = self.source();
        source.tables = tables;
        let next = Arc::new(Snapshot::build(&source).await?);
        let version = next.version;
        match self.source.write() {
            Ok(mut s) => *s = source,
            Err(poisoned) => *poisoned.into_inner() = source,
        }
        match self.current.write() {
            Ok(mut c) => *c = next,
            Err(poisoned) => *poisoned.into_inner() = next,
        }
        Ok(version)
    }

    fn held(&self) -> Arc<Snapshot> {
        match self.current.read() {
            Ok(s) => Arc::clone(&s),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// The catalogue's manifest stamp: a `stat` for a local catalogue, a `HEAD` at most
    /// once per [`REMOTE_STAMP_INTERVAL`] for a remote one.
    async fn stamp(&self, catalog: &std::path::Path) -> Option<ManifestStamp> {
        if !crate::object_stores::is_remote(catalog) {
            return ManifestStamp::of(catalog);
        }
        let recent = |s: &Option<(std::time::Instant, Option<ManifestStamp>)>| {
            s.as_ref()
                .filter(|(at, _)| at.elapsed() < REMOTE_STAMP_INTERVAL)
                .map(|(_, stamp)| stamp.clone())
        };
        if let Some(stamp) = recent(&self.remote_stamp.lock().unwrap_or_else(|e| e.into_inner())) {
            return stamp;
        }
        let stamp = ManifestStamp::now(catalog).await;
        *self.remote_stamp.lock().unwrap_or_else(|e| e.into_inner()) =
            Some((std::time::Instant::now(), stamp.clone()));
        stamp
    }

    /// The snapshot of the catalogue as it is now: the held one while the manifest is
    /// the same, else a new one (built by the first request to see the change; the others
    /// wait for it). If the new version cannot be opened, the held one goes on serving and
    /// the reason is logged.
    pub async fn current(&self) -> Arc<Snapshot> {
        let held = self.held();
        let catalog = self.source().catalog;
        if self.stamp(&catalog).await.as_ref() == Some(&held.stamp) {
            return held;
        }
        let _one_builder = self.rebuilding.lock().await;
        let held = self.held();
        let now = self.stamp(&catalog).await;
        if now.as_ref() == Some(&held.stamp) || now.is_none() {
            return held;
        }
        match Snapshot::build(&self.source()).await {
            Ok(next) => {
                println!(
                    "skyql serve: catalogue version {} (was {})",
                    next.version, held.version
                );
                let next = Arc::new(next);
                match self.current.write() {
                    Ok(mut c) => *c = Arc::clone(&next),
                    Err(poisoned) => *poisoned.into_inner() = Arc::clone(&next),
                }
                next
            }
            Err(e) => {
                eprintln!(
                    "skyql serve: the catalogue changed but cannot be opened ({e:#}); still serving version {}",
                    held.version
                );
                held
            }
        }
    }
}
