//! A catalogue list that is the shared one with its default catalogue seen through a
//! wrapper: how one query's session adds its uploads (`upload_schema`) or leaves out
//! the tables hidden from its caller (`caller_view`) without changing the shared
//! session other queries run in.

use std::fmt;
use std::sync::Arc;

use datafusion::catalog::{CatalogProvider, CatalogProviderList};

/// Turns the shared default catalogue into the one a session sees.
pub type Wrap = dyn Fn(Arc<dyn CatalogProvider>) -> Arc<dyn CatalogProvider> + Send + Sync;

/// The shared catalogue list, its default catalogue wrapped.
pub struct WrappedDefault {
    shared: Arc<dyn CatalogProviderList>,
    default: String,
    wrap: Box<Wrap>,
}

impl WrappedDefault {
    /// `shared`, with the catalogue `default` seen through `wrap`.
    pub fn new(
        shared: Arc<dyn CatalogProviderList>,
        default: String,
        wrap: impl Fn(Arc<dyn CatalogProvider>) -> Arc<dyn CatalogProvider> + Send + Sync + 'static,
    ) -> WrappedDefault {
        WrappedDefault {
            shared,
            default,
            wrap: Box::new(wrap),
        }
    }
}

impl fmt::Debug for WrappedDefault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WrappedDefault")
            .field("default", &self.default)
            .finish_non_exhaustive()
    }
}

impl CatalogProviderList for WrappedDefault {
    fn register_catalog(
        &self,
        _name: String,
        _catalog: Arc<dyn CatalogProvider>,
    ) -> Option<Arc<dyn CatalogProvider>> {
        // A query's session registers no catalogue (the service is read-only).
        None
    }

    fn catalog_names(&self) -> Vec<String> {
        self.shared.catalog_names()
    }

    fn catalog(&self, name: &str) -> Option<Arc<dyn CatalogProvider>> {
        let shared = self.shared.catalog(name)?;
        if name != self.default {
            return Some(shared);
        }
        Some((self.wrap)(shared))
    }
}
