//! Files between the local disk and an object store, for the writers that put what they
//! wrote in a scratch directory (`skyql hats export --out s3://`, `skyql ingest --catalog
//! s3://`): keys under a prefix, create-only puts (their locks and commit files), and
//! streamed puts and gets of data files.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result};
use futures::StreamExt;
use object_store::path::Path as StorePath;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};
use tokio::io::AsyncWriteExt;

/// The key of `relative` (`/`-separated) under `prefix`.
pub fn key_at(prefix: &StorePath, relative: &str) -> StorePath {
    relative
        .split('/')
        .filter(|p| !p.is_empty())
        .fold(prefix.clone(), |key, part| key.join(part))
}

/// Puts `payload` at `key` only if nothing is there (`If-None-Match: *`): whether it was
/// put (false: something was there).
pub async fn put_if_absent(
    store: &Arc<dyn ObjectStore>,
    key: &StorePath,
    payload: PutPayload,
) -> Result<bool> {
    match store
        .put_opts(key, payload, PutOptions::from(PutMode::Create))
        .await
    {
        Ok(_) => Ok(true),
        Err(
            object_store::Error::AlreadyExists { .. } | object_store::Error::Precondition { .. },
        ) => Ok(false),
        Err(e) => Err(anyhow::anyhow!("cannot put {key}: {e}")),
    }
}

/// Puts the small local file `file` at `key` in one request, with `options`.
pub async fn put_small(
    store: &Arc<dyn ObjectStore>,
    file: &Path,
    key: &StorePath,
    options: PutOptions,
) -> Result<()> {
    let bytes = tokio::fs::read(file)
        .await
        .with_context(|| format!("cannot read {}", file.display()))?;
    store
        .put_opts(key, PutPayload::from(bytes), options)
        .await
        .map_err(|e| anyhow::anyhow!("cannot put {key}: {e}"))?;
    Ok(())
}

/// Puts the local file `file` at `key`, streamed (a multipart upload for large files).
pub async fn put_streamed(
    store: &Arc<dyn ObjectStore>,
    file: &Path,
    key: &StorePath,
) -> Result<()> {
    let mut input = tokio::fs::File::open(file)
        .await
        .with_context(|| format!("cannot read {}", file.display()))?;
    let mut writer = object_store::buffered::BufWriter::new(Arc::clone(store), key.clone());
    tokio::io::copy(&mut input, &mut writer)
        .await
        .with_context(|| format!("cannot put {key}"))?;
    writer
        .shutdown()
        .await
        .with_context(|| format!("cannot put {key}"))?;
    Ok(())
}

/// Reads the object `key` into the new local file `to` (its directories made), streamed.
pub async fn get_streamed(store: &Arc<dyn ObjectStore>, key: &StorePath, to: &Path) -> Result<()> {
    if let Some(parent) = to.parent() {
        tokio::fs::create_dir_all(parent)
            .await
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    let got = store
        .get(key)
        .await
        .map_err(|e| anyhow::anyhow!("cannot read {key}: {e}"))?;
    let mut out = tokio::fs::File::create(to)
        .await
        .with_context(|| format!("cannot write {}", to.display()))?;
    let mut stream = got.into_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| anyhow::anyhow!("cannot read {key}: {e}"))?;
        out.write_all(&chunk)
            .await
            .with_context(|| format!("cannot write {}", to.display()))?;
    }
    out.flush().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_join_parts_under_the_prefix() {
        let prefix = StorePath::from("catalogues/eros2");
        assert_eq!(
            key_at(&prefix, "v000002/stars/field=lm001/part-000002.parquet").as_ref(),
            "catalogues/eros2/v000002/stars/field=lm001/part-000002.parquet"
        );
        assert_eq!(
            key_at(&prefix, "/.write.lock/").as_ref(),
            "catalogues/eros2/.write.lock"
        );
        assert_eq!(key_at(&StorePath::from(""), "a/b").as_ref(), "a/b");
    }
}
