//! Static files served from memory.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;

use super::error::AppError;

/// Static files served from memory: each read once, gzipped once (when that makes it
/// smaller), with an ETag; a file is re-read when its modification time or size changes, so
/// editing `static/` needs no restart. Replaces compressing the same bytes on every request.
pub struct Assets {
    root: std::path::PathBuf,
    files: std::sync::RwLock<HashMap<String, Arc<Asset>>>,
}

/// One file as served.
pub struct Asset {
    /// Modification time when read.
    pub modified: Option<std::time::SystemTime>,
    /// Size when read.
    pub len: u64,
    /// The bytes.
    pub body: Bytes,
    /// The bytes gzipped, when that is smaller.
    pub gzip: Option<Bytes>,
    /// Entity tag.
    pub etag: String,
    /// Content type.
    pub content_type: &'static str,
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit('.').next().unwrap_or("") {
        "css" => "text/css; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "html" => "text/html; charset=utf-8",
        "json" | "map" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "woff2" => "font/woff2",
        "txt" | "xterm" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

impl Assets {
    /// Serves files under `root`.
    pub fn new(root: &std::path::Path) -> Assets {
        Assets {
            root: root.to_path_buf(),
            files: std::sync::RwLock::new(HashMap::new()),
        }
    }

    /// The file at `rel` (re-read when it changed on disk).
    pub fn load(&self, rel: &str) -> Result<Arc<Asset>, AppError> {
        let not_found = || AppError::NotFound(format!("static file {rel}"));
        let path = self.root.join(rel);
        let meta = std::fs::metadata(&path).map_err(|_| not_found())?;
        if !meta.is_file() {
            return Err(not_found());
        }
        let modified = meta.modified().ok();
        if let Some(a) = self
            .files
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(rel)
        {
            if a.modified == modified && a.len == meta.len() {
                return Ok(a.clone());
            }
        }
        let body = std::fs::read(&path).map_err(|_| not_found())?;
        let content_type = content_type(rel);
        let gzip = if content_type.starts_with("image/png") || content_type == "font/woff2" {
            None
        } else {
            let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
            std::io::Write::write_all(&mut enc, &body)
                .and_then(|()| enc.finish())
                .ok()
                .filter(|gz| gz.len() + 64 < body.len())
                .map(Bytes::from)
        };
        let stamp = modified
            .and_then(|m| m.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let asset = Arc::new(Asset {
            modified,
            len: meta.len(),
            etag: format!("\"{:x}-{:x}\"", body.len(), stamp),
            body: Bytes::from(body),
            gzip,
            content_type,
        });
        self.files
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(rel.to_string(), asset.clone());
        Ok(asset)
    }
}
