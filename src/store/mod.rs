//! The model store: an `object_store` URL (`file://…` or a plain folder path, `memory://`, and
//! the cloud schemes object_store was built with). A small synchronous facade over the async
//! API, because the steps are synchronous programs.

pub mod predictions;
pub mod registry;
pub mod signing;

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
    /// Signs the change-log entries this process writes.
    signer: Option<Arc<signing::Signer>>,
    /// The keys change-log entries must be signed by, when given.
    trust: Option<Arc<signing::TrustedKeys>>,
}

/// The environment variables of `url`'s scheme (non-UTF-8 ones skipped), without the ones that
/// turn off security unless mttd's own switch allows it.
fn environment(
    url: &str,
    vars: impl Iterator<Item = (std::ffi::OsString, std::ffi::OsString)>,
) -> Vec<(String, String)> {
    let scheme = url.split("://").next().unwrap_or_default();
    let prefix = match scheme {
        "s3" | "s3a" => "AWS_",
        "gs" => "GOOGLE_",
        "az" | "adl" | "azure" | "abfs" | "abfss" => "AZURE_",
        _ => return Vec::new(),
    };
    let vars: Vec<(String, String)> = vars
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .collect();
    let insecure_allowed = vars
        .iter()
        .any(|(k, v)| k == "MTTD_STORE_ALLOW_INVALID_CERTIFICATES" && v == "true");
    vars.into_iter()
        .filter(|(k, _)| k.starts_with(prefix))
        .filter(|(k, _)| {
            let insecure = k.ends_with("ALLOW_INVALID_CERTIFICATES");
            if insecure && !insecure_allowed {
                tracing::warn!("{k} ignored: set MTTD_STORE_ALLOW_INVALID_CERTIFICATES=true to turn TLS checks off");
            }
            !insecure || insecure_allowed
        })
        .collect()
}

/// What a create-if-absent write found.
#[derive(Debug, PartialEq, Eq)]
pub enum Created {
    Yes,
    AlreadyExists,
}

impl Store {
    /// Opens a store; a URL without a scheme is a local folder (created if missing). Cloud
    /// stores take their settings from the environment, only from their own scheme's variables
    /// as object_store names them (`AWS_*` for s3://, `GOOGLE_*` for gs://, `AZURE_*` for az://:
    /// `AWS_ACCESS_KEY_ID`, `AWS_ENDPOINT`, `AWS_ALLOW_HTTP`…) — never an unrelated `TOKEN` or
    /// `ENDPOINT`. TLS checks stay on unless `MTTD_STORE_ALLOW_INVALID_CERTIFICATES=true` says
    /// otherwise: a stray `*_ALLOW_INVALID_CERTIFICATES` cannot turn them off by accident.
    /// The change log's keys: the key this process signs its entries with
    /// (`MTTD_SIGNING_KEY`, its text, or `MTTD_SIGNING_KEY_FILE`, a path) and the public keys
    /// every entry read must be signed by (`MTTD_TRUSTED_KEYS` or `MTTD_TRUSTED_KEYS_FILE`).
    /// Unset or empty: no signing, no checking.
    pub fn open(url: &str) -> Result<Store> {
        let mut store = Store::open_with(url, environment(url, std::env::vars_os()))?;
        let setting = |name: &str| -> Option<(String, String)> {
            let file = format!("{name}_FILE");
            match std::env::var_os(&file).filter(|v| !v.is_empty()) {
                Some(path) => Some((path.to_string_lossy().to_string(), String::new())),
                None => std::env::var(name)
                    .ok()
                    .filter(|v| !v.trim().is_empty())
                    .map(|text| (String::new(), text)),
            }
        };
        if let Some((path, text)) = setting("MTTD_SIGNING_KEY") {
            store.signer = Some(Arc::new(match path.is_empty() {
                true => signing::Signer::from_text(&text, "MTTD_SIGNING_KEY")?,
                false => signing::Signer::from_file(std::path::Path::new(&path))?,
            }));
        }
        if let Some((path, text)) = setting("MTTD_TRUSTED_KEYS") {
            store.trust = Some(Arc::new(match path.is_empty() {
                true => signing::TrustedKeys::from_text(&text, "MTTD_TRUSTED_KEYS")?,
                false => signing::TrustedKeys::from_file(std::path::Path::new(&path))?,
            }));
        }
        Ok(store)
    }

    /// This store, signing the entries it writes with `signer`.
    pub fn with_signer(mut self, signer: signing::Signer) -> Store {
        self.signer = Some(Arc::new(signer));
        self
    }

    /// This store, refusing entries not signed by `trust`'s keys.
    pub fn with_trust(mut self, trust: signing::TrustedKeys) -> Store {
        self.trust = Some(Arc::new(trust));
        self
    }

    pub(crate) fn signer(&self) -> Option<&signing::Signer> {
        self.signer.as_deref()
    }

    pub(crate) fn trust(&self) -> Option<&signing::TrustedKeys> {
        self.trust.as_deref()
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
            signer: None,
            trust: None,
        })
    }

    /// Another handle on the same store and runtime, for another thread.
    pub fn handle(&self) -> Store {
        Store {
            url: self.url.clone(),
            inner: self.inner.clone(),
            prefix: self.prefix.clone(),
            runtime: self.runtime.clone(),
            signer: self.signer.clone(),
            trust: self.trust.clone(),
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
        self.runtime.block_on(self.fetch(key))
    }

    /// The object's bytes, or `None` when it does not exist (on the store's runtime).
    async fn fetch(&self, key: &str) -> Result<Option<Vec<u8>>> {
        match self.inner.get(&self.path(key)).await {
            Ok(r) => Ok(Some(r.bytes().await.map_err(|e| self.error(key, e))?.to_vec())),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.error(key, e)),
        }
    }

    /// Several objects' bytes (`None` where one does not exist), in the order of `keys`, with up
    /// to `concurrency` requests in flight: a store over the network answers many small reads
    /// in the time of a few.
    pub fn get_many(&self, keys: &[String], concurrency: usize) -> Result<Vec<Option<Vec<u8>>>> {
        use futures::stream::{self, StreamExt, TryStreamExt};
        self.runtime.block_on(
            stream::iter(keys.iter().map(|key| self.fetch(key)))
                .buffered(concurrency.max(1))
                .try_collect(),
        )
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

#[cfg(test)]
mod tests {
    use super::*;

    fn env(url: &str, vars: &[(&str, &str)]) -> Vec<(String, String)> {
        environment(url, vars.iter().map(|(k, v)| (k.into(), v.into())))
    }

    #[test]
    fn only_the_schemes_own_variables_reach_the_store() {
        let vars = [
            ("TOKEN", "ghp_unrelated"),
            ("ENDPOINT", "http://elsewhere"),
            ("AWS_ENDPOINT", "http://127.0.0.1:8333"),
            ("AWS_ALLOW_INVALID_CERTIFICATES", "true"),
            ("GOOGLE_SERVICE_ACCOUNT", "x"),
        ];
        assert_eq!(
            env("s3://b/p", &vars),
            [("AWS_ENDPOINT".to_string(), "http://127.0.0.1:8333".to_string())]
        );
        assert_eq!(env("gs://b/p", &vars).len(), 1);
        assert!(env("file:///tmp/x", &vars).is_empty());
        let mut allowed = vars.to_vec();
        allowed.push(("MTTD_STORE_ALLOW_INVALID_CERTIFICATES", "true"));
        assert_eq!(env("s3://b/p", &allowed).len(), 2, "only with mttd's own switch");
        // A variable that is not UTF-8 is skipped, not a panic.
        #[cfg(unix)]
        {
            use std::os::unix::ffi::OsStringExt;
            let odd = vec![(
                std::ffi::OsString::from_vec(vec![b'A', b'W', b'S', b'_', 0xff]),
                "v".into(),
            )];
            assert!(environment("s3://b", odd.into_iter()).is_empty());
        }
    }
}
