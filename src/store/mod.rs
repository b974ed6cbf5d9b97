//! The model store: an `object_store` URL (`file://…` or a plain folder path, `memory://`, and
//! the cloud schemes object_store was built with). A small synchronous facade over the async
//! API, because the steps are synchronous programs.

pub mod registry;

use std::sync::Arc;

use object_store::path::Path as StorePath;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};

use crate::error::{Error, Result};

pub struct Store {
    url: String,
    inner: Arc<dyn ObjectStore>,
    prefix: StorePath,
    /// A small multi-threaded runtime: its workers drive the HTTP client's connections, so
    /// handles used from several threads at once all make progress.
    runtime: Arc<tokio::runtime::Runtime>,
}

/// What a create-if-absent write found.
#[derive(Debug, PartialEq, Eq)]
pub enum Created {
    Yes,
    AlreadyExists,
}

impl Store {
    /// Opens a store; a URL without a scheme is a local folder (created if missing). Cloud
    /// stores take their settings from the environment as object_store names them
    /// (`AWS_ACCESS_KEY_ID`, `AWS_ENDPOINT`, `AWS_ALLOW_HTTP`, `GOOGLE_SERVICE_ACCOUNT`, `AZURE_…`).
    pub fn open(url: &str) -> Result<Store> {
        Store::open_with(url, std::env::vars())
    }

    /// Opens a store with explicit settings (object_store's keys, e.g. `aws_endpoint`).
    pub fn open_with(url: &str, options: impl IntoIterator<Item = (String, String)>) -> Result<Store> {
        let err = |problem: String| Error::Store {
            url: url.to_string(),
            problem,
        };
        let runtime = Arc::new(
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .map_err(|e| err(format!("cannot start the I/O runtime: {e}")))?,
        );
        let (inner, prefix): (Arc<dyn ObjectStore>, StorePath) = if url == "memory://" || url.starts_with("memory://") {
            (Arc::new(object_store::memory::InMemory::new()), StorePath::default())
        } else if !url.contains("://") || url.starts_with("file://") {
            let dir = std::path::PathBuf::from(url.strip_prefix("file://").unwrap_or(url));
            std::fs::create_dir_all(&dir).map_err(|e| err(format!("cannot create folder {}: {e}", dir.display())))?;
            let dir = dir.canonicalize().map_err(|e| err(e.to_string()))?;
            let fs = object_store::local::LocalFileSystem::new_with_prefix(&dir).map_err(|e| err(e.to_string()))?;
            (Arc::new(fs), StorePath::default())
        } else {
            let parsed = url::Url::parse(url).map_err(|e| err(format!("not a URL: {e}")))?;
            let (store, prefix) =
                object_store::parse_url_opts(&parsed, options.into_iter().map(|(k, v)| (k.to_ascii_lowercase(), v)))
                    .map_err(|e| err(format!("cannot open: {e}")))?;
            (Arc::from(store), prefix)
        };
        Ok(Store {
            url: url.to_string(),
            inner,
            prefix,
            runtime,
        })
    }

    /// Another handle on the same store and runtime, for another thread.
    pub fn handle(&self) -> Store {
        Store {
            url: self.url.clone(),
            inner: self.inner.clone(),
            prefix: self.prefix.clone(),
            runtime: self.runtime.clone(),
        }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    fn path(&self, key: &str) -> StorePath {
        let mut parts: Vec<String> = self.prefix.parts().map(|p| p.as_ref().to_string()).collect();
        parts.extend(key.split('/').filter(|s| !s.is_empty()).map(str::to_string));
        StorePath::from_iter(parts)
    }

    fn error(&self, key: &str, e: impl std::fmt::Display) -> Error {
        Error::Store {
            url: self.url.clone(),
            problem: format!("{key}: {e}"),
        }
    }

    /// The object's bytes, or `None` when it does not exist.
    pub fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        let path = self.path(key);
        self.runtime.block_on(async {
            match self.inner.get(&path).await {
                Ok(r) => Ok(Some(r.bytes().await.map_err(|e| self.error(key, e))?.to_vec())),
                Err(object_store::Error::NotFound { .. }) => Ok(None),
                Err(e) => Err(self.error(key, e)),
            }
        })
    }

    /// Writes only if nothing is there yet.
    pub fn put_new(&self, key: &str, bytes: &[u8]) -> Result<Created> {
        let path = self.path(key);
        let options = PutOptions {
            mode: PutMode::Create,
            ..Default::default()
        };
        self.runtime.block_on(async {
            match self
                .inner
                .put_opts(&path, PutPayload::from(bytes.to_vec()), options)
                .await
            {
                Ok(_) => Ok(Created::Yes),
                Err(object_store::Error::AlreadyExists { .. }) | Err(object_store::Error::Precondition { .. }) => {
                    Ok(Created::AlreadyExists)
                }
                Err(e) => Err(self.error(key, e)),
            }
        })
    }

    /// Writes, replacing what is there (for caches derived from the change log).
    pub fn put(&self, key: &str, bytes: &[u8]) -> Result<()> {
        let path = self.path(key);
        self.runtime
            .block_on(self.inner.put(&path, PutPayload::from(bytes.to_vec())))
            .map(|_| ())
            .map_err(|e| self.error(key, e))
    }

    pub fn delete(&self, key: &str) -> Result<()> {
        let path = self.path(key);
        self.runtime
            .block_on(self.inner.delete(&path))
            .map_err(|e| self.error(key, e))
    }

    /// Keys under `prefix` (relative to the store's root), sorted.
    pub fn list(&self, prefix: &str) -> Result<Vec<String>> {
        Ok(self.list_with_time(prefix)?.into_iter().map(|(k, _)| k).collect())
    }

    /// Keys under `prefix` with when each was last written, sorted by key.
    pub fn list_with_time(&self, prefix: &str) -> Result<Vec<(String, chrono::DateTime<chrono::Utc>)>> {
        use futures::TryStreamExt;
        let path = self.path(prefix);
        let root_parts = self.prefix.parts().count();
        let mut keys: Vec<(String, chrono::DateTime<chrono::Utc>)> = self
            .runtime
            .block_on(self.inner.list(Some(&path)).try_collect::<Vec<_>>())
            .map_err(|e| self.error(prefix, e))?
            .into_iter()
            .map(|m| {
                let key = m
                    .location
                    .parts()
                    .skip(root_parts)
                    .map(|s| s.as_ref().to_string())
                    .collect::<Vec<_>>()
                    .join("/");
                (key, m.last_modified)
            })
            .collect();
        keys.sort();
        Ok(keys)
    }
}
