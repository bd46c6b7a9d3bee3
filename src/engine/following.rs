//! A session that follows the catalogue across ingests, for a reader that lives longer
//! than one statement (`skyql shell`): it holds a lease on the version it reads, so an
//! ingest meanwhile never removes the files under it, and before each statement it
//! compares the manifest's stamp with its version's; when an ingest has published, it
//! opens the new version (leased) and lets the old one go. A statement runs on one
//! version from its start to its end. The service does the same per request, with more
//! built per version (`service::snapshot`).

use std::path::PathBuf;

use anyhow::Result;
use datafusion::prelude::SessionContext;

use super::{Engine, EngineOptions, ExtraTable};
use crate::catalog::lease::{ManifestStamp, VersionLease};

/// The engine and session of the catalogue's current version.
pub struct FollowingSession {
    dir: Option<PathBuf>,
    options: EngineOptions,
    extra: Vec<ExtraTable>,
    engine: Engine,
    ctx: SessionContext,
    stamp: Option<ManifestStamp>,
    _lease: Option<VersionLease>,
}

impl FollowingSession {
    /// A session on the catalogue at `dir` (or on none), with the extra tables.
    pub async fn open(
        dir: Option<PathBuf>,
        options: EngineOptions,
        extra: Vec<ExtraTable>,
    ) -> Result<Self> {
        let (engine, ctx, stamp, lease) = Self::build(dir.as_ref(), &options, &extra).await?;
        Ok(FollowingSession {
            dir,
            options,
            extra,
            engine,
            ctx,
            stamp,
            _lease: lease,
        })
    }

    async fn build(
        dir: Option<&PathBuf>,
        options: &EngineOptions,
        extra: &[ExtraTable],
    ) -> Result<(
        Engine,
        SessionContext,
        Option<ManifestStamp>,
        Option<VersionLease>,
    )> {
        // The stamp is read before the manifest: a write between the two is seen as a
        // change at the next statement.
        let before = dir.and_then(|d| ManifestStamp::of(d));
        let (catalog, lease) = match dir {
            Some(d) => {
                let (c, l) = VersionLease::open(d)?;
                (Some(c), Some(l))
            }
            None => (None, None),
        };
        let stamp = catalog
            .as_ref()
            .and_then(|c| ManifestStamp::opened(c, before));
        let engine = Engine::new(catalog, options.clone())?;
        let ctx = engine.session(extra).await?;
        Ok((engine, ctx, stamp, lease))
    }

    /// Opens the version an ingest published since the last call, if one did: its number
    /// then. If it cannot be opened, the session stays on its version and says why.
    pub async fn follow(&mut self) -> Result<Option<u64>> {
        let Some(dir) = &self.dir else {
            return Ok(None);
        };
        if ManifestStamp::now(dir).await == self.stamp {
            return Ok(None);
        }
        let (engine, ctx, stamp, lease) =
            Self::build(Some(dir), &self.options, &self.extra).await?;
        let version = engine.catalog().map(|c| c.manifest.version);
        (self.engine, self.ctx, self.stamp, self._lease) = (engine, ctx, stamp, lease);
        Ok(version)
    }

    /// The engine of the version followed.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The `--table` files every version's session has.
    pub fn extra(&self) -> &[ExtraTable] {
        &self.extra
    }

    /// The session of the version followed.
    pub fn ctx(&self) -> &SessionContext {
        &self.ctx
    }
}
