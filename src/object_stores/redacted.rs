//! An object store whose errors never carry its credentials. An S3 server's error
//! answers can quote the access key (`InvalidAccessKeyId`, the signed request of a
//! `SignatureDoesNotMatch`), and an error travels to logs, terminals and HTTP clients;
//! here every error's text has the key, the secret and the session token replaced by
//! `***` before it leaves the store, keeping its kind (not found, precondition, ...).

use std::fmt;
use std::ops::Range;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::{BoxStream, StreamExt};
use object_store::path::Path;
use object_store::{
    CopyOptions, Error, GetOptions, GetResult, GetResultPayload, ListResult, MultipartUpload,
    ObjectMeta, ObjectStore, PutMultipartOptions, PutOptions, PutPayload, PutResult, Result,
    UploadPart,
};

/// A store with its secrets kept out of its errors.
#[derive(Debug)]
pub struct RedactedStore {
    inner: Arc<dyn ObjectStore>,
    secrets: Arc<Secrets>,
}

/// The strings no error may show.
struct Secrets(Vec<String>);

impl fmt::Debug for Secrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secrets({} hidden)", self.0.len())
    }
}

impl Secrets {
    fn hide(&self, text: String) -> String {
        self.0
            .iter()
            .filter(|s| !s.is_empty())
            .fold(text, |t, s| t.replace(s.as_str(), "***"))
    }

    /// The error with its text redacted; its kind kept.
    fn error(&self, error: Error) -> Error {
        type Source = Box<dyn std::error::Error + Send + Sync>;
        let hide = |source: Source| -> Source { self.hide(source.to_string()).into() };
        match error {
            Error::NotFound { path, source } => Error::NotFound {
                path: self.hide(path),
                source: hide(source),
            },
            Error::AlreadyExists { path, source } => Error::AlreadyExists {
                path: self.hide(path),
                source: hide(source),
            },
            Error::Precondition { path, source } => Error::Precondition {
                path: self.hide(path),
                source: hide(source),
            },
            Error::NotModified { path, source } => Error::NotModified {
                path: self.hide(path),
                source: hide(source),
            },
            Error::PermissionDenied { path, source } => Error::PermissionDenied {
                path: self.hide(path),
                source: hide(source),
            },
            Error::Unauthenticated { path, source } => Error::Unauthenticated {
                path: self.hide(path),
                source: hide(source),
            },
            Error::Generic { store, source } => Error::Generic {
                store,
                source: hide(source),
            },
            other => Error::Generic {
                store: "object store",
                source: self.hide(other.to_string()).into(),
            },
        }
    }
}

impl RedactedStore {
    /// `inner`, whose errors will not show any of `secrets`.
    pub fn new(inner: Arc<dyn ObjectStore>, secrets: Vec<String>) -> RedactedStore {
        RedactedStore {
            inner,
            secrets: Arc::new(Secrets(secrets)),
        }
    }

    fn hidden<T>(&self, result: Result<T>) -> Result<T> {
        result.map_err(|e| self.secrets.error(e))
    }
}

impl fmt::Display for RedactedStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.inner)
    }
}

#[async_trait]
impl ObjectStore for RedactedStore {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> Result<PutResult> {
        self.hidden(self.inner.put_opts(location, payload, opts).await)
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> Result<Box<dyn MultipartUpload>> {
        let upload = self.hidden(self.inner.put_multipart_opts(location, opts).await)?;
        Ok(Box::new(RedactedUpload {
            inner: upload,
            secrets: Arc::clone(&self.secrets),
        }))
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> Result<GetResult> {
        let mut got = self.hidden(self.inner.get_opts(location, options).await)?;
        if let GetResultPayload::Stream(stream) = got.payload {
            let secrets = Arc::clone(&self.secrets);
            got.payload = GetResultPayload::Stream(
                stream.map(move |r| r.map_err(|e| secrets.error(e))).boxed(),
            );
        }
        Ok(got)
    }

    async fn get_ranges(&self, location: &Path, ranges: &[Range<u64>]) -> Result<Vec<Bytes>> {
        self.hidden(self.inner.get_ranges(location, ranges).await)
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, Result<Path>>,
    ) -> BoxStream<'static, Result<Path>> {
        let secrets = Arc::clone(&self.secrets);
        self.inner
            .delete_stream(locations)
            .map(move |r| r.map_err(|e| secrets.error(e)))
            .boxed()
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, Result<ObjectMeta>> {
        let secrets = Arc::clone(&self.secrets);
        self.inner
            .list(prefix)
            .map(move |r| r.map_err(|e| secrets.error(e)))
            .boxed()
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> Result<ListResult> {
        self.hidden(self.inner.list_with_delimiter(prefix).await)
    }

    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> Result<()> {
        self.hidden(self.inner.copy_opts(from, to, options).await)
    }
}

/// A multipart upload of a [`RedactedStore`].
#[derive(Debug)]
struct RedactedUpload {
    inner: Box<dyn MultipartUpload>,
    secrets: Arc<Secrets>,
}

#[async_trait]
impl MultipartUpload for RedactedUpload {
    fn put_part(&mut self, data: PutPayload) -> UploadPart {
        let secrets = Arc::clone(&self.secrets);
        let part = self.inner.put_part(data);
        Box::pin(async move { part.await.map_err(|e| secrets.error(e)) })
    }

    async fn complete(&mut self) -> Result<PutResult> {
        let done = self.inner.complete().await;
        done.map_err(|e| self.secrets.error(e))
    }

    async fn abort(&mut self) -> Result<()> {
        let done = self.inner.abort().await;
        done.map_err(|e| self.secrets.error(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_keep_their_kind_without_the_secrets() {
        let secrets = Secrets(vec!["AKIDSECRETKEY".into(), "s3cr3t".into()]);
        let error = Error::NotFound {
            path: "bucket/x".into(),
            source: "403 <AWSAccessKeyId>AKIDSECRETKEY</AWSAccessKeyId> s3cr3t".into(),
        };
        let hidden = secrets.error(error);
        let text = hidden.to_string();
        assert!(matches!(hidden, Error::NotFound { .. }), "{text}");
        assert!(
            !text.contains("AKIDSECRETKEY") && !text.contains("s3cr3t"),
            "{text}"
        );
        assert!(
            text.contains("<AWSAccessKeyId>***</AWSAccessKeyId>"),
            "{text}"
        );
        let generic = secrets.error(Error::NotImplemented {
            operation: "x".into(),
            implementer: "AKIDSECRETKEY".into(),
        });
        assert!(!generic.to_string().contains("AKIDSECRETKEY"));
    }
}
